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

# MPUB bodies smaller than this are sliced from a shared copy of up to
# _WINDOW bytes of the buffer; larger ones are copied on their own.
_SMALL = 2048
_WINDOW = 32 * 1024


class MPubReader:
    """
    Reads one MPUB body from a buffer that grows between calls.

    Go parses MPUB by its inner count and sizes; the outer size is checked
    against the limit and then ignored: it is never reconciled with the
    inner sizes.
    """

    __slots__ = (
        "_bodies",
        "_consumed",
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
        # Bytes read so far, from the outer size on.
        self._consumed = 0
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
            connection, or C{None} while more bytes are needed.
        """
        reached, outcome = self._read(buf, pos)
        self._consumed += reached - pos
        return reached, outcome

    def wanted(self, available: int) -> int:
        """
        How many bytes, beyond the C{available} ones after the position
        last returned, the MPUB still needs at least (0 until its size is
        known): a hint for how much to read.
        """
        if self._outerSize is None:
            return 0
        missing = 4 + self._outerSize - self._consumed - available
        if self._nextSize is not None:
            # A message may run past the outer size (Go reads it whole).
            missing = max(missing, self._nextSize - available)
        return max(missing, 0)

    def _read(
        self, buf: bytearray, pos: int
    ) -> tuple[int, list[bytes] | ProtocolError | None]:
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
        # One iteration per message of a large MPUB (200 of 200 B in a
        # 40 KB read is the common shape): the hot path is one unpack, one
        # range check, one comparison and one slice.  Locals in the loop;
        # the state is written back however it ends.
        unpack = _INT32.unpack_from
        bodies = self._bodies
        append = bodies.append
        remaining = self._remaining
        size = self._nextSize
        maxMsgSize = self._maxMsgSize
        end = len(buf)
        # Small bodies are sliced from a bytes copy of a window of the
        # buffer (slicing bytes is half the cost of a memoryview slice
        # copied to bytes); the window is made once a body is complete, so
        # a body arriving over many reads is not copied again on each.  A
        # body of _SMALL bytes or more is copied on its own, once.
        blob = b""
        base = blobEnd = 0
        error: ProtocolError | None = None
        try:
            if size is not None:
                # A body whose size was read by an earlier call.
                if end - pos < size:
                    return pos, None
                bodies.append(_copy(buf, pos, size))
                pos += size
                remaining -= 1
                size = None
            while remaining:
                # struct.error when fewer than 4 bytes are left (the
                # handler costs nothing until it runs).
                (size,) = unpack(buf, pos)
                if not 0 < size <= maxMsgSize:
                    if size <= 0:
                        text = f"MPUB invalid message({len(bodies)}) body size {size}"
                    else:
                        text = f"MPUB message too big {size} > {maxMsgSize}"
                    error = ProtocolError(E_BAD_MESSAGE, text)
                    break
                pos += 4
                stop = pos + size
                if stop <= blobEnd:
                    append(blob[pos - base : stop - base])
                elif stop > end:
                    return pos, None
                elif size < _SMALL:
                    base = pos
                    blobEnd = min(end, pos + _WINDOW)
                    with memoryview(buf) as view:
                        blob = view[base:blobEnd].tobytes()
                    append(blob[: stop - base])
                else:
                    append(_copy(buf, pos, size))
                pos = stop
                size = None
                remaining -= 1
        except struct.error:
            size = None
        finally:
            self._remaining = remaining
            self._nextSize = size
        if error is not None:
            return pos + 4, error
        if remaining:
            return pos, None
        return pos, bodies


def _copy(buf: bytearray, pos: int, size: int) -> bytes:
    """
    One body out of the buffer, copied once (slicing the bytearray first
    would copy it twice).
    """
    with memoryview(buf) as view:
        return view[pos : pos + size].tobytes()
