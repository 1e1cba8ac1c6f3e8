"""
Tests for L{txnsq.client.lookup}: parsing nsqlookupd's C{/lookup} replies
and polling several nsqlookupds on a jittered schedule.
"""

from __future__ import annotations

import json
from typing import Any

from treq.testing import HasHeaders, RequestSequence, StringStubbingResource, StubTreq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.task import Clock
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase
from twisted.web.resource import Resource
from twisted.web.server import Site

from txnsq.client.lookup import (
    LookupdPoller,
    LookupFailed,
    lookupURL,
    parseLookupResponse,
    producerAddress,
)


def producer(host: str, port: int) -> dict[str, Any]:
    """
    One C{producers} entry as nsqlookupd 1.3.0 writes it.
    """
    return {
        "remote_address": f"{host}:51996",
        "hostname": "h",
        "broadcast_address": host,
        "tcp_port": port,
        "http_port": port + 1,
        "version": "1.3.0",
    }


def answer(*producers: dict[str, Any]) -> bytes:
    """
    A C{/lookup} body.
    """
    return json.dumps({"channels": ["c"], "producers": list(producers)}).encode()


class ParseTests(SynchronousTestCase):
    """
    L{parseLookupResponse}, L{producerAddress} and L{lookupURL}.
    """

    def test_current(self) -> None:
        """
        nsqlookupd 1.x's reply gives C{broadcast_address:tcp_port} for each
        producer.
        """
        body = answer(producer("a.example", 4150), producer("10.0.0.2", 4250))
        self.assertEqual(
            parseLookupResponse(200, body), {"a.example:4150", "10.0.0.2:4250"}
        )

    def test_legacyEnvelope(self) -> None:
        """
        The pre-1.0 envelope (C{status_code}, C{status_txt}, C{data}) is
        accepted too.
        """
        body = json.dumps(
            {
                "status_code": 200,
                "status_txt": "OK",
                "data": {"channels": [], "producers": [producer("h", 1)]},
            }
        ).encode()
        self.assertEqual(parseLookupResponse(200, body), {"h:1"})

    def test_topicNotFound(self) -> None:
        """
        A 404 C{TOPIC_NOT_FOUND} means no producers.
        """
        self.assertEqual(
            parseLookupResponse(404, b'{"message":"TOPIC_NOT_FOUND"}'), set()
        )

    def test_errors(self) -> None:
        """
        Other statuses, non-JSON bodies and producers without an address
        raise L{LookupFailed}.
        """
        for code, body in [
            (500, b'{"message":"INTERNAL_ERROR"}'),
            (200, b"<html>"),
            (200, b"[]"),
            (200, b'{"channels":[]}'),
            (200, answer({"broadcast_address": "h"})),
            (200, answer({"broadcast_address": "h", "tcp_port": "4150"})),
        ]:
            self.assertRaises(LookupFailed, parseLookupResponse, code, body)

    def test_ipv6(self) -> None:
        """
        An IPv6 broadcast address is bracketed.
        """
        self.assertEqual(producerAddress(producer("::1", 4150)), "[::1]:4150")

    def test_urls(self) -> None:
        """
        A C{host:port} becomes an http URL; a URL keeps its scheme and
        path; the topic is quoted.
        """
        self.assertEqual(
            lookupURL("127.0.0.1:4161", "t#ephemeral"),
            "http://127.0.0.1:4161/lookup?topic=t%23ephemeral",
        )
        self.assertEqual(
            lookupURL("https://l.example/nsq/", "t"),
            "https://l.example/nsq/lookup?topic=t",
        )


