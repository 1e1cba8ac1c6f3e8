"""
In-process txnsq daemons on 127.0.0.1 ports 0, for tests that run them
with the real reactor; each is stopped when its test ends.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.service import NSQDService
from txnsq.nsqd.tap import nsqdService
from txnsq.nsqlookupd.config import LookupdConfig
from txnsq.nsqlookupd.service import NSQLookupdService


async def startLookupd(testCase: TestCase) -> tuple[NSQLookupdService, int, int]:
    """
    A running nsqlookupd; with its TCP and HTTP ports.
    """
    lookupd = NSQLookupdService(
        LookupdConfig(
            tcp_address="127.0.0.1:0",
            http_address="127.0.0.1:0",
            broadcast_address="127.0.0.1",
        ),
        reactor,
    )
    lookupd.startService()
    testCase.addCleanup(lookupd.stopService)
    tcp = (await lookupd.whenTCPListening()).getHost().port  # type: ignore[attr-defined]
    http = (await lookupd.whenHTTPListening()).getHost().port  # type: ignore[attr-defined]
    return lookupd, tcp, http


async def startNSQD(
    testCase: TestCase, lookupdTCP: int | None = None, **config: Any
) -> tuple[NSQDService, int]:
    """
    A running nsqd as C{twistd nsqd} builds it (HTTP API included) with a
    fresh data path, registered with the nsqlookupd on C{lookupdTCP} if
    given; with its TCP port.
    """
    dataPath = testCase.mktemp()
    os.makedirs(dataPath)
    config.setdefault("tcp_address", "127.0.0.1:0")
    config.setdefault("http_address", "127.0.0.1:0")
    config.setdefault("broadcast_address", "127.0.0.1")
    if lookupdTCP is not None:
        config["nsqlookupd_tcp_addresses"] = [f"127.0.0.1:{lookupdTCP}"]
    nsqd = nsqdService(NSQDConfig(data_path=dataPath, **config), reactor)
    nsqd.startService()
    testCase.addCleanup(nsqd.stopService)
    port = (await nsqd.whenTCPListening()).getHost().port  # type: ignore[attr-defined]
    return nsqd, port
