# -*- test-case-name: tests.nsqd.state.test_quantile -*-
"""
End-to-end processing latency percentiles (C{--e2e-processing-latency-
percentile}), over a rolling window (C{--e2e-processing-latency-window-
time}).

Go nsqd keeps, per channel, two streams of biased-quantile summaries
(C{bmizerany/perks}), each covering half of the window: new samples go to
the current stream; when half a window has passed the other stream is
cleared and becomes current.  A query merges both, so it covers between
half a window and a whole one.  A sample is the time from publication
(the message's timestamp) to its C{FIN}, in nanoseconds.

L{LatencyWindow} keeps the same two half-window rotation with a simpler,
documented estimator in place of perks:

  - each half keeps its exact sample count and a uniform random sample
    (reservoir sampling, Vitter's algorithm R) of at most
    L{LatencyWindow.reservoirSize} values;
  - a query weighs each kept value by C{count / kept} of its half, sorts
    them, and answers each quantile C{q} with the smallest value whose
    cumulative weight reaches C{q} of the total (nearest rank).

While a half holds no more than C{reservoirSize} samples every sample is
kept and the answer is the exact nearest-rank percentile; beyond that it is
a uniform-sample estimate, whose rank error shrinks as
C{1/sqrt(reservoirSize)}.  Memory per channel is bounded by
C{2 * reservoirSize} floats whatever the message rate.  Go's perks answers
within a rank error of 0.1% of C{(1-q)*n} instead; both give the same
shape of result, which is all nsqadmin and the JSON consumers read.

Pure Python (standard library only), so the broker may import it.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterable, Sequence

__all__ = ["LatencyResult", "LatencyWindow", "mergedResult"]

LatencyResult = tuple[int, list[tuple[float, float]]]
"""
C{(count, [(quantile, nanoseconds), ...])}: Go's C{quantile.Result}.
"""


class _Half:
    """
    One half-window: its sample count and a bounded uniform sample.
    """

    __slots__ = ("count", "kept")

    def __init__(self) -> None:
        self.count = 0
        self.kept: list[float] = []

    def add(self, value: float, size: int, rng: random.Random) -> None:
        self.count += 1
        kept = self.kept
        if len(kept) < size:
            kept.append(value)
            return
        # Algorithm R: the n-th sample replaces a kept one with
        # probability size/n, so every sample is kept equally likely.
        slot = rng.randrange(self.count)
        if slot < size:
            kept[slot] = value

    def reset(self) -> None:
        self.count = 0
        self.kept = []

    def weighted(self) -> list[tuple[float, float]]:
        if not self.kept:
            return []
        weight = self.count / len(self.kept)
        return [(value, weight) for value in self.kept]


class LatencyWindow:
    """
    One channel's latency percentiles over a rolling window.

    @ivar percentiles: the quantiles reported, in the configured order
        (Go sorts the flag's values from largest to smallest).
    @ivar halfWindow: seconds each half covers.
    """

    #: How many samples each half keeps at most.
    reservoirSize = 2048

    def __init__(
        self,
        windowTime: float,
        percentiles: Sequence[float],
        now: float,
        rng: random.Random | None = None,
    ) -> None:
        """
        @param windowTime: C{--e2e-processing-latency-window-time}, seconds.
        @param percentiles: the quantiles to report, each in (0, 1].
        @param now: the current time, seconds (the window starts now).
        @param rng: the random source for reservoir sampling.
        """
        self.percentiles = list(percentiles)
        self.halfWindow = windowTime / 2
        self._halves = (_Half(), _Half())
        self._current = 0
        self._lastMove = now
        self._rng = rng or random.Random()

    def _rotate(self, now: float) -> None:
        # Go moves the window by half a window at a time while the current
        # half is stale, clearing the half it moves into; two moves or more
        # leave both halves empty.
        half = self.halfWindow
        elapsed = now - self._lastMove
        if half <= 0:
            for part in self._halves:
                part.reset()
            self._lastMove = now
            return
        if elapsed <= half:
            return
        moves = math.ceil(elapsed / half) - 1
        self._current ^= moves & 1
        if moves >= 2:
            self._halves[0].reset()
            self._halves[1].reset()
        else:
            self._halves[self._current].reset()
        self._lastMove += moves * half

    def insert(self, timestampNs: int, now: float) -> None:
        """
        Record the latency of a message published at C{timestampNs} (Unix
        nanoseconds) and finished at C{now} (seconds).
        """
        self._rotate(now)
        self._halves[self._current].add(
            float(int(now * 1e9) - timestampNs), self.reservoirSize, self._rng
        )

    def samples(self, now: float) -> tuple[int, list[tuple[float, float]]]:
        """
        The count and the weighted kept values of both halves.
        """
        self._rotate(now)
        first, second = self._halves
        return first.count + second.count, first.weighted() + second.weighted()

    def result(self, now: float) -> LatencyResult:
        """
        Go's C{Quantile.Result()} for this channel.
        """
        return mergedResult([self], self.percentiles, now)


def _query(
    ordered: list[tuple[float, float]], cumulative: list[float], q: float
) -> float:
    if not ordered:
        # perks answers 0 for an empty stream.
        return 0.0
    total = cumulative[-1]
    index = bisect.bisect_left(cumulative, q * total - 1e-9 * total)
    return ordered[min(index, len(ordered) - 1)][0]


def mergedResult(
    windows: Iterable[LatencyWindow], percentiles: Sequence[float], now: float
) -> LatencyResult:
    """
    The percentiles over several windows together: a topic's value is the
    merge of its channels' (Go's C{AggregateChannelE2eProcessingLatency}).
    """
    count = 0
    weighted: list[tuple[float, float]] = []
    for window in windows:
        windowCount, windowSamples = window.samples(now)
        count += windowCount
        weighted += windowSamples
    weighted.sort()
    cumulative: list[float] = []
    running = 0.0
    for _, weight in weighted:
        running += weight
        cumulative.append(running)
    return count, [(q, _query(weighted, cumulative, q)) for q in percentiles]
