"""
Tests for L{txnsq.tools.nsq_to_file} and its parts: Go's strftime, file
names, the file writer (rotation, gzip members, moves), the logger that
FINs only after fsync, topic discovery, and the tool against a real nsqd
(and nsqlookupd) on 127.0.0.1.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource

from tests import _services as services
from tests.tools._helpers import (
    NSQD,
    Running,
    channelClients,
    logLines,
    publish,
    start,
    startIPv6Cluster,
    startLookupd,
    startNSQD,
    waitFor,
)
from txnsq import NSQ_VERSION
from txnsq.client import Message
from txnsq.tools._filelogger import FileLogger
from txnsq.tools._filewriter import (
    FilenameFormatError,
    FileOptions,
    FileWriter,
    WriterFailed,
    computeFilenameFormat,
    goJoin,
)
from txnsq.tools._strftime import goTimeFormat, strftime, strftimeLayout
from txnsq.tools._topics import (
    LookupdTopics,
    TopicDiscoverer,
    parseTopicsResponse,
    topicPattern,
    topicsURL,
)
from txnsq.tools.nsq_to_file import FLAGS, TOOL, AppLog

# 2023-11-14 22:13:20 UTC, a Tuesday.
T0 = 1700000000.0


def useUTC(testCase: SynchronousTestCase) -> None:
    """
    Make local time UTC for the test, so file names are predictable.
    """
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()

    def restore() -> None:
        if previous is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous
        time.tzset()

    testCase.addCleanup(restore)


def gunzipMembers(data: bytes) -> list[bytes]:
    """
    The decompressed members of a gzip file, in order.
    """
    members = []
    while data:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        members.append(decompressor.decompress(data))
        data = decompressor.unused_data
    return members


class StrftimeTests(SynchronousTestCase):
    """
    L{strftime}: Go's C{nsq_to_file} datetime formatting.
    """

    def setUp(self) -> None:
        useUTC(self)

    def test_layout(self) -> None:
        """
        The default format becomes Go's C{2006-01-02_15} layout; unknown
        directives stay as they are.
        """
        self.assertEqual(strftimeLayout("%Y-%m-%d_%H"), "2006-01-02_15")
        self.assertEqual(strftimeLayout("%q%%%"), "%q%%")

    def test_default(self) -> None:
        """
        The default format gives the hour of the local time.
        """
        self.assertEqual(strftime("%Y-%m-%d_%H", T0), "2023-11-14_22")

    def test_directives(self) -> None:
        """
        Every directive Go knows, in English whatever the locale.
        """
        self.assertEqual(
            strftime("%B %b %A %a %I %M %S %p %y %Z %z %%", T0),
            "November Nov Tuesday Tue 10 13 20 PM 23 UTC +0000 %",
        )

    def test_literalIsLayout(self) -> None:
        """
        As in Go, text around the directives is a Go layout too: a literal
        C{1} prints the month, C{Mon} the weekday.
        """
        self.assertEqual(strftime("day1-Mon", T0), "day11-Tue")

    def test_goLayout(self) -> None:
        """
        L{goTimeFormat} knows Go's other layout elements: padded days,
        fractions, numeric and ISO zones.
        """
        self.assertEqual(
            goTimeFormat("_2 __2 002 3 4 5 pm .000 .999 Z07:00 -07", T0 + 0.25),
            "14 318 318 10 13 20 pm .250 .25 Z +00",
        )


class FilenameTests(SynchronousTestCase):
    """
    L{computeFilenameFormat}: Go's C{computeFilenameFormat}.
    """

    def test_default(self) -> None:
        """
        Without gzip, rotation or a work dir, C{<REV>} is dropped; the
        host is the short host name.
        """
        self.assertEqual(
            computeFilenameFormat(FileOptions(), "t", "box.example.com", 7),
            "t.box.<DATETIME>.log",
        )

    def test_gzip(self) -> None:
        """
        With gzip, C{<REV>} stays and C{.gz} is added.
        """
        options = FileOptions(gzip=True)
        self.assertEqual(
            computeFilenameFormat(options, "t", "box", 7),
            "t.box<REV>.<DATETIME>.log.gz",
        )

    def test_tokens(self) -> None:
        """
        C{<PID>} and C{--host-identifier} with its C{<SHORT_HOST>} and
        C{<HOSTNAME>} tokens.
        """
        options = FileOptions(
            filenameFormat="<TOPIC>-<HOST>-<PID>.log",
            hostIdentifier="<SHORT_HOST>+<HOSTNAME>",
        )
        self.assertEqual(
            computeFilenameFormat(options, "t", "box.example.com", 42),
            "t-box+box.example.com-42.log",
        )

    def test_missingRev(self) -> None:
        """
        Rotation (or gzip, or a work dir) without C{<REV>} is Go's error.
        """
        options = FileOptions(filenameFormat="<TOPIC>.log", rotateSize=10)
        with self.assertRaises(FilenameFormatError) as raised:
            computeFilenameFormat(options, "t", "box", 1)
        self.assertEqual(
            str(raised.exception),
            "missing <REV> in --filename-format when gzip, rotation, or work dir"
            " enabled",
        )

    def test_goJoin(self) -> None:
        """
        L{goJoin} is Go's C{path.Join}: a later absolute part does not
        discard the earlier ones.
        """
        self.assertEqual(goJoin("/out", "/a.log"), "/out/a.log")
        self.assertEqual(goJoin("", "a/./b"), "a/b")


class FileWriterTests(SynchronousTestCase):
    """
    L{FileWriter}: the files, as Go's C{FileLogger} writes them.
    """

    def setUp(self) -> None:
        useUTC(self)
        self.fsyncs: list[int] = []
        self.output = os.path.abspath(self.mktemp())
        os.makedirs(self.output)

    def writer(self, **options: Any) -> FileWriter:
        """
        A writer of topic C{t}, host C{box}, into the output dir.
        """
        options.setdefault("outputDir", self.output)
        options.setdefault("workDir", options["outputDir"])
        fileOptions = FileOptions(**options)
        template = computeFilenameFormat(fileOptions, "t", "box", 1)

        def fsync(fd: int) -> None:
            self.fsyncs.append(fd)
            os.fsync(fd)

        return FileWriter("t", "c", fileOptions, template, fsync=fsync)

    def read(self, name: str, directory: str | None = None) -> bytes:
        """
        The contents of a file.
        """
        with open(os.path.join(directory or self.output, name), "rb") as f:
            return f.read()

    def test_write(self) -> None:
        """
        Each message is its body and a newline, in a file named after the
        topic, host and hour; C{close} fsyncs.
        """
        writer = self.writer()
        writer.write(b"one", T0)
        writer.write(b"two", T0 + 1)
        writer.close()
        self.assertEqual(os.listdir(self.output), ["t.box.2023-11-14_22.log"])
        self.assertEqual(self.read("t.box.2023-11-14_22.log"), b"one\ntwo\n")
        self.assertEqual(len(self.fsyncs), 1)
        events = [format.format(**fields) for _, format, fields in writer.events]
        self.assertEqual(
            events[0], f"[t/c] opening {self.output}/t.box.2023-11-14_22.log"
        )

    def test_appendAfterReopen(self) -> None:
        """
        Without gzip or interval rotation, a file reopened under the same
        name is appended to, as Go opens it with C{O_APPEND}.
        """
        writer = self.writer()
        writer.write(b"one", T0)
        writer.close()
        writer.write(b"two", T0 + 1)
        writer.close()
        self.assertEqual(self.read("t.box.2023-11-14_22.log"), b"one\ntwo\n")

    def test_rotateByName(self) -> None:
        """
        A message in the next hour goes to the next hour's file.
        """
        writer = self.writer()
        writer.write(b"one", T0)
        self.assertTrue(writer.write(b"two", T0 + 3600))
        writer.close()
        self.assertEqual(
            sorted(os.listdir(self.output)),
            ["t.box.2023-11-14_22.log", "t.box.2023-11-14_23.log"],
        )

    def test_rotateBySize(self) -> None:
        """
        A file rotates before the first message written once it has grown
        past C{--rotate-size}: the next revision.
        """
        writer = self.writer(rotateSize=10)
        rotated = [writer.write(body, T0) for body in [b"aaaa", b"bbbb", b"cccc", b"d"]]
        writer.close()
        self.assertEqual(rotated, [True, False, False, True])
        self.assertEqual(
            self.read("t.box-000000.2023-11-14_22.log"), b"aaaa\nbbbb\ncccc\n"
        )
        self.assertEqual(self.read("t.box-000001.2023-11-14_22.log"), b"d\n")

    def test_rotateByInterval(self) -> None:
        """
        A file open longer than C{--rotate-interval} rotates to the next
        revision.
        """
        writer = self.writer(rotateInterval=60.0)
        writer.write(b"a", T0)
        writer.write(b"b", T0 + 60)
        writer.write(b"c", T0 + 61)
        writer.close()
        self.assertEqual(self.read("t.box-000000.2023-11-14_22.log"), b"a\nb\n")
        self.assertEqual(self.read("t.box-000001.2023-11-14_22.log"), b"c\n")

    def test_existingFilesSkipped(self) -> None:
        """
        A revision whose file exists is skipped (interval rotation opens
        files exclusively).
        """
        with open(os.path.join(self.output, "t.box-000000.2023-11-14_22.log"), "w"):
            pass
        writer = self.writer(rotateInterval=60.0)
        writer.write(b"a", T0)
        writer.close()
        self.assertEqual(self.read("t.box-000001.2023-11-14_22.log"), b"a\n")

    def test_tooBigSkipped(self) -> None:
        """
        A file that exists and is already bigger than C{--rotate-size} is
        not appended to: the next revision is used.
        """
        with open(
            os.path.join(self.output, "t.box-000000.2023-11-14_22.log"), "w"
        ) as f:
            f.write("x" * 20)
        writer = self.writer(rotateSize=10)
        writer.write(b"a", T0)
        writer.close()
        self.assertEqual(self.read("t.box-000001.2023-11-14_22.log"), b"a\n")

    def test_gzipMembers(self) -> None:
        """
        With gzip, each sync ends a gzip member, so the file is valid up to
        the last sync; the whole file decompresses to every message.
        """
        writer = self.writer(gzip=True, gzipLevel=9)
        writer.write(b"one", T0)
        writer.sync()
        data = self.read("t.box-000000.2023-11-14_22.log.gz")
        self.assertEqual(gzip.decompress(data), b"one\n")
        writer.write(b"two", T0)
        writer.write(b"three", T0)
        writer.sync()
        writer.close()
        data = self.read("t.box-000000.2023-11-14_22.log.gz")
        self.assertEqual(gzip.decompress(data), b"one\ntwo\nthree\n")
        self.assertEqual(gunzipMembers(data), [b"one\n", b"two\nthree\n", b""])
        self.assertEqual(len(self.fsyncs), 3)

    def test_workDir(self) -> None:
        """
        Files are written in the work dir and moved to the output dir when
        they rotate and when they close.
        """
        work = os.path.abspath(self.mktemp())
        writer = self.writer(workDir=work, rotateSize=3)
        writer.write(b"abc", T0)
        self.assertEqual(os.listdir(work), ["t.box-000000.2023-11-14_22.log"])
        self.assertEqual(os.listdir(self.output), [])
        writer.write(b"def", T0)
        self.assertEqual(os.listdir(self.output), ["t.box-000000.2023-11-14_22.log"])
        writer.close()
        self.assertEqual(os.listdir(work), [])
        self.assertEqual(
            sorted(os.listdir(self.output)),
            ["t.box-000000.2023-11-14_22.log", "t.box-000001.2023-11-14_22.log"],
        )
        self.assertEqual(
            writer.takeFinished(),
            [
                f"{self.output}/t.box-000000.2023-11-14_22.log",
                f"{self.output}/t.box-000001.2023-11-14_22.log",
            ],
        )

    def test_finishedLine(self) -> None:
        """
        Each file closed for good is logged once, with its final path, the
        messages written to it and its size on disk (a line Go lacks): when
        it stays where it was written, and after a move.
        """
        writer = self.writer(rotateSize=3)
        writer.write(b"abc", T0)
        writer.write(b"d", T0)
        writer.close()
        path = f"{self.output}/t.box-00000%d.2023-11-14_22.log"
        finished = [
            format.format(**fields)
            for level, format, fields in writer.takeEvents()
            if level == "info" and " finished " in format
        ]
        self.assertEqual(
            finished,
            [
                f"[t/c] finished {path % 0}: 1 messages, 4 bytes",
                f"[t/c] finished {path % 1}: 1 messages, 2 bytes",
            ],
        )
        work = os.path.abspath(self.mktemp())
        moved = self.writer(workDir=work, rotateSize=100)
        moved.write(b"xy", T0 + 1)
        moved.write(b"z", T0 + 1)
        moved.close()
        events = [format.format(**fields) for _, format, fields in moved.takeEvents()]
        self.assertEqual(
            events[-2:],
            [
                f"[t/c] moving finished file {work}/t.box-000002.2023-11-14_22.log"
                f" to {path % 2}",
                f"[t/c] finished {path % 2}: 2 messages, 5 bytes",
            ],
        )

    def test_workDirAvoidsOutputNames(self) -> None:
        """
        A revision taken in the output dir is skipped when the file is
        opened; one taken by the time the file moves makes the move use
        the next free revision, never overwriting.
        """
        work = os.path.abspath(self.mktemp())
        taken = os.path.join(self.output, "t.box-000000.2023-11-14_22.log")
        with open(taken, "w") as f:
            f.write("old")
        writer = self.writer(workDir=work)
        writer.write(b"a", T0)
        self.assertEqual(os.listdir(work), ["t.box-000001.2023-11-14_22.log"])
        with open(os.path.join(self.output, "t.box-000001.2023-11-14_22.log"), "w"):
            pass
        writer.close()
        self.assertEqual(self.read("t.box-000002.2023-11-14_22.log"), b"a\n")
        self.assertEqual(self.read("t.box-000000.2023-11-14_22.log"), b"old")

    def test_tickRotates(self) -> None:
        """
        The sync ticker rotates a file that is due, opening the next one
        even if nothing is written to it.
        """
        writer = self.writer()
        writer.write(b"a", T0)
        writer.tick(T0 + 3600)
        writer.close()
        self.assertEqual(self.read("t.box.2023-11-14_23.log"), b"")

    def test_skipEmptyFiles(self) -> None:
        """
        With C{--skip-empty-files} the ticker only closes a file that is
        due; the next message opens the next one.
        """
        writer = self.writer(skipEmptyFiles=True)
        writer.write(b"a", T0)
        self.assertFalse(writer.tick(T0 + 1))
        self.assertTrue(writer.tick(T0 + 3600))
        # Closed by the caller, after its sync.
        self.assertTrue(writer.isOpen)
        writer.close()
        writer.tick(T0 + 7200)
        self.assertFalse(writer.isOpen)
        self.assertEqual(os.listdir(self.output), ["t.box.2023-11-14_22.log"])

    def test_writeFails(self) -> None:
        """
        A file that cannot be opened is Go's fatal error.
        """
        writer = self.writer(outputDir=os.path.join(self.output, "file"))
        with open(os.path.join(self.output, "file"), "w"):
            pass
        with self.assertRaises(WriterFailed) as raised:
            writer.write(b"a", T0)
        self.assertTrue(str(raised.exception).startswith("[t/c] unable to create dir"))


class FakeConsumer:
    """
    Stands in for L{txnsq.client.Consumer} under a L{FileLogger}: delivers
    messages to the handler and records how they are answered.
    """

    def __init__(self, handler: Callable[[Message], Deferred[None]]) -> None:
        self.handler = handler
        self.started = False
        self.starved = False
        self.finished: list[bytes] = []
        self.requeued: list[bytes] = []
        self.stopping: Deferred[None] | None = None
        self._handling: list[Deferred[None]] = []
        self._count = 0

    def start(self) -> None:
        """
        Started by the logger.
        """
        self.started = True

    def isStarved(self) -> bool:
        """
        Whether the test says the consumer is starved.
        """
        return self.starved

    def deliver(self, body: bytes) -> Message:
        """
        Hand a message to the handler; FIN it when the handler is done,
        as the consumer does.
        """
        self._count += 1
        message = Message(b"%016d" % self._count, body, 0, 1, self)
        handled = self.handler(message)
        self._handling.append(handled)

        def done(_: object) -> None:
            self._handling.remove(handled)
            if not message.hasResponded:
                message.finish()

        handled.addCallback(done)
        return message

    def finishMessage(self, message: Message) -> None:
        """
        Record a FIN.
        """
        self.finished.append(message.body)

    def requeueMessage(
        self, message: Message, delayMs: int | None, backoff: bool
    ) -> None:
        """
        Record a REQ.
        """
        self.requeued.append(message.body)

    def touchMessage(self, message: Message) -> None:
        """
        Not used.
        """

    def stop(self) -> Deferred[None]:
        """
        Fires once every message delivered is answered.
        """
        self.stopping = Deferred()
        self._maybeStopped()
        return self.stopping

    def _maybeStopped(self) -> None:
        if self.stopping is not None and not self.stopping.called:
            if self._handling:
                self._handling[-1].addBoth(lambda _: self._maybeStopped())
            else:
                self.stopping.callback(None)


class ManualThread:
    """
    A worker thread the test runs by hand: each function waits until
    L{runNext}.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[Callable[[], Any], Deferred[Any]]] = []

    def __call__(self, function: Callable[[], Any]) -> Deferred[Any]:
        done: Deferred[Any] = Deferred()
        self.pending.append((function, done))
        return done

    def runNext(self) -> None:
        """
        Run the oldest waiting function.
        """
        function, done = self.pending.pop(0)
        try:
            result = function()
        except Exception as e:
            done.errback(e)
        else:
            done.callback(result)

    def runAll(self) -> None:
        """
        Run functions until none waits.
        """
        while self.pending:
            self.runNext()


