"""
nsqd on a disk that fills up (a 2 MB tmpfs as C{--data-path}): a publish
that could not be written is refused, never answered C{OK}, as Go nsqd
refuses it; health turns bad and comes back once a write succeeds; and a
stop that cannot write what nsqd holds says how much it lost and exits 1.
"""

from __future__ import annotations

import glob
import json
import os
import re
import struct

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


def completeRecords(dataPath: str, queue: str) -> int:
    """
    How many whole records the segment files of C{queue} hold (a full disk
    may have cut the last one).
    """
    count = 0
    for path in glob.glob(os.path.join(dataPath, f"{queue}.diskqueue.*.dat")):
        if path.endswith(".meta.dat"):
            continue
        with open(path, "rb") as f:
            data = f.read()
        offset = 0
        while offset + 4 <= len(data):
            (size,) = struct.unpack_from(">i", data, offset)
            if offset + 4 + size > len(data):
                break
            offset += 4 + size
            count += 1
    return count


class StopOnFullDiskTests(TestCase):
    """
    Stopping nsqd when the disk cannot take what it holds in memory.
    """

    timeout = 120

    async def test_stopSaysWhatWasLost(self) -> None:
        """
        Messages acknowledged into memory (the default C{--mem-queue-size})
        that the graceful stop cannot write to a full disk are not dropped
        silently, as Go drops them: the stop logs at the fatal level how
        many messages it could not write and where, every one of the
        others is on disk, and the process exits 1 instead of 0.
        """
        dataPath = mountTmpfs(self, "2m")
        daemon = await startDaemon(
            self,
            "nsqd",
            [
                "--tcp-address=127.0.0.1:0",
                "--http-address=127.0.0.1:0",
                f"--data-path={dataPath}",
            ],
            {"http": HTTP_LISTENING},
        )
        host, port = daemon.addresses["http"]
        published = 50
        for i in range(published):
            response = await httpRequest(
                reactor, host, port, "POST", "/pub?topic=held", b"%03d" % i * 20000
            )
            self.assertEqual((response.status, response.body), (200, b"OK"))

        code = await daemon.stop()
        output = daemon.process.output()
        self.assertEqual(code, 1, output)
        match = re.search(
            r"shutdown could not write (\d+) message\(s\) to (\S+) \(held: (\d+)\)",
            output,
        )
        assert match is not None, output
        lost = int(match.group(1))
        self.assertEqual(match.group(2), dataPath)
        self.assertEqual(int(match.group(3)), lost)
        self.assertGreater(lost, 0)
        self.assertEqual(completeRecords(dataPath, "held") + lost, published, output)
