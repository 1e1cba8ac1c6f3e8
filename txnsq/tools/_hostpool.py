# -*- test-case-name: tests.tools.test_nsq_to_http,tests.tools.test_nsq_to_nsq -*-
"""
Choosing a destination as Go's C{nsq_to_http} and C{nsq_to_nsq} do with
C{--mode hostpool} and C{--mode epsilon-greedy}: a port of
C{github.com/bitly/go-hostpool} v0.1.0, the version Go NSQ 1.3.0 builds
with.

B{hostpool} (L{HostPool}) is round robin that avoids failing hosts: a host
whose request failed is marked dead and skipped; it is tried again after
30 seconds, then after twice as long each time it is tried and still
dead (at most 900 seconds); a success makes it live again.  When every
host is dead, all are revived and the first is used.

B{epsilon-greedy} (L{EpsilonGreedyHostPool}) adds speed: each success
records its response time in one of 120 buckets covering the last five
minutes.  With probability epsilon (0.3 at first, times 0.9 at each such
choice, never below 0.01) the next host is chosen round robin, to
explore; otherwise at random, weighted by the inverse of each live host's
weighted average response time (recent buckets weigh more).  As in Go,
response times are counted in whole milliseconds, so hosts that answer
in under a millisecond have no average yet and are chosen round robin.
Go rotates the buckets with a ticker goroutine; here they rotate when the
pool is next used, by the number of bucket periods that passed, which
gives the same averages.

Time comes from an injected clock, randomness from an injected
C{random.Random}.  Standard library only.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Sequence

__all__ = ["EpsilonGreedyHostPool", "HostPool", "HostPoolResponse"]

_INITIAL_RETRY_DELAY = 30.0
_MAX_RETRY_INTERVAL = 900.0
_EPSILON_BUCKETS = 120
_EPSILON_DECAY = 0.90
_MIN_EPSILON = 0.01
_INITIAL_EPSILON = 0.3
_DEFAULT_DECAY_DURATION = 300.0


class _HostEntry:
    __slots__ = (
        "dead",
        "epsilonCounts",
        "epsilonValues",
        "host",
        "nextRetry",
        "retryCount",
        "retryDelay",
    )

    def __init__(self, host: str) -> None:
        self.host = host
        self.dead = False
        self.nextRetry = 0.0
        self.retryCount = 0
        self.retryDelay = _INITIAL_RETRY_DELAY
        self.epsilonCounts = [0] * _EPSILON_BUCKETS
        self.epsilonValues = [0] * _EPSILON_BUCKETS

    def canTryHost(self, now: float) -> bool:
        return not self.dead or self.nextRetry < now

    def willRetryHost(self, now: float) -> None:
        self.retryCount += 1
        self.retryDelay = min(self.retryDelay * 2, _MAX_RETRY_INTERVAL)
        self.nextRetry = now + self.retryDelay


class HostPoolResponse:
    """
    The host chosen for one request; L{mark} it with the outcome (only
    the first mark counts).

    @ivar host: the host.
    @ivar started: when it was chosen.
    """

    def __init__(self, host: str, pool: HostPool, started: float) -> None:
        self.host = host
        self.started = started
        self._pool = pool
        self._marked = False

    def mark(self, failed: bool) -> None:
        """
        Report the request's outcome.
        """
        if self._marked:
            return
        self._marked = True
        if failed:
            self._pool.markFailed(self)
        else:
            self._pool.markSuccess(self)


class HostPool:
    """
    go-hostpool's standard pool: round robin over the live hosts.
    """

    def __init__(self, hosts: Sequence[str], *, clock: Callable[[], float]) -> None:
        """
        @param hosts: the hosts, in the order they are tried.
        @param clock: the current time, in seconds.
        """
        if not hosts:
            raise ValueError("no hosts")
        self._clock = clock
        self._entries = [_HostEntry(host) for host in hosts]
        self._byHost = {entry.host: entry for entry in self._entries}
        self._nextHostIndex = 0

    @property
    def hosts(self) -> list[str]:
        """
        The hosts.
        """
        return [entry.host for entry in self._entries]

    def isDead(self, host: str) -> bool:
        """
        Whether C{host} is marked dead.
        """
        return self._byHost[host].dead

    def get(self) -> HostPoolResponse:
        """
        Choose the host for the next request.
        """
        return HostPoolResponse(self._getRoundRobin(), self, self._clock())

    def _getRoundRobin(self) -> str:
        now = self._clock()
        count = len(self._entries)
        for i in range(count):
            index = (i + self._nextHostIndex) % count
            entry = self._entries[index]
            if not entry.dead:
                self._nextHostIndex = index + 1
                return entry.host
            if entry.nextRetry < now:
                entry.willRetryHost(now)
                self._nextHostIndex = index + 1
                return entry.host
        # Every host is dead: revive them all.
        for entry in self._entries:
            entry.dead = False
        self._nextHostIndex = 0
        return self._entries[0].host

    def markSuccess(self, response: HostPoolResponse) -> None:
        """
        The request to C{response.host} succeeded: it is live.
        """
        self._byHost[response.host].dead = False

    def markFailed(self, response: HostPoolResponse) -> None:
        """
        The request to C{response.host} failed: it is dead, to be retried
        after the initial delay.
        """
        entry = self._byHost[response.host]
        if not entry.dead:
            entry.dead = True
            entry.retryCount = 0
            entry.retryDelay = _INITIAL_RETRY_DELAY
            entry.nextRetry = self._clock() + entry.retryDelay


class EpsilonGreedyHostPool(HostPool):
    """
    go-hostpool's epsilon-greedy pool, with Go's
    C{LinearEpsilonValueCalculator} (a host's score is the inverse of its
    weighted average response time).

    @ivar epsilon: the current exploration probability.
    """

    def __init__(
        self,
        hosts: Sequence[str],
        *,
        clock: Callable[[], float],
        random: _random.Random | None = None,
        decayDuration: float = _DEFAULT_DECAY_DURATION,
    ) -> None:
        """
        @param random: the randomness for exploring and weighted choices.
        @param decayDuration: how long a response time counts, in seconds.
        """
        super().__init__(hosts, clock=clock)
        self._random = random or _random.Random()
        self.epsilon = _INITIAL_EPSILON
        self._bucketDuration = decayDuration / _EPSILON_BUCKETS
        self._epsilonIndex = 0
        self._decayedUntil = clock()

    def _decay(self) -> None:
        """
        Start a fresh bucket for every bucket period that passed (Go's
        C{performEpsilonGreedyDecay} on each tick).
        """
        now = self._clock()
        periods = int((now - self._decayedUntil) // self._bucketDuration)
        if periods <= 0:
            return
        self._decayedUntil += periods * self._bucketDuration
        for _ in range(min(periods, _EPSILON_BUCKETS)):
            self._epsilonIndex = (self._epsilonIndex + 1) % _EPSILON_BUCKETS
            for entry in self._entries:
                entry.epsilonCounts[self._epsilonIndex] = 0
                entry.epsilonValues[self._epsilonIndex] = 0

    def _weightedAverageResponseTime(self, entry: _HostEntry) -> float:
        value = 0.0
        lastValue = 0.0
        # From the oldest bucket to the newest, weighing newer ones more.
        for i in range(1, _EPSILON_BUCKETS + 1):
            position = (self._epsilonIndex + i) % _EPSILON_BUCKETS
            count = entry.epsilonCounts[position]
            weight = i / _EPSILON_BUCKETS
            if count > 0:
                current = entry.epsilonValues[position] / count
                value += current * weight
                lastValue = current
            else:
                value += lastValue * weight
        return value

    def get(self) -> HostPoolResponse:
        """
        Choose the host for the next request: explore (round robin) with
        probability epsilon, else a weighted random choice by speed.
        """
        self._decay()
        return HostPoolResponse(self._getEpsilonGreedy(), self, self._clock())

    def _getEpsilonGreedy(self) -> str:
        if self._random.random() < self.epsilon:
            self.epsilon = max(self.epsilon * _EPSILON_DECAY, _MIN_EPSILON)
            return self._getRoundRobin()
        now = self._clock()
        possible: list[tuple[_HostEntry, float]] = []
        total = 0.0
        for entry in self._entries:
            if entry.canTryHost(now):
                average = self._weightedAverageResponseTime(entry)
                if average > 0:
                    score = 1.0 / average
                    total += score
                    possible.append((entry, score))
        chosen: _HostEntry | None = None
        if possible:
            ceiling = 0.0
            pick = self._random.random()
            for entry, score in possible:
                ceiling += score / total
                if pick <= ceiling:
                    chosen = entry
                    break
        if chosen is None:
            return self._getRoundRobin()
        if chosen.dead:
            chosen.willRetryHost(now)
        return chosen.host

    def markSuccess(self, response: HostPoolResponse) -> None:
        """
        Live again, and its response time (whole milliseconds, as Go)
        counts towards its score.
        """
        super().markSuccess(response)
        self._decay()
        entry = self._byHost[response.host]
        elapsedMs = int((self._clock() - response.started) * 1000)
        entry.epsilonCounts[self._epsilonIndex] += 1
        entry.epsilonValues[self._epsilonIndex] += elapsedMs


def hostPoolFor(mode: str, hosts: list[str], clock: Callable[[], float]) -> HostPool:
    """
    The pool C{--mode} names for nsq_to_http and nsq_to_nsq: epsilon-greedy,
    or go-hostpool's plain pool for every other mode.
    """
    if mode == "epsilon-greedy":
        return EpsilonGreedyHostPool(hosts, clock=clock)
    return HostPool(hosts, clock=clock)
