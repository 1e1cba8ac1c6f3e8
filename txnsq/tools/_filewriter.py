# -*- test-case-name: tests.tools.test_nsq_to_file -*-
"""
The files of C{nsq_to_file}: naming, opening, rotating, syncing, closing
and moving them, as Go NSQ 1.3.0's C{apps/nsq_to_file/file_logger.go} does.

L{FileWriter} does blocking file I/O and is meant to run on a worker
thread, never on the reactor (L{txnsq.tools._filelogger} runs it there,
one operation at a time).  It has no clock of its own: every call that
may rotate is told the time, so tests drive rotation with plain numbers.
It logs nothing either: it records what Go would log in L{FileWriter.events}
for the reactor thread to emit, plus one line Go lacks, for each file
closed for good (C{[topic/channel] finished /out/t.log: 3 messages, 12
bytes}), so that a person can follow the files written.

What Go does, and this does too:

  - the file name is the C{--filename-format} with C{<TOPIC>}, C{<HOST>}
    and C{<PID>} replaced once (L{computeFilenameFormat}), C{<DATETIME>}
    replaced at each rotation check, and C{<REV>} replaced by C{-000000},
    C{-000001}, ... when a name is taken (or removed when neither gzip,
    rotation nor a work dir is on);
  - a file rotates when C{<DATETIME>} changes, when it has been open
    longer than C{--rotate-interval}, or when it has grown past
    C{--rotate-size} (counting the bytes written, uncompressed, on top of
    its size when opened) -- checked before each message, so a file
    exceeds the size by at most one message;
  - gzip output is a series of gzip members: each sync ends the member
    (its trailer, with a checksum, marks what was synced) and starts the
    next one, so a file is valid up to its last sync whatever happens
    after;
  - a finished file moves from C{--work-dir} to C{--output-dir} with a
    hard link (never overwriting: a taken name gets the next C{<REV>}).
"""

from __future__ import annotations

import gzip
import os
import posixpath
from collections.abc import Callable
from typing import IO, Any

import attrs

from txnsq._go.values import formatDuration
from txnsq.tools._strftime import strftime

__all__ = [
    "FileOptions",
    "FileWriter",
    "FilenameFormatError",
    "WriterFailed",
    "computeFilenameFormat",
]


@attrs.frozen
class FileOptions:
    """
    The file flags of C{nsq_to_file}, as Go names them.

    @ivar outputDir: C{--output-dir}.
    @ivar workDir: C{--work-dir}, already defaulted to C{outputDir} as Go
        does when it is empty.
    @ivar datetimeFormat: C{--datetime-format}.
    @ivar filenameFormat: C{--filename-format}.
    @ivar hostIdentifier: C{--host-identifier}.
    @ivar gzip: C{--gzip}.
    @ivar gzipLevel: C{--gzip-level}.
    @ivar rotateSize: C{--rotate-size} in bytes (0: never).
    @ivar rotateInterval: C{--rotate-interval} in seconds (0: never).
    @ivar skipEmptyFiles: C{--skip-empty-files}.
    """

    outputDir: str = "/tmp"
    workDir: str = "/tmp"
    datetimeFormat: str = "%Y-%m-%d_%H"
    filenameFormat: str = "<TOPIC>.<HOST><REV>.<DATETIME>.log"
    hostIdentifier: str = ""
    gzip: bool = False
    gzipLevel: int = 6
    rotateSize: int = 0
    rotateInterval: float = 0.0
    skipEmptyFiles: bool = False


class FilenameFormatError(ValueError):
    """
    The C{--filename-format} cannot be used with the other options.
    """


class WriterFailed(Exception):
    """
    A file operation failed; Go logs this message at FATAL and exits 1.
    """


