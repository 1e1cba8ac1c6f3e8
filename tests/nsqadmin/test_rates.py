"""
L{txnsq.nsqadmin._rates}: message rates from successive counts, with
explicit timestamps.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqadmin._rates import RateTracker


class RateTrackerTests(SynchronousTestCase):
    """
    L{RateTracker} turns samples of counters into rates per second.
    """

    def test_oneSampleHasNoRate(self) -> None:
        """
        A counter seen once has no rate yet; an unknown one neither.
        """
        tracker = RateTracker()
        tracker.record("t", 100, 1000.0)
        self.assertIsNone(tracker.rate("t"))
        self.assertIsNone(tracker.rate("unknown"))

    def test_rate(self) -> None:
        """
        The rate is the growth between the first and the last sample,
        divided by the time between them.
        """
        tracker = RateTracker()
        tracker.record("t", 100, 1000.0)
        tracker.record("t", 120, 1002.0)
        self.assertEqual(tracker.rate("t"), 10.0)
        tracker.record("t", 160, 1004.0)
        self.assertEqual(tracker.rate("t"), 15.0)

    def test_idleCounter(self) -> None:
        """
        A counter that does not move has rate 0.
        """
        tracker = RateTracker()
        tracker.record("t", 5, 10.0)
        tracker.record("t", 5, 12.0)
        self.assertEqual(tracker.rate("t"), 0.0)

    def test_window(self) -> None:
        """
        Samples older than the window drop out, all but the newest of them,
        so the rate follows recent traffic.
        """
        tracker = RateTracker(window=10.0)
        tracker.record("t", 0, 0.0)
        tracker.record("t", 1000, 5.0)
        tracker.record("t", 1000, 10.0)
        tracker.record("t", 1000, 20.0)
        # The samples at 0 and 5 are out; 10 stays as the window's start.
        self.assertEqual(tracker.rate("t"), 0.0)
        tracker.record("t", 1100, 21.0)
        self.assertEqual(tracker.rate("t"), 100 / 11)

    def test_counterReset(self) -> None:
        """
        A counter that goes down (its nsqd restarted) starts afresh.
        """
        tracker = RateTracker()
        tracker.record("t", 500, 0.0)
        tracker.record("t", 600, 1.0)
        tracker.record("t", 3, 2.0)
        self.assertIsNone(tracker.rate("t"))
        tracker.record("t", 13, 4.0)
        self.assertEqual(tracker.rate("t"), 5.0)

    def test_sameTime(self) -> None:
        """
        A second sample at the same time (or earlier) is ignored, never a
        division by zero.
        """
        tracker = RateTracker()
        tracker.record("t", 1, 5.0)
        tracker.record("t", 9, 5.0)
        tracker.record("t", 9, 4.0)
        self.assertIsNone(tracker.rate("t"))

    def test_expiry(self) -> None:
        """
        Keys that are not sampled any more are forgotten.
        """
        tracker = RateTracker(expiry=60.0)
        tracker.record("gone", 1, 100.0)
        tracker.record("kept", 1, 100.0)
        tracker.record("kept", 2, 170.0)
        self.assertEqual(len(tracker), 1)
        self.assertIsNone(tracker.rate("gone"))

    def test_recordManyAndTotal(self) -> None:
        """
        L{RateTracker.recordMany} records several keys at one time;
        L{RateTracker.total} sums the known rates, L{None} when none is
        known.
        """
        tracker = RateTracker()
        tracker.recordMany([(("t", "a"), 0), (("t", "b"), 10)], 0.0)
        tracker.recordMany([(("t", "a"), 4), (("t", "b"), 30)], 2.0)
        tracker.record(("t", "c"), 7, 2.0)
        self.assertEqual(tracker.total([("t", "a"), ("t", "b"), ("t", "c")]), 12.0)
        self.assertIsNone(tracker.total([("t", "c")]))
        self.assertIsNone(tracker.total([]))
