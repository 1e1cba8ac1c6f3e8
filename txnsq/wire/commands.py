"""
Client-to-nsqd commands: an incremental decoder (for nsqd) and encoders
(for clients).

A command is a text line C{NAME[ param]*\\n}; IDENTIFY, AUTH, PUB, DPUB and
MPUB follow it with a 4-byte signed size and a body.  The decoder checks
everything that depends only on the bytes and the configured limits,
producing Go nsqd 1.3.0's exact error texts, and calls one typed method of a
L{CommandReceiver} per command.  Checks that depend on connection state
(C{cannot SUB in current state}, TLS required, AUTH) belong to the
receiver; L{CommandReceiver.commandAllowed} runs them first, in Go's order.

The decoder never buffers a body before checking its size against the
limits, and never raises: malformed input becomes one
L{CommandReceiver.protocolError} call, after which the decoder ignores all
further input.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from txnsq._go.values import goQuote
from txnsq.wire.errors import (
    E_BAD_BODY,
    E_BAD_CHANNEL,
    E_BAD_MESSAGE,
    E_BAD_TOPIC,
    E_INVALID,
    ProtocolError,
)
from txnsq.wire.message import MESSAGE_ID_LENGTH
from txnsq.wire.names import isValidName

#: Go reads command lines through a 16 KiB buffer; a longer line drops the
#: connection without an error frame.
MAX_LINE_LENGTH = 16 * 1024

_INT32 = struct.Struct(">i")
_FIN_WINDOW = 22 * 2048


class CommandReceiver(Protocol):
    """
    What the decoder calls.  Names and topics are already validated.
    """

    def commandAllowed(self, name: bytes) -> bool:
        """
        Run the state checks Go makes before parsing C{name}'s parameters.
        Return C{False} to skip the command (after reporting any error).
        """

    def identify(self, body: bytes) -> None:
        """IDENTIFY with its raw JSON body."""

    def auth(self, secret: bytes) -> None:
        """AUTH with its secret."""

    def sub(self, topic: str, channel: str) -> None:
        """SUB."""

    def pub(self, topic: str, body: bytes) -> None:
        """PUB."""

    def mpubStarted(self, topic: str) -> bool:
        """
        MPUB's line was valid; Go authorises and creates the topic before
        reading the body.  Return C{False} to stop (after reporting).
        """

    def mpub(self, topic: str, bodies: list[bytes]) -> None:
        """MPUB, every message validated."""

    def dpub(self, topic: str, deferMs: int, body: bytes) -> None:
        """DPUB."""

    def rdy(self, count: int) -> None:
        """RDY."""

    def fin(self, messageID: bytes) -> None:
        """FIN."""

    def finMany(self, messageIDs: list[bytes]) -> None:
        """Consecutive FINs, in order (one state check covers them all)."""

    def req(self, messageID: bytes, timeoutMs: int) -> None:
        """REQ, timeout not yet clamped."""

    def touch(self, messageID: bytes) -> None:
        """TOUCH."""

    def cls(self) -> None:
        """CLS."""

    def nop(self) -> None:
        """NOP."""

    def protocolError(self, error: ProtocolError) -> None:
        """Malformed input; the decoder has stopped."""


def parseDigits(data: bytes) -> int | None:
    """
    Go's C{protocol.ByteToBase10}: digits only, no sign; C{b""} is 0.
    """
    if data and not data.isdigit():
        return None
    # isdigit accepts only ASCII digits for bytes.
    return int(data) if data else 0


# Body kinds, for the size-header state.
_IDENTIFY, _AUTH, _PUB, _DPUB, _MPUB = range(5)


class CommandDecoder:
    """
    Incremental decoder of the commands a client sends after the magic.
    """

    def __init__(
        self,
        receiver: CommandReceiver,
        maxMsgSize: int,
        maxBodySize: int,
        maxDeferMs: int = 3600000,
    ) -> None:
        self._receiver = receiver
        self._maxDeferMs = maxDeferMs
        self._maxMsgSize = maxMsgSize
        self._maxBodySize = maxBodySize
        self._buffer = bytearray()
        self._halted = False
        # Pauses nest (an AUTH query and a topic start may overlap); the
        # decoder runs again when every pause has been resumed.
        self._paused = 0
        # Body state: what the pending body is for, and how many bytes the
        # next step needs (the 4-byte size, or the body itself).
        self._bodyKind: int | None = None
        self._bodyArgs: tuple[Any, ...] = ()
        self._bodySize: int | None = None
        self._mpubRemaining = 0
        self._mpubBodies: list[bytes] = []
        self._mpubNextSize: int | None = None
        self._commands: dict[bytes, Callable[[list[bytes]], None]] = {
            b"FIN": self._fin,
            b"RDY": self._rdy,
            b"REQ": self._req,
            b"PUB": self._pub,
            b"MPUB": self._mpub,
            b"DPUB": self._dpub,
            b"NOP": self._nop,
            b"TOUCH": self._touch,
            b"SUB": self._sub,
            b"CLS": self._cls,
            b"AUTH": self._auth,
            b"IDENTIFY": self._identify,
        }

    @property
    def halted(self) -> bool:
        """
        Whether the decoder has stopped for good.
        """
        return self._halted

    def halt(self) -> None:
        """
        Stop decoding for good (the connection is being closed).
        """
        self._halted = True
        self._buffer.clear()

    def pauseDecoding(self) -> None:
        """
        Stop calling the receiver until L{resumeDecoding}; used while a
        stream upgrade or an asynchronous check is in progress.
        """
        self._paused += 1

    def resumeDecoding(self) -> None:
        """
        Continue with what is buffered.
        """
        self._paused = max(0, self._paused - 1)
        if not self._paused:
            self.feed(b"")

    def takeBuffered(self) -> bytes:
        """
        Remove and return unparsed bytes (they belong to an upgraded stream).
        """
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    def feed(self, data: bytes) -> None:
        """
        Add C{data} and dispatch every command it completes.
        """
        if self._halted:
            return
        buf = self._buffer
        buf += data
        pos = 0
        commands = self._commands
        receiver = self._receiver
        try:
            while not self._halted and not self._paused:
                if self._bodyKind is not None:
                    advanced = self._bodyStep(buf, pos)
                    if advanced == pos:
                        break
                    pos = advanced
                    continue
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    if len(buf) - pos >= MAX_LINE_LENGTH:
                        self._fail(ProtocolError("", "line too long", silent=True))
                    break
                if nl - pos >= MAX_LINE_LENGTH:
                    self._fail(ProtocolError("", "line too long", silent=True))
                    break
                end = nl - 1 if nl > pos and buf[nl - 1] == 0x0D else nl
                if end - pos == 20 and buf.startswith(b"FIN ", pos):
                    # The hot command, one per consumed message: the run of
                    # complete FIN lines is split in one C call and goes to
                    # the receiver together.
                    fins = []
                    # A bounded window (2048 FIN lines at most), so a FIN
                    # before a large body does not copy the whole buffer.
                    last = buf.rfind(b"\n", pos, pos + _FIN_WINDOW)
                    for line in bytes(buf[pos:last]).split(b"\n"):
                        size = len(line)
                        if size == 21 and line[20] == 0x0D:
                            line = line[:20]
                        elif size != 20:
                            break
                        if not line.startswith(b"FIN "):
                            break
                        fins.append(line[4:])
                        pos += size + 1
                    if receiver.commandAllowed(b"FIN"):
                        receiver.finMany(fins)
                    continue
                params = bytes(buf[pos:end]).split(b" ")
                pos = nl + 1
                handler = commands.get(params[0])
                if handler is None:
                    # Go applies the TLS policy before it looks the command
                    # up, so the receiver may refuse it first.
                    if receiver.commandAllowed(params[0]):
                        name = params[0].decode("utf-8", "surrogateescape")
                        self._fail(ProtocolError(E_INVALID, f"invalid command {name}"))
                    break
                if self._receiver.commandAllowed(params[0]):
                    handler(params)
        finally:
            self._consumed(pos)

    def _consumed(self, pos: int) -> None:
        if self._halted:
            self._buffer.clear()
        elif pos:
            # One compaction per feed keeps the cost linear in the input.
            del self._buffer[:pos]

    def _fail(self, error: ProtocolError) -> None:
        self._halted = True
        self._receiver.protocolError(error)

    # Line commands.

    def _fin(self, params: list[bytes]) -> None:
        if len(params) < 2:
            self._fail(ProtocolError(E_INVALID, "FIN insufficient number of params"))
        elif len(params[1]) != MESSAGE_ID_LENGTH:
            self._fail(ProtocolError(E_INVALID, "invalid message ID"))
        else:
            self._receiver.fin(params[1])

    def _rdy(self, params: list[bytes]) -> None:
        count = 1
        if len(params) > 1:
            parsed = parseDigits(params[1])
            if parsed is None:
                text = params[1].decode("utf-8", "surrogateescape")
                self._fail(
                    ProtocolError(E_INVALID, f"RDY could not parse count {text}")
                )
                return
            count = parsed
        self._receiver.rdy(count)

    def _req(self, params: list[bytes]) -> None:
        if len(params) < 3:
            self._fail(ProtocolError(E_INVALID, "REQ insufficient number of params"))
            return
        if len(params[1]) != MESSAGE_ID_LENGTH:
            self._fail(ProtocolError(E_INVALID, "invalid message ID"))
            return
        timeout = parseDigits(params[2])
        if timeout is None:
            text = params[2].decode("utf-8", "surrogateescape")
            self._fail(ProtocolError(E_INVALID, f"REQ could not parse timeout {text}"))
            return
        self._receiver.req(params[1], timeout)

    def _touch(self, params: list[bytes]) -> None:
        if len(params) < 2:
            self._fail(ProtocolError(E_INVALID, "TOUCH insufficient number of params"))
        elif len(params[1]) != MESSAGE_ID_LENGTH:
            self._fail(ProtocolError(E_INVALID, "invalid message ID"))
        else:
            self._receiver.touch(params[1])

    def _nop(self, params: list[bytes]) -> None:
        self._receiver.nop()

    def _cls(self, params: list[bytes]) -> None:
        self._receiver.cls()

    def _sub(self, params: list[bytes]) -> None:
        if len(params) < 3:
            self._fail(
                ProtocolError(E_INVALID, "SUB insufficient number of parameters")
            )
            return
        topic, channel = params[1], params[2]
        if not isValidName(topic):
            self._fail(
                ProtocolError(
                    E_BAD_TOPIC, f"SUB topic name {goQuote(topic)} is not valid"
                )
            )
        elif not isValidName(channel):
            self._fail(
                ProtocolError(
                    E_BAD_CHANNEL, f"SUB channel name {goQuote(channel)} is not valid"
                )
            )
        else:
            self._receiver.sub(topic.decode("ascii"), channel.decode("ascii"))

    def _topicParam(self, name: str, params: list[bytes], code: str) -> str | None:
        if len(params) < 2:
            self._fail(
                ProtocolError(E_INVALID, f"{name} insufficient number of parameters")
            )
            return None
        topic = params[1]
        if not isValidName(topic):
            # Go's MPUB repeats the code inside its text; kept for fidelity.
            prefix = "E_BAD_TOPIC " if name == "MPUB" else ""
            self._fail(
                ProtocolError(
                    code, f"{prefix}{name} topic name {goQuote(topic)} is not valid"
                )
            )
            return None
        return topic.decode("ascii")

    def _pub(self, params: list[bytes]) -> None:
        topic = self._topicParam("PUB", params, E_BAD_TOPIC)
        if topic is not None:
            self._expectBody(_PUB, (topic,))

    def _dpub(self, params: list[bytes]) -> None:
        if len(params) < 3:
            self._fail(
                ProtocolError(E_INVALID, "DPUB insufficient number of parameters")
            )
            return
        topic = self._topicParam("DPUB", params, E_BAD_TOPIC)
        if topic is None:
            return
        deferMs = parseDigits(params[2])
        if deferMs is None:
            text = params[2].decode("utf-8", "surrogateescape")
            self._fail(ProtocolError(E_INVALID, f"DPUB could not parse timeout {text}"))
            return
        if deferMs > self._maxDeferMs:
            self._fail(
                ProtocolError(
                    E_INVALID,
                    f"DPUB timeout {deferMs} out of range 0-{self._maxDeferMs}",
                )
            )
            return
        self._expectBody(_DPUB, (topic, deferMs))

    def _mpub(self, params: list[bytes]) -> None:
        topic = self._topicParam("MPUB", params, E_BAD_TOPIC)
        if topic is not None and self._receiver.mpubStarted(topic):
            self._expectBody(_MPUB, (topic,))

    def _identify(self, params: list[bytes]) -> None:
        self._expectBody(_IDENTIFY, ())

    def _auth(self, params: list[bytes]) -> None:
        if len(params) != 1:
            self._fail(ProtocolError(E_INVALID, "AUTH invalid number of parameters"))
            return
        self._expectBody(_AUTH, ())

    # Bodies.

    def _expectBody(self, kind: int, args: tuple[Any, ...]) -> None:
        self._bodyKind = kind
        self._bodyArgs = args
        self._bodySize = None

    def _checkBodySize(self, kind: int, size: int) -> ProtocolError | None:
        if kind in (_PUB, _DPUB):
            name = "PUB" if kind == _PUB else "DPUB"
            if size <= 0:
                return ProtocolError(
                    E_BAD_MESSAGE, f"{name} invalid message body size {size}"
                )
            if size > self._maxMsgSize:
                return ProtocolError(
                    E_BAD_MESSAGE, f"{name} message too big {size} > {self._maxMsgSize}"
                )
            return None
        name = ("IDENTIFY", "AUTH", "", "", "MPUB")[kind]
        if size <= 0:
            return ProtocolError(E_BAD_BODY, f"{name} invalid body size {size}")
        if size > self._maxBodySize:
            return ProtocolError(
                E_BAD_BODY, f"{name} body too big {size} > {self._maxBodySize}"
            )
        return None

    def _bodyStep(self, buf: bytearray, pos: int) -> int:
        """
        Advance the pending body.  Return the new position; the same
        position means more bytes are needed.
        """
        kind = self._bodyKind
        assert kind is not None
        available = len(buf) - pos
        if self._bodySize is None:
            if available < 4:
                return pos
            (size,) = _INT32.unpack_from(buf, pos)
            error = self._checkBodySize(kind, size)
            if error is not None:
                self._bodyKind = None
                self._fail(error)
                return pos + 4
            self._bodySize = size
            if kind == _MPUB:
                self._mpubRemaining = -1
                self._mpubBodies = []
                self._mpubNextSize = None
            return pos + 4
        if kind == _MPUB:
            return self._mpubStep(buf, pos)
        size = self._bodySize
        if available < size:
            return pos
        body = bytes(buf[pos : pos + size])
        args = self._bodyArgs
        self._bodyKind = None
        receiver = self._receiver
        if kind == _PUB:
            receiver.pub(args[0], body)
        elif kind == _DPUB:
            receiver.dpub(args[0], args[1], body)
        elif kind == _IDENTIFY:
            receiver.identify(body)
        else:
            receiver.auth(body)
        return pos + size

    def _mpubStep(self, buf: bytearray, pos: int) -> int:
        # Go parses MPUB by its inner count and sizes; the outer size is
        # only an upper bound and is never reconciled with them.
        available = len(buf) - pos
        if self._mpubRemaining < 0:
            if available < 4:
                return pos
            (count,) = _INT32.unpack_from(buf, pos)
            if count <= 0 or count > (self._maxBodySize - 4) // 5:
                self._bodyKind = None
                self._fail(
                    ProtocolError(E_BAD_BODY, f"MPUB invalid message count {count}")
                )
                return pos + 4
            self._mpubRemaining = count
            return pos + 4
        unpack = _INT32.unpack_from
        bodies = self._mpubBodies
        # Locals in the loop (one message per iteration in a large MPUB);
        # the state is written back however the loop ends.
        remaining = self._mpubRemaining
        size = self._mpubNextSize
        maxMsgSize = self._maxMsgSize
        end = len(buf)
        # Bodies are sliced from one bytes copy of what is buffered (up to
        # the outer size, which normally ends the MPUB): slicing bytes is
        # half the cost of a memoryview slice copied to bytes per message.
        # A body past that copy (a size that disagrees with the outer one,
        # which Go tolerates) is copied on its own.
        base = pos
        assert self._bodySize is not None  # read by _bodyStep before any step
        limit = min(end, pos + self._bodySize)
        error: ProtocolError | None = None
        try:
            with memoryview(buf) as view:
                blob = view[base:limit].tobytes()
                while remaining:
                    if size is None:
                        if end - pos < 4:
                            return pos
                        (size,) = unpack(buf, pos)
                        if size <= 0:
                            error = ProtocolError(
                                E_BAD_MESSAGE,
                                f"MPUB invalid message({len(bodies)}) body size {size}",
                            )
                            break
                        if size > maxMsgSize:
                            error = ProtocolError(
                                E_BAD_MESSAGE,
                                f"MPUB message too big {size} > {maxMsgSize}",
                            )
                            break
                        pos += 4
                    if end - pos < size:
                        return pos
                    if pos + size <= limit:
                        bodies.append(blob[pos - base : pos - base + size])
                    else:
                        bodies.append(bytes(view[pos : pos + size]))
                    pos += size
                    size = None
                    remaining -= 1
        finally:
            self._mpubRemaining = remaining
            self._mpubNextSize = size
        if error is not None:
            # Reported once the view is released: failing clears the buffer.
            self._bodyKind = None
            self._fail(error)
            return pos + 4
        self._bodyKind = None
        self._mpubBodies = []
        self._receiver.mpub(self._bodyArgs[0], bodies)
        return pos


# Encoders, for clients.


def encodeCommand(name: bytes, *params: bytes, body: bytes | None = None) -> bytes:
    """
    One command line, with a sized body when given.
    """
    line = b" ".join((name, *params)) + b"\n"
    if body is None:
        return line
    return line + _INT32.pack(len(body)) + body


def encodeIdentify(data: dict[str, Any]) -> bytes:
    """
    IDENTIFY with a JSON body.
    """
    return encodeCommand(b"IDENTIFY", body=json.dumps(data).encode("utf-8"))


def encodeMPub(topic: bytes, bodies: Sequence[bytes]) -> bytes:
    """
    MPUB: outer size, count, then each message with its size.
    """
    parts = [_INT32.pack(len(bodies))]
    for body in bodies:
        parts.append(_INT32.pack(len(body)))
        parts.append(body)
    return encodeCommand(b"MPUB", topic, body=b"".join(parts))
