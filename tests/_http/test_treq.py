"""
Tests for L{txnsq._http._treq}: the treq client that also reaches hosts
given as IPv6 literals, which treq alone refuses, and servers behind a
client endpoint.
"""

from __future__ import annotations

from typing import Any

from zope.interface import implementer

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import UNIXClientEndpoint
from twisted.internet.interfaces import (
    IProtocol,
    IProtocolFactory,
    IStreamClientEndpoint,
)
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import HTTPConnectionPool
from twisted.web.http_headers import Headers
from twisted.web.iweb import IPolicyForHTTPS
from twisted.web.resource import Resource
from twisted.web.server import Site

from tests._services import requireIPv6Loopback
from txnsq._http import QuietConnectionPool, TreqClient, literalHost


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
    L{TreqClient.requestURL} puts a made-up host in place of a literal.
    """

    def setUp(self) -> None:
        self.client = TreqClient(MemoryReactorClock())

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

    def test_userinfo(self) -> None:
        """
        A URL's C{user:password@} stays in front of the made-up host and
        out of C{Host}.
        """
        self.assertEqual(
            self.client.requestURL("http://u:p@[::1]:4151/info"),
            ("http://u:p@ipv6-0.literal.invalid:4151/info", b"[::1]:4151"),
        )


@implementer(IPolicyForHTTPS)
class _RecordingPolicy:
    """
    A TLS policy that records the hosts it is asked about.
    """

    def __init__(self) -> None:
        self.asked: list[tuple[bytes, int]] = []

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        self.asked.append((hostname, port))
        from twisted.internet.ssl import CertificateOptions

        return CertificateOptions(verify=False)


@implementer(IStreamClientEndpoint)
class _RecordingEndpoint:
    """
    An endpoint that records its connection attempts and never connects.
    """

    def __init__(self) -> None:
        self.attempts = 0

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        self.attempts += 1
        return Deferred()


class ConnectionTests(SynchronousTestCase):
    """
    Where L{TreqClient} connects, on a memory reactor.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()

    def test_ipAddresses(self) -> None:
        """
        IPv4 addresses and IPv6 literals are connected to as they are
        (no resolver), with the connect timeout given.
        """
        client = TreqClient(self.reactor, connectTimeout=3.0)
        client.get("http://127.0.0.1:4161/topics")
        client.get("http://[::1]:4151/stats")
        self.assertEqual(
            [
                (host, port, timeout)
                for host, port, _, timeout, _ in self.reactor.tcpClients
            ],
            [("127.0.0.1", 4161, 3.0), ("::1", 4151, 3.0)],
        )

    def test_tlsPolicy(self) -> None:
        """
        C{https} URLs are checked with the TLS policy given, for the
        literal (not its made-up host).
        """
        policy = _RecordingPolicy()
        client = TreqClient(self.reactor, tlsPolicy=policy)
        client.get("https://[::1]:4152/stats")
        client.get("https://127.0.0.1/stats")
        self.assertEqual(policy.asked, [(b"::1", 4152), (b"127.0.0.1", 443)])
        self.assertEqual(len(self.reactor.tcpClients), 2)

    def test_endpointURL(self) -> None:
        """
        Requests to the base URL an endpoint is given go over that
        endpoint, each endpoint its own.
        """
        client = TreqClient(self.reactor)
        first, second = _RecordingEndpoint(), _RecordingEndpoint()
        firstURL = client.endpointURL(first)
        secondURL = client.endpointURL(second)
        self.assertNotEqual(firstURL, secondURL)
        client.get(f"{firstURL}/lookup?topic=t")
        client.get(f"{firstURL}/ping")
        client.get(f"{secondURL}/ping")
        self.assertEqual((first.attempts, second.attempts), (2, 1))
        self.assertEqual(self.reactor.tcpClients, [])

    def test_pool(self) -> None:
        """
        Each client has a quiet pool of its own, with the connections per
        host asked for, unless it is given one to share.
        """
        first = TreqClient(self.reactor, persistentPerHost=8)
        second = TreqClient(self.reactor)
        self.assertIsInstance(first.pool, QuietConnectionPool)
        self.assertIsNot(first.pool, second.pool)
        self.assertEqual(first.pool.maxPersistentPerHost, 8)
        shared = HTTPConnectionPool(self.reactor)
        self.assertIs(TreqClient(self.reactor, pool=shared).pool, shared)


class _Echo(Resource):
    """
    Answers with the request's method, C{Host} and C{Accept} headers, path
    and body.
    """

    isLeaf = True

    def render(self, request: Any) -> bytes:
        return b" ".join(
            [
                request.method,
                request.getHeader(b"host") or b"",
                request.getHeader(b"accept") or b"",
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
        self.client = TreqClient(reactor, connectTimeout=10)
        self.addCleanup(self.client.close)

    async def test_get(self) -> None:
        """
        GET reaches the server, with the URL's C{Host} and the headers
        given (as lists of bytes, as text or as L{Headers}).
        """
        headers: Any
        for headers in [
            {b"Accept": [b"a/b"]},
            {"Accept": "a/b"},
            Headers({b"Accept": [b"a/b"]}),
        ]:
            response = await self.client.get(
                f"http://{self.address}/topics?x=1", headers=headers
            )
            body = await response.content()
            self.assertEqual(
                body, f"GET {self.address} a/b /topics?x=1 ".encode(), headers
            )

    async def test_post(self) -> None:
        """
        POST sends its body.
        """
        response = await self.client.post(f"http://{self.address}/p", b"data")
        self.assertEqual(
            await response.content(), f"POST {self.address}  /p data".encode()
        )

    async def test_request(self) -> None:
        """
        Any method, with treq's other arguments; a C{Host} given is kept.
        """
        response = await self.client.request(
            "PUT",
            f"http://{self.address}/r",
            data=b"x",
            headers={"Host": "example"},
            timeout=10,
        )
        self.assertEqual(await response.content(), b"PUT example  /r x")


class EndpointRequestTests(TestCase):
    """
    Requests over a UNIX socket endpoint.
    """

    timeout = 30

    async def test_unix(self) -> None:
        """
        A request to L{TreqClient.endpointURL}'s base URL reaches the
        server on that endpoint.
        """
        path = self.mktemp()
        site: Any = Site(_Echo())
        unix: Any = reactor
        port = unix.listenUNIX(path, site)
        self.addCleanup(port.stopListening)
        client = TreqClient(reactor)
        self.addCleanup(client.close)
        base = client.endpointURL(UNIXClientEndpoint(reactor, path))
        response = await client.get(f"{base}/ping")
        body = await response.content()
        self.assertEqual(body, f"GET {base[7:]}  /ping ".encode())
