"""
Tests for L{txnsq._go.exit}: twistd exits 0 after a graceful SIGTERM/SIGINT.
"""

from __future__ import annotations

import signal

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from txnsq._go.exit import exitZeroAfterGracefulStop


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
