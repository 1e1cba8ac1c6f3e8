"""
Graceful stop shared by L{Producer} and L{Consumer}: the stop runs once,
and every caller of C{stop()} gets a future for its outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from txnsq.client import _aio


class StopOnce:
    """
    Run an asynchronous stop at most once.

    @ivar started: whether the stop has begun.
    """

    def __init__(self, stop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._stop = stop
        self.started = False
        self._result: Failure | bool | None = None
        self._waiters: list[Deferred[None]] = []

    def __call__(self) -> Deferred[None]:
        """
        Start the stop if needed.

        @return: a future that fires (or fails) with its outcome.
        """
        waiter = _aio.createFuture()
        if self._result is not None:
            self._fire(waiter)
            return waiter
        self._waiters.append(waiter)
        if not self.started:
            self.started = True
            Deferred.fromCoroutine(self._stop()).addBoth(self._stopped)
        return waiter

    def _stopped(self, result: object) -> None:
        self._result = result if isinstance(result, Failure) else True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            self._fire(waiter)

    def _fire(self, waiter: Deferred[None]) -> None:
        if isinstance(self._result, Failure):
            _aio.reject(waiter, self._result)
        else:
            _aio.resolve(waiter)
