# -*- test-case-name: tests.nsqd.diskqueue.test_files -*-
"""
What go-diskqueue v1.1.0 calls a queue's files and how it frames records in
its segments, with the small file helpers the rest of the package shares.

A record is C{[int32 big-endian length][payload]}; nothing marks where a
segment's records end but the file size (or, for the segment being written,
the metadata's write position).
"""

from __future__ import annotations

import contextlib
import os
import re
import struct

# The header of every record: the payload length.
_LENGTH = struct.Struct(">i")

# Its methods, bound once for the hot paths to call as plain functions:
# CPython 3.11 compiles a method call on an imported name (LENGTH.pack(n)
# in another module) as an attribute load it cannot specialize, which
# creates a bound method per call and costs some 5% of a put.
packLength = _LENGTH.pack
unpackLength = _LENGTH.unpack
unpackLengthFrom = _LENGTH.unpack_from


def segmentFileName(dataPath: str, name: str, fileNum: int) -> str:
    """
    @return: the path of segment C{fileNum} of queue C{name}.
    """
    return os.path.join(dataPath, f"{name}.diskqueue.{fileNum:06d}.dat")


def metaDataFileName(dataPath: str, name: str) -> str:
    """
    @return: the path of the metadata file of queue C{name}.
    """
    return os.path.join(dataPath, f"{name}.diskqueue.meta.dat")


def existingSegments(dataPath: str, name: str) -> list[int]:
    """
    @return: the numbers of the segments of queue C{name} found in
        C{dataPath}, in no particular order (none if it cannot be listed).
    """
    pattern = re.compile(re.escape(name) + r"\.diskqueue\.(\d+)\.dat")
    try:
        names = os.listdir(dataPath)
    except OSError:
        names = []
    return [int(m.group(1)) for m in map(pattern.fullmatch, names) if m]


def countRecords(
    fileName: str, start: int, end: int, minMsgSize: int, maxMsgSize: int
) -> int:
    """
    How many whole, valid records lie between C{start} and C{end} of
    C{fileName}, counted from C{start} up to the first that is not.

    @return: that count (0 if the file cannot be read).
    """
    try:
        with open(fileName, "rb") as f:
            f.seek(start)
            data = f.read(end - start)
    except OSError:
        return 0
    count = 0
    pos = 0
    while len(data) - pos >= 4:
        (size,) = _LENGTH.unpack_from(data, pos)
        if size < minMsgSize or size > maxMsgSize:
            break
        if len(data) - pos - 4 < size:
            break
        pos += 4 + size
        count += 1
    return count


def describe(error: OSError) -> str:
    """
    @return: the text go-diskqueue would log for C{error} (its C{strerror}
        when there is one).
    """
    return error.strerror or str(error)


def writeAll(fd: int, data: bytes) -> None:
    """
    Write all of C{data} to C{fd}, however many calls that takes.
    """
    with memoryview(data) as view:
        written = 0
        while written < len(view):
            written += os.write(fd, view[written:])


def closeQuietly(fd: int) -> None:
    """
    Close C{fd}, ignoring errors: used where nothing more can be done.
    """
    with contextlib.suppress(OSError):
        os.close(fd)


def removeQuietly(path: str) -> None:
    """
    Remove C{path}, ignoring errors: used to clean up after a failure that
    is reported anyway.
    """
    with contextlib.suppress(OSError):
        os.remove(path)
