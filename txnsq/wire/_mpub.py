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
        "_outerLeft",
        "_outerSize",
        "_remaining",
    )

    def __init__(self, maxMsgSize: int, maxBodySize: int) -> None:
        self._maxMsgSize = maxMsgSize
        self._maxBodySize = maxBodySize
        self._outerSize: int | None = None
        self._outerLeft = 0
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
            # What is left of the outer size, once the count is read.
            self._outerLeft = size - 4
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
        # The bodies complete in this call are sliced from one bytes copy of
        # what is buffered from the first of them up to the outer size
        # (which normally ends the MPUB): slicing bytes is half the cost of
        # a memoryview slice copied to bytes per message.  The copy is made
        # once a body is complete, so that a body arriving over many reads
        # is not copied again on each; the copy of a single body is the
        # body itself.  A body past the outer size (a size that disagrees
        # with it, which Go tolerates) is copied on its own.
        outerLeft = self._outerLeft
        blob: bytes | None = None
        base = limit = pos
        error: ProtocolError | None = None
        try:
            with memoryview(buf) as view:
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
                        outerLeft -= 4
                    if end - pos < size:
                        return pos, None
                    if blob is None and size <= outerLeft:
                        base = pos
                        limit = min(end, pos + outerLeft)
                        blob = view[base:limit].tobytes()
                    if blob is not None and pos + size <= limit:
                        bodies.append(blob[pos - base : pos - base + size])
                    else:
                        bodies.append(view[pos : pos + size].tobytes())
                    pos += size
                    outerLeft -= size
                    size = None
                    remaining -= 1
        finally:
            self._remaining = remaining
            self._nextSize = size
            self._outerLeft = outerLeft
        if error is not None:
            return pos + 4, error
        return pos, bodies
