"""
In-process txnsq daemons on 127.0.0.1 ports 0, for tests that run them
with the real reactor; each is stopped when its test ends.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from twisted.internet import reactor
from twisted.trial.unittest import SkipTest, TestCase

from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.service import NSQDService
from txnsq.nsqd.tap import nsqdService
from txnsq.nsqlookupd.config import LookupdConfig
from txnsq.nsqlookupd.service import NSQLookupdService


def requireIPv6Loopback() -> None:
    """
    Skip the test on a machine without an IPv6 loopback.
    """
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        raise SkipTest("no IPv6 loopback here") from None


async def startLookupd(
    testCase: TestCase, **config: Any
) -> tuple[NSQLookupdService, int, int]:
    """
    A running nsqlookupd (on 127.0.0.1 unless C{config} says otherwise);
    with its TCP and HTTP ports.
    """
    config.setdefault("tcp_address", "127.0.0.1:0")
    config.setdefault("http_address", "127.0.0.1:0")
    config.setdefault("broadcast_address", "127.0.0.1")
    lookupd = NSQLookupdService(LookupdConfig(**config), reactor)
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
