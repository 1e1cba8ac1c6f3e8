# -*- test-case-name: tests._http.test_treq -*-
"""
The treq client txnsq's own HTTP requests go through (the client's
nsqlookupd polling, the tools, nsqadmin): on a quiet connection pool of
its own, with an optional connect timeout and TLS policy, that also
reaches hosts given as IPv6 literals (C{http://[::1]:4161/topics}) and
servers behind a client endpoint (a UNIX socket).

treq cannot request an IPv6 literal by itself: it runs every URL through
hyperlink, whose IDNA encoding refuses a host like C{::1} (C{Codepoint
U+003A not allowed}).  L{TreqClient} sends such a request to a made-up
host name (C{ipv6-0.literal.invalid}; C{.invalid} is never resolved)
with the URL's own C{Host} header (C{[::1]:4161}, as Go sends), and its
agent connects to the literal behind that name.  An endpoint gets a
made-up name of its own the same way (L{TreqClient.endpointURL}).

IP addresses are connected to as they are (TCP4/TCP6 endpoints): Twisted's
default would ask the resolver, in a thread, for every new connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Union
from urllib.parse import unquote, urlsplit, urlunsplit

from zope.interface import implementer

from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import (
    HostnameEndpoint,
    TCP4ClientEndpoint,
    TCP6ClientEndpoint,
    wrapClientTLS,
)
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.web.client import URI, Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgentEndpointFactory, IPolicyForHTTPS

from txnsq._http._client import QuietConnectionPool

if TYPE_CHECKING:
    # What treq's requests give: an IResponse with content() and json().
    from treq.response import _Response

__all__ = ["TreqClient", "literalHost"]

_Headers = Union[Headers, Mapping[Any, Any], None]
"""Request headers, as treq takes them (a C{Headers} or a mapping of
C{str} or C{bytes} names to a value or a list of values)."""

_LITERAL = ".literal.invalid"
"""The domain of the made-up hosts that stand for IPv6 literals."""

_ENDPOINT = ".endpoint.invalid"
"""The domain of the made-up hosts that stand for client endpoints."""


def literalHost(url: str) -> str | None:
    """
    The host of C{url} when it is an IPv6 literal (C{::1} for
    C{http://[::1]:4161/}, a zone unescaped), else C{None}.
    """
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if host is None or ":" not in host:
        return None
    return unquote(host)


@implementer(IAgentEndpointFactory)
class _Endpoints:
    """
    Where the agent connects: the endpoint or IPv6 literal behind a
    made-up host, else the URL's host; TCP to an IP address as it is, a
    host name through the resolver, and TLS for C{https} (not around a
    given endpoint, which is used as it is).
    """

    def __init__(
        self, reactor: Any, tlsPolicy: IPolicyForHTTPS, connectTimeout: float | None
    ) -> None:
        self._reactor = reactor
        self._tlsPolicy = tlsPolicy
        # Twisted's endpoints default to 30 seconds.
        self._timeout = 30.0 if connectTimeout is None else connectTimeout
        #: Made-up host -> the IPv6 literal it stands for.
        self.literals: dict[bytes, str] = {}
        #: Made-up host -> the endpoint it stands for.
        self.endpoints: dict[bytes, IStreamClientEndpoint] = {}

    def endpointForURI(self, uri: URI) -> IStreamClientEndpoint:
        """
        The endpoint for C{uri}'s host and port.
        """
        given = self.endpoints.get(uri.host)
        if given is not None:
            return given
        host = self.literals.get(uri.host) or uri.host.decode("ascii")
        endpoint: IStreamClientEndpoint
        if isIPAddress(host):
            endpoint = TCP4ClientEndpoint(
                self._reactor, host, uri.port, timeout=self._timeout
            )
        elif isIPv6Address(host):
            endpoint = TCP6ClientEndpoint(
                self._reactor, host, uri.port, timeout=self._timeout
            )
        else:
            endpoint = HostnameEndpoint(
                self._reactor, host, uri.port, timeout=self._timeout
            )
        if uri.scheme == b"https":
            creator = self._tlsPolicy.creatorForNetloc(host.encode("ascii"), uri.port)
            endpoint = wrapClientTLS(creator, endpoint)
        return endpoint


def _withHost(headers: _Headers, host: bytes) -> Headers:
    """
    C{headers} as a new C{Headers}, with C{Host: host} unless they name
    one already.
    """
    if isinstance(headers, Headers):
        combined = headers.copy()
    else:
        combined = Headers()
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            values = [value] if isinstance(value, (bytes, str)) else list(value)
            combined.setRawHeaders(
                name if isinstance(name, bytes) else name.encode("utf-8"),
                [v if isinstance(v, bytes) else v.encode("utf-8") for v in values],
            )
    if not combined.hasHeader(b"Host"):
        combined.setRawHeaders(b"Host", [host])
    return combined


class TreqClient:
    """
    treq's C{request}, C{get} and C{post} on a quiet connection pool, for
    URLs with host names, IP addresses, IPv6 literals or the made-up hosts
    of L{endpointURL}; every other argument goes to treq as it is.

    @ivar pool: the connection pool (L{close} closes its connections).
    """

    def __init__(
        self,
        reactor: Any,
        connectTimeout: float | None = None,
        persistentPerHost: int | None = None,
        tlsPolicy: IPolicyForHTTPS | None = None,
        pool: HTTPConnectionPool | None = None,
    ) -> None:
        """
        @param reactor: the reactor to connect with.
        @param connectTimeout: seconds a connection may take (Go's
            C{--http-client-connect-timeout}); C{None} for Twisted's
            default.
        @param persistentPerHost: connections kept alive per host, if not
            Twisted's default.
        @param tlsPolicy: how C{https} servers are checked; Twisted's
            browser-like policy by default.
        @param pool: a connection pool to share with another client; by
            default a L{QuietConnectionPool} of its own (never treq's
            global pool, which is not for libraries).
        """
        from treq.client import HTTPClient

        self.pool = pool if pool is not None else QuietConnectionPool(reactor)
        if persistentPerHost is not None:
            self.pool.maxPersistentPerHost = persistentPerHost
        self._endpoints = _Endpoints(
            reactor, tlsPolicy or BrowserLikePolicyForHTTPS(), connectTimeout
        )
        agent = Agent.usingEndpointFactory(reactor, self._endpoints, pool=self.pool)
        self._treq = HTTPClient(agent)
        #: IPv6 literal -> its made-up host.
        self._madeUp: dict[str, str] = {}

    def endpointURL(self, endpoint: IStreamClientEndpoint) -> str:
        """
        A base URL (C{http://endpoint-0.endpoint.invalid}) whose requests
        this client sends over C{endpoint}.
        """
        host = f"endpoint-{len(self._endpoints.endpoints)}{_ENDPOINT}"
        self._endpoints.endpoints[host.encode("ascii")] = endpoint
        return f"http://{host}"

    def requestURL(self, url: str) -> tuple[str, bytes | None]:
        """
        What to hand treq for C{url}: the URL itself, or for an IPv6
        literal the URL with a made-up host instead, and the C{Host}
        header to send (C{None} when treq's is right).
        """
        literal = literalHost(url)
        if literal is None:
            return url, None
        madeUp = self._madeUp.get(literal)
        if madeUp is None:
            madeUp = f"ipv6-{len(self._madeUp)}{_LITERAL}"
            self._madeUp[literal] = madeUp
            self._endpoints.literals[madeUp.encode("ascii")] = literal
        parts = urlsplit(url)
        userinfo, _, hostPort = parts.netloc.rpartition("@")
        port = hostPort.rpartition("]")[2]
        netloc = f"{userinfo}@{madeUp}{port}" if userinfo else f"{madeUp}{port}"
        return urlunsplit(parts._replace(netloc=netloc)), hostPort.encode("ascii")

    def request(self, method: str, url: str, **kwargs: Any) -> Deferred[_Response]:
        """
        treq's C{request}.
        """
        target, host = self.requestURL(url)
        if host is not None:
            kwargs["headers"] = _withHost(kwargs.get("headers"), host)
        response: Deferred[_Response] = self._treq.request(method, target, **kwargs)
        return response

    def get(self, url: str, **kwargs: Any) -> Deferred[_Response]:
        """
        treq's C{get}.
        """
        return self.request("GET", url, **kwargs)

    def post(self, url: str, data: Any = None, **kwargs: Any) -> Deferred[_Response]:
        """
        treq's C{post} of C{data}.
        """
        return self.request("POST", url, data=data, **kwargs)

    def close(self) -> Deferred[None]:
        """
        Close the kept-alive connections.
        """
        closed: Deferred[None] = self.pool.closeCachedConnections()
        return closed
