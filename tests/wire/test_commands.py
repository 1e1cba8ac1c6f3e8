"""
Tests for L{txnsq.wire.commands}: the nsqd command decoder and the client
command encoders.
"""

from __future__ import annotations

import json
import struct

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txnsq.wire.commands import (
    MAX_LINE_LENGTH,
    Cls,
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
    encodeCommand,
    encodeIdentify,
    encodeMPub,
    parseDigits,
)
from txnsq.wire.errors import E_INVALID, ProtocolError

from ._support import (
    ALL_CODES,
    GO_MAX_BODY_SIZE,
    GO_MAX_MSG_SIZE,
    Call,
    chunkings,
    decode,
    goldenErrors,
    goldenSent,
    split,
)

# Small limits keep generated inputs small while still crossing them.
MAX_MSG = 256
MAX_BODY = 1024
MAX_DEFER = 3600000


def size(n: int) -> bytes:
    """
    A 4-byte big-endian signed size.
    """
    return struct.pack(">i", n)


# Strategies: each command strategy draws (wire bytes, expected calls).

names = st.from_regex(rb"\A[.a-zA-Z0-9_-]{1,54}(#ephemeral)?\Z")
# Any 16 bytes that do not end the line or the parameter early.
messageIDs = st.binary(min_size=16, max_size=16).map(
    lambda b: b.translate(bytes.maketrans(b" \n\r", b"xyz"))
)
digits = st.from_regex(rb"\A[0-9]{1,12}\Z")
bodies = st.binary(min_size=1, max_size=MAX_MSG)
jsonValues = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)

Command = tuple[bytes, list[Call]]


def _simple(name: bytes, call: Call) -> Command:
    return encodeCommand(name), [("allowed", name), call]


def _commands() -> st.SearchStrategy[Command]:
    nop = st.lists(st.binary(max_size=4).filter(lambda b: b"\n" not in b)).map(
        lambda extra: (
            encodeCommand(b"NOP", *extra)
            if not extra or not extra[-1].endswith(b"\r")
            else encodeCommand(b"NOP"),
            [("allowed", b"NOP"), ("nop",)],
        )
    )
    cls = st.just(_simple(b"CLS", ("cls",)))
    rdyDefault = st.just(_simple(b"RDY", ("rdy", 1)))
    rdy = digits.map(
        lambda d: (encodeCommand(b"RDY", d), [("allowed", b"RDY"), ("rdy", int(d))])
    )
    fin = messageIDs.map(
        lambda i: (encodeCommand(b"FIN", i), [("allowed", b"FIN"), ("fin", i)])
    )
    touch = messageIDs.map(
        lambda i: (encodeCommand(b"TOUCH", i), [("allowed", b"TOUCH"), ("touch", i)])
    )
    req = st.tuples(messageIDs, digits).map(
        lambda a: (
            encodeCommand(b"REQ", a[0], a[1]),
            [("allowed", b"REQ"), ("req", a[0], int(a[1]))],
        )
    )
    sub = st.tuples(names, names).map(
        lambda a: (
            encodeCommand(b"SUB", a[0], a[1]),
            [("allowed", b"SUB"), ("sub", a[0].decode(), a[1].decode())],
        )
    )
    pub = st.tuples(names, bodies).map(
        lambda a: (
            encodeCommand(b"PUB", a[0], body=a[1]),
            [("allowed", b"PUB"), ("pub", a[0].decode(), a[1])],
        )
    )
    dpub = st.tuples(names, st.integers(0, MAX_DEFER), bodies).map(
        lambda a: (
            encodeCommand(b"DPUB", a[0], b"%d" % a[1], body=a[2]),
            [("allowed", b"DPUB"), ("dpub", a[0].decode(), a[1], a[2])],
        )
    )
    mpub = st.tuples(names, st.lists(bodies, min_size=1, max_size=3)).map(
        lambda a: (
            encodeMPub(a[0], a[1]),
            [
                ("allowed", b"MPUB"),
                ("mpubStarted", a[0].decode()),
                ("mpub", a[0].decode(), a[1]),
            ],
        )
    )
    identify = st.dictionaries(st.text(max_size=8), jsonValues, max_size=4).map(
        lambda d: (
            encodeIdentify(d),
            [("allowed", b"IDENTIFY"), ("identify", json.dumps(d).encode())],
        )
    )
    auth = st.binary(min_size=1, max_size=64).map(
        lambda s: (
            encodeCommand(b"AUTH", body=s),
            [("allowed", b"AUTH"), ("auth", s)],
        )
    )
    return st.one_of(
        nop, cls, rdyDefault, rdy, fin, touch, req, sub, pub, dpub, mpub, identify, auth
    )


commandStreams = st.lists(_commands(), min_size=1, max_size=8).map(
    lambda cs: (b"".join(c[0] for c in cs), [call for c in cs for call in c[1]])
)


def smallDecode(chunks: list[bytes]) -> list[Call]:
    """
    Decode with the small test limits and return the calls.
    """
    receiver, _ = decode(chunks, MAX_MSG, MAX_BODY, MAX_DEFER)
    return receiver.calls


def _mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    buf = bytearray(data)
    for kind, where, value in edits:
        if not buf:
            buf.append(value)
            continue
        where %= len(buf)
        if kind == 0:
            buf[where] = value
        elif kind == 1:
            buf.insert(where, value)
        else:
            del buf[where]
    return bytes(buf)


mutatedStreams = st.tuples(
    commandStreams,
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 2**16), st.integers(0, 255)),
        min_size=1,
        max_size=4,
    ),
).map(lambda a: _mutate(a[0][0], a[1]))

garbage = st.one_of(
    st.binary(max_size=512),
    mutatedStreams,
    # Garbage built from the decoder's own vocabulary reaches deeper states.
    st.lists(
        st.sampled_from(
            [
                b"PUB ",
                b"MPUB ",
                b"DPUB ",
                b"SUB ",
                b"RDY ",
                b"FIN ",
                b"REQ ",
                b"TOUCH ",
                b"IDENTIFY",
                b"AUTH",
                b"NOP",
                b"CLS",
                b"t",
                b" ",
                b"\n",
                b"\r",
                b"0",
                b"-1",
                b"\x00\x00\x00\x01",
                b"\x00\x00\x00\x05",
                b"\xff\xff\xff\xff",
                b"\x00\x00\x10\x00",
                b"0123456789abcdef",
            ]
        ),
        max_size=30,
    ).map(b"".join),
)


