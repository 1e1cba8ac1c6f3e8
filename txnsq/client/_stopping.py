# -*- test-case-name: tests.client.test_stopping -*-
"""
What L{Producer} and L{Consumer} share as services: a graceful stop that
runs once, every caller of C{stop()} getting a future for its outcome, and
the L{IService} methods mapped onto their C{start()} and C{stop()}.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from twisted.application.service import Service
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


class StartStopService(Service):
    """
    A service whose public C{start()} and C{stop()} are also its
    L{IService} start and stop.
    """

    def start(self) -> None:
        """
        Start (subclasses).
        """
        raise NotImplementedError

    def stop(self) -> Deferred[None]:
        """
        Stop gracefully (subclasses).
        """
        raise NotImplementedError

    def startService(self) -> None:
        """
        L{IService}: L{start}.
        """
        Service.startService(self)
        self.start()

    def stopService(self) -> Deferred[None]:
        """
        L{IService}: L{stop}.
        """
        Service.stopService(self)
        return self.stop()
