"""
Tests for L{txnsq._http._site}: L{GoSite}'s requests.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
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
        most that many bytes, says it was cut, and parses no form.
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
            [(body[:5], {}), (body, {})],
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
