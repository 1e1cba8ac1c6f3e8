# -*- test-case-name: tests.nsqd.diskqueue.test_metadata -*-
"""
A disk queue's metadata file, C{<name>.diskqueue.meta.dat}: the text
C{"<depth>\\n<readFileNum>,<readPos>\\n<writeFileNum>,<writePos>\\n"},
always replaced atomically (temporary file, fsync, rename), and where a
queue resumes from it at startup.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import threading
from collections.abc import Callable
from typing import NamedTuple

from txnsq.nsqd.diskqueue._files import (
    countRecords,
    describe,
    existingSegments,
    removeQuietly,
    segmentFileName,
    writeAll,
)

# go-diskqueue reads the metadata with fmt.Fscanf("%d\n%d,%d\n%d,%d\n"),
# which ignores whatever follows the last number.
_META_PATTERN = re.compile(rb"([-+]?\d+)\n([-+]?\d+),([-+]?\d+)\n([-+]?\d+),([-+]?\d+)")


class MetaData(NamedTuple):
    """
    What the metadata file records: how many records are left to read, and
    where reading and writing are.
    """

    depth: int
    readFileNum: int
    readPos: int
    writeFileNum: int
    writePos: int

    def format(self) -> bytes:
        """
        @return: the file's text, as go-diskqueue writes it.
        """
        return b"%d\n%d,%d\n%d,%d\n" % self

    @classmethod
    def parse(cls, text: bytes) -> MetaData:
        """
        Read the file's text as go-diskqueue does, but refuse negative
        positions (a negative depth is left to the queue's tail check).

        @raise ValueError: the text is not usable; the message says why.
        """
        match = _META_PATTERN.match(text)
        if match is None:
            raise ValueError(f"unexpected metadata {text[:64]!r}")
        metaData = cls(*(int(group) for group in match.groups()))
        if min(metaData[1:]) < 0:
            raise ValueError(f"negative position in {text[:64]!r}")
        return metaData


class MetaDataFile:
    """
    The metadata file of one queue.

    Threading: L{newSnapshot} and L{remove} run on the queue's thread;
    L{replace} may run in a worker thread (a sync job) meanwhile.
    Snapshots are numbered, and L{replace} writes one only if nothing newer
    was written or removed since it was taken.  The lock orders those
    writes against removal.

    @ivar path: the file's path.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seq = 0
        self._seqDone = 0

    def read(self) -> bytes | None:
        """
        @return: the start of the file (all that a valid one holds), or
            L{None} if there is no file.

        @raise OSError: the file exists but cannot be read.
        """
        try:
            with open(self.path, "rb") as f:
                return f.read(4096)
        except FileNotFoundError:
            return None

    def newSnapshot(self) -> int:
        """
        Number a snapshot about to be taken; L{replace} lets later numbers
        win.  Call it on the queue's thread.
        """
        self._seq += 1
        return self._seq

    def replace(self, text: bytes, seq: int) -> None:
        """
        Atomically replace the file with C{text}, the snapshot numbered
        C{seq}, unless a newer snapshot was written or the file removed
        meanwhile.  Safe to call from a worker thread.

        @raise OSError: the file could not be written; the old one stays.
        """
        with self._lock:
            if seq <= self._seqDone:
                return
            tmpFileName = f"{self.path}.{random.getrandbits(63)}.tmp"
            fd = os.open(tmpFileName, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                try:
                    writeAll(fd, text)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.rename(tmpFileName, self.path)
            except OSError:
                removeQuietly(tmpFileName)
                raise
            self._seqDone = seq

    def remove(self) -> None:
        """
        Remove the file, and make every snapshot numbered so far stale so
        that no sync job still running writes it back.

        @raise OSError: the file exists but could not be removed.
        """
        with self._lock:
            # Any sync job still running carries an older snapshot.
            self._seqDone = self._seq
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)


def restoreMetaData(
    metaDataFile: MetaDataFile,
    dataPath: str,
    name: str,
    minMsgSize: int,
    maxMsgSize: int,
    logf: Callable[[str, str], None],
) -> tuple[MetaData, bool]:
    """
    Where queue C{name} resumes: the positions its metadata file records,
    corrected for what is on disk.

    A missing file means a new queue, unless segments of the queue are on
    disk: the process was killed before the queue's first metadata sync
    (which follows its first writes by up to a queue scan), and they are
    read from the first and written after the last, all their records
    counted into the depth (Go would write over segment 0, losing
    acknowledged messages).  A file that cannot be read or
    parsed is logged, and the queue starts empty I{after} the segments
    already on disk, which are left for an operator to inspect (Go would
    reuse segment 0 and overwrite it).  A write segment longer than the
    recorded write position (the metadata was not synced at the last
    shutdown) is left alone: writing moves on to the next segment, and the
    records beyond the position are counted into the depth.

    @param logf: receives a level and a message.
    @return: the positions, and whether the metadata file must be
        rewritten (it was unusable).
    """
    try:
        text = metaDataFile.read()
    except OSError as e:
        return _startAfterExistingSegments(dataPath, name, describe(e), logf), True
    if text is None:
        return _resumeWithoutMetaData(dataPath, name, minMsgSize, maxMsgSize, logf)
    try:
        metaData = MetaData.parse(text)
    except ValueError as e:
        return _startAfterExistingSegments(dataPath, name, str(e), logf), True

    # Metadata older than the data (not synced at the last shutdown):
    # writing at writePos would overwrite records, so write elsewhere and
    # let the reader salvage what lies beyond the stale positions.
    writePos = metaData.writePos
    writeFileName = segmentFileName(dataPath, name, metaData.writeFileNum)
    try:
        fileSize = os.stat(writeFileName).st_size
    except OSError:
        fileSize = 0
    salvaged = 0
    writeFileNum = metaData.writeFileNum
    if writePos < fileSize:
        logf(
            "WARNING",
            f" {writeFileName} metadata writePos {writePos}"
            f" < file size of {fileSize}, skipping to new file",
        )
        # Go's reader reads those records whatever the depth says; nsqd's
        # channels read only while the depth is positive, so count them in.
        salvaged = countRecords(
            writeFileName, writePos, fileSize, minMsgSize, maxMsgSize
        )
        writeFileNum += 1
    # Segments past the write segment: written after a restart that had
    # already skipped to a new file, and killed before the metadata said so
    # (Go would write over them).  Read on, and write after them.
    later = sorted(
        n for n in existingSegments(dataPath, name) if n > metaData.writeFileNum
    )
    if later:
        logf(
            "WARNING",
            f" {len(later)} data files past the metadata's write file"
            f" {metaData.writeFileNum}, skipping to file {later[-1] + 1}",
        )
        for num in later:
            salvaged += _countSegment(
                segmentFileName(dataPath, name, num), minMsgSize, maxMsgSize
            )
        writeFileNum = later[-1] + 1
    if writeFileNum != metaData.writeFileNum:
        metaData = metaData._replace(
            depth=metaData.depth + salvaged, writeFileNum=writeFileNum, writePos=0
        )
    return metaData, False


def _countSegment(fileName: str, minMsgSize: int, maxMsgSize: int) -> int:
    # The whole valid records of a segment (0 if it cannot be read).
    try:
        size = os.stat(fileName).st_size
    except OSError:
        return 0
    return countRecords(fileName, 0, size, minMsgSize, maxMsgSize)


def _resumeWithoutMetaData(
    dataPath: str,
    name: str,
    minMsgSize: int,
    maxMsgSize: int,
    logf: Callable[[str, str], None],
) -> tuple[MetaData, bool]:
    nums = sorted(existingSegments(dataPath, name))
    if not nums:
        return MetaData(0, 0, 0, 0, 0), False
    depth = sum(
        _countSegment(segmentFileName(dataPath, name, num), minMsgSize, maxMsgSize)
        for num in nums
    )
    start = nums[-1] + 1
    logf(
        "WARNING",
        f" no metadata but {len(nums)} data files (killed before its first"
        f" sync): reading {depth} messages from file {nums[0]}, writing from"
        f" file {start}",
    )
    # Rewritten at once, so the next restart finds the positions.
    return MetaData(depth, nums[0], 0, start, 0), True


def _startAfterExistingSegments(
    dataPath: str, name: str, reason: str, logf: Callable[[str, str], None]
) -> MetaData:
    nums = existingSegments(dataPath, name)
    start = max(nums) + 1 if nums else 0
    logf(
        "ERROR",
        f" failed to retrieveMetaData - {reason}; starting empty at file"
        f" {start} ({len(nums)} existing data files left untouched)",
    )
    return MetaData(0, start, 0, start, 0)
