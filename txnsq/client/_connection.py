# -*- test-case-name: tests.client.test_connection -*-
"""
One link to one nsqd: connect, run a handshake on every new connection,
report ready and lost connections, and reconnect with exponential backoff.

Every handshake starts with L{identifyAndAuthenticate}.

Reconnecting is Twisted's L{ClientService}.  The handshake (IDENTIFY, then
SUB for consumers) is deliberately not its C{prepareConnection}: when a
connection drops while C{prepareConnection} is pending, or after it failed,
L{ClientService} has no transition for the disconnect and raises from
C{connectionLost}.  So the link treats every TCP connection as "connected"
for L{ClientService}, runs the handshake itself, closes the connection when
the handshake fails, and feeds handshake failures into the retry delay so
that an nsqd that accepts and then rejects is retried with backoff too.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any
from typing import Protocol as TypingProtocol

from zope.interface import implementer

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.endpoints import (
    HostnameEndpoint,
    UNIXClientEndpoint,
    clientFromString,
)
from twisted.internet.interfaces import (
    IAddress,
    IProtocol,
    IProtocolFactory,
    IReactorTime,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

from txnsq._endpoints import splitHostPort
from txnsq.client._errors import NSQAuthError
from txnsq.client._identify import IdentifyOptions, IdentifyResponse
from txnsq.client.protocol import NSQClientProtocol
from txnsq.wire.errors import E_AUTH_FIRST

__all__ = [
    "DEFAULT_HANDSHAKE_TIMEOUT",
    "LinkListener",
    "NSQDLink",
    "clientEndpoint",
    "defaultReactor",
    "defaultRetryPolicy",
    "identifyAndAuthenticate",
]

#: Seconds a new connection may take to finish its handshake.
DEFAULT_HANDSHAKE_TIMEOUT = 10.0

Handshake = Callable[[NSQClientProtocol], "Deferred[Any]"]


def defaultRetryPolicy(
    jitter: Callable[[], float] = random.random,
) -> Callable[[int], float]:
    """
    Reconnect delays for a configured nsqd: 1 s, doubling, at most 60 s,
    plus up to one second of jitter.
    """
    return backoffPolicy(initialDelay=0.5, factor=2.0, maxDelay=60.0, jitter=jitter)


async def identifyAndAuthenticate(
    protocol: NSQClientProtocol, options: IdentifyOptions, authSecret: bytes | None
) -> IdentifyResponse:
    """
    The start of every client handshake: IDENTIFY, then AUTH when nsqd's
    reply says C{auth_required}.

    @param authSecret: the AUTH secret; L{None} when none is configured.
    @return: nsqd's IDENTIFY reply.
    @raise NSQAuthError: with code C{E_AUTH_FIRST}, without sending
        anything more, when nsqd requires AUTH and C{authSecret} is
        L{None} (the error nsqd would answer the next command with).
    """
    response = await protocol.identify(options)
    if response.authRequired:
        if authSecret is None:
            raise NSQAuthError(
                E_AUTH_FIRST, "nsqd requires AUTH and no authSecret is set"
            )
        await protocol.authenticate(authSecret)
    return response


def defaultReactor(reactor: Any = None) -> Any:
    """
    C{reactor}, or the global reactor when it is L{None} (imported only
    then, so importing the client never installs a reactor).
    """
    if reactor is None:
        from twisted.internet import reactor as globalReactor

        return globalReactor
    return reactor


def clientEndpoint(reactor: Any, address: str) -> IStreamClientEndpoint:
    """
    The endpoint for an nsqd address, which may be:

      - Go-style C{host:port} (hostnames, IPv4 and bracketed IPv6): a
        C{HostnameEndpoint};
      - a UNIX socket path, as nsqd's C{--tcp-address} takes one (it must
        contain a C{/}: C{/run/nsqd.sock}, C{./nsqd.sock});
      - a Twisted client endpoint description (C{tcp:host=h:port=4150},
        C{unix:path=/run/nsqd.sock}, C{tls:h:4150}...), parsed by
        L{clientFromString}.

    A C{host:port} is told apart from a description by its port, which is
    a number, as Go requires.

    @raise ValueError: if C{address} is none of these.
    """
    try:
        host, port = splitHostPort(address)
    except ValueError:
        host, port = "", ""
    if port.isdigit():
        return HostnameEndpoint(reactor, host or "127.0.0.1", int(port))
    if ":" not in address:
        if "/" in address:
            return UNIXClientEndpoint(reactor, address)
        raise ValueError(f"address {address}: missing port in address")
    try:
        endpoint: IStreamClientEndpoint = clientFromString(reactor, address)
    except (ValueError, TypeError, KeyError) as e:
        # clientFromString reports an unknown type or a bad argument in
        # several ways; callers expect ValueError for any bad address.
        raise ValueError(
            f"address {address}: neither host:port nor an endpoint description ({e})"
        ) from e
    return endpoint


class LinkListener(TypingProtocol):
    """
    What an L{NSQDLink} reports.
    """

    def linkReady(self, link: NSQDLink, connection: NSQClientProtocol) -> None:
        """
        A connection finished its handshake and can be used.
        """

    def linkLost(
        self, link: NSQDLink, connection: NSQClientProtocol, reason: Failure
    ) -> None:
        """
        A ready connection ended.
        """

    def linkFailed(self, link: NSQDLink, reason: Failure) -> None:
        """
        A connection attempt or a handshake failed.  A link that does not
        reconnect is finished after this.
        """


class _LinkProtocol(NSQClientProtocol):
    """
    A client protocol that tells its link when it is connected.
    """

    link: NSQDLink

    def connectionMade(self) -> None:
        super().connectionMade()
        self.link._connected(self)


class _LinkFactory(Factory):
    noisy = False

    def __init__(self, link: NSQDLink) -> None:
        self.link = link

    def buildProtocol(self, addr: IAddress) -> _LinkProtocol:  # type: ignore[override]
        protocol = _LinkProtocol(self.link.clock)
        protocol.link = self.link
        protocol.factory = self
        return protocol


class NSQDLink:
    """
    Keeps a handshaken connection to one nsqd.

    @ivar address: the nsqd's C{host:port} (or a description of the
        endpoint), the key clients use for it.
    @ivar connection: the ready connection, if any.
    @ivar reconnect: whether lost or failed connections are retried
        (configured nsqds) or end the link (nsqds found through lookupd,
        retried only if a later lookup lists them again).
    """

    _log = Logger()

    def __init__(
        self,
        address: str,
        endpoint: IStreamClientEndpoint,
        clock: IReactorTime,
        handshake: Handshake,
        listener: LinkListener,
        *,
        reconnect: bool = True,
        retryPolicy: Callable[[int], float] | None = None,
        handshakeTimeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    ) -> None:
        self.address = address
        self.endpoint = endpoint
        self.clock = clock
        self.reconnect = reconnect
        self.connection: NSQClientProtocol | None = None
        self._handshake = handshake
        self._listener = listener
        self._handshakeTimeout = handshakeTimeout
        self._policy = retryPolicy or defaultRetryPolicy()
        self._handshakeFailures = 0
        self._factory = _LinkFactory(self)
        self._service: ClientService | None = None
        self._attempt: Deferred[Any] | None = None
        self._current: NSQClientProtocol | None = None
        self._stopping = False
        self.finished = False

    def __repr__(self) -> str:
        return f"<NSQDLink {self.address}>"

    def _retryDelay(self, attempt: int) -> float:
        # ClientService counts failed connection attempts since the last
        # TCP connection; handshakes that failed after connecting count too.
        return self._policy(attempt + max(0, self._handshakeFailures - 1))

    def start(self) -> None:
        """
        Start connecting.
        """
        if self.reconnect:
            self._service = ClientService(
                _ReportingEndpoint(self),
                self._factory,
                retryPolicy=self._retryDelay,
                clock=self.clock,
            )
            self._service.startService()
        else:
            self._attempt = self.endpoint.connect(self._factory)
            self._attempt.addErrback(self._connectFailed)

    def _connectFailed(self, reason: Failure) -> None:
        self._attempt = None
        if not self._stopping:
            self._log.info(
                "connecting to nsqd {address} failed: {why}",
                address=self.address,
                why=reason.getErrorMessage(),
            )
            self.finished = True
            self._listener.linkFailed(self, reason)

    def _connected(self, connection: NSQClientProtocol) -> None:
        self._attempt = None
        self._current = connection
        if self._stopping:
            connection.loseConnection()
            return
        handshake = self._handshake(connection)
        handshake.addTimeout(self._handshakeTimeout, self.clock)
        handshake.addCallbacks(
            lambda _: self._ready(connection),
            lambda reason: self._handshakeFailed(connection, reason),
        )
        connection.whenClosed().addCallback(lambda _: self._closed(connection))

    def _ready(self, connection: NSQClientProtocol) -> None:
        if connection.closed:
            # Lost between the last answer and now; _closed handles it.
            return
        self._handshakeFailures = 0
        self.connection = connection
        self._listener.linkReady(self, connection)

    def _handshakeFailed(self, connection: NSQClientProtocol, reason: Failure) -> None:
        if self._stopping and reason.check(CancelledError):
            return
        self._handshakeFailures += 1
        self._log.warn(
            "handshake with nsqd {address} failed: {why}",
            address=self.address,
            why=reason.getErrorMessage(),
        )
        connection.abortConnection()
        if not self.reconnect:
            self.finished = True
        self._listener.linkFailed(self, reason)

    def _closed(self, connection: NSQClientProtocol) -> None:
        if self._current is connection:
            self._current = None
        if self.connection is not connection:
            return
        self.connection = None
        if not self.reconnect:
            self.finished = True
        reason = connection.closeReason or Failure(ConnectionError("closed"))
        self._listener.linkLost(self, connection, reason)

    def stop(self) -> Deferred[None]:
        """
        Stop reconnecting and close the connection.

        @return: fires once the connection is closed.
        """
        self._stopping = True
        if self._service is not None:
            service, self._service = self._service, None
            stopped: Deferred[None] = service.stopService()
            return stopped
        if self._attempt is not None:
            attempt, self._attempt = self._attempt, None
            attempt.addErrback(_ignoreCancel)
            attempt.cancel()
        current = self._current
        if current is not None and current.connected:
            closed = current.whenClosed()
            current.loseConnection()
            return closed
        return succeed(None)


@implementer(IStreamClientEndpoint)
class _ReportingEndpoint:
    """
    The link's endpoint as given to L{ClientService}, which retries failed
    connection attempts without telling anyone: this one reports each
    failure to the link's listener first, so that a producer can fail the
    publishes waiting for a connection at once.
    """

    def __init__(self, link: NSQDLink) -> None:
        self._link = link

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        attempt: Deferred[IProtocol] = self._link.endpoint.connect(protocolFactory)
        attempt.addErrback(self._failed)
        return attempt

    def _failed(self, reason: Failure) -> Failure:
        link = self._link
        if not link._stopping and not reason.check(CancelledError):
            link._listener.linkFailed(link, reason)
        return reason


def _ignoreCancel(reason: Failure) -> None:
    reason.trap(CancelledError)
