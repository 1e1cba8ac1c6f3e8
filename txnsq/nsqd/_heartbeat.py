# -*- test-case-name: tests.nsqd.test_heartbeat -*-
"""
Heartbeats and the read deadline of one client connection.

Go's message pump writes a heartbeat on a fixed ticker, and its read loop
gives up on a client that sent nothing for two heartbeat intervals.
L{Heartbeats} does both with two timers: the ticker, and a deadline that is
moved lazily (checked when due, against the time of the last read) rather
than on every command.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from txnsq.nsqd._clientv2 import ClientV2

__all__ = ["Heartbeats"]


class Heartbeats:
    """
    The heartbeat ticker and read deadline of one connection.

    @ivar lastRead: when the client last sent anything (the clock's
        seconds); the connection reads set it.
    """

    def __init__(
        self,
        clock: IReactorTime,
        client: ClientV2,
        beat: Callable[[], None],
        timedOut: Callable[[], None],
    ) -> None:
        """
        @param beat: called on every tick (write a heartbeat).
        @param timedOut: called once the client has been silent for two
            heartbeat intervals (close the connection).
        """
        self.lastRead = clock.seconds()
        self._clock = clock
        self._client = client
        self._beat = beat
        self._timedOut = timedOut
        self._interval = 0.0
        self._tickCall: IDelayedCall | None = None
        self._deadlineCall: IDelayedCall | None = None

    def start(self, interval: float) -> None:
        """
        (Re)start the ticker every C{interval} seconds, and the deadline
        two intervals from now; nothing when C{interval} is 0 or less.
        The deadline then follows the client's current heartbeat interval,
        which a later IDENTIFY may change (Go's ticker keeps the first).
        """
        self.stop()
        self._interval = interval
        if interval <= 0:
            return
        clock = self._clock
        self._tickCall = clock.callLater(interval, self._tick)
        self._deadlineCall = clock.callLater(2 * interval, self._checkDeadline)

    def stop(self) -> None:
        """
        Cancel both timers.
        """
        for call in (self._tickCall, self._deadlineCall):
            if call is not None and call.active():
                call.cancel()
        self._tickCall = self._deadlineCall = None

    def _tick(self) -> None:
        self._tickCall = self._clock.callLater(self._interval, self._tick)
        self._beat()

    def _checkDeadline(self) -> None:
        interval = self._client.heartbeatInterval
        if interval <= 0:
            self._deadlineCall = None
            return
        due = self.lastRead + 2 * interval
        now = self._clock.seconds()
        if now < due:
            self._deadlineCall = self._clock.callLater(due - now, self._checkDeadline)
            return
        self._deadlineCall = None
        self.stop()
        self._timedOut()
