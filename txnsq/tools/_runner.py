# -*- test-case-name: tests.tools.test_common -*-
"""
Running a tool as Go runs its binary: parse the command line with Go's
C{flag} package rules, run on the reactor, and exit with Go's status.

  - C{-h}/C{-help}: the usage on stderr, status 0; a bad flag: Go's error
    and the usage on stderr, status 2 (Go's C{flag.ExitOnError});
  - C{--version} (for tools that have it): C{nsq_tail v1.3.0}, status 0;
  - Go's C{log.Fatal}: the message as a Go standard-logger line
    (C{2006/01/02 15:04:05 message}) on stderr, status 1 (L{Fatal});
  - Go's C{os.Exit(n)}: L{Exit};
  - the tool's signals (SIGINT and SIGTERM unless it says otherwise) fire
    L{ToolContext.interrupted}, and the tool stops as the Go tool does;
  - a write to a closed stdout ends the process by SIGPIPE, as a Go
    program's write to a broken pipe on fd 1 does (C{nsq_tail | head}).

See L{txnsq.tools} for the contract a tool module follows.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from collections.abc import Coroutine, Mapping, Sequence
from datetime import datetime
from typing import IO, Any, BinaryIO, Callable, NoReturn

from zope.interface import implementer

import attrs
from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import (
    ILogObserver,
    LogLevel,
    formatEvent,
    globalLogBeginner,
    globalLogPublisher,
)
from twisted.python.failure import Failure

from txnsq import NSQ_VERSION
from txnsq._go.flags import FlagError, FlagTable, HelpRequested

__all__ = [
    "Exit",
    "Fatal",
    "StdoutClosed",
    "Tool",
    "ToolContext",
    "ToolRun",
    "goLogLine",
    "runTool",
    "startTool",
]

#: The status of a process killed by SIGPIPE, as a shell reports it; what
#: an in-process run returns where the process would have died so.
SIGPIPE_STATUS = 128 + 13


class Fatal(Exception):
    """
    Go's C{log.Fatal(message)}: the tool ends at once; the runner writes
    the message as a Go log line on stderr, and the status is 1.
    """


class Exit(Exception):
    """
    Go's C{os.Exit(status)}: the tool ends at once with C{status}.
    """

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class StdoutClosed(Exception):
    """
    stdout is a pipe whose reader has gone: a Go program dies of SIGPIPE.
    """


def goLogLine(text: str, when: float | None = None) -> str:
    """
    A line of Go's standard logger with its default flags
    (C{log.LstdFlags}): C{2006/01/02 15:04:05 text}, with the newline Go
    adds when the text lacks one.

    @param when: the POSIX time; now if omitted.
    """
    stamp = datetime.fromtimestamp(time.time() if when is None else when)
    if not text.endswith("\n"):
        text += "\n"
    return f"{stamp:%Y/%m/%d %H:%M:%S} {text}"


@attrs.frozen
class Tool:
    """
    What the runner needs to know about one tool.

    @ivar name: the program name, as Go's binary is called (C{nsq_tail});
        the usage says C{Usage of <name>:}.
    @ivar flags: its flags.
    @ivar run: C{async def run(context) -> int}: the tool's body (see
        L{txnsq.tools}).
    @ivar signals: the signals that fire L{ToolContext.interrupted}, by
        name (Go's C{signal.Notify} list).
    @ivar versionFlag: the name of the flag that prints the version, if
        the tool has one (C{to_nsq} has none).
    @ivar repeatedSignals: signals delivered, each time they arrive, to
        the callbacks registered with L{ToolContext.onSignal} (a Go tool
        that keeps reading a signal channel: C{nsq_to_file}'s SIGHUP).
    """

    name: str
    flags: FlagTable
    run: Callable[[ToolContext], Coroutine[Any, Any, int]]
    signals: tuple[str, ...] = ("SIGINT", "SIGTERM")
    versionFlag: str | None = "version"
    repeatedSignals: tuple[str, ...] = ()

    @property
    def versionLine(self) -> str:
        """
        What C{--version} prints: Go's C{nsq_tail v1.3.0}.
        """
        return f"{self.name} v{NSQ_VERSION}\n"


class ToolContext:
    """
    What a running tool is given.

    @ivar tool: the tool.
    @ivar values: every flag's value, by Go's flag name (defaults filled
        in); repeatable flags are lists.
    @ivar explicit: the names of the flags given on the command line (Go's
        C{flag.Visit}), for flags whose default means "unset".
    @ivar arguments: the command-line arguments after the flags.
    @ivar reactor: the reactor to run on.
    @ivar stdin: the binary stdin.
    @ivar stdout: the binary stdout (see L{write}).
    @ivar stderr: the text stderr (see L{log}).
    @ivar interrupted: fires once on the first of the tool's signals (a
        Go tool's C{<-sigChan}); later signals are ignored, as Go's
        one-slot channel drops them.
    """

    def __init__(
        self,
        tool: Tool,
        values: Mapping[str, object],
        explicit: frozenset[str],
        arguments: Sequence[str],
        reactor: Any,
        stdin: BinaryIO | None,
        stdout: IO[bytes],
        stderr: IO[str],
    ) -> None:
        self.tool = tool
        self.values = dict(values)
        self.explicit = explicit
        self.arguments = list(arguments)
        self.reactor = reactor
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.interrupted: Deferred[None] = Deferred()
        self._ended: Deferred[int] = Deferred()
        self._signalled: dict[str, list[Callable[[], object]]] = {}

    def interrupt(self) -> None:
        """
        One of the tool's signals arrived.
        """
        if not self.interrupted.called:
            self.interrupted.callback(None)

    def onSignal(self, name: str, callback: Callable[[], object]) -> None:
        """
        Call C{callback} each time the signal C{name}, one of the tool's
        C{repeatedSignals}, arrives.
        """
        if name not in self.tool.repeatedSignals:
            raise ValueError(f"{name} is not among the tool's repeatedSignals")
        self._signalled.setdefault(name, []).append(callback)

    def signal(self, name: str) -> None:
        """
        The signal C{name}, one of the tool's C{repeatedSignals}, arrived.
        """
        for callback in list(self._signalled.get(name, ())):
            callback()

    def log(self, text: str) -> None:
        """
        Go's C{log.Printf}: a standard-logger line on stderr.
        """
        self.stderr.write(goLogLine(text))
        self.stderr.flush()

    def fatal(self, text: str) -> NoReturn:
        """
        Go's C{log.Fatal} from the tool's own code path: raise L{Fatal}.
        """
        raise Fatal(text)

    def write(self, data: bytes) -> None:
        """
        Write to stdout at once (Go's C{os.Stdout} is unbuffered, and
        C{nsq_tail | grep} relies on it).

        @raise StdoutClosed: if stdout is a pipe nobody reads any more.
        @raise OSError: for any other failure to write.
        """
        try:
            self.stdout.write(data)
            self.stdout.flush()
        except BrokenPipeError:
            raise StdoutClosed()

    def end(self, reason: BaseException | int) -> None:
        """
        End the tool now, from a callback that cannot raise into L{run
        <Tool.run>} (a message handler, a timer): with an exit status (Go's
        C{os.Exit}) or an exception (L{Fatal}, L{StdoutClosed}) handled as
        if C{run} had raised it.  C{run}'s coroutine is cancelled.
        """
        if self._ended.called:
            return
        if isinstance(reason, int):
            self._ended.callback(reason)
        else:
            self._ended.errback(Failure(reason))


@attrs.define
class ToolRun:
    """
    A tool started by L{startTool}.

    @ivar result: fires with the exit status.
    @ivar context: the running tool's context; C{None} if the command line
        ended it before it started (usage, bad flag, version).
    """

    result: Deferred[int]
    context: ToolContext | None

    def interrupt(self) -> None:
        """
        Deliver one of the tool's signals.
        """
        if self.context is not None:
            self.context.interrupt()

    def signal(self, name: str) -> None:
        """
        Deliver one of the tool's C{repeatedSignals}.
        """
        if self.context is not None:
            self.context.signal(name)


def _prepare(
    tool: Tool,
    argv: Sequence[str],
    reactor: Any,
    stdin: BinaryIO | None,
    stdout: IO[bytes],
    stderr: IO[str],
) -> ToolContext | int:
    """
    Parse the command line: a context to run, or the exit status when the
    command line is all there is to do.
    """
    table = tool.flags
    try:
        parsed = table.parse(argv)
    except HelpRequested:
        stderr.write(table.usage())
        return 0
    except FlagError as e:
        stderr.write(f"{e}\n{table.usage()}")
        return 2
    if tool.versionFlag is not None and parsed.values.get(tool.versionFlag):
        stdout.write(tool.versionLine.encode())
        stdout.flush()
        return 0
    values = table.resolve(parsed.values)
    return ToolContext(
        tool,
        values,
        frozenset(parsed.values),
        parsed.arguments,
        reactor,
        stdin,
        stdout,
        stderr,
    )


def _statusOf(context: ToolContext, result: int | Failure) -> int:
    """
    The exit status for how the tool ended, writing what Go would have
    written on stderr.
    """
    if not isinstance(result, Failure):
        return result
    error = result.value
    if isinstance(error, Fatal):
        context.stderr.write(goLogLine(str(error)))
        return 1
    if isinstance(error, Exit):
        return error.status
    if isinstance(error, StdoutClosed):
        return SIGPIPE_STATUS
    # A bug: Go's panic prints the trace on stderr and exits 2.
    context.stderr.write(f"panic: {error}\n\n")
    context.stderr.write("".join(traceback.format_tb(result.tb)))
    context.stderr.write(f"{error.__class__.__name__}: {error}\n")
    return 2


def _run(context: ToolContext, waitForCleanup: bool) -> Deferred[int]:
    """
    Run the tool's body until it returns, raises, or calls
    L{ToolContext.end}; fires with the exit status.

    @param waitForCleanup: after L{ToolContext.end}, wait for the body to
        finish its cleanup (its C{finally} blocks, run on the
        C{CancelledError} thrown into it) before firing.  A process exits
        at once instead, as Go's C{os.Exit} and C{log.Fatal} do.
    """
    done: Deferred[int] = Deferred()
    body = Deferred.fromCoroutine(context.tool.run(context))

    bodyFirst = False

    def bodyEnded(result: int | Failure) -> None:
        nonlocal bodyFirst
        if not context._ended.called:
            bodyFirst = True
            context._ended.callback(0)
            finish(result)

    def ended(result: int | Failure) -> None:
        if body.called:
            if not bodyFirst:
                # end() was called from within the body, which then
                # returned (or raised) before waiting on anything: the
                # end is the outcome.
                finish(result)
            return
        # Ended from a callback: stop the body where it waits.
        body.addErrback(lambda f: f.trap(CancelledError))
        body.cancel()
        if waitForCleanup:
            # A cancelled coroutine's Deferred is paused until the
            # coroutine has run its cleanup; this runs after it.
            body.addBoth(lambda _: finish(result))
        else:
            finish(result)

    def finish(result: int | Failure) -> None:
        done.callback(_statusOf(context, result))

    body.addBoth(bodyEnded)
    context._ended.addBoth(ended)
    return done


@implementer(ILogObserver)
class ClientLogObserver:
    """
    The client's log events as go-nsq writes its logs: Go standard-logger
    lines on stderr, C{2006/01/02 15:04:05 INF text}; plus errors from
    anywhere else (a bug's traceback).

    @ivar level: the least severe level written for the client's events.
    """

    _NAMES = {
        LogLevel.debug: "DBG",
        LogLevel.info: "INF",
        LogLevel.warn: "WRN",
        LogLevel.error: "ERR",
        LogLevel.critical: "ERR",
    }

    def __init__(self, stderr: IO[str], level: LogLevel = LogLevel.info) -> None:
        self._stderr = stderr
        self.level = level

    def __call__(self, event: Mapping[str, Any]) -> None:
        level = event.get("log_level", LogLevel.info)
        namespace = str(event.get("log_namespace", ""))
        fromClient = namespace.startswith("txnsq.")
        if fromClient and level < self.level:
            return
        if not fromClient and level < LogLevel.error:
            return
        text = formatEvent(dict(event))
        failure = event.get("log_failure")
        if isinstance(failure, Failure):
            text += "\n" + failure.getTraceback()
        self._stderr.write(goLogLine(f"{self._NAMES.get(level, 'INF')} {text}"))
        self._stderr.flush()


def startTool(
    tool: Tool,
    argv: Sequence[str],
    *,
    reactor: Any,
    stdout: IO[bytes],
    stderr: IO[str],
    stdin: BinaryIO | None = None,
) -> ToolRun:
    """
    Run a tool in this process on a running reactor (trial's, in tests):
    the client's log lines go to C{stderr} while it runs.

    @param argv: the arguments after the program name.
    @return: the run; its C{result} fires with the exit status.
    """
    prepared = _prepare(tool, argv, reactor, stdin, stdout, stderr)
    if isinstance(prepared, int):
        result: Deferred[int] = Deferred()
        result.callback(prepared)
        return ToolRun(result, None)
    observer = ClientLogObserver(stderr)
    globalLogPublisher.addObserver(observer)

    def detach(status: int) -> int:
        globalLogPublisher.removeObserver(observer)
        stderr.flush()
        return status

    return ToolRun(_run(prepared, True).addCallback(detach), prepared)


def _installReactor() -> Any:
    """
    Install Twisted's default reactor, unless one already is.
    """
    if "twisted.internet.reactor" not in sys.modules:
        from twisted.internet import default

        default.install()
    from twisted.internet import reactor

    return reactor


def runTool(tool: Tool, argv: Sequence[str] | None = None) -> int:
    """
    Run a tool as a process: install the reactor, catch the tool's
    signals, run until the tool ends, and return its exit status (a tool
    whose stdout reader went away dies of SIGPIPE here, as Go's does).

    @param argv: the arguments after the program name; C{sys.argv[1:]} if
        omitted.
    """
    arguments = sys.argv[1:] if argv is None else argv
    reactor = _installReactor()
    stdout = sys.stdout.buffer
    prepared = _prepare(tool, arguments, reactor, sys.stdin.buffer, stdout, sys.stderr)
    if isinstance(prepared, int):
        return prepared
    context = prepared
    globalLogBeginner.beginLoggingTo(
        [ClientLogObserver(sys.stderr)], redirectStandardIO=False
    )

    def caught(signum: int, frame: object) -> None:
        reactor.callFromThread(context.interrupt)

    for name in tool.signals:
        signal.signal(getattr(signal, name), caught)

    def repeated(signum: int, frame: object) -> None:
        reactor.callFromThread(context.signal, signal.Signals(signum).name)

    for name in tool.repeatedSignals:
        signal.signal(getattr(signal, name), repeated)

    status = 0

    def start() -> None:
        def ended(result: int) -> None:
            nonlocal status
            status = result
            reactor.stop()

        _run(context, False).addCallback(ended)

    reactor.callWhenRunning(start)
    # The tool's own handlers replace Twisted's, which would stop the
    # reactor on SIGINT before the tool could stop as Go's does.
    reactor.run(installSignalHandlers=False)
    sys.stderr.flush()
    if status == SIGPIPE_STATUS:
        _dieOfSIGPIPE()
    try:
        stdout.flush()
    except BrokenPipeError:
        _dieOfSIGPIPE()
    return status


def _dieOfSIGPIPE() -> NoReturn:
    """
    Die as a Go program does when fd 1 is a broken pipe (Python ignores
    SIGPIPE and raises instead).
    """
    # Nothing more can reach stdout; keep the interpreter's own flush at
    # exit from complaining.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)
    os._exit(SIGPIPE_STATUS)
