# -*- test-case-name: tests.wire.test_frames -*-
"""
Frames nsqd sends: C{[int32 size][int32 frame type][data]}, size counting
the frame type and the data.
"""

from __future__ import annotations

import struct
from collections.abc import Generator

FRAME_TYPE_RESPONSE = 0
FRAME_TYPE_ERROR = 1
FRAME_TYPE_MESSAGE = 2

_FRAME_HEADER = struct.Struct(">ii")
# A message frame header with the message's own timestamp and attempts, so a
# delivery needs one pack call plus the id and the body.
MESSAGE_FRAME_HEADER = struct.Struct(">iiqH")
#: The same header followed by the 16-byte message ID, in one pack.
MESSAGE_FRAME_HEAD = struct.Struct(">iiqH16s")

HEARTBEAT = b"_heartbeat_"


def encodeFrame(frameType: int, data: bytes) -> bytes:
    """
    One complete frame.
    """
    return _FRAME_HEADER.pack(len(data) + 4, frameType) + data


def encodeResponse(data: bytes) -> bytes:
    """
    A response frame (C{OK}, C{CLOSE_WAIT}, C{_heartbeat_}, JSON...).
    """
    return _FRAME_HEADER.pack(len(data) + 4, FRAME_TYPE_RESPONSE) + data


def encodeError(data: bytes) -> bytes:
    """
    An error frame.
    """
    return _FRAME_HEADER.pack(len(data) + 4, FRAME_TYPE_ERROR) + data


def encodeMessageFrame(
    timestamp: int, attempts: int, messageID: bytes, body: bytes
) -> bytes:
    """
    A message frame, built with a single header pack.
    """
    return (
        MESSAGE_FRAME_HEADER.pack(
            len(body) + 30, FRAME_TYPE_MESSAGE, timestamp, attempts & 0xFFFF
        )
        + messageID
        + body
    )


RESPONSE_OK = encodeResponse(b"OK")
RESPONSE_CLOSE_WAIT = encodeResponse(b"CLOSE_WAIT")
RESPONSE_HEARTBEAT = encodeResponse(HEARTBEAT)


class FrameTooLarge(ValueError):
    """
    A frame announced a size above the decoder's limit.
    """


class FrameDecoder:
    """
    Incremental decoder of nsqd frames, for clients.

    Feed it bytes in any chunking; iterate complete C{(frameType, data)}
    pairs.
    """

    def __init__(self, maxFrameSize: int = 16 * 1024 * 1024) -> None:
        self._buffer = bytearray()
        self._maxFrameSize = maxFrameSize

    def takeBuffered(self) -> bytes:
        """
        Remove and return the bytes not yet decoded (after a stream switch
        they belong to the new stream).
        """
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    def feed(self, data: bytes) -> Generator[tuple[int, bytes], None, None]:
        """
        Add C{data} and yield every frame it completes.

        @raise FrameTooLarge: if a frame size is negative, below 4 or above
            the limit.
        """
        buf = self._buffer
        buf += data
        offset = 0
        unpack = _FRAME_HEADER.unpack_from
        try:
            while len(buf) - offset >= 8:
                size, frameType = unpack(buf, offset)
                if size < 4 or size > self._maxFrameSize:
                    raise FrameTooLarge(f"invalid frame size {size}")
                end = offset + 4 + size
                if end > len(buf):
                    break
                frame = bytes(buf[offset + 8 : end])
                offset = end
                yield frameType, frame
        finally:
            # One compaction per feed keeps the cost linear in the input.
            if offset:
                del buf[:offset]
