# -*- test-case-name: tests.wire.test_message,tests.wire.test_frames -*-
"""
The 26-byte message header shared by message frames and disk records.

Layout (big-endian): C{int64} timestamp in nanoseconds, C{uint16} attempts,
16 ASCII hex characters of message ID, then the body.
"""

from __future__ import annotations

import struct

MESSAGE_HEADER_SIZE = 26
MESSAGE_ID_LENGTH = 16

_HEADER = struct.Struct(">qH")


def encodeMessage(
    timestamp: int, attempts: int, messageID: bytes, body: bytes
) -> bytes:
    """
    Serialise a message as nsqd stores and sends it.
    """
    return _HEADER.pack(timestamp, attempts & 0xFFFF) + messageID + body


def decodeMessage(data: bytes) -> tuple[int, int, bytes, bytes]:
    """
    Parse a serialised message into C{(timestamp, attempts, id, body)}.

    @raise ValueError: if C{data} is shorter than the header.
    """
    if len(data) < MESSAGE_HEADER_SIZE:
        raise ValueError(f"message of {len(data)} bytes is shorter than its header")
    timestamp, attempts = _HEADER.unpack_from(data)
    return timestamp, attempts, bytes(data[10:26]), bytes(data[26:])
