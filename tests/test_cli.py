"""
Tests for L{txnsq._cli} (the C{txnsq} command) and L{txnsq._go.log} (Go's
log format).
"""

from __future__ import annotations

import io
import os
import re
from typing import Any

from twisted.internet.error import CannotListenError
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from txnsq import __version__
from txnsq._cli import run
from txnsq._go.log import GoLogObserver, LogRoute, formatLine, logLevelFromName
from txnsq.nsqd.options import NSQD_FLAGS, versionString

# [nsqd] 2026/11/26 21:27:30.966582 INFO: TCP: listening on 127.0.0.1:24150
_STAMP = r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6}"


class _ListenFailingReactor(MemoryReactorClock):
    """
    A reactor whose ports are all in use.
    """

    def listenTCP(
        self, port: int, factory: Any, backlog: int = 50, interface: str = ""
    ) -> Any:
        """
        Fail as an address in use does.
        """
        raise CannotListenError(interface, port, OSError(98, "Address already in use"))


class CommandTests(SynchronousTestCase):
    """
    L{run} behaves as the Go binaries do on their command lines.
    """

    def _command(self, *argv: str, reactor: Any = None) -> tuple[int, str, str]:
        # Without --data-path nsqd locks the current folder, as Go does, and
        # these in-memory runs never stop: give each run a folder of its own.
        folder = self.mktemp()
        os.makedirs(folder)
        previous = os.getcwd()
        os.chdir(folder)
        try:
            out, err = io.StringIO(), io.StringIO()
            status = run(list(argv), out, err, reactor or MemoryReactorClock())
        finally:
            os.chdir(previous)
        return status, out.getvalue(), err.getvalue()

    def test_noCommand(self) -> None:
        """
        Without a command the usage goes to stderr with status 2; C{-h}
        prints it to stdout with status 0.
        """
        status, out, err = self._command()
        self.assertEqual((status, out), (2, ""))
        self.assertIn("Usage: txnsq <command>", err)
        status, out, err = self._command("-h")
        self.assertEqual((status, err), (0, ""))
        self.assertIn("nsqlookupd", out)

    def test_unknownCommand(self) -> None:
        """
        An unknown command is a usage error.
        """
        status, _out, err = self._command("nsqbogus")
        self.assertEqual(status, 2)
        self.assertIn("unknown command 'nsqbogus'", err)

    def test_txnsqVersion(self) -> None:
        """
        C{txnsq --version} prints txnsq's version.
        """
        self.assertEqual(
            self._command("--version"), (0, f"txnsq {__version__} (NSQ 1.3.0)\n", "")
        )

    def test_daemonVersion(self) -> None:
        """
        C{txnsq nsqd --version} prints Go's version line and exits 0 without
        starting anything.
        """
        reactor = MemoryReactorClock()
        self.assertEqual(
            self._command("nsqd", "--version", reactor=reactor),
            (0, versionString() + "\n", ""),
        )
        # Not hasRun: older Twisted's MemoryReactor starts with it True.
        self.assertEqual((reactor.tcpServers, reactor.running), ([], False))

    def test_badFlag(self) -> None:
        """
        An undefined flag prints Go's error and the usage; status 2.
        """
        status, _out, err = self._command("nsqd", "--foo")
        self.assertEqual(status, 2)
        self.assertEqual(
            err, "flag provided but not defined: -foo\n" + NSQD_FLAGS.usage()
        )

    def test_help(self) -> None:
        """
        C{-h} prints the usage to stderr, as Go does, with status 0.
        """
        self.assertEqual(self._command("nsqd", "-h"), (0, "", NSQD_FLAGS.usage()))

    def test_invalidOptions(self) -> None:
        """
        Invalid options log Go's FATAL line and exit 1.
        """
        status, _out, err = self._command("nsqd", "--node-id=5000")
        self.assertEqual(status, 1)
        self.assertRegex(
            err,
            rf"^\[nsqd\] {_STAMP} FATAL: failed to instantiate nsqd - "
            r"--node-id must be \[0,1024\)\n$",
        )

    def test_badConfigFile(self) -> None:
        """
        An unreadable config file is FATAL, status 1.
        """
        missing = self.mktemp()
        status, _out, err = self._command("nsqlookupd", f"--config={missing}")
        self.assertEqual(status, 1)
        self.assertRegex(
            err, rf"^\[nsqlookupd\] {_STAMP} FATAL: failed to load config file "
        )

    def test_runs(self) -> None:
        """
        A valid command line starts the daemon when the reactor runs, logs
        Go's lines to stderr, and stops the service before shutdown.
        """
        reactor = MemoryReactorClock()
        status, out, err = self._command(
            "nsqd", "-tcp-address=127.0.0.1:4150", "-http-address=", reactor=reactor
        )
        self.assertEqual((status, out), (0, ""))
        self.assertTrue(reactor.hasRun)
        self.assertEqual(reactor.tcpServers[0][0::3], (4150, "127.0.0.1"))
        self.assertRegex(
            err, rf"(?m)^\[nsqd\] {_STAMP} INFO: TCP: listening on 0\.0\.0\.0:4150$"
        )
        self.assertRegex(err, rf"(?m)^\[nsqd\] {_STAMP} INFO: ID: \d+$")
        [(stop, args, kwargs)] = reactor.triggers["before"]["shutdown"]
        self.successResultOf(stop(*args, **kwargs))

    def test_logFlags(self) -> None:
        """
        C{--log-prefix} and C{--log-level} shape the stderr lines.
        """
        status, _out, err = self._command(
            "nsqd",
            "-tcp-address=127.0.0.1:4150",
            "--log-prefix=<n> ",
            "--log-level=warn",
        )
        self.assertEqual((status, err), (0, ""))
        status, _out, err = self._command(
            "nsqd", "-tcp-address=127.0.0.1:4150", "--log-prefix=<n> "
        )
        self.assertRegex(err, rf"(?m)^<n> {_STAMP} INFO: TCP: listening on ")

    def test_combined(self) -> None:
        """
        C{txnsq nsq} runs the three daemons, each logging with its own
        prefix.
        """
        reactor = MemoryReactorClock()
        status, _out, err = self._command(
            "nsq",
            "-tcp-address=127.0.0.1:4150",
            "-http-address=127.0.0.1:4151",
            "-nsqlookupd-tcp-address=127.0.0.1:4160",
            "-nsqlookupd-http-address=127.0.0.1:4161",
            reactor=reactor,
        )
        self.assertEqual(status, 0)
        # Nothing really listens here (a memory reactor): nsqadmin's
        # default, Go's 4171, is safe to check.
        self.assertEqual(
            [port for port, _, _, _ in reactor.tcpServers],
            [4160, 4161, 4150, 4151, 4171],
        )
        self.assertRegex(
            err, r"(?m)^\[nsqlookupd\] .* INFO: TCP: listening on 0\.0\.0\.0:4160$"
        )
        self.assertRegex(
            err, r"(?m)^\[nsqadmin\] .* INFO: HTTP: listening on 0\.0\.0\.0:4171$"
        )
        self.assertRegex(
            err, r"(?m)^\[nsqd\] .* INFO: TCP: listening on 0\.0\.0\.0:4150$"
        )

    def test_listenFailure(self) -> None:
        """
        Failing to listen is FATAL with status 1, and the reactor stops.
        """
        reactor = _ListenFailingReactor()
        status, _out, err = self._command(
            "nsqd", "-tcp-address=127.0.0.1:4150", reactor=reactor
        )
        self.assertEqual(status, 1)
        self.assertRegex(
            err,
            rf"(?m)^\[nsqd\] {_STAMP} FATAL: failed to instantiate nsqd - "
            r"listen \(127\.0\.0\.1:4150\) failed - ",
        )
        self.assertTrue(reactor.hasStopped)
        self.assertNotIn("before", reactor.triggers)


