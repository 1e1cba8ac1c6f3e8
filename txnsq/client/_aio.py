# -*- test-case-name: tests.client.test_aio -*-
"""
The client's txaio seam.

Everything the client hands to, or takes from, application code goes
through here: the futures its public methods return, the calls into
message handlers and hooks, and its loggers.  Under Twisted (the only
framework the client runs on today) txaio's futures are L{Deferred}s and
its loggers wrap C{twisted.logger}; the point of the seam is that an asyncio
port would change this module and the connection layer, not the public
API.  The protocol and the connection state below never import txaio.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

import txaio as _txaio
from twisted.internet.defer import Deferred

# txaio fills its namespace in at run time, which mypy cannot see.
txaio: Any = _txaio
txaio.use_twisted()

_T = TypeVar("_T")


def makeLogger(namespace: str) -> Any:
    """
    A txaio logger (levels C{debug}, C{info}, C{warn}, C{error}, and
    C{failure} for the current exception) in the log namespace
    C{namespace}.
    """
    log = txaio.make_logger()
    # txaio names a logger after the frame that asked for it, which would
    # be this function; name it after the client class instead.
    log._logger.namespace = namespace
    return log


def createFuture() -> Deferred[Any]:
    """
    A new, unfired future for application code.
    """
    return cast(Deferred[Any], txaio.create_future())


def resolve(future: Deferred[Any], result: object = None) -> None:
    """
    Fire C{future} with C{result}.
    """
    txaio.resolve(future, result)


def reject(future: Deferred[Any], error: BaseException | Any) -> None:
    """
    Fail C{future} with an exception or a failure.
    """
    txaio.reject(future, error)


def succeeded(result: _T) -> Deferred[_T]:
    """
    A future that already has C{result}.
    """
    return cast(Deferred[_T], txaio.create_future_success(result))


def failed(error: BaseException) -> Deferred[Any]:
    """
    A future that already failed with C{error}.
    """
    return cast(Deferred[Any], txaio.create_future_error(error))


def callUser(function: Callable[..., Any], *args: Any) -> Deferred[Any]:
    """
    Call application code that may return a value, a future or a coroutine,
    or raise; always get a future back.
    """
    return cast(Deferred[Any], txaio.as_future(function, *args))


def callHandler(
    function: Callable[[Any], Any],
    argument: Any,
    succeeded: Callable[[Any], object],
    failed: Callable[[Any], object],
) -> None:
    """
    Call a message handler and report how it ended: C{succeeded(result)}
    or C{failed(failure)}, synchronously when the handler finished
    synchronously (no future is made on that path, which is the common
    one), else when its future or coroutine completes.
    """
    try:
        result = function(argument)
    except Exception:
        failed(txaio.create_failure())
        return
    if isinstance(result, Coroutine):
        result = Deferred.fromCoroutine(result)
    if txaio.is_future(result):
        txaio.add_callbacks(result, succeeded, failed)
    else:
        succeeded(result)


class Waiters:
    """
    Futures waiting for the same event (a first connection, the last
    answer), all fired or failed together when it happens.
    """

    def __init__(self) -> None:
        self._waiting: list[Deferred[None]] = []

    def wait(self) -> Deferred[None]:
        """
        A new future, fired by the next L{fire} or failed by the next
        L{fail}.
        """
        waiter: Deferred[None] = createFuture()
        self._waiting.append(waiter)
        return waiter

    def fire(self) -> None:
        """
        Fire every waiting future with L{None}.
        """
        if not self._waiting:
            # The usual case: the consumer reports every time nothing is in
            # flight, which with a synchronous handler is every message.
            return
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            resolve(waiter)

    def fail(self, error: BaseException) -> None:
        """
        Fail every waiting future with C{error}.
        """
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            reject(waiter, error)


def gather(futures: list[Deferred[Any]]) -> Deferred[list[Any]]:
    """
    A future firing once all C{futures} have, with their results (failures
    are consumed).
    """
    return cast(Deferred[list[Any]], txaio.gather(futures, consume_exceptions=True))
