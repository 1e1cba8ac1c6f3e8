"""
Tests for L{txnsq.nsqd.service.tuneGarbageCollector}: nsqd freezes what
start-up made and collects less often, only when it is the process.
"""

from __future__ import annotations

import gc
import platform

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from tests.nsqd.test_service import _config
from txnsq.nsqd.service import GC_THRESHOLDS, NSQDService, tuneGarbageCollector


class TuneGarbageCollectorTests(SynchronousTestCase):
    """
    The collector's settings, with C{gc}'s functions replaced so that the
    test process's own collector is left alone.
    """

    def setUp(self) -> None:
        self.calls: list[tuple[str, tuple[int, ...]]] = []

        def collect(*args: int) -> int:
            self.calls.append(("collect", ()))
            return 0

        def freeze() -> None:
            self.calls.append(("freeze", ()))

        def setThreshold(*args: int) -> None:
            self.calls.append(("set_threshold", args))

        self._replace("collect", collect)
        self._replace("freeze", freeze)
        self._replace("set_threshold", setThreshold)

    def _replace(self, name: str, function: object) -> None:
        # PyPy's gc has neither freeze nor set_threshold: give it them for
        # the test's duration.
        if hasattr(gc, name):
            self.patch(gc, name, function)
        else:
            setattr(gc, name, function)
            self.addCleanup(delattr, gc, name)

    def test_cpython(self) -> None:
        """
        On CPython: collect, freeze what is left, then raise the thresholds.
        """
        self.patch(platform, "python_implementation", lambda: "CPython")
        tuneGarbageCollector()
        self.assertEqual(
            self.calls,
            [("collect", ()), ("freeze", ()), ("set_threshold", GC_THRESHOLDS)],
        )

    def test_pypy(self) -> None:
        """
        PyPy's collector is left alone.
        """
        self.patch(platform, "python_implementation", lambda: "PyPy")
        tuneGarbageCollector()
        self.assertEqual(self.calls, [])

    def test_onlyWhenAsked(self) -> None:
        """
        Starting a service tunes nothing unless its C{tuneGC} is set (as
        C{twistd nsqd} sets it), so tests and embedding programs keep their
        collector.
        """
        reactor = MemoryReactorClock()
        service = NSQDService(_config(), reactor)
        self.assertFalse(service.tuneGC)
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual(self.calls, [])
        if platform.python_implementation() == "CPython":
            service.tuneGC = True
            service.stopService()
            service.startService()
            self.assertEqual(
                [name for name, _ in self.calls][-2:], ["freeze", "set_threshold"]
            )