def computeFilenameFormat(
    options: FileOptions, topic: str, hostname: str, pid: int
) -> str:
    """
    The file name template of one topic: Go's C{computeFilenameFormat}.

    @param hostname: the full host name (Go's C{os.Hostname()}).
    @raise FilenameFormatError: when C{<REV>} is missing but needed.
    """
    shortHostname = hostname.split(".")[0]
    identifier = shortHostname
    if options.hostIdentifier:
        identifier = options.hostIdentifier.replace("<SHORT_HOST>", shortHostname)
        identifier = identifier.replace("<HOSTNAME>", hostname)
    template = options.filenameFormat
    if (
        options.gzip
        or options.rotateSize > 0
        or options.rotateInterval > 0
        or options.workDir != options.outputDir
    ):
        if "<REV>" not in template:
            raise FilenameFormatError(
                "missing <REV> in --filename-format when gzip, rotation, or work"
                " dir enabled"
            )
    else:
        # Nothing can need a revision; Go drops the token.
        template = template.replace("<REV>", "")
    template = template.replace("<TOPIC>", topic)
    template = template.replace("<HOST>", identifier)
    template = template.replace("<PID>", str(pid))
    if options.gzip and not template.endswith(".gz"):
        template += ".gz"
    return template


def goJoin(*parts: str) -> str:
    """
    Go's C{path.Join}: the non-empty parts joined by C{/}, then cleaned (so
    a part starting with C{/} does not discard those before it).
    """
    joined = "/".join(part for part in parts if part)
    return posixpath.normpath(joined) if joined else ""


def _trimPrefix(text: str, prefix: str) -> str:
    return text[len(prefix) :] if text.startswith(prefix) else text


def _revision(template: str, rev: int) -> str:
    return template.replace("<REV>", f"-{rev:06d}")


def _makeDirFromPath(path: str) -> None:
    directory = posixpath.dirname(path)
    if directory:
        os.makedirs(directory, 0o770, exist_ok=True)


def exclusiveRename(source: str, destination: str) -> None:
    """
    Move C{source} to C{destination} unless C{destination} exists: a hard
    link, then unlinking the source.

    @raise FileExistsError: if C{destination} exists.
    """
    os.link(source, destination)
    os.remove(source)


#: C{(level, format, fields)}: a log event for the reactor thread; the
#: level is C{"info"}, C{"warn"} or C{"error"}.
Event = tuple[str, str, dict[str, Any]]