class FileLoggerTests(SynchronousTestCase):
    """
    L{FileLogger}: messages are written as they arrive and FINed only
    after a sync covering them.
    """

    def setUp(self) -> None:
        useUTC(self)
        self.clock = Clock()
        self.clock.advance(T0)
        self.thread = ManualThread()
        self.output = os.path.abspath(self.mktemp())
        os.makedirs(self.output)
        self.events: list[str] = []
        self.fatal: list[WriterFailed] = []
        self.fsyncs = 0

    def logger(self, maxInFlight: int = 100, **options: Any) -> FileLogger:
        """
        A started logger of topic C{t} with a L{FakeConsumer}.
        """
        options.setdefault("outputDir", self.output)
        options.setdefault("workDir", options["outputDir"])
        fileOptions = FileOptions(**options)

        def fsync(fd: int) -> None:
            self.fsyncs += 1

        writer = FileWriter(
            "t",
            "c",
            fileOptions,
            computeFilenameFormat(fileOptions, "t", "box", 1),
            fsync=fsync,
        )
        logger = FileLogger(
            writer,
            FakeConsumer,  # type: ignore[arg-type]
            clock=self.clock,
            runInThread=self.thread,
            syncInterval=30.0,
            maxInFlight=maxInFlight,
            log=lambda event: self.events.append(event[1].format(**event[2])),
            fatal=self.fatal.append,
        )
        logger.start()
        self.assertTrue(self.consumer(logger).started)
        return logger

    def consumer(self, logger: FileLogger) -> FakeConsumer:
        """
        The logger's fake consumer.
        """
        consumer = logger.consumer
        assert isinstance(consumer, FakeConsumer)
        return consumer

    def opened(self, logger: FileLogger) -> FakeConsumer:
        """
        The logger's fake consumer, after a first message opened the file
        (which syncs, as the rotation it is).
        """
        consumer = self.consumer(logger)
        consumer.deliver(b"first")
        self.thread.runAll()
        self.assertEqual(consumer.finished, [b"first"])
        del consumer.finished[:]
        return consumer

    def read(self) -> bytes:
        """
        The contents of the current file.
        """
        with open(os.path.join(self.output, "t.box.2023-11-14_22.log"), "rb") as f:
            return f.read()

    def test_finAfterSync(self) -> None:
        """
        A message is written at once (on the worker), but FINed only after
        the sync the ticker makes every C{--sync-interval}.
        """
        logger = self.logger()
        consumer = self.opened(logger)
        fsyncs = self.fsyncs
        consumer.deliver(b"one")
        consumer.deliver(b"two")
        self.thread.runAll()
        self.assertEqual(self.read(), b"first\none\ntwo\n")
        self.assertEqual((consumer.finished, self.fsyncs), ([], fsyncs))
        self.clock.advance(30)
        self.assertEqual(len(self.thread.pending), 1)
        self.assertEqual(consumer.finished, [])
        self.thread.runNext()
        self.assertEqual(self.fsyncs, fsyncs + 1)
        self.assertEqual(consumer.finished, [b"one", b"two"])
        self.assertIn("[t/c] syncing 2 records to disk", self.events)

    def test_firstMessageSyncs(self) -> None:
        """
        Opening a file is a rotation, after which Go's router syncs: the
        first message is FINed as soon as it is written.
        """
        logger = self.logger()
        self.opened(logger)
        self.assertIn("[t/c] syncing 1 records to disk", self.events)

    def test_oneBatchAtATime(self) -> None:
        """
        The file work runs one batch at a time, in order; messages that
        arrive meanwhile wait for the next batch (and the next sync).
        """
        logger = self.logger()
        consumer = self.opened(logger)
        consumer.deliver(b"one")
        self.clock.advance(30)
        consumer.deliver(b"two")
        # The write of "one" runs; the tick's sync and "two" wait.
        self.assertEqual(len(self.thread.pending), 1)
        self.thread.runNext()
        self.assertEqual((consumer.finished, len(self.thread.pending)), ([], 1))
        self.thread.runNext()
        self.assertEqual(consumer.finished, [b"one"])
        self.thread.runAll()
        self.assertEqual(consumer.finished, [b"one"])
        self.clock.advance(30)
        self.thread.runAll()
        self.assertEqual(consumer.finished, [b"one", b"two"])

    def test_syncWhenFull(self) -> None:
        """
        C{--max-in-flight} written messages force a sync.
        """
        logger = self.logger(maxInFlight=3)
        consumer = self.opened(logger)
        consumer.deliver(b"a")
        consumer.deliver(b"b")
        self.thread.runAll()
        self.assertEqual(consumer.finished, [])
        consumer.deliver(b"c")
        self.thread.runAll()
        self.assertEqual(consumer.finished, [b"a", b"b", b"c"])

    def test_syncWhenStarved(self) -> None:
        """
        A starved consumer (its in-flight messages nearly at its RDY) makes
        the logger sync at once, as Go's router does.
        """
        logger = self.logger()
        consumer = self.opened(logger)
        consumer.deliver(b"a")
        self.thread.runAll()
        self.assertEqual(consumer.finished, [])
        consumer.starved = True
        consumer.deliver(b"b")
        self.thread.runAll()
        self.assertEqual(consumer.finished, [b"a", b"b"])

    def test_syncAfterRotation(self) -> None:
        """
        A rotation on a message syncs (the old file was synced as it
        closed).
        """
        logger = self.logger(rotateSize=8)
        consumer = self.opened(logger)
        consumer.deliver(b"aa")
        self.thread.runAll()
        self.assertEqual(consumer.finished, [])
        consumer.deliver(b"bb")
        self.thread.runAll()
        self.assertEqual(consumer.finished, [b"aa", b"bb"])

    def test_hangUp(self) -> None:
        """
        SIGHUP syncs and closes the file (moving it to the output dir);
        the next message opens the next revision.
        """
        work = os.path.abspath(self.mktemp())
        logger = self.logger(workDir=work)
        consumer = self.consumer(logger)
        consumer.deliver(b"a")
        logger.hangUp()
        self.thread.runAll()
        self.assertEqual(consumer.finished, [b"a"])
        self.assertEqual(os.listdir(work), [])
        self.assertEqual(os.listdir(self.output), ["t.box-000000.2023-11-14_22.log"])
        consumer.deliver(b"b")
        self.thread.runAll()
        self.assertEqual(os.listdir(work), ["t.box-000001.2023-11-14_22.log"])

    def test_stop(self) -> None:
        """
        Stopping syncs (FINing what was written), waits for the consumer to
        stop, then closes the file.
        """
        work = os.path.abspath(self.mktemp())
        logger = self.logger(workDir=work)
        consumer = self.consumer(logger)
        consumer.deliver(b"a")
        stopped = logger.stop()
        self.assertNoResult(stopped)
        self.thread.runAll()
        self.assertEqual(consumer.finished, [b"a"])
        self.successResultOf(stopped)
        self.assertEqual(os.listdir(work), [])
        self.assertEqual(os.listdir(self.output), ["t.box-000000.2023-11-14_22.log"])
        self.assertFalse(self.clock.getDelayedCalls())

    def test_skipEmptyFilesSyncsBeforeClosing(self) -> None:
        """
        With C{--skip-empty-files}, a tick that closes a file due to rotate
        syncs first and FINs what was written, as Go's router does.
        """
        logger = self.logger(skipEmptyFiles=True)
        consumer = self.opened(logger)
        consumer.deliver(b"a")
        self.thread.runAll()
        self.clock.advance(3600)
        self.thread.runAll()
        self.assertEqual(consumer.finished, [b"a"])
        self.assertEqual(os.listdir(self.output), ["t.box.2023-11-14_22.log"])
        self.assertFalse(logger.writer.isOpen)

    def test_lateMessagesWhileStopping(self) -> None:
        """
        A message delivered after the stop began is synced and FINed at
        once, so the consumer's stop does not wait for the next tick.
        """
        logger = self.logger()
        consumer = self.consumer(logger)
        stopped = logger.stop()
        consumer.deliver(b"late")
        self.thread.runAll()
        self.assertEqual(consumer.finished, [b"late"])
        self.successResultOf(stopped)

    def test_failure(self) -> None:
        """
        A file error is fatal: reported once, and the unsynced messages
        are requeued at once rather than FINed; later ones too.
        """
        logger = self.logger(outputDir=os.path.join(self.output, "file"))
        with open(os.path.join(self.output, "file"), "w"):
            pass
        consumer = self.consumer(logger)
        consumer.deliver(b"a")
        self.thread.runAll()
        self.assertEqual(len(self.fatal), 1)
        self.assertEqual(consumer.requeued, [b"a"])
        consumer.deliver(b"b")
        self.assertEqual(consumer.requeued, [b"a", b"b"])
        self.assertEqual(consumer.finished, [])
        self.successResultOf(logger.stop())


