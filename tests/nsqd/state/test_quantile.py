"""
Tests for L{txnsq.nsqd.state.quantile}: the end-to-end processing latency
windows and their merged percentiles.
"""

from __future__ import annotations

import random

from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqd.state.quantile import LatencyWindow, mergedResult

from ._support import NOW, insertLatencies, window


class LatencyWindowTests(SynchronousTestCase):
    """
    L{LatencyWindow}: nearest-rank percentiles over two half windows.
    """

    def test_empty(self) -> None:
        """
        With no sample the count is 0 and every percentile 0, as perks
        answers for an empty stream.
        """
        self.assertEqual(window([1.0, 0.5]).result(NOW), (0, [(1.0, 0.0), (0.5, 0.0)]))

    def test_exactWhileSmall(self) -> None:
        """
        Up to the reservoir size every sample is kept: the answer is the
        exact nearest-rank percentile, in the configured order.
        """
        latency = window([1.0, 0.99, 0.5, 0.01])
        insertLatencies(latency, list(range(1, 101)), NOW)
        count, values = latency.result(NOW)
        self.assertEqual(count, 100)
        self.assertEqual(
            [(q, v / 1e6) for q, v in values],
            [(1.0, 100.0), (0.99, 99.0), (0.5, 50.0), (0.01, 1.0)],
        )

    def test_rolling(self) -> None:
        """
        Samples older than the window drop out a half window at a time:
        after half a window both halves still count, after a whole one only
        the newer half, after two windows nothing.
        """
        latency = window([1.0])
        insertLatencies(latency, [500], NOW)
        later = NOW + 301
        insertLatencies(latency, [100], later)
        self.assertEqual(latency.result(later), (2, [(1.0, 500e6)]))
        self.assertEqual(latency.result(NOW + 601), (1, [(1.0, 100e6)]))
        self.assertEqual(latency.result(NOW + 1300), (0, [(1.0, 0.0)]))

    def test_bounded(self) -> None:
        """
        Beyond the reservoir size, the count stays exact, memory stays
        bounded and the percentiles are estimated from a uniform sample.
        """
        latency = window([0.5, 0.9])
        values = list(range(1, 20_001))
        random.Random(1).shuffle(values)
        insertLatencies(latency, values, NOW)
        count, weighted = latency.samples(NOW)
        self.assertEqual((count, len(weighted)), (20_000, LatencyWindow.reservoirSize))
        (_, median), (_, p90) = latency.result(NOW)[1]
        self.assertLess(abs(median / 1e6 - 10_000), 1_000)
        self.assertLess(abs(p90 / 1e6 - 18_000), 1_000)

    def test_merged(self) -> None:
        """
        A topic's percentiles merge its channels' samples.
        """
        first, second = window([1.0, 0.5]), window([1.0, 0.5])
        insertLatencies(first, [1, 2], NOW)
        insertLatencies(second, [3, 4], NOW)
        self.assertEqual(
            mergedResult([first, second], [1.0, 0.5], NOW),
            (4, [(1.0, 4e6), (0.5, 2e6)]),
        )
