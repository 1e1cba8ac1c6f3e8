# -*- test-case-name: tests.wire.test_commands -*-
"""
Client-to-nsqd commands: the records nsqd's decoder produces, the
incremental decoder itself, and the encoders clients use.

A command is a text line C{NAME[ param]*\\n}; IDENTIFY, AUTH, PUB, DPUB and
MPUB follow it with a 4-byte signed size and a body.  L{CommandDecoder}
checks everything that depends only on the bytes and the configured limits,
with Go nsqd 1.3.0's exact error texts, and returns one record per command
(L{Command}), or the L{ProtocolError} that ends the connection.

Two things depend on the connection rather than the bytes, and the decoder
leaves both to its owner:

  - Go checks the connection's state (TLS required, C{cannot SUB in current
    state}, RDY after CLS) before it parses a command's parameters.  The
    decoder asks a L{CommandGate} for each command name, so an error in the
    parameters of a command the state forbids is never reported.
  - Go authorises an MPUB and creates its topic before reading the body.
    The decoder returns an L{MPubStart} record for the line and reads the
    body (the L{MPub} record) only when asked for the next record, so the
    connection can refuse the MPUB, or hold it, before any of the body is
    consumed.

The decoder is pulled (L{CommandDecoder.nextCommand}) rather than returning
a batch of records, so that the gate sees the state left by every command
before the next one is parsed, and a connection that must wait (for an auth
server, or for a topic to start) simply stops asking.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable, Sequence
from typing import Any, Union

import attrs

from txnsq._go.values import goQuote
from txnsq.wire._mpub import MPubReader
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

__all__ = [
    "MAX_LINE_LENGTH",
    "Auth",
    "Cls",
    "Command",
    "CommandDecoder",
    "CommandGate",
    "CommandRecord",
    "DPub",
    "FinBatch",
    "Identify",
    "MPub",
    "MPubStart",
    "Nop",
    "Pub",
    "Rdy",
    "Req",
    "Sub",
    "Touch",
    "encodeCommand",
    "encodeIdentify",
    "encodeMPub",
    "parseDigits",
]

#: Go reads command lines through a 16 KiB buffer; a longer line drops the
#: connection without an error frame.
MAX_LINE_LENGTH = 16 * 1024

_INT32 = struct.Struct(">i")

# The largest buffer that is emptied as soon as everything in it is decoded.
_IDLE_CLEAR = 4096
# A FIN line as clients write it: "FIN ", the ID, LF; runs of them are the
# common case, cut by fixed offsets (issue 19, consume CPU per message).
_FIN_LINE = 4 + MESSAGE_ID_LENGTH + 1
_FIN_ID = struct.Struct(f"4x{MESSAGE_ID_LENGTH}sx")
_FIN_BLOCK = 64
_FIN_BLOCK_IDS = struct.Struct(f"4x{MESSAGE_ID_LENGTH}sx" * _FIN_BLOCK)
# Any other run of complete FIN lines (an ID is any 16 bytes but a newline,
# as Go's length check allows; an optional CR before the LF), and each
# line's ID.
_FIN_RUN = re.compile(rb"(?:FIN .{%d}\r?\n)+" % MESSAGE_ID_LENGTH)
_FIN_IDS = re.compile(rb"FIN (.{%d})\r?\n" % MESSAGE_ID_LENGTH)


# Records.  Names and topics are validated; message IDs have the right
# length.  They are not frozen: a frozen attrs class sets every field through
# object.__setattr__, which doubles the cost of the one record made per PUB.


@attrs.define
class FinBatch:
    """
    One or more consecutive C{FIN}s, in order.  A run of FINs is one record
    so that the broker finishes the whole run in one call (one state check
    covers them all: nothing in a run can change the state).
    """

    messageIDs: list[bytes]


@attrs.define
class Pub:
    """
    C{PUB}.
    """

    topic: str
    body: bytes


@attrs.define
class MPubStart:
    """
    C{MPUB}'s line, its topic valid.  Go authorises the publisher and
    creates the topic here, before reading the body; the body (checked
    against the limits as it arrives) follows as an L{MPub}.
    """

    topic: str


@attrs.define
class MPub:
    """
    C{MPUB}'s body: every message, validated.
    """

    topic: str
    bodies: list[bytes]


@attrs.define
class Rdy:
    """
    C{RDY}; the count is not yet checked against C{--max-rdy-count}.
    """

    count: int


@attrs.define
class Req:
    """
    C{REQ}; the timeout is not yet clamped to C{--max-req-timeout}.
    """

    messageID: bytes
    timeoutMs: int


@attrs.define
class Touch:
    """
    C{TOUCH}.
    """

    messageID: bytes


@attrs.define
class DPub:
    """
    C{DPUB}, its delay within C{--max-req-timeout}.
    """

    topic: str
    deferMs: int
    body: bytes


@attrs.define
class Nop:
    """
    C{NOP}.
    """


@attrs.define
class Sub:
    """
    C{SUB}.
    """

    topic: str
    channel: str


@attrs.define
class Cls:
    """
    C{CLS}.
    """


@attrs.define
class Identify:
    """
    C{IDENTIFY} with its raw JSON body (L{txnsq.wire.identify} negotiates
    it, against the connection's settings).
    """

    body: bytes


@attrs.define
class Auth:
    """
    C{AUTH} with its secret.
    """

    secret: bytes


#: What the decoder produces, most frequent first.
Command = Union[
    FinBatch, Pub, MPub, Rdy, Req, Touch, DPub, MPubStart, Nop, Sub, Cls, Identify, Auth
]

#: A command, or the error that ends the connection (always the last record).
CommandRecord = Union[Command, ProtocolError]

#: Asked with each command's name before its parameters are parsed: C{True}
#: to decode it, C{False} to skip its line unparsed (Go ignores RDY after
#: CLS), or the L{ProtocolError} that refuses it (and ends the connection).
CommandGate = Callable[[bytes], Union[ProtocolError, bool]]


def parseDigits(data: bytes) -> int | None:
    """
    Go's C{protocol.ByteToBase10}: digits only, no sign; C{b""} is 0.
    """
    if data and not data.isdigit():
        return None
    # isdigit accepts only ASCII digits for bytes.
    return int(data) if data else 0


# What a pending sized body belongs to.
_IDENTIFY, _AUTH, _PUB, _DPUB = range(4)
_BODY_NAMES = ("IDENTIFY", "AUTH", "PUB", "DPUB")


class CommandDecoder:
    """
    Incremental decoder of the commands a client sends after the magic.

    Call L{feed} with bytes as they arrive, then L{nextCommand} until it
    returns C{None}.  The decoder never raises and never buffers a body
    before checking its size against the limits: malformed input becomes
    one L{ProtocolError} record, after which the decoder is halted.
    """

    # One decoder per connection, most of them idle: slots, and the command
    # table is the class's (L{_LINES}), not a dict of bound methods each.
    __slots__ = (
        "_bodyKind",
        "_bodySize",
        "_buffer",
        "_deferMs",
        "_gate",
        "_halted",
        "_maxBodySize",
        "_maxDeferMs",
        "_maxMsgSize",
        "_mpub",
        "_pos",
        "_topic",
    )

    def __init__(
        self,
        gate: CommandGate,
        maxMsgSize: int,
        maxBodySize: int,
        maxDeferMs: int = 3600000,
    ) -> None:
        self._gate = gate
        self._maxDeferMs = maxDeferMs
        self._maxMsgSize = maxMsgSize
        self._maxBodySize = maxBodySize
        self._buffer = bytearray()
        # Everything before this offset has been decoded; feed compacts.
        self._pos = 0
        self._halted = False
        # The pending body: what it is for (a sized body, or an MPUB's
        # reader), its topic and delay, and its size once read.
        self._bodyKind: int | None = None
        self._bodySize: int | None = None
        self._topic = ""
        self._deferMs = 0
        self._mpub: MPubReader | None = None

    @property
    def halted(self) -> bool:
        """
        Whether the decoder has stopped for good.
        """
        return self._halted

    @property
    def wanted(self) -> int:
        """
        How many more bytes the body being read needs at least (0 when none
        is, or its size is not read yet): its owner may read that much at
        once rather than in small reads.
        """
        available = len(self._buffer) - self._pos
        if self._bodyKind is not None:
            size = self._bodySize
            return 0 if size is None else max(size - available, 0)
        if self._mpub is not None:
            return self._mpub.wanted(available)
        return 0

    def halt(self) -> None:
        """
        Stop decoding for good (the connection is being closed).
        """
        self._halted = True
        self._buffer.clear()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        """
        Add bytes; the records they complete come from L{nextCommand}.
        """
        if self._halted:
            return
        if self._pos:
            # One compaction per feed keeps the cost linear in the input.
            del self._buffer[: self._pos]
            self._pos = 0
        self._buffer += data

    def finish(self) -> ProtocolError | None:
        """
        The client sent its last byte (it shut down its sending side): the
        error Go answers for a command that end cut short, if any, after
        which the decoder is halted.

        Call it once L{nextCommand} has returned C{None}.  Go reads a
        command's size and body after its line, so a cut-short size or body
        gets that command's C{failed to read ...} error; a cut-short line
        is dropped silently (Go's C{ReadSlice} sees C{io.EOF} and its
        loop ends without an error), and so is nothing at all.
        """
        if self._halted:
            return None
        error: ProtocolError | None = None
        kind = self._bodyKind
        if kind is not None:
            name = _BODY_NAMES[kind]
            part = "body size" if self._bodySize is None else "body"
            if kind in (_PUB, _DPUB):
                error = ProtocolError(
                    E_BAD_MESSAGE, f"{name} failed to read message {part}"
                )
            else:
                error = ProtocolError(E_BAD_BODY, f"{name} failed to read {part}")
        elif self._mpub is not None:
            error = self._mpub.eofError()
        self._bodyKind = None
        self._mpub = None
        self.halt()
        return error

    def takeBuffered(self) -> bytes:
        """
        Remove and return the bytes not decoded yet (they belong to a stream
        upgraded by IDENTIFY).
        """
        data = bytes(self._buffer[self._pos :])
        self._buffer.clear()
        self._pos = 0
        return data

    def nextCommand(self) -> CommandRecord | None:
        """
        The next complete record, or C{None} until more bytes arrive (and
        for ever once halted).
        """
        if self._halted:
            return None
        if self._bodyKind is not None:
            return self._bodyStep()
        if self._mpub is not None:
            return self._mpubStep()
        buf = self._buffer
        pos = self._pos
        gate = self._gate
        while True:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                size = len(buf)
                if size - pos >= MAX_LINE_LENGTH:
                    return self._fail(ProtocolError("", "line too long", silent=True))
                if pos and pos == size and size <= _IDLE_CLEAR:
                    # All decoded: an idle connection keeps no bytes.  (Not
                    # after a large body: freeing that buffer at once made
                    # the next one fault its pages in anew, ~2x the page
                    # faults per 1 MB MPUB; feed compacts it instead.)
                    buf.clear()
                    self._pos = 0
                return None
            if nl - pos >= MAX_LINE_LENGTH:
                return self._fail(ProtocolError("", "line too long", silent=True))
            end = nl - 1 if nl > pos and buf[nl - 1] == 0x0D else nl
            if end - pos == 20 and buf.startswith(b"FIN ", pos):
                verdict = gate(b"FIN")
                if verdict is True:
                    return self._finRun(buf, pos)
                if verdict is not False:
                    return self._fail(verdict)
                # Skipped: the line goes the common way, and is skipped there.
            params = bytes(buf[pos:end]).split(b" ")
            self._pos = pos = nl + 1
            name = params[0]
            verdict = gate(name)
            if verdict is not True:
                if verdict is False:
                    continue
                return self._fail(verdict)
            parse = _LINES.get(name)
            if parse is None:
                text = name.decode("utf-8", "surrogateescape")
                return self._fail(ProtocolError(E_INVALID, f"invalid command {text}"))
            record = parse(self, params)
            if record is not None:
                return record
            # A sized body follows the line.
            return self._bodyStep()

    def _finRun(self, buf: bytearray, pos: int) -> FinBatch:
        # The hot command, one per consumed message: the run of complete,
        # well-formed FIN lines becomes one record, of 2048 lines at most
        # (so that a batch stays fair).  Lines of exactly "FIN <ID>\n" (no
        # newline in any ID, each line starting with "FIN ") are checked
        # and cut in C, in place: ~35 ns a FIN in runs of hundreds, where
        # splitting a copy and checking each line in Python took ~200.
        line = _FIN_LINE
        count = min((len(buf) - pos) // line, 2048)
        end = pos + count * line
        if (
            buf.count(b"\n", pos, end) == count
            and buf[pos + line - 1 : end : line] == b"\n" * count
            and buf[pos:end:line] == b"F" * count
            and buf[pos + 1 : end : line] == b"I" * count
            and buf[pos + 2 : end : line] == b"N" * count
            and buf[pos + 3 : end : line] == b" " * count
        ):
            ids: list[bytes] = []
            block = _FIN_BLOCK * line
            at = pos
            while at + block <= end:
                ids += _FIN_BLOCK_IDS.unpack_from(buf, at)
                at += block
            ids += [_FIN_ID.unpack_from(buf, i)[0] for i in range(at, end, line)]
        else:
            # CRLF lines, or the run ends (another command, a line not
            # complete yet) within those bytes: two regular expression
            # passes, the run's end and its IDs.
            run = _FIN_RUN.match(buf, pos, pos + 22 * 2048)
            # The caller found a complete FIN line at pos, so the run has one.
            assert run is not None
            end = run.end()
            ids = _FIN_IDS.findall(buf, pos, end)
        self._pos = end
        return FinBatch(ids)

    def _fail(self, error: ProtocolError) -> ProtocolError:
        self.halt()
        return error

    # Command lines: each gives its record (or its error), or None when a
    # sized body follows the line.

    def _fin(self, params: list[bytes]) -> CommandRecord:
        messageID = _messageID("FIN", params, 2)
        if isinstance(messageID, ProtocolError):
            return self._fail(messageID)
        return FinBatch([messageID])

    def _rdy(self, params: list[bytes]) -> CommandRecord:
        count = 1
        if len(params) > 1:
            parsed = parseDigits(params[1])
            if parsed is None:
                text = params[1].decode("utf-8", "surrogateescape")
                return self._fail(
                    ProtocolError(E_INVALID, f"RDY could not parse count {text}")
                )
            count = parsed
        return Rdy(count)

    def _req(self, params: list[bytes]) -> CommandRecord:
        messageID = _messageID("REQ", params, 3)
        if isinstance(messageID, ProtocolError):
            return self._fail(messageID)
        timeout = parseDigits(params[2])
        if timeout is None:
            text = params[2].decode("utf-8", "surrogateescape")
            return self._fail(
                ProtocolError(E_INVALID, f"REQ could not parse timeout {text}")
            )
        return Req(messageID, timeout)

    def _touch(self, params: list[bytes]) -> CommandRecord:
        messageID = _messageID("TOUCH", params, 2)
        if isinstance(messageID, ProtocolError):
            return self._fail(messageID)
        return Touch(messageID)

    def _nop(self, params: list[bytes]) -> CommandRecord:
        return Nop()

    def _cls(self, params: list[bytes]) -> CommandRecord:
        return Cls()

    def _sub(self, params: list[bytes]) -> CommandRecord:
        if len(params) < 3:
            return self._fail(
                ProtocolError(E_INVALID, "SUB insufficient number of parameters")
            )
        topic, channel = params[1], params[2]
        if not isValidName(topic):
            return self._fail(
                ProtocolError(
                    E_BAD_TOPIC, f"SUB topic name {goQuote(topic)} is not valid"
                )
            )
        if not isValidName(channel):
            return self._fail(
                ProtocolError(
                    E_BAD_CHANNEL, f"SUB channel name {goQuote(channel)} is not valid"
                )
            )
        return Sub(topic.decode("ascii"), channel.decode("ascii"))

    def _pub(self, params: list[bytes]) -> CommandRecord | None:
        topic = _topicParam("PUB", params, E_BAD_TOPIC)
        if isinstance(topic, ProtocolError):
            return self._fail(topic)
        # The common case, a valid size and the whole body already read,
        # without the pending-body state; anything else goes through it.
        buf = self._buffer
        pos = self._pos
        if len(buf) - pos >= 4:
            (size,) = _INT32.unpack_from(buf, pos)
            start = pos + 4
            if 0 < size <= self._maxMsgSize and len(buf) - start >= size:
                self._pos = start + size
                with memoryview(buf) as view:
                    return Pub(topic, view[start : start + size].tobytes())
        self._expectBody(_PUB, topic)
        return None

    def _dpub(self, params: list[bytes]) -> CommandRecord | None:
        if len(params) < 3:
            return self._fail(
                ProtocolError(E_INVALID, "DPUB insufficient number of parameters")
            )
        topic = _topicParam("DPUB", params, E_BAD_TOPIC)
        if isinstance(topic, ProtocolError):
            return self._fail(topic)
        deferMs = parseDigits(params[2])
        if deferMs is None:
            text = params[2].decode("utf-8", "surrogateescape")
            return self._fail(
                ProtocolError(E_INVALID, f"DPUB could not parse timeout {text}")
            )
        if deferMs > self._maxDeferMs:
            return self._fail(
                ProtocolError(
                    E_INVALID,
                    f"DPUB timeout {deferMs} out of range 0-{self._maxDeferMs}",
                )
            )
        self._expectBody(_DPUB, topic, deferMs)
        return None

    def _mpubLine(self, params: list[bytes]) -> CommandRecord:
        topic = _topicParam("MPUB", params, E_BAD_TOPIC)
        if isinstance(topic, ProtocolError):
            return self._fail(topic)
        self._topic = topic
        self._mpub = MPubReader(self._maxMsgSize, self._maxBodySize)
        return MPubStart(topic)

    def _identify(self, params: list[bytes]) -> CommandRecord | None:
        self._expectBody(_IDENTIFY)
        return None

    def _auth(self, params: list[bytes]) -> CommandRecord | None:
        if len(params) != 1:
            return self._fail(
                ProtocolError(E_INVALID, "AUTH invalid number of parameters")
            )
        self._expectBody(_AUTH)
        return None

    # Bodies.

    def _expectBody(self, kind: int, topic: str = "", deferMs: int = 0) -> None:
        self._bodyKind = kind
        self._bodySize = None
        self._topic = topic
        self._deferMs = deferMs

    def _bodyStep(self) -> CommandRecord | None:
        """
        Advance the pending sized body: its record when complete, C{None}
        while more bytes are needed.
        """
        kind = self._bodyKind
        assert kind is not None
        buf = self._buffer
        pos = self._pos
        size = self._bodySize
        if size is None:
            if len(buf) - pos < 4:
                return None
            (size,) = _INT32.unpack_from(buf, pos)
            self._pos = pos = pos + 4
            error = self._checkBodySize(kind, size)
            if error is not None:
                self._bodyKind = None
                return self._fail(error)
            self._bodySize = size
        if len(buf) - pos < size:
            return None
        # One copy (slicing the bytearray first would make two).
        with memoryview(buf) as view:
            body = view[pos : pos + size].tobytes()
        self._pos = pos + size
        self._bodyKind = None
        if kind == _PUB:
            return Pub(self._topic, body)
        if kind == _DPUB:
            return DPub(self._topic, self._deferMs, body)
        if kind == _IDENTIFY:
            return Identify(body)
        return Auth(body)

    def _checkBodySize(self, kind: int, size: int) -> ProtocolError | None:
        name = _BODY_NAMES[kind]
        if kind in (_PUB, _DPUB):
            if size <= 0:
                return ProtocolError(
                    E_BAD_MESSAGE, f"{name} invalid message body size {size}"
                )
            if size > self._maxMsgSize:
                return ProtocolError(
                    E_BAD_MESSAGE, f"{name} message too big {size} > {self._maxMsgSize}"
                )
            return None
        if size <= 0:
            return ProtocolError(E_BAD_BODY, f"{name} invalid body size {size}")
        if size > self._maxBodySize:
            return ProtocolError(
                E_BAD_BODY, f"{name} body too big {size} > {self._maxBodySize}"
            )
        return None

    def _mpubStep(self) -> CommandRecord | None:
        reader = self._mpub
        assert reader is not None
        self._pos, outcome = reader.read(self._buffer, self._pos)
        if outcome is None:
            return None
        self._mpub = None
        if isinstance(outcome, ProtocolError):
            return self._fail(outcome)
        return MPub(self._topic, outcome)


#: Each command's line parser, by name.
_LINES: dict[bytes, Callable[[CommandDecoder, list[bytes]], CommandRecord | None]] = {
    b"FIN": CommandDecoder._fin,
    b"RDY": CommandDecoder._rdy,
    b"REQ": CommandDecoder._req,
    b"PUB": CommandDecoder._pub,
    b"MPUB": CommandDecoder._mpubLine,
    b"DPUB": CommandDecoder._dpub,
    b"NOP": CommandDecoder._nop,
    b"TOUCH": CommandDecoder._touch,
    b"SUB": CommandDecoder._sub,
    b"CLS": CommandDecoder._cls,
    b"AUTH": CommandDecoder._auth,
    b"IDENTIFY": CommandDecoder._identify,
}


def _messageID(name: str, params: list[bytes], count: int) -> bytes | ProtocolError:
    """
    The message ID of FIN, REQ or TOUCH, which take C{count} parameters.
    """
    if len(params) < count:
        return ProtocolError(E_INVALID, f"{name} insufficient number of params")
    if len(params[1]) != MESSAGE_ID_LENGTH:
        return ProtocolError(E_INVALID, "invalid message ID")
    return params[1]


# Topic names already found valid, and their text: a publisher names the
# same topic in every PUB.  Bounded: emptied when full.
_TOPICS: dict[bytes, str] = {}
_TOPICS_LIMIT = 1024


def _topicParam(name: str, params: list[bytes], code: str) -> str | ProtocolError:
    """
    The topic of PUB, DPUB or MPUB.
    """
    if len(params) < 2:
        return ProtocolError(E_INVALID, f"{name} insufficient number of parameters")
    topic = params[1]
    known = _TOPICS.get(topic)
    if known is not None:
        return known
    if not isValidName(topic):
        # Go's MPUB repeats the code inside its text; kept for fidelity.
        prefix = "E_BAD_TOPIC " if name == "MPUB" else ""
        return ProtocolError(
            code, f"{prefix}{name} topic name {goQuote(topic)} is not valid"
        )
    text = topic.decode("ascii")
    if len(_TOPICS) >= _TOPICS_LIMIT:
        _TOPICS.clear()
    _TOPICS[topic] = text
    return text


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
