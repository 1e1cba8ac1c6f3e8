# -*- test-case-name: tests.client.test_pool -*-
"""
L{LinkPool}: a consumer's links to its nsqds, those configured and those
found through nsqlookupd, by address.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.python.failure import Failure

from txnsq.client._connection import (
    DEFAULT_HANDSHAKE_TIMEOUT,
    Handshake,
    LinkListener,
    NSQDLink,
    clientEndpoint,
)
from txnsq.client.protocol import NSQClientProtocol

__all__ = ["LinkPool"]


class LinkPool:
    """
    Links to nsqds, one per address: to the configured nsqds, reconnected
    with backoff, and to nsqds found through nsqlookupd, connected once and
    forgotten when the link finishes, so that a later lookup that still
    lists the nsqd links to it again.

    The pool listens to its links, and passes what they report on to the
    client's L{LinkListener} once it has forgotten finished links.

    @ivar links: the links, by address.
    """

    def __init__(
        self,
        addresses: Sequence[str | IStreamClientEndpoint],
        listener: LinkListener,
        handshake: Handshake,
        *,
        reactor: Any,
        log: Any,
        endpointFactory: Callable[[str], IStreamClientEndpoint] | None = None,
        retryPolicy: Callable[[int], float] | None = None,
        handshakeTimeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    ) -> None:
        """
        @param addresses: the configured nsqds: C{host:port} strings or
            client endpoints.
        @param listener: told about the links' connections.
        @param handshake: run on every new connection.
        @param reactor: the reactor the links connect with.
        @param log: the client's txaio logger, for discovered nsqds.
        @param endpointFactory: makes the endpoint for an nsqd's
            C{host:port}; by default a C{HostnameEndpoint}.
        @param retryPolicy: reconnect delays for configured nsqds.
        @param handshakeTimeout: seconds a connection may take to finish
            C{handshake}.

        @raise ValueError: if C{endpointFactory} refuses a configured
            address.
        """
        self._listener = listener
        self._handshake = handshake
        self._reactor = reactor
        self._log = log
        self._endpointFactory = endpointFactory or (
            lambda address: clientEndpoint(reactor, address)
        )
        self._retryPolicy = retryPolicy
        self._handshakeTimeout = handshakeTimeout
        self._configured: dict[str, IStreamClientEndpoint] = {}
        for address in addresses:
            if isinstance(address, str):
                self._configured[address] = self._endpointFactory(address)
            else:
                self._configured[repr(address)] = address
        self.links: dict[str, NSQDLink] = {}
        self._stopping = False

    def start(self) -> None:
        """
        Link to the configured nsqds.
        """
        for address, endpoint in self._configured.items():
            self._add(address, endpoint, reconnect=True)

    def discovered(self, addresses: Iterable[str]) -> None:
        """
        Link to those of C{addresses} not linked to yet (nothing once
        stopping).  An address the endpoint factory refuses is logged and
        skipped.
        """
        if self._stopping:
            return
        for address in sorted(set(addresses) - set(self.links)):
            try:
                endpoint = self._endpointFactory(address)
            except ValueError as e:
                self._log.warn(
                    "ignoring nsqd {address}: {why}", address=address, why=str(e)
                )
                continue
            self._log.info("discovered nsqd {address}", address=address)
            self._add(address, endpoint, reconnect=False)

    def _add(
        self, address: str, endpoint: IStreamClientEndpoint, reconnect: bool
    ) -> None:
        link = NSQDLink(
            address,
            endpoint,
            self._reactor,
            self._handshake,
            self,
            reconnect=reconnect,
            retryPolicy=self._retryPolicy,
            handshakeTimeout=self._handshakeTimeout,
        )
        self.links[address] = link
        link.start()

    def stopConnecting(self) -> list[Deferred[None]]:
        """
        Stop the links that have no ready connection (they have nothing in
        flight), and link to no more discovered nsqds.

        @return: when each of those links has stopped.
        """
        self._stopping = True
        return [link.stop() for link in self.links.values() if link.connection is None]

    def stop(self) -> list[Deferred[None]]:
        """
        Stop every link, and link to no more discovered nsqds.

        @return: when each link has stopped.
        """
        self._stopping = True
        return [link.stop() for link in self.links.values()]

    # LinkListener.

    def linkReady(self, link: NSQDLink, connection: NSQClientProtocol) -> None:
        """
        L{LinkListener}: tell the client.
        """
        self._listener.linkReady(link, connection)

    def linkLost(
        self, link: NSQDLink, connection: NSQClientProtocol, reason: Failure
    ) -> None:
        """
        L{LinkListener}: forget the link if it is finished, and tell the
        client.
        """
        self._forget(link)
        self._listener.linkLost(link, connection, reason)

    def linkFailed(self, link: NSQDLink, reason: Failure) -> None:
        """
        L{LinkListener}: forget the link if it is finished, and tell the
        client.
        """
        self._forget(link)
        self._listener.linkFailed(link, reason)

    def _forget(self, link: NSQDLink) -> None:
        if link.finished:
            self.links.pop(link.address, None)
