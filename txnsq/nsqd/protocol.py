# -*- test-case-name: tests.nsqd.test_protocol -*-
"""
nsqd's TCP side: Twisted glue between sockets, the sans-IO command decoder
(L{txnsq.wire.commands}) and the broker (L{txnsq.nsqd.state}).

Cut along Go nsqd's seams:

  - L{NSQDFactory} and L{MagicSniffer} are Go's C{tcp.go}: every accepted
    connection first sends a 4-byte magic naming its protocol.  The
    sniffer reads it and hands the connection over to an L{NSQDProtocol}
    for the V2 magic (two spaces, then C{V2}), or answers C{E_BAD_PROTOCOL}
    and closes.
  - L{NSQDProtocol} (L{txnsq.nsqd._protocolv2}) is Go's C{protocol_v2.go}:
    the command records and what each does.
  - L{ClientV2} (L{txnsq.nsqd._clientv2}) is the state of Go's
    C{client_v2.go}; its delivery side (the broker's consumer, and the
    transport's producer) is L{txnsq.nsqd._pump}, its writes
    L{txnsq.nsqd._output}, its timers L{txnsq.nsqd._heartbeat}.

Writes are coalesced: message frames for a connection collect in a list
and the factory flushes every such list once per reactor turn with one
write each; responses to what a client sent join them and go out when its
read has been handled, so pipelined commands get one write; the write goes
to the socket at once when nothing waits (L{txnsq.nsqd._writer}).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zope.interface import implementer

from twisted.internet.interfaces import (
    IDelayedCall,
    IHalfCloseableProtocol,
    IReactorTime,
)
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure

from txnsq._logging import Logger
from txnsq.nsqd._clientv2 import (
    STATE_CLOSING,
    STATE_INIT,
    STATE_SUBSCRIBED,
    ClientV2,
    formatRemoteAddress,
)
from txnsq.nsqd._heartbeat import HeartbeatScheduler
from txnsq.nsqd._output import ClientOutput
from txnsq.nsqd._protocolv2 import LOG_NAMESPACE, NSQDProtocol, hostPort
from txnsq.nsqd._tls import serverTLSOptions
from txnsq.nsqd.auth import AuthClient
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.state import Broker
from txnsq.wire.errors import E_BAD_PROTOCOL, ProtocolError
from txnsq.wire.frames import encodeError
from txnsq.wire.identify import IdentifyLimits

if TYPE_CHECKING:
    from twisted.internet.interfaces import IAddress

__all__ = [
    "MAGIC_V2",
    "STATE_CLOSING",
    "STATE_INIT",
    "STATE_SUBSCRIBED",
    "ClientV2",
    "MagicSniffer",
    "NSQDFactory",
    "NSQDProtocol",
    "identifyLimits",
]

MAGIC_V2 = b"  V2"


def identifyLimits(config: NSQDConfig) -> IdentifyLimits:
    """
    The IDENTIFY bounds that follow from nsqd's settings.
    """
    return IdentifyLimits(
        defaultHeartbeatInterval=int(config.client_timeout * 1000) // 2,
        maxHeartbeatInterval=int(config.max_heartbeat_interval * 1000),
        defaultOutputBufferSize=16384,
        maxOutputBufferSize=config.max_output_buffer_size,
        defaultOutputBufferTimeout=int(config.output_buffer_timeout * 1000),
        minOutputBufferTimeout=int(config.min_output_buffer_timeout * 1000),
        maxOutputBufferTimeout=int(config.max_output_buffer_timeout * 1000),
        defaultMsgTimeout=int(config.msg_timeout * 1000),
        maxMsgTimeout=int(config.max_msg_timeout * 1000),
        maxRdyCount=config.max_rdy_count,
        maxDeflateLevel=config.max_deflate_level,
        tlsAvailable=config.tlsEnabled,
        snappyEnabled=config.snappy,
        deflateEnabled=config.deflate,
        authRequired=config.authEnabled,
    )


@implementer(IHalfCloseableProtocol)
class MagicSniffer(Protocol):
    """
    An accepted connection, until its first four bytes have named its
    protocol (Go's C{tcpServer.Handle}).

    Like Twisted's HAProxy wrapper, it stays the transport's protocol and
    passes every later byte, the end of the client's stream and the
    connection's loss to the protocol it handed over to; that protocol
    writes to the transport directly.  It is half-closeable so that a
    client that shuts down its sending side still gets its replies
    (otherwise Twisted drops the connection, and what waits to be written,
    at the end of the stream).

    @ivar protocol: the V2 protocol, once the magic has been read.
    """

    # nsqd's TCP log lines keep the namespace they have always had.
    _log = Logger(namespace=LOG_NAMESPACE)

    def __init__(self, factory: NSQDFactory) -> None:
        self.factory = factory
        self.protocol: NSQDProtocol | None = None
        self._magic = b""
        self._connectTime = 0.0
        self._refused = False

    def connectionMade(self) -> None:
        """
        Note the connection, and disable Nagle's algorithm.
        """
        self._connectTime = self.factory.clock.seconds()
        self.factory.accepted.add(self)
        self._log.info("TCP: new client({client})", client=self._client())
        # Go sets TCP_NODELAY on every connection; without it Nagle's
        # algorithm and delayed ACKs add tens of milliseconds per round trip.
        setNoDelay = getattr(self.transport, "setTcpNoDelay", None)
        if setNoDelay is not None:
            setNoDelay(True)

    def dataReceived(self, data: bytes) -> None:
        """
        Read the magic, then pass everything to the protocol it named.
        """
        protocol = self.protocol
        if protocol is not None:
            # Responses wait for the end of the read, then everything
            # marked goes out together.
            factory = self.factory
            factory.reading += 1
            try:
                protocol.dataReceived(data)
            finally:
                factory.reading -= 1
                if not factory.reading and factory.dirty:
                    factory.flushAll()
            return
        if self._refused:
            return
        magic = self._magic + data
        if len(magic) < 4:
            self._magic = magic
            return
        self._magic = b""
        self._log.info(
            "CLIENT({client}): desired protocol magic '{magic}'",
            client=self._client(),
            magic=_shown(magic[:4]),
        )
        if magic[:4] != MAGIC_V2:
            self._refuse(magic[:4])
            return
        protocol = self.protocol = NSQDProtocol(self.factory, self._connectTime)
        protocol.makeConnection(self.transport)  # type: ignore[no-untyped-call]
        if len(magic) > 4:
            protocol.dataReceived(magic[4:])

    def _client(self) -> str:
        # Go's conn.RemoteAddr(), as every TCP log line shows the client.
        assert self.transport is not None
        return formatRemoteAddress(*hostPort(self.transport.getPeer()))

    def _refuse(self, magic: bytes) -> None:
        self._refused = True
        assert self.transport is not None
        error = ProtocolError(E_BAD_PROTOCOL)
        self.transport.write(encodeError(error.wireText()))
        self.transport.loseConnection()
        self._log.error(
            "client({client}) bad protocol magic '{magic}'",
            client=self._client(),
            magic=_shown(magic),
        )

    def readConnectionLost(self) -> None:
        """
        The client sent its last byte: the protocol in charge answers what
        it read, then closes.  Before the magic is complete Go gives up
        silently (C{failed to read protocol version}).
        """
        if self.protocol is not None:
            self.protocol.readConnectionLost()
        elif self.transport is not None:
            self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        """
        Nothing more can be written: close.
        """
        if self.protocol is not None:
            self.protocol.writeConnectionLost()
        elif self.transport is not None:
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """
        Tell the protocol in charge, if any.
        """
        self.factory.accepted.discard(self)
        if self.protocol is not None:
            self.protocol.connectionLost(reason)
        elif not self._refused and not self.factory.stopping:
            # Go's io.ReadFull of the magic: nothing read is io.EOF, a part
            # of it io.ErrUnexpectedEOF.
            self._log.error(
                "failed to read protocol version - {error}",
                error="unexpected EOF" if self._magic else "EOF",
            )


class NSQDFactory(Factory):
    """
    Makes a L{MagicSniffer} per connection, the V2 protocols sharing one
    broker, and flushes their coalesced output once per reactor turn.

    @ivar connections: the V2 connections (those past their magic).
    @ivar accepted: every open connection, for shutdown.
    @ivar dirty: the outputs with frames waiting for L{flushAll}.
    @ivar reading: non-zero while a connection's received bytes are
        handled; L{MagicSniffer} flushes every dirty output once that is
        done, so responses written meanwhile wait for it.
    """

    def __init__(self, broker: Broker, config: NSQDConfig, clock: IReactorTime) -> None:
        self.broker = broker
        self.config = config
        self.clock = clock
        self.identifyLimits = identifyLimits(config)
        self.tlsOptions = serverTLSOptions(config)
        self.authClient = AuthClient(config, clock) if config.authEnabled else None
        self.connections: set[NSQDProtocol] = set()
        self.accepted: set[MagicSniffer] = set()
        self.dirty: set[ClientOutput] = set()
        # One timer for every connection's heartbeats and read deadline.
        self.heartbeats = HeartbeatScheduler(clock)
        self.reading = 0
        self._flushCall: IDelayedCall | None = None
        self._workCall: IDelayedCall | None = None
        #: Set by L{disconnectAll}: connections end because nsqd stops.
        self.stopping = False
        broker.setWakeup(self._wakeBroker)

    def _wakeBroker(self) -> None:
        # Topic backlogs are handed to channels one batch per reactor turn,
        # so a large backlog never stalls other connections.
        if self._workCall is None:
            self._workCall = self.clock.callLater(0, self._brokerWork)

    def _brokerWork(self) -> None:
        self._workCall = None
        self.broker.work(self.clock.seconds())

    def buildProtocol(self, addr: IAddress) -> MagicSniffer:  # type: ignore[override]
        """
        A connection that first reads its magic.
        """
        return MagicSniffer(self)

    def markDirty(self, output: ClientOutput) -> None:
        """
        C{output} has buffered frames: flush them at the end of this
        reactor turn (one timer per turn, not per message).
        """
        self.dirty.add(output)
        # During a read, the reader flushes when it is done.
        if self._flushCall is None and not self.reading:
            self._flushCall = self.clock.callLater(0, self.flushAll)

    def markClean(self, output: ClientOutput) -> None:
        """
        C{output} has nothing buffered any more.
        """
        self.dirty.discard(output)

    def flushAll(self) -> None:
        """
        Write every connection's buffered frames.
        """
        if self._flushCall is not None:
            if self._flushCall.active():
                self._flushCall.cancel()
            self._flushCall = None
        dirty, self.dirty = self.dirty, set()
        for output in dirty:
            output.flush()

    def disconnectAll(self) -> None:
        """
        Close every client connection (shutdown).
        """
        self.stopping = True
        self.flushAll()
        for connection in list(self.accepted):
            if connection.transport is not None:
                connection.transport.loseConnection()


def _shown(magic: bytes) -> str:
    # Go prints the four bytes as they are (%s).
    return magic.decode("utf-8", "replace")