class RoundTripTests(SynchronousTestCase):
    """
    Commands built by the encoders decode to the same receiver calls, however
    the bytes are split.
    """

    @given(commandStreams, chunkings())
    def test_anyChunking(
        self, stream: tuple[bytes, list[Call]], cuts: list[int]
    ) -> None:
        """
        A stream of valid commands produces exactly the expected calls, in
        order, whatever the chunk boundaries (including empty chunks).
        """
        data, expected = stream
        self.assertEqual(smallDecode(split(data, cuts)), expected)

    @given(commandStreams)
    def test_byteByByte(self, stream: tuple[bytes, list[Call]]) -> None:
        """
        Feeding one byte at a time gives the same calls as feeding it all.
        """
        data, expected = stream
        self.assertEqual(
            smallDecode([data[i : i + 1] for i in range(len(data))]), expected
        )

    def test_noCallBeforeComplete(self) -> None:
        """
        No call is made until the last byte of a command arrives.
        """
        data = encodeCommand(b"PUB", b"topic", body=b"hello")
        for end in range(len(data)):
            receiver, _ = decode([data[:end]])
            self.assertNotIn("pub", [c[0] for c in receiver.calls])
        receiver, _ = decode([data])
        self.assertEqual(receiver.calls[-1], ("pub", "topic", b"hello"))

    def test_crlf(self) -> None:
        """
        A C{\\r} before the C{\\n} is stripped (Go does the same).
        """
        receiver, _ = decode([b"PUB topic\r\n" + size(2) + b"hi", b"RDY 3\r\n"])
        self.assertEqual(
            receiver.calls,
            [
                ("allowed", b"PUB"),
                ("pub", "topic", b"hi"),
                ("allowed", b"RDY"),
                ("rdy", 3),
            ],
        )

    def test_bareCarriageReturnLine(self) -> None:
        """
        A line holding only C{\\r} is an empty command name.
        """
        receiver, _ = decode([b"\r\n"])
        self.assertEqual(
            [e.wireText() for e in receiver.errors], [b"E_INVALID invalid command "]
        )

    def test_rdyEmptyCount(self) -> None:
        """
        C{RDY } (an empty count) is 0, because Go's digit parser accepts the
        empty string.
        """
        receiver, _ = decode([b"RDY \n"])
        self.assertEqual(receiver.calls, [("allowed", b"RDY"), ("rdy", 0)])

    def test_leadingZeros(self) -> None:
        """
        Counts and timeouts may have leading zeros.
        """
        receiver, _ = decode([b"RDY 007\nREQ 0123456789abcdef 0010\n"])
        self.assertEqual(
            receiver.calls,
            [
                ("allowed", b"RDY"),
                ("rdy", 7),
                ("allowed", b"REQ"),
                ("req", b"0123456789abcdef", 10),
            ],
        )

    def test_nopExtraParams(self) -> None:
        """
        NOP ignores extra parameters.
        """
        receiver, _ = decode([b"NOP a b  c\n"])
        self.assertEqual(receiver.calls, [("allowed", b"NOP"), ("nop",)])

    def test_messageIDNotHex(self) -> None:
        """
        Go checks only the length of a message ID, not that it is hex.
        """
        receiver, _ = decode([b"FIN ZZZZZZZZZZZZZZZ\xff\n"])
        self.assertEqual(receiver.calls[-1], ("fin", b"ZZZZZZZZZZZZZZZ\xff"))

    def test_dpubZero(self) -> None:
        """
        C{DPUB t 0} is accepted with a zero delay.
        """
        receiver, _ = decode([encodeCommand(b"DPUB", b"t", b"0", body=b"x")])
        self.assertEqual(receiver.calls[-1], ("dpub", "t", 0, b"x"))

    def test_dpubMaxDefer(self) -> None:
        """
        The largest accepted DPUB delay is C{--max-req-timeout} itself.
        """
        receiver, _ = decode([encodeCommand(b"DPUB", b"t", b"3600000", body=b"x")])
        self.assertEqual(receiver.calls[-1], ("dpub", "t", 3600000, b"x"))

    def test_manyTopics(self) -> None:
        """
        Valid topic names are remembered (a bounded number of them): PUBs to
        more topics than are remembered, again and again, each get their
        own topic; an invalid name is refused every time.
        """
        names = [b"topic-%d" % (n,) for n in range(3000)]
        data = b"".join(encodeCommand(b"PUB", name, body=b"x") for name in names)
        for _ in range(2):
            receiver, _ = decode([data])
            self.assertEqual(
                [call[1] for call in receiver.calls if call[0] == "pub"],
                [name.decode() for name in names],
            )
        for _ in range(2):
            receiver, _ = decode([encodeCommand(b"PUB", b"bad!", body=b"x")])
            self.assertEqual(
                receiver.calls[-1],
                ("error", "E_BAD_TOPIC", 'PUB topic name "bad!" is not valid', False),
            )

    def test_mpubOuterSizeUpperBound(self) -> None:
        """
        MPUB is parsed by its inner count and sizes; the outer size is only
        an upper bound, and the next command starts right after the last
        message (golden C{mpub_outer_size_not_checked}).
        """
        data = (
            b"MPUB t\n"
            + size(999)
            + size(1)
            + size(5)
            + b"hello"
            + encodeCommand(b"PUB", b"t", body=b"next")
        )
        receiver, _ = decode([data])
        self.assertEqual(
            receiver.calls,
            [
                ("allowed", b"MPUB"),
                ("mpubStarted", "t"),
                ("mpub", "t", [b"hello"]),
                ("allowed", b"PUB"),
                ("pub", "t", b"next"),
            ],
        )

    def test_mpubBodiesPastOuterSize(self) -> None:
        """
        Messages whose inner sizes run past a too-small outer size are still
        read whole, as Go reads them from the stream, whether the bytes come
        at once or one at a time.
        """
        data = (
            b"MPUB t\n"
            + size(6)
            + size(2)
            + size(5)
            + b"hello"
            + size(5)
            + b"world"
            + encodeCommand(b"PUB", b"t", body=b"next")
        )
        for chunks in ([data], [data[i : i + 1] for i in range(len(data))]):
            receiver, _ = decode(chunks)
            self.assertEqual(
                [call for call in receiver.calls if call[0] in ("mpub", "pub")],
                [("mpub", "t", [b"hello", b"world"]), ("pub", "t", b"next")],
            )

    def test_mpubStartedBeforeBody(self) -> None:
        """
        C{mpubStarted} is called as soon as the MPUB line is complete, before
        any of the body arrives: Go creates the topic at that point.
        """
        receiver, _ = decode([b"MPUB t\n"])
        self.assertEqual(receiver.calls, [("allowed", b"MPUB"), ("mpubStarted", "t")])

    def test_mpubRefusedBeforeBody(self) -> None:
        """
        The owner may refuse an MPUB on its L{MPubStart} record by halting
        the decoder: none of the body is then read, and no L{MPub} record
        follows.
        """
        receiver, decoder = decode([])
        decoder.feed(b"MPUB t\n" + size(9) + size(1) + size(1) + b"x")
        self.assertEqual(decoder.nextCommand(), MPubStart("t"))
        decoder.halt()
        receiver.feed(b"NOP\n")
        self.assertEqual(receiver.calls, [("allowed", b"MPUB")])
        self.assertIsNone(decoder.nextCommand())

    def test_mpubBodyWaitsForPull(self) -> None:
        """
        After L{MPubStart}, the body stays buffered, unread, until the next
        record is asked for (a connection waiting for a topic to start asks
        later); then the whole MPUB is read.
        """
        receiver, decoder = decode([])
        decoder.feed(encodeMPub(b"t", [b"a", b"b"]) + b"NOP\n")
        self.assertEqual(decoder.nextCommand(), MPubStart("t"))
        receiver.feed(b"")
        self.assertEqual(
            receiver.calls,
            [
                ("allowed", b"MPUB"),
                ("mpub", "t", [b"a", b"b"]),
                ("allowed", b"NOP"),
                ("nop",),
            ],
        )


