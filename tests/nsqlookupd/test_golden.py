"""
Golden replay: every recording of Go nsqlookupd 1.3.0 in
C{tests/data/golden/lookupd-tcp/} and C{tests/data/golden/http/nsqlookupd/},
replayed against a real L{NSQLookupdService} on 127.0.0.1 (port 0).

Each recording gets a fresh service, as the recorder used a fresh daemon.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from tests.golden import compareJSON, loadRecordings, runHTTPCase, runTCPRecording
from txnsq.nsqlookupd.config import LookupdConfig
from txnsq.nsqlookupd.service import NSQLookupdService

#: The ports the recordings were made with.
RECORDED_TCP_PORT = 27160
RECORDED_HTTP_PORT = 27161


async def startLookupd(test: TestCase) -> tuple[NSQLookupdService, int, int]:
    """
    Start an nsqlookupd with the recordings' base flags (ports 0), stopped
    when C{test} ends.

    @return: the service and its bound TCP and HTTP ports.
    """
    config = LookupdConfig(
        tcp_address="127.0.0.1:0",
        http_address="127.0.0.1:0",
        broadcast_address="127.0.0.1",
    )
    service = NSQLookupdService(config, reactor)
    service.startService()
    test.addCleanup(service.stopService)
    tcpPort = (await service.whenTCPListening()).getHost().port  # type: ignore[attr-defined]
    httpPort = (await service.whenHTTPListening()).getHost().port  # type: ignore[attr-defined]
    return service, tcpPort, httpPort


def settled(service: NSQLookupdService, open: Callable[[], int]) -> Any:
    """
    A C{sleep_ms} replacement: the recordings only sleep to let nsqlookupd
    notice closed connections, so wait (one reactor turn at a time) until
    it has as many connections as the replay holds open.
    """

    async def sleep(milliseconds: int) -> None:
        for _ in range(1000):
            if len(service.factory.connections) <= open():
                return
            await deferLater(reactor, 0.001)
        raise AssertionError("nsqlookupd did not notice the closed connection")

    return sleep


def _tcpTest(
    name: str, recording: dict[str, Any]
) -> Callable[[TestCase], Deferred[None]]:
    def test(self: TestCase) -> Deferred[None]:
        async def run() -> None:
            _, tcpPort, httpPort = await startLookupd(self)
            problems = await runTCPRecording(
                reactor,
                "127.0.0.1",
                tcpPort,
                recording,
                portMap={RECORDED_TCP_PORT: tcpPort, RECORDED_HTTP_PORT: httpPort},
            )
            self.assertEqual(problems, [])

        return Deferred.fromCoroutine(run())

    test.__name__ = f"test_{name}"
    test.__doc__ = (
        f"lookupd-tcp/{name}.json replays byte for byte: {recording['description']}"
    )
    return test


def _httpTest(name: str, case: dict[str, Any]) -> Callable[[TestCase], Deferred[None]]:
    def test(self: TestCase) -> Deferred[None]:
        async def run() -> None:
            service, tcpPort, httpPort = await startLookupd(self)
            openConnections = sum(
                1 for action in case.get("setup", ()) if "tcp" in action
            )
            closed = sum(1 for action in case.get("setup", ()) if "tcp_close" in action)
            problems = await runHTTPCase(
                reactor,
                case,
                host="127.0.0.1",
                httpPort=httpPort,
                tcpPort=tcpPort,
                portMap={RECORDED_TCP_PORT: tcpPort, RECORDED_HTTP_PORT: httpPort},
                sleep=settled(service, lambda: openConnections - closed),
            )
            self.assertEqual(problems, [])

        return Deferred.fromCoroutine(run())

    test.__name__ = f"test_{name}"
    test.__doc__ = (
        f"http/nsqlookupd/{name}.json gives Go's status, headers and body: "
        f"{case['description']}"
    )
    return test


def _generated(
    recordings: list[tuple[str, dict[str, Any]]],
    make: Callable[[str, dict[str, Any]], Callable[[TestCase], Deferred[None]]],
) -> dict[str, Any]:
    return {f"test_{name}": make(name, recording) for name, recording in recordings}


LookupdTCPGoldenTests = type(
    "LookupdTCPGoldenTests",
    (TestCase,),
    {
        "__doc__": "Replays of C{golden/lookupd-tcp/}.",
        "__module__": __name__,
        **_generated(loadRecordings("lookupd-tcp"), _tcpTest),
    },
)

LookupdHTTPGoldenTests = type(
    "LookupdHTTPGoldenTests",
    (TestCase,),
    {
        "__doc__": "Replays of C{golden/http/nsqlookupd/}.",
        "__module__": __name__,
        **_generated(loadRecordings("http", "nsqlookupd"), _httpTest),
    },
)


class GoldenCoverageTests(TestCase):
    """
    The replays cover every recording.
    """

    def test_counts(self) -> None:
        """
        All 22 lookupd TCP and 51 nsqlookupd HTTP recordings have a test.
        """
        tcp = [n for n in dir(LookupdTCPGoldenTests) if n.startswith("test_")]
        http = [n for n in dir(LookupdHTTPGoldenTests) if n.startswith("test_")]
        self.assertEqual((len(tcp), len(http)), (22, 51))


class HarnessTests(TestCase):
    """
    The replay helpers in L{tests.golden} notice differences (so the golden
    tests above can fail).
    """

    def test_compareJSON(self) -> None:
        """
        Key order, values, C{{}} versus C{[]} and array order count unless
        masked or unordered; recorded ports are substituted.
        """
        self.assertIsNone(compareJSON(b'{"a":1,"b":[1,2]}', b'{"a":1,"b":[1,2]}'))
        self.assertIsNotNone(compareJSON(b'{"a":1,"b":2}', b'{"b":2,"a":1}'))
        self.assertIsNotNone(compareJSON(b'{"a":{}}', b'{"a":[]}'))
        self.assertIsNotNone(compareJSON(b'{"a":[1,2]}', b'{"a":[2,1]}'))
        self.assertIsNone(compareJSON(b'{"a":[1,2]}', b'{"a":[2,1]}', unordered=["a"]))
        self.assertIsNone(
            compareJSON(b'{"x":{"id":"a"}}', b'{"x":{"id":"b"}}', masked=["id"])
        )
        self.assertIsNone(
            compareJSON(b'{"tcp_port":27160}', b'{"tcp_port":5}', portMap={27160: 5})
        )
        self.assertIsNotNone(compareJSON(b'{"tcp_port":27160}', b'{"tcp_port":5}'))
        self.assertIsNotNone(compareJSON(b"{}", b"not json"))

    def test_tcpMismatch(self) -> Deferred[None]:
        """
        A reply that differs from the recording, or a connection that stays
        open where a close was recorded, is reported.
        """

        async def run() -> None:
            _, tcpPort, _ = await startLookupd(self)
            [(_, recording)] = [
                r
                for r in loadRecordings("lookupd-tcp")
                if r[0] == "ping_before_identify"
            ]
            wrong = dict(recording)
            wrong["steps"] = [
                *recording["steps"][:2],
                {"recv": base64.b64encode(b"\x00\x00\x00\x02NO").decode()},
            ]
            problems = await runTCPRecording(reactor, "127.0.0.1", tcpPort, wrong)
            self.assertEqual(len(problems), 1)
            self.assertIn("step 2", problems[0])
            open = dict(recording)
            open["steps"] = [*recording["steps"], {"expect_close": True}]
            problems = await runTCPRecording(
                reactor, "127.0.0.1", tcpPort, open, timeout=0.2
            )
            self.assertEqual(
                problems, ["step 3: expected close, connection still open"]
            )

        return Deferred.fromCoroutine(run())

    def test_httpMismatch(self) -> Deferred[None]:
        """
        A different status, body or header set is reported.
        """

        async def run() -> None:
            _, tcpPort, httpPort = await startLookupd(self)
            [(_, case)] = [
                r for r in loadRecordings("http", "nsqlookupd") if r[0] == "info"
            ]
            wrong = dict(
                case,
                status=201,
                headers={"Content-Type": "application/json; charset=utf-8"},
                body_base64=base64.b64encode(b'{"version":"9"}').decode(),
            )
            problems = await runHTTPCase(
                reactor, wrong, host="127.0.0.1", httpPort=httpPort, tcpPort=tcpPort
            )
            self.assertEqual(len(problems), 3, problems)

        return Deferred.fromCoroutine(run())
