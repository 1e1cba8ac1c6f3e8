# -*- test-case-name: tests.nsqlookupd.test_protocol -*-
"""
nsqlookupd's TCP side: one L{LookupdProtocol} per nsqd connection.

The protocol feeds bytes to L{LookupdCommandDecoder}, applies the records
to the shared L{RegistrationDB} and writes the size-prefixed replies.  When
the connection ends, the nsqd is removed from every registration, so it
disappears from C{/lookup} and C{/nodes} at once.
"""

from __future__ import annotations

import socket

from zope.interface import implementer

from twisted.internet.interfaces import IHalfCloseableProtocol, IReactorTime
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure
from typing_extensions import assert_never

from txnsq import NSQ_VERSION
from txnsq._endpoints import formatAddress
from txnsq._logging import Logger
from txnsq.nsqlookupd.registry import PeerInfo, Registration, RegistrationDB
from txnsq.wire.errors import ProtocolError
from txnsq.wire.lookup import (
    REPLY_OK,
    Identify,
    LookupdCommandDecoder,
    LookupdRecord,
    Ping,
    Register,
    Unregister,
    encodeErrorReply,
    encodeReply,
    identifyReplyBody,
)

__all__ = ["LookupdFactory", "LookupdProtocol"]

LOG_NAMESPACE = "txnsq.nsqlookupd"


@implementer(IHalfCloseableProtocol)
class LookupdProtocol(Protocol):
    """
    One nsqd's connection to nsqlookupd.

    @ivar factory: the factory, which holds the registry and settings.
    @ivar peer: the nsqd's details once it has identified, else L{None}.
    """

    factory: LookupdFactory
    peer: PeerInfo | None = None
    _log = Logger(namespace=LOG_NAMESPACE)

    def __init__(self) -> None:
        self._decoder = LookupdCommandDecoder()
        self._id = ""

    def logPrefix(self) -> str:
        """
        The prefix Go puts on nsqlookupd's log lines.
        """
        return "nsqlookupd"

    def connectionMade(self) -> None:
        """
        Note the remote address: it identifies this nsqd's registrations.
        """
        self._id = formatAddress(self.transport.getPeer())  # type: ignore[union-attr]
        self.factory.connections.add(self)
        self._log.info("TCP: new client({client})", client=self._id)

    def dataReceived(self, data: bytes) -> None:
        """
        Decode and apply whatever commands C{data} completes.
        """
        self._apply(self._decoder.feed(data))

    def readConnectionLost(self) -> None:
        """
        The nsqd shut down its sending side: answer a cut-short IDENTIFY as
        Go does, then close.
        """
        self._apply(self._decoder.finish())
        self.transport.loseConnection()  # type: ignore[union-attr]

    def writeConnectionLost(self) -> None:
        """
        Nothing more can be sent; close.
        """
        self.transport.loseConnection()  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """
        Drop the nsqd from every registration.
        """
        self.factory.connections.discard(self)
        self._decoder.finish()
        self._log.info("PROTOCOL(V1): [{client}] exiting ioloop", client=self._id)
        if self.peer is not None:
            for key in self.factory.registry.removePeer(self.peer.id):
                self._logRegistration("UNREGISTER", key)
            self.peer = None

    def _apply(self, records: list[LookupdRecord]) -> None:
        for record in records:
            if isinstance(record, Ping):
                self._ping()
            elif isinstance(record, Identify):
                identity = record.peer
                now = self.factory.clock.seconds()
                peer = PeerInfo(
                    id=self._id,
                    remoteAddress=self._id,
                    hostname=identity.hostname,
                    broadcastAddress=identity.broadcastAddress,
                    tcpPort=identity.tcpPort,
                    httpPort=identity.httpPort,
                    version=identity.version,
                    lastUpdate=now,
                )
                self._log.info(
                    "CLIENT({client}): IDENTIFY Address:{address} TCP:{tcp} "
                    "HTTP:{http} Version:{version}",
                    client=self._id,
                    address=peer.broadcastAddress,
                    tcp=peer.tcpPort,
                    http=peer.httpPort,
                    version=peer.version,
                )
                self.peer = peer
                if self.factory.registry.identify(peer):
                    self._logRegistration("REGISTER", Registration("client", "", ""))
                self.transport.write(  # type: ignore[union-attr]
                    encodeReply(self.factory.identifyReply())
                )
            elif isinstance(record, Register):
                topic, channel = record.topic, record.channel
                assert self.peer is not None
                for key in self.factory.registry.register(self.peer, topic, channel):
                    self._logRegistration("REGISTER", key)
                self.transport.write(REPLY_OK)  # type: ignore[union-attr]
            elif isinstance(record, Unregister):
                topic, channel = record.topic, record.channel
                assert self.peer is not None
                for key in self.factory.registry.unregister(self.peer, topic, channel):
                    self._logRegistration("UNREGISTER", key)
                self.transport.write(REPLY_OK)  # type: ignore[union-attr]
            elif isinstance(record, ProtocolError):
                self._fail(record)
            else:
                assert_never(record)

    def _ping(self) -> None:
        # A PING may come before IDENTIFY; it only refreshes an identified
        # nsqd.
        if self.peer is not None:
            now = self.factory.clock.seconds()
            self._log.info(
                "CLIENT({client}): pinged (last ping {elapsed:.6f}s)",
                client=self.peer.id,
                elapsed=now - self.peer.lastUpdate,
            )
            self.peer.lastUpdate = now
        self.transport.write(REPLY_OK)  # type: ignore[union-attr]

    def _fail(self, error: ProtocolError) -> None:
        # Every nsqlookupd protocol error is fatal.
        if error.code == "E_BAD_PROTOCOL":
            self._log.error("client({client}) bad protocol magic", client=self._id)
        else:
            self._log.error(
                "[{client}] - {error}",
                client=self._id,
                error=error.wireText().decode("utf-8", "replace"),
            )
        self.transport.write(encodeErrorReply(error))  # type: ignore[union-attr]
        self.transport.loseConnection()  # type: ignore[union-attr]

    def _logRegistration(self, action: str, key: Registration) -> None:
        self._log.info(
            "DB: client({client}) {action} category:{category} key:{key} "
            "subkey:{subkey}",
            client=self._id,
            action=action,
            category=key.category,
            key=key.key,
            subkey=key.subkey,
        )


