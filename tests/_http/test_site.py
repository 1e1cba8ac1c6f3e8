"""
Tests for L{txnsq._http._site}: L{GoSite}'s requests.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource

from txnsq._http import GoSite


class _Recorder(Resource):
    """
    Records each request's path, kept body and parsed arguments.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[bytes, bytes, dict[bytes, list[bytes]]]] = []

    def render(self, request: IRequest) -> bytes:
        """
        Note the request.
        """
        req: Any = request
        body: bytes = req.content.read() if req.content is not None else b""
        self.seen.append((req.path, body, dict(req.args)))
        return b"seen"


def serve(site: GoSite, raw: bytes) -> bytes:
    """
    Feed C{raw} to a new connection, a few bytes at a time; return what the
    server wrote.
    """
    channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1234))
    assert channel is not None
    transport = StringTransport()
    channel.makeConnection(transport)
    for start in range(0, len(raw), 7):
        channel.dataReceived(raw[start : start + 7])
    written: bytes = transport.value()
    return written


class GoSiteTests(SynchronousTestCase):
    """
    L{GoSite} hands requests to its resource as Go's server hands them to
    its router.
    """

    def test_star(self) -> None:
        """
        C{OPTIONS *} and C{GET *} reach the resource (twisted.web would
        answer them itself).
        """
        recorder = _Recorder()
        site = GoSite(recorder, Clock())
        for method in (b"OPTIONS", b"GET"):
            written = serve(site, method + b" * HTTP/1.1\r\nHost: h\r\n\r\n")
            self.assertTrue(written.endswith(b"seen"), written)
        self.assertEqual([path for path, _, _ in recorder.seen], [b"*", b"*"])

    def test_unbounded(self) -> None:
        """
        Without a body limit, bodies are kept whole and forms parsed, as
        twisted.web does.
        """
        recorder = _Recorder()
        body = b"a=1&" + b"x" * 200
        serve(
            GoSite(recorder, Clock()),
            b"POST /r HTTP/1.1\r\nHost: h\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body),
        )
        [(_, kept, args)] = recorder.seen
        self.assertEqual((kept, args[b"a"]), (body, [b"1"]))

    def test_bounded(self) -> None:
        """
        With a body limit, asked as each body starts, a request keeps at
        most that many bytes, says it was cut, and parses no form; one
        whose declared C{Content-Length} is over the limit keeps nothing
        (it is refused on the header, as Go's handlers refuse it).
        """
        recorder = _Recorder()
        limits = [5, 50]
        site = GoSite(recorder, Clock(), bodyLimit=lambda: limits.pop(0))
        body = b"a=1&" + b"x" * 20
        raw = (
            b"POST /r HTTP/1.1\r\nHost: h\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        serve(site, raw)
        serve(site, raw)
        self.assertEqual(
            [(kept, args) for _, kept, args in recorder.seen],
            [(b"", {}), (body, {})],
        )


class MissingHostTests(SynchronousTestCase):
    """
    An HTTP/1.1 request without C{Host} gets Go's 400, byte for byte.
    """

    def test_missingHost(self) -> None:
        """
        Without C{Host}, an HTTP/1.1 request is answered with Go's exact
        C{400 Bad Request: missing required Host header} and never reaches
        the resource.
        """
        resource = _Recorder()
        written = serve(GoSite(resource, Clock()), b"GET /ping HTTP/1.1\r\n\r\n")
        self.assertEqual(
            written,
            b"HTTP/1.1 400 Bad Request\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Connection: close\r\n"
            b"\r\n"
            b"400 Bad Request: missing required Host header",
        )
        self.assertEqual(resource.seen, [])

    def test_http10WithoutHost(self) -> None:
        """
        HTTP/1.0 does not require C{Host}: the request is served.
        """
        resource = _Recorder()
        written = serve(GoSite(resource, Clock()), b"GET /ping HTTP/1.0\r\n\r\n")
        self.assertIn(b"seen", written)
        self.assertEqual(len(resource.seen), 1)


class _TooBig(Resource):
    """
    Answers 413 when the request's body was cut, as nsqd's handlers do.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.kept: list[bytes] = []

    def render(self, request: IRequest) -> bytes:
        """
        413 for a cut body, else C{OK}.
        """
        req: Any = request
        self.kept.append(req.content.read())
        if req.bodyTruncated:
            req.setResponseCode(413)
            return b"too big"
        return b"OK"


class BodyLimitTests(SynchronousTestCase):
    """
    A body over the limit is answered as soon as that is known, and the
    rest of it is never read: Go answers 413 after C{--max-msg-size} (or
    C{--max-body-size}) bytes, or on the declared C{Content-Length}.
    """

    def connect(self, limit: int) -> tuple[Any, StringTransport, _TooBig]:
        """
        A connection to a bounded site whose resource is a L{_TooBig}.
        """
        resource = _TooBig()
        site = GoSite(resource, Clock(), bodyLimit=lambda: limit)
        channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1234))
        transport = StringTransport()
        assert channel is not None
        channel.makeConnection(transport)
        return channel, transport, resource

    def test_endlessChunkedBody(self) -> None:
        """
        A chunked body that never ends is answered 413 once it has passed
        the limit, the connection is closed, and what still arrives is
        not decoded (the request is handled once, with at most the limit).
        """
        channel, transport, resource = self.connect(100)
        channel.dataReceived(
            b"POST /pub HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"%x\r\n%s\r\n" % (60, b"y" * 60)
        channel.dataReceived(chunk)
        self.assertEqual(transport.value(), b"")
        channel.dataReceived(chunk)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 "))
        self.assertTrue(transport.disconnecting)
        for _ in range(100):
            channel.dataReceived(chunk)
        self.assertEqual(resource.kept, [b"y" * 100])
        self.assertEqual(transport.value().count(b"HTTP/1.1"), 1)

    def test_hugeContentLength(self) -> None:
        """
        A declared C{Content-Length} over the limit (200 MB) is refused
        with the first body bytes, without reading the rest: 413 and the
        connection closed, nothing of the body kept.
        """
        channel, transport, resource = self.connect(100)
        channel.dataReceived(
            b"POST /pub HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n"
            % (200 * 1024 * 1024)
        )
        channel.dataReceived(b"z" * 1000)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 "))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(resource.kept, [b""])

    def test_underTheLimit(self) -> None:
        """
        A body within the limit is read whole and the connection stays open
        for the next request.
        """
        channel, transport, resource = self.connect(100)
        channel.dataReceived(
            b"POST /pub HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n" + b"a" * 10
        )
        self.assertIn(b"OK", transport.value())
        self.assertFalse(transport.disconnecting)
        self.assertEqual(resource.kept, [b"a" * 10])


class QuietTests(SynchronousTestCase):
    """
    L{GoSite} logs nothing of its own: requests are logged by the router,
    in Go's format.
    """

    def test_noAccessLog(self) -> None:
        """
        A request served leaves no twisted.web access-log line (Apache's
        C{combined} format), and starting the site logs no C{Starting
        factory} line.
        """
        events = EventLoggingObserver()
        globalLogPublisher.addObserver(events)
        self.addCleanup(globalLogPublisher.removeObserver, events)
        site = GoSite(_Recorder(), Clock())
        site.doStart()
        serve(site, b"GET /ping HTTP/1.1\r\nHost: h\r\n\r\n")
        site.doStop()
        self.assertEqual([formatEvent(event) for event in events], [])