class TopicsTests(SynchronousTestCase):
    """
    Topic discovery: nsqlookupd's C{/topics}, the pattern, the refresh.
    """

    def test_parse(self) -> None:
        """
        nsqlookupd 1.x's reply and the pre-1.0 envelope both give topics.
        """
        self.assertEqual(parseTopicsResponse(200, b'{"topics":["a","b"]}'), ["a", "b"])
        self.assertEqual(
            parseTopicsResponse(200, b'{"status_code":200,"data":{"topics":["a"]}}'),
            ["a"],
        )
        self.assertRaises(ValueError, parseTopicsResponse, 500, b"{}")
        self.assertEqual(topicsURL("h:1"), "http://h:1/topics")

    def test_pattern(self) -> None:
        """
        The pattern matches anywhere unless anchored, as Go's
        C{regexp.MatchString}; one that does not compile matches nothing.
        """
        self.assertTrue(topicPattern("")("anything"))
        self.assertTrue(topicPattern("log")("app_logs"))
        self.assertFalse(topicPattern("^log")("app_logs"))
        self.assertFalse(topicPattern("(")("("))

    def lookupd(self, answers: dict[str, list[str] | None]) -> LookupdTopics:
        """
        Topics from stub nsqlookupds: a list, or L{None} for a failure.
        """
        root = Resource()

        class Topics(Resource):
            isLeaf = True

            def __init__(self, topics: list[str] | None) -> None:
                super().__init__()
                self.topics = topics

            def render_GET(self, request: Any) -> bytes:
                if self.topics is None:
                    request.setResponseCode(500)
                    return b'{"message":"INTERNAL_ERROR"}'
                return json.dumps({"topics": self.topics}).encode()

        for host, topics in answers.items():
            child = Resource()
            child.putChild(b"topics", Topics(topics))
            root.putChild(host.encode(), child)
        stub = StubTreq(root)
        return LookupdTopics(
            [f"http://localhost/{host}" for host in answers],
            reactor=Clock(),
            connectTimeout=1,
            requestTimeout=1,
            httpClient=stub,
        )

    def test_union(self) -> None:
        """
        The topics of every nsqlookupd, sorted, each once.
        """
        lookupd = self.lookupd({"a": ["x", "y"], "b": ["y", "z"]})
        self.assertEqual(self.successResultOf(lookupd.get()), (["x", "y", "z"], []))

    def test_partialFailure(self) -> None:
        """
        Unlike Go, the answers of the nsqlookupds that answered are used
        when another fails; the failure is reported.
        """
        lookupd = self.lookupd({"a": ["x"], "b": None})
        topics, errors = self.successResultOf(lookupd.get())
        self.assertEqual(topics, ["x"])
        self.assertEqual(len(errors), 1)

    def test_discovery(self) -> None:
        """
        Without C{--topic} the nsqlookupds are asked at once and every
        C{--topic-refresh}; topics matching the pattern are started once,
        the others are skipped with Go's warning.
        """
        answers: dict[str, list[str] | None] = {"a": ["logs_1", "other"]}
        clock = Clock()
        started: list[str] = []
        logged: list[tuple[str, str]] = []

        def startTopic(topic: str) -> bool:
            started.append(topic)
            return True

        discoverer = TopicDiscoverer(
            [],
            "^logs_",
            lookupd=self.lookupd(answers),
            refreshInterval=60,
            clock=clock,
            startTopic=startTopic,
            log=lambda level, text: logged.append((level, text)),
        )
        discoverer.start()
        self.assertEqual(started, ["logs_1"])
        self.assertIn(
            ("warn", "skipping topic other (doesn't match pattern ^logs_)"), logged
        )
        answers["a"] = ["logs_1", "logs_2"]
        discoverer._lookupd = self.lookupd(answers)
        clock.advance(60)
        self.assertEqual(started, ["logs_1", "logs_2"])
        self.successResultOf(discoverer.stop())

    def test_configuredTopics(self) -> None:
        """
        With C{--topic}, those topics are logged (if the pattern allows),
        and no nsqlookupd is asked.
        """
        started: list[str] = []

        def startTopic(topic: str) -> bool:
            started.append(topic)
            return True

        discoverer = TopicDiscoverer(
            ["a", "b"],
            "a",
            lookupd=None,
            refreshInterval=60,
            clock=Clock(),
            startTopic=startTopic,
            log=lambda level, text: None,
        )
        discoverer.start()
        self.assertEqual(started, ["a"])