class LookupdFactory(Factory):
    """
    Makes L{LookupdProtocol}s sharing one registry.

    @ivar registry: the registrations.
    @ivar clock: the time source for last-update times.
    @ivar broadcastAddress: C{--broadcast-address}, sent in the IDENTIFY
        reply.
    @ivar hostname: the OS hostname, sent in the IDENTIFY reply.
    @ivar tcpPort: the bound TCP port, sent in the IDENTIFY reply (the
        service sets it once listening).
    @ivar httpPort: the bound HTTP port, likewise; nsqd uses it to query
        C{/channels}.
    @ivar connections: the open connections.
    """

    protocol = LookupdProtocol  # type: ignore[assignment]
    noisy = False

    def __init__(
        self,
        registry: RegistrationDB,
        clock: IReactorTime,
        broadcastAddress: str,
        *,
        hostname: str | None = None,
        version: str = NSQ_VERSION,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.broadcastAddress = broadcastAddress
        self.hostname = socket.gethostname() if hostname is None else hostname
        self.version = version
        self.tcpPort = 0
        self.httpPort = 0
        self.connections: set[LookupdProtocol] = set()

    def identifyReply(self) -> bytes:
        """
        The JSON answering a valid IDENTIFY.
        """
        return identifyReplyBody(
            broadcastAddress=self.broadcastAddress,
            hostname=self.hostname,
            httpPort=self.httpPort,
            tcpPort=self.tcpPort,
            version=self.version,
        )

    def disconnectAll(self) -> None:
        """
        Close every connection (Go's C{tcpServer.Close} at exit).
        """
        for connection in list(self.connections):
            connection.transport.loseConnection()  # type: ignore[union-attr]
