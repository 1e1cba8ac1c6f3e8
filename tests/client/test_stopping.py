"""
Tests for L{txnsq.client._stopping}: a stop that runs once, and services
whose C{start}/C{stop} are their L{IService} methods.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase

from txnsq.client._stopping import StartStopService, StopOnce


class StopError(Exception):
    """
    What failing test stops raise.
    """


class StopOnceTests(SynchronousTestCase):
    """
    L{StopOnce}.
    """

    def test_once(self) -> None:
        """
        The stop runs on the first call only; every caller, before or
        after it ends, gets a future of its outcome.
        """
        runs: list[int] = []
        gate: Deferred[None] = Deferred()

        async def stop() -> None:
            runs.append(1)
            await gate

        once = StopOnce(stop)
        self.assertFalse(once.started)
        first, second = once(), once()
        self.assertTrue(once.started)
        self.assertEqual(runs, [1])
        self.assertNoResult(first)
        gate.callback(None)
        self.successResultOf(first)
        self.successResultOf(second)
        self.successResultOf(once())
        self.assertEqual(runs, [1])

    def test_failure(self) -> None:
        """
        A stop that fails fails every caller's future, later ones too.
        """

        async def stop() -> None:
            raise StopError()

        once = StopOnce(stop)
        self.failureResultOf(once(), StopError)
        self.failureResultOf(once(), StopError)


class Service(StartStopService):
    """
    A service recording its C{start} and C{stop}.
    """

    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self) -> None:
        """
        Record a start.
        """
        self.calls.append("start")

    def stop(self) -> Deferred[None]:
        """
        Record a stop.
        """
        self.calls.append("stop")
        return succeed(None)


class StartStopServiceTests(SynchronousTestCase):
    """
    L{StartStopService}.
    """

    def test_serviceMethods(self) -> None:
        """
        C{startService} is C{start} and C{stopService} is C{stop} (with its
        future), each also keeping C{running}.
        """
        service = Service()
        service.startService()
        self.assertTrue(service.running)
        self.successResultOf(service.stopService())
        self.assertFalse(service.running)
        self.assertEqual(service.calls, ["start", "stop"])

    def test_abstract(self) -> None:
        """
        C{start} and C{stop} are for subclasses to define.
        """
        service = StartStopService()
        self.assertRaises(NotImplementedError, service.start)
        self.assertRaises(NotImplementedError, service.stop)
