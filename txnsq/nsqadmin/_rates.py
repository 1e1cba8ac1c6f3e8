# -*- test-case-name: tests.nsqadmin.test_rates -*-
"""
Message rates without graphite (NSQ #322, #579): nsqadmin keeps the
successive C{message_count}s that each read of nsqd's C{/stats} brings, with
the time it was read, and a rate is the growth between the oldest and the
newest sample of a short window.

Pure: the caller passes the time, so every case is tested with explicit
timestamps.  Every operation is O(1) per sample (amortised), so that
recording the counts of thousands of channels on each page load stays
cheap.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable

__all__ = ["RateTracker"]


class RateTracker:
    """
    Samples of monotonic counters, by key, and their rates per second.

    A counter that goes down (its nsqd restarted, the topic was deleted and
    created again) starts afresh: the samples before it are dropped.

    @ivar window: how far back, in seconds, the samples that make a rate
        reach.
    @ivar expiry: keys not sampled for this many seconds are forgotten.
    """

    def __init__(self, window: float = 30.0, expiry: float = 300.0) -> None:
        self.window = window
        self.expiry = expiry
        self._samples: dict[Hashable, deque[tuple[float, int]]] = {}
        self._lastExpiry = 0.0

    def __len__(self) -> int:
        return len(self._samples)

    def record(self, key: Hashable, count: int, now: float) -> None:
        """
        Note that C{key}'s counter was C{count} at time C{now}.
        """
        samples = self._samples.get(key)
        if samples is None:
            samples = self._samples[key] = deque()
        elif samples:
            lastTime, lastCount = samples[-1]
            if count < lastCount:
                samples.clear()
            elif now <= lastTime:
                # The same read seen twice (two pages at once) or a clock
                # that stepped back: keep the first.
                return
        samples.append((now, count))
        # Keep one sample older than the window, so that the rate always
        # spans at least the window once it has run that long.
        while len(samples) > 2 and samples[1][0] <= now - self.window:
            samples.popleft()
        self._expire(now)

    def recordMany(self, counts: Iterable[tuple[Hashable, int]], now: float) -> None:
        """
        L{record} each C{(key, count)} at time C{now}.
        """
        for key, count in counts:
            self.record(key, count, now)

    def rate(self, key: Hashable) -> float | None:
        """
        C{key}'s growth per second over its samples, or L{None} before it
        has two.
        """
        samples = self._samples.get(key)
        if not samples or len(samples) < 2:
            return None
        (firstTime, firstCount), (lastTime, lastCount) = samples[0], samples[-1]
        return (lastCount - firstCount) / (lastTime - firstTime)

    def total(self, keys: Iterable[Hashable]) -> float | None:
        """
        The sum of the rates of C{keys} that have one; L{None} if none has.
        """
        result: float | None = None
        for key in keys:
            rate = self.rate(key)
            if rate is not None:
                result = rate if result is None else result + rate
        return result

    def _expire(self, now: float) -> None:
        # At most once per expiry period: a full scan then costs O(1) per
        # recorded sample, amortised.
        if now - self._lastExpiry < self.expiry:
            return
        self._lastExpiry = now
        stale = [
            key
            for key, samples in self._samples.items()
            if not samples or samples[-1][0] <= now - self.expiry
        ]
        for key in stale:
            del self._samples[key]