class CommandLineTests(SynchronousTestCase):
    """
    What C{nsq_to_file} decides from its command line alone.
    """

    def status(self, *argv: str) -> tuple[int, bytes, str]:
        """
        Run the tool with C{argv}: status, stdout, stderr.
        """
        running = start(TOOL, argv)
        status = self.successResultOf(running.result)
        return status, running.stdout.getvalue(), running.stderr.getvalue()

    def test_version(self) -> None:
        """
        C{--version} prints Go's line and exits 0.
        """
        self.assertEqual(
            self.status("--version"), (0, f"nsq_to_file v{NSQ_VERSION}\n".encode(), "")
        )

    def test_help(self) -> None:
        """
        C{-h} prints Go's usage (of the flag set Go calls C{nsqd}) with Go's
        defaults.
        """
        status, _, err = self.status("-h")
        self.assertEqual(status, 0)
        self.assertEqual(err, FLAGS.usage())
        self.assertTrue(err.startswith("Usage of nsqd:\n"))
        for text in [
            '  -channel string\n    \tnsq channel (default "nsq_to_file")\n',
            "  -datetime-format string\n    \tstrftime compatible format for"
            ' <DATETIME> in filename format (default "%Y-%m-%d_%H")\n',
            "  -rotate-size rotate-size\n    \trotate the file when it grows"
            " bigger than rotate-size bytes\n",
            "  -sync-interval duration\n    \tsync file to disk every duration"
            " (default 30s)\n",
            "  -topic-refresh duration\n    \thow frequently the topic list should"
            " be refreshed (default 1m0s)\n",
            "  -gzip-level int\n    \tgzip compression level (1-9, 1=BestSpeed,"
            " 9=BestCompression) (default 6)\n",
        ]:
            self.assertIn(text, err)

    def test_checks(self) -> None:
        """
        Go's checks, in Go's order, each a C{log.Fatal} with exit 1.
        """
        nsqd = "--nsqd-tcp-address=127.0.0.1:4150"
        cases = [
            (["x"], "unknown arguments: [x]"),
            (["--log-level=loud"], "--log-level is invalid"),
            (["--channel="], "--channel is required"),
            (
                ["--http-client-connect-timeout=0s"],
                "--http-client-connect-timeout should be positive",
            ),
            ([], "--nsqd-tcp-address or --lookupd-http-address required."),
            (
                [nsqd, "--lookupd-http-address=h:1"],
                "use --nsqd-tcp-address or --lookupd-http-address not both",
            ),
            ([nsqd, "--gzip-level=0"], "invalid --gzip-level value (0), should be 1-9"),
            ([nsqd], "--topic or --topic-pattern required"),
            (
                [nsqd, "--topic-pattern=x"],
                "--lookupd-http-address must be specified when no --topic specified",
            ),
        ]
        for argv, message in cases:
            status, _, err = self.status(*argv)
            self.assertEqual((status, logLines(err)), (1, [message]), argv)

    def test_missingRev(self) -> None:
        """
        A file name format without C{<REV>} where one is needed is fatal
        at start (Go logs an error for each topic and logs nothing).
        """
        status, _, err = self.status(
            "--topic=t",
            "--nsqd-tcp-address=127.0.0.1:4150",
            "--gzip",
            "--filename-format=<TOPIC>.log",
        )
        self.assertEqual(status, 1)
        self.assertRegex(
            err,
            r"\A\[nsq_to_file\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} FATAL:"
            r" couldn't create logger for new topic t: missing <REV>",
        )

    def test_namesBeforeAddresses(self) -> None:
        """
        A topic or channel name go-nsq's C{NewConsumer} refuses is the
        error logged for the topic, before its bad address would be (as
        in Go, the tool logs and goes on until stopped).
        """
        cases = [
            (
                ["--topic=a!"],
                "couldn't create logger for new topic a!: invalid topic name",
            ),
            (
                ["--topic=t", "--channel=b!"],
                "couldn't create logger for new topic t: invalid channel name",
            ),
            (
                ["--topic=t"],
                "couldn't create logger for new topic t:"
                " dial tcp: address foo: missing port in address",
            ),
        ]
        for argv, message in cases:
            running = start(TOOL, [*argv, "--nsqd-tcp-address=foo"])
            self.assertNoResult(running.result)
            running.run.interrupt()
            self.assertEqual(self.successResultOf(running.result), 0)
            self.assertRegex(
                running.stderr.getvalue(),
                r"\A\[nsq_to_file\] \S+ \S+ ERROR: " + re.escape(message) + "\n\\Z",
            )

    def test_appLog(self) -> None:
        """
        L{AppLog} writes Go's C{lg} lines with the prefix, above the level.
        """
        lines: list[str] = []

        class Sink:
            def write(self, text: str) -> None:
                lines.append(text)

            def flush(self) -> None:
                pass

        log = AppLog(Sink(), "[p] ", "warn")  # type: ignore[arg-type]
        log("info", "hidden")
        log("warn", "shown")
        self.assertEqual(len(lines), 1)
        self.assertRegex(lines[0], r"\A\[p\] \S+ \S+ WARNING: shown\n\Z")


