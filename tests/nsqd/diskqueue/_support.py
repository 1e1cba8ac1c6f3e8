"""
Helpers shared by the tests of a disk queue's segment files
(L{txnsq.nsqd.diskqueue._files}, L{txnsq.nsqd.diskqueue._writer} and
L{txnsq.nsqd.diskqueue._reader}).
"""

from __future__ import annotations

import functools
import os
import struct

from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqd.diskqueue._files import segmentFileName
from txnsq.nsqd.diskqueue._reader import SegmentReader
from txnsq.nsqd.diskqueue._writer import SegmentWriter

MIN_MSG_SIZE = 26
MAX_MSG_SIZE = 1024


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
