# -*- test-case-name: tests.nsqd.diskqueue.test_queue -*-
"""
L{DiskQueue}: the facade that composes a queue's metadata file, segment
writer and segment reader, and owns its depth and its sync policy.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from txnsq.nsqd.diskqueue._files import (
    describe,
    metaDataFileName,
    packLength,
    segmentFileName,
    unpackLength,
    unpackLengthFrom,
)
from txnsq.nsqd.diskqueue._metadata import MetaData, MetaDataFile, restoreMetaData
from txnsq.nsqd.diskqueue._reader import SegmentReader
from txnsq.nsqd.diskqueue._writer import (
    WRITE_BUFFER_LIMIT,
    SegmentWriter,
    syncAndClose,
)


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
    No valid record could be read at the read position.
    """


def _levelLog(log: Callable[[str], None], name: str) -> Callable[[str, str], None]:
    """
    @return: a callable taking a level and a message, which passes C{log}
        the line Go nsqd would print.  It holds no reference to the queue,
        so that the queue's parts do not form a cycle with it.
    """
    prefix = f"DISKQUEUE({name})"

    def logf(level: str, message: str) -> None:
        log(f"{level}: {prefix}{message}")

    return logf


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

    The queue's parts are a L{SegmentWriter}, a L{SegmentReader} that
    follows it, and a L{MetaDataFile}; this class composes them, counts the
    depth and decides when to sync.  L{put} and L{get}, which run once per
    record on nsqd's hot path, work on the parts' positions and buffers
    directly rather than through a method call per record; the parts'
    methods do the per-segment and per-batch work (opening, rolling,
    finishing, setting aside, reading a run of records for L{getMany}).

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
        self._logf = logf = _levelLog(log, name)
        self._onBuffered = onBuffered

        self._metaDataFile = MetaDataFile(metaDataFileName(dataPath, name))
        metaData, rewriteMetaData = restoreMetaData(
            self._metaDataFile, dataPath, name, minMsgSize, maxMsgSize, logf
        )
        self._depth = metaData.depth

        # Sync bookkeeping (Go's count and needSync).  _syncFailed is the
        # one attribute a sync job writes from another thread.
        self._count = 0
        self._needSync = rewriteMetaData
        self._syncFailed = False
        self._closed = False
        # Shutdown mode (see holdFailures).
        self._holding = False
        self._dropped = 0
        #: Set by L{close} in shutdown mode: why the final write failed.
        self.closeError: OSError | None = None
        #: Set by L{close} in shutdown mode: how many records it could not
        #: write (they are lost).
        self.unwritten = 0

        fileName = functools.partial(segmentFileName, dataPath, name)
        self._writer = writer = SegmentWriter(
            fileName, logf, metaData.writeFileNum, metaData.writePos
        )
        self._reader = SegmentReader(
            writer,
            fileName,
            logf,
            minMsgSize,
            maxMsgSize,
            metaData.readFileNum,
            metaData.readPos,
        )
        self._checkTailCorruption()

    # -- names ---------------------------------------------------------------

    def fileName(self, fileNum: int) -> str:
        """
        @return: the path of segment C{fileNum}.
        """
        return segmentFileName(self.dataPath, self.name, fileNum)

    def metaDataFileName(self) -> str:
        """
        @return: the path of the metadata file.
        """
        return self._metaDataFile.path

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
        writer = self._writer
        total = 4 + size
        try:
            if writer.pos > 0 and writer.pos + total > self._maxBytesPerFile:
                self._rollWriteFile()
            if writer.fd is None:
                writer.open()
            elif len(writer.buffer) >= WRITE_BUFFER_LIMIT:
                # Flush before appending, so a failure leaves this record out.
                writer.flush()
        except OSError:
            if not self._holding:
                raise
            if writer.fd is None or writer.pos + total > self._maxBytesPerFile:
                # Nowhere to keep it: counted as lost by close.
                self._dropped += 1
                return
            # Shutting down: keep it buffered; close counts what is never
            # written, rather than the first failure ending the shutdown.
        buf = writer.buffer
        if not buf and self._onBuffered is not None:
            self._onBuffered(self)
        buf += packLength(size)
        buf += data
        writer.pos += total
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
        reader = self._reader
        writer = self._writer
        while True:
            readFileNum = reader.fileNum
            writeFileNum = writer.fileNum
            if readFileNum > writeFileNum or (
                readFileNum == writeFileNum and reader.pos >= writer.pos
            ):
                return None
            buf = writer.buffer
            if readFileNum == writeFileNum and buf:
                offset = reader.pos - (writer.pos - len(buf))
                if offset >= 0:
                    # Still in the write buffer: serve it from memory, which
                    # spares a write and a read syscall when the reader
                    # keeps up with the writer.
                    (size,) = unpackLengthFrom(buf, offset)
                    data = bytes(buf[offset + 4 : offset + 4 + size])
                    reader.pos += 4 + size
                    reader.behind = True
                    self._depth -= 1
                    self._count += 1
                    # Only a reader that caught up with the writer can be
                    # at the tail: spare the call otherwise.
                    if reader.pos >= writer.pos:
                        self._checkTailCorruption()
                    return data
                if not writer.aligned:
                    # The record at readPos may be partly on disk, partly
                    # buffered (a flush failed midway): put it all on disk.
                    try:
                        writer.flush()
                    except OSError as e:
                        self._logf("ERROR", f" failed to write - {describe(e)}")
                        return None
            file = reader.file
            if file is None:
                try:
                    file = reader.open()
                except OSError as e:
                    self._handleReadError(describe(e))
                    continue
            end = reader.end
            if end is not None and reader.pos >= end:
                # A finished segment read to its end before the writer
                # rolled (where Go would hit EOF and call it bad).
                self._finishReadFile()
                self._checkTailCorruption()
                continue
            try:
                if reader.behind:
                    file.seek(reader.pos)
                    reader.behind = False
                header = file.read(4)
                if len(header) != 4:
                    raise _ReadError("unexpected EOF" if header else "EOF")
                (size,) = unpackLength(header)
                if size < self._minMsgSize or size > self._maxMsgSize:
                    # Nothing tells where the next record would start.
                    raise _ReadError(f"invalid message read size ({size})")
                data = file.read(size)
                if len(data) != size:
                    raise _ReadError("unexpected EOF")
            except _ReadError as e:
                self._handleReadError(str(e))
                continue
            except OSError as e:
                self._handleReadError(describe(e))
                continue
            reader.pos += 4 + size
            self._depth -= 1
            self._count += 1
            if end is not None and reader.pos >= end:
                self._finishReadFile()
                self._checkTailCorruption()
            elif readFileNum == writeFileNum and reader.pos >= writer.pos:
                # Caught up with the writer (see above).
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
        reader = self._reader
        while len(records) < limit and not self._closed:
            if reader.file is not None and not reader.behind:
                end = reader.diskEnd()
                if end is not None and reader.pos + 4 <= end:
                    before = len(records)
                    try:
                        reader.readMany(limit, end, records)
                    finally:
                        # Records read before an error count as read.
                        read = len(records) - before
                        self._depth -= read
                        self._count += read
                    if reader.end is not None and reader.pos >= reader.end:
                        self._finishReadFile()
                        self._checkTailCorruption()
                        continue
                    if len(records) >= limit:
                        break
                    # Whatever stopped the tight loop, get() sorts it out.
            record = self.get()
            if record is None:
                break
            records.append(record)
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
            self._logf("ERROR", f" failed to sync - {describe(e)}")
            if not self._holding:
                raise
            self.closeError = e
            self.unwritten = self._dropped + self._writer.unwrittenRecords(
                self._readerSkip()
            )
        finally:
            self._release()

    def holdFailures(self) -> None:
        """
        Shutdown mode: from now on L{put} keeps a record it cannot write
        buffered instead of raising, and L{close} does not raise either but
        sets L{closeError} and L{unwritten}, so a full disk neither stops
        the shutdown halfway nor hides how much it lost.
        """
        self._holding = True

    def _readerSkip(self) -> int:
        # Buffered records the reader already took (it reads from the
        # buffer when it keeps up) are not lost with the buffer.
        reader = self._reader
        writer = self._writer
        if reader.fileNum != writer.fileNum:
            return 0
        return reader.pos - (writer.pos - len(writer.buffer))

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
        if self._writer.buffer:
            self._writer.flush()

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
        reader = self._reader
        writer = self._writer
        fds = writer.takeSyncDescriptors()
        text = MetaData(
            self._depth, reader.fileNum, reader.pos, writer.fileNum, writer.pos
        ).format()
        seq = self._metaDataFile.newSnapshot()
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
        # Runs in a worker thread: it touches only its own arguments, the
        # metadata file (which has a lock) and _syncFailed.
        try:
            # Metadata must never point at data that is not on disk.
            syncAndClose(fds)
            self._metaDataFile.replace(text, seq)
        except OSError:
            self._syncFailed = True
            raise

    # -- coordinating the reader and the writer -------------------------------

    def _rollWriteFile(self) -> None:
        writer = self._writer
        reader = self._reader
        # Flush first so that a failure changes nothing.
        writer.flush()
        if reader.fileNum == writer.fileNum and reader.file is not None:
            # The reader is inside this segment: it now has a final size.
            reader.end = writer.pos
        writer.roll()
        self._needSync = True

    def _finishReadFile(self) -> None:
        self._reader.finish()
        self._needSync = True

    def _handleReadError(self, reason: str) -> None:
        self._reader.setAside(reason)
        self._needSync = True
        self._checkTailCorruption()

    def _checkTailCorruption(self) -> None:
        reader = self._reader
        writer = self._writer
        if reader.fileNum < writer.fileNum or (
            reader.fileNum == writer.fileNum and reader.pos < writer.pos
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
        if reader.skipIfPastWriter():
            self._needSync = True

    # -- emptying and shutting down -------------------------------------------

    def _deleteAllFiles(self) -> None:
        error = self._reader.skipToNextRWFile()
        self._depth = 0
        try:
            self._metaDataFile.remove()
        except OSError as e:
            self._logf("ERROR", f" failed to remove metadata file - {describe(e)}")
            error = e
        if error is not None:
            raise error

    def _release(self) -> None:
        self._closed = True
        self._reader.close()
        self._writer.close()
        self._writer.dropPendingSyncs()