class LargeBodyTests(SynchronousTestCase):
    """
    Large bodies arriving over many reads.
    """

    def decodeChunks(self, data: bytes, chunk: int) -> list[CommandRecord]:
        decoder = CommandDecoder(lambda name: True, 8 << 20, 8 << 20)
        records: list[CommandRecord] = []
        for i in range(0, len(data), chunk):
            decoder.feed(data[i : i + chunk])
            while (record := decoder.nextCommand()) is not None:
                records.append(record)
        return records

    def test_pubAndFollowing(self) -> None:
        """
        A 1 MB PUB in 64 KB reads (the commands after it sharing its last
        read, or a read of their own) gives the body whole, then the rest.
        """
        body = bytes(range(256)) * 4096
        data = encodeCommand(b"PUB", b"t", body=body) + b"NOP\n"
        data += encodeCommand(b"DPUB", b"t", b"5", body=body[:300000])
        data += encodeMPub(b"t", [body[:200000], b"x", body[1:250001]]) + b"NOP\n"
        for chunk in (65536, 65535, 1 << 20, 7777):
            records = self.decodeChunks(data, chunk)
            self.assertEqual(
                records,
                [
                    Pub("t", body),
                    Nop(),
                    DPub("t", 5, body[:300000]),
                    MPubStart("t"),
                    MPub("t", [body[:200000], b"x", body[1:250001]]),
                    Nop(),
                ],
                chunk,
            )

    def test_mpubMixedSizes(self) -> None:
        """
        An MPUB of small and large bodies (small ones are sliced from a
        shared copy of part of the buffer, large ones copied alone), longer
        than that copy, gives every body whole and in order, however the
        reads cut it.
        """
        pattern = bytes(range(256)) * 300
        sizes = [1, 2047, 2048, 2049, 5, 40000] + [200 + n for n in range(300)]
        sizes += [2047, 70000, 3, 2048, 1]
        bodies = []
        offset = 0
        for length in sizes:
            bodies.append(pattern[offset % 256 : offset % 256 + length])
            offset += 7
        data = encodeMPub(b"t", bodies) + b"NOP\n"
        for chunk in (65536, 65535, 1 << 20, 7777, 1001, 4):
            records = self.decodeChunks(data, chunk)
            self.assertEqual(len(records), 3, chunk)
            start, mpub, nop = records
            self.assertEqual((start, nop), (MPubStart("t"), Nop()), chunk)
            assert isinstance(mpub, MPub)
            # Compared without a diff of 300 bodies when they differ.
            self.assertEqual(
                [len(body) for body in mpub.bodies], [len(b) for b in bodies], chunk
            )
            self.assertTrue(mpub.bodies == bodies, chunk)

    def test_wanted(self) -> None:
        """
        L{CommandDecoder.wanted} is how many more bytes the pending body
        needs: 0 until its size is read, and once it is complete.
        """
        decoder = CommandDecoder(lambda name: True, 8 << 20, 8 << 20)
        self.assertEqual(decoder.wanted, 0)
        data = encodeCommand(b"PUB", b"t", body=b"p" * 100000)
        decoder.feed(data[:9])
        self.assertIsNone(decoder.nextCommand())
        self.assertEqual(decoder.wanted, 0)
        decoder.feed(data[9:1000])
        self.assertIsNone(decoder.nextCommand())
        self.assertEqual(decoder.wanted, len(data) - 1000)
        decoder.feed(data[1000:] + b"NOP\n")
        self.assertEqual(decoder.nextCommand(), Pub("t", b"p" * 100000))
        self.assertEqual(decoder.wanted, 0)
        self.assertEqual(decoder.nextCommand(), Nop())

    def test_wantedMPub(self) -> None:
        """
        An MPUB wants the rest of its outer size, or of a message running
        past it (which Go reads whole).
        """
        decoder = CommandDecoder(lambda name: True, 8 << 20, 8 << 20)
        data = encodeMPub(b"t", [b"a" * 50000, b"b" * 70000])
        decoder.feed(data[:10])
        self.assertEqual(decoder.nextCommand(), MPubStart("t"))
        self.assertIsNone(decoder.nextCommand())
        self.assertEqual(decoder.wanted, 0)
        decoder.feed(data[10:60000])
        self.assertIsNone(decoder.nextCommand())
        self.assertEqual(decoder.wanted, len(data) - 60000)
        decoder.feed(data[60000:])
        self.assertEqual(decoder.nextCommand(), MPub("t", [b"a" * 50000, b"b" * 70000]))
        self.assertEqual(decoder.wanted, 0)
        # An outer size of 20 with a message of 90,000 bytes.
        decoder.feed(b"MPUB t\n" + size(20) + size(1) + size(90000) + b"c" * 10)
        self.assertEqual(decoder.nextCommand(), MPubStart("t"))
        self.assertIsNone(decoder.nextCommand())
        self.assertEqual(decoder.wanted, 89990)

    def test_finishAndHalt(self) -> None:
        """
        The end of the stream during a large body is Go's C{failed to read
        message body}; halting drops what was collected.
        """
        decoder = CommandDecoder(lambda name: True, 8 << 20, 8 << 20)
        decoder.feed(b"PUB t\n" + struct.pack(">i", 1 << 20) + b"z" * 1000)
        self.assertIsNone(decoder.nextCommand())
        decoder.feed(b"z" * 100000)
        self.assertIsNone(decoder.nextCommand())
        error = decoder.finish()
        assert error is not None
        self.assertEqual(
            error.wireText(), b"E_BAD_MESSAGE PUB failed to read message body"
        )
        decoder = CommandDecoder(lambda name: True, 8 << 20, 8 << 20)
        decoder.feed(b"PUB t\n" + struct.pack(">i", 1 << 20))
        self.assertIsNone(decoder.nextCommand())
        decoder.feed(b"z" * 100000)
        decoder.halt()
        decoder.feed(b"z" * (1 << 20))
        self.assertIsNone(decoder.nextCommand())


