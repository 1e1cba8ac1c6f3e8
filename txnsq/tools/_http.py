# -*- test-case-name: tests.tools.test_http -*-
"""
The HTTP client of the tools that make their own requests (C{nsq_stat},
C{nsq_to_file}'s topic discovery, C{nsq_to_http}): treq on a connection
pool of the tool's own, with Go's C{--http-client-connect-timeout}, that
also reaches hosts given as IPv6 literals (C{http://[::1]:4161/topics}).

treq cannot request those: it runs every URL through hyperlink, whose
IDNA encoding refuses a host like C{::1}.  The client's lookupd polling
(L{txnsq.client.lookup}) gets around that by sending such a request to a
made-up host name its HTTP agent maps back to the literal's endpoint;
L{ToolHTTPClient} does the same for any URL: the request names a made-up
host (C{ipv6-0.literal.invalid}, never resolved), carries the URL's own
C{Host} header (C{[::1]:4161}, as Go sends), and connects to the
literal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union
from urllib.parse import unquote, urlsplit, urlunsplit

from zope.interface import implementer

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.web.client import URI, Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgentEndpointFactory

if TYPE_CHECKING:
    # What treq's get and post give: an IResponse with content() and json().
    from treq.response import _Response

__all__ = ["ToolHTTPClient", "literalHost"]

_Headers = Union[Headers, Mapping[bytes, Sequence[bytes]], None]
"""Request headers, as treq takes them."""

_MADE_UP = ".literal.invalid"
"""The domain of the made-up hosts (C{.invalid} is never resolved)."""


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
    TCP (and for C{https}, TLS) to a URL's host, the literal behind a
    made-up host included, with the tool's connect timeout.
    """

    def __init__(self, reactor: Any, connectTimeout: float | None) -> None:
        self._reactor = reactor
        self._timeout = connectTimeout
        self._policy = BrowserLikePolicyForHTTPS()
        #: Made-up host -> the IPv6 literal it stands for.
        self.literals: dict[bytes, str] = {}

    def endpointForURI(self, uri: URI) -> IStreamClientEndpoint:
        """
        The endpoint for C{uri}'s host (or the literal it stands for).
        """
        host = self.literals.get(uri.host) or uri.host.decode("ascii")
        kwargs: dict[str, Any] = {}
        if self._timeout is not None:
            kwargs["timeout"] = self._timeout
        endpoint: IStreamClientEndpoint = HostnameEndpoint(
            self._reactor, host, uri.port, **kwargs
        )
        if uri.scheme == b"https":
            creator = self._policy.creatorForNetloc(host.encode(), uri.port)
            endpoint = wrapClientTLS(creator, endpoint)
        return endpoint


class ToolHTTPClient:
    """
    treq's C{get} and C{post}, on a connection pool of its own, for URLs
    with host names, IPv4 addresses or IPv6 literals.

    @ivar pool: the connection pool (L{close} closes its connections).
    """

    def __init__(
        self,
        reactor: Any,
        connectTimeout: float | None = None,
        persistentPerHost: int | None = None,
    ) -> None:
        """
        @param reactor: the reactor to connect with.
        @param connectTimeout: seconds a connection may take (Go's
            C{--http-client-connect-timeout}); C{None} for Twisted's
            default.
        @param persistentPerHost: connections kept alive per host, if not
            Twisted's default.
        """
        from treq.client import HTTPClient

        self.pool = HTTPConnectionPool(reactor, persistent=True)
        if persistentPerHost is not None:
            self.pool.maxPersistentPerHost = persistentPerHost
        self._endpoints = _Endpoints(reactor, connectTimeout)
        agent = Agent.usingEndpointFactory(reactor, self._endpoints, pool=self.pool)
        self._treq = HTTPClient(agent)
        #: IPv6 literal -> its made-up host.
        self._madeUp: dict[str, str] = {}

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
            madeUp = f"ipv6-{len(self._madeUp)}{_MADE_UP}"
            self._madeUp[literal] = madeUp
            self._endpoints.literals[madeUp.encode()] = literal
        parts = urlsplit(url)
        userinfo, _, hostPort = parts.netloc.rpartition("@")
        port = hostPort.rpartition("]")[2]
        netloc = f"{userinfo}@{madeUp}{port}" if userinfo else f"{madeUp}{port}"
        return urlunsplit(parts._replace(netloc=netloc)), hostPort.encode()

    def _headers(self, host: bytes | None, headers: _Headers) -> Headers:
        combined = Headers()
        if isinstance(headers, Headers):
            for name, values in headers.getAllRawHeaders():
                combined.setRawHeaders(name, list(values))
        else:
            for name, values in (headers or {}).items():
                combined.setRawHeaders(name, list(values))
        if host is not None:
            combined.setRawHeaders(b"Host", [host])
        return combined

    def get(self, url: str, headers: _Headers = None) -> Deferred[_Response]:
        """
        treq's C{get}.
        """
        target, host = self.requestURL(url)
        response: Deferred[_Response] = self._treq.get(
            target, headers=self._headers(host, headers)
        )
        return response

    def post(
        self,
        url: str,
        data: bytes,
        headers: _Headers = None,
    ) -> Deferred[_Response]:
        """
        treq's C{post} of C{data}.
        """
        target, host = self.requestURL(url)
        response: Deferred[_Response] = self._treq.post(
            target, data=data, headers=self._headers(host, headers)
        )
        return response

    def close(self) -> Deferred[None]:
        """
        Close the kept-alive connections.
        """
        closed: Deferred[None] = self.pool.closeCachedConnections()
        return closed
