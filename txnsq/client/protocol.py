# -*- test-case-name: tests.client.test_protocol -*-
"""
The client side of nsqd's TCP protocol (V2), for Twisted.

L{NSQClientProtocol} turns commands into bytes (L{txnsq.wire.commands}) and
frames back into results (L{txnsq.wire.frames}).  It keeps no consumer
state (RDY, in-flight counts, backoff): that belongs to
L{Consumer <txnsq.client.Consumer>}, as C{TorState} sits above txtorcon's
raw protocol.

nsqd answers commands strictly in order and without request ids, and only
some commands are answered at all (IDENTIFY, AUTH, SUB, PUB, MPUB, DPUB,
CLS).  So the protocol keeps a FIFO of the L{Deferred}s of answered
commands, as AMP's C{BoxDispatcher} keeps its pending answers, and gives
each response or fatal error frame to the oldest one.  RDY, FIN, REQ, TOUCH
and NOP get no answer; their only possible errors, C{E_FIN_FAILED},
C{E_REQ_FAILED} and C{E_TOUCH_FAILED}, are not fatal and go to
L{ClientDelegate.errorReceived} rather than to a waiting publish.

Heartbeats (C{_heartbeat_} responses) are answered with C{NOP} here, so no
user of the protocol can forget to.

This module sits below the client's txaio seam: it uses Twisted directly.
"""

from __future__ import annotations

import json
import struct
from collections import deque
from collections.abc import Sequence
from typing import Any
from typing import Protocol as TypingProtocol

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from txnsq._go.values import goQuote
from txnsq.client._errors import (
    ConnectionClosed,
    NSQError,
    UnexpectedResponse,
    errorFromFrame,
    makeError,
)
from txnsq.client._identify import IdentifyOptions, IdentifyResponse
from txnsq.wire.commands import encodeCommand, encodeIdentify, encodeMPub
from txnsq.wire.compression import CompressionError, StreamCodec, streamCodecs
from txnsq.wire.errors import (
    E_BAD_BODY,
    E_BAD_CHANNEL,
    E_BAD_MESSAGE,
    E_BAD_TOPIC,
    E_INVALID,
)
from txnsq.wire.frames import (
    FRAME_TYPE_ERROR,
    FRAME_TYPE_MESSAGE,
    FRAME_TYPE_RESPONSE,
    HEARTBEAT,
    FrameTooLarge,
)
from txnsq.wire.message import MESSAGE_HEADER_SIZE, MESSAGE_ID_LENGTH
from txnsq.wire.names import isValidName

__all__ = ["MAGIC_V2", "ClientDelegate", "NSQClientProtocol"]

MAGIC_V2 = b"  V2"

_NOP = b"NOP\n"
_CLS = b"CLS\n"
_OK = b"OK"
_CLOSE_WAIT = b"CLOSE_WAIT"

# A frame's size and type; and the same followed by a message's timestamp,
# attempts and id, so that a message frame is parsed in one call.
_FRAME_HEAD = struct.Struct(">ii")
_MESSAGE_HEAD = struct.Struct(">iiqH16s")


class ClientDelegate(TypingProtocol):
    """
    What an L{NSQClientProtocol} tells its owner about unsolicited frames and
    the end of the connection.
    """

    def messageReceived(
        self,
        connection: NSQClientProtocol,
        timestamp: int,
        attempts: int,
        messageID: bytes,
        body: bytes,
    ) -> None:
        """
        nsqd delivered a message (only after SUB and RDY).
        """

    def heartbeatReceived(self, connection: NSQClientProtocol) -> None:
        """
        nsqd sent a heartbeat (already answered with C{NOP}).
        """

    def errorReceived(self, connection: NSQClientProtocol, error: NSQError) -> None:
        """
        An error frame no command was waiting for: a non-fatal
        C{E_FIN_FAILED}/C{E_REQ_FAILED}/C{E_TOUCH_FAILED}, or a fatal error
        caused by an unanswered command (nsqd closes the connection next).
        """

    def connectionClosed(self, connection: NSQClientProtocol, reason: Failure) -> None:
        """
        The connection ended; every waiting command has already failed.
        """


