"""
nsqd's health follows its disk writes, as Go's C{SetHealth} does:
C{/ping} answers C{NOK - <error>} after a failed write and C{OK} again
after the next good one.
"""

from __future__ import annotations

import os

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from tests.integration._cluster import http
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.diskqueue import DiskQueue
from txnsq.nsqd.tap import nsqdService


class HealthTests(TestCase):
    """
    A real nsqd whose disk queue is made to fail.
    """

    timeout = 30

    async def test_diskFailureReported(self) -> None:
        """
        A publish that cannot be written fails, C{/ping} says C{NOK} with
        the error, and the next successful write makes it C{OK} again.
        """
        dataPath = self.mktemp()
        os.makedirs(dataPath)
        service = nsqdService(
            NSQDConfig(
                tcp_address="127.0.0.1:0",
                http_address="127.0.0.1:0",
                data_path=dataPath,
                mem_queue_size=0,
            ),
            reactor,
        )
        service.startService()
        self.addCleanup(service.stopService)
        port = (await service.whenHTTPListening()).getHost().port  # type: ignore[attr-defined]
        address = f"127.0.0.1:{port}"
        self.assertEqual(await http(address, "GET", "/ping"), (200, b"OK"))

        def full(queue: DiskQueue, data: bytes) -> None:
            raise OSError("no space left on device")

        original = DiskQueue.put
        self.patch(DiskQueue, "put", full)
        status, _ = await http(address, "POST", "/pub?topic=t", b"lost")
        self.assertEqual(status, 503)
        self.assertEqual(
            await http(address, "GET", "/ping"),
            (500, b"NOK - no space left on device"),
        )
        self.patch(DiskQueue, "put", original)
        self.assertEqual(
            await http(address, "POST", "/pub?topic=t", b"kept"), (200, b"OK")
        )
        self.assertEqual(await http(address, "GET", "/ping"), (200, b"OK"))
