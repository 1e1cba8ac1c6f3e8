# -*- test-case-name: tests.nsqd.test_diskqueue -*-
"""
A disk-backed FIFO whose files are byte-compatible with go-diskqueue v1.1.0,
the backend Go nsqd 1.3.0 gives every durable topic and channel.

On-disk layout (all files mode 0600, inside C{dataPath}):

  - C{<name>.diskqueue.%06d.dat}: segment files, each a run of records
    C{[int32 big-endian length][payload]};
  - C{<name>.diskqueue.meta.dat}: the text
    C{"<depth>\\n<readFileNum>,<readPos>\\n<writeFileNum>,<writePos>\\n"},
    always replaced atomically (temporary file, fsync, rename);
  - C{<segment>.bad}: a segment that could not be read, set aside.

Unlike Go, which runs one goroutine per queue, L{DiskQueue} is driven from
one thread (the reactor): L{DiskQueue.put} and L{DiskQueue.get} are small
synchronous calls on buffered files.  The only slow operation, fsync, is
split off: L{DiskQueue.prepareSync} does the bookkeeping on the caller's
thread and returns a job that may run in a worker thread while the queue
keeps being used.

Where this module knowingly differs from Go:

  - Reading never hits end-of-file at the boundary of a finished segment.
    go-diskqueue v1.1.0 renames such a segment to C{.bad} when the reader
    had caught up with the writer just before the writer rolled
    (nsqio/go-diskqueue#42); here the segment is simply finished and
    deleted.
  - A metadata file that cannot be parsed is logged and the queue starts
    empty I{after} any segments already on disk, which are left untouched
    for an operator to inspect; Go would reuse segment 0 and overwrite it.
  - C{close} fsyncs the write segment before persisting metadata (Go closes
    it unsynced).
  - The tail consistency check (depth must be 0 when nothing is left to
    read) also runs at startup, not only after the next read.
  - After an unclean shutdown, records written beyond the metadata's write
    position are counted into the depth at startup: Go reads them whatever
    the depth says, but nsqd's channels read only while the depth is
    positive.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import struct
import threading
from collections.abc import Callable

_LENGTH = struct.Struct(">i")

# Writes are coalesced in memory and handed to the kernel once this many
# bytes are pending (or sooner: see DiskQueue.flush).
_WRITE_BUFFER_LIMIT = 64 * 1024
_READ_BUFFER_SIZE = 64 * 1024

# go-diskqueue reads the metadata with fmt.Fscanf("%d\n%d,%d\n%d,%d\n"),
# which ignores whatever follows the last number.
_META_PATTERN = re.compile(rb"([-+]?\d+)\n([-+]?\d+),([-+]?\d+)\n([-+]?\d+),([-+]?\d+)")


class DiskQueueClosed(OSError):
    """
    The queue was closed or deleted; it accepts no more operations.
    """


def _discardLog(message: str) -> None:
    """
    Default logger: drop the message.
    """


def _noSync() -> None:
    """
    The sync job of a closed queue: nothing to do.
    """


class _ReadError(Exception):
    """
    A record could not be read at the current read position.
    """


class DiskQueue:
    """
    A FIFO of opaque records kept in segment files, as go-diskqueue keeps it.

    Log lines go to the injected C{log} callable as text prefixed with the
    level the way Go nsqd prints them (C{"INFO: "}, C{"WARNING: "},
    C{"ERROR: "}), followed by go-diskqueue's own wording, so the caller can
    filter by level.

    Sync protocol: after any L{put} or L{get}, the caller checks
    L{syncNeeded}; when it is true (or, for the time-based policy, when
    L{dirty} is true and the sync timeout elapsed) it calls L{prepareSync}
    on its own thread and runs the returned job, possibly in a worker
    thread.  Run the jobs one at a time: a later job could otherwise write
    its metadata before an earlier one has fsynced the segments it names.
    A job still running when the queue is emptied, deleted or closed is
    harmless (its now-stale metadata is not written).

    @ivar name: the queue name (C{topic} or C{topic:channel}).
    @ivar dataPath: the directory holding the files.
    """

    def __init__(
        self,
        name: str,
        dataPath: str,
        maxBytesPerFile: int,
        minMsgSize: int,
        maxMsgSize: int,
        syncEvery: int,
        log: Callable[[str], None] = _discardLog,
        onBuffered: Callable[[DiskQueue], None] | None = None,
    ) -> None:
        """
        Open (or create lazily) the queue C{name} in C{dataPath}, restoring
        its position from the metadata file if there is one.

        @param maxBytesPerFile: a segment is rolled before a record would
            take it past this size; a lone record may exceed it.
        @param minMsgSize: smallest valid record length (nsqd: 26).
        @param maxMsgSize: largest valid record length (nsqd:
            C{--max-msg-size} + 26).
        @param syncEvery: L{syncNeeded} turns true after this many
            L{put}s and L{get}s since the last sync.
        @param log: receives one line of text per log event.
        @param onBuffered: called when a L{put} starts filling an empty
            write buffer, so the owner knows to L{flush} it soon (nsqd
            flushes before a publish's C{OK} reaches the socket).
        """
        self.name = name
        self.dataPath = dataPath
        self._maxBytesPerFile = maxBytesPerFile
        self._minMsgSize = minMsgSize
        self._maxMsgSize = maxMsgSize
        self._syncEvery = max(1, syncEvery)
        self._log = log
        self._onBuffered = onBuffered

        self._depth = 0
        self._readFileNum = 0
        self._readPos = 0
        self._writeFileNum = 0
        self._writePos = 0

        # Reading: the open segment, and its final size once it is no
        # longer the write segment (None while it still may grow).
        self._reader: io.BufferedReader[io.FileIO] | None = None
        self._readFileEnd: int | None = None
        # Records were served from the write buffer, past the reader's
        # file position.
        self._readerBehind = False

        # Writing: the open segment, the bytes not yet handed to the
        # kernel, and earlier segments still owed an fsync.
        self._writeFd: int | None = None
        self._writeBuf = bytearray()
        self._writeBufAligned = True
        self._pendingFsync: list[int] = []

        # Sync bookkeeping (Go's count and needSync).  _syncFailed is the
        # one attribute a sync job writes from another thread.
        self._count = 0
        self._needSync = False
        self._syncFailed = False
        self._closed = False

        # Metadata snapshots are numbered; a job only writes its snapshot
        # if nothing newer was written or invalidated (empty, delete)
        # meanwhile.  The lock orders those writes against file removal.
        self._metaLock = threading.Lock()
        self._metaSeq = 0
        self._metaSeqDone = 0

        self._retrieveMetaData()
        self._checkTailCorruption()

    # -- names ---------------------------------------------------------------

    def fileName(self, fileNum: int) -> str:
        """
        @return: the path of segment C{fileNum}.
        """
        return os.path.join(self.dataPath, f"{self.name}.diskqueue.{fileNum:06d}.dat")

    def metaDataFileName(self) -> str:
        """
        @return: the path of the metadata file.
        """
        return os.path.join(self.dataPath, f"{self.name}.diskqueue.meta.dat")

    def _logf(self, level: str, message: str) -> None:
        self._log(f"{level}: DISKQUEUE({self.name}){message}")

    # -- BackendQueue --------------------------------------------------------

    def depth(self) -> int:
        """
        @return: the number of records not yet returned by L{get}.
        """
        return self._depth

    def put(self, data: bytes) -> None:
        """
        Append one record; L{get} can return it at once.

        @raise OSError: the record has an invalid length, the queue is
            closed, or the segment could not be opened or written.  The
            record is then not stored.
        """
        if self._closed:
            raise DiskQueueClosed("exiting")
        size = len(data)
        if size < self._minMsgSize or size > self._maxMsgSize:
            raise OSError(
                f"invalid message write size ({size})"
                f" minMsgSize={self._minMsgSize} maxMsgSize={self._maxMsgSize}"
            )
        total = 4 + size
        if self._writePos > 0 and self._writePos + total > self._maxBytesPerFile:
            self._rollWriteFile()
        if self._writeFd is None:
            self._openWriteFile()
        elif len(self._writeBuf) >= _WRITE_BUFFER_LIMIT:
            # Flush before appending, so a failure leaves this record out.
            self._flushWrite()
        buf = self._writeBuf
        if not buf and self._onBuffered is not None:
            self._onBuffered(self)
        buf += _LENGTH.pack(size)
        buf += data
        self._writePos += total
        self._depth += 1
        self._count += 1

    def get(self) -> bytes | None:
        """
        Remove and return the oldest record, or L{None} if there is none.

        Unreadable segments are renamed to C{.bad} (and logged) and reading
        continues with the next one.
        """
        if self._closed:
            return None
        while True:
            readFileNum = self._readFileNum
            writeFileNum = self._writeFileNum
            if readFileNum > writeFileNum or (
                readFileNum == writeFileNum and self._readPos >= self._writePos
            ):
                return None
            buf = self._writeBuf
            if readFileNum == writeFileNum and buf:
                offset = self._readPos - (self._writePos - len(buf))
                if offset >= 0:
                    # Still in the write buffer: serve it from memory, which
                    # spares a write and a read syscall when the reader
                    # keeps up with the writer.
                    (size,) = _LENGTH.unpack_from(buf, offset)
                    data = bytes(buf[offset + 4 : offset + 4 + size])
                    self._readPos += 4 + size
                    self._readerBehind = True
                    self._depth -= 1
                    self._count += 1
                    self._checkTailCorruption()
                    return data
                if not self._writeBufAligned:
                    # The record at readPos may be partly on disk, partly
                    # buffered (a flush failed midway): put it all on disk.
                    try:
                        self._flushWrite()
                    except OSError as e:
                        self._logf("ERROR", f" failed to write - {_describe(e)}")
                        return None
            reader = self._reader
            if reader is None:
                try:
                    reader = self._openReadFile()
                except OSError as e:
                    self._handleReadError(_describe(e))
                    continue
            end = self._readFileEnd
            if end is not None and self._readPos >= end:
                # A finished segment read to its end before the writer
                # rolled (where Go would hit EOF and call it bad).
                self._finishReadFile()
                self._checkTailCorruption()
                continue
            try:
                if self._readerBehind:
                    reader.seek(self._readPos)
                    self._readerBehind = False
                header = reader.read(4)
                if len(header) != 4:
                    raise _ReadError("unexpected EOF" if header else "EOF")
                (size,) = _LENGTH.unpack(header)
                if size < self._minMsgSize or size > self._maxMsgSize:
                    # Nothing tells where the next record would start.
                    raise _ReadError(f"invalid message read size ({size})")
                data = reader.read(size)
                if len(data) != size:
                    raise _ReadError("unexpected EOF")
            except _ReadError as e:
                self._handleReadError(str(e))
                continue
            except OSError as e:
                self._handleReadError(_describe(e))
                continue
            self._readPos += 4 + size
            self._depth -= 1
            self._count += 1
            if end is not None and self._readPos >= end:
                self._finishReadFile()
            self._checkTailCorruption()
            return data

    def getMany(self, limit: int) -> list[bytes]:
        """
        Remove and return up to C{limit} records, as that many L{get} calls
        would (fewer when the queue runs out).

        Records lying wholly on disk in the open read segment are read in a
        tight loop; anything else (the write buffer, segment ends, errors)
        goes through L{get}.
        """
        records: list[bytes] = []
        append = records.append
        unpack = _LENGTH.unpack
        minSize = self._minMsgSize
        maxSize = self._maxMsgSize
        while len(records) < limit and not self._closed:
            reader = self._reader
            if reader is not None and not self._readerBehind:
                end = self._readFileEnd
                if end is None and self._readFileNum == self._writeFileNum:
                    # Only what has left the write buffer is on disk.
                    end = self._writePos - len(self._writeBuf)
                readPos = self._readPos
                if end is not None and readPos + 4 <= end:
                    header = reader.read(4)
                    if len(header) == 4:
                        (size,) = unpack(header)
                        if minSize <= size <= maxSize and readPos + 4 + size <= end:
                            data = reader.read(size)
                            if len(data) == size:
                                self._readPos = readPos + 4 + size
                                self._depth -= 1
                                self._count += 1
                                append(data)
                                if self._readFileEnd is not None and (
                                    self._readPos >= self._readFileEnd
                                ):
                                    self._finishReadFile()
                                    self._checkTailCorruption()
                                continue
                    # Anything unusual: let get() re-read from readPos and
                    # handle it.
                    self._readerBehind = True
            record = self.get()
            if record is None:
                break
            append(record)
        if records and not self._closed:
            # get() checks the tail after each record; once per batch will do.
            self._checkTailCorruption()
        return records

    def empty(self) -> None:
        """
        Drop every record: delete segments C{readFileNum..writeFileNum} and
        the metadata file, and carry on with segment C{writeFileNum + 1}.

        @raise OSError: a file could not be removed (after trying them all).
        """
        if self._closed:
            raise DiskQueueClosed("exiting")
        self._logf("INFO", ": emptying")
        self._count = 0
        self._deleteAllFiles()

    def close(self) -> None:
        """
        Flush, fsync, persist metadata and release the files.  Further
        calls do nothing.

        @raise OSError: the final sync failed (the files are closed anyway).
        """
        if self._closed:
            return
        self._logf("INFO", ": closing")
        try:
            self.sync()
        except OSError as e:
            self._logf("ERROR", f" failed to sync - {_describe(e)}")
            raise
        finally:
            self._release()

    def delete(self) -> None:
        """
        Drop every record, remove the segments and the metadata file, and
        release the files.  Further calls do nothing.

        @raise OSError: a file could not be removed (after trying them all).
        """
        if self._closed:
            return
        self._logf("INFO", ": deleting")
        try:
            self._deleteAllFiles()
        finally:
            self._release()

    @property
    def closed(self) -> bool:
        """
        Whether the queue was closed or deleted (its owner let it go).
        """
        return self._closed

    # -- syncing -------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        """
        Whether anything happened since the last sync (for the time-based
        sync policy, Go's C{--sync-timeout}).
        """
        return self._count > 0 or self._needSync or self._syncFailed

    def syncNeeded(self) -> bool:
        """
        @return: whether a sync is due now: C{syncEvery} operations since
            the last one, a segment was started or finished, the state was
            repaired, or the last sync job failed.
        """
        return self._needSync or self._syncFailed or self._count >= self._syncEvery

    def flush(self) -> None:
        """
        Hand buffered writes to the kernel now (no fsync), so that a crash
        of this process loses nothing already put.

        @raise OSError: the write failed; the bytes stay buffered.
        """
        if self._writeBuf:
            self._flushWrite()

    def prepareSync(self) -> Callable[[], None]:
        """
        Snapshot the queue for a sync, on the caller's thread.

        Buffered writes are flushed and the metadata text is taken now.
        The returned job fsyncs every segment written since the last sync
        and then atomically replaces the metadata file with that snapshot.
        It touches no other state, so it may run in a worker thread while
        L{put} and L{get} go on; it raises L{OSError} on failure, in which
        case L{syncNeeded} turns true again.

        @raise OSError: the flush failed; nothing was reset.
        """
        if self._closed:
            return _noSync
        self._flushWrite()
        fds = self._pendingFsync
        if self._writeFd is not None:
            # A duplicate, because the writer may roll and close its
            # descriptor while the job is still running.
            fds.append(os.dup(self._writeFd))
        self._pendingFsync = []
        text = self._metaDataText()
        self._metaSeq += 1
        seq = self._metaSeq
        self._count = 0
        self._needSync = False
        self._syncFailed = False

        def job() -> None:
            self._runSync(fds, text, seq)

        return job

    def sync(self) -> None:
        """
        Do a whole sync on the caller's thread (L{prepareSync} and its job).
        """
        self.prepareSync()()

    def _runSync(self, fds: list[int], text: bytes, seq: int) -> None:
        error: OSError | None = None
        for fd in fds:
            try:
                os.fsync(fd)
            except OSError as e:
                error = error or e
            finally:
                with contextlib.suppress(OSError):
                    os.close(fd)
        try:
            if error is not None:
                # Metadata must never point at data that is not on disk.
                raise error
            self._persistMetaData(text, seq)
        except OSError:
            self._syncFailed = True
            raise

    def _metaDataText(self) -> bytes:
        return b"%d\n%d,%d\n%d,%d\n" % (
            self._depth,
            self._readFileNum,
            self._readPos,
            self._writeFileNum,
            self._writePos,
        )

    def _persistMetaData(self, text: bytes, seq: int) -> None:
        fileName = self.metaDataFileName()
        with self._metaLock:
            if seq <= self._metaSeqDone:
                return
            tmpFileName = f"{fileName}.{random.getrandbits(63)}.tmp"
            fd = os.open(tmpFileName, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                try:
                    _writeAll(fd, text)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.rename(tmpFileName, fileName)
            except OSError:
                _removeQuietly(tmpFileName)
                raise
            self._metaSeqDone = seq

    # -- startup -------------------------------------------------------------

    def _retrieveMetaData(self) -> None:
        fileName = self.metaDataFileName()
        try:
            with open(fileName, "rb") as f:
                text = f.read(4096)
        except FileNotFoundError:
            return
        except OSError as e:
            self._startAfterExistingFiles(_describe(e))
            return
        match = _META_PATTERN.match(text)
        if match is None:
            self._startAfterExistingFiles(f"unexpected metadata {text[:64]!r}")
            return
        depth, readFileNum, readPos, writeFileNum, writePos = (
            int(group) for group in match.groups()
        )
        if min(readFileNum, readPos, writeFileNum, writePos) < 0:
            self._startAfterExistingFiles(f"negative position in {text[:64]!r}")
            return
        self._depth = depth
        self._readFileNum = readFileNum
        self._readPos = readPos
        self._writeFileNum = writeFileNum
        self._writePos = writePos

        # Metadata older than the data (not synced at the last shutdown):
        # writing at writePos would overwrite records, so write elsewhere and
        # let the reader salvage what lies beyond the stale positions.
        writeFileName = self.fileName(writeFileNum)
        try:
            fileSize = os.stat(writeFileName).st_size
        except OSError:
            return
        if writePos < fileSize:
            self._logf(
                "WARNING",
                f" {writeFileName} metadata writePos {writePos}"
                f" < file size of {fileSize}, skipping to new file",
            )
            # Go's reader reads those records whatever the depth says; our
            # owners read only while depth() > 0, so count them in.
            self._depth += self._countRecords(writeFileName, writePos, fileSize)
            self._writeFileNum += 1
            self._writePos = 0

    def _countRecords(self, fileName: str, start: int, end: int) -> int:
        """
        How many whole, valid records lie between C{start} and C{end}.
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
            if size < self._minMsgSize or size > self._maxMsgSize:
                break
            if len(data) - pos - 4 < size:
                break
            pos += 4 + size
            count += 1
        return count

    def _startAfterExistingFiles(self, reason: str) -> None:
        pattern = re.compile(re.escape(self.name) + r"\.diskqueue\.(\d+)\.dat")
        try:
            names = os.listdir(self.dataPath)
        except OSError:
            names = []
        nums = [int(m.group(1)) for m in map(pattern.fullmatch, names) if m]
        start = max(nums) + 1 if nums else 0
        self._logf(
            "ERROR",
            f" failed to retrieveMetaData - {reason}; starting empty at file"
            f" {start} ({len(nums)} existing data files left untouched)",
        )
        self._readFileNum = self._writeFileNum = start
        self._needSync = True

    # -- writing -------------------------------------------------------------

    def _openWriteFile(self) -> None:
        fileName = self.fileName(self._writeFileNum)
        fd = os.open(fileName, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if self._writePos > 0:
                os.lseek(fd, self._writePos, os.SEEK_SET)
        except OSError:
            os.close(fd)
            raise
        self._writeFd = fd
        self._logf("INFO", f": writeOne() opened {fileName}")

    def _flushWrite(self) -> None:
        buf = self._writeBuf
        if not buf:
            return
        fd = self._writeFd
        assert fd is not None
        written = 0
        try:
            with memoryview(buf) as view:
                while written < len(view):
                    written += os.write(fd, view[written:])
        finally:
            if written == len(buf):
                self._writeBuf = bytearray()
                self._writeBufAligned = True
            elif written:
                # A copy, not an in-place del: a slice of the buffer may
                # still be referenced (by the exception's traceback).
                self._writeBuf = buf[written:]
                self._writeBufAligned = False

    def _rollWriteFile(self) -> None:
        self._flushWrite()
        if self._writeFd is not None:
            self._pendingFsync.append(self._writeFd)
            self._writeFd = None
        if self._readFileNum == self._writeFileNum and self._reader is not None:
            # The reader is inside this segment: it now has a final size.
            self._readFileEnd = self._writePos
        self._writeFileNum += 1
        self._writePos = 0
        self._needSync = True

    def _closeWriteFile(self) -> None:
        fd = self._writeFd
        self._writeFd = None
        self._writeBuf = bytearray()
        self._writeBufAligned = True
        if fd is not None:
            _closeQuietly(fd)

    # -- reading -------------------------------------------------------------

    def _openReadFile(self) -> io.BufferedReader[io.FileIO]:
        fileName = self.fileName(self._readFileNum)
        reader = io.BufferedReader(io.FileIO(fileName, "r"), _READ_BUFFER_SIZE)
        try:
            self._logf("INFO", f": readOne() opened {fileName}")
            if self._readPos > 0:
                reader.seek(self._readPos)
            if self._readFileNum < self._writeFileNum:
                self._readFileEnd = os.fstat(reader.fileno()).st_size
            else:
                self._readFileEnd = None
        except OSError:
            reader.close()
            raise
        self._reader = reader
        return reader

    def _closeReadFile(self) -> None:
        reader = self._reader
        self._reader = None
        self._readFileEnd = None
        self._readerBehind = False
        if reader is not None:
            with contextlib.suppress(OSError):
                reader.close()

    def _finishReadFile(self) -> None:
        oldFileNum = self._readFileNum
        self._closeReadFile()
        self._readFileNum += 1
        self._readPos = 0
        self._needSync = True
        fileName = self.fileName(oldFileNum)
        try:
            os.remove(fileName)
        except OSError as e:
            self._logf("ERROR", f" failed to Remove({fileName}) - {_describe(e)}")

    def _handleReadError(self, reason: str) -> None:
        badFileName = self.fileName(self._readFileNum)
        self._logf("ERROR", f" reading at {self._readPos} of {badFileName} - {reason}")
        self._closeReadFile()
        if self._readFileNum == self._writeFileNum:
            # The write segment itself is unreadable: write elsewhere too.
            # Flushing first keeps the .bad file complete for inspection.
            with contextlib.suppress(OSError):
                self.flush()
            self._closeWriteFile()
            self._writeFileNum += 1
            self._writePos = 0
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
        self._readFileNum += 1
        self._readPos = 0
        self._needSync = True
        self._checkTailCorruption()

    def _checkTailCorruption(self) -> None:
        readFileNum = self._readFileNum
        writeFileNum = self._writeFileNum
        if readFileNum < writeFileNum or (
            readFileNum == writeFileNum and self._readPos < self._writePos
        ):
            return
        # Nothing is left to read, so depth must be 0.
        depth = self._depth
        if depth != 0:
            if depth < 0:
                self._logf(
                    "ERROR",
                    f" negative depth at tail ({depth}), metadata corruption,"
                    " resetting 0...",
                )
            else:
                self._logf(
                    "ERROR",
                    f" positive depth at tail ({depth}), data loss, resetting 0...",
                )
            self._depth = 0
            self._needSync = True
        if readFileNum != writeFileNum or self._readPos != self._writePos:
            if readFileNum > writeFileNum:
                self._logf(
                    "ERROR",
                    f" readFileNum > writeFileNum ({readFileNum} > {writeFileNum}),"
                    " corruption, skipping to next writeFileNum and resetting 0...",
                )
            if self._readPos > self._writePos:
                self._logf(
                    "ERROR",
                    f" readPos > writePos ({self._readPos} > {self._writePos}),"
                    " corruption, skipping to next writeFileNum and resetting 0...",
                )
            self._skipToNextRWFile()
            self._needSync = True

    # -- emptying and shutting down -------------------------------------------

    def _skipToNextRWFile(self) -> OSError | None:
        self._closeReadFile()
        self._closeWriteFile()
        # Segments owed an fsync are being deleted or were read already;
        # holding their descriptors would only keep disk space in use.
        for fd in self._pendingFsync:
            _closeQuietly(fd)
        self._pendingFsync = []
        error: OSError | None = None
        for fileNum in range(self._readFileNum, self._writeFileNum + 1):
            try:
                os.remove(self.fileName(fileNum))
            except FileNotFoundError:
                pass
            except OSError as e:
                self._logf("ERROR", f" failed to remove data file - {_describe(e)}")
                error = error or e
        # Go continues at writeFileNum + 1; past readFileNum as well, so that
        # corrupt metadata can never make us write over a segment.
        nextFileNum = max(self._readFileNum, self._writeFileNum) + 1
        self._readFileNum = self._writeFileNum = nextFileNum
        self._readPos = self._writePos = 0
        self._depth = 0
        return error

    def _deleteAllFiles(self) -> None:
        error = self._skipToNextRWFile()
        with self._metaLock:
            # Any sync job still running carries an older snapshot.
            self._metaSeqDone = self._metaSeq
            try:
                os.remove(self.metaDataFileName())
            except FileNotFoundError:
                pass
            except OSError as e:
                self._logf("ERROR", f" failed to remove metadata file - {_describe(e)}")
                error = e
        if error is not None:
            raise error

    def _release(self) -> None:
        self._closed = True
        self._closeReadFile()
        self._closeWriteFile()
        for fd in self._pendingFsync:
            _closeQuietly(fd)
        self._pendingFsync = []


def _describe(error: OSError) -> str:
    return error.strerror or str(error)


def _writeAll(fd: int, data: bytes) -> None:
    with memoryview(data) as view:
        written = 0
        while written < len(view):
            written += os.write(fd, view[written:])


def _closeQuietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _removeQuietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)
