"""
Tests for L{txnsq.tools._http}: the tools' HTTP client reaches hosts given
as IPv6 literals, which treq alone refuses.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource
from twisted.web.server import Site

from tests.tools._helpers import requireIPv6Loopback
from txnsq.tools._http import ToolHTTPClient, literalHost


class LiteralHostTests(SynchronousTestCase):
    """
    L{literalHost} finds the IPv6 literal in a URL.
    """

    def test_literal(self) -> None:
        """
        A bracketed host is the literal, zone unescaped.
        """
        self.assertEqual(literalHost("http://[::1]:4161/topics"), "::1")
        self.assertEqual(literalHost("https://[fe80::1%25eth0]/"), "fe80::1%eth0")

    def test_others(self) -> None:
        """
        Names, IPv4 addresses and what does not parse are not literals.
        """
        for url in ("http://127.0.0.1:4161/", "http://nsqlookupd/", "http://[::1"):
            self.assertIsNone(literalHost(url), url)


class RequestURLTests(SynchronousTestCase):
    """
    L{ToolHTTPClient.requestURL} puts a made-up host in place of a literal.
    """

    def setUp(self) -> None:
        self.client = ToolHTTPClient(reactor)

    def test_unchanged(self) -> None:
        """
        A URL without a literal is requested as it is, with treq's C{Host}.
        """
        url = "http://127.0.0.1:4161/lookup?topic=t"
        self.assertEqual(self.client.requestURL(url), (url, None))

    def test_literal(self) -> None:
        """
        A literal is replaced by one made-up host (the same each time),
        port, path and query kept; C{Host} is the URL's own.
        """
        first = self.client.requestURL("http://[::1]:4161/lookup?topic=t")
        again = self.client.requestURL("http://[::1]:4151/stats")
        other = self.client.requestURL("http://[::2]/")
        self.assertEqual(
            first,
            ("http://ipv6-0.literal.invalid:4161/lookup?topic=t", b"[::1]:4161"),
        )
        self.assertEqual(
            again, ("http://ipv6-0.literal.invalid:4151/stats", b"[::1]:4151")
        )
        self.assertEqual(other, ("http://ipv6-1.literal.invalid/", b"[::2]"))


class _Echo(Resource):
    """
    Answers with the request's method, C{Host} header, path and body.
    """

    isLeaf = True

    def render(self, request: Any) -> bytes:
        return b" ".join(
            [
                request.method,
                request.getHeader(b"host") or b"",
                request.uri,
                request.content.read(),
            ]
        )


class LiteralRequestTests(TestCase):
    """
    Requests to a server on C{::1}.
    """

    timeout = 30

    def setUp(self) -> None:
        requireIPv6Loopback()
        site: Any = Site(_Echo())
        port = reactor.listenTCP(0, site, interface="::1")
        self.addCleanup(port.stopListening)
        self.address = f"[::1]:{port.getHost().port}"  # type: ignore[attr-defined]
        self.client = ToolHTTPClient(reactor, connectTimeout=10)
        self.addCleanup(self.client.close)

    async def test_get(self) -> None:
        """
        GET reaches the server, with the URL's C{Host} and the headers
        given.
        """
        response = await self.client.get(
            f"http://{self.address}/topics?x=1", headers={b"Accept": [b"a/b"]}
        )
        body = await response.content()
        self.assertEqual(body, f"GET {self.address} /topics?x=1 ".encode())

    async def test_post(self) -> None:
        """
        POST sends its body.
        """
        response = await self.client.post(f"http://{self.address}/p", b"data")
        self.assertEqual(
            await response.content(), f"POST {self.address} /p data".encode()
        )
