"""
The daemons as real processes: C{txnsq nsqd} (Go's command line and log
lines, graceful stop on SIGTERM/SIGINT) and C{twistd} (plugins, pidfiles of
several daemons in one folder).
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol, Protocol
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath
from twisted.trial.unittest import TestCase

_REPO_ROOT = FilePath(__file__).parent().parent().parent().path

# How long a child may take to say it listens, or to exit (seconds); a
# bound for a hung child, not a timing assertion.
_WAIT = 60.0

_GO_LINE = re.compile(
    r"^\[nsqd\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} INFO: "
    r"TCP: listening on 127\.0\.0\.1:(\d+)$"
)


class _Child(ProcessProtocol):
    """
    A child process whose output lines (stdout and stderr alike) can be
    waited for.

    @ivar lines: every complete line so far.
    @ivar exitCode: the exit code once ended, else L{None}.
    @ivar signal: the signal that ended it, if one did.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: list[str] = []
        self.exitCode: int | None = None
        self.signal: int | None = None
        self._buffers = {1: b"", 2: b""}
        self._waiters: list[tuple[re.Pattern[str], Deferred[re.Match[str]]]] = []
        self._ended: Deferred[int | None] = Deferred()

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        *complete, self._buffers[childFD] = (
            self._buffers.get(childFD, b"") + data
        ).split(b"\n")
        for raw in complete:
            line = raw.decode("utf-8", "replace")
            self.lines.append(line)
            for waiter in list(self._waiters):
                match = waiter[0].search(line)
                if match is not None:
                    self._waiters.remove(waiter)
                    waiter[1].callback(match)

    def processEnded(self, reason: Failure) -> None:
        self.exitCode = getattr(reason.value, "exitCode", None)
        self.signal = getattr(reason.value, "signal", None)
        for _, waiting in self._waiters:
            waiting.errback(AssertionError(f"{self.name} ended:\n{self.output()}"))
        self._waiters = []
        self._ended.callback(self.exitCode)

    def output(self) -> str:
        """
        Everything the child printed, for failure messages.
        """
        return "\n".join(self.lines)

    def waitFor(self, pattern: str | re.Pattern[str]) -> Deferred[re.Match[str]]:
        """
        The match of C{pattern} in the first line (seen or to come) it is
        found in.
        """
        regex = re.compile(pattern)
        for line in self.lines:
            match = regex.search(line)
            if match is not None:
                return succeed(match)
        waiting: Deferred[re.Match[str]] = Deferred()
        self._waiters.append((regex, waiting))
        return waiting.addTimeout(_WAIT, reactor)

    def ended(self) -> Deferred[int | None]:
        """
        The exit code, once the child has exited.
        """
        ended: Deferred[int | None] = Deferred()

        def relay(result: int | Failure | None) -> int | Failure | None:
            # Passed on unchanged, for the next caller's relay.
            if isinstance(result, Failure):
                ended.errback(result)
            else:
                ended.callback(result)
            return result

        self._ended.addBoth(relay)
        return ended.addTimeout(_WAIT, reactor)


class _FirstData(Protocol):
    """
    Sends a probe on connecting and fires with the first data back.
    """

    def __init__(self, probe: bytes) -> None:
        self.probe = probe
        self.received: Deferred[bytes] = Deferred()

    def connectionMade(self) -> None:
        self.transport.write(self.probe)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        if not self.received.called:
            self.received.callback(data)
            self.transport.loseConnection()  # type: ignore[union-attr]


async def _answered(port: int, probe: bytes) -> bytes:
    """
    Connect to C{port} on loopback, send C{probe}, and return the first
    bytes the server answers.
    """
    protocol = _FirstData(probe)
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), protocol)
    return await protocol.received.addTimeout(_WAIT, reactor)


class _ProcessTestCase(TestCase):
    """
    Starts children in a fresh folder and makes sure they end.
    """

    def setUp(self) -> None:
        self.folder = FilePath(self.mktemp())
        self.folder.makedirs()

    def spawn(self, name: str, *argv: str) -> _Child:
        """
        Run C{python argv...} in the test's folder, with this checkout
        importable; it is sent SIGKILL at cleanup if still running.
        """
        child = _Child(name)
        env = dict(os.environ)
        env["PYTHONPATH"] = _REPO_ROOT + (
            os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
        )
        env["PYTHONUNBUFFERED"] = "1"
        transport = reactor.spawnProcess(
            child,
            sys.executable,
            [sys.executable, *argv],
            env=env,
            path=self.folder.path,
        )

        def kill() -> Deferred[Any] | None:
            if child.exitCode is not None or child._ended.called:
                return None
            try:
                transport.signalProcess("KILL")
            except ProcessExitedAlready:
                return None
            return child.ended()

        self.addCleanup(kill)
        return child


