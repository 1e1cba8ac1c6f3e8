"""
Tests for L{txnsq.nsqd.diskqueue._files}: segment file names and record
framing.
"""

from __future__ import annotations

import os

from txnsq.nsqd.diskqueue._files import (
    countRecords,
    existingSegments,
    metaDataFileName,
    packLength,
    segmentFileName,
    unpackLength,
    unpackLengthFrom,
)

from ._support import SegmentTestCase, recordBytes, writeBytes


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
