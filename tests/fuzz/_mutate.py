"""
Deterministic generators of hostile NSQ input, shared by the fuzz tests
and C{bench/fuzz.py}: valid protocol V2 conversations and nsqd HTTP
requests, mutated (byte flips, truncations, insertions, corrupted and huge
size fields, bad names, bad JSON).

Pure: no I/O, everything follows from the seed.  Where the outcome is
known from Go nsqd 1.3.0 (C{nsqd/protocol_v2.go}, C{nsqd/http.go} and the
golden recordings in C{tests/data/golden/}), a case carries the exact
bytes (TCP) or status and body (HTTP) Go answers; otherwise C{expected}
is L{None} and only the structural oracles apply (L{checkFrames}).
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass

MAGIC = b"  V2"
MAX_MSG_SIZE = 1048576
MAX_BODY_SIZE = 5242880
MAX_RDY_COUNT = 2500
MAX_DEFER_MS = 3600000
# Go's bufio reader size for a command line: a longer line drops the client.
MAX_LINE_LENGTH = 16 * 1024
INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)

FRAME_RESPONSE = 0
FRAME_ERROR = 1
FRAME_MESSAGE = 2

COMMANDS = frozenset(
    {b"IDENTIFY", b"AUTH", b"SUB", b"PUB", b"MPUB", b"DPUB", b"RDY", b"FIN",
     b"REQ", b"TOUCH", b"NOP", b"CLS"}
)
# Characters Go's topic/channel regexp refuses and %q prints unescaped.
BAD_NAME_CHARS = "!$%&'()*+,/:;<=>?@[]^`{|}~ "
NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-."

#: Topics the fuzzed clients use; the well-behaved pair uses another one.
FUZZ_TOPICS = (b"fz", b"fz2", b"fz.a")


def frame(frameType: int, data: bytes) -> bytes:
    """
    One NSQ frame: size, type, data.
    """
    return struct.pack(">ii", len(data) + 4, frameType) + data


def okFrame() -> bytes:
    """
    The C{OK} response frame.
    """
    return frame(FRAME_RESPONSE, b"OK")


def errorFrame(text: bytes) -> bytes:
    """
    An error frame with Go's text.
    """
    return frame(FRAME_ERROR, text)


def size32(n: int) -> bytes:
    """
    A 4-byte big-endian signed size.
    """
    return struct.pack(">i", n)


@dataclass(frozen=True)
class TCPCase:
    """
    One TCP connection's worth of input.

    @ivar kind: the generator that made it (for reports).
    @ivar data: every byte the client sends, magic included; the client
        then shuts down its sending side.
    @ivar expected: the exact bytes Go nsqd answers before it closes, or
        L{None} when unclassified.
    """

    kind: str
    data: bytes
    expected: bytes | None


@dataclass(frozen=True)
class HTTPCase:
    """
    One HTTP/1.0 request over its own connection.

    @ivar kind: the generator that made it.
    @ivar data: the raw request bytes.
    @ivar expected: Go's C{(status, body)}, or L{None} when unclassified.
    """

    kind: str
    data: bytes
    expected: tuple[int, bytes] | None


# Structural oracle.


def checkFrames(answer: bytes) -> str | None:
    """
    Whether C{answer} is a well-formed stream of nsqd frames: sizes that
    match, known types, error frames starting with C{E_} and, past a fatal
    error, nothing.  Returns a description of the first problem, or
    L{None}.
    """
    pos = 0
    fatalSeen = False
    while pos < len(answer):
        if fatalSeen:
            return f"bytes after a fatal error at {pos}"
        if len(answer) - pos < 8:
            return f"truncated frame header at {pos}"
        size, frameType = struct.unpack(">ii", answer[pos : pos + 8])
        if size < 4 or pos + 4 + size > len(answer):
            return f"bad frame size {size} at {pos}"
        data = answer[pos + 8 : pos + 4 + size]
        if frameType == FRAME_ERROR:
            if not data.startswith(b"E_"):
                return f"error frame without a code: {data[:60]!r}"
            code = data.split(b" ", 1)[0]
            if code not in (b"E_FIN_FAILED", b"E_REQ_FAILED", b"E_TOUCH_FAILED"):
                fatalSeen = True
        elif frameType not in (FRAME_RESPONSE, FRAME_MESSAGE):
            return f"unknown frame type {frameType}"
        pos += 4 + size
    return None


# TCP generation.


class _Conversation:
    """
    A valid conversation being built: its commands and Go's answer to each.
    """

    def __init__(self) -> None:
        self.chunks: list[bytes] = [MAGIC]
        self.answers: list[bytes] = [b""]
        # (chunk index, offset in the chunk) of each 4-byte size field.
        self.sizes: list[tuple[int, int, bytes]] = []

    def add(self, chunk: bytes, answer: bytes, sizeAt: int = -1, name: bytes = b"") -> None:
        if sizeAt >= 0:
            self.sizes.append((len(self.chunks), sizeAt, name))
        self.chunks.append(chunk)
        self.answers.append(answer)

    def data(self) -> bytes:
        return b"".join(self.chunks)

    def answer(self) -> bytes:
        return b"".join(self.answers)


def _name(rng: random.Random) -> bytes:
    return rng.choice(FUZZ_TOPICS)


def _body(rng: random.Random) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 40)))


def validConversation(rng: random.Random) -> _Conversation:
    """
    A random valid conversation, each command with Go's answer.
    """
    conv = _Conversation()
    if rng.random() < 0.5:
        ident = json.dumps(
            {"client_id": "fuzz", "user_agent": "fuzz/1", "msg_timeout": 60000}
        ).encode()
        conv.add(b"IDENTIFY\n" + size32(len(ident)) + ident, okFrame(), 9, b"IDENTIFY")
    subscribed = False
    for _ in range(rng.randint(1, 6)):
        choice = rng.random()
        topic = _name(rng)
        if choice < 0.35:
            body = _body(rng)
            head = b"PUB " + topic + b"\n"
            conv.add(head + size32(len(body)) + body, okFrame(), len(head), b"PUB")
        elif choice < 0.55:
            bodies = [_body(rng) for _ in range(rng.randint(1, 4))]
            inner = size32(len(bodies)) + b"".join(size32(len(b)) + b for b in bodies)
            head = b"MPUB " + topic + b"\n"
            conv.add(head + size32(len(inner)) + inner, okFrame(), len(head), b"MPUB")
        elif choice < 0.7:
            body = _body(rng)
            head = b"DPUB " + topic + b" " + str(rng.randint(0, 5000)).encode() + b"\n"
            conv.add(head + size32(len(body)) + body, okFrame(), len(head), b"DPUB")
        elif choice < 0.8:
            conv.add(b"NOP\n", b"")
        elif not subscribed:
            conv.add(b"SUB " + topic + b" ch\n", okFrame())
            conv.add(b"RDY 0\n", b"")
            subscribed = True
    if subscribed and rng.random() < 0.3:
        conv.add(b"CLS\n", frame(FRAME_RESPONSE, b"CLOSE_WAIT"))
    return conv


def _badName(rng: random.Random) -> bytes:
    if rng.random() < 0.2:
        return "".join(rng.choice(NAME_CHARS) for _ in range(rng.randint(65, 100))).encode()
    chars = [rng.choice(NAME_CHARS) for _ in range(rng.randint(0, 10))]
    for _ in range(rng.randint(1, 3)):
        chars.insert(rng.randint(0, len(chars)), rng.choice(BAD_NAME_CHARS.replace(" ", "")))
    return "".join(chars).encode()


def _garbage(rng: random.Random) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))


def _classified(rng: random.Random, conv: _Conversation) -> tuple[str, bytes, bytes]:
    # A bad command whose error Go names exactly: (kind, input, error text).
    pick = rng.randrange(14)
    topic = _name(rng)
    if pick in (3, 6, 8, 10, 11, 12, 13):
        # State-dependent commands (SUB, IDENTIFY, RDY, FIN, CLS): fresh.
        conv.__init__()  # type: ignore[misc]
    if pick == 0:
        while True:
            word = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(1, 9))).encode()
            if word not in COMMANDS:
                break
        return "unknownCommand", word + b" x\n", b"E_INVALID invalid command " + word
    if pick in (1, 2):
        name = _badName(rng)
        cmd = rng.choice([b"PUB", b"MPUB"])
        prefix = b"E_BAD_TOPIC " if cmd == b"MPUB" else b""
        text = b"E_BAD_TOPIC " + prefix + cmd + b' topic name "' + name + b'" is not valid'
        return "badTopic", cmd + b" " + name + b"\n", text
    if pick == 3:
        name = _badName(rng)
        text = b'E_BAD_CHANNEL SUB channel name "' + name + b'" is not valid'
        return "badChannel", b"SUB " + topic + b" " + name + b"\n", text
    if pick == 4:
        n = rng.randint(MAX_MSG_SIZE + 1, INT32_MAX)
        cmd = rng.choice([b"PUB", b"DPUB"])
        line = cmd + b" " + topic + (b" 10" if cmd == b"DPUB" else b"") + b"\n"
        text = b"E_BAD_MESSAGE " + cmd + b" message too big %d > %d" % (n, MAX_MSG_SIZE)
        return "hugeMessage", line + size32(n), text
    if pick == 5:
        n = rng.randint(INT32_MIN, 0)
        return "nonPositiveMessage", b"PUB " + topic + b"\n" + size32(n), b"E_BAD_MESSAGE PUB invalid message body size %d" % n
    if pick == 6:
        n = rng.randint(MAX_BODY_SIZE + 1, INT32_MAX)
        cmd = rng.choice([b"MPUB", b"IDENTIFY"])
        line = cmd + (b" " + topic if cmd == b"MPUB" else b"") + b"\n"
        return "hugeBody", line + size32(n), b"E_BAD_BODY " + cmd + b" body too big %d > %d" % (n, MAX_BODY_SIZE)
    if pick == 7:
        n = rng.randint(MAX_MSG_SIZE + 1, INT32_MAX)
        body = size32(3) + size32(1) + b"a" + size32(n)
        return "hugeMpubMessage", b"MPUB " + topic + b"\n" + size32(100) + body, b"E_BAD_MESSAGE MPUB message too big %d > %d" % (n, MAX_MSG_SIZE)
    if pick == 8:
        junk = b"{" + "".join(rng.choice("abcxyz:,") for _ in range(rng.randint(0, 20))).encode()
        return "badJSON", b"IDENTIFY\n" + size32(len(junk)) + junk, b"E_BAD_BODY IDENTIFY failed to decode JSON body"
    if pick == 9:
        n = rng.randint(MAX_DEFER_MS + 1, 10**9)
        return "deferRange", b"DPUB " + topic + b" %d\n" % n, b"E_INVALID DPUB timeout %d out of range 0-%d" % (n, MAX_DEFER_MS)
    if pick == 10:
        return "rdyState", b"RDY %d\n" % rng.randint(0, 100), b"E_INVALID cannot RDY in current state"
    if pick == 11:
        n = rng.randint(MAX_RDY_COUNT + 1, 10**9)
        conv.add(b"SUB " + topic + b" ch\n", okFrame())
        return "rdyRange", b"RDY %d\n" % n, b"E_INVALID RDY count %d out of range 0-%d" % (n, MAX_RDY_COUNT)
    if pick == 12:
        conv.add(b"SUB " + topic + b" ch\n", okFrame())
        msgID = bytes(rng.choice(b"0123456789abcdef") for _ in range(rng.choice([0, 1, 15, 17, 30])))
        return "badMessageID", b"FIN " + msgID + b"\n", b"E_INVALID invalid message ID"
    return "cannotCls", b"CLS\n", b"E_INVALID cannot CLS in current state"


def tcpCase(rng: random.Random) -> TCPCase:
    """
    One TCP case: a valid conversation, the same with a classified bad
    command (its exact Go error, then anything), a classified huge size
    field, an overlong line, a wrong magic, or a blind mutation.
    """
    roll = rng.random()
    conv = validConversation(rng)
    if roll < 0.1:
        return TCPCase("valid", conv.data(), conv.answer())
    if roll < 0.45:
        kind, bad, text = _classified(rng, conv)
        return TCPCase(kind, conv.data() + bad + _garbage(rng), conv.answer() + errorFrame(text))
    if roll < 0.55 and conv.sizes:
        index, offset, name = rng.choice(conv.sizes)
        chunks = list(conv.chunks)
        n = rng.choice([INT32_MAX, rng.randint(MAX_BODY_SIZE + 1, INT32_MAX)])
        chunk = chunks[index]
        chunks[index] = chunk[:offset] + size32(n)
        if name == b"PUB" or name == b"DPUB":
            text = b"E_BAD_MESSAGE " + name + b" message too big %d > %d" % (n, MAX_MSG_SIZE)
        else:
            text = b"E_BAD_BODY " + name + b" body too big %d > %d" % (n, MAX_BODY_SIZE)
        data = b"".join(chunks[: index + 1]) + _garbage(rng)
        return TCPCase("hugeSizeField", data, b"".join(conv.answers[:index]) + errorFrame(text))
    if roll < 0.58:
        line = b"PUB " + b"x" * (MAX_LINE_LENGTH + rng.randint(0, 100))
        return TCPCase("endlessLine", conv.data() + line, conv.answer())
    if roll < 0.6:
        magic = bytes(rng.getrandbits(8) for _ in range(4))
        if magic == MAGIC:
            magic = b"  V1"
        return TCPCase("wrongMagic", magic + conv.data()[4:], errorFrame(b"E_BAD_PROTOCOL"))
    return TCPCase("mutated", mutate(rng, conv.data()), None)


def mutate(rng: random.Random, data: bytes) -> bytes:
    """
    C{data} with one to four blind mutations: byte flips, truncations,
    insertions, duplications or a random size-shaped overwrite.
    """
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        pos = rng.randint(0, len(buf))
        if op == 0 and buf:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            del buf[pos:]
        elif op == 2:
            buf[pos:pos] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 8)))
        elif op == 3:
            end = min(len(buf), pos + rng.randint(1, 32))
            buf[pos:pos] = buf[pos:end]
        else:
            n = rng.choice([0, -1, 1, INT32_MAX, MAX_MSG_SIZE + 1, rng.getrandbits(31)])
            buf[pos : pos + 4] = size32(n)
    return bytes(buf)


def tcpCases(seed: int, count: int) -> Iterator[TCPCase]:
    """
    C{count} TCP cases from C{seed}.
    """
    rng = random.Random(seed)
    for _ in range(count):
        yield tcpCase(rng)


# HTTP generation.


def _message(text: str) -> bytes:
    return b'{"message":"' + text.encode() + b'"}'


def _request(method: bytes, target: bytes, body: bytes = b"", headers: tuple[bytes, ...] = ()) -> bytes:
    lines = [method + b" " + target + b" HTTP/1.0", b"Host: 127.0.0.1"]
    lines.extend(headers)
    if body or method in (b"POST", b"PUT"):
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def httpCase(rng: random.Random) -> HTTPCase:
    """
    One HTTP request: valid, classified bad (Go's status and body), or
    blindly mutated.
    """
    topic = _name(rng)
    pick = rng.randrange(16)
    if pick == 0:
        return HTTPCase("pubOK", _request(b"POST", b"/pub?topic=" + topic, _body(rng)), (200, b"OK"))
    if pick == 1:
        return HTTPCase("pubBadTopic", _request(b"POST", b"/pub?topic=" + _urlSafeBadName(rng), b"x"), (400, _message("INVALID_TOPIC")))
    if pick == 2:
        return HTTPCase("pubMissingTopic", _request(b"POST", b"/pub", b"x"), (400, _message("MISSING_ARG_TOPIC")))
    if pick == 3:
        return HTTPCase("pubEmpty", _request(b"POST", b"/pub?topic=" + topic), (400, _message("MSG_EMPTY")))
    if pick == 4:
        return HTTPCase("pubGet", _request(b"GET", b"/pub?topic=" + topic), (405, _message("METHOD_NOT_ALLOWED")))
    if pick == 5:
        path = b"/" + "".join(rng.choice("qwxz") for _ in range(rng.randint(1, 12))).encode()
        return HTTPCase("notFound", _request(b"GET", path), (404, _message("NOT_FOUND")))
    if pick == 6:
        d = rng.choice([b"abc", b"-1", b"%d" % rng.randint(MAX_DEFER_MS + 1, 10**9)])
        return HTTPCase("pubBadDefer", _request(b"POST", b"/pub?topic=" + topic + b"&defer=" + d, b"x"), (400, _message("INVALID_DEFER")))
    if pick == 7:
        return HTTPCase("topicCreateBad", _request(b"POST", b"/topic/create?topic=" + _urlSafeBadName(rng)), (400, _message("INVALID_TOPIC")))
    if pick == 8:
        return HTTPCase("channelMissing", _request(b"POST", b"/channel/create?topic=" + topic), (400, _message("MISSING_ARG_CHANNEL")))
    if pick == 9:
        return HTTPCase("channelBad", _request(b"POST", b"/channel/create?topic=" + topic + b"&channel=" + _urlSafeBadName(rng)), (400, _message("INVALID_ARG_CHANNEL")))
    if pick == 10:
        opt = "".join(rng.choice("qwxz") for _ in range(rng.randint(1, 12))).encode()
        return HTTPCase("configBad", _request(b"GET", b"/config/no_" + opt), (400, _message("INVALID_OPTION")))
    if pick == 11:
        return HTTPCase("mpubBadTopic", _request(b"POST", b"/mpub?topic=" + _urlSafeBadName(rng), b"x\n"), (400, _message("INVALID_TOPIC")))
    if pick == 12:
        body = b"x" * (MAX_MSG_SIZE + 1 + rng.randint(0, 100))
        return HTTPCase("pubTooBig", _request(b"POST", b"/pub?topic=" + topic, body), (413, _message("MSG_TOO_BIG")))
    if pick == 13:
        return HTTPCase("ping", _request(b"GET", b"/ping"), (200, b"OK"))
    valid = _request(
        rng.choice([b"POST", b"GET", b"PUT"]),
        rng.choice([b"/pub", b"/mpub", b"/topic/create", b"/channel/create", b"/config/log_level", b"/topic/pause"])
        + b"?topic=" + topic + b"&channel=ch",
        _body(rng),
    )
    return HTTPCase("mutated", mutate(rng, valid), None)


def _urlSafeBadName(rng: random.Random) -> bytes:
    if rng.random() < 0.3:
        return b"t" * rng.randint(65, 90)
    return b"bad" + rng.choice([b"!", b"*", b"(", b")", b"~", b"'"]) + "".join(rng.choice(NAME_CHARS) for _ in range(rng.randint(0, 8))).encode()


def httpCases(seed: int, count: int) -> Iterator[HTTPCase]:
    """
    C{count} HTTP cases from C{seed}.
    """
    rng = random.Random(seed)
    for _ in range(count):
        yield httpCase(rng)


def parseHTTPResponse(raw: bytes) -> tuple[int, bytes] | None:
    """
    The status and body of a raw HTTP/1.x response read to the close, or
    L{None} if it is not one.
    """
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/1."):
        return None
    parts = head.split(b"\r\n", 1)[0].split(b" ", 2)
    try:
        return int(parts[1]), body
    except (IndexError, ValueError):
        return None