class CommandLineTests(_ProcessTestCase):
    """
    C{txnsq nsqd} as Go nsqd's stand-in for scripts and test harnesses.
    """

    async def _listenAndStop(self, signalName: str) -> None:
        child = self.spawn(
            "txnsq nsqd",
            "-m",
            "txnsq._cli",
            "nsqd",
            "-tcp-address=127.0.0.1:0",
            "-http-address=127.0.0.1:0",
        )
        match = await child.waitFor(_GO_LINE)
        port = int(match.group(1))
        self.assertNotEqual(port, 0)
        connected: Protocol = await connectProtocol(
            TCP4ClientEndpoint(reactor, "127.0.0.1", port), Protocol()
        )
        assert connected.transport is not None
        connected.transport.loseConnection()
        child.transport.signalProcess(signalName)  # type: ignore[union-attr]
        exitCode = await child.ended()
        self.assertEqual(exitCode, 0, child.output())
        self.assertIn("NSQ: bye", child.output())

    def test_sigterm(self) -> Deferred[None]:
        """
        The child prints Go's C{TCP: listening on 127.0.0.1:PORT} line with
        the real port, accepts connections there, and SIGTERM stops it
        gracefully with status 0.
        """
        return Deferred.fromCoroutine(self._listenAndStop("TERM"))

    def test_sigint(self) -> Deferred[None]:
        """
        SIGINT stops it gracefully too.
        """
        return Deferred.fromCoroutine(self._listenAndStop("INT"))

    def test_combined(self) -> Deferred[None]:
        """
        C{txnsq nsq} runs nsqlookupd, nsqd and nsqadmin in one process,
        each logging with its own prefix, and stops them on SIGTERM.
        """

        async def check() -> None:
            child = self.spawn(
                "txnsq nsq",
                "-m",
                "txnsq._cli",
                "nsq",
                "-tcp-address=127.0.0.1:0",
                "-http-address=",
                "-nsqlookupd-tcp-address=127.0.0.1:0",
                "-nsqlookupd-http-address=127.0.0.1:0",
                "-nsqadmin-http-address=127.0.0.1:0",
            )
            await child.waitFor(r"^\[nsqlookupd\] .* INFO: TCP: listening on 127")
            await child.waitFor(r"^\[nsqadmin\] .* INFO: HTTP: listening on 127")
            await child.waitFor(_GO_LINE)
            child.transport.signalProcess("TERM")  # type: ignore[union-attr]
            self.assertEqual(await child.ended(), 0, child.output())

        return Deferred.fromCoroutine(check())

    def test_badFlag(self) -> Deferred[None]:
        """
        An undefined flag exits 2 with Go's message and usage.
        """

        async def check() -> None:
            child = self.spawn("txnsq nsqd", "-m", "txnsq._cli", "nsqd", "-nope")
            self.assertEqual(await child.ended(), 2)
            self.assertIn("flag provided but not defined: -nope", child.lines)
            self.assertIn("Usage of nsqd:", child.lines)

        return Deferred.fromCoroutine(check())


class TwistdTests(_ProcessTestCase):
    """
    The twistd plugins as operators run them.
    """

    def _twistd(self, name: str, *argv: str) -> _Child:
        return self.spawn(
            name, "-c", "from twisted.scripts.twistd import run; run()", *argv
        )

    def test_daemonsShareFolder(self) -> Deferred[None]:
        """
        nsqd, nsqlookupd and a second nsqd (with C{--pidfile} and its own
        C{--data-path}) run from one folder at once: each has its own
        pidfile, holding its PID, removed when SIGTERM stops it.

        twistd stops gracefully on SIGTERM and then ends itself with that
        signal again (so its exit status says what stopped it).
        """

        async def check() -> None:
            self.folder.child("second").makedirs()
            nsqd = self._twistd(
                "nsqd", "-n", "nsqd", "--tcp-address=127.0.0.1:0", "--http-address="
            )
            lookupd = self._twistd(
                "nsqlookupd",
                "-n",
                "nsqlookupd",
                "--tcp-address=127.0.0.1:0",
                "--http-address=127.0.0.1:0",
            )
            second = self._twistd(
                "second nsqd",
                "--pidfile=second.pid",
                "-n",
                "nsqd",
                "--tcp-address=127.0.0.1:0",
                "--data-path=second",
                "--msg-timeout=1m30s",
                "--snappy=false",
            )
            children = {
                "nsqd.pid": nsqd,
                "nsqlookupd.pid": lookupd,
                "second.pid": second,
            }
            probes = {
                nsqd: b"  V2NOPE\n",
                lookupd: b"  V1PING\n",
                second: b"  V2NOPE\n",
            }
            for child, probe in probes.items():
                match = await child.waitFor(r"TCP: listening on 127\.0\.0\.1:(\d+)")
                # twistd listens before its reactor runs (and handles
                # SIGTERM); an answer shows the reactor is running.
                await _answered(int(match.group(1)), probe)
            for pidfile, child in children.items():
                pid = int(self.folder.child(pidfile).getContent())
                self.assertEqual(pid, child.transport.pid)  # type: ignore[union-attr]
            self.assertFalse(self.folder.child("twistd.pid").exists())
            for child in children.values():
                child.transport.signalProcess("TERM")  # type: ignore[union-attr]
            for pidfile, child in children.items():
                await child.ended()
                # A graceful stop exits 0, as Go's daemons do (twistd would
                # otherwise re-raise the signal).
                self.assertEqual(
                    (child.exitCode, child.signal), (0, None), child.output()
                )
                self.assertIn("Server Shut Down.", child.output())
                self.assertFalse(self.folder.child(pidfile).exists())

        return Deferred.fromCoroutine(check())
