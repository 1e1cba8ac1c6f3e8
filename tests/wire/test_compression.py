"""
Tests for L{txnsq.wire.compression}: the snappy and deflate stream codecs,
sans I/O.  (nsqd switching a connection to them after IDENTIFY is tested in
L{tests.nsqd.test_compression}.)
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txnsq.wire.compression import (
    CompressionError,
    DeflateDecoder,
    DeflateEncoder,
    SnappyDecoder,
    SnappyEncoder,
)


class StreamCodecTests(SynchronousTestCase):
    """
    The sans-IO codecs round-trip however the stream is cut.
    """

    @given(st.lists(st.binary(max_size=70000), max_size=5), st.integers(1, 5000))
    def test_snappyRoundTrip(self, pieces: list[bytes], step: int) -> None:
        """
        Snappy-framed output decodes to the input, fed in any chunk size.
        """
        encode, decode = SnappyEncoder(), SnappyDecoder()
        stream = b"".join(encode(piece) for piece in pieces)
        out = b"".join(
            decode(stream[i : i + step]) for i in range(0, len(stream), step)
        )
        self.assertEqual(out, b"".join(pieces))

    @given(st.lists(st.binary(max_size=5000), max_size=5), st.integers(1, 500))
    def test_deflateRoundTrip(self, pieces: list[bytes], step: int) -> None:
        """
        Raw deflate output decodes to the input, and each piece is
        decodable on its own (sync flush).
        """
        encode, decode = DeflateEncoder(6), DeflateDecoder()
        for piece in pieces:
            stream = encode(piece)
            self.assertTrue(stream.endswith(b"\x00\x00\xff\xff"))
            out = b"".join(
                decode(stream[i : i + step]) for i in range(0, len(stream), step)
            )
            self.assertEqual(out, piece)

    def test_snappyNeedsIdentifier(self) -> None:
        """
        A snappy stream must start with the stream identifier chunk.
        """
        stream = SnappyEncoder()(b"x")[10:]
        self.assertRaises(CompressionError, SnappyDecoder(), stream)

    def test_snappyReservedChunk(self) -> None:
        """
        Reserved unskippable chunk types are errors; skippable ones are
        ignored.
        """
        head = SnappyEncoder()(b"")
        self.assertEqual(SnappyDecoder()(head + b"\x80\x01\x00\x00z"), b"")
        self.assertRaises(CompressionError, SnappyDecoder(), head + b"\x02\x00\x00\x00")

    def test_deflateGarbage(self) -> None:
        """
        Bytes that are not a deflate stream are an error.
        """
        self.assertRaises(CompressionError, DeflateDecoder(), b"\xff" * 20)
