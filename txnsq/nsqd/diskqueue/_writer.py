# -*- test-case-name: tests.nsqd.diskqueue.test_writer -*-
"""
The writing end of a disk queue: the segment being appended to, its write
buffer, and the earlier segments still owed an fsync.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

from txnsq.nsqd.diskqueue._files import closeQuietly, unpackLengthFrom

WRITE_BUFFER_LIMIT = 64 * 1024
"""
Writes are coalesced in memory and handed to the kernel once this many
bytes are pending (or sooner: see L{SegmentWriter.flush}).
"""


class SegmentWriter:
    """
    Appends records to segment C{fileNum}, through a write buffer.

    L{DiskQueue.put<txnsq.nsqd.diskqueue.DiskQueue.put>}, the hot path,
    appends to L{buffer} and advances L{pos} itself rather than through a
    method call per record; everything else goes through the methods here.

    @ivar fileNum: the number of the segment being written.
    @ivar pos: the write position in it, buffered bytes included.
    @ivar fd: its descriptor, or L{None} until it is opened.
    @ivar buffer: the bytes not yet handed to the kernel; they end at
        L{pos}.
    @ivar aligned: whether L{buffer} starts at a record boundary (false
        after a flush that failed midway).
    """

    def __init__(
        self,
        fileName: Callable[[int], str],
        logf: Callable[[str, str], None],
        fileNum: int,
        pos: int,
    ) -> None:
        """
        @param fileName: maps a segment number to its path.
        @param logf: receives a level and a message.
        """
        self._fileName = fileName
        self._logf = logf
        self.fileNum = fileNum
        self.pos = pos
        self.fd: int | None = None
        self.buffer = bytearray()
        self.aligned = True
        #: How many bytes at the start of L{buffer} end a record whose
        #: beginning was written (0 when L{aligned}).
        self.headPending = 0
        self._pendingFsync: list[int] = []

    def open(self) -> None:
        """
        Open segment L{fileNum} (creating it) and seek to L{pos}.

        @raise OSError: the segment could not be opened.
        """
        fileName = self._fileName(self.fileNum)
        fd = os.open(fileName, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if self.pos > 0:
                os.lseek(fd, self.pos, os.SEEK_SET)
        except OSError:
            os.close(fd)
            raise
        self.fd = fd
        self._logf("INFO", f": writeOne() opened {fileName}")

    def flush(self) -> None:
        """
        Hand L{buffer} to the kernel (no fsync).

        @raise OSError: the write failed; what was not written stays
            buffered.
        """
        buf = self.buffer
        if not buf:
            return
        fd = self.fd
        assert fd is not None
        written = 0
        try:
            with memoryview(buf) as view:
                while written < len(view):
                    written += os.write(fd, view[written:])
        finally:
            if written == len(buf):
                self.buffer = bytearray()
                self.aligned = True
                self.headPending = 0
            elif written:
                # Where the record cut by this write ends (a cold path: the
                # write failed), so that unwrittenRecords can count.
                self.headPending = _pendingAfter(buf, self.headPending, written)
                # A copy, not an in-place del: a slice of the buffer may
                # still be referenced (by the exception's traceback).
                self.buffer = buf[written:]
                self.aligned = False

    def roll(self) -> None:
        """
        Finish the segment (it is fsynced by the next sync) and move on to
        the start of the next one, which is opened lazily.

        @raise OSError: the flush failed; nothing changed.
        """
        self.flush()
        if self.fd is not None:
            self._pendingFsync.append(self.fd)
            self.fd = None
        self.fileNum += 1
        self.pos = 0

    def abandon(self) -> None:
        """
        Stop writing to the segment (it turned out unreadable) and move on
        to the start of the next one.  The buffer is flushed first if it
        can be, so that the segment set aside is complete for inspection.
        """
        with contextlib.suppress(OSError):
            self.flush()
        self.close()
        self.fileNum += 1
        self.pos = 0

    def unwrittenRecords(self, skip: int = 0) -> int:
        """
        How many records are still wholly or partly in L{buffer}, leaving
        out those that start before buffer offset C{skip} (a reader took
        them from the buffer).
        """
        buf = self.buffer
        count = 1 if self.headPending and skip <= 0 else 0
        offset = self.headPending
        while offset + 4 <= len(buf):
            if offset >= skip:
                count += 1
            (size,) = unpackLengthFrom(buf, offset)
            offset += 4 + size
        return count

    def close(self) -> None:
        """
        Close the segment, dropping whatever is still buffered.  L{fileNum}
        and L{pos} are left for the caller to set.
        """
        fd = self.fd
        self.fd = None
        self.buffer = bytearray()
        self.aligned = True
        self.headPending = 0
        if fd is not None:
            closeQuietly(fd)

    def takeSyncDescriptors(self) -> list[int]:
        """
        Flush, and hand over the descriptors a sync must fsync: the
        finished segments not fsynced yet, and a duplicate of the current
        one's (the writer may roll and close its own while the sync runs).
        The caller owns them and must close them.

        @raise OSError: the flush (or the duplication) failed; nothing was
            handed over.
        """
        self.flush()
        fds = self._pendingFsync
        if self.fd is not None:
            fds.append(os.dup(self.fd))
        self._pendingFsync = []
        return fds

    def dropPendingSyncs(self) -> None:
        """
        Close the finished segments still owed an fsync, without it: they
        are being deleted, were read already, or the queue is going away.
        """
        for fd in self._pendingFsync:
            closeQuietly(fd)
        self._pendingFsync = []


def _pendingAfter(buf: bytearray, head: int, written: int) -> int:
    """
    How many bytes of C{buf} after its first C{written} finish the record
    that write cut (0 if it stopped at a record boundary), given that the
    buffer's first C{head} bytes finished an earlier one.
    """
    offset = head
    if written < offset:
        return offset - written
    while offset < written:
        (size,) = unpackLengthFrom(buf, offset)
        offset += 4 + size
    return offset - written


def syncAndClose(fds: list[int]) -> None:
    """
    fsync and close every descriptor in C{fds}, even after a failure.

    @raise OSError: the first fsync that failed.
    """
    error: OSError | None = None
    for fd in fds:
        try:
            os.fsync(fd)
        except OSError as e:
            error = error or e
        finally:
            closeQuietly(fd)
    if error is not None:
        raise error
