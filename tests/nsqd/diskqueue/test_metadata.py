"""
Tests for L{txnsq.nsqd.diskqueue._metadata}.
"""

from __future__ import annotations

import os
import stat
import struct

from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqd.diskqueue._metadata import MetaData, MetaDataFile, restoreMetaData

MIN_MSG_SIZE = 26
MAX_MSG_SIZE = 1024


def recordBytes(size: int) -> bytes:
    """
    One framed record of C{size} payload bytes (C{4 + size} on disk).
    """
    return struct.pack(">i", size) + b"r" * size


class MetaDataTests(SynchronousTestCase):
    """
    L{MetaData} reads and writes go-diskqueue's metadata text.
    """

    def test_format(self) -> None:
        """
        L{MetaData.format} writes C{"%d\\n%d,%d\\n%d,%d\\n"}.
        """
        self.assertEqual(MetaData(5, 0, 34, 3, 102).format(), b"5\n0,34\n3,102\n")

    def test_parseRoundTrip(self) -> None:
        """
        L{MetaData.parse} reads what L{MetaData.format} writes.
        """
        metaData = MetaData(7, 1, 2, 3, 4)
        self.assertEqual(MetaData.parse(metaData.format()), metaData)

    def test_parseIgnoresTrailer(self) -> None:
        """
        Like Go's C{fmt.Fscanf}, parsing stops after the last number, and
        accepts signs.
        """
        self.assertEqual(
            MetaData.parse(b"+3\n0,0\n1,34 and more"), MetaData(3, 0, 0, 1, 34)
        )

    def test_negativeDepth(self) -> None:
        """
        A negative depth is accepted: the queue's tail check repairs it.
        """
        self.assertEqual(MetaData.parse(b"-2\n0,0\n0,0\n").depth, -2)

    def test_negativePosition(self) -> None:
        """
        A negative position is refused with a C{ValueError} saying so.
        """
        with self.assertRaises(ValueError) as caught:
            MetaData.parse(b"0\n0,-1\n0,0\n")
        self.assertIn("negative position", str(caught.exception))

    def test_garbage(self) -> None:
        """
        Text that is not metadata is refused with a C{ValueError} quoting
        its start.
        """
        with self.assertRaises(ValueError) as caught:
            MetaData.parse(b"5\n0,0\n")
        self.assertEqual(str(caught.exception), "unexpected metadata b'5\\n0,0\\n'")


class MetaDataFileTests(SynchronousTestCase):
    """
    L{MetaDataFile} replaces the file atomically and orders snapshots.
    """

    def setUp(self) -> None:
        self.directory = self.mktemp()
        os.makedirs(self.directory)
        self.path = os.path.join(self.directory, "q.diskqueue.meta.dat")
        self.metaDataFile = MetaDataFile(self.path)

    def readText(self) -> bytes:
        """
        The file's content.
        """
        with open(self.path, "rb") as f:
            return f.read()

    def test_readMissing(self) -> None:
        """
        L{MetaDataFile.read} returns L{None} when there is no file.
        """
        self.assertIsNone(self.metaDataFile.read())

    def test_readError(self) -> None:
        """
        L{MetaDataFile.read} raises L{OSError} when the file exists but
        cannot be read.
        """
        os.mkdir(self.path)
        self.assertRaises(OSError, self.metaDataFile.read)

    def test_replace(self) -> None:
        """
        L{MetaDataFile.replace} writes the text in a file of mode 0600 and
        leaves no temporary file behind.
        """
        seq = self.metaDataFile.newSnapshot()
        self.metaDataFile.replace(b"1\n0,0\n0,34\n", seq)
        self.assertEqual(self.readText(), b"1\n0,0\n0,34\n")
        self.assertEqual(self.metaDataFile.read(), b"1\n0,0\n0,34\n")
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)
        self.assertEqual(os.listdir(self.directory), ["q.diskqueue.meta.dat"])

    def test_staleSnapshot(self) -> None:
        """
        A snapshot taken before one already written is not written: sync
        jobs finishing out of order never roll the file back.
        """
        older = self.metaDataFile.newSnapshot()
        newer = self.metaDataFile.newSnapshot()
        self.metaDataFile.replace(b"2\n0,0\n0,68\n", newer)
        self.metaDataFile.replace(b"1\n0,0\n0,34\n", older)
        self.assertEqual(self.readText(), b"2\n0,0\n0,68\n")

    def test_removeInvalidatesSnapshots(self) -> None:
        """
        L{MetaDataFile.remove} removes the file, and a snapshot numbered
        before it is not written afterwards; one numbered after it is.
        """
        seq = self.metaDataFile.newSnapshot()
        self.metaDataFile.replace(b"1\n0,0\n0,34\n", seq)
        stale = self.metaDataFile.newSnapshot()
        self.metaDataFile.remove()
        self.assertFalse(os.path.exists(self.path))
        self.metaDataFile.replace(b"2\n0,0\n0,68\n", stale)
        self.assertFalse(os.path.exists(self.path))
        fresh = self.metaDataFile.newSnapshot()
        self.metaDataFile.replace(b"0\n1,0\n1,0\n", fresh)
        self.assertEqual(self.readText(), b"0\n1,0\n1,0\n")

    def test_removeMissing(self) -> None:
        """
        Removing a file that does not exist is not an error.
        """
        self.metaDataFile.remove()

    def test_replaceFailure(self) -> None:
        """
        When the temporary file cannot be renamed over the file, the old
        file stays, the temporary file is removed and the error is raised;
        the same snapshot can be written later.
        """
        self.metaDataFile.replace(b"1\n0,0\n0,34\n", self.metaDataFile.newSnapshot())
        seq = self.metaDataFile.newSnapshot()

        def failingRename(source: str, destination: str) -> None:
            raise OSError(5, "Input/output error")

        patcher = self.patch(os, "rename", failingRename)
        self.assertRaises(OSError, self.metaDataFile.replace, b"x", seq)
        self.assertEqual(os.listdir(self.directory), ["q.diskqueue.meta.dat"])
        self.assertEqual(self.readText(), b"1\n0,0\n0,34\n")
        patcher.restore()
        self.metaDataFile.replace(b"2\n0,0\n0,68\n", seq)
        self.assertEqual(self.readText(), b"2\n0,0\n0,68\n")


