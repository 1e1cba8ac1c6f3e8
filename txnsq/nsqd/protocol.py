"""
nsqd's TCP protocol: Twisted glue between sockets, the sans-IO command
decoder (L{txnsq.wire.commands}) and the broker (L{txnsq.nsqd.state}).

One L{NSQDProtocol} per connection.  It sniffs the 4-byte magic, feeds
bytes to a L{CommandDecoder} and answers its calls; it is also the
broker's L{Consumer} for the channel it subscribed to, and an
C{IPushProducer} so a consumer whose socket backs up stops being offered
messages instead of growing nsqd's memory.

Writes are coalesced: message frames for a connection collect in a list
and the factory flushes every such list once per reactor turn with one
C{writeSequence} each; responses and errors flush first so the order on
the wire is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from zope.interface import implementer

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IConsumer,
    IDelayedCall,
    IPushProducer,
    IReactorTime,
    ITLSTransport,
)
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure

from txnsq import NSQ_VERSION
from txnsq._go.values import goQuote
from txnsq._logging import Logger
from txnsq.nsqd._tls import serverTLSOptions
from txnsq.nsqd.auth import AuthClient, Authorizations
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.state import (
    REQUEUED,
    Broker,
    Channel,
    ChannelError,
    Message,
)
from txnsq.wire.commands import CommandDecoder
from txnsq.wire.compression import CompressionError, StreamCodec, streamCodecs
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
    FRAME_TYPE_MESSAGE,
    MESSAGE_FRAME_HEAD,
    RESPONSE_CLOSE_WAIT,
    RESPONSE_HEARTBEAT,
    RESPONSE_OK,
    encodeError,
    encodeResponse,
)
from txnsq.wire.identify import (
    IdentifyLimits,
    IdentifyResult,
    identifyResponse,
    negotiateIdentify,
)

if TYPE_CHECKING:
    from twisted.internet.interfaces import IAddress

MAGIC_V2 = b"  V2"

# Connection states, numbered as Go reports them in /stats.
STATE_INIT = 0
STATE_SUBSCRIBED = 3
STATE_CLOSING = 4

_STATEFUL = {b"IDENTIFY", b"AUTH", b"SUB"}
_NEEDS_SUB = {b"RDY", b"FIN", b"REQ", b"TOUCH"}


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


@implementer(IPushProducer)
class NSQDProtocol(Protocol):
    """
    One client connection speaking protocol V2.
    """

    _log = Logger()

    factory: NSQDFactory

    def __init__(self, factory: NSQDFactory) -> None:
        self.factory = factory
        config = factory.config
        self.broker = factory.broker
        self.clock = factory.clock
        self.state = STATE_INIT
        self.clientID = ""
        self.hostname = ""
        self.userAgent = ""
        self.readyCount = 0
        self.inFlightCount = 0
        self.messageCount = 0
        self.finishCount = 0
        self.requeueCount = 0
        self.pubCounts: dict[str, int] = {}
        self.sampleRate = 0
        self.msgTimeout = config.msg_timeout
        self.heartbeatInterval = config.client_timeout / 2
        self.outputBufferSize = 16384
        self.outputBufferTimeout = config.output_buffer_timeout
        self._identity: IdentifyResult | None = None
        self._tickInterval = self.heartbeatInterval
        self.channel: Channel | None = None
        self.connectTime = 0.0
        self._magic = b""
        self._decoder: CommandDecoder | None = None
        self._pending: list[bytes] = []
        self._pendingBytes = 0
        self._producerPaused = False
        self._lastRead = 0.0
        self._heartbeatCall: IDelayedCall | None = None
        self._deadlineCall: IDelayedCall | None = None
        self._closed = False
        # Stream upgrades negotiated by IDENTIFY.
        self.tls = False
        self.snappy = False
        self.deflate = False
        self.deflateLevel = 0
        self._encode: StreamCodec | None = None
        self._decode: StreamCodec | None = None
        self._upgrading = False
        #: The auth server's answer for this client's secret, if any.
        self.authorizations: Authorizations | None = None
        self._tlsRequired = config.tls_required != 0
        self._authSecret = b""

    # Connection life cycle.

    def connectionMade(self) -> None:
        peer = self.transport.getPeer() if self.transport else None
        host = getattr(peer, "host", "")
        self.clientID = self.hostname = host
        self.connectTime = self.clock.seconds()
        self._lastRead = self.connectTime
        self.factory.connections.add(self)
        # Go sets TCP_NODELAY on every connection; without it Nagle's
        # algorithm and delayed ACKs add tens of milliseconds per round trip.
        setNoDelay = getattr(self.transport, "setTcpNoDelay", None)
        if setNoDelay is not None:
            setNoDelay(True)
        IConsumer(self.transport).registerProducer(self, True)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._closed = True
        self.factory.connections.discard(self)
        self.factory.dirty.discard(self)
        self._pending.clear()
        self._stopTimers()
        if self._decoder is not None:
            self._decoder.halt()
        channel = self.channel
        if channel is not None:
            self.channel = None
            channel.removeConsumer(self)
            if not self.broker.closing:
                self.broker.consumerLeft(channel)

    def remoteAddress(self) -> str:
        """
        C{host:port} of the peer, as Go's /stats shows it (IPv6 hosts in
        brackets).
        """
        peer: IAddress | None = self.transport.getPeer() if self.transport else None
        host, port = getattr(peer, "host", ""), getattr(peer, "port", 0)
        if ":" in host:
            host = f"[{host}]"
        return f"{host}:{port}"

    def dataReceived(self, data: bytes) -> None:
        if self._closed:
            return
        self._lastRead = self.clock.seconds()
        decoder = self._decoder
        if decoder is None:
            self._magic += data
            if len(self._magic) < 4:
                return
            if self._magic[:4] != MAGIC_V2:
                self._fatal(ProtocolError(E_BAD_PROTOCOL))
                return
            config = self.factory.config
            decoder = self._decoder = CommandDecoder(
                self,
                config.max_msg_size,
                config.max_body_size,
                int(config.max_req_timeout * 1000),
            )
            data = self._magic[4:]
            self._magic = b""
            # Go starts the heartbeat ticker and the read deadline once the
            # magic has been read, not when the connection opens.
            self._startTimers()
        if self._decode is not None:
            try:
                data = self._decode(data)
            except CompressionError as e:
                # Go's reader fails and the connection drops, with no frame.
                self._fatal(ProtocolError("", str(e), silent=True))
                return
        decoder.feed(data)
        if self._upgrading:
            self._finishUpgrade(decoder)
        self._inputDone()

    def _inputDone(self) -> None:
        # Deliveries freed by this batch of FIN/REQ/RDY go out together, and
        # so does everything this batch's publishes delivered elsewhere.
        channel = self.channel
        if channel is not None and not self._closed:
            channel.pump(self.clock.seconds())
        if self.factory.dirty:
            self.factory.flushAll()

    # Writing.

    def _writeFrame(self, frame: bytes) -> None:
        if self._closed or self.transport is None:
            return
        if self._pending:
            self._pending.append(frame)
            self.flush()
        elif self._encode is not None:
            self.transport.write(self._encode(frame))
        else:
            self.transport.write(frame)

    def flush(self) -> None:
        """
        Write buffered message frames in one call.
        """
        pending = self._pending
        self._pendingBytes = 0
        if pending and self.transport is not None and not self._closed:
            self._pending = []
            if self._encode is not None:
                # One compressed block (one sync flush) per batch.
                self.transport.write(self._encode(b"".join(pending)))
            else:
                self.transport.writeSequence(pending)
        self.factory.dirty.discard(self)

    def _fatal(self, error: ProtocolError) -> None:
        if self._decoder is not None:
            self._decoder.halt()
        if not error.silent:
            self._log.info(
                "client {peer} fatal error: {error}",
                peer=self.remoteAddress(),
                error=error.wireText(),
            )
            self._writeFrame(encodeError(error.wireText()))
        self._closed = True
        self._stopTimers()
        if self.transport is not None:
            self.transport.loseConnection()

    # Timers: a heartbeat ticker and a read deadline of two intervals.

    def _startTimers(self) -> None:
        self._stopTimers()
        interval = self._tickInterval
        if interval <= 0:
            return
        clock = self.clock
        self._heartbeatCall = clock.callLater(interval, self._heartbeat)
        self._deadlineCall = clock.callLater(2 * interval, self._checkDeadline)

    def _stopTimers(self) -> None:
        for call in (self._heartbeatCall, self._deadlineCall):
            if call is not None and call.active():
                call.cancel()
        self._heartbeatCall = self._deadlineCall = None

    def _heartbeat(self) -> None:
        self._heartbeatCall = self.clock.callLater(self._tickInterval, self._heartbeat)
        self._writeFrame(RESPONSE_HEARTBEAT)

    def _checkDeadline(self) -> None:
        # Rescheduled lazily from the last read rather than on every command.
        if self.heartbeatInterval <= 0:
            self._deadlineCall = None
            return
        due = self._lastRead + 2 * self.heartbeatInterval
        now = self.clock.seconds()
        if now < due:
            self._deadlineCall = self.clock.callLater(due - now, self._checkDeadline)
            return
        self._deadlineCall = None
        self._log.info("client {peer} timed out", peer=self.remoteAddress())
        self._closed = True
        self._stopTimers()
        if self.transport is not None:
            self.transport.loseConnection()

    # IPushProducer: the transport's buffer decides whether we may send.

    def pauseProducing(self) -> None:
        self._producerPaused = True

    def resumeProducing(self) -> None:
        self._producerPaused = False
        if self.channel is not None and not self._closed:
            self.channel.pump(self.clock.seconds())

    def stopProducing(self) -> None:
        self._producerPaused = True

    # Consumer (what the channel calls).

    def capacity(self) -> int:
        if self._producerPaused or self._closed or self.state != STATE_SUBSCRIBED:
            return 0
        return self.readyCount - self.inFlightCount

    def sendMessages(self, messages: list[Message]) -> None:
        count = len(messages)
        self.inFlightCount += count
        self.messageCount += count
        pending = self._pending
        if not pending:
            self.factory.markDirty(self)
        pack = MESSAGE_FRAME_HEAD.pack
        pending += [
            pack(
                len(m.body) + 30,
                FRAME_TYPE_MESSAGE,
                m.timestamp,
                m.attempts & 0xFFFF,
                m.id,
            )
            + m.body
            for m in messages
        ]
        # Go flushes once its output buffer is full; so do we (the frames
        # are ~30 bytes plus the body).
        self._pendingBytes += count * 30 + sum(len(m.body) for m in messages)
        if self._pendingBytes >= self.outputBufferSize:
            self.flush()

    def messagesFinished(self, messages: list[Message]) -> None:
        count = len(messages)
        self.inFlightCount = max(0, self.inFlightCount - count)
        self.finishCount += count

    def messageDone(self, message: Message, outcome: int) -> None:
        if self.inFlightCount:
            self.inFlightCount -= 1
        if outcome == REQUEUED:
            self.requeueCount += 1

    def inFlightReset(self) -> None:
        self.inFlightCount = 0

    def channelClosed(self) -> None:
        self.channel = None
        self.flush()
        self._closed = True
        self._stopTimers()
        if self.transport is not None:
            self.transport.loseConnection()

    # CommandReceiver (what the decoder calls).

    def commandAllowed(self, name: bytes) -> bool:
        if name != b"IDENTIFY" and self._tlsRequired and not self.tls:
            text = name.decode()
            self._fatal(
                ProtocolError(
                    E_INVALID, f"cannot {text} in current state (TLS required)"
                )
            )
            return False
        state = self.state
        if name in _STATEFUL:
            if state != STATE_INIT:
                text = name.decode()
                self._fatal(ProtocolError(E_INVALID, f"cannot {text} in current state"))
                return False
            if name == b"SUB" and self.heartbeatInterval <= 0:
                self._fatal(
                    ProtocolError(E_INVALID, "cannot SUB with heartbeats disabled")
                )
                return False
        elif name in _NEEDS_SUB:
            if name == b"RDY" and state == STATE_CLOSING:
                # Go ignores readiness changes once CLS was sent.
                return False
            if state == STATE_INIT:
                text = name.decode()
                self._fatal(ProtocolError(E_INVALID, f"cannot {text} in current state"))
                return False
        elif name == b"CLS" and state != STATE_SUBSCRIBED:
            self._fatal(ProtocolError(E_INVALID, "cannot CLS in current state"))
            return False
        return True

    def protocolError(self, error: ProtocolError) -> None:
        self._fatal(error)

    def identify(self, body: bytes) -> None:
        limits = self.factory.identifyLimits
        try:
            result = negotiateIdentify(body, limits, self._identity)
        except ProtocolError as error:
            self._fatal(error)
            return
        self._applyIdentify(result)
        if not result.featureNegotiation:
            self._writeFrame(RESPONSE_OK)
            return
        self._writeFrame(encodeResponse(identifyResponse(result, limits, NSQ_VERSION)))
        if not (result.tls or result.snappy or result.deflate):
            return
        # The rest of this read belongs to the upgraded stream: stop here
        # and switch in dataReceived once the decoder has returned.
        assert self._decoder is not None
        self._decoder.pauseDecoding()
        self._upgrading = True
        if result.tls:
            self.tls = True
            options = self.factory.tlsOptions
            assert options is not None
            ITLSTransport(self.transport).startTLS(options)
            # Written after the handshake, encrypted.
            self._writeFrame(RESPONSE_OK)
        codecs = streamCodecs(result.snappy, result.deflate, result.deflateLevel)
        if codecs is not None:
            self.snappy = result.snappy
            self.deflate = result.deflate
            if result.deflate:
                self.deflateLevel = result.deflateLevel
            self._encode, self._decode = codecs
            self._writeFrame(RESPONSE_OK)

    def _finishUpgrade(self, decoder: CommandDecoder) -> None:
        self._upgrading = False
        rest = decoder.takeBuffered()
        decoder.resumeDecoding()
        if rest and self._decode is not None:
            try:
                rest = self._decode(rest)
            except CompressionError as e:
                self._fatal(ProtocolError("", str(e), silent=True))
                return
        if rest:
            decoder.feed(rest)

    def _applyIdentify(self, result: IdentifyResult) -> None:
        # Go applies every IDENTIFY to the client in place (what /stats,
        # the read deadline and SUB's heartbeat check see), but its message
        # pump takes the heartbeat ticker, buffering, sampling and message
        # timeout from the first IDENTIFY only.
        self.clientID = result.clientID or ""
        self.hostname = result.hostname or ""
        self.userAgent = result.userAgent
        self.heartbeatInterval = result.heartbeatInterval / 1000.0
        first = self._identity is None
        self._identity = result
        if not first:
            return
        self.outputBufferSize = result.outputBufferSize
        self.outputBufferTimeout = result.outputBufferTimeout / 1000.0
        self.sampleRate = result.sampleRate
        self.msgTimeout = result.msgTimeout / 1000.0
        self._tickInterval = self.heartbeatInterval
        self._startTimers()

    def auth(self, secret: bytes) -> None:
        if self.authorizations is not None and self.authorizations.entries:
            self._fatal(ProtocolError(E_INVALID, "AUTH already set"))
            return
        authClient = self.factory.authClient
        if authClient is None:
            self._fatal(ProtocolError(E_AUTH_DISABLED, "AUTH disabled"))
            return
        self._authSecret = secret
        self._queryAuth(self._authorized)

    def _queryAuth(self, then: Callable[[Authorizations], None]) -> None:
        # Commands wait (in the decoder's buffer) while the auth server is
        # asked; other connections are unaffected.
        authClient = self.factory.authClient
        assert authClient is not None and self._decoder is not None
        self._decoder.pauseDecoding()
        peer = self.transport.getPeer() if self.transport else None
        querying = Deferred.fromCoroutine(
            authClient.query(
                self._authSecret,
                getattr(peer, "host", ""),
                self.tls,
                self._commonName(),
            )
        )

        def answered(authorizations: Authorizations) -> None:
            if self._closed:
                return
            then(authorizations)
            if not self._closed:
                self._resumeInput()

        def failed(failure: Failure) -> None:
            self._log.warn("AUTH failed: {error}", error=failure.getErrorMessage())
            if not self._closed:
                self._fatal(ProtocolError(E_AUTH_FAILED, "AUTH failed"))

        querying.addCallbacks(answered, failed)

    def _commonName(self) -> str:
        if not self.tls or self.transport is None:
            return ""
        getCertificate = getattr(self.transport, "getPeerCertificate", None)
        certificate = getCertificate() if getCertificate is not None else None
        if certificate is None:
            return ""
        return str(certificate.get_subject().CN or "")

    def _authorized(self, authorizations: Authorizations) -> None:
        self.authorizations = authorizations
        if not authorizations.entries:
            self._fatal(ProtocolError(E_UNAUTHORIZED, "AUTH no authorizations found"))
            return
        self._writeFrame(encodeResponse(authorizations.reply()))

    def _resumeInput(self) -> None:
        assert self._decoder is not None
        self._decoder.resumeDecoding()
        self._inputDone()

    def _checkAuth(
        self, command: str, topic: str, channel: str, proceed: Callable[[], None]
    ) -> None:
        """
        Go's C{CheckAuth}: run C{proceed} if this client may do C{command},
        asking the auth server again once the cached answer has expired.
        """
        if self.factory.authClient is None:
            proceed()
            return
        authorizations = self.authorizations
        if authorizations is None or not authorizations.entries:
            self._fatal(ProtocolError(E_AUTH_FIRST, f"AUTH required before {command}"))
            return

        def check(current: Authorizations) -> None:
            self.authorizations = current
            if current.allows(topic, channel):
                proceed()
                return
            quoted = f"{goQuote(topic.encode())} {goQuote(channel.encode())}"
            self._fatal(
                ProtocolError(E_UNAUTHORIZED, f"AUTH failed for {command} on {quoted}")
            )

        if authorizations.expires <= self.clock.seconds():
            self._queryAuth(check)
        else:
            check(authorizations)

    def sub(self, topic: str, channel: str) -> None:
        self._checkAuth("SUB", topic, channel, lambda: self._subscribe(topic, channel))

    def _afterTopicStarted(self, topic: str, then: Callable[[], None]) -> None:
        """
        Run C{then} once C{topic} has started: at once, or after nsqd has
        learnt its channels from nsqlookupd, holding this connection's
        further commands meanwhile (Go's C{GetTopic} blocks the same way).
        """
        created = self.broker.getTopic(topic)
        if not created.starting:
            then()
            return
        assert self._decoder is not None
        self._decoder.pauseDecoding()

        def resume() -> None:
            if self._closed:
                return
            then()
            if not self._closed:
                self._resumeInput()

        created.whenStarted(resume)

    def _subscribe(self, topic: str, channel: str) -> None:
        self._afterTopicStarted(topic, lambda: self._join(topic, channel))

    def _join(self, topic: str, channel: str) -> None:
        broker = self.broker
        subscribed = broker.getChannel(topic, channel, self.clock.seconds())
        error = subscribed.addConsumer(self)
        if error is not None:
            self._fatal(ProtocolError(E_SUB_FAILED, f"SUB failed {error}"))
            return
        self.channel = subscribed
        self.state = STATE_SUBSCRIBED
        self._writeFrame(RESPONSE_OK)

    def _publish(
        self, topic: str, bodies: list[bytes], deferMs: int, failure: str
    ) -> None:
        self._afterTopicStarted(
            topic, lambda: self._put(topic, bodies, deferMs, failure)
        )

    def _put(self, topic: str, bodies: list[bytes], deferMs: int, failure: str) -> None:
        try:
            self.broker.publish(topic, bodies, self.clock.seconds(), deferMs)
        except OSError as e:
            self._fatal(ProtocolError(failure, f"{failure[2:]} failed {e}"))
            return
        self.pubCounts[topic] = self.pubCounts.get(topic, 0) + len(bodies)
        self._writeFrame(RESPONSE_OK)

    def pub(self, topic: str, body: bytes) -> None:
        self._checkAuth(
            "PUB", topic, "", lambda: self._publish(topic, [body], 0, E_PUB_FAILED)
        )

    def mpubStarted(self, topic: str) -> bool:
        # Go authorises and creates the topic before it reads the MPUB body.
        self._checkAuth("MPUB", topic, "", lambda: self._createTopic(topic))
        return not self._closed

    def _createTopic(self, topic: str) -> None:
        # The body is read once the topic has started (Go creates the topic,
        # blocking, before it reads MPUB's body).
        self._afterTopicStarted(topic, lambda: None)

    def mpub(self, topic: str, bodies: list[bytes]) -> None:
        self._publish(topic, bodies, 0, E_MPUB_FAILED)

    def dpub(self, topic: str, deferMs: int, body: bytes) -> None:
        self._checkAuth(
            "DPUB",
            topic,
            "",
            lambda: self._publish(topic, [body], deferMs, E_DPUB_FAILED),
        )

    def rdy(self, count: int) -> None:
        maximum = self.factory.config.max_rdy_count
        if count > maximum:
            self._fatal(
                ProtocolError(E_INVALID, f"RDY count {count} out of range 0-{maximum}")
            )
            return
        self.readyCount = count

    def _inFlightError(
        self, code: str, command: str, messageID: bytes, e: Exception
    ) -> None:
        text = f"{command} {messageID.decode('ascii', 'replace')} failed {e}"
        self._writeFrame(encodeError(ProtocolError(code, text).wireText()))

    def fin(self, messageID: bytes) -> None:
        channel = self.channel
        try:
            if channel is None:
                raise ChannelError("ID not in flight")
            channel.finish(self, messageID, self.clock.seconds())
        except ChannelError as e:
            self._inFlightError(E_FIN_FAILED, "FIN", messageID, e)

    def finMany(self, messageIDs: list[bytes]) -> None:
        channel = self.channel
        if channel is None:
            failed = [(messageID, "ID not in flight") for messageID in messageIDs]
        else:
            failed = channel.finishMany(self, messageIDs, self.clock.seconds())
        for messageID, reason in failed:
            self._inFlightError(E_FIN_FAILED, "FIN", messageID, ChannelError(reason))

    def req(self, messageID: bytes, timeoutMs: int) -> None:
        channel = self.channel
        maximum = int(self.factory.config.max_req_timeout * 1000)
        if timeoutMs > maximum:
            self._log.info(
                "REQ timeout {requested} clamped to {maximum}",
                requested=timeoutMs,
                maximum=maximum,
            )
            timeoutMs = maximum
        try:
            if channel is None:
                raise ChannelError("ID not in flight")
            channel.requeue(self, messageID, timeoutMs / 1000.0, self.clock.seconds())
        except ChannelError as e:
            self._inFlightError(E_REQ_FAILED, "REQ", messageID, e)

    def touch(self, messageID: bytes) -> None:
        channel = self.channel
        try:
            if channel is None:
                raise ChannelError("ID not in flight")
            channel.touch(self, messageID, self.clock.seconds())
        except ChannelError as e:
            self._inFlightError(E_TOUCH_FAILED, "TOUCH", messageID, e)

    def cls(self) -> None:
        self.readyCount = 0
        self.state = STATE_CLOSING
        self._writeFrame(RESPONSE_CLOSE_WAIT)

    def nop(self) -> None:
        pass


class NSQDFactory(Factory):
    """
    Makes L{NSQDProtocol}s sharing one broker, and flushes their coalesced
    output once per reactor turn.
    """

    def __init__(self, broker: Broker, config: NSQDConfig, clock: IReactorTime) -> None:
        self.broker = broker
        self.config = config
        self.clock = clock
        self.identifyLimits = identifyLimits(config)
        self.tlsOptions = serverTLSOptions(config)
        self.authClient = AuthClient(config, clock) if config.authEnabled else None
        self.connections: set[NSQDProtocol] = set()
        self.dirty: set[NSQDProtocol] = set()
        self._flushCall: IDelayedCall | None = None
        self._workCall: IDelayedCall | None = None
        broker.setWakeup(self._wakeBroker)

    def _wakeBroker(self) -> None:
        # Topic backlogs are handed to channels one batch per reactor turn,
        # so a large backlog never stalls other connections.
        if self._workCall is None:
            self._workCall = self.clock.callLater(0, self._brokerWork)

    def _brokerWork(self) -> None:
        self._workCall = None
        self.broker.work(self.clock.seconds())

    def buildProtocol(self, addr: IAddress) -> NSQDProtocol:  # type: ignore[override]
        return NSQDProtocol(self)

    def markDirty(self, connection: NSQDProtocol) -> None:
        """
        C{connection} has buffered frames: flush them at the end of this
        reactor turn (one timer per turn, not per message).
        """
        self.dirty.add(connection)
        if self._flushCall is None:
            self._flushCall = self.clock.callLater(0, self.flushAll)

    def flushAll(self) -> None:
        """
        Write every connection's buffered frames.
        """
        if self._flushCall is not None:
            if self._flushCall.active():
                self._flushCall.cancel()
            self._flushCall = None
        dirty, self.dirty = self.dirty, set()
        for connection in dirty:
            connection.flush()

    def disconnectAll(self) -> None:
        """
        Close every client connection (shutdown).
        """
        self.flushAll()
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.loseConnection()