class _NullDelegate:
    """
    The delegate of a protocol nobody listens to: messages are logged as
    dropped (nsqd will time them out), everything else is ignored.
    """

    _log = Logger()

    def messageReceived(
        self,
        connection: NSQClientProtocol,
        timestamp: int,
        attempts: int,
        messageID: bytes,
        body: bytes,
    ) -> None:
        self._log.warn("message {id} received with no consumer attached", id=messageID)

    def heartbeatReceived(self, connection: NSQClientProtocol) -> None:
        pass

    def errorReceived(self, connection: NSQClientProtocol, error: NSQError) -> None:
        self._log.warn("nsqd error: {error}", error=str(error))

    def connectionClosed(self, connection: NSQClientProtocol, reason: Failure) -> None:
        pass


def checkTopic(command: str, topic: str) -> NSQError | None:
    """
    The error nsqd would answer for C{topic} in C{command}, if any.
    """
    if isValidName(topic):
        return None
    # nsqd's MPUB repeats the code in its text; mirrored so that a client
    # matching on nsqd's text sees the same text.
    prefix = "E_BAD_TOPIC " if command == "MPUB" else ""
    quoted = goQuote(topic.encode("utf-8", "surrogateescape"))
    return makeError(E_BAD_TOPIC, f"{prefix}{command} topic name {quoted} is not valid")


def _emptyBody(body: bytes) -> bool:
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError(f"message body must be bytes, not {type(body).__name__}")
    return len(body) == 0


def checkPublish(topic: str, body: bytes) -> NSQError | None:
    """
    The error nsqd would answer for this PUB that can be known without
    asking it (its C{--max-msg-size} is only known to nsqd).

    @raise TypeError: if C{body} is not bytes.
    """
    error = checkTopic("PUB", topic)
    if error is None and _emptyBody(body):
        error = makeError(E_BAD_MESSAGE, "PUB invalid message body size 0")
    return error


def checkMultiPublish(topic: str, bodies: Sequence[bytes]) -> NSQError | None:
    """
    As L{checkPublish}, for MPUB.
    """
    error = checkTopic("MPUB", topic)
    if error is None and not bodies:
        error = makeError(E_BAD_BODY, "MPUB invalid message count 0")
    if error is None:
        for index, body in enumerate(bodies):
            # Non-empty bytes, the usual case, are told apart in one test.
            if (type(body) is not bytes or not body) and _emptyBody(body):
                return makeError(
                    E_BAD_MESSAGE, f"MPUB invalid message({index}) body size 0"
                )
    return error


def checkDeferredPublish(topic: str, delayMs: int, body: bytes) -> NSQError | None:
    """
    As L{checkPublish}, for DPUB (the upper bound of C{delayMs} is nsqd's
    C{--max-req-timeout}).
    """
    error = checkTopic("DPUB", topic)
    if error is None and (type(delayMs) is not int or delayMs < 0):
        error = makeError(E_INVALID, f"DPUB could not parse timeout {delayMs}")
    if error is None and _emptyBody(body):
        error = makeError(E_BAD_MESSAGE, "DPUB invalid message body size 0")
    return error


