"""
Tests for L{txnsq.client._aio}: calling application code and the futures
handed to it.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from txnsq.client import _aio


class HandlerError(Exception):
    """
    What failing test handlers raise.
    """


class CallHandlerTests(SynchronousTestCase):
    """
    L{_aio.callHandler}: however a handler ends, one callback says how.
    """

    def call(self, handler: Any) -> list[tuple[str, Any]]:
        """
        Call C{handler} with C{"m"}, recording how it ended.
        """
        outcomes: list[tuple[str, Any]] = []
        _aio.callHandler(
            handler,
            "m",
            lambda result: outcomes.append(("succeeded", result)),
            lambda reason: outcomes.append(("failed", reason)),
        )
        return outcomes

    def test_synchronous(self) -> None:
        """
        A handler that returns or raises is reported at once.
        """
        self.assertEqual(self.call(lambda m: m * 2), [("succeeded", "mm")])

        def raising(message: str) -> None:
            raise HandlerError()

        [(outcome, reason)] = self.call(raising)
        self.assertEqual(outcome, "failed")
        self.assertIsInstance(reason, Failure)
        self.assertTrue(reason.check(HandlerError))

    def test_deferred(self) -> None:
        """
        A handler's Deferred is reported when it fires.
        """
        pending: Deferred[str] = Deferred()
        outcomes = self.call(lambda m: pending)
        self.assertEqual(outcomes, [])
        pending.callback("done")
        self.assertEqual(outcomes, [("succeeded", "done")])

    def test_coroutine(self) -> None:
        """
        A coroutine is run, and reported when it completes.
        """
        gate: Deferred[None] = Deferred()

        async def handler(message: str) -> str:
            await gate
            raise HandlerError()

        outcomes = self.call(handler)
        self.assertEqual(outcomes, [])
        gate.callback(None)
        [(outcome, reason)] = outcomes
        self.assertEqual(outcome, "failed")
        self.assertTrue(reason.check(HandlerError))


class CallUserTests(SynchronousTestCase):
    """
    L{_aio.callUser}.
    """

    def test_future(self) -> None:
        """
        Whatever the function returns or raises, the result is a future.
        """
        self.assertEqual(self.successResultOf(_aio.callUser(lambda x: x + 1, 1)), 2)

        def raising() -> None:
            raise HandlerError()

        self.failureResultOf(_aio.callUser(raising), HandlerError)


class WaitersTests(SynchronousTestCase):
    """
    L{_aio.Waiters}.
    """

    def test_fire(self) -> None:
        """
        L{_aio.Waiters.fire} fires every future waiting so far, once.
        """
        waiters = _aio.Waiters()
        first, second = waiters.wait(), waiters.wait()
        self.assertNoResult(first)
        waiters.fire()
        self.assertIsNone(self.successResultOf(first))
        self.assertIsNone(self.successResultOf(second))
        later = waiters.wait()
        waiters.fire()
        self.successResultOf(later)

    def test_fail(self) -> None:
        """
        L{_aio.Waiters.fail} fails every future waiting so far.
        """
        waiters = _aio.Waiters()
        waiting = waiters.wait()
        waiters.fail(HandlerError())
        self.failureResultOf(waiting, HandlerError)
        waiters.fire()
