"""
Tests for L{txnsq.nsqd.diskqueue._writer}: appending records to a disk
queue's segment files.
"""

from __future__ import annotations

import errno
import os
import stat

from txnsq.nsqd.diskqueue._files import packLength
from txnsq.nsqd.diskqueue._writer import SegmentWriter, syncAndClose

from ._support import SegmentTestCase, readBytes, recordBytes, writeBytes

_realWrite = os.write
_realFsync = os.fsync


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
