"""
Tests for L{txnsq.wire.frames}: the frames nsqd sends.  (The message header
inside a message frame is tested in L{tests.wire.test_message}.)
"""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txnsq.wire.frames import (
    FRAME_TYPE_ERROR,
    FRAME_TYPE_MESSAGE,
    FRAME_TYPE_RESPONSE,
    RESPONSE_CLOSE_WAIT,
    RESPONSE_HEARTBEAT,
    RESPONSE_OK,
    FrameDecoder,
    FrameTooLarge,
    encodeError,
    encodeFrame,
    encodeMessageFrame,
    encodeResponse,
)
from txnsq.wire.message import (
    decodeMessage,
    encodeMessage,
)

from ._support import (
    attemptCounts,
    chunkings,
    goldenFrames,
    goldenRecordings,
    messageIDs,
    split,
    timestamps,
)

frames = st.one_of(
    st.binary(max_size=64).map(lambda d: (encodeResponse(d), (FRAME_TYPE_RESPONSE, d))),
    st.binary(max_size=64).map(lambda d: (encodeError(d), (FRAME_TYPE_ERROR, d))),
    st.tuples(timestamps, attemptCounts, messageIDs, st.binary(max_size=64)).map(
        lambda m: (
            encodeMessageFrame(*m),
            (FRAME_TYPE_MESSAGE, encodeMessage(*m)),
        )
    ),
)


def feedAll(decoder: FrameDecoder, chunks: list[bytes]) -> list[tuple[int, bytes]]:
    """
    Feed every chunk and collect the frames.
    """
    out: list[tuple[int, bytes]] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out


class EncodeTests(SynchronousTestCase):
    """
    Frames are C{[int32 size][int32 type][data]} with size = 4 + len(data).
    """

    def test_response(self) -> None:
        """
        C{OK} as Go sends it.
        """
        self.assertEqual(encodeResponse(b"OK"), b"\x00\x00\x00\x06\x00\x00\x00\x00OK")
        self.assertEqual(RESPONSE_OK, encodeResponse(b"OK"))

    def test_constants(self) -> None:
        """
        The prebuilt responses are byte-identical to the recorded ones.
        """
        self.assertEqual(
            RESPONSE_HEARTBEAT, b"\x00\x00\x00\x0f\x00\x00\x00\x00_heartbeat_"
        )
        self.assertEqual(
            RESPONSE_CLOSE_WAIT, b"\x00\x00\x00\x0e\x00\x00\x00\x00CLOSE_WAIT"
        )
        self.assertIn(
            RESPONSE_HEARTBEAT, list(goldenFrames("heartbeat_and_idle_disconnect"))
        )
        self.assertIn(RESPONSE_CLOSE_WAIT, list(goldenFrames("cls_close_wait")))

    def test_error(self) -> None:
        """
        Error frames have type 1.
        """
        self.assertEqual(
            encodeError(b"E_BAD_PROTOCOL"),
            b"\x00\x00\x00\x12\x00\x00\x00\x01E_BAD_PROTOCOL",
        )

    def test_messageFrame(self) -> None:
        """
        A message frame is type 2 holding timestamp, attempts, id and body.
        """
        frame = encodeMessageFrame(0x0102030405060708, 3, b"0123456789abcdef", b"hi")
        self.assertEqual(
            frame,
            struct.pack(">ii", 30 + 2, 2)
            + b"\x01\x02\x03\x04\x05\x06\x07\x08"
            + b"\x00\x03"
            + b"0123456789abcdef"
            + b"hi",
        )

    @given(timestamps, st.integers(0, 2**20), messageIDs, st.binary(max_size=32))
    def test_messageFrameIsFramedMessage(
        self, timestamp: int, attempts: int, messageID: bytes, body: bytes
    ) -> None:
        """
        A message frame is L{encodeFrame} of L{encodeMessage}; attempts wrap
        as a uint16.
        """
        self.assertEqual(
            encodeMessageFrame(timestamp, attempts, messageID, body),
            encodeFrame(
                FRAME_TYPE_MESSAGE, encodeMessage(timestamp, attempts, messageID, body)
            ),
        )

    def test_goldenMessageFrame(self) -> None:
        """
        Re-encoding a recorded message frame from its fields gives the same
        bytes.
        """
        [frame] = [
            f for f in goldenFrames("message_delivery") if f[4:8] == b"\x00\x00\x00\x02"
        ]
        timestamp, attempts, messageID, body = decodeMessage(frame[8:])
        self.assertEqual(
            encodeMessageFrame(timestamp, attempts, messageID, body), frame
        )
        self.assertEqual((attempts, body), (1, b"hello golden"))


class FrameDecoderTests(SynchronousTestCase):
    """
    L{FrameDecoder} splits a byte stream into frames in any chunking.
    """

    @given(st.lists(frames, max_size=10), chunkings())
    def test_roundTrip(
        self, items: list[tuple[bytes, tuple[int, bytes]]], cuts: list[int]
    ) -> None:
        """
        Encoded frames decode to the same types and data, whatever the chunk
        boundaries.
        """
        data = b"".join(encoded for encoded, _ in items)
        decoded = feedAll(FrameDecoder(), split(data, cuts))
        self.assertEqual(decoded, [expected for _, expected in items])

    @given(st.lists(frames, min_size=1, max_size=5))
    def test_byteByByte(self, items: list[tuple[bytes, tuple[int, bytes]]]) -> None:
        """
        A frame is yielded exactly when its last byte arrives.
        """
        decoder = FrameDecoder()
        for encoded, expected in items:
            for i in range(len(encoded) - 1):
                self.assertEqual(list(decoder.feed(encoded[i : i + 1])), [])
            self.assertEqual(list(decoder.feed(encoded[-1:])), [expected])

    def test_golden(self) -> None:
        """
        Every frame nsqd sent in the recordings decodes as one whole frame.
        """
        for name in goldenRecordings():
            for frame in goldenFrames(name):
                decoded = list(FrameDecoder().feed(frame))
                self.assertEqual(len(decoded), 1, name)
                self.assertEqual(decoded[0][1], frame[8:], name)

    def test_emptyData(self) -> None:
        """
        A frame of size 4 (no data) is valid.
        """
        self.assertEqual(list(FrameDecoder().feed(encodeResponse(b""))), [(0, b"")])

    def test_sizeTooSmall(self) -> None:
        """
        A size below 4 cannot hold the frame type: L{FrameTooLarge}.
        """
        for bad in (3, 0, -1, -(2**31)):
            decoder = FrameDecoder()
            with self.assertRaises(FrameTooLarge):
                list(decoder.feed(struct.pack(">ii", bad, 0)))

    def test_sizeTooBig(self) -> None:
        """
        A size above the limit is refused before the data arrives.
        """
        decoder = FrameDecoder(maxFrameSize=100)
        self.assertEqual(
            list(decoder.feed(encodeResponse(b"x" * 96))), [(0, b"x" * 96)]
        )
        with self.assertRaises(FrameTooLarge):
            list(decoder.feed(struct.pack(">ii", 101, 0)))

    def test_unknownType(self) -> None:
        """
        The decoder passes any frame type through; interpreting it is the
        client's business.
        """
        self.assertEqual(list(FrameDecoder().feed(encodeFrame(9, b"x"))), [(9, b"x")])