class PollerTests(SynchronousTestCase):
    """
    L{LookupdPoller}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.found: list[set[str]] = []

    def poller(self, http: Any, addresses: list[str], **kwargs: Any) -> LookupdPoller:
        """
        A poller reporting to C{self.found}.
        """
        kwargs.setdefault("random", lambda: 0.5)
        return LookupdPoller(
            addresses,
            "t",
            self.found.append,
            clock=self.clock,
            httpClient=http,
            **kwargs,
        )

    def test_unionAndSchedule(self) -> None:
        """
        The first poll asks every nsqlookupd at once (with nsqd's C{Accept}
        header) and reports the union; the next poll comes C{interval}
        plus C{jitter} times C{random()} times C{interval} later.
        """
        accept = HasHeaders({b"accept": [b"application/vnd.nsq; version=1.0"]})
        one = ("http://l1:4161/lookup", {b"topic": [b"t"]}, accept, b"")
        two = ("http://l2:4161/lookup", {b"topic": [b"t"]}, accept, b"")
        sequence = RequestSequence(
            [
                ((b"get", *one), (200, {}, answer(producer("a", 1)))),
                ((b"get", *two), (200, {}, answer(producer("a", 1), producer("b", 2)))),
                ((b"get", *one), (200, {}, answer(producer("c", 3)))),
                ((b"get", *two), (200, {}, answer())),
            ]
        )
        http = StubTreq(StringStubbingResource(sequence))
        with sequence.consume(self.fail):
            poller = self.poller(
                http, ["l1:4161", "l2:4161"], interval=10.0, jitter=0.2
            )
            poller.start()
            self.assertEqual(self.found, [{"a:1", "b:2"}])
            self.clock.advance(10.0 + 0.2 * 0.5 * 10.0 - 0.01)
            self.assertEqual(len(self.found), 1)
            self.clock.advance(0.01)
            self.assertEqual(self.found[1], {"c:3"})
            poller.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_failedLookupdKeepsAnswer(self) -> None:
        """
        An nsqlookupd that fails is logged, and its previous answer is kept
        in the union.
        """
        sequence = RequestSequence(
            [
                (
                    (
                        b"get",
                        "http://l1:4161/lookup",
                        {b"topic": [b"t"]},
                        HasHeaders({}),
                        b"",
                    ),
                    (200, {}, answer(producer("a", 1))),
                ),
                (
                    (
                        b"get",
                        "http://l1:4161/lookup",
                        {b"topic": [b"t"]},
                        HasHeaders({}),
                        b"",
                    ),
                    (500, {}, b'{"message":"INTERNAL_ERROR"}'),
                ),
            ]
        )
        http = StubTreq(StringStubbingResource(sequence))
        with sequence.consume(self.fail):
            poller = self.poller(http, ["l1:4161"], interval=1.0, jitter=0.0)
            poller.start()
            self.clock.advance(1.0)
            poller.stop()
        self.assertEqual(self.found, [{"a:1"}, {"a:1"}])

    def test_timeout(self) -> None:
        """
        A lookup that does not answer within C{requestTimeout} is given up
        and the poll still completes.
        """

        class Hanging:
            def get(self, url: str, **kwargs: Any) -> Deferred[Any]:
                return Deferred()

        poller = self.poller(Hanging(), ["l1:4161"], requestTimeout=5.0)
        poller.start()
        self.assertEqual(self.found, [])
        self.clock.advance(5.0)
        self.assertEqual(self.found, [set()])
        poller.stop()

    def test_stopCancelsRequest(self) -> None:
        """
        Stopping while a lookup is in flight cancels it and schedules
        nothing more.
        """
        requests: list[Deferred[Any]] = []

        class Hanging:
            def get(self, url: str, **kwargs: Any) -> Deferred[Any]:
                requests.append(Deferred())
                return requests[-1]

        poller = self.poller(Hanging(), ["l1:4161"])
        poller.start()
        poller.stop()
        self.assertTrue(requests[0].called)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_arguments(self) -> None:
        """
        No addresses, or a jitter outside 0..1, raise L{ValueError}.
        """
        self.assertRaises(ValueError, self.poller, None, [])
        self.assertRaises(ValueError, self.poller, None, ["l:1"], jitter=1.5)


class _Lookup(Resource):
    """
    nsqlookupd's C{/lookup}, with one producer.
    """

    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        request.setHeader(b"Content-Type", b"application/json")
        return json.dumps(
            {"channels": [], "producers": [producer("::1", 4150)]}
        ).encode()


class IPv6PollerTests(TestCase):
    """
    The default HTTP client reaches an nsqlookupd given by an IPv6 literal,
    which treq alone cannot request.
    """

    def setUp(self) -> None:
        try:
            site: Any = Site(_Lookup())
            port = reactor.listenTCP(0, site, interface="::1")
        except CannotListenError:
            raise SkipTest("no IPv6 loopback here") from None
        self.addCleanup(port.stopListening)
        self.port: int = port.getHost().port  # type: ignore[attr-defined]

    async def test_ipv6Literal(self) -> None:
        """
        C{[::1]:port} and C{http://[::1]:port/} are polled.
        """
        for address in [f"[::1]:{self.port}", f"http://[::1]:{self.port}/"]:
            poller = LookupdPoller([address], "t", lambda found: None, clock=reactor)
            try:
                found = await poller.poll()
            finally:
                await poller.stop()
            self.assertEqual(found, {"[::1]:4150"}, address)
