# -*- test-case-name: tests.nsqd.diskqueue.test_reader -*-
"""
The reading end of a disk queue: the segment being read, its read position,
and what becomes of a segment once read (deleted), found unreadable (set
aside as C{.bad}), or skipped with everything after it (corruption, or the
queue being emptied).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable

from txnsq.nsqd.diskqueue._files import describe, unpackLength
from txnsq.nsqd.diskqueue._writer import SegmentWriter

READ_BUFFER_SIZE = 64 * 1024

#: Records of one size in a row (what a producer of same-sized messages
#: writes) are read in one piece of at most this many bytes, at least
#: L{MIN_RUN} of them (see L{_readRun}).
RUN_BYTES = 64 * 1024
MIN_RUN = 4


def _readRun(
    file: io.BufferedReader[io.FileIO],
    header: bytes,
    stride: int,
    count: int,
    records: list[bytes],
) -> int:
    """
    Read up to C{count} records that repeat C{header} (so each has the
    length already checked), C{stride} bytes apart, appending them to
    C{records}, and leave C{file} just past the last one taken.

    Consuming from disk, two C{read} calls per record were about half of
    nsqd's work per message; here the lengths of a whole run are compared
    at once, a header byte at a time over strided slices, and the records
    are sliced out of one read.

    @return: how many were taken: those before the first record of
        another length, or before a short read's end.
    """
    start = file.tell()
    chunk = file.read(stride * count)
    whole = len(chunk) // stride
    # Byte i of every header is chunk[i::stride]; the run is the longest
    # prefix in which all four match C{header}.
    columns = [chunk[i : whole * stride : stride] for i in range(4)]
    expected = [header[i : i + 1] * whole for i in range(4)]
    taken = whole
    if columns != expected:
        low, high = 0, whole
        while low < high:
            middle = (low + high + 1) // 2
            if all(
                column[:middle] == want[:middle]
                for column, want in zip(columns, expected)
            ):
                low = middle
            else:
                high = middle - 1
        taken = low
    records.extend(
        [
            chunk[offset + 4 : offset + stride]
            for offset in range(0, taken * stride, stride)
        ]
    )
    if taken * stride != len(chunk):
        file.seek(start + taken * stride)
    return taken


class SegmentReader:
    """
    Reads records from segment C{fileNum} at C{pos}, following a
    L{SegmentWriter}: it never reads past the writer's position, and when
    it meets something it cannot read past (an unreadable write segment, a
    read position beyond the write position) it moves the writer on too.

    L{DiskQueue.get<txnsq.nsqd.diskqueue.DiskQueue.get>} works on this
    state directly, as it runs once per record: it compares the two
    positions to know what is left to read, and reads one record (from the
    write buffer or from L{file}), advancing L{pos} and, for the write
    buffer, setting L{behind}.  The methods here do the rest: opening and
    leaving segments, and reading runs of records for
    L{DiskQueue.getMany<txnsq.nsqd.diskqueue.DiskQueue.getMany>}.

    @ivar fileNum: the number of the segment being read.
    @ivar pos: the read position in it.
    @ivar file: the open segment, or L{None} until it is opened.
    @ivar end: the segment's final size once it is no longer the write
        segment; L{None} while it still may grow.
    @ivar behind: L{file}'s position is not L{pos} (records were served
        from the write buffer, or a read stopped short): seek before the
        next read.
    """

    def __init__(
        self,
        writer: SegmentWriter,
        fileName: Callable[[int], str],
        logf: Callable[[str, str], None],
        minMsgSize: int,
        maxMsgSize: int,
        fileNum: int,
        pos: int,
    ) -> None:
        """
        @param writer: the writer this reader follows.
        @param fileName: maps a segment number to its path.
        @param logf: receives a level and a message.
        @param minMsgSize: smallest valid record length.
        @param maxMsgSize: largest valid record length.
        """
        self._writer = writer
        self._fileName = fileName
        self._logf = logf
        self._minMsgSize = minMsgSize
        self._maxMsgSize = maxMsgSize
        self.fileNum = fileNum
        self.pos = pos
        self.file: io.BufferedReader[io.FileIO] | None = None
        self.end: int | None = None
        self.behind = False

    def open(self) -> io.BufferedReader[io.FileIO]:
        """
        Open segment L{fileNum} at L{pos}.  Unless it is the write segment,
        its size is final and becomes L{end}.

        @return: the open segment, now L{file}.
        @raise OSError: the segment could not be opened.
        """
        fileName = self._fileName(self.fileNum)
        file = io.BufferedReader(io.FileIO(fileName, "r"), READ_BUFFER_SIZE)
        try:
            self._logf("INFO", f": readOne() opened {fileName}")
            if self.pos > 0:
                file.seek(self.pos)
            if self.fileNum < self._writer.fileNum:
                self.end = os.fstat(file.fileno()).st_size
            else:
                self.end = None
        except OSError:
            file.close()
            raise
        self.file = file
        return file

    def diskEnd(self) -> int | None:
        """
        @return: where the bytes on disk end in the open segment: L{end},
            or for the write segment what has left the write buffer.
        """
        end = self.end
        writer = self._writer
        if end is None and self.fileNum == writer.fileNum:
            end = writer.pos - len(writer.buffer)
        return end

    def readMany(self, limit: int, end: int, records: list[bytes]) -> None:
        """
        Append to C{records} the records that lie wholly before C{end} in
        the open segment, until C{records} holds C{limit}: the fast path of
        L{DiskQueue.getMany<txnsq.nsqd.diskqueue.DiskQueue.getMany>}, for a
        reader that is not L{behind}.

        Anything unusual (an invalid length, a short read) stops it with
        L{behind} set, leaving L{DiskQueue.get} to read that record again
        and report it.

        @raise OSError: reading failed; the records appended so far were
            read (L{pos} is past them).
        """
        file = self.file
        assert file is not None
        append = records.append
        unpack = unpackLength
        minSize = self._minMsgSize
        maxSize = self._maxMsgSize
        pos = self.pos
        runs = True
        try:
            while len(records) < limit and pos + 4 <= end:
                header = file.read(4)
                if len(header) == 4:
                    (size,) = unpack(header)
                    if minSize <= size <= maxSize and pos + 4 + size <= end:
                        data = file.read(size)
                        if len(data) == size:
                            pos += 4 + size
                            append(data)
                            if runs:
                                stride = 4 + size
                                count = min(
                                    limit - len(records),
                                    (end - pos) // stride,
                                    RUN_BYTES // stride,
                                )
                                if count >= MIN_RUN:
                                    taken = _readRun(
                                        file, header, stride, count, records
                                    )
                                    pos += taken * stride
                                    # A run cut short by a record of another
                                    # size: read one by one from here on.
                                    runs = taken == count
                            continue
                self.behind = True
                break
        finally:
            self.pos = pos

    def close(self) -> None:
        """
        Close the segment; the positions stay.
        """
        file = self.file
        self.file = None
        self.end = None
        self.behind = False
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()

    def finish(self) -> None:
        """
        Close and delete the segment, read to its end, and move on to the
        start of the next one.  A failed delete is only logged.
        """
        oldFileNum = self.fileNum
        self.close()
        self.fileNum += 1
        self.pos = 0
        fileName = self._fileName(oldFileNum)
        try:
            os.remove(fileName)
        except OSError as e:
            self._logf("ERROR", f" failed to Remove({fileName}) - {describe(e)}")

    def setAside(self, reason: str) -> None:
        """
        Give up on the segment, unreadable at L{pos} for C{reason}: close
        it, rename it to C{<segment>.bad} for an operator to inspect, and
        move on to the start of the next one.  If it is the write segment,
        the writer moves on too.  All this is logged; a failed rename is
        only logged.
        """
        badFileName = self._fileName(self.fileNum)
        self._logf("ERROR", f" reading at {self.pos} of {badFileName} - {reason}")
        self.close()
        if self.fileNum == self._writer.fileNum:
            # The write segment itself is unreadable: write elsewhere too.
            self._writer.abandon()
        badRenameFileName = badFileName + ".bad"
        self._logf(
            "WARNING",
            f" jump to next file and saving bad file as {badRenameFileName}",
        )
        try:
            os.rename(badFileName, badRenameFileName)
        except OSError:
            self._logf(
                "ERROR",
                f" failed to rename bad diskqueue file {badFileName}"
                f" to {badRenameFileName}",
            )
        self.fileNum += 1
        self.pos = 0

    def skipIfPastWriter(self) -> bool:
        """
        Once nothing is left to read, check that the read position is the
        write position.  If it is past it (corrupt metadata), log that and
        L{skipToNextRWFile}.

        @return: whether it skipped.
        """
        readFileNum = self.fileNum
        readPos = self.pos
        writeFileNum = self._writer.fileNum
        writePos = self._writer.pos
        if readFileNum == writeFileNum and readPos == writePos:
            return False
        if readFileNum > writeFileNum:
            self._logf(
                "ERROR",
                f" readFileNum > writeFileNum ({readFileNum} > {writeFileNum}),"
                " corruption, skipping to next writeFileNum and resetting 0...",
            )
        if readPos > writePos:
            self._logf(
                "ERROR",
                f" readPos > writePos ({readPos} > {writePos}),"
                " corruption, skipping to next writeFileNum and resetting 0...",
            )
        self.skipToNextRWFile()
        return True

    def skipToNextRWFile(self) -> OSError | None:
        """
        Drop everything not read yet: close both segments, delete segments
        L{fileNum} to the writer's, and move both ends to the start of a
        segment past them all.  Failed deletes are logged.

        @return: the first failed delete, if any.
        """
        writer = self._writer
        self.close()
        writer.close()
        # Segments owed an fsync are being deleted or were read already;
        # holding their descriptors would only keep disk space in use.
        writer.dropPendingSyncs()
        error: OSError | None = None
        for fileNum in range(self.fileNum, writer.fileNum + 1):
            try:
                os.remove(self._fileName(fileNum))
            except FileNotFoundError:
                pass
            except OSError as e:
                self._logf("ERROR", f" failed to remove data file - {describe(e)}")
                error = error or e
        # Go continues at writeFileNum + 1; past readFileNum as well, so that
        # corrupt metadata can never make us write over a segment.
        nextFileNum = max(self.fileNum, writer.fileNum) + 1
        self.fileNum = writer.fileNum = nextFileNum
        self.pos = writer.pos = 0
        return error