def readOutput(directory: str) -> Iterator[tuple[str, bytes]]:
    """
    Each file of C{directory} (decompressed if gzipped), by name.
    """
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read()
        yield name, gzip.decompress(data) if name.endswith(".gz") else data


class ToolTests(TestCase):
    """
    C{nsq_to_file} against a real nsqd (and nsqlookupd).
    """

    timeout = 30

    def start(self, argv: list[str]) -> Running:
        """
        Start C{nsq_to_file}, stopped (as by SIGTERM) when the test ends.
        """
        running = start(TOOL, argv)

        async def stop() -> None:
            running.run.interrupt()
            await running.result

        self.addCleanup(stop)
        return running

    async def test_archive(self) -> None:
        """
        Messages are written to gzip files in the work dir, FINed after
        their sync, and on SIGTERM the file moves to the output dir; the
        tool exits 0 and nsqd has nothing left in flight.
        """
        nsqd = await startNSQD(self)
        await publish(nsqd, "t", [b"one", b"two", b"three"])
        output, work = os.path.abspath(self.mktemp()), os.path.abspath(self.mktemp())
        running = self.start(
            [
                "--topic=t",
                f"--nsqd-tcp-address={nsqd.tcp}",
                f"--output-dir={output}",
                f"--work-dir={work}",
                "--gzip",
                "--sync-interval=100ms",
            ],
        )

        async def finished() -> bool:
            clients = await channelClients(self, nsqd, "t")
            finished = sum(c["finish_count"] for c in clients.get("nsq_to_file", []))
            return bool(finished == 3)

        await waitFor(finished)
        self.assertEqual(len(os.listdir(work)), 1)
        running.run.interrupt()
        self.assertEqual(await running.result, 0)
        self.assertEqual(os.listdir(work), [])
        [(name, data)] = readOutput(output)
        self.assertRegex(name, r"\At\.[^.]+-000000\.\d{4}-\d\d-\d\d_\d\d\.log\.gz\Z")
        self.assertEqual(data, b"one\ntwo\nthree\n")
        self.assertRegex(
            running.stderr.getvalue(),
            r"(?m)^\[nsq_to_file\] \S+ \S+ INFO: \[t/nsq_to_file\] opening "
            + re.escape(work),
        )

    async def test_finOnlyAfterSync(self) -> None:
        """
        Until the sync, written messages stay in flight, unFINed; nsqd
        times them out and delivers them again (a tool that dies before
        its sync loses nothing).  The sync on SIGTERM FINs them.
        """
        service, port = await services.startNSQD(self, msg_timeout=1.0)
        nsqd = f"127.0.0.1:{port}"
        target = NSQD(service, nsqd, "")
        await publish(target, "t", [b"first"])
        output = os.path.abspath(self.mktemp())
        running = self.start(
            [
                "--topic=t",
                f"--nsqd-tcp-address={nsqd}",
                f"--output-dir={output}",
                "--sync-interval=1h",
            ],
        )
        channel: Any = None

        async def opened() -> bool:
            # The first message opened the file, which syncs.
            nonlocal channel
            topic = service.broker.topics.get("t")
            channel = topic.channels.get("nsq_to_file") if topic else None
            return channel is not None and not channel.inFlight and not channel.depth()

        await waitFor(opened)
        await publish(target, "t", [b"a", b"b"])

        async def redelivered() -> bool:
            return bool(channel.timeoutCount == 2 and len(channel.inFlight) == 2)

        await waitFor(redelivered)

        async def writtenTwice() -> bool:
            # The tool writes on a worker thread: the redelivered copies
            # reach the file a little after nsqd sent them.
            [(_, data)] = readOutput(output)
            return len(data.splitlines()) >= 5

        await waitFor(writtenTwice)
        # Written twice (at least once), FINed never.
        [(_, data)] = readOutput(output)
        self.assertEqual(sorted(data.splitlines()), [b"a", b"a", b"b", b"b", b"first"])
        running.run.interrupt()
        self.assertEqual(await running.result, 0)
        self.assertEqual((len(channel.inFlight), channel.depth()), (0, 0))

    async def test_hangUp(self) -> None:
        """
        SIGHUP closes the file (moving it to the output dir); the next
        message opens a new one.
        """
        nsqd = await startNSQD(self)
        output, work = os.path.abspath(self.mktemp()), os.path.abspath(self.mktemp())
        running = self.start(
            [
                "--topic=t",
                f"--nsqd-tcp-address={nsqd.tcp}",
                f"--output-dir={output}",
                f"--work-dir={work}",
                "--sync-interval=50ms",
            ],
        )
        await publish(nsqd, "t", [b"first"])

        async def written() -> bool:
            return bool(os.path.isdir(work) and os.listdir(work))

        await waitFor(written)
        running.run.signal("SIGHUP")

        async def moved() -> bool:
            return os.path.isdir(output) and len(os.listdir(output)) == 1

        await waitFor(moved)
        await publish(nsqd, "t", [b"second"])
        await waitFor(written)
        running.run.interrupt()
        self.assertEqual(await running.result, 0)
        self.assertEqual(
            [data for _, data in readOutput(output)], [b"first\n", b"second\n"]
        )

    async def test_topicPattern(self) -> None:
        """
        With C{--topic-pattern} and nsqlookupd, the matching topics are
        found and each is written to its own file.
        """
        lookupdTCP, lookupdHTTP = await startLookupd(self)
        nsqd = await startNSQD(self, lookupdTCP)
        await publish(nsqd, "app_1", [b"one"])
        await publish(nsqd, "app_2", [b"two"])
        await publish(nsqd, "other", [b"no"])
        output = os.path.abspath(self.mktemp())
        running = self.start(
            [
                "--topic-pattern=^app_",
                f"--lookupd-http-address={lookupdHTTP}",
                f"--output-dir={output}",
                "--filename-format=<TOPIC>.log",
                "--sync-interval=50ms",
                "--consumer-opt=lookupd_poll_interval,50ms",
            ],
        )

        async def both() -> bool:
            if not os.path.isdir(output):
                return False
            files = dict(readOutput(output))
            return files == {"app_1.log": b"one\n", "app_2.log": b"two\n"}

        await waitFor(both)
        running.run.interrupt()
        self.assertEqual(await running.result, 0)
        self.assertIn(
            "skipping topic other (doesn't match pattern ^app_)",
            running.stderr.getvalue(),
        )

    async def test_topicPatternIPv6(self) -> None:
        """
        Topics are discovered from an nsqlookupd given as an IPv6 literal
        (C{[::1]:port}), and logged from the nsqd it lists.
        """
        lookupdHTTP, nsqd = await startIPv6Cluster(self)
        await publish(nsqd, "app_1", [b"one"])
        await publish(nsqd, "other", [b"no"])
        output = os.path.abspath(self.mktemp())
        running = self.start(
            [
                "--topic-pattern=^app_",
                f"--lookupd-http-address={lookupdHTTP}",
                f"--output-dir={output}",
                "--filename-format=<TOPIC>.log",
                "--sync-interval=50ms",
                "--topic-refresh=100ms",
                "--consumer-opt=lookupd_poll_interval,50ms",
            ],
        )

        async def logged() -> bool:
            if not os.path.isdir(output):
                return False
            return dict(readOutput(output)) == {"app_1.log": b"one\n"}

        await waitFor(logged)
        running.run.interrupt()
        self.assertEqual(await running.result, 0)
        self.assertNotIn("could not retrieve topic list", running.stderr.getvalue())