class NSQClientProtocol(Protocol):
    """
    One connection to nsqd.

    Sends the magic on connect; every other command is a method.  Methods
    that nsqd answers return a L{Deferred} that fires with the answer or
    fails with an L{NSQError} subclass (nsqd's error frame) or
    L{ConnectionClosed}.

    Invalid topic and channel names and empty bodies are refused locally
    with the L{NSQError} nsqd would have sent, because nsqd treats them as
    fatal and would close the connection, failing every other command in
    flight on it.

    @ivar delegate: told about messages, heartbeats, unclaimed errors and
        the end of the connection.
    @ivar identifyResponse: nsqd's settings, once IDENTIFY was answered.
    @ivar closed: the connection has ended (or is ending after a fatal error).
    @ivar closeReason: why it ended, once it has.
    """

    _log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        delegate: ClientDelegate | None = None,
        *,
        maxFrameSize: int = 16 * 1024 * 1024,
    ) -> None:
        """
        @param clock: schedules the read timeout.
        @param delegate: see L{delegate}; a logging stub when L{None}.
        @param maxFrameSize: frames announcing more than this many bytes end
            the connection.
        """
        self.clock = clock
        self.delegate: ClientDelegate = delegate or _NullDelegate()
        self.identifyResponse: IdentifyResponse | None = None
        self.closed = False
        self.connected = False
        self._lost = False
        self.closeReason: Failure | None = None
        self._maxFrameSize = maxFrameSize
        # The start of an incomplete frame, in the chunks it arrived in,
        # joined only once the frame is complete (a large frame arriving in
        # many reads is copied once, not once per read).
        self._partial: list[bytes] = []
        self._partialSize = 0
        self._partialNeeded = 0
        self._receiving = False
        self._reentered: list[bytes] = []
        #: Commands written while a read's messages are handled, written
        #: together at the end of the read (see L{flush}).
        self._outbox: list[bytes] = []
        self._batching = False
        self._pending: deque[tuple[Deferred[Any], bytes | None]] = deque()
        self._readTimeout: float | None = None
        self._lastReceived = 0.0
        self._idleCall: IDelayedCall | None = None
        self._whenClosed: list[Deferred[None]] = []
        #: TLS client options for the IDENTIFY upgrade (from
        #: L{IdentifyOptions.tlsOptions}); by default the server certificate
        #: is verified for the host connected to.
        self.tlsOptions: Any = None
        self._encode: StreamCodec | None = None
        self._decode: StreamCodec | None = None
        self._streamSwitched = False

    # Connection life cycle.

    def connectionMade(self) -> None:
        """
        Send the magic; nothing else is sent until asked.
        """
        self.connected = True
        self._lastReceived = self.clock.seconds()
        setNoDelay = getattr(self.transport, "setTcpNoDelay", None)
        if setNoDelay is not None:
            # Publishes wait for their OK: Nagle's algorithm would add a
            # delayed-ACK round trip to each.
            setNoDelay(True)
        self._write(MAGIC_V2)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """
        Tell the delegate and L{whenClosed} waiters, then fail every
        waiting command with L{ConnectionClosed}.
        """
        self.closed = True
        self.connected = False
        self._lost = True
        self.closeReason = reason
        self._outbox = []
        self._batching = False
        self._cancelIdleCheck()
        # Owners learn of the end first, so that code reacting to the
        # failures below (a retried publish) no longer sees this connection.
        self.delegate.connectionClosed(self, reason)
        waiting, self._whenClosed = self._whenClosed, []
        for deferred in waiting:
            deferred.callback(None)
        pending, self._pending = self._pending, deque()
        for deferred, _ in pending:
            deferred.errback(ConnectionClosed(reason=reason))

    def _write(self, data: bytes) -> None:
        if self._batching:
            self._outbox.append(data)
        else:
            self._writeNow(data)

    def _writeNow(self, data: bytes) -> None:
        transport = self.transport
        assert transport is not None
        if self._encode is not None:
            data = self._encode(data)
        transport.write(data)

    def whenClosed(self) -> Deferred[None]:
        """
        Fires when the connection has ended.
        """
        if self._lost:
            return succeed(None)
        deferred: Deferred[None] = Deferred()
        self._whenClosed.append(deferred)
        return deferred

    def loseConnection(self) -> None:
        """
        Close the connection (without CLS; see L{startClose}).
        """
        if self.transport is not None and self.connected:
            self.flush()
            self.transport.loseConnection()

    def abortConnection(self) -> None:
        """
        Drop the connection at once, discarding unsent data.
        """
        transport = self.transport
        if transport is not None and self.connected:
            self.flush()
            # Every TCP transport can abort; a minimal one may only lose.
            getattr(transport, "abortConnection", transport.loseConnection)()

    @property
    def pendingCount(self) -> int:
        """
        How many answered commands are still waiting for their answer.
        """
        return len(self._pending)

    # Receiving.

    def dataReceived(self, data: bytes) -> None:
        """
        Decode frames and dispatch each: messages and heartbeats to the
        delegate, responses and fatal errors to the oldest waiting command,
        non-fatal errors to the delegate.

        Commands written while the messages of one read are handled (their
        FINs, REQs, TOUCHes, RDYs) are collected and written at the end of
        the read, as one write.
        """
        self._lastReceived = self.clock.seconds()
        if self._receiving:
            # Called again from inside a delegate (a transport delivering
            # synchronously): the outer call decodes it, in order.
            self._reentered.append(data)
            return
        self._receiving = True
        try:
            while True:
                if self._decode is not None:
                    data = self._decode(data)
                self._frames(data)
                if not self._reentered or self.closed:
                    break
                data = b"".join(self._reentered)
                self._reentered.clear()
        except FrameTooLarge as e:
            self._violation(str(e))
        except CompressionError as e:
            self._violation(f"bad compressed stream: {e}")
        finally:
            self._receiving = False
            self._batching = False
            self.flush()

    def flush(self) -> None:
        """
        Write the commands collected while messages were being handled.

        Done at the end of every read, and before anything that must not
        overtake them (an answer's callbacks, closing); never needed from
        outside.
        """
        outbox = self._outbox
        if outbox:
            self._outbox = []
            self._writeNow(outbox[0] if len(outbox) == 1 else b"".join(outbox))

    def _frames(self, data: bytes) -> None:
        """
        Dispatch every complete frame of the buffered bytes and C{data};
        keep the incomplete rest for the next read.

        The client's hottest loop: a message frame is parsed with one
        C{unpack_from} and two slices and handed on at once, and what its
        handling writes is collected in the outbox.
        """
        if self._partial:
            self._partial.append(data)
            self._partialSize += len(data)
            if self._partialSize < self._partialNeeded:
                return
            data = b"".join(self._partial)
            self._partial = []
        end = len(data)
        offset = 0
        maxFrameSize = self._maxFrameSize
        unpackMessage = _MESSAGE_HEAD.unpack_from
        unpackFrame = _FRAME_HEAD.unpack_from
        delivered = self.delegate.messageReceived
        self._batching = True
        while end - offset >= 8:
            if end - offset >= _MESSAGE_HEAD.size:
                # A message frame's header, id included, in one call; for
                # other frames only the first two fields are used.
                size, frameType, timestamp, attempts, messageID = unpackMessage(
                    data, offset
                )
            else:
                size, frameType = unpackFrame(data, offset)
            if size < 4 or size > maxFrameSize:
                raise FrameTooLarge(f"invalid frame size {size}")
            frameEnd = offset + 4 + size
            if frameEnd > end:
                break
            if frameType == FRAME_TYPE_MESSAGE:
                if size < 4 + MESSAGE_HEADER_SIZE:
                    self._violation(f"message frame of {size - 4} bytes")
                    return
                delivered(
                    self,
                    timestamp,
                    attempts,
                    messageID,
                    data[offset + _MESSAGE_HEAD.size : frameEnd],
                )
            else:
                # An answer can switch TLS or compression on, or close: what
                # was collected goes out first, and its callbacks write
                # directly, as commands sent outside a read do.
                self._batching = False
                self.flush()
                frame = data[offset + 8 : frameEnd]
                if frameType == FRAME_TYPE_RESPONSE:
                    self._responseFrame(frame)
                elif frameType == FRAME_TYPE_ERROR:
                    self._errorFrame(frame)
                else:
                    self._violation(f"unknown frame type {frameType}")
                    return
                self._batching = True
                # The handshake may have handed the connection to its owner.
                delivered = self.delegate.messageReceived
                if self._streamSwitched:
                    # The IDENTIFY reply switched the stream: what followed
                    # it in this read is compressed.
                    self._streamSwitched = False
                    rest = data[frameEnd:]
                    if rest and self._decode is not None and not self.closed:
                        rest = self._decode(rest)
                    if rest and not self.closed:
                        self._frames(rest)
                    return
            offset = frameEnd
            if self.closed:
                return
        if offset < end:
            rest = data[offset:]
            self._partial = [rest]
            self._partialSize = len(rest)
            # The whole frame when its size is known (checked above), else
            # its header.
            self._partialNeeded = (
                4 + _FRAME_HEAD.unpack_from(rest)[0] if len(rest) >= 8 else 8
            )

    def _responseFrame(self, frame: bytes) -> None:
        if frame == HEARTBEAT:
            self._write(_NOP)
            self.delegate.heartbeatReceived(self)
            return
        if not self._pending:
            self._violation(f"unexpected response {frame[:64]!r}")
            return
        deferred, expected = self._pending.popleft()
        if expected is None:
            deferred.callback(frame)
        elif frame == expected:
            deferred.callback(None)
        else:
            deferred.errback(
                UnexpectedResponse(f"expected {expected!r}, got {frame!r}")
            )
            self._violation(f"unexpected response {frame[:64]!r}")

    def _errorFrame(self, frame: bytes) -> None:
        error = errorFromFrame(frame)
        if not error.fatal or not self._pending:
            # Non-fatal errors answer FIN/REQ/TOUCH, which no Deferred
            # waits for; a fatal one with nothing waiting was caused by
            # RDY/FIN/REQ/TOUCH/NOP and precedes nsqd closing.
            self.delegate.errorReceived(self, error)
        else:
            deferred, _ = self._pending.popleft()
            deferred.errback(error)
        if error.fatal:
            # nsqd closes after a fatal error; commands already sent behind
            # the failed one will fail with ConnectionClosed.
            self.closed = True
            self.loseConnection()

    def _violation(self, why: str) -> None:
        self._log.error("nsqd protocol violation: {why}", why=why)
        self.closed = True
        self.abortConnection()

    # Read timeout: nsqd sends a heartbeat every interval, so silence for
    # two intervals means the peer or the path is gone.

    def _startIdleCheck(self, timeout: float | None) -> None:
        self._cancelIdleCheck()
        self._readTimeout = timeout
        if timeout is not None and not self.closed:
            self._idleCall = self.clock.callLater(timeout, self._checkIdle)

    def _cancelIdleCheck(self) -> None:
        if self._idleCall is not None and self._idleCall.active():
            self._idleCall.cancel()
        self._idleCall = None

    def _checkIdle(self) -> None:
        timeout = self._readTimeout
        assert timeout is not None
        due = self._lastReceived + timeout
        now = self.clock.seconds()
        if now < due:
            self._idleCall = self.clock.callLater(due - now, self._checkIdle)
            return
        self._idleCall = None
        self._log.warn(
            "nothing received from nsqd for {timeout} seconds; closing",
            timeout=timeout,
        )
        self.closed = True
        self.abortConnection()

    # Answered commands.

    def _command(self, data: bytes, expected: bytes | None) -> Deferred[Any]:
        deferred: Deferred[Any] = Deferred()
        return self.sendCommand(data, expected, deferred)

    def sendCommand(
        self, data: bytes, expected: bytes | None, deferred: Deferred[Any]
    ) -> Deferred[Any]:
        """
        Send an already encoded command that nsqd answers, and fire
        C{deferred} with the answer: with L{None} if it equals C{expected},
        with the frame's bytes if C{expected} is L{None} (IDENTIFY, AUTH).
        No validation is done: see L{checkPublish} and friends.

        The fast path for L{Producer <txnsq.client.Producer>}, which
        encodes and validates once per publish and hands its own future
        in.

        @return: C{deferred}.
        """
        if self.closed or not self.connected:
            deferred.errback(ConnectionClosed("not connected to nsqd"))
            return deferred
        self._pending.append((deferred, expected))
        self._write(data)
        return deferred

    def identify(self, options: IdentifyOptions) -> Deferred[IdentifyResponse]:
        """
        Send IDENTIFY.  When nsqd's reply switches on TLS, snappy or deflate,
        L{startUpgrade} runs before the result is delivered.

        @return: fires with nsqd's settings (defaults when nsqd answered a
            bare C{OK}).
        """

        def parsed(frame: bytes) -> IdentifyResponse | Deferred[IdentifyResponse]:
            try:
                response = IdentifyResponse.fromFrame(frame)
            except ValueError as e:
                self._violation(f"bad IDENTIFY reply: {e}")
                raise UnexpectedResponse(f"bad IDENTIFY reply {frame[:64]!r}") from e
            self.identifyResponse = response
            self.tlsOptions = options.tlsOptions
            self._startIdleCheck(options.readTimeout())
            if response.upgrades:
                return self.startUpgrade(response).addCallback(lambda _: response)
            return response

        return self._command(encodeIdentify(options.toJSON()), None).addCallback(parsed)

    def startUpgrade(self, response: IdentifyResponse) -> Deferred[None]:
        """
        Switch to the stream upgrades nsqd agreed to (C{response.upgrades}),
        Go's way: TLS first (client handshake right after the IDENTIFY
        reply), then snappy or deflate on both directions; nsqd answers
        each with an C{OK} through the upgraded stream.

        @return: fires once every upgrade's C{OK} arrived.
        """
        compressed: Deferred[Any] = Deferred()

        def compress(_: object = None) -> None:
            # Called when the stream may switch: at once, or just after the
            # TLS OK frame (which is not compressed).
            codecs = streamCodecs(
                response.snappy, response.deflate, response.deflateLevel
            )
            if codecs is None:
                compressed.callback(None)
                return
            self._encode, self._decode = codecs
            self._streamSwitched = True
            self._expectOK().chainDeferred(compressed)

        if response.tls:
            from twisted.internet.interfaces import ITLSTransport
            from twisted.internet.ssl import optionsForClientTLS

            options = self.tlsOptions
            if options is None:
                peer = self.transport.getPeer() if self.transport else None
                options = optionsForClientTLS(str(getattr(peer, "host", "")))
            ITLSTransport(self.transport).startTLS(options)
            self._expectOK().addCallbacks(compress, compressed.errback)
        else:
            compress()
        return compressed.addCallback(lambda _: None)

    def _expectOK(self) -> Deferred[Any]:
        deferred: Deferred[Any] = Deferred()
        self._pending.append((deferred, b"OK"))
        return deferred

    def authenticate(self, secret: bytes) -> Deferred[dict[str, Any]]:
        """
        Send AUTH (when nsqd's IDENTIFY reply says C{auth_required}).

        @return: fires with nsqd's JSON reply (C{identity},
            C{identity_url}, C{permission_count}).
        """

        def parsed(frame: bytes) -> dict[str, Any]:
            try:
                result = json.loads(frame)
            except ValueError:
                result = None
            if not isinstance(result, dict):
                raise UnexpectedResponse(f"bad AUTH reply {frame[:64]!r}")
            return result

        return self._command(encodeCommand(b"AUTH", body=secret), None).addCallback(
            parsed
        )

    def subscribe(self, topic: str, channel: str) -> Deferred[None]:
        """
        Send SUB.  Deliveries start only after L{ready}.
        """
        error = checkTopic("SUB", topic)
        if error is None and not isValidName(channel):
            quoted = goQuote(channel.encode("utf-8", "surrogateescape"))
            error = makeError(E_BAD_CHANNEL, f"SUB channel name {quoted} is not valid")
        if error is not None:
            return fail(error)
        command = encodeCommand(b"SUB", topic.encode(), channel.encode())
        return self._command(command, _OK)

    def publish(self, topic: str, body: bytes) -> Deferred[None]:
        """
        Send PUB.
        """
        error = checkPublish(topic, body)
        if error is not None:
            return fail(error)
        return self._command(
            encodeCommand(b"PUB", topic.encode(), body=bytes(body)), _OK
        )

    def multiPublish(self, topic: str, bodies: Sequence[bytes]) -> Deferred[None]:
        """
        Send MPUB: all of C{bodies} are queued by nsqd, or none.
        """
        error = checkMultiPublish(topic, bodies)
        if error is not None:
            return fail(error)
        return self._command(encodeMPub(topic.encode(), bodies), _OK)

    def deferredPublish(self, topic: str, delayMs: int, body: bytes) -> Deferred[None]:
        """
        Send DPUB: nsqd holds the message for C{delayMs} milliseconds (up to
        its C{--max-req-timeout}) before delivering it.
        """
        error = checkDeferredPublish(topic, delayMs, body)
        if error is not None:
            return fail(error)
        command = encodeCommand(
            b"DPUB", topic.encode(), b"%d" % (delayMs,), body=bytes(body)
        )
        return self._command(command, _OK)

    def startClose(self) -> Deferred[None]:
        """
        Send CLS: nsqd stops delivering (RDY 0) and answers C{CLOSE_WAIT};
        FIN and REQ stay allowed until the connection is closed.
        """
        return self._command(_CLS, _CLOSE_WAIT)

    # Unanswered commands.

    def _send(self, data: bytes) -> bool:
        if self.closed or not self.connected:
            return False
        self._write(data)
        return True

    def ready(self, count: int) -> bool:
        """
        Send C{RDY count}: let nsqd have up to C{count} messages in flight
        on this connection.

        @return: whether it was sent (C{False} once the connection ended).
        """
        if count < 0:
            raise ValueError(f"RDY count must not be negative: {count}")
        return self._send(b"RDY %d\n" % (count,))

    def finish(self, messageID: bytes) -> bool:
        """
        Send FIN for a message.

        @return: whether it was sent.
        """
        # The hot path of consuming: _checkID and _send, inlined.
        if len(messageID) != MESSAGE_ID_LENGTH:
            _checkID(messageID)
        if self.closed or not self.connected:
            return False
        if self._batching:
            self._outbox.append(b"FIN " + messageID + b"\n")
        else:
            self._writeNow(b"FIN " + messageID + b"\n")
        return True

    def requeue(self, messageID: bytes, delayMs: int = 0) -> bool:
        """
        Send REQ: deliver the message again after C{delayMs} milliseconds
        (nsqd clamps the delay to its C{--max-req-timeout}).

        @return: whether it was sent.
        """
        _checkID(messageID)
        if delayMs < 0:
            raise ValueError(f"requeue delay must not be negative: {delayMs}")
        return self._send(b"REQ %s %d\n" % (messageID, delayMs))

    def touch(self, messageID: bytes) -> bool:
        """
        Send TOUCH: restart the message's in-flight timeout.

        @return: whether it was sent.
        """
        _checkID(messageID)
        return self._send(b"TOUCH " + messageID + b"\n")

    def nop(self) -> bool:
        """
        Send NOP.

        @return: whether it was sent.
        """
        return self._send(_NOP)


def _checkID(messageID: bytes) -> None:
    # A wrong-length id is fatal for nsqd; refuse it before it costs the
    # connection.
    if len(messageID) != MESSAGE_ID_LENGTH:
        raise ValueError(f"message id must be {MESSAGE_ID_LENGTH} bytes: {messageID!r}")
