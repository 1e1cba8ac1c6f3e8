"""
Tests for L{txnsq.nsqd.diskqueue._files}, L{txnsq.nsqd.diskqueue._writer}
and L{txnsq.nsqd.diskqueue._reader}: the segment files of a disk queue.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import struct

from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqd.diskqueue._files import (
    countRecords,
    existingSegments,
    metaDataFileName,
    packLength,
    segmentFileName,
    unpackLength,
    unpackLengthFrom,
)
from txnsq.nsqd.diskqueue._reader import SegmentReader
from txnsq.nsqd.diskqueue._writer import SegmentWriter, syncAndClose

MIN_MSG_SIZE = 26
MAX_MSG_SIZE = 1024

_realWrite = os.write
_realFsync = os.fsync


def recordBytes(size: int, fill: bytes = b"r") -> bytes:
    """
    One framed record of C{size} payload bytes (C{4 + size} on disk).
    """
    return struct.pack(">i", size) + fill * size


def readBytes(path: str) -> bytes:
    """
    The whole content of a file.
    """
    with open(path, "rb") as f:
        return f.read()


def writeBytes(path: str, data: bytes) -> None:
    """
    Replace the content of a file.
    """
    with open(path, "wb") as f:
        f.write(data)


class SegmentTestCase(SynchronousTestCase):
    """
    A fresh directory holding the segments of queue C{q}, and a log.
    """

    def setUp(self) -> None:
        self.directory = self.mktemp()
        os.makedirs(self.directory)
        self.fileName = functools.partial(segmentFileName, self.directory, "q")
        self.logged: list[tuple[str, str]] = []

    def logf(self, level: str, message: str) -> None:
        """
        Record a log event.
        """
        self.logged.append((level, message))

    def newWriter(self, fileNum: int = 0, pos: int = 0) -> SegmentWriter:
        """
        A writer at C{fileNum}, C{pos}, closed at the end of the test.
        """
        writer = SegmentWriter(self.fileName, self.logf, fileNum, pos)
        self.addCleanup(writer.dropPendingSyncs)
        self.addCleanup(writer.close)
        return writer

    def newReader(
        self, writer: SegmentWriter, fileNum: int = 0, pos: int = 0
    ) -> SegmentReader:
        """
        A reader following C{writer} from C{fileNum}, C{pos}, closed at the
        end of the test.
        """
        reader = SegmentReader(
            writer, self.fileName, self.logf, MIN_MSG_SIZE, MAX_MSG_SIZE, fileNum, pos
        )
        self.addCleanup(reader.close)
        return reader

    def segments(self) -> list[str]:
        """
        The sorted names of the files in the directory.
        """
        return sorted(os.listdir(self.directory))


class FilesTests(SegmentTestCase):
    """
    File names and record framing.
    """

    def test_names(self) -> None:
        """
        Segments and the metadata file are named as go-diskqueue names them.
        """
        self.assertEqual(
            segmentFileName("/d", "t:c", 12),
            os.path.join("/d", "t:c.diskqueue.000012.dat"),
        )
        self.assertEqual(
            metaDataFileName("/d", "t:c"), os.path.join("/d", "t:c.diskqueue.meta.dat")
        )

    def test_existingSegments(self) -> None:
        """
        L{existingSegments} lists the numbers of the queue's segments only.
        """
        for name in [
            "q.diskqueue.000003.dat",
            "q.diskqueue.000010.dat",
            "q.diskqueue.000011.dat.bad",
            "q.diskqueue.meta.dat",
            "qq.diskqueue.000004.dat",
        ]:
            writeBytes(os.path.join(self.directory, name), b"")
        self.assertEqual(sorted(existingSegments(self.directory, "q")), [3, 10])
        self.assertEqual(existingSegments(os.path.join(self.directory, "no"), "q"), [])

    def test_framing(self) -> None:
        """
        The length header is an int32, big-endian.
        """
        self.assertEqual(packLength(258), b"\x00\x00\x01\x02")
        self.assertEqual(unpackLength(b"\xff\xff\xff\xfe"), (-2,))
        self.assertEqual(unpackLengthFrom(b"xx\x00\x00\x00\x1a", 2), (26,))

    def test_countRecords(self) -> None:
        """
        L{countRecords} counts whole valid records from C{start}, up to the
        first invalid or truncated one.
        """
        path = self.fileName(0)
        data = recordBytes(30) + recordBytes(26) + recordBytes(27)
        writeBytes(path, data + recordBytes(5) + recordBytes(30))
        self.assertEqual(countRecords(path, 0, len(data), 26, 1024), 3)
        self.assertEqual(countRecords(path, 34, len(data), 26, 1024), 2)
        self.assertEqual(countRecords(path, 0, len(data) - 1, 26, 1024), 2)
        self.assertEqual(countRecords(path, 0, len(data) + 100, 26, 1024), 3)
        self.assertEqual(countRecords(self.fileName(1), 0, 100, 26, 1024), 0)


class SegmentWriterTests(SegmentTestCase):
    """
    L{SegmentWriter} appends to the write segment through its buffer.
    """

    def append(self, writer: SegmentWriter, data: bytes) -> None:
        """
        Append a record as L{DiskQueue.put} does.
        """
        writer.buffer += packLength(len(data)) + data
        writer.pos += 4 + len(data)

    def test_openCreates(self) -> None:
        """
        L{SegmentWriter.open} creates the segment with mode 0600 and logs
        as go-diskqueue does.
        """
        writer = self.newWriter()
        writer.open()
        path = self.fileName(0)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(self.logged, [("INFO", f": writeOne() opened {path}")])

    def test_openSeeks(self) -> None:
        """
        An existing segment is written from L{SegmentWriter.pos}, over what
        lies there.
        """
        writeBytes(self.fileName(2), recordBytes(30, b"a") + recordBytes(30, b"b"))
        writer = self.newWriter(2, 34)
        writer.open()
        self.append(writer, b"c" * 30)
        writer.flush()
        self.assertEqual(
            readBytes(self.fileName(2)), recordBytes(30, b"a") + recordBytes(30, b"c")
        )

    def test_flush(self) -> None:
        """
        L{SegmentWriter.flush} writes the buffer out and empties it.
        """
        writer = self.newWriter()
        writer.open()
        self.append(writer, b"a" * 30)
        self.assertEqual(readBytes(self.fileName(0)), b"")
        writer.flush()
        self.assertEqual(readBytes(self.fileName(0)), recordBytes(30, b"a"))
        self.assertEqual((writer.buffer, writer.aligned), (bytearray(), True))

    def test_partialFlush(self) -> None:
        """
        After a flush that failed midway, the rest stays buffered and the
        buffer is no longer aligned on a record; the next flush completes it.
        """
        writer = self.newWriter()
        writer.open()
        self.append(writer, b"a" * 30)
        calls: list[int] = []

        def partialWrite(fd: int, data: bytes) -> int:
            calls.append(len(data))
            if len(calls) > 1:
                raise OSError(errno.ENOSPC, "No space left on device")
            return _realWrite(fd, bytes(data)[:10])

        patcher = self.patch(os, "write", partialWrite)
        self.assertRaises(OSError, writer.flush)
        self.assertEqual(bytes(writer.buffer), recordBytes(30, b"a")[10:])
        self.assertFalse(writer.aligned)
        patcher.restore()
        writer.flush()
        self.assertEqual(readBytes(self.fileName(0)), recordBytes(30, b"a"))
        self.assertTrue(writer.aligned)

    def test_roll(self) -> None:
        """
        L{SegmentWriter.roll} flushes, moves on to the start of the next
        segment, and keeps the old one's descriptor for the next sync.
        """
        writer = self.newWriter()
        writer.open()
        self.append(writer, b"a" * 30)
        writer.roll()
        self.assertEqual((writer.fileNum, writer.pos, writer.fd), (1, 0, None))
        self.assertEqual(readBytes(self.fileName(0)), recordBytes(30, b"a"))
        writer.open()
        self.append(writer, b"b" * 30)
        fsynced: list[int] = []

        def fsync(fd: int) -> None:
            fsynced.append(fd)
            _realFsync(fd)

        self.patch(os, "fsync", fsync)
        fds = writer.takeSyncDescriptors()
        self.assertEqual(readBytes(self.fileName(1)), recordBytes(30, b"b"))
        # The finished segment's descriptor, and a duplicate of the open
        # one's.
        self.assertEqual(len(fds), 2)
        self.assertNotIn(writer.fd, fds)
        syncAndClose(fds)
        self.assertEqual(fsynced, fds)
        for fd in fds:
            self.assertRaises(OSError, os.fstat, fd)

    def test_syncAndCloseFailure(self) -> None:
        """
        L{syncAndClose} closes every descriptor even when an fsync fails,
        then raises the first failure.
        """
        fds = [os.open(self.fileName(n), os.O_RDWR | os.O_CREAT) for n in range(3)]
        failures = iter(
            [OSError(errno.EIO, "first"), None, OSError(errno.EIO, "second")]
        )

        def fsync(fd: int) -> None:
            failure = next(failures)
            if failure is not None:
                raise failure

        self.patch(os, "fsync", fsync)
        with self.assertRaises(OSError) as caught:
            syncAndClose(fds)
        self.assertEqual(caught.exception.strerror, "first")
        for fd in fds:
            self.assertRaises(OSError, os.fstat, fd)

    def test_dropPendingSyncs(self) -> None:
        """
        L{SegmentWriter.dropPendingSyncs} closes the finished segments'
        descriptors without a sync; the next sync owes them nothing.
        """
        writer = self.newWriter()
        writer.open()
        fd = writer.fd
        assert fd is not None
        writer.roll()
        writer.dropPendingSyncs()
        self.assertRaises(OSError, os.fstat, fd)
        self.assertEqual(writer.takeSyncDescriptors(), [])

    def test_abandon(self) -> None:
        """
        L{SegmentWriter.abandon} flushes what it can, closes the segment and
        moves on to the start of the next one.
        """
        writer = self.newWriter()
        writer.open()
        self.append(writer, b"a" * 30)
        writer.abandon()
        self.assertEqual((writer.fileNum, writer.pos, writer.fd), (1, 0, None))
        self.assertEqual(readBytes(self.fileName(0)), recordBytes(30, b"a"))

    def test_closeDropsBuffer(self) -> None:
        """
        L{SegmentWriter.close} drops what is still buffered.
        """
        writer = self.newWriter()
        writer.open()
        self.append(writer, b"a" * 30)
        writer.close()
        self.assertEqual((writer.buffer, writer.fd), (bytearray(), None))
        self.assertEqual(readBytes(self.fileName(0)), b"")


class SegmentReaderTests(SegmentTestCase):
    """
    L{SegmentReader} reads segments behind a L{SegmentWriter}.
    """

    def test_openFinished(self) -> None:
        """
        A segment before the writer's has a final size, L{SegmentReader.end};
        the reader starts at its position.
        """
        writeBytes(self.fileName(0), recordBytes(30, b"a") + recordBytes(30, b"b"))
        reader = self.newReader(self.newWriter(1), 0, 34)
        file = reader.open()
        self.assertIs(reader.file, file)
        self.assertEqual(reader.end, 68)
        self.assertEqual(file.read(4), packLength(30))
        self.assertEqual(
            self.logged, [("INFO", f": readOne() opened {self.fileName(0)}")]
        )

    def test_openWriteSegment(self) -> None:
        """
        The write segment may still grow: it has no L{SegmentReader.end},
        and L{SegmentReader.diskEnd} is where the writer's buffer starts.
        """
        writer = self.newWriter()
        writer.open()
        writer.buffer += recordBytes(30)
        writer.pos += 34
        writer.flush()
        writer.buffer += recordBytes(30)
        writer.pos += 34
        reader = self.newReader(writer)
        reader.open()
        self.assertIsNone(reader.end)
        self.assertEqual(reader.diskEnd(), 34)

    def test_openMissing(self) -> None:
        """
        L{SegmentReader.open} raises L{OSError} for a missing segment.
        """
        reader = self.newReader(self.newWriter(1))
        self.assertRaises(OSError, reader.open)
        self.assertIsNone(reader.file)

    def test_readMany(self) -> None:
        """
        L{SegmentReader.readMany} appends the records before C{end}, up to
        C{limit} in the list, and advances the position past them.
        """
        writeBytes(self.fileName(0), b"".join(recordBytes(26 + i) for i in range(5)))
        reader = self.newReader(self.newWriter(1))
        reader.open()
        records = [b"earlier"]
        reader.readMany(3, 1000, records)
        self.assertEqual(records, [b"earlier", b"r" * 26, b"r" * 27])
        self.assertEqual(reader.pos, 30 + 31)
        reader.readMany(10, 30 + 31 + 32 + 33, records)
        self.assertEqual(records[3:], [b"r" * 28, b"r" * 29])
        self.assertEqual(reader.pos, 30 + 31 + 32 + 33)
        self.assertFalse(reader.behind)

    def test_readManyStopsAtInvalid(self) -> None:
        """
        An invalid length stops L{SegmentReader.readMany} before that
        record, with L{SegmentReader.behind} set so that it is read again.
        """
        writeBytes(self.fileName(0), recordBytes(30) + recordBytes(5))
        reader = self.newReader(self.newWriter(1))
        reader.open()
        records: list[bytes] = []
        reader.readMany(10, 43, records)
        self.assertEqual(records, [b"r" * 30])
        self.assertEqual(reader.pos, 34)
        self.assertTrue(reader.behind)

    def test_readManyStopsAtEnd(self) -> None:
        """
        L{SegmentReader.readMany} reads nothing whose header crosses C{end}.
        A record whose payload crosses it is not read either, and as its
        header was, the reader is then L{SegmentReader.behind}.
        """
        writeBytes(self.fileName(0), recordBytes(30) + recordBytes(30))
        reader = self.newReader(self.newWriter(1))
        reader.open()
        records: list[bytes] = []
        reader.readMany(10, 37, records)
        self.assertEqual((records, reader.pos, reader.behind), ([b"r" * 30], 34, False))
        reader.readMany(10, 67, records)
        self.assertEqual((records, reader.pos, reader.behind), ([b"r" * 30], 34, True))

    def test_readManyError(self) -> None:
        """
        When reading fails, the error is raised and the position is past the
        records already appended.
        """
        reader = self.newReader(self.newWriter(1))
        reader.file = _FailingFile(recordBytes(30) * 3, 80)  # type: ignore[assignment]
        records: list[bytes] = []
        self.assertRaises(OSError, reader.readMany, 10, 102, records)
        self.assertEqual(records, [b"r" * 30, b"r" * 30])
        self.assertEqual(reader.pos, 68)

    def test_finish(self) -> None:
        """
        L{SegmentReader.finish} closes and deletes the segment and moves on
        to the start of the next one.
        """
        writeBytes(self.fileName(0), recordBytes(30))
        reader = self.newReader(self.newWriter(1), 0, 34)
        reader.open()
        reader.finish()
        self.assertEqual((reader.fileNum, reader.pos, reader.file), (1, 0, None))
        self.assertEqual(self.segments(), [])
        self.assertEqual(self.logged[1:], [])

    def test_finishRemoveFails(self) -> None:
        """
        A segment that cannot be deleted is logged; the reader moves on.
        """
        reader = self.newReader(self.newWriter(1))
        reader.finish()
        self.assertEqual(reader.fileNum, 1)
        [(level, message)] = self.logged
        self.assertEqual(level, "ERROR")
        self.assertIn(f" failed to Remove({self.fileName(0)}) - ", message)

    def test_setAside(self) -> None:
        """
        L{SegmentReader.setAside} renames the segment to C{.bad}, logging
        as go-diskqueue does, and moves on; the writer stays where it is.
        """
        writeBytes(self.fileName(0), recordBytes(5))
        writer = self.newWriter(1)
        reader = self.newReader(writer)
        reader.open()
        reader.setAside("invalid message read size (5)")
        self.assertEqual((reader.fileNum, reader.pos, reader.file), (1, 0, None))
        self.assertEqual((writer.fileNum, writer.pos), (1, 0))
        self.assertEqual(self.segments(), ["q.diskqueue.000000.dat.bad"])
        bad = self.fileName(0)
        self.assertEqual(
            self.logged[1:],
            [
                ("ERROR", f" reading at 0 of {bad} - invalid message read size (5)"),
                ("WARNING", f" jump to next file and saving bad file as {bad}.bad"),
            ],
        )

    def test_setAsideWriteSegment(self) -> None:
        """
        When the unreadable segment is the write segment, the writer flushes
        into it, then moves on to the next segment too.
        """
        writeBytes(self.fileName(0), recordBytes(5))
        writer = self.newWriter(0, 9)
        writer.open()
        writer.buffer += recordBytes(30)
        writer.pos += 34
        reader = self.newReader(writer)
        reader.setAside("invalid message read size (5)")
        self.assertEqual((reader.fileNum, reader.pos), (1, 0))
        self.assertEqual((writer.fileNum, writer.pos, writer.fd), (1, 0, None))
        self.assertEqual(
            readBytes(self.fileName(0) + ".bad"), recordBytes(5) + recordBytes(30)
        )

    def test_setAsideRenameFails(self) -> None:
        """
        A segment that cannot be renamed is logged; the reader moves on.
        """
        reader = self.newReader(self.newWriter(1))
        reader.setAside("EOF")
        self.assertEqual(reader.fileNum, 1)
        self.assertEqual(self.logged[-1][0], "ERROR")
        self.assertIn("failed to rename bad diskqueue file", self.logged[-1][1])

    def test_notPastWriter(self) -> None:
        """
        A reader exactly at the writer's position does not skip.
        """
        writer = self.newWriter(2, 34)
        reader = self.newReader(writer, 2, 34)
        self.assertFalse(reader.skipIfPastWriter())
        self.assertEqual((reader.fileNum, writer.fileNum, self.logged), (2, 2, []))

    def test_pastWriter(self) -> None:
        """
        A reader past the writer's position logs the corruption, and both
        skip to a fresh segment past them.
        """
        writer = self.newWriter(2, 34)
        reader = self.newReader(writer, 3, 68)
        self.assertTrue(reader.skipIfPastWriter())
        self.assertEqual((reader.fileNum, reader.pos), (4, 0))
        self.assertEqual((writer.fileNum, writer.pos), (4, 0))
        self.assertEqual(
            [message for level, message in self.logged],
            [
                " readFileNum > writeFileNum (3 > 2), corruption, skipping to"
                " next writeFileNum and resetting 0...",
                " readPos > writePos (68 > 34), corruption, skipping to next"
                " writeFileNum and resetting 0...",
            ],
        )

    def test_skipToNextRWFile(self) -> None:
        """
        L{SegmentReader.skipToNextRWFile} deletes the segments from the
        reader's to the writer's, closes both and moves both past them.
        """
        for fileNum in range(4):
            writeBytes(self.fileName(fileNum), recordBytes(30))
        writer = self.newWriter(2, 34)
        writer.open()
        writer.roll()
        reader = self.newReader(writer, 1, 0)
        reader.open()
        self.assertIsNone(reader.skipToNextRWFile())
        self.assertEqual(self.segments(), ["q.diskqueue.000000.dat"])
        self.assertEqual((reader.fileNum, reader.pos, reader.file), (4, 0, None))
        self.assertEqual((writer.fileNum, writer.pos, writer.fd), (4, 0, None))
        self.assertEqual(writer.takeSyncDescriptors(), [])

    def test_skipToNextRWFileRemoveFails(self) -> None:
        """
        Segments that cannot be deleted are logged, and the first failure is
        returned.
        """
        os.mkdir(self.fileName(0))
        reader = self.newReader(self.newWriter(0))
        error = reader.skipToNextRWFile()
        self.assertIsInstance(error, OSError)
        self.assertEqual(reader.fileNum, 1)
        self.assertEqual(self.logged[0][0], "ERROR")
        self.assertIn(" failed to remove data file - ", self.logged[0][1])


class _FailingFile:
    """
    A file over C{data} whose reads fail once they would go past C{failAt}.
    """

    def __init__(self, data: bytes, failAt: int) -> None:
        self._data = data
        self._pos = 0
        self._failAt = failAt

    def read(self, size: int) -> bytes:
        """
        The next C{size} bytes of C{data}, or an C{EIO} error.
        """
        if self._pos + size > self._failAt:
            raise OSError(errno.EIO, "Input/output error")
        chunk = self._data[self._pos : self._pos + size]
        self._pos += len(chunk)
        return chunk

    def close(self) -> None:
        """
        Nothing to release.
        """
