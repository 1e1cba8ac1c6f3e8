"""
The HTTP API under a fixed-seed slice of the fuzzer in
L{tests.fuzz._mutate}: thousands of valid, bad and blindly mutated
requests over real sockets, several at a time, next to a
well-behaved producer and consumer.
"""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import TestCase

from tests._services import startNSQD

from ._drive import finishGoodPair, runCases, sendOne, startGoodPair
from ._mutate import httpCases, parseHTTPResponse

SEED = 20261204
COUNT = 2000
CONNECTIONS = 16


class HTTPFuzzTests(TestCase):
    """
    nsqd's protocol V2 against hostile and broken clients.
    """

    timeout = 120

    async def test_fuzzedRequests(self) -> None:
        """
        Every classified request (bad or missing topic and channel names,
        empty and oversized bodies, bad defer, wrong method, unknown path
        and option, valid publishes, /ping) gets Go nsqd 1.3.0's status
        and body exactly; no blindly mutated one gets a 5xx or hangs;
        nothing is logged as an
        unhandled failure; the daemon still serves; and a producer and
        consumer connected throughout get every message, once.
        """
        observer = EventLoggingObserver()
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        nsqd, port = await startNSQD(self)
        httpPort = (await nsqd.whenHTTPListening()).getHost().port  # type: ignore[attr-defined]
        producer, consumer = await startGoodPair(reactor, port)
        report = await runCases(reactor, port, httpPort, httpCases(SEED, COUNT), CONNECTIONS)
        self.assertEqual(report.mismatches, [])
        self.assertEqual(report.malformed, [])
        self.assertEqual(report.hung, 0)
        self.assertEqual(sum(report.kinds.values()), COUNT)
        answer, _hung = await sendOne(reactor, httpPort, b"GET /ping HTTP/1.0\r\n\r\n")
        self.assertEqual(parseHTTPResponse(answer), (200, b"OK"))
        self.assertGreater(producer.acked, 0)
        self.assertEqual(await finishGoodPair(producer, consumer), [])
        failures = [e for e in observer if "log_failure" in e]
        self.assertEqual(failures, [])
        self.assertEqual(self.flushLoggedErrors(), [])