class ToolCommandTests(SynchronousTestCase):
    """
    C{txnsq <tool>} runs Go NSQ's utilities from L{txnsq.tools}.
    """

    def _command(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        status = run(list(argv), out, err, MemoryReactorClock())
        return status, out.getvalue(), err.getvalue()

    def test_usageListsTools(self) -> None:
        """
        The usage names every tool and the short names.
        """
        _status, out, _err = self._command("--help")
        for name in ("nsq_tail", "to_nsq", "nsq_stat", "nsq_to_file", "nsq_to_http"):
            self.assertIn(f"\n  {name} ", out)
        self.assertIn("tail (nsq_tail)", out)

    def test_toolVersion(self) -> None:
        """
        A tool's C{--version} is Go's line; a short name runs the same
        tool.
        """
        self.assertEqual(
            self._command("nsq_tail", "--version"), (0, "nsq_tail v1.3.0\n", "")
        )
        self.assertEqual(
            self._command("stat", "-version"), (0, "nsq_stat v1.3.0\n", "")
        )

    def test_toolHelp(self) -> None:
        """
        C{-h} prints the tool's Go usage on stderr, status 0.
        """
        status, out, err = self._command("to_nsq", "-h")
        self.assertEqual((status, out), (0, ""))
        self.assertTrue(err.startswith("Usage of to_nsq:\n"))

    def test_toolFatal(self) -> None:
        """
        A tool's C{log.Fatal} is status 1 with Go's log line.
        """
        status, _out, err = self._command("nsq_tail")
        self.assertEqual(status, 1)
        self.assertRegex(
            err,
            r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d --nsqd-tcp-address or"
            r" --lookupd-http-address required\n$",
        )


class GoLogObserverTests(SynchronousTestCase):
    """
    L{GoLogObserver} writes Go NSQ's log lines.
    """

    def setUp(self) -> None:
        """
        An observer writing to a string, with two daemon routes.
        """
        self.stream = io.StringIO()
        self.observer = GoLogObserver(
            self.stream,
            [
                LogRoute("txnsq.nsqd", "[nsqd] ", LogLevel.info),
                LogRoute("txnsq.nsqlookupd", "[nsqlookupd] ", LogLevel.warn),
            ],
        )

    def _log(self, namespace: str) -> Logger:
        return Logger(namespace=namespace, observer=self.observer)

    def test_formatLine(self) -> None:
        """
        Lines are C{prefix date time.micro LEVEL: text} in local time.
        """
        line = formatLine("[nsqd] ", "INFO", "hello", 0.5)
        self.assertRegex(line, rf"^\[nsqd\] {_STAMP} INFO: hello\n$")
        self.assertTrue(line.rstrip().endswith(".500000 INFO: hello"))

    def test_levels(self) -> None:
        """
        Twisted's levels print as Go's names, C{critical} as C{FATAL}.
        """
        log = self._log("txnsq.nsqd.protocol")
        log.debug("d")
        log.info("i {x}", x=1)
        log.warn("w")
        log.error("e")
        log.critical("c")
        lines = self.stream.getvalue().splitlines()
        self.assertEqual(
            [re.sub(_STAMP, "T", line) for line in lines],
            [
                "[nsqd] T INFO: i 1",
                "[nsqd] T WARNING: w",
                "[nsqd] T ERROR: e",
                "[nsqd] T FATAL: c",
            ],
        )

    def test_routes(self) -> None:
        """
        Each daemon's namespace has its prefix and level; other txnsq events
        use the first route; Twisted's own chatter only shows from warn up.
        """
        self._log("txnsq.nsqlookupd.http").info("hidden")
        self._log("txnsq.nsqlookupd.http").warn("shown")
        self._log("txnsq._endpoints").info("endpoint")
        self._log("twisted.internet.base").info("Main loop terminated.")
        self._log("twisted.internet.base").error("broken")
        lines = [
            re.sub(_STAMP, "T", line) for line in self.stream.getvalue().splitlines()
        ]
        self.assertEqual(
            lines,
            [
                "[nsqlookupd] T WARNING: shown",
                "[nsqd] T INFO: endpoint",
                "[nsqd] T ERROR: broken",
            ],
        )

    def test_failure(self) -> None:
        """
        A logged failure's traceback follows its line.
        """
        self._log("txnsq.nsqd").failure("oops", Failure(ZeroDivisionError("x")))
        text = self.stream.getvalue()
        self.assertRegex(text, rf"^\[nsqd\] {_STAMP} FATAL: oops\n")
        self.assertIn("ZeroDivisionError", text)

    def test_levelNames(self) -> None:
        """
        NSQ's level names map to Twisted's levels.
        """
        self.assertEqual(logLevelFromName("fatal"), LogLevel.critical)
        self.assertEqual(logLevelFromName("WARN"), LogLevel.warn)

    def test_needsRoute(self) -> None:
        """
        At least one route is required.
        """
        self.assertRaises(ValueError, GoLogObserver, self.stream, [])
