"""
Tests for L{txnsq.wire.message}: the 26-byte message header.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txnsq.wire.message import (
    MESSAGE_HEADER_SIZE,
    decodeMessage,
    encodeMessage,
)

from ._support import attemptCounts, messageIDs, timestamps


class MessageTests(SynchronousTestCase):
    """
    L{encodeMessage} and L{decodeMessage}: the 26-byte header.
    """

    @given(timestamps, attemptCounts, messageIDs, st.binary(max_size=64))
    def test_roundTrip(
        self, timestamp: int, attempts: int, messageID: bytes, body: bytes
    ) -> None:
        """
        Decoding an encoded message gives back its fields.
        """
        data = encodeMessage(timestamp, attempts, messageID, body)
        self.assertEqual(len(data), MESSAGE_HEADER_SIZE + len(body))
        self.assertEqual(decodeMessage(data), (timestamp, attempts, messageID, body))

    def test_attemptsWrap(self) -> None:
        """
        Attempts are a uint16 and wrap after 65535, as in Go.
        """
        data = encodeMessage(0, 65536 + 5, b"0" * 16, b"")
        self.assertEqual(decodeMessage(data)[1], 5)

    def test_short(self) -> None:
        """
        Fewer than 26 bytes is a L{ValueError}; exactly 26 is an empty body.
        """
        self.assertRaises(ValueError, decodeMessage, b"\x00" * 25)
        self.assertEqual(decodeMessage(b"\x00" * 26), (0, 0, b"\x00" * 16, b""))
