"""
Golden replay: every recording of Go nsqd 1.3.0's HTTP API in
C{tests/data/golden/http/nsqd/}, replayed against a real L{NSQDService}
(TCP on 127.0.0.1 port 0) with the HTTP API served by L{NSQDSite} on
127.0.0.1 port 0.

Each recording gets a fresh service and data directory, started with the
flags the recording lists, as the recorder used a fresh daemon.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.python.filepath import FilePath
from twisted.trial.unittest import TestCase

from tests.golden import listenSite, loadRecordings, runHTTPCase
from txnsq.nsqd.http import NSQDHTTPAPI, NSQDSite
from txnsq.nsqd.options import Options
from txnsq.nsqd.service import NSQDService
from txnsq.nsqd.tap import httpAPI

#: The ports the recordings were made with.
RECORDED_TCP_PORT = 27150
RECORDED_HTTP_PORT = 27151

RECORDINGS = loadRecordings("http", "nsqd")


class RunningNSQD:
    """
    An in-process nsqd for one test: the service, its HTTP API and ports.
    """

    def __init__(
        self, service: NSQDService, api: NSQDHTTPAPI, tcpPort: int, httpPort: int
    ) -> None:
        self.service = service
        self.api = api
        self.tcpPort = tcpPort
        self.httpPort = httpPort


async def startNSQD(test: TestCase, flags: list[str]) -> RunningNSQD:
    """
    Start an nsqd with a recording's flags: TCP and HTTP on 127.0.0.1 port
    0, a fresh data directory; stopped when C{test} ends.

    The config then names the bound addresses, as if nsqd had been started
    with them (C{GET /config/tcp_address} reports the configured value).
    """
    dataPath = FilePath(test.mktemp())
    dataPath.makedirs()
    args = []
    for flag in flags:
        name = flag.partition("=")[0]
        if name in ("--tcp-address", "--http-address", "--data-path"):
            continue
        args.append(flag)
    options = Options()
    options.parseOptions(
        [
            *args,
            "--tcp-address=127.0.0.1:0",
            "--http-address=",
            f"--data-path={dataPath.path}",
        ]
    )
    service = NSQDService(options.config, reactor)
    service.startService()
    test.addCleanup(service.stopService)
    tcpPort = (await service.whenTCPListening()).getHost().port  # type: ignore[attr-defined]
    api = httpAPI(service)
    site = NSQDSite(api.resource(), service.config)
    port, httpPort = listenSite(reactor, site)
    test.addCleanup(port.stopListening)
    service.config.tcp_address = f"127.0.0.1:{tcpPort}"
    service.config.http_address = f"127.0.0.1:{httpPort}"
    return RunningNSQD(service, api, tcpPort, httpPort)


def settled(nsqd: RunningNSQD, openConnections: Callable[[], int]) -> Any:
    """
    A C{sleep_ms} replacement.  Go's nsqd needed the pause to move messages
    through its goroutines and notice closed connections; here deliveries
    happen at once, so wait (one reactor turn at a time) until nsqd holds
    as many TCP connections as the replay keeps open, then one more turn
    for coalesced writes.
    """

    async def sleep(milliseconds: int) -> None:
        connections = nsqd.service.factory.connections
        for _ in range(1000):
            if len(connections) <= openConnections():
                break
            await deferLater(reactor, 0.001)
        else:
            raise AssertionError("nsqd did not notice a closed connection")
        await deferLater(reactor, 0)

    return sleep


def _httpTest(name: str, case: dict[str, Any]) -> Callable[[TestCase], Deferred[None]]:
    def test(self: TestCase) -> Deferred[None]:
        async def run() -> None:
            nsqd = await startNSQD(self, case["nsqd_flags"])
            setup = case.get("setup", ())
            opened = {a["tcp"]["conn"] for a in setup if "tcp" in a}
            closed = sum(1 for a in setup if "tcp_close" in a)
            problems = await runHTTPCase(
                reactor,
                case,
                host="127.0.0.1",
                httpPort=nsqd.httpPort,
                tcpPort=nsqd.tcpPort,
                portMap={
                    RECORDED_TCP_PORT: nsqd.tcpPort,
                    RECORDED_HTTP_PORT: nsqd.httpPort,
                },
                sleep=settled(nsqd, lambda: len(opened) - closed),
            )
            # Go's plain-text wrapper "panics" on these handlers' empty
            # result; the 500 it answers is what the recording holds.
            if case["path_and_query"].startswith(
                ("/debug/freememory", "/debug/setblockrate?rate=0")
            ):
                self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)
            self.assertEqual(problems, [])

        return Deferred.fromCoroutine(run())

    test.__name__ = f"test_{name}"
    test.__doc__ = (
        f"http/nsqd/{name}.json gives Go's status, headers and body: "
        f"{case['description']}"
    )
    return test


NSQDHTTPGoldenTests = type(
    "NSQDHTTPGoldenTests",
    (TestCase,),
    {
        "__doc__": "Replays of C{golden/http/nsqd/}.",
        "__module__": __name__,
        **{f"test_{name}": _httpTest(name, case) for name, case in RECORDINGS},
    },
)


class GoldenCoverageTests(TestCase):
    """
    The replays cover every recording, and they can fail.
    """

    def test_count(self) -> None:
        """
        All 106 nsqd HTTP recordings have a test.
        """
        names = [n for n in dir(NSQDHTTPGoldenTests) if n.startswith("test_")]
        self.assertEqual(len(names), 106)

    async def test_mismatchReported(self) -> None:
        """
        A recording whose body differs from what nsqd answers is reported,
        so a wrong answer fails its replay.
        """
        [case] = [case for name, case in RECORDINGS if name == "topic_create_ok"]
        wrong = dict(case, body_base64=base64.b64encode(b"unexpected").decode())
        nsqd = await startNSQD(self, case["nsqd_flags"])
        problems = await runHTTPCase(
            reactor, wrong, host="127.0.0.1", httpPort=nsqd.httpPort
        )
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("unexpected", problems[0])
