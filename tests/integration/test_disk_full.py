"""
nsqd on a disk that fills up (a 2 MB tmpfs as C{--data-path}): a publish
that could not be written is refused, never answered C{OK}, as Go nsqd
refuses it; health turns bad and comes back once a write succeeds.
"""

from __future__ import annotations

import json
import os

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from tests.golden import httpRequest
from tests.integration._daemon import startDaemon
from tests.integration._mounts import mountTmpfs

#: Go nsqd's log line once its HTTP listener is bound.
HTTP_LISTENING = r"HTTP: listening on (?P<host>[0-9.]+):(?P<port>\d+)"


class DiskFullTests(TestCase):
    """
    Publishes on a full disk.
    """

    timeout = 120

    async def test_noOKAfterFailedWrite(self) -> None:
        """
        With every message going to disk (C{--mem-queue-size=0}), once a
        write fails for lack of space each C{/pub} answers Go's 503
        C{EXITING}, none C{OK}, while the disk stays full; C{/ping} answers
        500 C{NOK - ...} and C{/stats} reports the same health; the failure
        is logged once, naming the data path.  Once space is freed, the
        next C{/pub} is written and answered C{OK}, and health is C{OK}
        again.
        """
        dataPath = mountTmpfs(self, "2m")
        # Room to give back later, so the disk can recover.
        filler = os.path.join(dataPath, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * (512 * 1024))
        daemon = await startDaemon(
            self,
            "nsqd",
            [
                "--tcp-address=127.0.0.1:0",
                "--http-address=127.0.0.1:0",
                f"--data-path={dataPath}",
                "--mem-queue-size=0",
            ],
            {"http": HTTP_LISTENING},
        )
        host, port = daemon.addresses["http"]

        async def request(
            method: str, path: str, body: bytes = b""
        ) -> tuple[int, bytes]:
            response = await httpRequest(reactor, host, port, method, path, body)
            return response.status, response.body

        body = b"x" * 60000
        for _ in range(200):
            status, answer = await request("POST", "/pub?topic=full", body)
            if status != 200:
                break
        else:
            self.fail("the disk never filled up")
        self.assertEqual((status, answer), (503, b'{"message":"EXITING"}'))

        for _ in range(20):
            self.assertEqual(
                await request("POST", "/pub?topic=full", b"small"),
                (503, b'{"message":"EXITING"}'),
            )
        status, answer = await request("GET", "/ping")
        self.assertEqual(status, 500)
        self.assertTrue(answer.startswith(b"NOK - "), answer)
        status, answer = await request("GET", "/stats?format=json")
        self.assertTrue(json.loads(answer)["health"].startswith("NOK - "), answer)
        output = daemon.process.output()
        self.assertEqual(output.count("disk writes to"), 1, output)
        self.assertIn(dataPath, output)

        os.remove(filler)
        self.assertEqual(
            await request("POST", "/pub?topic=full", b"after"),
            (200, b"OK"),
        )
        self.assertEqual(await request("GET", "/ping"), (200, b"OK"))
        self.assertIn("disk writes to", daemon.process.output())
