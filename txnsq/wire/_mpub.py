# -*- test-case-name: tests.wire.test_commands -*-
"""
MPUB's body, read incrementally: the outer size, the message count, then
each message with its own size, checked as Go nsqd 1.3.0's C{readMPUB}
checks them.
"""

from __future__ import annotations

import struct

from txnsq.wire.errors import E_BAD_BODY, E_BAD_MESSAGE, ProtocolError

_INT32 = struct.Struct(">i")


class MPubReader:
    """
    Reads one MPUB body from a buffer that grows between calls.

    Go parses MPUB by its inner count and sizes; the outer size is checked
    against the limit and then only bounds the single copy the bodies are
    sliced from: it is never reconciled with the inner sizes.
    """

    __slots__ = (
        "_bodies",
        "_maxBodySize",
        "_maxMsgSize",
        "_nextSize",
        "_outerSize",
        "_remaining",
    )

    def __init__(self, maxMsgSize: int, maxBodySize: int) -> None:
        self._maxMsgSize = maxMsgSize
        self._maxBodySize = maxBodySize
        self._outerSize: int | None = None
        # -1 until the count has been read.
        self._remaining = -1
        self._nextSize: int | None = None
        self._bodies: list[bytes] = []

    def read(
        self, buf: bytearray, pos: int
    ) -> tuple[int, list[bytes] | ProtocolError | None]:
        """
        Advance through C{buf} from C{pos}.

        @return: the position reached and the outcome: every message body
            once the last one is complete, the error that ends the
            connection, or L{None} while more bytes are needed.
        """
        end = len(buf)
        if self._outerSize is None:
            if end - pos < 4:
                return pos, None
            (size,) = _INT32.unpack_from(buf, pos)
            if size <= 0:
                return pos + 4, ProtocolError(
                    E_BAD_BODY, f"MPUB invalid body size {size}"
                )
            if size > self._maxBodySize:
                return pos + 4, ProtocolError(
                    E_BAD_BODY, f"MPUB body too big {size} > {self._maxBodySize}"
                )
            self._outerSize = size
            pos += 4
        if self._remaining < 0:
            if end - pos < 4:
                return pos, None
            (count,) = _INT32.unpack_from(buf, pos)
            if count <= 0 or count > (self._maxBodySize - 4) // 5:
                return pos + 4, ProtocolError(
                    E_BAD_BODY, f"MPUB invalid message count {count}"
                )
            self._remaining = count
            pos += 4
            if count == 1 and end - pos >= 4:
                # One message per MPUB (producers waiting for each OK):
                # when it is all here, one size check and one copy.
                (size,) = _INT32.unpack_from(buf, pos)
                if 0 < size <= self._maxMsgSize and end - pos - 4 >= size:
                    self._remaining = 0
                    with memoryview(buf) as view:
                        body = view[pos + 4 : pos + 4 + size].tobytes()
                    self._bodies.append(body)
                    return pos + 4 + size, self._bodies
        return self._messages(buf, pos)

    def eofError(self) -> ProtocolError:
        """
        The error Go's C{readMPUB} answers when the stream ends before the
        MPUB does: its text names the field it was reading.
        """
        if self._outerSize is None:
            return ProtocolError(E_BAD_BODY, "MPUB failed to read body size")
        if self._remaining < 0:
            return ProtocolError(E_BAD_BODY, "MPUB failed to read message count")
        if self._nextSize is None:
            return ProtocolError(
                E_BAD_MESSAGE,
                f"MPUB failed to read message({len(self._bodies)}) body size",
            )
        return ProtocolError(E_BAD_MESSAGE, "MPUB failed to read message body")

    def _messages(
        self, buf: bytearray, pos: int
    ) -> tuple[int, list[bytes] | ProtocolError | None]:
        unpack = _INT32.unpack_from
        bodies = self._bodies
        # Locals in the loop (one message per iteration in a large MPUB);
        # the state is written back however the loop ends.
        remaining = self._remaining
        size = self._nextSize
        maxMsgSize = self._maxMsgSize
        end = len(buf)
        # Bodies are sliced from one bytes copy of what is buffered (up to
        # the outer size, which normally ends the MPUB): slicing bytes is
        # half the cost of a memoryview slice copied to bytes per message.
        # A body past that copy (a size that disagrees with the outer one,
        # which Go tolerates) is copied on its own.
        base = pos
        assert self._outerSize is not None
        limit = min(end, pos + self._outerSize)
        error: ProtocolError | None = None
        try:
            with memoryview(buf) as view:
                blob = view[base:limit].tobytes()
                while remaining:
                    if size is None:
                        if end - pos < 4:
                            return pos, None
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
                        return pos, None
                    if pos + size <= limit:
                        bodies.append(blob[pos - base : pos - base + size])
                    else:
                        bodies.append(bytes(view[pos : pos + size]))
                    pos += size
                    size = None
                    remaining -= 1
        finally:
            self._remaining = remaining
            self._nextSize = size
        if error is not None:
            return pos + 4, error
        return pos, bodies
