"""
Tests for L{txnsq.nsqd._heartbeat}: the heartbeat ticker and the read
deadline of a connection, on a L{Clock}.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqd._clientv2 import ClientV2
from txnsq.nsqd._heartbeat import Heartbeats
from txnsq.nsqd.config import NSQDConfig


class HeartbeatsTests(SynchronousTestCase):
    """
    L{Heartbeats} ticks at a fixed rate and times out a silent client
    after two heartbeat intervals.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.client = ClientV2.connected(NSQDConfig(), "10.0.0.1", 1, 0)
        self.client.heartbeatInterval = 1.0
        self.events: list[tuple[str, float]] = []
        self.heartbeats = Heartbeats(
            self.clock,
            self.client,
            lambda: self.events.append(("beat", self.clock.seconds())),
            lambda: self.events.append(("timed out", self.clock.seconds())),
        )

    def test_silent(self) -> None:
        """
        A client that sends nothing gets heartbeats every interval and is
        timed out two intervals after the start (before the tick due at
        the same time, whose timer was set later); then nothing more comes.
        """
        self.heartbeats.start(1.0)
        self.clock.pump([0.5] * 10)
        self.assertEqual(self.events, [("beat", 1.0), ("timed out", 2.0)])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_readsMoveDeadline(self) -> None:
        """
        The deadline is two intervals after the last read; the ticker keeps
        its rhythm.
        """
        self.heartbeats.start(1.0)
        self.clock.pump([0.5] * 3)
        self.heartbeats.lastRead = self.clock.seconds()
        self.clock.pump([0.5] * 5)
        self.assertEqual(
            self.events,
            [("beat", 1.0), ("beat", 2.0), ("beat", 3.0), ("timed out", 3.5)],
        )

    def test_followsCurrentInterval(self) -> None:
        """
        The ticker keeps the interval it was started with; the deadline
        follows the client's current heartbeat interval (a later IDENTIFY
        may change it, as in Go).
        """
        self.heartbeats.start(1.0)
        self.client.heartbeatInterval = 3.0
        self.clock.pump([1.0] * 6)
        self.assertEqual(
            self.events,
            [("beat", t) for t in (1.0, 2.0, 3.0, 4.0, 5.0)] + [("timed out", 6.0)],
        )

    def test_disabled(self) -> None:
        """
        An interval of 0 or less starts no timer; a deadline due when the
        client's heartbeats were disabled since is dropped.
        """
        self.heartbeats.start(0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.heartbeats.start(1.0)
        self.client.heartbeatInterval = -1
        self.clock.advance(1.0)
        self.clock.advance(1.0)
        self.assertEqual(self.events, [("beat", 1.0), ("beat", 2.0)])
        self.clock.advance(100)
        self.assertNotIn("timed out", [e[0] for e in self.events])

    def test_restartAndStop(self) -> None:
        """
        Starting again replaces both timers; stopping cancels them.
        """
        self.heartbeats.start(1.0)
        self.heartbeats.start(2.0)
        self.assertEqual(
            sorted(c.getTime() for c in self.clock.getDelayedCalls()), [2.0, 4.0]
        )
        self.heartbeats.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
