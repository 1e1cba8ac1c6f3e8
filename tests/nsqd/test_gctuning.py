"""
Tests for L{txnsq.nsqd.service.tuneGarbageCollector}: nsqd freezes what
start-up made and collects less often, only when it is the process.
"""

from __future__ import annotations

import gc
import io
import os
import platform

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from tests.nsqd.test_service import _config
from txnsq import _cli
from txnsq.nsqd import service as serviceModule
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


class CommandLineTests(SynchronousTestCase):
    """
    C{txnsq nsqd} and C{txnsq nsq} tune the collector as C{twistd nsqd}
    does, when they are the process.
    """

    def setUp(self) -> None:
        self.tuned: list[bool] = []
        self.patch(
            serviceModule, "tuneGarbageCollector", lambda: self.tuned.append(True)
        )

    def serve(self, command: str, ownProcess: bool) -> None:
        """
        Run C{txnsq <command>} on a memory reactor, as the process or not.
        """
        daemon = _cli._DAEMONS[command]
        table = daemon.table()
        parsed = table.parse(
            [
                "--tcp-address=127.0.0.1:4150",
                "--http-address=",
                f"--data-path={self.mktemp()}",
            ]
        )
        config = daemon.configure(table.resolveWithConfigFile(parsed.values))
        os.makedirs(config.data_path if command == "nsqd" else config.nsqd.data_path)
        reactor = MemoryReactorClock()
        err = io.StringIO()
        self.assertEqual(
            _cli._serve(daemon, config, reactor, err, ownProcess=ownProcess),
            0,
            err.getvalue(),
        )
        [(stop, args, kwargs)] = reactor.triggers["before"]["shutdown"]
        self.successResultOf(stop(*args, **kwargs))

    def test_nsqd(self) -> None:
        """
        C{txnsq nsqd} tunes the collector once started.
        """
        self.serve("nsqd", ownProcess=True)
        self.assertEqual(self.tuned, [True])

    def test_combined(self) -> None:
        """
        C{txnsq nsq} tunes it too (through its nsqd).
        """
        self.serve("nsq", ownProcess=True)
        self.assertEqual(self.tuned, [True])

    def test_inProcess(self) -> None:
        """
        Run in another program (given a reactor), neither tunes anything.
        """
        self.serve("nsqd", ownProcess=False)
        self.serve("nsq", ownProcess=False)
        self.assertEqual(self.tuned, [])
