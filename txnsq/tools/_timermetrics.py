# -*- test-case-name: tests.tools.test_nsq_to_http,tests.tools.test_nsq_to_nsq -*-
"""
The status lines of Go's C{nsq_to_http} and C{nsq_to_nsq} (C{--status-every}):
a port of C{github.com/bitly/timer_metrics} v1.0.0.

Each request's duration is recorded in a ring of C{statusEvery} slots.
When the ring wraps -- at the C{statusEvery + 1}-th request, then every
C{statusEvery} requests -- one line is logged with the ring's count, 99th
and 95th percentiles and average::

    [aggregate]: finished 250 - 99th: 12.34ms - 95th: 10.01ms - avg: 3.21ms

(Go's percentile is C{sorted[ceil(p/100 * n + 0.5)]}, its average an
integer division of nanoseconds.)  A C{statusEvery} of 0 records nothing.

Standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["TimerMetrics", "percentile"]


def percentile(percent: float, ordered: list[int]) -> int:
    """
    timer_metrics' percentile of sorted durations (0 when empty).
    """
    length = len(ordered)
    if length == 0:
        return 0
    index = math.ceil(percent / 100.0 * length + 0.5)
    if index >= length:
        index = length - 1
    return ordered[index]


class TimerMetrics:
    """
    Request durations, logged every C{statusEvery} requests.
    """

    def __init__(
        self, statusEvery: int, prefix: str, log: Callable[[str], None]
    ) -> None:
        """
        @param statusEvery: requests per status line; 0 disables.
        @param prefix: the start of each line (C{"[aggregate]:"}).
        @param log: writes one Go log line.
        """
        self.statusEvery = statusEvery
        self.prefix = prefix
        self._log = log
        self._timings: list[int] = []
        self._position = 0
        if 0 < statusEvery < 100:
            log(
                "Warning: use more than 100 status values for accurate"
                f" percentiles (configured with {statusEvery})"
            )

    def status(self, started: float, now: float) -> None:
        """
        Record a request that began at C{started} and ended C{now}
        (seconds).
        """
        if self.statusEvery == 0:
            return
        self.statusDuration(round((now - started) * 1e9))

    def statusDuration(self, nanoseconds: int) -> None:
        """
        Record one duration, logging the status line when the ring wraps.
        """
        if self.statusEvery == 0:
            return
        self._position += 1
        looped = False
        if self._position > self.statusEvery:
            looped = True
            self._position = 1
        if self._position > len(self._timings):
            self._timings.append(nanoseconds)
        else:
            self._timings[self._position - 1] = nanoseconds
        if looped:
            self._log(self.line())

    def line(self) -> str:
        """
        The status line for the durations recorded now.
        """
        timings = self._timings
        ordered = sorted(timings)
        average = sum(timings) // len(timings) if timings else 0
        p99 = percentile(99.0, ordered) / 1e6
        p95 = percentile(95.0, ordered) / 1e6
        return (
            f"{self.prefix} finished {len(timings)} - 99th: {p99:.2f}ms"
            f" - 95th: {p95:.2f}ms - avg: {average / 1e6:.2f}ms"
        )


def perAddressMetrics(
    addresses: list[str], statusEvery: int, log: Callable[[str], None]
) -> dict[str, TimerMetrics]:
    """
    One L{TimerMetrics} per destination address, as Go's nsq_to_http and
    nsq_to_nsq keep them; with a single address its status line is
    disabled, since the aggregate says it all.
    """
    if len(addresses) == 1:
        return {addresses[0]: TimerMetrics(0, "", log)}
    return {
        address: TimerMetrics(statusEvery, f"[{address}]:", log)
        for address in addresses
    }
