# -*- test-case-name: tests.client.test_rdy -*-
"""
The consumer's RDY and backoff decisions, without I/O.

L{RdyController} is told what happens to a consumer -- connections
subscribed and lost, messages delivered and answered, timers fired,
C{maxInFlight} changed -- with the time as a plain number, and answers with
an L{RdyDecision}: the RDY counts to send, in order, and whether to start
the backoff timer.  L{Consumer <txnsq.client.Consumer>} owns the
connections and the timers and does what it is told.  Keeping the decisions
apart from Twisted lets them be tested by plain calls, with no reactor and
no clock.

The rules are go-nsq's, described for users under B{RDY} and B{Backoff} in
L{txnsq.client.consumer}.

This module imports nothing but the standard library and attrs.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import attrs

__all__ = [
    "DEFAULT_BACKOFF",
    "NOTHING",
    "BackoffStrategy",
    "RdyController",
    "RdyDecision",
    "exponentialBackoff",
    "fullJitterBackoff",
]

K = TypeVar("K", bound=Hashable)

BackoffStrategy = Callable[[int], float]

_RESUME, _BACKOFF, _CONTINUE = range(3)

#: Seconds before the backoff timer tries again when it found no connection
#: to test the waters on (go-nsq waits one second too).
_RETRY_DELAY = 1.0


def exponentialBackoff(multiplier: float = 1.0) -> BackoffStrategy:
    """
    go-nsq's default backoff: C{multiplier} times 2 to the backoff level
    (level 1 waits 2 s with the default multiplier).
    """

    def strategy(level: int) -> float:
        return float(multiplier * 2 ** min(level, 64))

    return strategy


def fullJitterBackoff(
    multiplier: float = 1.0, random: Callable[[], float] = _random.random
) -> BackoffStrategy:
    """
    go-nsq's full-jitter backoff: a random duration up to C{multiplier}
    times 2 to the backoff level.
    """

    def strategy(level: int) -> float:
        return float(multiplier * 2 ** min(level, 64)) * random()

    return strategy


#: The consumer's default backoff strategy.
DEFAULT_BACKOFF = exponentialBackoff()


@attrs.frozen
class RdyDecision(Generic[K]):
    """
    What the consumer must do after an event.

    @ivar rdy: C{(connection, count)}: send C{RDY count} on each
        connection, in this order (lowering comes before raising).
    @ivar backoffTimer: when not L{None}, start the backoff timer to fire
        after this many seconds, and call
        L{RdyController.backoffTimerFired} then.
    @ivar backoffOver: the backoff level fell to 0 and the normal shares
        are restored (by C{rdy}).
    @ivar testing: the connection the backoff timer chose to test the
        waters with RDY 1.  L{None} with C{backoffTimer} set after the
        backoff timer fired means there was no connection to choose.
    @ivar idle: connections whose RDY a redistribution took back because
        they were idle.
    """

    rdy: tuple[tuple[K, int], ...] = ()
    backoffTimer: float | None = None
    backoffOver: bool = False
    testing: K | None = None
    idle: tuple[K, ...] = ()


#: The decision to do nothing, which most events (every FIN while not
#: backing off) share rather than each allocating its own: a consumer may
#: skip acting on it.
NOTHING: RdyDecision[Any] = RdyDecision()
_NOTHING = NOTHING


class _State:
    """
    The RDY bookkeeping of one connection.

    @ivar rdy: the last RDY sent.
    @ivar inFlight: messages delivered here and not yet answered.
    """

    __slots__ = ("inFlight", "lastMessageTime", "lastRdyTime", "maxRdyCount", "rdy")

    def __init__(self, maxRdyCount: int, now: float) -> None:
        self.maxRdyCount = maxRdyCount
        self.rdy = 0
        self.inFlight = 0
        self.lastMessageTime = now
        self.lastRdyTime = now


class RdyController(Generic[K]):
    """
    Decides the RDY of each of a consumer's connections, and its backoff.

    Connections are opaque keys, added and removed in the order the
    consumer subscribes and loses them (which decides the order of equal
    RDY changes).  The controller assumes that every RDY it decides on an
    open connection is sent.

    @ivar backoffLevel: the current backoff level (0: not backing off).
    @ivar backoffPending: whether the backoff timer is running.
    @ivar inFlight: messages delivered and not yet answered, over all
        connections.
    @ivar stopping: whether L{stop} was called (nothing is decided after).
    @ivar maxBackoffDuration: the longest backoff, in seconds.
    @ivar lowRdyIdleTimeout: a connection that received nothing for this
        long gives its RDY up at the next redistribution ...
    @ivar lowRdyTimeout: ... as does one whose RDY was last changed this
        long ago.
    """

    def __init__(
        self,
        maxInFlight: int,
        *,
        isOpen: Callable[[K], bool],
        random: _random.Random,
        backoff: BackoffStrategy | None = DEFAULT_BACKOFF,
        maxBackoffDuration: float = 120.0,
        lowRdyIdleTimeout: float = 10.0,
        lowRdyTimeout: float = 30.0,
    ) -> None:
        """
        @param maxInFlight: how many messages may be in flight at once over
            all connections.
        @param isOpen: whether RDY can still be sent on a connection (one
            that is ending is left alone until it is removed).
        @param random: picks the connections that get RDY when not all
            can, and the one that tests the waters after a backoff.
        @param backoff: the backoff duration in seconds for a backoff level;
            L{None} disables backoff.

        @raise ValueError: if C{maxInFlight} is negative.
        """
        self._maxInFlight = _checkMaxInFlight(maxInFlight)
        self._isOpen = isOpen
        self._random = random
        self._backoff = backoff
        self.maxBackoffDuration = maxBackoffDuration
        self.lowRdyIdleTimeout = lowRdyIdleTimeout
        self.lowRdyTimeout = lowRdyTimeout
        self._states: dict[K, _State] = {}
        self._totalRdy = 0
        self._needRedistribute = False
        self.backoffLevel = 0
        self.backoffPending = False
        self.inFlight = 0
        self.stopping = False

    # Queries.

    @property
    def maxInFlight(self) -> int:
        """
        How many messages may be in flight at once over all connections.
        """
        return self._maxInFlight

    def rdy(self, key: K) -> int:
        """
        The last RDY sent on connection C{key}.
        """
        return self._states[key].rdy

    def isStarved(self) -> bool:
        """
        Whether some connection has (nearly) as many messages in flight as
        its RDY allows.
        """
        return any(
            s.inFlight > 0 and s.inFlight >= s.rdy * 0.85 for s in self._states.values()
        )

    # Events.

    def connectionAdded(self, key: K, maxRdyCount: int, now: float) -> RdyDecision[K]:
        """
        A connection subscribed; nsqd allows it at most C{maxRdyCount}.
        """
        self._states[key] = _State(maxRdyCount, now)
        return self._rebalance(now)

    def connectionRemoved(self, key: K, now: float) -> RdyDecision[K]:
        """
        A connection ended: its RDY is free for the others.
        """
        state = self._states.pop(key, None)
        if state is None:
            return _NOTHING
        self._totalRdy -= state.rdy
        state.rdy = 0
        return self._rebalance(now)

    def maxInFlightChanged(self, maxInFlight: int, now: float) -> RdyDecision[K]:
        """
        The application changed C{maxInFlight} (0 pauses delivery).

        @raise ValueError: if C{maxInFlight} is negative.
        """
        self._maxInFlight = _checkMaxInFlight(maxInFlight)
        return self._rebalance(now)

    def messageReceived(self, key: K, now: float) -> None:
        """
        nsqd delivered a message on connection C{key}.
        """
        state = self._states[key]
        state.inFlight += 1
        state.lastMessageTime = now
        self.inFlight += 1

    def messageAnswered(self, key: K) -> None:
        """
        A message delivered on connection C{key} was FINed or REQed
        (C{key} may have been removed since it was delivered).
        """
        state = self._states.get(key)
        if state is not None:
            state.inFlight -= 1
        self.inFlight -= 1

    def messageFinished(self, now: float) -> RdyDecision[K]:
        """
        A message was handled: a success, towards leaving backoff.
        """
        if self.backoffLevel == 0 and not self.backoffPending:
            # Nothing to leave: every FIN while consuming normally.
            return _NOTHING
        return self._signal(_RESUME, now)

    def messageRequeued(self, now: float, backoff: bool) -> RdyDecision[K]:
        """
        A message was requeued: a failure if C{backoff}, else neither
        success nor failure (the backoff in progress goes on at its level).
        """
        return self._signal(_BACKOFF if backoff else _CONTINUE, now)

    def redistributeTimerFired(self, now: float) -> RdyDecision[K]:
        """
        go-nsq's RDY redistribution, due every C{rdyRedistributeInterval}:
        when not everyone can have RDY (more connections than
        C{maxInFlight}, or backing off with several connections), take RDY
        from connections that have been idle and give what is free to
        connections chosen at random.
        """
        if self.stopping or self.backoffPending or not self._states:
            return _NOTHING
        states = list(self._states.items())
        if len(states) > self._maxInFlight:
            self._needRedistribute = True
        if self.backoffLevel > 0 and len(states) > 1:
            self._needRedistribute = True
        if not self._needRedistribute:
            return _NOTHING
        self._needRedistribute = False
        sends: list[tuple[K, int]] = []
        idle = []
        for key, state in states:
            if state.rdy > 0 and (
                now - state.lastMessageTime > self.lowRdyIdleTimeout
                or now - state.lastRdyTime > self.lowRdyTimeout
            ):
                idle.append(key)
                self._setRdy(key, state, 0, now, sends)
        available = self._maxInFlight - self._totalRdy
        if self.backoffLevel > 0:
            available = 1 - self._totalRdy
        candidates = [(key, state) for key, state in states if state.rdy == 0]
        while candidates and available > 0:
            key, state = candidates.pop(self._random.randrange(len(candidates)))
            if self._setRdy(key, state, 1, now, sends):
                available -= 1
        if not sends and not idle:
            return _NOTHING
        return RdyDecision(rdy=tuple(sends), idle=tuple(idle))

    def backoffTimerFired(self, now: float) -> RdyDecision[K]:
        """
        The backoff timer fired: test the waters with RDY 1 on one open
        connection chosen at random (retrying after a second when there is
        none, or no room for it).
        """
        self.backoffPending = False
        if self.stopping:
            return _NOTHING
        candidates = [
            (key, state) for key, state in self._states.items() if self._isOpen(key)
        ]
        if not candidates:
            self.backoffPending = True
            return RdyDecision(backoffTimer=_RETRY_DELAY)
        key, state = candidates[self._random.randrange(len(candidates))]
        sends: list[tuple[K, int]] = []
        if not self._setRdy(key, state, 1, now, sends):
            self.backoffPending = True
            return RdyDecision(testing=key, backoffTimer=_RETRY_DELAY)
        return RdyDecision(rdy=tuple(sends), testing=key)

    def stop(self) -> None:
        """
        The consumer is stopping (and cancelled the backoff timer): decide
        nothing more.
        """
        self.stopping = True
        self.backoffPending = False

    # Decisions.

    def _perConnection(self) -> int:
        count = len(self._states)
        if count == 0:
            return 0
        maxInFlight = self._maxInFlight
        return min(max(1, maxInFlight // count), maxInFlight)

    def _setRdy(
        self, key: K, state: _State, count: int, now: float, sends: list[tuple[K, int]]
    ) -> bool:
        """
        Decide RDY C{count} for a connection, lowered so that the total never
        exceeds C{maxInFlight}, and add it to C{sends} if it changes.

        @return: whether the connection's RDY is now C{count} or some lower
            positive share (C{False} when it is not open or there was no
            room at all).
        """
        if not self._isOpen(key):
            return False
        count = min(count, state.maxRdyCount)
        # Only raising is bounded by the room left.  Lowering always goes
        # through: after maxInFlight was lowered the total exceeds it, the
        # room is negative, and refusing would leave every share (and a
        # pause with 0) unsent, as go-nsq does not.
        if count > state.rdy:
            room = self._maxInFlight - self._totalRdy + state.rdy
            if count > room:
                if room <= 0:
                    return False
                count = max(room, state.rdy)
        if count != state.rdy:
            sends.append((key, count))
            self._totalRdy += count - state.rdy
            state.rdy = count
            state.lastRdyTime = now
        return True

    def _rebalance(self, now: float) -> RdyDecision[K]:
        """
        Give every connection its even share of C{maxInFlight} (not while
        backing off: the backoff timer decides then).
        """
        if self.stopping or not self._states:
            return _NOTHING
        if self.backoffLevel > 0 or self.backoffPending:
            return _NOTHING
        share = self._perConnection()
        targets = {
            key: min(share, state.maxRdyCount) for key, state in self._states.items()
        }
        if len(self._states) > self._maxInFlight:
            # Not everyone can have RDY; the redistribution timer rotates it.
            # Only maxInFlight connections keep (or get) their RDY 1, those
            # holding RDY first, so that lowering never leaves the total
            # above maxInFlight.
            self._needRedistribute = True
            budget = self._maxInFlight
            for key, _state in sorted(
                self._states.items(), key=lambda item: item[1].rdy == 0
            ):
                if budget > 0:
                    budget -= targets[key]
                else:
                    targets[key] = 0
        sends: list[tuple[K, int]] = []
        # Lower before raising, so the sum never grows beyond maxInFlight.
        for key, state in sorted(
            self._states.items(),
            key=lambda item: item[1].rdy - targets[item[0]],
            reverse=True,
        ):
            self._setRdy(key, state, targets[key], now, sends)
        return RdyDecision(rdy=tuple(sends)) if sends else _NOTHING

    def _signal(self, signal: int, now: float) -> RdyDecision[K]:
        """
        Count one result for backoff: C{_RESUME} (success), C{_BACKOFF}
        (failure) or C{_CONTINUE} (neither).
        """
        strategy = self._backoff
        if strategy is None or self.stopping:
            return _NOTHING
        if self.backoffPending:
            # One result per backoff window.
            return _NOTHING
        level = self.backoffLevel
        updated = False
        if signal == _RESUME and level > 0:
            level -= 1
            updated = True
        elif signal == _BACKOFF and strategy(level + 1) <= self.maxBackoffDuration:
            level += 1
            updated = True
        self.backoffLevel = level
        if level == 0:
            if updated:
                return attrs.evolve(self._rebalance(now), backoffOver=True)
            return _NOTHING
        duration = min(strategy(level), self.maxBackoffDuration)
        sends: list[tuple[K, int]] = []
        for key, state in self._states.items():
            self._setRdy(key, state, 0, now, sends)
        self.backoffPending = True
        return RdyDecision(rdy=tuple(sends), backoffTimer=duration)


def _checkMaxInFlight(maxInFlight: int) -> int:
    if maxInFlight < 0:
        raise ValueError(f"maxInFlight must not be negative: {maxInFlight}")
    return maxInFlight
