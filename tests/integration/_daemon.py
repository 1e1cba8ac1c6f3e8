"""
Child processes for the integration tests: daemons run with C{twistd -n}
and client scripts (pynsq, nsqjs), their output read line by line.

Every child is started through L{spawnChild}, which registers a cleanup on
the test case: a child still running when the test ends gets C{SIGTERM}
(then C{SIGKILL} if it lingers), addressed to the PID this module started
and to nothing else.  Tests wait on output (L{ChildProcess.waitForLine},
L{ChildProcess.waitForEvents}) rather than on time.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
from twisted.internet import reactor as _globalReactor
from twisted.internet.defer import Deferred, TimeoutError
from twisted.internet.error import ProcessDone, ProcessExitedAlready
from twisted.internet.interfaces import IReactorProcess, IReactorTime
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

#: The checkout's root, so children import this txnsq and find its twistd
#: plugins even when it is not installed.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: How long to wait for a line that says a child is ready (seconds).
DEFAULT_WAIT = 30.0

#: How long a child may take to exit after C{SIGTERM} before it is killed.
STOP_GRACE = 15.0

T = TypeVar("T")
Event = dict[str, Any]
LinePredicate = Callable[[str], bool]
EventPredicate = Callable[[Event], bool]

_reactor: Any = _globalReactor


class ChildFailed(Exception):
    """
    A child process ended, or did not say what was awaited in time.

    The message carries the child's command line and all its output, so a
    failing test shows why.
    """


def childEnvironment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """
    The environment for a child: this process's, with the checkout first on
    C{PYTHONPATH} and Python output unbuffered (lines must arrive as they
    are printed, not when the child exits).
    """
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = REPO_ROOT + (os.pathsep + path if path else "")
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


def parseEvent(line: str) -> Event | None:
    """
    The JSON object on C{line}, or L{None} when the line is not one (client
    libraries may log plain text on the same stream).
    """
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@attrs.define(eq=False)
class _Waiter:
    predicate: LinePredicate
    count: int
    matched: list[str]
    deferred: Deferred[list[str]] = attrs.field(factory=Deferred)


class ChildProcess(ProcessProtocol):
    """
    One child process: its output as lines, and Deferreds that fire when
    given lines appear or when it exits.

    @ivar lines: every complete line the child wrote to stdout, decoded.
    @ivar stderrText: everything it wrote to stderr.
    @ivar exitCode: its exit code once ended (negative: killed by that
        signal), else L{None}.
    """

    def __init__(
        self, argv: Sequence[str], clock: IReactorTime, name: str | None = None
    ) -> None:
        self.argv = list(argv)
        self.name = name or os.path.basename(self.argv[0])
        self.clock = clock
        self.lines: list[str] = []
        self.stderrText = ""
        self.exitCode: int | None = None
        self._partial = b""
        self._stderr = b""
        self._waiters: list[_Waiter] = []
        self._ended: list[Deferred[int]] = []

    # Output.

    def outReceived(self, data: bytes) -> None:
        buffer = self._partial + data
        *complete, self._partial = buffer.split(b"\n")
        for raw in complete:
            self._lineReceived(raw.decode("utf-8", "replace").rstrip("\r"))

    def errReceived(self, data: bytes) -> None:
        self._stderr += data
        self.stderrText = self._stderr.decode("utf-8", "replace")

    def _lineReceived(self, line: str) -> None:
        self.lines.append(line)
        for waiter in list(self._waiters):
            if waiter.predicate(line):
                waiter.matched.append(line)
                if len(waiter.matched) >= waiter.count:
                    self._waiters.remove(waiter)
                    waiter.deferred.callback(waiter.matched)

    def events(self) -> list[Event]:
        """
        Every JSON object line the child printed so far, in order.
        """
        return [e for e in map(parseEvent, self.lines) if e is not None]

    def output(self) -> str:
        """
        A report of the child's command line and output, for failure
        messages.
        """
        tail = self._partial.decode("utf-8", "replace")
        return (
            f"{self.name} {self.argv!r} exit={self.exitCode}\n"
            f"--- stdout ---\n" + "\n".join(self.lines) + tail + "\n"
            f"--- stderr ---\n{self.stderrText}"
        )

    # Waiting.

    def waitForLines(
        self, predicate: LinePredicate, count: int = 1, timeout: float = DEFAULT_WAIT
    ) -> Deferred[list[str]]:
        """
        Fire with the first C{count} lines (seen so far or still to come)
        for which C{predicate} is true.

        Fails with L{ChildFailed} if the child exits first or C{timeout}
        seconds pass.
        """
        matched = [line for line in self.lines if predicate(line)][:count]
        if len(matched) >= count:
            return _succeed(matched)
        if self.exitCode is not None:
            return _fail(ChildFailed(f"exited before the line came\n{self.output()}"))
        waiter = _Waiter(predicate, count, matched)
        waiter.deferred = Deferred(lambda d: self._waiters.remove(waiter))
        self._waiters.append(waiter)
        return self._withTimeout(waiter.deferred, timeout, f"{count} line(s) awaited")

    def waitForLine(
        self, pattern: str, timeout: float = DEFAULT_WAIT
    ) -> Deferred[re.Match[str]]:
        """
        Fire with the match of the regular expression C{pattern} against
        the first line it is found in.
        """
        regex = re.compile(pattern)
        d = self.waitForLines(lambda line: regex.search(line) is not None, 1, timeout)
        return d.addCallback(lambda lines: _search(regex, lines[0]))

    def waitForEvents(
        self, predicate: EventPredicate, count: int = 1, timeout: float = DEFAULT_WAIT
    ) -> Deferred[list[Event]]:
        """
        Fire with the first C{count} JSON events satisfying C{predicate}.
        """

        def linePredicate(line: str) -> bool:
            event = parseEvent(line)
            return event is not None and predicate(event)

        d = self.waitForLines(linePredicate, count, timeout)
        return d.addCallback(lambda lines: [_event(line) for line in lines])

    def whenEnded(self, timeout: float = DEFAULT_WAIT) -> Deferred[int]:
        """
        Fire with the exit code once the child has ended (fails after
        C{timeout} seconds, leaving the child to the test's cleanup).
        """
        if self.exitCode is not None:
            return _succeed(self.exitCode)
        d: Deferred[int] = Deferred(lambda d: self._ended.remove(d))
        self._ended.append(d)
        return self._withTimeout(d, timeout, "exit awaited")

    def _withTimeout(self, d: Deferred[T], timeout: float, what: str) -> Deferred[T]:
        def timedOut(failure: Failure) -> Failure:
            if failure.check(TimeoutError):
                return Failure(
                    ChildFailed(f"{what}: none in {timeout}s\n{self.output()}")
                )
            return failure

        return d.addTimeout(timeout, self.clock).addErrback(timedOut)

    # Ending.

    def processEnded(self, reason: Failure) -> None:
        if reason.check(ProcessDone):
            self.exitCode = 0
        else:
            code = getattr(reason.value, "exitCode", None)
            signal = getattr(reason.value, "signal", None)
            self.exitCode = code if code is not None else -(signal or 1)
        if self._partial:
            partial, self._partial = self._partial, b""
            self._lineReceived(partial.decode("utf-8", "replace"))
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.deferred.errback(
                ChildFailed(f"exited before the line came\n{self.output()}")
            )
        ended, self._ended = self._ended, []
        for d in ended:
            d.callback(self.exitCode)

    def signal(self, name: str) -> None:
        """
        Send signal C{name} (C{"TERM"}, C{"KILL"}, ...) to this child, if
        it is still running.
        """
        if self.exitCode is None and self.transport is not None:
            # It may have exited with its end not yet reported.
            with contextlib.suppress(ProcessExitedAlready):
                self.transport.signalProcess(name)

    def stop(self, grace: float = STOP_GRACE) -> Deferred[int]:
        """
        C{SIGTERM} the child and fire with its exit code once it ended;
        C{SIGKILL} it if it is still there after C{grace} seconds.
        """
        if self.exitCode is not None:
            return _succeed(self.exitCode)
        d: Deferred[int] = Deferred()
        self._ended.append(d)
        self.signal("TERM")
        kill = self.clock.callLater(grace, self.signal, "KILL")

        def ended(code: int) -> int:
            if kill.active():
                kill.cancel()
            return code

        return d.addCallback(ended)


def spawnChild(
    testCase: TestCase,
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    path: str | None = None,
    name: str | None = None,
    reactor: Any = None,
) -> ChildProcess:
    """
    Start C{argv} (C{argv[0]} is the executable's path) and stop it, if it
    is still running, when C{testCase} ends.

    @param env: the child's whole environment; L{childEnvironment} if
        omitted.
    @param path: the child's working directory (a fresh one from
        C{testCase.mktemp()} if omitted, so nothing lands in the checkout).
    """
    reactor = _reactor if reactor is None else reactor
    if path is None:
        path = os.path.abspath(testCase.mktemp())
        os.makedirs(path)
    child = ChildProcess(argv, reactor, name)
    process: IReactorProcess = reactor
    process.spawnProcess(
        child,
        argv[0],
        list(argv),
        env=dict(env) if env is not None else childEnvironment(),
        path=path,
    )
    testCase.addCleanup(child.stop)
    return child


def _succeed(value: Any) -> Deferred[Any]:
    d: Deferred[Any] = Deferred()
    d.callback(value)
    return d


def _fail(error: Exception) -> Deferred[Any]:
    d: Deferred[Any] = Deferred()
    d.errback(Failure(error))
    return d


def _search(regex: re.Pattern[str], line: str) -> re.Match[str]:
    match = regex.search(line)
    assert match is not None
    return match


def _event(line: str) -> Event:
    event = parseEvent(line)
    assert event is not None
    return event


# Daemons.


#: Python code that runs twistd with the arguments that follow C{-c CODE};
#: used instead of a C{twistd} script so the same interpreter (and
#: virtualenv) as the tests runs it.
_TWISTD = (
    "import sys; sys.argv[0] = 'twistd'; from twisted.scripts.twistd import run; run()"
)


@attrs.define
class Daemon:
    """
    A daemon started by L{startDaemon}, with the addresses it said it
    listens on.

    @ivar addresses: listener name (a key of C{startDaemon}'s C{listening})
        to C{(host, port)}.
    """

    process: ChildProcess
    addresses: dict[str, tuple[str, int]]

    def address(self, name: str) -> str:
        """
        C{host:port} of the listener called C{name}.
        """
        host, port = self.addresses[name]
        return f"{host}:{port}"

    def stop(self) -> Deferred[int]:
        """
        C{SIGTERM} the daemon and fire with its exit code once it exited.
        """
        return self.process.stop()


def startDaemon(
    testCase: TestCase,
    plugin: str,
    args: Sequence[str],
    listening: Mapping[str, str],
    timeout: float = DEFAULT_WAIT,
    reactor: Any = None,
) -> Deferred[Daemon]:
    """
    Run C{twistd -n --pidfile= PLUGIN ARGS...} in a fresh directory and fire
    once it has logged every listener in C{listening}; it is stopped with
    C{SIGTERM} when C{testCase} ends.

    @param listening: listener name to a regular expression with groups
        C{host} and C{port}, found in the line the daemon logs once that
        listener is bound (e.g. Go's C{TCP: listening on HOST:PORT}).
    """
    argv = [sys.executable, "-c", _TWISTD, "-n", "--pidfile=", plugin, *args]
    child = spawnChild(testCase, argv, name=f"twistd {plugin}", reactor=reactor)
    addresses: dict[str, tuple[str, int]] = {}
    waits: list[Deferred[None]] = []

    for listenerName, pattern in listening.items():

        def found(match: re.Match[str], listenerName: str = listenerName) -> None:
            addresses[listenerName] = (match.group("host"), int(match.group("port")))

        waits.append(child.waitForLine(pattern, timeout).addCallback(found))

    async def allListening() -> Daemon:
        for wait in waits:
            await wait
        return Daemon(child, addresses)

    return Deferred.fromCoroutine(allListening())


#: Go nsqd's log line once its TCP listener is bound.
NSQD_TCP_LISTENING = (
    r"TCP: listening on (?P<host>[0-9.]+|\[[0-9a-fA-F:]+\]):(?P<port>\d+)"
)


def startNSQD(testCase: TestCase, *args: str, reactor: Any = None) -> Deferred[Daemon]:
    """
    Run C{twistd -n nsqd} on 127.0.0.1 with free ports and a fresh data
    directory; the daemon's C{"tcp"} address is its TCP listener.

    @param args: more nsqd flags (Go's spellings, e.g. C{--msg-timeout=5s}).
    """
    dataPath = os.path.abspath(testCase.mktemp())
    os.makedirs(dataPath)
    flags = [
        "--tcp-address=127.0.0.1:0",
        "--http-address=127.0.0.1:0",
        # With a certificate nsqd also serves HTTPS, by default on
        # 0.0.0.0:4152: daemons running side by side need their own ports.
        "--https-address=127.0.0.1:0",
        f"--data-path={dataPath}",
        *args,
    ]
    return startDaemon(
        testCase, "nsqd", flags, {"tcp": NSQD_TCP_LISTENING}, reactor=reactor
    )