class EncoderTests(SynchronousTestCase):
    """
    The client-side encoders produce Go's wire layout.
    """

    def test_encodeCommandLine(self) -> None:
        """
        Parameters are joined with single spaces and the line ends in C{\\n}.
        """
        self.assertEqual(encodeCommand(b"SUB", b"t", b"c"), b"SUB t c\n")
        self.assertEqual(encodeCommand(b"NOP"), b"NOP\n")

    def test_encodeCommandBody(self) -> None:
        """
        A body follows the line with a 4-byte big-endian size.
        """
        self.assertEqual(
            encodeCommand(b"PUB", b"t", body=b"hello"),
            b"PUB t\n\x00\x00\x00\x05hello",
        )

    def test_encodeMPub(self) -> None:
        """
        MPUB: outer size, count, then each message with its size.
        """
        self.assertEqual(
            encodeMPub(b"t", [b"m1", b"m22"]),
            b"MPUB t\n"
            + size(4 + 4 + 2 + 4 + 3)
            + size(2)
            + size(2)
            + b"m1"
            + size(3)
            + b"m22",
        )

    def test_encodeIdentify(self) -> None:
        """
        IDENTIFY carries its settings as a JSON body.
        """
        data = encodeIdentify({"client_id": "x"})
        self.assertTrue(data.startswith(b"IDENTIFY\n"))
        (length,) = struct.unpack(">i", data[9:13])
        self.assertEqual(json.loads(data[13:]), {"client_id": "x"})
        self.assertEqual(length, len(data) - 13)


class ParseDigitsTests(SynchronousTestCase):
    """
    L{parseDigits} is Go's C{protocol.ByteToBase10}.
    """

    def test_values(self) -> None:
        """
        ASCII digits only; the empty string is 0; signs, spaces and other
        digits are rejected.
        """
        self.assertEqual(parseDigits(b""), 0)
        self.assertEqual(parseDigits(b"0042"), 42)
        for bad in (b"-1", b"+1", b" 1", b"1 ", b"1.0", b"\xd9\xa1", b"0x1", b"abc"):
            self.assertIsNone(parseDigits(bad), bad)

    @given(st.binary(max_size=12))
    def test_anyBytes(self, data: bytes) -> None:
        """
        Any bytes parse to their decimal value or to L{None}, never raise.
        """
        result = parseDigits(data)
        if all(0x30 <= b <= 0x39 for b in data):
            self.assertEqual(result, int(data) if data else 0)
        else:
            self.assertIsNone(result)


class MalformedInputTests(SynchronousTestCase):
    """
    Arbitrary input never raises: it produces calls, then at most one
    C{protocolError} with a known code, then silence.
    """

    def assertWellBehaved(self, calls: list[Call]) -> None:
        """
        At most one error, which is last and carries a known code.
        """
        errorIndexes = [i for i, call in enumerate(calls) if call[0] == "error"]
        self.assertLessEqual(len(errorIndexes), 1, calls)
        for index in errorIndexes:
            self.assertEqual(index, len(calls) - 1, calls)
            _, code, _, silent = calls[index]
            if silent:
                self.assertEqual(code, "")
            else:
                self.assertIn(code, ALL_CODES)

    @given(garbage, chunkings())
    def test_neverRaises(self, data: bytes, cuts: list[int]) -> None:
        """
        Garbage in any chunking gives well-behaved calls, and the same calls
        as when it is fed in one piece.
        """
        whole = smallDecode([data])
        chunked = smallDecode(split(data, cuts))
        self.assertWellBehaved(whole)
        self.assertEqual(chunked, whole)

    @given(garbage, st.binary(min_size=1, max_size=64))
    def test_silentAfterError(self, data: bytes, more: bytes) -> None:
        """
        Once an error has been reported the decoder is halted and ignores
        whatever else arrives.
        """
        receiver, decoder = decode([data], MAX_MSG, MAX_BODY, MAX_DEFER)
        if not receiver.errors:
            return
        self.assertTrue(decoder.halted)
        before = list(receiver.calls)
        receiver.feed(more)
        receiver.feed(encodeCommand(b"NOP"))
        self.assertEqual(receiver.calls, before)

    @given(garbage)
    def test_wireText(self, data: bytes) -> None:
        """
        An error's wire text is C{code + " " + description}.
        """
        receiver, _ = decode([data], MAX_MSG, MAX_BODY, MAX_DEFER)
        for error in receiver.errors:
            if not error.silent:
                self.assertEqual(
                    error.wireText(),
                    f"{error.code} {error.description}".encode(
                        "utf-8", "surrogateescape"
                    ),
                )

    def test_lineTooLong(self) -> None:
        """
        A line of 16 KiB or more without a newline halts the decoder with a
        silent error (Go drops the connection without an error frame).
        """
        receiver, decoder = decode([b"a" * (MAX_LINE_LENGTH - 1)])
        self.assertEqual(receiver.calls, [])
        receiver.feed(b"a")
        [error] = receiver.errors
        self.assertTrue(error.silent)
        self.assertTrue(decoder.halted)

    def test_lineTooLongWithNewline(self) -> None:
        """
        A complete line longer than the buffer is refused too; the longest
        accepted line is 16383 bytes plus its newline, as with Go's 16 KiB
        C{bufio.Reader}.
        """
        line = b"NOP " + b"a" * (MAX_LINE_LENGTH - 5)
        receiver, _ = decode([line + b"\n"])
        self.assertEqual(receiver.calls, [("allowed", b"NOP"), ("nop",)])
        receiver, _ = decode([line + b"a\n"])
        [error] = receiver.errors
        self.assertTrue(error.silent)

    def test_goldenLineTooLong(self) -> None:
        """
        The golden C{line_too_long} conversation is a silent error.
        """
        receiver, _ = decode([goldenSent("line_too_long")])
        [error] = receiver.errors
        self.assertTrue(error.silent)


