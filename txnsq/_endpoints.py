# -*- test-case-name: tests.test_endpoints -*-
"""
Go listen addresses as Twisted endpoints, and a listening service that says
where it listens.

Go NSQ takes C{host:port} (C{0.0.0.0:4150}, C{[::1]:4150}, C{:4150}) or,
since 1.3.0, a unix socket path: anything Go's C{net.SplitHostPort} rejects.
L{endpointDescription} turns those into Twisted endpoint strings, and
L{ListeningService} listens on one and logs Go's
C{TCP: listening on 127.0.0.1:4150} line with the port actually bound, which
test harnesses read to learn ephemeral ports.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    fail,
    maybeDeferred,
    succeed,
)
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import (
    IAddress,
    IListeningPort,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from twisted.logger import Logger
from twisted.python.failure import Failure

__all__ = [
    "ListenError",
    "ListeningService",
    "endpointDescription",
    "formatAddress",
    "listeningService",
    "splitHostPort",
]


def splitHostPort(address: str) -> tuple[str, str]:
    """
    Split C{host:port} as Go's C{net.SplitHostPort} does.

    @return: C{(host, port)}; an IPv6 host comes without its brackets.
    @raise ValueError: where Go returns an error (no port, too many colons,
        stray brackets).
    """
    colon = address.rfind(":")
    if colon < 0:
        raise ValueError(f"address {address}: missing port in address")
    if address.startswith("["):
        end = address.find("]")
        if end < 0:
            raise ValueError(f"address {address}: missing ']' in address")
        if end + 1 == len(address):
            raise ValueError(f"address {address}: missing port in address")
        if end + 1 != colon:
            if address[end + 1] == ":":
                raise ValueError(f"address {address}: too many colons in address")
            raise ValueError(f"address {address}: missing port in address")
        host = address[1:end]
        hostStart, portSearch = 1, end + 1
    else:
        host = address[:colon]
        if ":" in host:
            raise ValueError(f"address {address}: too many colons in address")
        hostStart, portSearch = 0, 0
    if "[" in address[hostStart:]:
        raise ValueError(f"address {address}: unexpected '[' in address")
    if "]" in address[portSearch:]:
        raise ValueError(f"address {address}: unexpected ']' in address")
    return host, address[colon + 1 :]


def quoteArgument(text: str) -> str:
    """
    Escape C{\\} and C{:} for an endpoint string argument, as
    L{twisted.internet.endpoints.quoteStringArgument} does.
    """
    return text.replace("\\", "\\\\").replace(":", "\\:")


def endpointDescription(address: str) -> str:
    """
    The Twisted server endpoint string for a Go listen address.

      - C{0.0.0.0:4150} -> C{tcp:4150:interface=0.0.0.0}
      - C{:4150} (all interfaces) -> C{tcp:4150}
      - C{[::1]:4150} -> C{tcp6:4150:interface=\\:\\:1}
      - C{/run/nsqd.sock} (not C{host:port}) -> C{unix:/run/nsqd.sock}

    An empty port means any free port, as in Go.

    @raise ValueError: for a C{host:port} whose port is not a number.
    """
    try:
        host, port = splitHostPort(address)
    except ValueError:
        return "unix:" + quoteArgument(address)
    if port == "":
        port = "0"
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"listen tcp {address}: unknown port {port!r}")
    portNumber = int(port)
    if host == "":
        return f"tcp:{portNumber}"
    if ":" in host:
        return f"tcp6:{portNumber}:interface={quoteArgument(host)}"
    return f"tcp:{portNumber}:interface={quoteArgument(host)}"


def ipPort(address: IAddress) -> int | None:
    """
    The port of an IPv4 or IPv6 address; L{None} for any other kind (a unix
    socket), which has none.
    """
    if isinstance(address, (IPv4Address, IPv6Address)):
        return address.port
    return None


def formatAddress(address: IAddress) -> str:
    """
    Show a bound address as Go's C{net.Addr.String} does: C{127.0.0.1:4150},
    C{[::1]:4150}, or a unix socket's path.
    """
    if isinstance(address, IPv6Address):
        return f"[{address.host}]:{address.port}"
    if isinstance(address, IPv4Address):
        return f"{address.host}:{address.port}"
    if isinstance(address, UNIXAddress):
        name = address.name
        if isinstance(name, bytes):
            return name.decode("utf-8", "replace")
        return str(name)
    return str(address)


def _cancelled(failure: Failure) -> bool:
    """
    Whether C{failure} only says the listen was cancelled (by stopping).
    """
    return failure.check(CancelledError) is not None


class ListenError(Exception):
    """
    Listening failed; the message is Go's C{listen (ADDR) failed - ERR}.
    """


class ListeningService(Service):
    """
    Listen on an endpoint while running, like
    L{twisted.application.internet.StreamServerEndpointService}, and tell
    where: L{whenListening} gives the bound port and Go's
    C{LABEL: listening on ADDR} / C{LABEL: closing ADDR} lines are logged.

    Listening starts in L{privilegedStartService} (before twistd drops
    privileges).  If the endpoint fails at once (address in use) the error
    is raised from there as L{ListenError}, so twistd and C{txnsq} stop at
    startup as Go does.

    @ivar endpoint: where to listen.
    @ivar factory: the protocol factory to listen with.
    @ivar label: C{TCP}, C{HTTP} or C{HTTPS}, the word Go logs.
    @ivar address: the configured Go address, for error messages.
    """

    def __init__(
        self,
        endpoint: IStreamServerEndpoint,
        factory: IProtocolFactory,
        label: str = "TCP",
        address: str = "",
        logNamespace: str | None = None,
    ) -> None:
        """
        @param logNamespace: the logger namespace for the listening lines
            (the daemon's, so its C{--log-prefix} applies).
        """
        self.endpoint = endpoint
        self.factory = factory
        self.label = label
        self.address = address
        self._log = Logger(namespace=logNamespace or __name__, source=self)
        self._listening: Deferred[IListeningPort] | None = None
        self._port: IListeningPort | None = None
        self._failure: Failure | None = None
        self._waiters: list[Deferred[IListeningPort]] = []
        self._starting = False

    def privilegedStartService(self) -> None:
        """
        Start listening.

        @raise ListenError: if listening failed synchronously.
        """
        super().privilegedStartService()  # type: ignore[no-untyped-call]
        self._listen()

    def startService(self) -> None:
        """
        Start listening, unless L{privilegedStartService} already did.

        @raise ListenError: if listening failed synchronously.
        """
        super().startService()  # type: ignore[no-untyped-call]
        if self._listening is None:
            self._listen()

    def _listen(self) -> None:
        self._port = None
        self._failure = None
        self._starting = True
        try:
            self._listening = self.endpoint.listen(self.factory)
            self._listening.addCallbacks(self._listened, self._listenFailed)
        finally:
            self._starting = False
        self._raiseIfFailed()

    def _raiseIfFailed(self) -> None:
        failure = self._failure
        if failure is not None and not _cancelled(failure):
            raise ListenError(
                f"listen ({self.address}) failed - {failure.getErrorMessage()}"
            )

    def _listened(self, port: IListeningPort) -> IListeningPort:
        self._port = port
        self._log.info(
            "{label}: listening on {address}",
            label=self.label,
            address=formatAddress(port.getHost()),
        )
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(port)
        return port

    def _listenFailed(self, reason: Failure) -> None:
        self._failure = reason
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.errback(reason)
        if not _cancelled(reason) and not self._starting:
            # Synchronous failures are raised from startService; later
            # ones have nobody to raise to, so they are logged.
            self._log.failure("listen ({address}) failed", reason, address=self.address)

    def whenListening(self) -> Deferred[IListeningPort]:
        """
        The bound port, once listening; fails if listening failed.
        """
        if self._port is not None:
            return succeed(self._port)
        if self._failure is not None:
            return fail(self._failure)
        waiter: Deferred[IListeningPort] = Deferred()
        self._waiters.append(waiter)
        return waiter

    def stopService(self) -> Deferred[None]:
        """
        Stop listening (or stop trying to), then log Go's C{closing} line.
        """
        super().stopService()  # type: ignore[no-untyped-call]
        listening, self._listening = self._listening, None
        port, self._port = self._port, None
        self._failure = None
        if port is not None:
            address = formatAddress(port.getHost())
            stopped: Deferred[Any] = maybeDeferred(port.stopListening)

            def closed(result: object) -> None:
                self._log.info(
                    "{label}: closing {address}", label=self.label, address=address
                )

            return stopped.addCallback(closed)
        if listening is not None:
            listening.cancel()
        return succeed(None)


def listeningService(
    reactor: Any,
    address: str,
    factory: IProtocolFactory,
    label: str = "TCP",
    logNamespace: str | None = None,
) -> ListeningService:
    """
    A L{ListeningService} on a Go listen address.

    @param reactor: the reactor to listen with.
    @raise ValueError: see L{endpointDescription}.
    """
    endpoint = serverFromString(reactor, endpointDescription(address))
    return ListeningService(endpoint, factory, label, address, logNamespace)
