# -*- test-case-name: tests.tools.test_nsq_to_file -*-
"""
C{txnsq nsq_to_file}: Go NSQ 1.3.0's C{nsq_to_file}, writing the messages
of topics to files, one message per line.

Flags, defaults, file names, rotation, gzip output, the work dir and the
log lines (C{[nsq_to_file] 2006/01/02 15:04:05.000000 INFO: [topic/channel]
opening /tmp/...}) are Go's; see L{txnsq.tools._filewriter} for the files
and L{txnsq.tools._filelogger} for when messages are synced and FINed:
B{a message is FINed only after the bytes written for it are fsynced}.
The file work runs on a worker thread, never on the reactor.

Signals, as Go's:
  - SIGHUP syncs and closes each topic's file (moving it to
    C{--output-dir}); the next message opens a new one;
  - SIGINT or SIGTERM syncs, stops the consumers (their messages in
    flight are written, synced and FINed), closes the files, then exits 0.

A file that cannot be written, synced, closed or moved is fatal: the
C{FATAL} log line, then exit 1, as Go.

Differences from Go's, on purpose:
  - topics are first looked up at start, not one C{--topic-refresh} later,
    and the nsqlookupds that answered count when others failed (see
    L{txnsq.tools._topics});
  - a C{--filename-format} without C{<REV>} where one is needed (gzip,
    rotation, work dir) is fatal at start; Go logs an error for each topic
    and keeps running without logging any;
  - an nsqd that cannot be reached at start is retried (Go gives that
    topic up, for good when it came from C{--topic});
  - after SIGTERM, messages still arriving before the consumer closes are
    synced and FINed at once; go-nsq waits up to 30 seconds for them;
  - after a file is closed by SIGHUP or by C{--skip-empty-files}, the next
    message opens a new one; Go 1.3.0 (with C{--work-dir}) would write to
    the closed file and exit 1.
Like Go's, the usage begins C{Usage of nsqd:} (Go names the flag set so).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from typing import IO, Any

import attrs
from twisted.internet.defer import DeferredList
from twisted.internet.threads import deferToThreadPool

from txnsq._go.flags import (
    BOOL,
    DURATION,
    INT,
    STRING,
    Flag,
    FlagTable,
    parseLogLevel,
)
from txnsq._go.log import formatLine
from txnsq.client import Consumer
from txnsq.tools._common import (
    channelFlag,
    consumerNameError,
    consumerOptFlag,
    flagStrings,
    flagValue,
    lookupdHTTPAddressFlag,
    lookupdURLs,
    maxInFlightFlag,
    newConsumerError,
    nsqConfig,
    nsqdAddresses,
    nsqdTCPAddressFlag,
    topicsFlag,
    versionFlag,
)
from txnsq.tools._config import consumerOptions
from txnsq.tools._filelogger import FileLogger
from txnsq.tools._filewriter import (
    Event,
    FilenameFormatError,
    FileOptions,
    FileWriter,
    WriterFailed,
    computeFilenameFormat,
)
from txnsq.tools._runner import Fatal, Tool, ToolContext, runTool
from txnsq.tools._topics import LookupdTopics, TopicDiscoverer

__all__ = ["FLAGS", "TOOL", "main"]

_LEVELS = {"debug": 1, "info": 2, "warn": 3, "error": 4, "fatal": 5}
_LEVEL_NAMES = {1: "DEBUG", 2: "INFO", 3: "WARNING", 4: "ERROR", 5: "FATAL"}

FLAGS = FlagTable(
    # Go's nsq_to_file names its flag set "nsqd", which its usage prints.
    "nsqd",
    [
        versionFlag(),
        Flag(
            "log-level",
            STRING,
            "set log verbosity: debug, info, warn, error, or fatal",
            default="info",
        ),
        Flag("log-prefix", STRING, "log message prefix", default="[nsq_to_file] "),
        channelFlag("nsq_to_file", "nsq channel"),
        maxInFlightFlag(200),
        Flag(
            "output-dir", STRING, "directory to write output files to", default="/tmp"
        ),
        Flag(
            "work-dir",
            STRING,
            "directory for in-progress files before moving to output-dir",
            default="",
        ),
        Flag(
            "datetime-format",
            STRING,
            "strftime compatible format for <DATETIME> in filename format",
            default="%Y-%m-%d_%H",
        ),
        Flag(
            "filename-format",
            STRING,
            "output filename format (<TOPIC>, <HOST>, <PID>, <DATETIME>, <REV> are"
            " replaced. <REV> is increased when file already exists)",
            default="<TOPIC>.<HOST><REV>.<DATETIME>.log",
        ),
        Flag(
            "host-identifier",
            STRING,
            "value to output in log filename in place of hostname. <SHORT_HOST> and"
            " <HOSTNAME> are valid replacement tokens",
            default="",
        ),
        Flag(
            "gzip-level",
            INT,
            "gzip compression level (1-9, 1=BestSpeed, 9=BestCompression)",
            default=6,
        ),
        Flag("gzip", BOOL, "gzip output files.", default=False),
        Flag("skip-empty-files", BOOL, "skip writing empty files", default=False),
        Flag(
            "topic-refresh",
            DURATION,
            "how frequently the topic list should be refreshed",
            default=60.0,
        ),
        Flag(
            "topic-pattern",
            STRING,
            "only log topics matching the following pattern",
            default="",
        ),
        # Go's usage names the value after the back-quoted word.
        Flag(
            "rotate-size",
            attrs.evolve(INT, typeName="rotate-size"),
            "rotate the file when it grows bigger than rotate-size bytes",
            default=0,
        ),
        Flag(
            "rotate-interval", DURATION, "rotate the file every duration", default=0.0
        ),
        Flag(
            "sync-interval", DURATION, "sync file to disk every duration", default=30.0
        ),
        Flag(
            "http-client-connect-timeout",
            DURATION,
            "timeout for HTTP connect",
            default=2.0,
        ),
        Flag(
            "http-client-request-timeout",
            DURATION,
            "timeout for HTTP request",
            default=5.0,
        ),
        nsqdTCPAddressFlag(),
        lookupdHTTPAddressFlag(),
        topicsFlag("nsq topic (may be given multiple times)"),
        consumerOptFlag(),
    ],
)


class AppLog:
    """
    Go NSQ's leveled app logger (C{internal/lg}) as C{nsq_to_file} sets it
    up: C{<prefix><date> <time.micro> <LEVEL>: <text>} on stderr, for
    levels at least C{--log-level}.
    """

    def __init__(self, stderr: IO[str], prefix: str, level: str) -> None:
        """
        @param level: a valid C{--log-level}.
        """
        self._stderr = stderr
        self._prefix = prefix
        self._level = _LEVELS[parseLogLevel(level)]

    def __call__(self, level: str, text: str) -> None:
        """
        Log C{text} at C{level} (C{debug} ... C{fatal}).
        """
        number = _LEVELS[level]
        if number < self._level:
            return
        self._stderr.write(formatLine(self._prefix, _LEVEL_NAMES[number], text))
        self._stderr.flush()

    def event(self, event: Event) -> None:
        """
        Log an event of L{FileWriter}.
        """
        level, format, fields = event
        self(level, format.format(**fields))


@attrs.frozen
class Options:
    """
    Go's C{nsq_to_file} C{Options}, from the resolved flags.
    """

    topics: list[str]
    topicPattern: str
    topicRefresh: float
    channel: str
    nsqdTCPAddresses: list[str]
    lookupdHTTPAddresses: list[str]
    maxInFlight: int
    connectTimeout: float
    requestTimeout: float
    logPrefix: str
    logLevel: str
    syncInterval: float
    files: FileOptions

    @classmethod
    def fromValues(cls, values: Mapping[str, object]) -> Options:
        """
        The options of a command line (C{--work-dir} defaulting to
        C{--output-dir}, as Go does).
        """
        outputDir = flagValue(values, "output-dir", str)
        return cls(
            topics=flagStrings(values, "topic"),
            topicPattern=flagValue(values, "topic-pattern", str),
            topicRefresh=flagValue(values, "topic-refresh", float),
            channel=flagValue(values, "channel", str),
            nsqdTCPAddresses=flagStrings(values, "nsqd-tcp-address"),
            lookupdHTTPAddresses=flagStrings(values, "lookupd-http-address"),
            maxInFlight=flagValue(values, "max-in-flight", int),
            connectTimeout=flagValue(values, "http-client-connect-timeout", float),
            requestTimeout=flagValue(values, "http-client-request-timeout", float),
            logPrefix=flagValue(values, "log-prefix", str),
            logLevel=flagValue(values, "log-level", str),
            syncInterval=flagValue(values, "sync-interval", float),
            files=FileOptions(
                outputDir=outputDir,
                workDir=flagValue(values, "work-dir", str) or outputDir,
                datetimeFormat=flagValue(values, "datetime-format", str),
                filenameFormat=flagValue(values, "filename-format", str),
                hostIdentifier=flagValue(values, "host-identifier", str),
                gzip=flagValue(values, "gzip", bool),
                gzipLevel=flagValue(values, "gzip-level", int),
                rotateSize=flagValue(values, "rotate-size", int),
                rotateInterval=flagValue(values, "rotate-interval", float),
                skipEmptyFiles=flagValue(values, "skip-empty-files", bool),
            ),
        )

    def check(self) -> None:
        """
        Go's checks, in Go's order, each a C{log.Fatal}.

        @raise Fatal: for the first that fails.
        """
        if self.channel == "":
            raise Fatal("--channel is required")
        if self.connectTimeout <= 0:
            raise Fatal("--http-client-connect-timeout should be positive")
        if self.requestTimeout <= 0:
            raise Fatal("--http-client-request-timeout should be positive")
        nsqds, lookupds = self.nsqdTCPAddresses, self.lookupdHTTPAddresses
        if not nsqds and not lookupds:
            raise Fatal("--nsqd-tcp-address or --lookupd-http-address required.")
        if nsqds and lookupds:
            raise Fatal("use --nsqd-tcp-address or --lookupd-http-address not both")
        level = self.files.gzipLevel
        if level < 1 or level > 9:
            raise Fatal(f"invalid --gzip-level value ({level}), should be 1-9")
        if not self.topics and not self.topicPattern:
            raise Fatal("--topic or --topic-pattern required")
        if not self.topics and not lookupds:
            raise Fatal(
                "--lookupd-http-address must be specified when no --topic specified"
            )


def _goStrings(items: Sequence[str]) -> str:
    return "[" + " ".join(items) + "]"


async def run(context: ToolContext) -> int:
    """
    Run C{nsq_to_file} until SIGINT or SIGTERM (or a fatal file error).
    """
    if context.arguments:
        raise Fatal(f"unknown arguments: {_goStrings(context.arguments)}")
    options = Options.fromValues(context.values)
    try:
        log = AppLog(context.stderr, options.logPrefix, options.logLevel)
    except ValueError:
        raise Fatal("--log-level is invalid")
    options.check()
    files = options.files
    hostname = socket.gethostname()
    pid = os.getpid()
    try:
        computeFilenameFormat(files, "", hostname, pid)
    except FilenameFormatError as e:
        topic = options.topics[0] if options.topics else ""
        log("fatal", f"couldn't create logger for new topic {topic}: {e}")
        return 1
    channel = options.channel
    config = nsqConfig(context, "consumer-opt", options.maxInFlight)
    reactor = context.reactor
    consumerKwargs = consumerOptions(config, reactor)
    loggers: dict[str, FileLogger] = {}

    def runInThread(function: Any) -> Any:
        return deferToThreadPool(reactor, reactor.getThreadPool(), function)

    def fatal(error: WriterFailed) -> None:
        log("fatal", str(error))
        context.end(1)

    def startTopic(topic: str) -> bool:
        # go-nsq's NewConsumer checks the names before ConnectToNSQDs
        # checks the addresses (in makeConsumer).
        nameError = consumerNameError(topic, channel)
        if nameError is not None:
            log("error", f"couldn't create logger for new topic {topic}: {nameError}")
            return False
        writer = FileWriter(
            topic,
            channel,
            files,
            computeFilenameFormat(files, topic, hostname, pid),
        )

        def makeConsumer(handler: Any) -> Consumer:
            return Consumer(
                topic,
                channel,
                handler,
                nsqdAddresses=nsqdAddresses(options.nsqdTCPAddresses),
                lookupdHTTPAddresses=lookupdURLs(options.lookupdHTTPAddresses),
                **consumerKwargs,
            )

        try:
            logger = FileLogger(
                writer,
                makeConsumer,
                clock=reactor,
                runInThread=runInThread,
                syncInterval=options.syncInterval,
                maxInFlight=options.maxInFlight,
                log=log.event,
                fatal=fatal,
            )
        except ValueError as e:
            error = newConsumerError(str(e))
            log("error", f"couldn't create logger for new topic {topic}: {error}")
            return False
        loggers[topic] = logger
        logger.start()
        return True

    lookupd = None
    if options.lookupdHTTPAddresses:
        lookupd = LookupdTopics(
            options.lookupdHTTPAddresses,
            reactor=reactor,
            connectTimeout=options.connectTimeout,
            requestTimeout=options.requestTimeout,
        )
    discoverer = TopicDiscoverer(
        options.topics,
        options.topicPattern,
        lookupd=lookupd,
        refreshInterval=options.topicRefresh,
        clock=reactor,
        startTopic=startTopic,
        log=log,
    )

    def hangUp() -> None:
        for logger in list(loggers.values()):
            logger.hangUp()

    context.onSignal("SIGHUP", hangUp)
    discoverer.start()
    try:
        await context.interrupted
    finally:
        await discoverer.stop()
        await DeferredList(
            [logger.stop() for logger in list(loggers.values())],
            consumeErrors=True,
        )
    return 0


TOOL = Tool("nsq_to_file", FLAGS, run, repeatedSignals=("SIGHUP",))
"""C{nsq_to_file}."""


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run C{nsq_to_file} as the process.
    """
    return runTool(TOOL, argv)