def _errorText(data: bytes, **limits: int) -> bytes:
    receiver, _ = decode([data], **limits)
    texts = [e.wireText() for e in receiver.errors]
    assert len(texts) == 1, (data, receiver.calls)
    return texts[0]


MID = b"0123456789abcdef"

#: Decoder errors and Go nsqd 1.3.0's exact text for each (default limits).
GO_ERROR_TEXTS: list[tuple[bytes, bytes]] = [
    (b"FOO\n", b"E_INVALID invalid command FOO"),
    (b"nop\n", b"E_INVALID invalid command nop"),
    (b"\n", b"E_INVALID invalid command "),
    (b"\xff\xfe\n", b"E_INVALID invalid command \xff\xfe"),
    (b"RDY \xff\n", b"E_INVALID RDY could not parse count \xff"),
    (b"PUB  \n", b'E_BAD_TOPIC PUB topic name "" is not valid'),
    (b"SUB\n", b"E_INVALID SUB insufficient number of parameters"),
    (b"SUB t\n", b"E_INVALID SUB insufficient number of parameters"),
    (b"SUB bad!t c\n", b'E_BAD_TOPIC SUB topic name "bad!t" is not valid'),
    (b"SUB t bad!c\n", b'E_BAD_CHANNEL SUB channel name "bad!c" is not valid'),
    (b"SUB t\x01 c\n", b'E_BAD_TOPIC SUB topic name "t\\x01" is not valid'),
    (b"SUB t\xff c\n", b'E_BAD_TOPIC SUB topic name "t\\xff" is not valid'),
    (
        b"SUB caf\xc3\xa9 c\n",
        b'E_BAD_TOPIC SUB topic name "caf\xc3\xa9" is not valid',
    ),
    (b"SUB t\tx c\n", b'E_BAD_TOPIC SUB topic name "t\\tx" is not valid'),
    (b'SUB a"b c\n', b'E_BAD_TOPIC SUB topic name "a\\"b" is not valid'),
    (b"PUB\n", b"E_INVALID PUB insufficient number of parameters"),
    (b"PUB bad!t\n", b'E_BAD_TOPIC PUB topic name "bad!t" is not valid'),
    (b"PUB t\n" + size(0), b"E_BAD_MESSAGE PUB invalid message body size 0"),
    (b"PUB t\n" + size(-1), b"E_BAD_MESSAGE PUB invalid message body size -1"),
    (
        b"PUB t\n" + size(GO_MAX_MSG_SIZE + 1),
        b"E_BAD_MESSAGE PUB message too big 1048577 > 1048576",
    ),
    (b"DPUB\n", b"E_INVALID DPUB insufficient number of parameters"),
    (b"DPUB t\n", b"E_INVALID DPUB insufficient number of parameters"),
    (b"DPUB bad!t 0\n", b'E_BAD_TOPIC DPUB topic name "bad!t" is not valid'),
    (b"DPUB t -5\n", b"E_INVALID DPUB could not parse timeout -5"),
    (b"DPUB t 1s\n", b"E_INVALID DPUB could not parse timeout 1s"),
    (b"DPUB t 3600001\n", b"E_INVALID DPUB timeout 3600001 out of range 0-3600000"),
    (b"DPUB t 0\n" + size(0), b"E_BAD_MESSAGE DPUB invalid message body size 0"),
    (
        b"DPUB t 10\n" + size(GO_MAX_MSG_SIZE + 1),
        b"E_BAD_MESSAGE DPUB message too big 1048577 > 1048576",
    ),
    (b"MPUB\n", b"E_INVALID MPUB insufficient number of parameters"),
    (
        b"MPUB bad!t\n",
        b'E_BAD_TOPIC E_BAD_TOPIC MPUB topic name "bad!t" is not valid',
    ),
    (b"MPUB t\n" + size(0), b"E_BAD_BODY MPUB invalid body size 0"),
    (b"MPUB t\n" + size(-7), b"E_BAD_BODY MPUB invalid body size -7"),
    (
        b"MPUB t\n" + size(GO_MAX_BODY_SIZE + 1),
        b"E_BAD_BODY MPUB body too big 5242881 > 5242880",
    ),
    (b"MPUB t\n" + size(8) + size(0), b"E_BAD_BODY MPUB invalid message count 0"),
    (b"MPUB t\n" + size(8) + size(-1), b"E_BAD_BODY MPUB invalid message count -1"),
    (
        b"MPUB t\n" + size(8) + size((GO_MAX_BODY_SIZE - 4) // 5 + 1),
        b"E_BAD_BODY MPUB invalid message count 1048576",
    ),
    (
        b"MPUB t\n" + size(20) + size(2) + size(1) + b"a" + size(0),
        b"E_BAD_MESSAGE MPUB invalid message(1) body size 0",
    ),
    (
        b"MPUB t\n" + size(20) + size(2) + size(-3),
        b"E_BAD_MESSAGE MPUB invalid message(0) body size -3",
    ),
    (
        b"MPUB t\n" + size(20) + size(2) + size(GO_MAX_MSG_SIZE + 1),
        b"E_BAD_MESSAGE MPUB message too big 1048577 > 1048576",
    ),
    (b"RDY abc\n", b"E_INVALID RDY could not parse count abc"),
    (b"RDY -1\n", b"E_INVALID RDY could not parse count -1"),
    (b"FIN\n", b"E_INVALID FIN insufficient number of params"),
    (b"FIN 123\n", b"E_INVALID invalid message ID"),
    (b"FIN " + MID + b"0\n", b"E_INVALID invalid message ID"),
    (b"REQ\n", b"E_INVALID REQ insufficient number of params"),
    (b"REQ " + MID + b"\n", b"E_INVALID REQ insufficient number of params"),
    (b"REQ 123 0\n", b"E_INVALID invalid message ID"),
    (b"REQ " + MID + b" -1\n", b"E_INVALID REQ could not parse timeout -1"),
    (b"REQ " + MID + b" x\n", b"E_INVALID REQ could not parse timeout x"),
    (b"TOUCH\n", b"E_INVALID TOUCH insufficient number of params"),
    (b"TOUCH 123\n", b"E_INVALID invalid message ID"),
    (b"IDENTIFY\n" + size(0), b"E_BAD_BODY IDENTIFY invalid body size 0"),
    (b"IDENTIFY\n" + size(-2), b"E_BAD_BODY IDENTIFY invalid body size -2"),
    (
        b"IDENTIFY\n" + size(GO_MAX_BODY_SIZE + 1),
        b"E_BAD_BODY IDENTIFY body too big 5242881 > 5242880",
    ),
    (b"AUTH\n" + size(0), b"E_BAD_BODY AUTH invalid body size 0"),
    (
        b"AUTH\n" + size(GO_MAX_BODY_SIZE + 1),
        b"E_BAD_BODY AUTH body too big 5242881 > 5242880",
    ),
]

#: Golden recordings whose error the decoder alone produces (the rest are
#: state errors tested with the protocol, or IDENTIFY values).
DECODER_GOLDEN = {
    "dpub_bad_topic",
    "dpub_defer_negative",
    "dpub_defer_out_of_range",
    "dpub_empty_body",
    "dpub_missing_params",
    "empty_line",
    "fin_invalid_id",
    "fin_missing_id",
    "identify_body_size_zero",
    "identify_body_too_big",
    "lowercase_command",
    "mpub_bad_topic",
    "mpub_body_size_zero",
    "mpub_body_too_big",
    "mpub_count_zero",
    "mpub_message_empty",
    "mpub_message_too_big",
    "mpub_missing_topic",
    "pub_bad_topic",
    "pub_empty_body",
    "pub_missing_topic",
    "pub_too_big",
    "pub_topic_65_chars",
    "rdy_negative",
    "rdy_not_a_number",
    "req_bad_timeout",
    "req_missing_timeout",
    "sub_bad_channel",
    "sub_bad_topic",
    "sub_double_ephemeral_suffix",
    "sub_missing_channel",
    "unknown_command",
}

#: Golden errors that come from IDENTIFY's values (tests/wire/test_identify).
IDENTIFY_GOLDEN = {
    "identify_bad_json",
    "identify_deflate_and_snappy",
    "identify_heartbeat_too_high",
    "identify_heartbeat_too_low",
    "identify_msg_timeout_too_big",
    "identify_msg_timeout_too_small",
    "identify_output_buffer_both_invalid",
    "identify_output_buffer_size_too_big",
    "identify_output_buffer_size_too_small",
    "identify_output_buffer_timeout_too_big",
    "identify_output_buffer_timeout_too_small",
    "identify_sample_rate_negative",
    "identify_sample_rate_too_big",
    "identify_wrong_json_type",
}

#: Golden errors that depend on connection or broker state
#: (tests/nsqd/test_protocol and the golden replay).
STATE_GOLDEN = {
    "auth_disabled",
    "cls_before_sub",
    "cls_twice",
    "fin_before_sub",
    "fin_unknown_id",
    "identify_after_sub",
    "magic_garbage",
    "magic_wrong_v1",
    "message_delivery",
    "rdy_before_sub",
    "rdy_over_max",
    "req_unknown_id",
    "sub_heartbeats_disabled",
    "sub_twice",
    "touch_ok",
    "touch_unknown_id",
}


class ErrorTextTests(SynchronousTestCase):
    """
    Every error the decoder reports has Go nsqd 1.3.0's exact text.
    """

    def test_goTexts(self) -> None:
        """
        Each malformed command gives its Go error text.
        """
        for data, expected in GO_ERROR_TEXTS:
            self.assertEqual(_errorText(data), expected, data)

    def test_golden(self) -> None:
        """
        Replaying the client bytes of each decoder-level golden recording
        gives the error frame text Go sent, with nothing but the error as
        the last call.
        """
        errors = goldenErrors()
        for name in sorted(DECODER_GOLDEN):
            receiver, _ = decode([goldenSent(name)])
            self.assertEqual(
                [e.wireText() for e in receiver.errors], [errors[name]], name
            )
            self.assertEqual(receiver.calls[-1][0], "error", name)

    def test_goldenClassified(self) -> None:
        """
        Every golden recording that ends in an error frame is checked by one
        of the codec, IDENTIFY or protocol tests, so a new recording cannot
        go unnoticed.
        """
        classified = DECODER_GOLDEN | IDENTIFY_GOLDEN | STATE_GOLDEN
        self.assertEqual(set(goldenErrors()), classified)
        self.assertEqual(
            len(classified),
            len(DECODER_GOLDEN) + len(IDENTIFY_GOLDEN) + len(STATE_GOLDEN),
        )

    def test_authParameters(self) -> None:
        """
        AUTH takes no parameters: Go answers C{E_INVALID AUTH invalid number
        of parameters} before reading any body.
        """
        receiver, _ = decode([b"AUTH secret\n"])
        self.assertEqual(
            [e.wireText() for e in receiver.errors],
            [b"E_INVALID AUTH invalid number of parameters"],
        )

    def test_fatalCodes(self) -> None:
        """
        Every decoder error is fatal: only FIN/REQ/TOUCH failures (which the
        decoder never reports) leave the connection open.
        """
        for data, _ in GO_ERROR_TEXTS:
            receiver, _ = decode([data])
            [error] = receiver.errors
            self.assertTrue(error.fatal, data)
            self.assertFalse(error.silent, data)


class SizeLimitTests(SynchronousTestCase):
    """
    Size limits are checked as soon as a size arrives, before any of the
    body is buffered.
    """

    headers: list[tuple[bytes, str]] = [
        (b"PUB t\n", "msg"),
        (b"DPUB t 5\n", "msg"),
        (b"IDENTIFY\n", "body"),
        (b"AUTH\n", "body"),
        (b"MPUB t\n", "body"),
        (b"MPUB t\n" + size(MAX_BODY) + size(1), "msg"),
    ]

    def limit(self, kind: str) -> int:
        """
        The limit that applies to a size of C{kind}.
        """
        return MAX_MSG if kind == "msg" else MAX_BODY

    @given(st.integers(min_value=1, max_value=2**31 - 1), st.sampled_from(range(6)))
    def test_tooBigWithoutBody(self, excess: int, which: int) -> None:
        """
        A size above the limit is rejected right after its four bytes, with
        no body sent.
        """
        header, kind = self.headers[which]
        announced = min(self.limit(kind) + excess, 2**31 - 1)
        receiver, decoder = decode(
            [header + size(announced)], MAX_MSG, MAX_BODY, MAX_DEFER
        )
        [error] = receiver.errors
        self.assertIn(b"too big", error.wireText())
        self.assertIn(b"%d > %d" % (announced, self.limit(kind)), error.wireText())
        self.assertTrue(decoder.halted)

    @given(st.integers(min_value=-(2**31), max_value=0), st.sampled_from(range(6)))
    def test_notPositiveWithoutBody(self, announced: int, which: int) -> None:
        """
        A size of zero or less is rejected right after its four bytes.
        """
        header, _ = self.headers[which]
        receiver, _ = decode([header + size(announced)], MAX_MSG, MAX_BODY, MAX_DEFER)
        [error] = receiver.errors
        self.assertIn(b"size %d" % (announced,), error.wireText())

    def test_atLimit(self) -> None:
        """
        A body of exactly the limit is accepted: nothing is reported until
        its last byte arrives.
        """
        receiver, _ = decode(
            [b"PUB t\n" + size(MAX_MSG) + b"x" * (MAX_MSG - 1)], MAX_MSG, MAX_BODY
        )
        self.assertEqual(receiver.calls, [("allowed", b"PUB")])
        receiver.feed(b"y")
        self.assertEqual(receiver.calls[-1], ("pub", "t", b"x" * (MAX_MSG - 1) + b"y"))

    def test_mpubCountBound(self) -> None:
        """
        The MPUB count may be at most C{(max_body_size - 4) // 5}.
        """
        bound = (MAX_BODY - 4) // 5
        receiver, _ = decode(
            [b"MPUB t\n" + size(MAX_BODY) + size(bound)], MAX_MSG, MAX_BODY
        )
        self.assertEqual(receiver.errors, [])
        receiver, _ = decode(
            [b"MPUB t\n" + size(MAX_BODY) + size(bound + 1)], MAX_MSG, MAX_BODY
        )
        self.assertEqual(
            [e.wireText() for e in receiver.errors],
            [b"E_BAD_BODY MPUB invalid message count %d" % (bound + 1,)],
        )

    def test_mpubItemAtLimit(self) -> None:
        """
        An MPUB message of exactly C{max_msg_size} is accepted.
        """
        receiver, _ = decode([encodeMPub(b"t", [b"x" * MAX_MSG])], MAX_MSG, MAX_BODY)
        self.assertEqual(receiver.calls[-1], ("mpub", "t", [b"x" * MAX_MSG]))

    def test_errorIgnoresFollowingBody(self) -> None:
        """
        After a too-big size, the body and any later commands are ignored.
        """
        receiver, _ = decode(
            [b"PUB t\n" + size(MAX_MSG + 1), b"x" * (MAX_MSG + 1) + b"NOP\n"],
            MAX_MSG,
            MAX_BODY,
        )
        self.assertEqual(len(receiver.errors), 1)
        self.assertEqual(receiver.calls[-1][0], "error")


class DecoderControlTests(SynchronousTestCase):
    """
    Pulling records, the gate, halting and taking the buffered bytes.
    """

    def test_pulled(self) -> None:
        """
        Feeding decodes nothing by itself: records come, in order, only as
        they are pulled, so an owner that stops pulling (while it waits for
        an auth server or a topic) keeps later commands waiting, even as
        more bytes arrive.
        """
        decoder = CommandDecoder(lambda name: True, 100, 100)
        decoder.feed(b"NOP\nRDY 2\n")
        self.assertEqual(decoder.nextCommand(), Nop())
        decoder.feed(b"CLS\n")
        self.assertEqual(
            [decoder.nextCommand() for _ in range(3)], [Rdy(2), Cls(), None]
        )

    def test_takeBuffered(self) -> None:
        """
        L{CommandDecoder.takeBuffered} removes and returns the bytes after
        the last record pulled (this is how a stream upgrade after IDENTIFY
        takes over the bytes that followed it).
        """
        decoder = CommandDecoder(lambda name: True, 100, 100)
        decoder.feed(encodeIdentify({}) + b"NOP\n")
        self.assertEqual(decoder.nextCommand(), Identify(b"{}"))
        self.assertEqual(decoder.takeBuffered(), b"NOP\n")
        self.assertIsNone(decoder.nextCommand())

    def test_finish(self) -> None:
        """
        L{CommandDecoder.finish} (the end of the stream) names the part of
        a command the end cut short, in Go's words, whatever chunks it came
        in; a partial line or nothing pending is no error; and it halts the
        decoder.
        """
        cases = [
            (b"PUB t\n\x00", "E_BAD_MESSAGE PUB failed to read message body size"),
            (
                b"DPUB t 1\n" + struct.pack(">i", 2) + b"x",
                "E_BAD_MESSAGE DPUB failed to read message body",
            ),
            (b"AUTH\n", "E_BAD_BODY AUTH failed to read body size"),
            (
                b"IDENTIFY\n" + struct.pack(">i", 2),
                "E_BAD_BODY IDENTIFY failed to read body",
            ),
            (b"MPUB t\n\x00\x00\x00", "E_BAD_BODY MPUB failed to read body size"),
            (
                b"MPUB t\n"
                + struct.pack(">i", 9)
                + struct.pack(">i", 1)
                + struct.pack(">i", 3)
                + b"ab",
                "E_BAD_MESSAGE MPUB failed to read message body",
            ),
            (b"NOP\nPUB", None),
            (b"NOP\n", None),
        ]
        for data, text in cases:
            for cut in range(len(data) + 1):
                decoder = CommandDecoder(lambda name: True, 100, 100)
                decoder.feed(data[:cut])
                decoder.nextCommand()
                decoder.feed(data[cut:])
                while decoder.nextCommand() is not None:
                    pass
                error = decoder.finish()
                self.assertEqual(
                    None if error is None else error.wireText().decode(), text, data
                )
                self.assertTrue(decoder.halted)
                self.assertIsNone(decoder.finish())

    def test_halt(self) -> None:
        """
        A halted decoder ignores input.
        """
        receiver, decoder = decode([])
        decoder.halt()
        receiver.feed(b"NOP\n")
        self.assertTrue(decoder.halted)
        self.assertEqual(receiver.calls, [])

    def test_gateRefuses(self) -> None:
        """
        A gate that refuses a command (a fatal state error) makes its error
        the record, before the parameters are parsed, and halts the decoder:
        nothing after it in the same chunk is decoded.
        """
        asked: list[bytes] = []
        refusal = ProtocolError(E_INVALID, "cannot RDY in current state")

        def gate(name: bytes) -> ProtocolError | bool:
            asked.append(name)
            return refusal

        decoder = CommandDecoder(gate, 100, 100)
        decoder.feed(b"RDY x\nNOP\nCLS\n")
        self.assertIs(decoder.nextCommand(), refusal)
        self.assertIsNone(decoder.nextCommand())
        self.assertEqual(asked, [b"RDY"])
        self.assertTrue(decoder.halted)

    def test_gateRefusesFinRun(self) -> None:
        """
        A run of FINs is refused as a whole, with one question.
        """
        asked: list[bytes] = []
        refusal = ProtocolError(E_INVALID, "cannot FIN in current state")

        def gate(name: bytes) -> ProtocolError | bool:
            asked.append(name)
            return refusal

        decoder = CommandDecoder(gate, 100, 100)
        decoder.feed(b"FIN 0123456789abcdef\n" * 3)
        self.assertIs(decoder.nextCommand(), refusal)
        self.assertEqual(asked, [b"FIN"])

    def test_gateSkips(self) -> None:
        """
        When the gate answers C{False} (RDY after CLS), that one command is
        skipped unparsed, even with parameters that would not parse, and
        decoding continues; a FIN run is then skipped one line at a time.
        """

        def gate(name: bytes) -> ProtocolError | bool:
            return name not in (b"RDY", b"FIN")

        decoder = CommandDecoder(gate, 100, 100)
        decoder.feed(b"RDY x\nFIN 0123456789abcdef\nFIN 0123456789abcdef\nNOP\n")
        self.assertEqual([decoder.nextCommand(), decoder.nextCommand()], [Nop(), None])

    def test_finRun(self) -> None:
        """
        A run of FIN lines, LF or CRLF ended and with any 16 bytes but a
        newline as the ID (a CR included), is one record; it ends at the
        first line that is not a well-formed FIN, which goes the common way
        (here: an ID one byte too long is Go's invalid message ID).
        """
        decoder = CommandDecoder(lambda name: True, 100, 100)
        decoder.feed(
            b"FIN 0123456789abcdef\n"
            b"FIN 0123456789abcde\r\r\n"
            b"FIN 0123456789abcd\rf\n"
            b"FIN 0123456789abcdef0\n"
            b"FIN 0123456789abcdef\n"
        )
        self.assertEqual(
            decoder.nextCommand(),
            FinBatch([b"0123456789abcdef", b"0123456789abcde\r", b"0123456789abcd\rf"]),
        )
        error = decoder.nextCommand()
        assert isinstance(error, ProtocolError)
        self.assertEqual(error.wireText(), b"E_INVALID invalid message ID")

    def test_finRunWaitsForTheLineEnd(self) -> None:
        """
        A FIN line still missing its newline is not part of the run; it is
        read once complete.
        """
        decoder = CommandDecoder(lambda name: True, 100, 100)
        decoder.feed(b"FIN 0123456789abcdef\nFIN 0123456789abcdef\nFIN 01234")
        self.assertEqual(decoder.nextCommand(), FinBatch([b"0123456789abcdef"] * 2))
        self.assertIsNone(decoder.nextCommand())
        decoder.feed(b"56789abcdef\r\n")
        self.assertEqual(decoder.nextCommand(), FinBatch([b"0123456789abcdef"]))
        self.assertIsNone(decoder.nextCommand())

    def test_finRunLong(self) -> None:
        """
        A long run of FIN lines is one record, in order, of 2048 lines at
        most; the rest follows in the next.
        """
        ids = [b"%016x" % i for i in range(2100)]
        decoder = CommandDecoder(lambda name: True, 100, 100)
        decoder.feed(b"".join(b"FIN " + i + b"\n" for i in ids) + b"NOP\n")
        self.assertEqual(decoder.nextCommand(), FinBatch(ids[:2048]))
        self.assertEqual(decoder.nextCommand(), FinBatch(ids[2048:]))
        self.assertEqual(decoder.nextCommand(), Nop())

    def test_finRunEndsAtAnotherLine(self) -> None:
        """
        A run of FIN lines ends at a line that is not one, though it has a
        FIN line's length: one starting otherwise, or with a newline where
        the ID would be.
        """
        fin = b"FIN 0123456789abcdef\n"
        decoder = CommandDecoder(lambda name: True, 100, 100)
        decoder.feed(fin * 2 + b"FIN 0123456\n89abcdef\n" + fin)
        self.assertEqual(decoder.nextCommand(), FinBatch([b"0123456789abcdef"] * 2))
        error = decoder.nextCommand()
        assert isinstance(error, ProtocolError)
        self.assertEqual(error.wireText(), b"E_INVALID invalid message ID")
        decoder = CommandDecoder(lambda name: True, 100, 100)
        decoder.feed(fin + b"NOP 456789abcdef0123\n" + fin)
        self.assertEqual(
            [decoder.nextCommand() for _ in range(4)],
            [
                FinBatch([b"0123456789abcdef"]),
                Nop(),
                FinBatch([b"0123456789abcdef"]),
                None,
            ],
        )
