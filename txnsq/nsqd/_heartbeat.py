# -*- test-case-name: tests.nsqd.test_heartbeat -*-
"""
Heartbeats and the read deadlines of client connections.

Go's message pump writes a heartbeat on a fixed ticker, and its read loop
gives up on a client that sent nothing for two heartbeat intervals.  Both
are timers per connection in Go; here one L{HeartbeatScheduler} serves
every connection of an nsqd, with a single reactor timer: a heap holds each
connection's next event (its next tick, or its read deadline when that is
sooner), and the timer runs whatever is due.  A connection costs four
slots of its own (it is a L{Heartbeats}) and one heap entry, rather than
two C{IDelayedCall}s; the thousands of idle consumers a busy nsqd holds
are what this is for.

Reads do not touch the heap: they set L{Heartbeats.lastRead}, and a
deadline that comes due is checked against it then (and moved on if the
client has read since).
"""

from __future__ import annotations

import heapq
from typing import Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from txnsq.nsqd._clientv2 import ClientV2

__all__ = ["HeartbeatOwner", "HeartbeatScheduler", "Heartbeats", "OwnedHeartbeats"]

# A timer may fire a hair before the time it was set for (the reactor adds
# the delay to its own clock), and a tick and a deadline meant for the same
# time may differ in their last bits: what is due that close is due now.
_SLACK = 1e-6

# A connection's next event: when, and whose.  The connection keeps the
# entry it is waiting on, so an entry it has replaced is skipped.
_Entry = tuple[float, "Heartbeats"]


class HeartbeatOwner(Protocol):
    """
    What a connection does when its heartbeats call.
    """

    def sendHeartbeat(self) -> None:
        """
        Write a heartbeat (a tick of the ticker).
        """

    def readTimedOut(self) -> None:
        """
        The client sent nothing for two heartbeat intervals: close.
        """


