"""
Tests for L{txnsq.nsqd.diskqueue._reader}: reading a disk queue's segment
files behind its writer.
"""

from __future__ import annotations

import errno
import os

from txnsq.nsqd.diskqueue._files import packLength

from ._support import (
    SegmentTestCase,
    readBytes,
    recordBytes,
    writeBytes,
)


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

    def test_readManyRuns(self) -> None:
        """
        Records of one length in a row are read as a run; a record of
        another length ends the run and starts the next, in order.
        """
        lengths = [26] * 10 + [27, 40, 40] + [30] * 9
        records = [bytes([65 + i % 26]) * n for i, n in enumerate(lengths)]
        data = b"".join(packLength(len(r)) + r for r in records)
        writeBytes(self.fileName(0), data)
        reader = self.newReader(self.newWriter(1))
        reader.open()
        read: list[bytes] = []
        reader.readMany(100, len(data), read)
        self.assertEqual(read, records)
        self.assertEqual((reader.pos, reader.behind), (len(data), False))

    def test_readManyRunLimits(self) -> None:
        """
        A run stops at C{limit} and before C{end}, and the next call goes on
        from there.
        """
        records = [bytes([65 + i]) * 26 for i in range(20)]
        data = b"".join(packLength(26) + r for r in records)
        writeBytes(self.fileName(0), data)
        reader = self.newReader(self.newWriter(1))
        reader.open()
        read: list[bytes] = []
        reader.readMany(7, len(data), read)
        self.assertEqual((read, reader.pos), (records[:7], 7 * 30))
        reader.readMany(100, 16 * 30 + 3, read)
        self.assertEqual(
            (read, reader.pos, reader.behind), (records[:16], 16 * 30, False)
        )
        reader.readMany(100, len(data), read)
        self.assertEqual((read, reader.pos), (records, len(data)))

    def test_readManyRunStopsAtInvalid(self) -> None:
        """
        An invalid length inside a run of records stops the run before it,
        as L{SegmentReader.readMany} stops one by one.
        """
        data = recordBytes(30) * 8 + recordBytes(5) + recordBytes(30) * 8
        writeBytes(self.fileName(0), data)
        reader = self.newReader(self.newWriter(1))
        reader.open()
        records: list[bytes] = []
        reader.readMany(100, len(data), records)
        self.assertEqual(records, [b"r" * 30] * 8)
        self.assertEqual((reader.pos, reader.behind), (8 * 34, True))

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
