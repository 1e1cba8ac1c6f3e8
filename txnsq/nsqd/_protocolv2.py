# -*- test-case-name: tests.nsqd.test_protocol -*-
"""
Protocol V2: one client connection, from its magic on.

L{NSQDProtocol} reads the 4-byte magic (Go's C{tcpServer.Handle}), then is
Go's C{protocolV2}: it feeds the bytes (decompressed,
once IDENTIFY negotiated compression) to a L{CommandDecoder}, pulls the
command records and runs each (Go's C{Exec}), writing replies through the
connection's L{ClientOutput}.  The client's state is a L{ClientV2}, its
deliveries a L{MessagePump}; it is its own L{Heartbeats}.

Where Go's handler blocks (on the auth server, or on a new topic learning
its channels from nsqlookupd), the connection holds the command
(L{HeldCommand}) and stops pulling records; when the wait ends the held
command runs again, skipping the checks it has passed, and reading goes on.
Nothing waits per message: no Deferred and no timer is made on the
publishing or consuming paths.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast
from typing import Protocol as TypingProtocol

from zope.interface import implementer

import attrs
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IAddress,
    IConsumer,
    IDelayedCall,
    IHalfCloseableProtocol,
    ILoggingContext,
    IProtocol,
    IReactorTime,
    ITransport,
)
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure
from typing_extensions import assert_never

from txnsq import NSQ_VERSION
from txnsq._go.values import goQuote
from txnsq._logging import Logger
from txnsq.nsqd._clientv2 import (
    STATE_CLOSING,
    STATE_SUBSCRIBED,
    ClientV2,
    formatRemoteAddress,
)
from txnsq.nsqd._heartbeat import Heartbeats, HeartbeatScheduler
from txnsq.nsqd._output import ClientOutput, FlushScheduler
from txnsq.nsqd._pump import MessagePump
from txnsq.nsqd._stream import peerCommonName, upgradeStream
from txnsq.nsqd.auth import AuthClient, Authorizations
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.state import Broker, ChannelError
from txnsq.wire.commands import (
    Auth,
    Cls,
    Command,
    CommandDecoder,
    CommandRecord,
    DPub,
    FinBatch,
    Identify,
    MPub,
    MPubStart,
    Nop,
    Pub,
    Rdy,
    Req,
    Sub,
    Touch,
)
from txnsq.wire.compression import CompressionError, StreamCodec
from txnsq.wire.errors import (
    E_AUTH_DISABLED,
    E_AUTH_FAILED,
    E_AUTH_FIRST,
    E_BAD_PROTOCOL,
    E_DPUB_FAILED,
    E_FIN_FAILED,
    E_INVALID,
    E_MPUB_FAILED,
    E_PUB_FAILED,
    E_REQ_FAILED,
    E_SUB_FAILED,
    E_TOUCH_FAILED,
    E_UNAUTHORIZED,
    ProtocolError,
)
from txnsq.wire.frames import (
    RESPONSE_CLOSE_WAIT,
    RESPONSE_HEARTBEAT,
    RESPONSE_OK,
    encodeError,
    encodeResponse,
)
from txnsq.wire.identify import (
    IdentifyLimits,
    IdentifyResult,
    decodeIdentify,
    formatIdentify,
    identifyResponse,
    negotiateIdentify,
)

if TYPE_CHECKING:
    # Only a type: the TLS stack is imported when TLS is configured
    # (txnsq._tlsimport).
    from twisted.internet.ssl import CertificateOptions

__all__ = [
    "LOG_NAMESPACE",
    "MAGIC_V2",
    "HeldCommand",
    "NSQDProtocol",
    "V2Server",
    "hostPort",
]

#: The magic a V2 client sends first.
MAGIC_V2 = b"  V2"

#: The namespace of nsqd's TCP log events: the one they have always had, so
#: that observers and filters keyed on it keep working.
LOG_NAMESPACE = "txnsq.nsqd.protocol.NSQDProtocol"

# Twisted reads at most this much per recv (its transports' bufferSize) ...
_READ_SIZE = 65536
# ... and while a large body is pending, up to this much: a 1 MB body in
# one or a few reads rather than 16 (per read: the reactor's dispatch, a
# recv, this protocol's feed), ~15% less CPU per MB published.
_LARGE_READ_SIZE = 1 << 20


class _Sized(TypingProtocol):
    # Twisted's TCP and UNIX transports: how much one recv asks for.
    bufferSize: int


class V2Server(FlushScheduler, TypingProtocol):
    """
    What a V2 connection uses of the server that accepted it (Go's
    C{*NSQD}); L{txnsq.nsqd.protocol.NSQDFactory} provides it.

    @ivar maxReqTimeoutMs: C{--max-req-timeout} in milliseconds (one int
        for every connection's decoder).
    @ivar connections: the open V2 connections, for C{/stats} and shutdown.
    @ivar awaitingMagic: the open connections still reading their magic,
        for shutdown (a connection is in one set or the other, not both:
        a set entry is ~33 bytes).
    @ivar stopping: whether nsqd is stopping (connections then end
        without a complaint).
    @ivar dirty: the outputs with message frames waiting for L{flushAll}.
    @ivar heartbeats: the heartbeats and read deadlines of every connection.
    """

    broker: Broker
    config: NSQDConfig
    clock: IReactorTime
    identifyLimits: IdentifyLimits
    tlsOptions: CertificateOptions | None
    authClient: AuthClient | None
    maxReqTimeoutMs: int
    connections: set[NSQDProtocol]
    awaitingMagic: set[NSQDProtocol]
    stopping: bool
    dirty: set[ClientOutput]
    heartbeats: HeartbeatScheduler

    def flushAll(self) -> None:
        """
        Write every connection's buffered frames.
        """


def hostPort(address: IAddress) -> tuple[str, int]:
    """
    The host and port of an IP address; C{("", 0)} for any other kind (a
    unix socket).
    """
    if isinstance(address, (IPv4Address, IPv6Address)):
        return address.host, address.port
    return "", 0


@attrs.define
class HeldCommand:
    """
    A command whose handler waits, as Go's blocks: for the auth server's
    answer, or for its topic to start.  It runs again once the wait is
    over, and no later command runs before it.

    @ivar command: the command.
    @ivar authorized: whether it already passed Go's C{CheckAuth}, which
        Go makes once, before it waits for the topic.
    """

    command: Command
    authorized: bool = False


@implementer(IProtocol, ILoggingContext, IHalfCloseableProtocol)
class NSQDProtocol(Heartbeats):
    """
    One client connection: its 4-byte magic (Go's C{tcpServer.Handle}),
    then protocol V2.

    The magic is read by the connection itself: a client that sends the V2
    magic (two spaces, then C{V2}) is served from then on; any other gets
    C{E_BAD_PROTOCOL} and is closed.  A client may shut down its sending
    side and still read: what it sent is answered before the connection
    closes, as Go's read loop answers each command before it reads the end
    of the stream.

    One per connection, and most connections are idle: its state is in
    slots (no instance C{__dict__}), and it is not a subclass of Twisted's
    C{Protocol}, whose instances keep a dict even in a slotted subclass.
    The decoder, output, pump and heartbeats are made once the magic has
    been read.

    @ivar server: the factory that accepted the connection.
    @ivar client: the client's state, read by C{/stats}.
    @ivar transport: the connection's transport, once made.
    """

    __slots__ = (
        "_abortCall",
        "_closed",
        "_decode",
        "_decoder",
        "_exitError",
        "_held",
        "_magic",
        "_output",
        "_pump",
        "_readDone",
        "client",
        "server",
        "transport",
    )

    _log = Logger(namespace=LOG_NAMESPACE)

    client: ClientV2
    _decoder: CommandDecoder
    _output: ClientOutput
    _pump: MessagePump

    def __init__(self, server: V2Server) -> None:
        self.server = server
        self.transport: ITransport | None = None
        # The magic read so far; None once it named protocol V2.
        self._magic: bytes | None = b""
        self._decode: StreamCodec | None = None
        self._held: HeldCommand | None = None
        # Closing (or refused): nothing more is read.
        self._closed = False
        # The client sent its last byte: once nothing waits, close.
        self._readDone = False
        # Aborts a closing connection whose replies cannot be written.
        self._abortCall: IDelayedCall | None = None
        # Why the connection ends, as Go's tcpServer logs it ("client(<addr>)
        # - <this>"); None for a client that simply left.
        self._exitError: str | None = None

    @property
    def broker(self) -> Broker:
        """
        The server's broker (not a slot of each connection's own).
        """
        return self.server.broker

    @property
    def clock(self) -> IReactorTime:
        """
        The server's clock (not a slot of each connection's own).
        """
        return self.server.clock

    # Connection life cycle.

    def makeConnection(self, transport: ITransport) -> None:
        """
        The connection is made over C{transport} (C{IProtocol}).
        """
        self.transport = transport
        self.connectionMade()

    def logPrefix(self) -> str:
        """
        How Twisted's log lines name this connection (C{ILoggingContext}).
        """
        return self.__class__.__name__

    def connectionMade(self) -> None:
        """
        Note the connection (named after its peer until IDENTIFY), and
        disable Nagle's algorithm.
        """
        server = self.server
        transport = self.transport
        assert transport is not None
        host, port = hostPort(transport.getPeer())
        client = self.client = ClientV2.connected(
            server.config, host, port, server.clock.seconds()
        )
        server.awaitingMagic.add(self)
        self._log.info("TCP: new client({client})", client=client.remoteAddress)
        # Go sets TCP_NODELAY on every connection; without it Nagle's
        # algorithm and delayed ACKs add tens of milliseconds per round trip.
        setNoDelay = getattr(transport, "setTcpNoDelay", None)
        if setNoDelay is not None:
            setNoDelay(True)

    def _readMagic(self, data: bytes) -> None:
        magic = (self._magic or b"") + data
        if len(magic) < 4:
            self._magic = magic
            return
        client = self.client
        self._log.info(
            "CLIENT({client}): desired protocol magic '{magic}'",
            client=client.remoteAddress,
            magic=_shown(magic[:4]),
        )
        if magic[:4] != MAGIC_V2:
            self._refuse(magic[:4])
            return
        self._magic = None
        self._startV2()
        if len(magic) > 4:
            self.dataReceived(magic[4:])

    def _refuse(self, magic: bytes) -> None:
        self._closed = True
        self._magic = b""
        assert self.transport is not None
        error = ProtocolError(E_BAD_PROTOCOL)
        self.transport.write(encodeError(error.wireText()))
        self.transport.loseConnection()
        self._log.error(
            "client({client}) bad protocol magic '{magic}'",
            client=self.client.remoteAddress,
            magic=_shown(magic),
        )

    def _startV2(self) -> None:
        # The magic named V2: start serving, with the heartbeats (which Go
        # starts once the magic has been read).
        server = self.server
        config = server.config
        client = self.client
        # The client is the gate (a bound method would cost 64 bytes).
        self._decoder = CommandDecoder(
            client, config.max_msg_size, config.max_body_size, server.maxReqTimeoutMs
        )
        assert self.transport is not None
        self._output = ClientOutput(client, server, self.transport)
        self._pump = MessagePump(client, self._output, server.clock, self)
        self.initHeartbeats()
        server.awaitingMagic.discard(self)
        server.connections.add(self)
        self.startHeartbeats(client.heartbeatInterval)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """
        Leave the channel; in-flight messages stay in flight until they time
        out, as in Go.
        """
        server = self.server
        if self._magic is not None:
            server.awaitingMagic.discard(self)
            if not self._closed and not server.stopping:
                # Go's io.ReadFull of the magic: nothing read is io.EOF, a
                # part of it io.ErrUnexpectedEOF.
                self._log.error(
                    "failed to read protocol version - {error}",
                    error="unexpected EOF" if self._magic else "EOF",
                )
            self._closed = True
            return
        self._closed = True
        abortCall, self._abortCall = self._abortCall, None
        if abortCall is not None and abortCall.active():
            abortCall.cancel()
        self._logExit()
        server.connections.discard(self)
        self._output.discard()
        self.stopHeartbeats()
        self._decoder.halt()
        pump = self._pump
        channel = pump.channel
        if channel is not None:
            pump.channel = None
            channel.removeConsumer(pump)
            if not server.broker.closing:
                server.broker.consumerLeft(channel)

    def dataReceived(self, data: bytes) -> None:
        """
        Read the magic, then run the commands C{data} completes.
        """
        if self._closed:
            return
        if self._magic is not None:
            self._readMagic(data)
            return
        server = self.server
        self.lastRead = server.clock.seconds()
        # Responses wait for the end of the read, then everything marked
        # goes out together.
        server.reading += 1
        try:
            if self._feed(data):
                self._readCommands()
                self._sizeNextRead()
        finally:
            server.reading -= 1
            if not server.reading and server.dirty:
                server.flushAll()

    def _sizeNextRead(self) -> None:
        # While a large body is pending, the next recv asks for what it
        # still needs (up to _LARGE_READ_SIZE); then for Twisted's usual
        # size again.  (Twisted's transport also takes bufferSize as its
        # write buffer's high-water mark: raised only while the client is
        # sending a large body, when this connection writes little.)
        wanted = self._decoder.wanted
        transport = cast(_Sized, self.transport)
        if wanted > _READ_SIZE:
            transport.bufferSize = min(wanted, _LARGE_READ_SIZE)
        elif getattr(transport, "bufferSize", _READ_SIZE) != _READ_SIZE:
            transport.bufferSize = _READ_SIZE

    def readConnectionLost(self) -> None:
        """
        The client shut down its sending side (Go's read loop sees
        C{io.EOF}): the commands it completed are answered (a held one
        first), one the end cut short gets Go's C{failed to read} error,
        and the connection closes once the replies are written.  Before
        the magic is complete Go gives up silently (C{failed to read
        protocol version}).
        """
        if self._magic is not None:
            if self.transport is not None:
                self.transport.loseConnection()
            return
        self._readDone = True
        if not self._closed and self._held is None:
            self._readCommands()

    def writeConnectionLost(self) -> None:
        """
        Nothing more can be written: close.
        """
        if self._magic is not None:
            if self.transport is not None:
                self.transport.loseConnection()
            return
        self._close()

    def _feed(self, data: bytes) -> bool:
        # Decompressed first, once IDENTIFY negotiated compression.
        if self._decode is not None:
            try:
                data = self._decode(data)
            except CompressionError as e:
                # Go's reader fails and the connection drops, with no frame.
                self._fatal(ProtocolError("", str(e), silent=True))
                return False
        self._decoder.feed(data)
        return True

    def _readCommands(self) -> None:
        # Pull and run commands until none is complete or one waits.
        nextCommand = self._decoder.nextCommand
        dispatch = self._dispatch
        while self._held is None:
            record = nextCommand()
            if record is None:
                break
            dispatch(record)
        if self._readDone and self._held is None and not self._closed:
            self._endOfInput()
        # Deliveries freed by this batch of FIN/REQ/RDY go out together, and
        # so does everything its publishes delivered elsewhere.
        channel = self._pump.channel
        if channel is not None and not self._closed:
            channel.pump(self.clock.seconds())
        if self.server.dirty:
            self.server.flushAll()

    def _dispatch(self, record: CommandRecord) -> None:
        # Go's Exec.  An isinstance chain over the union, most frequent
        # first, rather than a match statement: txnsq runs on Python 3.9
        # and PyPy 3.9, which have no match.  mypy checks that every record
        # type is handled (assert_never).
        if isinstance(record, FinBatch):
            self._fin(record)
        elif isinstance(record, Pub):
            if self._mayPublish(record, "PUB", record.topic):
                self._put(record.topic, [record.body], 0, E_PUB_FAILED)
        elif isinstance(record, MPub):
            # Authorised at MPubStart; the topic is checked again, as Go's
            # PutMessages finds it.
            if self._topicStarted(record, record.topic):
                self._put(record.topic, record.bodies, 0, E_MPUB_FAILED)
        elif isinstance(record, MPubStart):
            # Go authorises and creates the topic before it reads the body,
            # which the decoder reads only once asked for the next record.
            # (Checked here, next to MPub: every MPUB is both records.)
            self._mayPublish(record, "MPUB", record.topic)
        elif isinstance(record, Rdy):
            self._rdy(record)
        elif isinstance(record, Req):
            self._req(record)
        elif isinstance(record, Touch):
            self._touch(record)
        elif isinstance(record, DPub):
            if self._mayPublish(record, "DPUB", record.topic):
                self._put(record.topic, [record.body], record.deferMs, E_DPUB_FAILED)
        elif isinstance(record, Nop):
            pass
        elif isinstance(record, Sub):
            self._sub(record)
        elif isinstance(record, Cls):
            self.client.readyCount = 0
            self.client.state = STATE_CLOSING
            self._output.writeFrame(RESPONSE_CLOSE_WAIT)
        elif isinstance(record, Identify):
            self._identify(record)
        elif isinstance(record, Auth):
            self._auth(record)
        elif isinstance(record, ProtocolError):
            self._fatal(record)
        else:
            assert_never(record)

    # Ending.

    def _endOfInput(self) -> None:
        # Every complete command has run; what the end cut short is
        # answered as Go answers it (or not at all), then the connection
        # closes, as Go's does when its read loop ends.
        error = self._decoder.finish()
        if error is not None:
            self._fatal(error)
            return
        self._output.flush()
        self._close()

    def _fatal(self, error: ProtocolError) -> None:
        self._decoder.halt()
        if not error.silent:
            text = error.wireText().decode("utf-8", "replace")
            self._logClientError(text)
            self._exitError = text
            self._output.writeFrame(encodeError(error.wireText()))
        elif error.description:
            # Go's read failed: no frame, only the tcpServer's line.
            self._exitError = f"failed to read command - {error.description}"
        self._close()

    def _logClientError(self, text: str, context: str = "") -> None:
        # Go's IOLoop, for every error a command gets, fatal or not.
        self._log.error(
            "[{client}] - {error}{context}",
            client=self.client.remoteAddress,
            error=text,
            context=context,
        )

    def _logExit(self) -> None:
        # Go's IOLoop and messagePump end with the connection; tcpServer
        # logs why, when it was not the client's own end of stream.
        client = self.client.remoteAddress
        self._log.info("PROTOCOL(V2): [{client}] exiting ioloop", client=client)
        if self._exitError is not None:
            self._log.error(
                "client({client}) - {error}", client=client, error=self._exitError
            )
        self._log.info("PROTOCOL(V2): [{client}] exiting messagePump", client=client)

    def _close(self, grace: float | None = None) -> None:
        """
        Close once what was written has gone out, but drop a client that
        cannot take it within C{grace} seconds: by default its heartbeat
        interval, the deadline Go gives each write (Twisted's
        C{loseConnection} would wait for ever on a client that never reads,
        keeping it in C{/stats} and its messages in flight).
        """
        self._closed = True
        self._output.close()
        self.stopHeartbeats()
        if self.transport is None:
            return
        if self._abortCall is None:
            if grace is None:
                grace = self.client.heartbeatInterval
                if grace <= 0:
                    # No write deadline in Go; still, never wait for ever.
                    grace = self.server.config.client_timeout
            # Before loseConnection, which may lose the connection at once
            # (connectionLost cancels the abort).
            self._abortCall = self.clock.callLater(grace, self._abort)
        self.transport.loseConnection()

    def _abort(self) -> None:
        self._abortCall = None
        abortConnection = getattr(self.transport, "abortConnection", None)
        if abortConnection is not None:
            abortConnection()

    def channelClosed(self) -> None:
        """
        The broker deleted the channel: what waits is written, then the
        connection closes (L{txnsq.nsqd._pump.PumpOwner}).
        """
        self._output.flush()
        self._close()

    def heartbeatScheduler(self) -> HeartbeatScheduler:
        """
        The server's scheduler, which this connection's heartbeats are on
        (L{Heartbeats}).
        """
        return self.server.heartbeats

    def heartbeatInterval(self) -> float:
        """
        The client's current heartbeat interval (L{Heartbeats}).
        """
        return self.client.heartbeatInterval

    def sendHeartbeat(self) -> None:
        """
        Write a heartbeat (L{Heartbeats}).
        """
        self._output.writeFrame(RESPONSE_HEARTBEAT)

    def readTimedOut(self) -> None:
        """
        Go's read deadline (twice the heartbeat interval) expired: close
        (L{Heartbeats}).
        """
        assert self.transport is not None
        self._exitError = (
            f"failed to read command - read "
            f"{_goConnection(self.transport.getHost(), self.transport.getPeer())}"
            f": i/o timeout"
        )
        # Go closes the socket at once: what fits in it is written (during
        # the next reactor turn), the rest is dropped with the connection.
        self._close(grace=0)

    # Waiting: the held command runs again when the wait is over.

    def _hold(self, command: Command, authorized: bool = False) -> None:
        self._held = HeldCommand(command, authorized)

    def _resume(self) -> None:
        held = self._held
        if held is None or self._closed:
            return
        self._dispatch(held.command)
        if self._held is held:
            # It ran to the end (or failed), rather than waiting again.
            self._held = None
        if self._held is None and not self._closed:
            self._readCommands()

    def _mayPublish(self, command: Command, name: str, topic: str) -> bool:
        # Go's CheckAuth, then its GetTopic (which waits for a new topic).
        return self._authorize(command, name, topic) and self._topicStarted(
            command, topic
        )

    def _topicStarted(self, command: Command, topic: str) -> bool:
        """
        Whether C{topic} has started; otherwise (nsqd is learning its
        channels from nsqlookupd) C{command} is held until it has.
        """
        created = self.broker.getTopic(topic)
        if not created.starting:
            return True
        self._hold(command, authorized=True)
        created.whenStarted(self._resume)
        return False

    # AUTH.

    def _authorize(
        self, command: Command, name: str, topic: str, channel: str = ""
    ) -> bool:
        """
        Go's C{CheckAuth}: whether C{command} may go on now.  If not, either
        it was refused (fatal), or the auth server's answer has expired: the
        server is asked again, and C{command} is held until it answers, then
        checked against the new answer.
        """
        if self.server.authClient is None:
            return True
        client = self.client
        held = self._held
        if held is None or held.command is not command:
            authorizations = client.authorizations
            if authorizations is None or not authorizations.entries:
                self._fatal(ProtocolError(E_AUTH_FIRST, f"AUTH required before {name}"))
                return False
            if authorizations.expires <= self.clock.seconds():
                self._hold(command)
                self._askAuthServer()
                return False
        elif held.authorized:
            return True
        # Otherwise the command was held for the auth server, which has just
        # answered: Go decides on that answer.
        assert client.authorizations is not None
        if client.authorizations.allows(topic, channel):
            return True
        quoted = f"{goQuote(topic.encode())} {goQuote(channel.encode())}"
        self._fatal(
            ProtocolError(E_UNAUTHORIZED, f"AUTH failed for {name} on {quoted}")
        )
        return False

    def _auth(self, command: Auth) -> None:
        if self.client.authorized():
            self._fatal(ProtocolError(E_INVALID, "AUTH already set"))
            return
        if self.server.authClient is None:
            self._fatal(ProtocolError(E_AUTH_DISABLED, "AUTH disabled"))
            return
        self.client.authSecret = command.secret
        self._hold(command)
        self._askAuthServer()

    def _askAuthServer(self) -> None:
        # The held command, and every command after it, waits in the decoder
        # while the auth server is asked; other connections are unaffected.
        authClient = self.server.authClient
        assert authClient is not None
        client = self.client
        assert self.transport is not None
        host, _ = hostPort(self.transport.getPeer())
        commonName = peerCommonName(self.transport) if client.tls else ""
        querying = Deferred.fromCoroutine(
            authClient.query(client.authSecret, host, client.tls, commonName)
        )
        querying.addCallbacks(self._authAnswered, self._authFailed)

    def _authAnswered(self, authorizations: Authorizations) -> None:
        if self._closed:
            return
        self.client.authorizations = authorizations
        held = self._held
        assert held is not None
        if not isinstance(held.command, Auth):
            # A CheckAuth asked again: the command runs with the answer.
            self._resume()
            return
        self._held = None
        if not authorizations.entries:
            self._fatal(ProtocolError(E_UNAUTHORIZED, "AUTH no authorizations found"))
            return
        self._output.writeFrame(encodeResponse(authorizations.reply()))
        self._readCommands()

    def _authFailed(self, failure: Failure) -> None:
        self._log.warn(
            "PROTOCOL(V2): [{client}] AUTH failed {error}",
            client=self.client.remoteAddress,
            error=failure.getErrorMessage(),
        )
        if not self._closed:
            self._fatal(ProtocolError(E_AUTH_FAILED, "AUTH failed"))

    # IDENTIFY.

    def _identify(self, command: Identify) -> None:
        limits = self.server.identifyLimits
        client = self.client
        try:
            data = decodeIdentify(command.body)
        except ProtocolError as error:
            self._fatal(error)
            return
        # Go logs what the client sent once it decodes, valid or not.
        shown = formatIdentify(data)
        self._log.debug(
            "PROTOCOL(V2): [{client}] {data}", client=client.remoteAddress, data=shown
        )
        self._log.info(
            "[{client}] IDENTIFY: {data}", client=client.remoteAddress, data=shown
        )
        try:
            result = negotiateIdentify(data, limits, client.lastIdentify())
        except ProtocolError as error:
            self._fatal(error)
            return
        if client.applyIdentify(result):
            self.startHeartbeats(client.heartbeatInterval)
        else:
            self.heartbeatIntervalChanged()
        if not result.featureNegotiation:
            self._output.writeFrame(RESPONSE_OK)
            return
        self._output.writeFrame(
            encodeResponse(identifyResponse(result, limits, NSQ_VERSION))
        )
        for upgrade in _upgrades(result):
            self._log.info(
                "PROTOCOL(V2): [{client}] upgrading connection to {upgrade}",
                client=client.remoteAddress,
                upgrade=upgrade,
            )
        if result.tls or result.snappy or result.deflate:
            # What followed IDENTIFY belongs to the upgraded stream.
            rest = self._decoder.takeBuffered()
            assert self.transport is not None
            self._decode = upgradeStream(
                self.transport, client, self._output, result, self.server.tlsOptions
            )
            self._feed(rest)

    # SUB and publishing.

    def _sub(self, command: Sub) -> None:
        topic, channel = command.topic, command.channel
        if not self._authorize(command, "SUB", topic, channel):
            return
        if not self._topicStarted(command, topic):
            return
        subscribed = self.broker.getChannel(topic, channel, self.clock.seconds())
        error = subscribed.addConsumer(self._pump)
        if error is not None:
            self._fatal(ProtocolError(E_SUB_FAILED, f"SUB failed {error}"))
            return
        self._pump.channel = subscribed
        self.client.state = STATE_SUBSCRIBED
        self._output.writeFrame(RESPONSE_OK)

    def _put(self, topic: str, bodies: list[bytes], deferMs: int, failure: str) -> None:
        try:
            self.broker.publish(topic, bodies, self.clock.seconds(), deferMs)
        except OSError as e:
            self._fatal(ProtocolError(failure, f"{failure[2:]} failed {e}"))
            return
        self.client.published(topic, len(bodies))
        self._output.writeFrame(RESPONSE_OK)

    # Consuming.

    def _rdy(self, command: Rdy) -> None:
        maximum = self.server.config.max_rdy_count
        if command.count > maximum:
            self._fatal(
                ProtocolError(
                    E_INVALID, f"RDY count {command.count} out of range 0-{maximum}"
                )
            )
            return
        self.client.readyCount = command.count
        if command.count:
            # The pump becomes the transport's producer once the client may
            # take messages: an idle connection never registers (Twisted's
            # transport grows by ~0.8 KB when it does).
            self._pump.registerWith(IConsumer(self.transport))

    def _inFlightError(
        self, code: str, name: str, messageID: bytes, reason: object
    ) -> None:
        # Not fatal: Go answers and reads on.
        text = f"{name} {messageID.decode('ascii', 'replace')} failed {reason}"
        wireText = ProtocolError(code, text).wireText()
        # Go's error carries the channel's as its parent, logged after it.
        self._logClientError(wireText.decode("utf-8", "replace"), f" - {reason}")
        self._output.writeFrame(encodeError(wireText))

    def _fin(self, command: FinBatch) -> None:
        failed = self._pump.finish(command.messageIDs, self.clock.seconds())
        for messageID, reason in failed:
            self._inFlightError(E_FIN_FAILED, "FIN", messageID, reason)

    def _req(self, command: Req) -> None:
        timeoutMs = command.timeoutMs
        maximum = int(self.server.config.max_req_timeout * 1000)
        if timeoutMs > maximum:
            # Go prints the time.Durations with %d: nanoseconds.
            self._log.info(
                "PROTOCOL(V2): [{client}] REQ timeout {requested} out of range "
                "0-{maximum}. Setting to {maximum}",
                client=self.client.remoteAddress,
                requested=timeoutMs * 1000000,
                maximum=maximum * 1000000,
            )
            timeoutMs = maximum
        try:
            self._pump.requeue(
                command.messageID, timeoutMs / 1000.0, self.clock.seconds()
            )
        except ChannelError as e:
            self._inFlightError(E_REQ_FAILED, "REQ", command.messageID, e)

    def _touch(self, command: Touch) -> None:
        try:
            self._pump.touch(command.messageID, self.clock.seconds())
        except ChannelError as e:
            self._inFlightError(E_TOUCH_FAILED, "TOUCH", command.messageID, e)


def _shown(magic: bytes) -> str:
    # Go prints the four bytes as they are (%s).
    return magic.decode("utf-8", "replace")


def _upgrades(result: IdentifyResult) -> list[str]:
    """
    What Go logs, in its order, for each upgrade IDENTIFY negotiated
    (C{upgrading connection to <this>}).
    """
    upgrades = []
    if result.tls:
        upgrades.append("TLS")
    if result.snappy:
        upgrades.append("snappy")
    if result.deflate:
        upgrades.append(f"deflate (level {result.deflateLevel})")
    return upgrades


def _goConnection(local: IAddress, remote: IAddress) -> str:
    """
    A connection as Go's C{net.OpError} names it: C{tcp
    127.0.0.1:4150->127.0.0.1:51234}, or C{unix PATH->@} for a unix socket.
    """
    if isinstance(local, (IPv4Address, IPv6Address)):
        return (
            f"tcp {formatRemoteAddress(*hostPort(local))}"
            f"->{formatRemoteAddress(*hostPort(remote))}"
        )
    name = getattr(local, "name", b"") or b""
    if isinstance(name, bytes):
        name = name.decode("utf-8", "surrogateescape")
    return f"unix {name}->@"