class FileWriter:
    """
    One topic's output file, as Go's C{FileLogger} manages it (without the
    consumer: see L{txnsq.tools._filelogger.FileLogger}).

    Not thread-safe: one thread at a time, one call at a time.

    @ivar filename: the current name, C{<DATETIME>} resolved but C{<REV>}
        not (Go's C{f.filename}); L{None} before the first file.
    @ivar path: the file being written, or L{None} when none is open.
    @ivar rev: the current revision.
    @ivar openTime: when the current file was opened (POSIX time).
    @ivar filesize: its size when opened plus the bytes written since
        (uncompressed).
    @ivar records: the messages written to the current file.
    @ivar events: what Go would have logged, oldest first, until taken.
    @ivar finished: the files closed (and moved), oldest first, until
        taken.
    """

    def __init__(
        self,
        topic: str,
        channel: str,
        options: FileOptions,
        filenameFormat: str,
        *,
        fsync: Callable[[int], None] = os.fsync,
    ) -> None:
        """
        @param filenameFormat: from L{computeFilenameFormat}.
        @param fsync: flushes a file descriptor to disk (tests count calls).
        """
        self.topic = topic
        self.channel = channel
        self.options = options
        self.filenameFormat = filenameFormat
        self._fsync = fsync
        self._out: IO[bytes] | None = None
        self._gzip: gzip.GzipFile | None = None
        self._writer: IO[bytes] | gzip.GzipFile | None = None
        self.filename: str | None = None
        self.path: str | None = None
        self.rev = 0
        self.openTime = 0.0
        self.filesize = 0
        self.records = 0
        self.events: list[Event] = []
        self.finished: list[str] = []

    def _note(self, level: str, format: str, **fields: Any) -> None:
        self.events.append(
            (
                level,
                "[{topic}/{channel}] " + format,
                {"topic": self.topic, "channel": self.channel, **fields},
            )
        )

    def _fatal(self, what: str, error: BaseException) -> WriterFailed:
        return WriterFailed(f"[{self.topic}/{self.channel}] {what}: {error}")

    def takeEvents(self) -> list[Event]:
        """
        The events recorded since the last call.
        """
        events, self.events = self.events, []
        return events

    def _finished(self, path: str) -> None:
        """
        The file now at C{path} is closed for good: record it, and log it
        for a person watching (Go logs nothing when the file stays where it
        was written, and only C{moving finished file} when it moves).
        """
        self.finished.append(path)
        try:
            size = os.stat(path).st_size
        except OSError:
            size = self.filesize
        self._note(
            "info",
            "finished {path}: {records} messages, {size} bytes",
            path=path,
            records=self.records,
            size=size,
        )

    def takeFinished(self) -> list[str]:
        """
        The files finished since the last call.
        """
        finished, self.finished = self.finished, []
        return finished

    @property
    def isOpen(self) -> bool:
        """
        Whether a file is open.
        """
        return self._out is not None

    def currentFilename(self, now: float) -> str:
        """
        The file name for time C{now}, C{<REV>} unresolved.
        """
        datetime = strftime(self.options.datetimeFormat, now)
        return self.filenameFormat.replace("<DATETIME>", datetime)

    def needsRotation(self, now: float) -> bool:
        """
        Go's C{needsRotation}: no file is open, the name changed, the file
        is older than C{--rotate-interval} or bigger than C{--rotate-size}.
        """
        if self._out is None:
            return True
        filename = self.currentFilename(now)
        if filename != self.filename:
            self._note(
                "info", "new filename {filename}, rotating...", filename=filename
            )
            return True
        interval = self.options.rotateInterval
        if interval > 0:
            since = now - self.openTime
            if since > interval:
                self._note(
                    "info",
                    "{since} since last open, rotating...",
                    since=formatDuration(since),
                )
                return True
        size = self.options.rotateSize
        if size > 0 and self.filesize > size:
            self._note(
                "info",
                "{path} currently {filesize} bytes (> {rotateSize}), rotating...",
                path=self.path,
                filesize=self.filesize,
                rotateSize=size,
            )
            return True
        return False

    def write(self, body: bytes, now: float) -> bool:
        """
        Write one message and its newline, rotating first if needed.

        @param now: when the message arrived.
        @return: whether the file rotated (Go syncs then).
        @raise WriterFailed: Go's fatal errors.
        """
        rotated = False
        if self.needsRotation(now):
            self.updateFile(now)
            rotated = True
        writer = self._writer
        assert writer is not None
        try:
            writer.write(body)
        except OSError as e:
            raise self._fatal("writing message to disk", e)
        self.filesize += len(body)
        try:
            writer.write(b"\n")
        except OSError as e:
            raise self._fatal("writing newline to disk", e)
        self.filesize += 1
        self.records += 1
        return rotated

    def tick(self, now: float) -> bool:
        """
        What Go's sync ticker does to the file: rotate it if it needs to;
        with C{--skip-empty-files}, only say it should close (after the
        sync that follows, as in Go): the next message opens the next one.

        @return: whether the caller should close the file after syncing.
        """
        if self.needsRotation(now):
            if self.options.skipEmptyFiles:
                return True
            self.updateFile(now)
        return False

    def flush(self) -> None:
        """
        Hand what is written to the operating system (without syncing):
        Go writes to the file unbuffered.  Gzip output stays in the
        compressor until the member ends, as in Go.

        @raise WriterFailed: if that fails.
        """
        out = self._out
        if out is None:
            return
        try:
            out.flush()
        except OSError as e:
            raise self._fatal("writing message to disk", e)

    def sync(self) -> None:
        """
        Make everything written so far durable: end the gzip member, flush
        and fsync, start the next member.

        @raise WriterFailed: if that fails.
        """
        out = self._out
        if out is None:
            return
        try:
            if self._gzip is not None:
                self._gzip.close()
                out.flush()
                self._fsync(out.fileno())
                self._gzip = self._writer = self._newGzip(out)
            else:
                out.flush()
                self._fsync(out.fileno())
        except OSError as e:
            raise self._fatal("failed syncing messages", e)

    def _newGzip(self, out: IO[bytes]) -> gzip.GzipFile:
        # No name and no time in the header, as Go's gzip.Writer.
        return gzip.GzipFile(
            filename="",
            mode="wb",
            compresslevel=self.options.gzipLevel,
            fileobj=out,
            mtime=0,
        )

    def close(self) -> None:
        """
        Go's C{Close}: end the gzip stream, fsync, close, and move the file
        from the work dir to the output dir without overwriting anything.

        @raise WriterFailed: if any of that fails.
        """
        out, path, gz = self._out, self.path, self._gzip
        if out is None or path is None:
            return
        # Unlike Go 1.3.0, which forgets the closed file only when the move
        # needed a new name (and then writes to the closed file after a
        # SIGHUP), the writer always forgets it.
        self._out = self._gzip = self._writer = None
        self.path = None
        try:
            if gz is not None:
                try:
                    gz.close()
                except OSError as e:
                    raise self._fatal("failed to close GZIP writer", e)
            try:
                out.flush()
                self._fsync(out.fileno())
            except OSError as e:
                raise self._fatal("failed to fsync output file", e)
        finally:
            try:
                out.close()
            except OSError as e:
                raise self._fatal("failed to close output file", e)
        options = self.options
        if options.workDir == options.outputDir:
            self._finished(path)
            return
        destination = goJoin(options.outputDir, _trimPrefix(path, options.workDir))
        self._note(
            "info",
            "moving finished file {source} to {destination}",
            source=path,
            destination=destination,
        )
        try:
            exclusiveRename(path, destination)
        except FileExistsError:
            pass
        except OSError as e:
            raise self._fatal(f"unable to move file from {path} to {destination}", e)
        else:
            self._finished(destination)
            return
        # The name is taken: bump the revision until one is free.
        assert self.filename is not None
        template = goJoin(
            posixpath.dirname(destination), posixpath.basename(self.filename)
        )
        rev = self.rev + 1
        while True:
            self._note(
                "warn",
                "destination file already exists: {destination}",
                destination=destination,
            )
            candidate = _revision(template, rev)
            try:
                exclusiveRename(path, candidate)
            except FileExistsError:
                rev += 1
                continue
            except OSError as e:
                raise self._fatal(
                    f"unable to rename file from {path} to {candidate}", e
                )
            self._note(
                "info",
                "renamed finished file {source} to {destination} to avoid overwrite",
                source=path,
                destination=candidate,
            )
            self._finished(candidate)
            return

    def updateFile(self, now: float) -> None:
        """
        Go's C{updateFile}: close the current file, then open the next one
        (a new revision when the name did not change), skipping names taken
        in the work dir or the output dir and files already too big.

        @raise WriterFailed: if a directory or the file cannot be made.
        """
        self.close()
        filename = self.currentFilename(now)
        if filename != self.filename:
            self.rev = 0
        else:
            self.rev += 1
        self.filename = filename
        self.openTime = now
        options = self.options
        fullPath = goJoin(options.workDir, filename)
        try:
            _makeDirFromPath(fullPath)
        except OSError as e:
            raise self._fatal("unable to create dir", e)
        flags = os.O_WRONLY | os.O_CREAT
        if options.gzip or options.rotateInterval > 0:
            flags |= os.O_EXCL
        else:
            flags |= os.O_APPEND
        while True:
            path = _revision(fullPath, self.rev)
            if options.workDir != options.outputDir:
                # Checked before opening, so that the move rarely needs a
                # new name.
                outputPath = goJoin(
                    options.outputDir, _trimPrefix(path, options.workDir)
                )
                try:
                    _makeDirFromPath(outputPath)
                except OSError as e:
                    raise self._fatal("unable to create dir", e)
                if os.path.lexists(outputPath):
                    self._note(
                        "warn", "output file already exists: {path}", path=outputPath
                    )
                    self.rev += 1
                    continue
            try:
                fd = os.open(path, flags, 0o666)
            except FileExistsError:
                self._note("warn", "working file already exists: {path}", path=path)
                self.rev += 1
                continue
            except OSError as e:
                raise self._fatal(f"unable to open {path}", e)
            self._note("info", "opening {path}", path=path)
            out = os.fdopen(fd, "wb")
            try:
                self.filesize = os.fstat(fd).st_size
            except OSError as e:
                out.close()
                raise self._fatal(f"unable to stat file {path}", e)
            if options.rotateSize > 0 and self.filesize > options.rotateSize:
                self._note(
                    "info",
                    "{path} currently {filesize} bytes (> {rotateSize}), rotating...",
                    path=path,
                    filesize=self.filesize,
                    rotateSize=options.rotateSize,
                )
                # Go leaks this descriptor; it is closed here.
                out.close()
                self.rev += 1
                continue
            break
        self._out = out
        self.path = path
        self.records = 0
        if options.gzip:
            self._gzip = self._writer = self._newGzip(out)
        else:
            self._writer = out
