# -*- test-case-name: tests.wire.test_compression,tests.nsqd.test_compression -*-
"""
The two stream compressions IDENTIFY can switch on, sans I/O.

Both directions of a connection are compressed once negotiated:

  - B{deflate}: a raw DEFLATE stream (RFC 1951, no zlib header), each write
    ended with a sync flush (C{00 00 ff ff}) so the peer can decode it at
    once, as nsqd does whenever it flushes its output;
  - B{snappy}: the snappy I{framing} format (stream identifier chunk, then
    compressed or uncompressed chunks of at most 64 KiB), via cramjam.

Checksums of incoming snappy chunks are not verified: the stdlib has no
CRC-32C and TCP (or TLS) already protects the stream; a malformed chunk is
still reported as an error.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any, Protocol

SNAPPY_STREAM_IDENTIFIER = b"\xff\x06\x00\x00sNaPpY"

# Largest chunk body the framing format allows, plus the checksum.
_MAX_SNAPPY_CHUNK = (1 << 24) - 1


class CompressionError(ValueError):
    """
    The peer's compressed stream could not be decoded.
    """


class StreamCodec(Protocol):
    """
    One direction's transformation of a byte stream.
    """

    def __call__(self, data: bytes) -> bytes:
        """
        Transform the next piece of the stream.
        """


class DeflateEncoder:
    """
    Raw deflate with a sync flush after every piece.
    """

    def __init__(self, level: int) -> None:
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, -15)

    def __call__(self, data: bytes) -> bytes:
        compressor = self._compressor
        return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


class DeflateDecoder:
    """
    Inflate a raw deflate stream as it arrives.
    """

    def __init__(self) -> None:
        self._decompressor = zlib.decompressobj(-15)

    def __call__(self, data: bytes) -> bytes:
        try:
            return self._decompressor.decompress(data)
        except zlib.error as e:
            raise CompressionError(str(e)) from None


def _snappy() -> Any:
    # cramjam (1.5 MB resident) is imported once a connection negotiates
    # snappy, not by every process that imports the protocol.
    import cramjam

    return cramjam.snappy


class SnappyEncoder:
    """
    Snappy framing: the stream identifier first, then each piece as chunks.
    """

    def __init__(self) -> None:
        self._started = False
        self._compress: Callable[[bytes], Any] = _snappy().compress

    def __call__(self, data: bytes) -> bytes:
        framed = bytes(self._compress(data)) if data else b""
        # cramjam frames every call as a new stream; the format wants one
        # identifier, at the start of the connection.
        if framed.startswith(SNAPPY_STREAM_IDENTIFIER):
            framed = framed[len(SNAPPY_STREAM_IDENTIFIER) :]
        if not self._started:
            self._started = True
            framed = SNAPPY_STREAM_IDENTIFIER + framed
        return framed


class SnappyDecoder:
    """
    Decode snappy framing incrementally.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._sawIdentifier = False
        self._decompressRaw: Callable[[bytes], Any] = _snappy().decompress_raw

    def __call__(self, data: bytes) -> bytes:
        buf = self._buffer
        buf += data
        out: list[bytes] = []
        pos = 0
        while len(buf) - pos >= 4:
            kind = buf[pos]
            length = int.from_bytes(buf[pos + 1 : pos + 4], "little")
            end = pos + 4 + length
            if end > len(buf):
                break
            body = bytes(buf[pos + 4 : end])
            pos = end
            if kind == 0xFF:
                if body != SNAPPY_STREAM_IDENTIFIER[4:]:
                    raise CompressionError("invalid snappy stream identifier")
                self._sawIdentifier = True
                continue
            if not self._sawIdentifier:
                raise CompressionError(
                    "snappy stream does not start with its identifier"
                )
            if kind == 0x00:
                if length < 4:
                    raise CompressionError("snappy chunk too short")
                try:
                    out.append(bytes(self._decompressRaw(body[4:])))
                except Exception as e:  # cramjam raises its own error types
                    raise CompressionError(f"corrupt snappy chunk: {e}") from None
            elif kind == 0x01:
                if length < 4:
                    raise CompressionError("snappy chunk too short")
                out.append(body[4:])
            elif kind < 0x80:
                raise CompressionError(f"unsupported snappy chunk type {kind:#x}")
            # 0x80..0xfe: skippable padding.
        del buf[:pos]
        return b"".join(out)


def streamCodecs(
    snappy: bool, deflate: bool, deflateLevel: int
) -> tuple[StreamCodec, StreamCodec] | None:
    """
    The C{(encode, decode)} pair for what IDENTIFY negotiated (snappy wins,
    as nsqd never grants both), or L{None} for an uncompressed stream.
    """
    if snappy:
        return SnappyEncoder(), SnappyDecoder()
    if deflate:
        return DeflateEncoder(deflateLevel), DeflateDecoder()
    return None
