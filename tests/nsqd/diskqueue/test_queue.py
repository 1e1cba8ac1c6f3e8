"""
Tests for L{txnsq.nsqd.diskqueue}.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import struct
from collections import deque
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqd.diskqueue import DiskQueue, DiskQueueClosed

GOLDEN_DATADIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    os.pardir,
    os.pardir,
    "data",
    "golden",
    "datadir",
)

# What Go nsqd 1.3.0 passes to go-diskqueue with default flags.
MIN_MSG_SIZE = 26
MAX_MSG_SIZE = 1024 * 1024 + 26
DEFAULT_MAX_BYTES_PER_FILE = 104857600

_HEADER = struct.Struct(">qH16s")

_realWrite = os.write


def record(index: int, size: int = 30) -> bytes:
    """
    A distinct record of C{size} bytes (C{4 + size} on disk).
    """
    return (b"record-%08d-" % (index,)).ljust(size, b"x")


def encodeMessage(
    timestamp: int, attempts: int, messageID: bytes, body: bytes
) -> bytes:
    """
    The nsqd 1.3 message serialization that nsqd stores as a record.
    """
    return _HEADER.pack(timestamp, attempts, messageID) + body


def decodeMessage(data: bytes) -> tuple[int, int, bytes, bytes]:
    """
    Split a stored record into timestamp, attempts, ID and body.
    """
    timestamp, attempts, messageID = _HEADER.unpack_from(data)
    return timestamp, attempts, messageID, data[_HEADER.size :]


def rawRecords(path: str) -> list[bytes]:
    """
    Parse a segment file independently of L{DiskQueue}.
    """
    with open(path, "rb") as f:
        data = f.read()
    records = []
    offset = 0
    while offset < len(data):
        (size,) = struct.unpack_from(">i", data, offset)
        records.append(data[offset + 4 : offset + 4 + size])
        offset += 4 + size
    return records


def readText(path: str) -> str:
    """
    The whole content of a text file.
    """
    with open(path) as f:
        return f.read()


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


def drain(queue: DiskQueue) -> list[bytes]:
    """
    Every record L{DiskQueue.get} returns until it returns L{None}.
    """
    records = []
    while (data := queue.get()) is not None:
        records.append(data)
    return records


class QueueTestCase(SynchronousTestCase):
    """
    Helpers to create queues in a fresh directory and capture their logs.
    """

    logged: list[str]

    def newDirectory(self) -> str:
        """
        A new empty directory.
        """
        path: str = self.mktemp()
        os.makedirs(path)
        return path

    def openQueue(
        self,
        path: str,
        name: str = "q",
        maxBytesPerFile: int = 100,
        syncEvery: int = 2500,
        maxMsgSize: int = 1024,
    ) -> DiskQueue:
        """
        Open a queue that logs into C{self.logged}.
        """
        if not hasattr(self, "logged"):
            self.logged = []
        return DiskQueue(
            name,
            path,
            maxBytesPerFile,
            MIN_MSG_SIZE,
            maxMsgSize,
            syncEvery,
            log=self.logged.append,
        )

    def loggedWith(self, text: str) -> list[str]:
        """
        The log lines containing C{text}.
        """
        return [line for line in getattr(self, "logged", []) if text in line]

    def dataFiles(self, path: str, name: str = "q") -> list[str]:
        """
        The sorted names of C{name}'s files (data, bad and metadata) in C{path}.
        """
        prefix = name + ".diskqueue."
        return sorted(n for n in os.listdir(path) if n.startswith(prefix))


class DiskQueueTests(QueueTestCase):
    """
    Normal operation of L{DiskQueue}.
    """

    def test_roundTrip(self) -> None:
        """
        Records come back in order, byte for byte, across many segment
        files and interleaved puts and gets; L{DiskQueue.depth} counts what
        is left and L{DiskQueue.get} returns L{None} when it is empty.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=1000)
        expected = [record(i, 26 + i % 200) for i in range(2000)]
        got = []
        for i, data in enumerate(expected):
            queue.put(data)
            if i % 3 == 0:
                got.append(queue.get())
        self.assertEqual(queue.depth(), len(expected) - len(got))
        got.extend(drain(queue))
        self.assertEqual(got, expected)
        self.assertEqual(queue.depth(), 0)
        self.assertIsNone(queue.get())
        queue.close()
        self.assertEqual(self.loggedWith("ERROR"), [])

    def test_putReadableAtOnce(self) -> None:
        """
        A record is readable right after L{DiskQueue.put}, although writes
        are buffered.
        """
        queue = self.openQueue(self.newDirectory())
        self.addCleanup(queue.close)
        for i in range(5):
            queue.put(record(i))
            self.assertEqual(queue.get(), record(i))
            self.assertIsNone(queue.get())

    def test_reopen(self) -> None:
        """
        After L{DiskQueue.close}, a new queue on the same files continues
        where the old one stopped.
        """
        path = self.newDirectory()
        queue = self.openQueue(path)
        for i in range(7):
            queue.put(record(i))
        self.assertEqual(queue.get(), record(0))
        self.assertEqual(queue.get(), record(1))
        queue.close()

        queue = self.openQueue(path)
        self.addCleanup(queue.close)
        self.assertEqual(queue.depth(), 5)
        queue.put(record(7))
        self.assertEqual(drain(queue), [record(i) for i in range(2, 8)])

    def test_rollRule(self) -> None:
        """
        A record goes to the next segment when it would take the current
        one past C{maxBytesPerFile}; a segment is only larger than that when
        a single record is.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=100)
        # 34 bytes on disk each: 68 fits, 102 would not.
        for i in range(3):
            queue.put(record(i, 30))
        # 204 bytes: alone in its own segment, beyond the limit.
        queue.put(record(3, 200))
        queue.put(record(4, 30))
        queue.close()
        sizes = {
            name: os.path.getsize(os.path.join(path, name))
            for name in self.dataFiles(path)
        }
        self.assertEqual(
            sizes,
            {
                "q.diskqueue.000000.dat": 68,
                "q.diskqueue.000001.dat": 34,
                "q.diskqueue.000002.dat": 204,
                "q.diskqueue.000003.dat": 34,
                "q.diskqueue.meta.dat": 11,
            },
        )
        self.assertEqual(
            readText(os.path.join(path, "q.diskqueue.meta.dat")), "5\n0,0\n3,34\n"
        )

    def test_rollExactFit(self) -> None:
        """
        A record that fills a segment exactly to C{maxBytesPerFile} stays in
        it; the next record starts a new segment.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=102)
        for i in range(4):
            queue.put(record(i, 30))
        queue.close()
        self.assertEqual(
            os.path.getsize(os.path.join(path, "q.diskqueue.000000.dat")), 102
        )
        self.assertEqual(
            os.path.getsize(os.path.join(path, "q.diskqueue.000001.dat")), 34
        )

    def test_finishedFilesDeleted(self) -> None:
        """
        A segment is deleted as soon as its last record is read, except the
        segment still being written.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=100)
        for i in range(9):
            queue.put(record(i))
        self.assertEqual(len(self.dataFiles(path)), 5)
        queue.get()
        self.assertIn("q.diskqueue.000000.dat", self.dataFiles(path))
        queue.get()
        self.assertNotIn("q.diskqueue.000000.dat", self.dataFiles(path))
        drain(queue)
        queue.close()
        self.assertEqual(
            self.dataFiles(path), ["q.diskqueue.000004.dat", "q.diskqueue.meta.dat"]
        )
        self.assertEqual(
            readText(os.path.join(path, "q.diskqueue.meta.dat")), "0\n4,34\n4,34\n"
        )

    def test_metadataText(self) -> None:
        """
        The metadata file holds exactly
        C{"<depth>\\n<readFileNum>,<readPos>\\n<writeFileNum>,<writePos>\\n"}.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=1000)
        for size in (27, 26, 26, 58):
            queue.put(record(size, size))
        queue.get()
        queue.close()
        self.assertEqual(
            readText(os.path.join(path, "q.diskqueue.meta.dat")), "3\n0,31\n0,153\n"
        )

    def test_lazyFileCreation(self) -> None:
        """
        A queue that was never written has no segment file, but closing it
        writes its metadata.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, name="golden_b")
        self.assertEqual(os.listdir(path), [])
        queue.close()
        self.assertEqual(os.listdir(path), ["golden_b.diskqueue.meta.dat"])
        self.assertEqual(
            readText(os.path.join(path, "golden_b.diskqueue.meta.dat")), "0\n0,0\n0,0\n"
        )

    def test_fileModes(self) -> None:
        """
        Segment and metadata files are created with mode 0600.
        """
        path = self.newDirectory()
        queue = self.openQueue(path)
        queue.put(record(0))
        queue.close()
        for name in self.dataFiles(path):
            self.assertEqual(os.stat(os.path.join(path, name)).st_mode & 0o777, 0o600)

    def test_invalidWriteSize(self) -> None:
        """
        Records shorter than C{minMsgSize} or longer than C{maxMsgSize} are
        refused with L{OSError} and not stored.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxMsgSize=100)
        self.addCleanup(queue.close)
        self.assertRaises(OSError, queue.put, b"x" * 25)
        self.assertRaises(OSError, queue.put, b"x" * 101)
        queue.put(b"x" * 100)
        self.assertEqual(queue.depth(), 1)
        self.assertEqual(queue.get(), b"x" * 100)

    def test_empty(self) -> None:
        """
        L{DiskQueue.empty} deletes the segments from the read segment to the
        write segment and the metadata file, and the queue continues with
        the next segment number.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=100)
        for i in range(5):
            queue.put(record(i))
        queue.sync()
        queue.empty()
        self.assertEqual(queue.depth(), 0)
        self.assertIsNone(queue.get())
        self.assertEqual(self.dataFiles(path), [])
        queue.put(record(9))
        self.assertEqual(queue.depth(), 1)
        self.assertEqual(self.dataFiles(path), ["q.diskqueue.000003.dat"])
        self.assertEqual(queue.get(), record(9))
        queue.close()
        self.assertEqual(
            readText(os.path.join(path, "q.diskqueue.meta.dat")), "0\n3,34\n3,34\n"
        )

    def test_delete(self) -> None:
        """
        L{DiskQueue.delete} removes every segment and the metadata file and
        leaves the queue closed.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=100)
        for i in range(5):
            queue.put(record(i))
        queue.get()
        queue.sync()
        queue.delete()
        self.assertEqual(os.listdir(path), [])
        self.assertRaises(DiskQueueClosed, queue.put, record(0))
        queue.close()
        self.assertEqual(os.listdir(path), [])

    def test_closed(self) -> None:
        """
        A closed queue refuses puts and empties, returns nothing from
        L{DiskQueue.get}, and closing it again does nothing.
        """
        path = self.newDirectory()
        queue = self.openQueue(path)
        queue.put(record(0))
        queue.close()
        self.assertRaises(DiskQueueClosed, queue.put, record(1))
        self.assertRaises(DiskQueueClosed, queue.empty)
        self.assertIsNone(queue.get())
        queue.close()
        self.assertEqual(
            readText(os.path.join(path, "q.diskqueue.meta.dat")), "1\n0,0\n0,34\n"
        )

    def test_readAcrossBufferAndFile(self) -> None:
        """
        Records served from the write buffer and records read back from the
        file follow each other correctly, whatever was flushed in between.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=10000)
        self.addCleanup(queue.close)
        for i in range(3):
            queue.put(record(i))
        self.assertEqual(queue.get(), record(0))
        queue.flush()
        queue.put(record(3))
        self.assertEqual(queue.get(), record(1))
        self.assertEqual(queue.get(), record(2))
        self.assertEqual(queue.get(), record(3))
        queue.put(record(4))
        queue.put(record(5))
        self.assertEqual(queue.get(), record(4))
        queue.flush()
        self.assertEqual(drain(queue), [record(5)])

    def test_randomOperations(self) -> None:
        """
        Any sequence of puts, gets, flushes, syncs, prepared syncs run late,
        reopenings and empties behaves like a FIFO, without errors.
        """
        rng = random.Random(1234)
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=300, syncEvery=7)
        model: deque[bytes] = deque()
        job = None
        for step in range(5000):
            choice = rng.random()
            if choice < 0.45:
                data = record(step, rng.randrange(26, 120))
                queue.put(data)
                model.append(data)
            elif choice < 0.9:
                self.assertEqual(queue.get(), model.popleft() if model else None)
            elif choice < 0.93:
                queue.flush()
            elif choice < 0.96:
                if job is not None:
                    job()
                job = queue.prepareSync()
            elif choice < 0.99:
                if job is not None:
                    job()
                    job = None
                queue.close()
                queue = self.openQueue(path, maxBytesPerFile=300, syncEvery=7)
            else:
                queue.empty()
                model.clear()
            self.assertEqual(queue.depth(), len(model))
        if job is not None:
            job()
        self.assertEqual(drain(queue), list(model))
        queue.close()
        self.assertEqual(self.loggedWith("ERROR"), [])
        self.assertEqual(self.loggedWith("WARNING"), [])
        self.assertEqual([n for n in os.listdir(path) if n.endswith(".bad")], [])

    def test_runsOfEqualRecords(self) -> None:
        """
        L{DiskQueue.getMany} returns runs of equal-length records (read in
        one piece) and records of other lengths between them in order,
        across segments and the write buffer, at any batch size.
        """
        rng = random.Random(4321)
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=2000)
        model: deque[bytes] = deque()
        index = 0
        for _ in range(300):
            if rng.random() < 0.6:
                size = rng.choice([26, 40, 100])
                for _ in range(rng.randrange(1, 60)):
                    data = record(index, size)
                    index += 1
                    queue.put(data)
                    model.append(data)
                if rng.random() < 0.5:
                    queue.flush()
            else:
                got = queue.getMany(rng.randrange(1, 200))
                self.assertEqual(got, [model.popleft() for _ in got])
            self.assertEqual(queue.depth(), len(model))
        self.assertEqual(queue.getMany(len(model) + 1), list(model))
        queue.close()
        self.assertEqual(self.loggedWith("ERROR"), [])

    def test_failedFlushBeforePut(self) -> None:
        """
        When the buffer must be flushed before a put and the write fails,
        the put raises and the record is not stored; earlier records stay.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=10**7)
        self.addCleanup(queue.close)
        queue.put(record(0))

        def failingWrite(fd: int, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        self.patch(os, "write", failingWrite)
        stored = [record(0)]
        with self.assertRaises(OSError):
            for i in range(1, 10000):
                data = record(i, 1000)
                queue.put(data)
                stored.append(data)
        self.assertEqual(queue.depth(), len(stored))
        self.patch(os, "write", _realWrite)
        self.assertEqual(drain(queue), stored)

    def test_partialFlush(self) -> None:
        """
        After a flush that stopped in the middle of a record, reading still
        returns every record whole.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=10000)
        self.addCleanup(queue.close)
        queue.put(record(0))
        queue.put(record(1))
        calls = []

        def partialWrite(fd: int, data: bytes) -> int:
            calls.append(len(data))
            if len(calls) > 1:
                raise OSError(errno.ENOSPC, "No space left on device")
            return _realWrite(fd, bytes(data)[:50])

        self.patch(os, "write", partialWrite)
        self.assertRaises(OSError, queue.flush)
        self.patch(os, "write", _realWrite)
        self.assertEqual(drain(queue), [record(0), record(1)])
        self.assertEqual(self.loggedWith("ERROR"), [])

    def test_readerCaughtUpBeforeRoll(self) -> None:
        """
        When the reader has read the write segment to its end and the writer
        then rolls, the finished segment is deleted, not set aside as bad
        (go-diskqueue v1.1.0 hits EOF here: nsqio/go-diskqueue#42).
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=68)
        self.addCleanup(queue.close)
        queue.put(record(0))
        queue.put(record(1))
        self.assertEqual(drain(queue), [record(0), record(1)])
        queue.put(record(2))
        self.assertEqual(drain(queue), [record(2)])
        self.assertEqual(self.dataFiles(path), ["q.diskqueue.000001.dat"])
        self.assertEqual(self.loggedWith("ERROR"), [])


class SyncTests(QueueTestCase):
    """
    The split sync API: L{DiskQueue.syncNeeded}, L{DiskQueue.dirty},
    L{DiskQueue.prepareSync} and L{DiskQueue.sync}.
    """

    def test_syncNeededAfterSyncEvery(self) -> None:
        """
        L{DiskQueue.syncNeeded} turns true after C{syncEvery} puts and gets
        together, and false again once a sync is prepared.
        """
        queue = self.openQueue(self.newDirectory(), maxBytesPerFile=10000, syncEvery=5)
        self.addCleanup(queue.close)
        self.assertFalse(queue.syncNeeded())
        for i in range(3):
            queue.put(record(i))
        queue.get()
        self.assertFalse(queue.syncNeeded())
        queue.get()
        self.assertTrue(queue.syncNeeded())
        queue.prepareSync()
        self.assertFalse(queue.syncNeeded())

    def test_dirty(self) -> None:
        """
        L{DiskQueue.dirty} says whether anything happened since the last
        sync.
        """
        queue = self.openQueue(self.newDirectory(), maxBytesPerFile=10000)
        self.addCleanup(queue.close)
        self.assertFalse(queue.dirty)
        queue.put(record(0))
        self.assertTrue(queue.dirty)
        queue.sync()
        self.assertFalse(queue.dirty)
        queue.get()
        self.assertTrue(queue.dirty)

    def test_syncNeededAfterRoll(self) -> None:
        """
        Starting a new write segment makes a sync due at once.
        """
        queue = self.openQueue(self.newDirectory(), maxBytesPerFile=68)
        self.addCleanup(queue.close)
        queue.put(record(0))
        queue.put(record(1))
        self.assertFalse(queue.syncNeeded())
        queue.put(record(2))
        self.assertTrue(queue.syncNeeded())

    def test_syncNeededAfterFinishedReadFile(self) -> None:
        """
        Finishing (and deleting) a read segment makes a sync due at once.
        """
        queue = self.openQueue(self.newDirectory(), maxBytesPerFile=68)
        self.addCleanup(queue.close)
        for i in range(3):
            queue.put(record(i))
        queue.sync()
        queue.get()
        self.assertFalse(queue.syncNeeded())
        queue.get()
        self.assertTrue(queue.syncNeeded())

    def test_preparedJobWritesSnapshot(self) -> None:
        """
        The job returned by L{DiskQueue.prepareSync} writes the metadata as
        it was when the sync was prepared, even when it runs after more
        puts and gets.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=68)
        self.addCleanup(queue.close)
        for i in range(3):
            queue.put(record(i))
        queue.get()
        job = queue.prepareSync()
        for i in range(3, 6):
            queue.put(record(i))
        drain(queue)
        self.assertFalse(os.path.exists(os.path.join(path, "q.diskqueue.meta.dat")))
        job()
        self.assertEqual(
            readText(os.path.join(path, "q.diskqueue.meta.dat")), "2\n0,34\n1,34\n"
        )
        self.assertEqual([n for n in os.listdir(path) if n.endswith(".tmp")], [])

    def test_olderJobDoesNotOverwriteNewer(self) -> None:
        """
        A job prepared earlier but run later does not replace metadata that a
        later sync already wrote.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=1000)
        self.addCleanup(queue.close)
        queue.put(record(0))
        older = queue.prepareSync()
        queue.put(record(1))
        queue.sync()
        older()
        self.assertEqual(
            readText(os.path.join(path, "q.diskqueue.meta.dat")), "2\n0,0\n0,68\n"
        )

    def test_jobAfterEmpty(self) -> None:
        """
        A job prepared before L{DiskQueue.empty} does not bring back the
        metadata of the emptied queue.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=1000)
        self.addCleanup(queue.close)
        queue.put(record(0))
        job = queue.prepareSync()
        queue.empty()
        job()
        self.assertEqual(os.listdir(path), [])

    def test_jobFailure(self) -> None:
        """
        A job that cannot write the metadata raises L{OSError}, and a sync
        is due again.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=1000)
        queue.put(record(0))
        job = queue.prepareSync()
        self.assertFalse(queue.syncNeeded())
        shutil.rmtree(path)
        self.assertRaises(OSError, job)
        self.assertTrue(queue.syncNeeded())
        self.assertTrue(queue.dirty)
        self.assertRaises(OSError, queue.close)
        self.assertEqual(len(self.loggedWith("failed to sync")), 1)

    def test_closeSyncs(self) -> None:
        """
        L{DiskQueue.close} writes the data and the current metadata.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=1000)
        queue.put(record(0))
        queue.close()
        self.assertEqual(
            readBytes(os.path.join(path, "q.diskqueue.000000.dat")),
            b"\x00\x00\x00\x1e" + record(0),
        )
        self.assertEqual(
            readText(os.path.join(path, "q.diskqueue.meta.dat")), "1\n0,0\n0,34\n"
        )


class RecoveryTests(QueueTestCase):
    """
    What L{DiskQueue} does with damaged files: log, set aside, carry on.
    """

    def writeSixRecords(self, path: str) -> None:
        """
        Leave six 34-byte records in segments 0, 1 and 2 (two each).
        """
        queue = self.openQueue(path, maxBytesPerFile=100)
        for i in range(6):
            queue.put(record(i))
        queue.close()

    def test_truncatedSegment(self) -> None:
        """
        A segment cut in the middle of a record yields its complete records,
        is renamed C{.bad} with a logged error, and reading continues with
        the next segment; the depth is corrected once the queue is drained.
        """
        path = self.newDirectory()
        self.writeSixRecords(path)
        segment = os.path.join(path, "q.diskqueue.000001.dat")
        os.truncate(segment, 50)
        queue = self.openQueue(path, maxBytesPerFile=100)
        self.addCleanup(queue.close)
        self.assertEqual(queue.depth(), 6)
        self.assertEqual(drain(queue), [record(i) for i in (0, 1, 2, 4, 5)])
        self.assertEqual(queue.depth(), 0)
        self.assertEqual(
            self.dataFiles(path),
            [
                "q.diskqueue.000001.dat.bad",
                "q.diskqueue.000002.dat",
                "q.diskqueue.meta.dat",
            ],
        )
        self.assertEqual(
            len(self.loggedWith(f"reading at 34 of {segment} - unexpected EOF")), 1
        )
        self.assertEqual(len(self.loggedWith(f"saving bad file as {segment}.bad")), 1)
        self.assertEqual(len(self.loggedWith("positive depth at tail (1)")), 1)

    def test_garbageRecordLength(self) -> None:
        """
        A record length outside C{minMsgSize..maxMsgSize} makes the segment
        bad: it is renamed C{.bad}, logged, and reading continues with the
        next segment.
        """
        path = self.newDirectory()
        self.writeSixRecords(path)
        segment = os.path.join(path, "q.diskqueue.000001.dat")
        data = bytearray(readBytes(segment))
        data[34:38] = b"\xff\xff\xff\xff"
        writeBytes(segment, bytes(data))
        queue = self.openQueue(path, maxBytesPerFile=100)
        self.addCleanup(queue.close)
        self.assertEqual(drain(queue), [record(i) for i in (0, 1, 2, 4, 5)])
        self.assertTrue(os.path.exists(segment + ".bad"))
        self.assertEqual(len(self.loggedWith("invalid message read size (-1)")), 1)

    def test_garbageInWriteSegment(self) -> None:
        """
        When the bad segment is the one being written, writing moves on to
        a new segment too.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=1000)
        for i in range(3):
            queue.put(record(i))
        queue.close()
        segment = os.path.join(path, "q.diskqueue.000000.dat")
        data = bytearray(readBytes(segment))
        data[34:38] = b"\x7f\xff\xff\xff"
        writeBytes(segment, bytes(data))

        queue = self.openQueue(path, maxBytesPerFile=1000)
        self.addCleanup(queue.close)
        self.assertEqual(drain(queue), [record(0)])
        self.assertEqual(queue.depth(), 0)
        self.assertEqual(
            len(self.loggedWith("invalid message read size (2147483647)")), 1
        )
        queue.put(record(3))
        self.assertEqual(drain(queue), [record(3)])
        queue.sync()
        self.assertEqual(
            self.dataFiles(path),
            [
                "q.diskqueue.000000.dat.bad",
                "q.diskqueue.000001.dat",
                "q.diskqueue.meta.dat",
            ],
        )
        self.assertEqual(
            readText(os.path.join(path, "q.diskqueue.meta.dat")), "0\n1,34\n1,34\n"
        )

    def test_garbageMetadata(self) -> None:
        """
        Metadata that cannot be parsed is logged and the queue starts empty
        after the segments already on disk, leaving them and other queues
        untouched.
        """
        path = self.newDirectory()
        self.writeSixRecords(path)
        other = self.openQueue(path, name="other")
        other.put(record(42))
        other.close()
        segments = {
            name: readBytes(os.path.join(path, name))
            for name in self.dataFiles(path)
            if name.endswith(".dat") and "meta" not in name
        }
        writeBytes(os.path.join(path, "q.diskqueue.meta.dat"), b"\x00garbage\n")

        queue = self.openQueue(path, maxBytesPerFile=100)
        self.assertEqual(
            len(self.loggedWith("ERROR: DISKQUEUE(q) failed to retrieveMetaData")), 1
        )
        self.assertEqual(queue.depth(), 0)
        self.assertIsNone(queue.get())
        queue.put(record(7))
        self.assertEqual(drain(queue), [record(7)])
        queue.close()
        for name, data in segments.items():
            self.assertEqual(readBytes(os.path.join(path, name)), data)
        self.assertEqual(
            readText(os.path.join(path, "q.diskqueue.meta.dat")), "0\n3,34\n3,34\n"
        )
        other = self.openQueue(path, name="other")
        self.addCleanup(other.close)
        self.assertEqual(drain(other), [record(42)])

    def test_truncatedMetadata(self) -> None:
        """
        Metadata with missing fields counts as garbage: logged, start empty.
        """
        path = self.newDirectory()
        writeBytes(os.path.join(path, "q.diskqueue.meta.dat"), b"5\n0,0\n")
        queue = self.openQueue(path)
        self.addCleanup(queue.close)
        self.assertEqual(queue.depth(), 0)
        self.assertEqual(len(self.loggedWith("failed to retrieveMetaData")), 1)
        self.assertTrue(queue.syncNeeded())

    def test_uncleanShutdown(self) -> None:
        """
        When the write segment is longer than the metadata says (metadata
        not synced before a crash), writing moves to a new segment and every
        record in the old one is still read.  Unlike go-diskqueue, the
        depth counts the salvaged records at once (owners read only while
        the depth is positive), so no correction is needed at the tail.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=1000)
        for i in range(5):
            queue.put(record(i))
        queue.sync()
        for i in range(5, 8):
            queue.put(record(i))
        queue.flush()
        crashed = self.newDirectory()
        for name in os.listdir(path):
            shutil.copyfile(os.path.join(path, name), os.path.join(crashed, name))
        queue.close()

        queue = self.openQueue(crashed, maxBytesPerFile=1000)
        crashedSegment = os.path.join(crashed, "q.diskqueue.000000.dat")
        self.addCleanup(queue.close)
        self.assertEqual(
            len(
                self.loggedWith(
                    f"WARNING: DISKQUEUE(q) {crashedSegment} metadata writePos 170"
                    " < file size of 272, skipping to new file"
                )
            ),
            1,
        )
        self.assertEqual(queue.depth(), 8)
        queue.put(record(8))
        self.assertEqual(drain(queue), [record(i) for i in range(9)])
        self.assertEqual(queue.depth(), 0)
        self.assertEqual(self.loggedWith("negative depth at tail"), [])
        self.assertEqual(
            self.dataFiles(crashed), ["q.diskqueue.000001.dat", "q.diskqueue.meta.dat"]
        )

    def test_depthInconsistentAtTail(self) -> None:
        """
        A non-zero depth with nothing left to read is logged and reset to 0
        as soon as the queue is opened.
        """
        path = self.newDirectory()
        writeBytes(os.path.join(path, "q.diskqueue.meta.dat"), b"7\n0,34\n0,34\n")
        writeBytes(
            os.path.join(path, "q.diskqueue.000000.dat"),
            b"\x00\x00\x00\x1e" + record(0),
        )
        queue = self.openQueue(path)
        self.addCleanup(queue.close)
        self.assertEqual(queue.depth(), 0)
        self.assertEqual(len(self.loggedWith("positive depth at tail (7)")), 1)

    def test_missingReadSegment(self) -> None:
        """
        A read segment that does not exist is logged and skipped.
        """
        path = self.newDirectory()
        writeBytes(os.path.join(path, "q.diskqueue.meta.dat"), b"3\n0,0\n1,34\n")
        writeBytes(
            os.path.join(path, "q.diskqueue.000001.dat"),
            b"\x00\x00\x00\x1e" + record(9),
        )
        queue = self.openQueue(path)
        self.addCleanup(queue.close)
        self.assertEqual(drain(queue), [record(9)])
        self.assertEqual(queue.depth(), 0)
        self.assertEqual(len(self.loggedWith("failed to rename bad diskqueue file")), 1)

    def test_readerFinishedBeforeRollPersisted(self) -> None:
        """
        Metadata whose read position sits at the very end of a finished
        segment (possible after the writer rolled) simply moves on to the
        next segment.
        """
        path = self.newDirectory()
        writeBytes(os.path.join(path, "q.diskqueue.meta.dat"), b"1\n0,34\n1,34\n")
        writeBytes(
            os.path.join(path, "q.diskqueue.000000.dat"),
            b"\x00\x00\x00\x1e" + record(0),
        )
        writeBytes(
            os.path.join(path, "q.diskqueue.000001.dat"),
            b"\x00\x00\x00\x1e" + record(1),
        )
        queue = self.openQueue(path)
        self.addCleanup(queue.close)
        self.assertEqual(drain(queue), [record(1)])
        self.assertEqual(
            self.dataFiles(path), ["q.diskqueue.000001.dat", "q.diskqueue.meta.dat"]
        )
        self.assertEqual(self.loggedWith("ERROR"), [])


def goldenDirectories() -> list[str]:
    """
    The golden data directories recorded from Go nsqd 1.3.0.
    """
    return sorted(
        name
        for name in os.listdir(GOLDEN_DATADIR)
        if os.path.isdir(os.path.join(GOLDEN_DATADIR, name))
    )


def loadManifest(directory: str) -> dict[str, Any]:
    """
    The parsed C{manifest.json} of a golden directory.
    """
    with open(os.path.join(GOLDEN_DATADIR, directory, "manifest.json")) as f:
        manifest: dict[str, Any] = json.load(f)
    return manifest


def maxBytesPerFileOf(manifest: dict[str, Any]) -> int:
    """
    The C{--max-bytes-per-file} Go nsqd ran with.
    """
    for flag in manifest["nsqd_flags"]:
        if flag.startswith("--max-bytes-per-file="):
            return int(flag.split("=", 1)[1])
    return DEFAULT_MAX_BYTES_PER_FILE


class GoldenDataDirTests(QueueTestCase):
    """
    Compatibility with the data directories Go nsqd 1.3.0 left behind.
    """

    def copyGolden(self, directory: str) -> str:
        """
        A writable copy of a golden directory, without its manifest.
        """
        path = self.newDirectory()
        source = os.path.join(GOLDEN_DATADIR, directory)
        for name in os.listdir(source):
            if name != "manifest.json":
                shutil.copyfile(os.path.join(source, name), os.path.join(path, name))
        return path

    def test_goldenDirectoriesPresent(self) -> None:
        """
        The golden recordings this suite compares against are there.
        """
        self.assertEqual(len(goldenDirectories()), 6)

    def test_readGolden(self) -> None:
        """
        Every queue Go nsqd left behind opens with the recorded depth and
        yields exactly the recorded unconsumed messages, in order.
        """
        for directory in goldenDirectories():
            manifest = loadManifest(directory)
            path = self.copyGolden(directory)
            for name, queueInfo in manifest["queues"].items():
                queue = DiskQueue(
                    name,
                    path,
                    maxBytesPerFileOf(manifest),
                    MIN_MSG_SIZE,
                    MAX_MSG_SIZE,
                    2500,
                    log=lambda line: None,
                )
                self.assertEqual(queue.depth(), queueInfo["depth"], (directory, name))
                got = [decodeMessage(data) for data in drain(queue)]
                expected = [
                    (
                        message["timestamp_ns"],
                        message["attempts"],
                        message["id"].encode("ascii"),
                        message["body"].encode("utf-8"),
                    )
                    for message in queueInfo["messages"]
                ]
                self.assertEqual(got, expected, (directory, name))
                self.assertEqual(queue.depth(), 0)
                queue.close()
            self.assertEqual([n for n in os.listdir(path) if n.endswith(".bad")], [])

    def test_layoutMatchesGo(self) -> None:
        """
        Writing the records a golden queue held (and reading as many as Go
        had consumed) produces the same segment names, sizes and bytes and
        the same metadata text as Go nsqd 1.3.0.

        Records Go had already deleted with their segment are replaced by
        records of the same size (directory C{e}).
        """
        for directory in goldenDirectories():
            manifest = loadManifest(directory)
            source = os.path.join(GOLDEN_DATADIR, directory)
            path = self.newDirectory()
            for name, queueInfo in manifest["queues"].items():
                dataFiles = queueInfo["data_files"]
                records: list[bytes] = []
                for dataFile in dataFiles:
                    records.extend(rawRecords(os.path.join(source, dataFile["file"])))
                consumed = queueInfo["consumed_records_still_in_files"]
                if dataFiles and dataFiles[0]["file_num"] > 0:
                    # Go deleted these full segments after reading them.
                    perFile = maxBytesPerFileOf(manifest) // (4 + len(records[0]))
                    missing = dataFiles[0]["file_num"] * perFile
                    filler = [record(i, len(records[0])) for i in range(missing)]
                    records = filler + records
                    consumed += missing
                queue = DiskQueue(
                    name,
                    path,
                    maxBytesPerFileOf(manifest),
                    MIN_MSG_SIZE,
                    MAX_MSG_SIZE,
                    2500,
                    log=lambda line: None,
                )
                for data in records:
                    queue.put(data)
                for _ in range(consumed):
                    self.assertIsNotNone(queue.get())
                queue.close()

                expectedFiles = sorted(
                    [dataFile["file"] for dataFile in dataFiles]
                    + [queueInfo["meta_file"]]
                )
                self.assertEqual(
                    self.dataFiles(path, name), expectedFiles, (directory, name)
                )
                for dataFile in dataFiles:
                    self.assertEqual(
                        readBytes(os.path.join(path, dataFile["file"])),
                        readBytes(os.path.join(source, dataFile["file"])),
                        (directory, dataFile["file"]),
                    )
                self.assertEqual(
                    readText(os.path.join(path, queueInfo["meta_file"])),
                    queueInfo["meta_text"],
                    (directory, name),
                )
                self.assertEqual(
                    readText(os.path.join(path, queueInfo["meta_file"])),
                    readText(os.path.join(source, queueInfo["meta_file"])),
                )


class GetManyTests(QueueTestCase):
    """
    L{DiskQueue.getMany} returns what the same number of L{DiskQueue.get}
    calls would, across segments, the write buffer and damaged files.
    """

    def test_sameAsGet(self) -> None:
        """
        Interleaved puts, flushes and batch reads of every size give the
        records in order, with the depth and files as single reads leave
        them.
        """
        rng = random.Random(7)
        one = self.openQueue(self.newDirectory(), maxBytesPerFile=500)
        many = self.openQueue(self.newDirectory(), maxBytesPerFile=500)
        self.addCleanup(one.close)
        self.addCleanup(many.close)
        fromOne: list[bytes] = []
        fromMany: list[bytes] = []
        written = 0
        for _ in range(400):
            action = rng.random()
            if action < 0.5:
                size = rng.choice((30, 60))
                for queue in (one, many):
                    queue.put(record(written, size))
                written += 1
            elif action < 0.6:
                one.flush()
                many.flush()
            else:
                limit = rng.randrange(1, 12)
                for _ in range(limit):
                    data = one.get()
                    if data is None:
                        break
                    fromOne.append(data)
                fromMany += many.getMany(limit)
            self.assertEqual(fromMany, fromOne)
            self.assertEqual(many.depth(), one.depth())
        fromOne += drain(one)
        fromMany += many.getMany(written)
        self.assertEqual(fromMany, fromOne)
        self.assertEqual((one.depth(), many.depth()), (0, 0))

    def test_truncatedSegment(self) -> None:
        """
        A segment cut inside a record is handled as L{DiskQueue.get} does:
        logged, renamed C{.bad}, reading goes on in the next segment.
        """
        path = self.newDirectory()
        queue = self.openQueue(path, maxBytesPerFile=100)
        for i in range(6):
            queue.put(record(i))
        queue.close()
        segment = os.path.join(path, "q.diskqueue.000000.dat")
        os.truncate(segment, os.path.getsize(segment) - 5)
        queue = self.openQueue(path, maxBytesPerFile=100)
        self.addCleanup(queue.close)
        records = queue.getMany(10)
        # Two 34-byte records fit a 100-byte segment: the cut loses r1.
        self.assertEqual(records, [record(i) for i in (0, 2, 3, 4, 5)])
        self.assertTrue(os.path.exists(segment + ".bad"))
        self.assertEqual(queue.depth(), 0)