class RestoreMetaDataTests(SynchronousTestCase):
    """
    L{restoreMetaData} decides where a queue resumes.
    """

    def setUp(self) -> None:
        self.directory = self.mktemp()
        os.makedirs(self.directory)
        self.metaDataFile = MetaDataFile(
            os.path.join(self.directory, "q.diskqueue.meta.dat")
        )
        self.logged: list[tuple[str, str]] = []

    def logf(self, level: str, message: str) -> None:
        """
        Record a log event.
        """
        self.logged.append((level, message))

    def writeFile(self, name: str, data: bytes) -> None:
        """
        Create C{name} in the data directory with C{data} in it.
        """
        with open(os.path.join(self.directory, name), "wb") as f:
            f.write(data)

    def restore(self) -> tuple[MetaData, bool]:
        """
        Call L{restoreMetaData} on queue C{q}.
        """
        return restoreMetaData(
            self.metaDataFile,
            self.directory,
            "q",
            MIN_MSG_SIZE,
            MAX_MSG_SIZE,
            self.logf,
        )

    def test_new(self) -> None:
        """
        Without a metadata file, the queue starts at segment 0, silently.
        """
        self.assertEqual(self.restore(), (MetaData(0, 0, 0, 0, 0), False))
        self.assertEqual(self.logged, [])

    def test_missingWithSegments(self) -> None:
        """
        Without a metadata file but with segments on disk (killed before the
        first metadata sync), the queue reads them from the first, counting
        their whole records into the depth, and writes after the last, so
        nothing written is overwritten; the file must be written.
        """
        self.writeFile("q.diskqueue.000000.dat", recordBytes(30) + recordBytes(40))
        self.writeFile("q.diskqueue.000001.dat", recordBytes(30) + b"\x00\x00")
        self.writeFile("other.diskqueue.000009.dat", recordBytes(30))
        self.assertEqual(self.restore(), (MetaData(3, 0, 0, 2, 0), True))
        [(level, message)] = self.logged
        self.assertEqual(level, "WARNING")
        self.assertIn("reading 3 messages from file 0, writing from file 2", message)

    def test_segmentsPastWriteFile(self) -> None:
        """
        Segments past the recorded write segment (written after a restart
        that skipped to a new file, then killed before the metadata was
        synced) are read too, their records counted into the depth, and
        writing resumes after the last of them, overwriting none.
        """
        self.writeFile("q.diskqueue.meta.dat", b"1\n0,0\n0,34\n")
        self.writeFile("q.diskqueue.000000.dat", recordBytes(30) + recordBytes(30))
        self.writeFile("q.diskqueue.000001.dat", recordBytes(30) + recordBytes(40))
        self.writeFile("q.diskqueue.000002.dat", recordBytes(30))
        self.assertEqual(self.restore(), (MetaData(5, 0, 0, 3, 0), False))
        self.assertEqual([level for level, _ in self.logged], ["WARNING", "WARNING"])
        self.assertIn("skipping to file 3", self.logged[1][1])

    def test_restored(self) -> None:
        """
        The positions the file records are used as they are when the write
        segment is no longer than the write position.
        """
        self.writeFile("q.diskqueue.meta.dat", b"1\n0,34\n1,34\n")
        self.writeFile("q.diskqueue.000001.dat", recordBytes(30))
        self.assertEqual(self.restore(), (MetaData(1, 0, 34, 1, 34), False))
        self.assertEqual(self.logged, [])

    def test_unparsable(self) -> None:
        """
        An unusable file is logged and the queue starts empty after the
        segments on disk; the file must be rewritten.
        """
        self.writeFile("q.diskqueue.meta.dat", b"garbage")
        self.writeFile("q.diskqueue.000002.dat", b"")
        self.writeFile("q.diskqueue.000007.dat", b"")
        self.writeFile("other.diskqueue.000009.dat", b"")
        self.assertEqual(self.restore(), (MetaData(0, 8, 0, 8, 0), True))
        self.assertEqual(
            self.logged,
            [
                (
                    "ERROR",
                    " failed to retrieveMetaData - unexpected metadata"
                    " b'garbage'; starting empty at file 8 (2 existing data"
                    " files left untouched)",
                )
            ],
        )

    def test_staleWritePosition(self) -> None:
        """
        A write segment longer than the recorded write position is left
        alone: writing moves to the next segment, and the whole valid
        records beyond the position are counted into the depth.
        """
        self.writeFile("q.diskqueue.meta.dat", b"1\n0,0\n0,34\n")
        self.writeFile(
            "q.diskqueue.000000.dat",
            recordBytes(30) + recordBytes(30) + recordBytes(40) + b"\x00\x00",
        )
        self.assertEqual(self.restore(), (MetaData(3, 0, 0, 1, 0), False))
        [(level, message)] = self.logged
        self.assertEqual(level, "WARNING")
        self.assertIn("metadata writePos 34 < file size of 114", message)