class HeartbeatScheduler:
    """
    The heartbeats and read deadlines of many connections, on one timer.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._heap: list[_Entry] = []
        # Connections with an entry they are waiting on.
        self._live = 0
        self._call: IDelayedCall | None = None
        self._running = False

    def __len__(self) -> int:
        """
        How many connections wait for a heartbeat or a deadline.
        """
        return self._live

    def connection(self, owner: HeartbeatOwner, client: ClientV2) -> OwnedHeartbeats:
        """
        The (stopped) heartbeats of one connection, as an object of their
        own (a connection that is a L{Heartbeats} needs none).
        """
        return OwnedHeartbeats(self, owner, client)

    def _push(self, heartbeats: Heartbeats, when: float) -> None:
        if heartbeats._beatEntry is None:
            self._live += 1
        entry = (when, heartbeats)
        heartbeats._beatEntry = entry
        heap = self._heap
        heapq.heappush(heap, entry)
        if len(heap) > 2 * self._live + 64:
            # Many connections left or restarted since their entries were
            # made: drop what nobody waits on.
            heap[:] = [e for e in heap if e[1]._beatEntry is e]
            heapq.heapify(heap)
        if not self._running:
            self._arm()

    def _drop(self, heartbeats: Heartbeats) -> None:
        heartbeats._beatEntry = None
        self._live -= 1
        if not self._live:
            self._heap.clear()
            if not self._running:
                self._arm()

    def _arm(self) -> None:
        # The timer is set for the earliest entry, or cancelled.
        heap = self._heap
        if not self._live:
            # Only replaced entries are left (a connection restarted onto an
            # earlier event, then stopped): no timer for them.
            heap.clear()
        call = self._call
        if not heap:
            if call is not None:
                self._call = None
                call.cancel()
            return
        delay = max(0.0, heap[0][0] - self._clock.seconds())
        if call is None:
            self._call = self._clock.callLater(delay, self._run)
        elif heap[0][0] < call.getTime():
            call.reset(delay)

    def _run(self) -> None:
        self._call = None
        self._running = True
        heap = self._heap
        try:
            now = self._clock.seconds()
            while heap and heap[0][0] <= now + _SLACK:
                entry = heapq.heappop(heap)
                heartbeats = entry[1]
                if heartbeats._beatEntry is not entry:
                    continue
                heartbeats._beatEntry = None
                self._live -= 1
                heartbeats._due(entry[0], now)
        finally:
            self._running = False
            self._arm()


class Heartbeats:
    """
    The heartbeat ticker and read deadline of one connection.

    A base class: a connection is its own heartbeats, which cost it four
    slots rather than an object of their own (with its references to the
    scheduler, the owner and the client).  A subclass says where its
    scheduler is (L{heartbeatScheduler}) and what the client's current
    interval is (L{heartbeatInterval}), does what a heartbeat and a
    time-out call for (L{HeartbeatOwner}), and calls L{initHeartbeats}
    before anything else here.

    @ivar lastRead: when the client last sent anything (the clock's
        seconds); the connection's reads set it.
    """

    __slots__ = ("_beatEntry", "_beatInterval", "_nextBeat", "lastRead")

    def initHeartbeats(self) -> None:
        """
        Stopped heartbeats, the client having just read.
        """
        self.lastRead = self.heartbeatScheduler()._clock.seconds()
        # 0: stopped.
        self._beatInterval = 0.0
        self._nextBeat = 0.0
        # The scheduler's entry this connection waits on.
        self._beatEntry: _Entry | None = None

    def heartbeatScheduler(self) -> HeartbeatScheduler:
        """
        The scheduler these heartbeats are on.
        """
        raise NotImplementedError()

    def heartbeatInterval(self) -> float:
        """
        The client's current heartbeat interval (0 or less: none); the read
        deadline is twice this.
        """
        raise NotImplementedError()

    def sendHeartbeat(self) -> None:
        """
        Write a heartbeat (a tick of the ticker).
        """
        raise NotImplementedError()

    def readTimedOut(self) -> None:
        """
        The client sent nothing for two heartbeat intervals: close.
        """
        raise NotImplementedError()

    def __lt__(self, other: Heartbeats) -> bool:
        # Entries due at the same time are equal (the heap compares them).
        return False

    def startHeartbeats(self, interval: float) -> None:
        """
        (Re)start the ticker every C{interval} seconds, and the deadline
        two intervals from now; nothing when C{interval} is 0 or less.
        The deadline then follows the client's current heartbeat interval,
        which a later IDENTIFY may change (Go's ticker keeps the first).
        """
        if interval <= 0:
            self.stopHeartbeats()
            return
        self._beatInterval = interval
        now = self.heartbeatScheduler()._clock.seconds()
        self.lastRead = now
        self._nextBeat = now + interval
        entry = self._beatEntry
        if entry is None or entry[0] > self._nextEvent():
            self._schedule()
        # Otherwise the entry waited on comes due first (the usual first
        # IDENTIFY, restarting the ticker on the same or a longer
        # interval): it finds nothing due then and schedules the next
        # event, so no second entry is made for the heap to carry.

    def heartbeatIntervalChanged(self) -> None:
        """
        The client's heartbeat interval changed (a later IDENTIFY): the
        deadline follows it from now on, the ticker keeps its interval.
        """
        entry = self._beatEntry
        if entry is None:
            return
        interval = self.heartbeatInterval()
        if interval > 0 and self.lastRead + 2 * interval < entry[0]:
            self._schedule()

    def stopHeartbeats(self) -> None:
        """
        Stop the ticker and the deadline.
        """
        self._beatInterval = 0.0
        if self._beatEntry is not None:
            self.heartbeatScheduler()._drop(self)

    def _nextEvent(self) -> float:
        # The next tick, or the read deadline when it comes first.
        when = self._nextBeat
        interval = self.heartbeatInterval()
        if interval > 0:
            deadline = self.lastRead + 2 * interval
            if deadline < when:
                when = deadline
        return when

    def _schedule(self) -> None:
        self.heartbeatScheduler()._push(self, self._nextEvent())

    def _due(self, when: float, now: float) -> None:
        # Called by the scheduler when this connection's entry, for C{when},
        # is due (it has been taken off the heap); the events are those due
        # at C{when}, in the order separate timers would have run them even
        # when the scan runs late.  The deadline goes first: a client silent
        # for two intervals is closed without a last heartbeat.
        interval = self.heartbeatInterval()
        if interval > 0 and when + _SLACK >= self.lastRead + 2 * interval:
            self._beatInterval = 0.0
            self.readTimedOut()
            return
        if when >= self._nextBeat:
            tick = self._nextBeat + self._beatInterval
            # A late timer skips the ticks it missed, as Go's ticker drops
            # them.
            self._nextBeat = tick if tick > now else now + self._beatInterval
            self.sendHeartbeat()
        # Unless the heartbeat stopped us (the connection closed).
        if self._beatInterval > 0 and self._beatEntry is None:
            self._schedule()


class OwnedHeartbeats(Heartbeats):
    """
    Heartbeats as an object of their own, for an owner that is not a
    L{Heartbeats} (L{HeartbeatScheduler.connection}).
    """

    __slots__ = ("_client", "_owner", "_scheduler")

    def __init__(
        self, scheduler: HeartbeatScheduler, owner: HeartbeatOwner, client: ClientV2
    ) -> None:
        self._scheduler = scheduler
        self._owner = owner
        self._client = client
        self.initHeartbeats()

    def heartbeatScheduler(self) -> HeartbeatScheduler:
        """
        The scheduler that made these heartbeats.
        """
        return self._scheduler

    def heartbeatInterval(self) -> float:
        """
        The client's current heartbeat interval.
        """
        return self._client.heartbeatInterval

    def sendHeartbeat(self) -> None:
        """
        The owner writes a heartbeat.
        """
        self._owner.sendHeartbeat()

    def readTimedOut(self) -> None:
        """
        The owner closes.
        """
        self._owner.readTimedOut()
