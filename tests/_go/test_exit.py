"""
Tests for L{txnsq._go.exit}: twistd exits 0 after a graceful SIGTERM/SIGINT.
"""

from __future__ import annotations

import atexit
import functools
import signal
import sys
from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from txnsq._go.exit import (
    Fatal,
    exitOneIfStopFailed,
    exitZeroAfterGracefulStop,
    oneLineFatalUnderTwistd,
)


class ExitTests(SynchronousTestCase):
    """
    The recorded exit signal is forgotten after shutdown.
    """

    def runTriggers(self, reactor: MemoryReactorClock) -> None:
        """
        Run the "after shutdown" triggers.
        """
        for call, args, kwargs in reactor.triggers["after"]["shutdown"]:
            call(*args, **kwargs)

    def test_gracefulSignalsForgotten(self) -> None:
        """
        SIGTERM and SIGINT no longer make twistd re-raise them.
        """
        for number in (signal.SIGTERM, signal.SIGINT):
            reactor = MemoryReactorClock()
            exitZeroAfterGracefulStop(reactor)
            reactor._exitSignal = number  # type: ignore[attr-defined]
            self.runTriggers(reactor)
            self.assertIsNone(reactor._exitSignal)  # type: ignore[attr-defined]

    def test_otherSignalsKept(self) -> None:
        """
        Any other signal (SIGBREAK, SIGHUP...) still ends the process as
        twistd decides.
        """
        reactor = MemoryReactorClock()
        exitZeroAfterGracefulStop(reactor)
        reactor._exitSignal = signal.SIGHUP  # type: ignore[attr-defined]
        self.runTriggers(reactor)
        self.assertEqual(reactor._exitSignal, signal.SIGHUP)  # type: ignore[attr-defined]


class OneLineFatalTests(SynchronousTestCase):
    """
    L{oneLineFatalUnderTwistd} turns a start-up error reaching twistd's
    top level into one fatal line.
    """

    def install(self) -> list[str]:
        """
        Install the hook (restored after the test) and return the lines it
        logs.
        """
        self.patch(sys, "excepthook", self.previous)
        self.passedOn: list[BaseException] = []
        lines: list[str] = []
        oneLineFatalUnderTwistd("nsqd", lines.append, (KeyError,))
        return lines

    def previous(
        self, kind: type[BaseException], value: BaseException, tb: Any
    ) -> None:
        """
        Stands for Python's own hook.
        """
        self.passedOn.append(value)

    def test_operationalErrors(self) -> None:
        """
        An L{OSError} is Go's C{failed to instantiate nsqd - ...}; a
        L{Fatal} is its own text; a given kind is reported too.
        """
        lines = self.install()
        for error in [
            OSError("gone"),
            Fatal("failed to load metadata - x"),
            KeyError(1),
        ]:
            sys.excepthook(type(error), error, None)
        self.assertEqual(
            lines,
            [
                "failed to instantiate nsqd - gone",
                "failed to load metadata - x",
                "failed to instantiate nsqd - 1",
            ],
        )
        self.assertEqual(self.passedOn, [])

    def test_bugsKeepTheirTraceback(self) -> None:
        """
        Any other error goes to the previous hook (its traceback printed).
        """
        lines = self.install()
        error = AttributeError("bug")
        sys.excepthook(AttributeError, error, None)
        self.assertEqual((lines, self.passedOn), ([], [error]))


class ExitOneTests(SynchronousTestCase):
    """
    L{exitOneIfStopFailed} makes twistd exit 1 after a stop that lost
    something.
    """

    def test_onlyWhenTheStopFailed(self) -> None:
        """
        After shutdown, a failed stop registers the exit with status 1 (and
        forgets the signal); a stop that kept everything registers nothing.
        """
        registered: list[object] = []
        self.patch(atexit, "register", registered.append)
        for failed in (False, True):
            reactor = MemoryReactorClock()
            reactor._exitSignal = signal.SIGTERM  # type: ignore[attr-defined]
            exitOneIfStopFailed(reactor, functools.partial(bool, failed))
            for call, args, kwargs in reactor.triggers["after"]["shutdown"]:
                call(*args, **kwargs)
        self.assertEqual(len(registered), 1)
        self.assertIsNone(reactor._exitSignal)  # type: ignore[attr-defined]
