"""
Tests for L{txnsq.nsqd._heartbeat}: the heartbeat ticker and the read
deadline of connections, on one shared timer, on a L{Clock}.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.nsqd.test_protocol import HEARTBEAT, OK, ProtocolTestCase
from txnsq.nsqd._clientv2 import ClientV2
from txnsq.nsqd._heartbeat import HeartbeatOwner, Heartbeats, HeartbeatScheduler
from txnsq.nsqd.config import NSQDConfig
from txnsq.wire.commands import encodeIdentify


class Owner:
    """
    A connection that records its heartbeats and time-out, and may do
    something more on each.
    """

    def __init__(self, name: str, clock: Clock, events: list[tuple[str, str, float]]):
        self.name = name
        self.clock = clock
        self.events = events
        self.onBeat: Callable[[], None] | None = None
        self.onTimeout: Callable[[], None] | None = None

    def sendHeartbeat(self) -> None:
        self.events.append((self.name, "beat", self.clock.seconds()))
        if self.onBeat is not None:
            self.onBeat()

    def readTimedOut(self) -> None:
        self.events.append((self.name, "timed out", self.clock.seconds()))
        if self.onTimeout is not None:
            self.onTimeout()


class SchedulerTestCase(SynchronousTestCase):
    """
    A scheduler on a clock, and connections made on it.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.scheduler = HeartbeatScheduler(self.clock)
        self.log: list[tuple[str, str, float]] = []

    def connection(
        self, name: str = "a", interval: float = 1.0
    ) -> tuple[Heartbeats, ClientV2, Owner]:
        client = ClientV2.connected(NSQDConfig(), "10.0.0.1", 1, 0)
        client.heartbeatInterval = interval
        owner = Owner(name, self.clock, self.log)
        return self.scheduler.connection(owner, client), client, owner

    @property
    def events(self) -> list[tuple[str, float]]:
        return [(kind, when) for _, kind, when in self.log]


class HeartbeatsTests(SchedulerTestCase):
    """
    L{Heartbeats} ticks at a fixed rate and times out a silent client
    after two heartbeat intervals.
    """

    def setUp(self) -> None:
        super().setUp()
        self.heartbeats, self.client, self.owner = self.connection()

    def test_owner(self) -> None:
        """
        The test's owner has the methods L{HeartbeatOwner} names.
        """
        owner: HeartbeatOwner = self.owner
        self.assertTrue(callable(owner.sendHeartbeat))
        self.assertTrue(callable(owner.readTimedOut))

    def test_silent(self) -> None:
        """
        A client that sends nothing gets heartbeats every interval and is
        timed out two intervals after the start (before the tick due at
        the same time); then nothing more comes, and no timer is left.
        """
        self.heartbeats.startHeartbeats(1.0)
        self.clock.pump([0.5] * 10)
        self.assertEqual(self.events, [("beat", 1.0), ("timed out", 2.0)])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(len(self.scheduler), 0)

    def test_readsMoveDeadline(self) -> None:
        """
        The deadline is two intervals after the last read; the ticker keeps
        its rhythm.
        """
        self.heartbeats.startHeartbeats(1.0)
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
        self.heartbeats.startHeartbeats(1.0)
        self.client.heartbeatInterval = 3.0
        self.clock.pump([1.0] * 6)
        self.assertEqual(
            self.events,
            [("beat", t) for t in (1.0, 2.0, 3.0, 4.0, 5.0)] + [("timed out", 6.0)],
        )

    def test_shorterInterval(self) -> None:
        """
        A later IDENTIFY that shortens the client's interval brings the
        deadline forward, between two ticks of the ticker it started with;
        one that lengthens it moves the deadline back when it comes due.
        """
        self.heartbeats.startHeartbeats(4.0)
        self.client.heartbeatInterval = 4.0
        self.clock.advance(4.0)
        self.heartbeats.lastRead = self.clock.seconds()
        self.client.heartbeatInterval = 1.0
        self.heartbeats.heartbeatIntervalChanged()
        self.clock.pump([0.5] * 8)
        self.assertEqual(self.events, [("beat", 4.0), ("timed out", 6.0)])
        self.log.clear()
        self.heartbeats.startHeartbeats(1.0)
        self.client.heartbeatInterval = 5.0
        self.heartbeats.heartbeatIntervalChanged()
        self.clock.pump([1.0] * 10)
        self.assertEqual(
            self.events,
            [("beat", float(t)) for t in range(9, 18)] + [("timed out", 18.0)],
        )

    def test_disabled(self) -> None:
        """
        An interval of 0 or less starts nothing; while the client's
        heartbeats are disabled there is no deadline, and it comes back
        with them.
        """
        self.heartbeats.startHeartbeats(0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.heartbeats.startHeartbeats(1.0)
        self.client.heartbeatInterval = -1
        self.clock.advance(1.0)
        self.clock.advance(1.0)
        self.assertEqual(self.events, [("beat", 1.0), ("beat", 2.0)])
        self.clock.advance(100)
        self.assertNotIn("timed out", [e[0] for e in self.events])
        self.client.heartbeatInterval = 1.0
        self.clock.advance(1.0)
        self.assertEqual(self.events[-1], ("timed out", 103.0))

    def test_lateTimer(self) -> None:
        """
        A timer that runs late gives one heartbeat, not one per missed
        tick, and the ticker goes on from then.
        """
        self.client.heartbeatInterval = -1
        self.heartbeats.startHeartbeats(1.0)
        self.clock.advance(3.5)
        self.clock.advance(1.0)
        self.assertEqual(self.events, [("beat", 3.5), ("beat", 4.5)])

    def test_restartAndStop(self) -> None:
        """
        Starting again replaces the ticker (and the deadline); stopping
        leaves no timer.  A restart onto a later event keeps the entry it
        waited on, rather than adding one to the heap: when that comes due
        nothing happens but the timer moving on to the new event.
        """
        self.heartbeats.startHeartbeats(1.0)
        self.heartbeats.startHeartbeats(2.0)
        self.assertEqual(len(self.scheduler._heap), 1)
        self.clock.advance(1.0)
        self.assertEqual(self.events, [])
        self.assertEqual([c.getTime() for c in self.clock.getDelayedCalls()], [2.0])
        self.heartbeats.stopHeartbeats()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10)
        self.assertEqual(self.events, [])
        self.assertEqual(len(self.scheduler), 0)


class SchedulerTests(SchedulerTestCase):
    """
    L{HeartbeatScheduler} serves many connections with one timer.
    """

    def test_oneTimer(self) -> None:
        """
        10,000 connections started at different times share one reactor
        timer, set for the earliest event; each gets its heartbeats at its
        own rhythm.
        """
        connections = []
        for i in range(10000):
            self.clock.advance(0.0001)
            heartbeats, _, _ = self.connection(f"c{i}", 30.0)
            heartbeats.startHeartbeats(30.0)
            connections.append(heartbeats)
        calls = self.clock.getDelayedCalls()
        self.assertEqual(len(calls), 1)
        self.assertAlmostEqual(calls[0].getTime(), 30.0001)
        self.assertEqual(len(self.scheduler), 10000)
        self.clock.advance(30.0)
        self.assertEqual(len(self.log), 10000)
        self.assertEqual({kind for _, kind, _ in self.log}, {"beat"})
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        # Half of them read; the others time out with their second tick.
        for heartbeats in connections[::2]:
            heartbeats.lastRead = self.clock.seconds()
        self.clock.advance(30.0)
        second = self.log[10000:]
        self.assertEqual(
            sorted(name for name, kind, _ in second if kind == "beat"),
            sorted(f"c{i}" for i in range(0, 10000, 2)),
        )
        self.assertEqual(
            sorted(name for name, kind, _ in second if kind == "timed out"),
            sorted(f"c{i}" for i in range(1, 10000, 2)),
        )
        self.assertEqual(len(self.scheduler), 5000)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(60.0)
        self.assertEqual(
            sum(1 for _, kind, _ in self.log if kind == "timed out"), 10000
        )
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(len(self.scheduler), 0)

    def test_earlierConnection(self) -> None:
        """
        A connection due before the timer moves the timer forward.
        """
        slow, _, _ = self.connection("slow", 10.0)
        slow.startHeartbeats(10.0)
        fast, _, _ = self.connection("fast", 1.0)
        fast.startHeartbeats(1.0)
        self.assertEqual([c.getTime() for c in self.clock.getDelayedCalls()], [1.0])
        self.clock.advance(1.0)
        self.assertEqual(self.log, [("fast", "beat", 1.0)])

    def test_closedDuringScan(self) -> None:
        """
        A connection's heartbeat may close another connection due in the
        same scan (or itself): a stopped one gets nothing more, the others
        are served, and the timer is left for those still open.
        """
        first, _, firstOwner = self.connection("first")
        second, _, _ = self.connection("second")
        third, _, _ = self.connection("third")
        for heartbeats in (first, second, third):
            heartbeats.startHeartbeats(1.0)

        def closeOthers() -> None:
            first.stopHeartbeats()
            second.stopHeartbeats()

        firstOwner.onBeat = closeOthers
        self.clock.advance(1.0)
        beats = [name for name, kind, _ in self.log]
        self.assertEqual(beats.count("first"), 1)
        self.assertEqual(beats.count("third"), 1)
        self.assertLessEqual(beats.count("second"), 1)
        self.assertEqual(len(self.scheduler), 1)
        self.log.clear()
        third.lastRead = 1.0
        self.clock.advance(1.0)
        self.assertEqual(self.log, [("third", "beat", 2.0)])

    def test_restartedDuringScan(self) -> None:
        """
        A connection timed out during a scan may be started again by its
        owner (nothing does that today, but nothing breaks either).
        """
        heartbeats, _, owner = self.connection()
        owner.onTimeout = lambda: heartbeats.startHeartbeats(1.0)
        heartbeats.startHeartbeats(1.0)
        self.clock.pump([1.0] * 3)
        self.assertEqual(
            self.events, [("beat", 1.0), ("timed out", 2.0), ("beat", 3.0)]
        )
        self.assertEqual(len(self.scheduler), 1)

    def test_staleEntriesDropped(self) -> None:
        """
        Connections that restart or stop leave entries nobody waits on;
        they are dropped rather than kept until they come due.
        """
        keep, _, _ = self.connection("keep", 100.0)
        keep.startHeartbeats(100.0)
        churn, _, _ = self.connection("churn", 100.0)
        for _ in range(1000):
            churn.startHeartbeats(100.0)
        self.assertLessEqual(len(self.scheduler._heap), 2 * 2 + 64)
        churn.stopHeartbeats()
        self.assertEqual(len(self.scheduler), 1)
        self.clock.advance(100.0)
        self.assertEqual(self.log, [("keep", "beat", 100.0)])


class ConnectionHeartbeatTests(ProtocolTestCase):
    """
    nsqd's connections share their factory's scheduler.
    """

    def test_secondIdentifyInterval(self) -> None:
        """
        A second IDENTIFY that shortens the heartbeat interval brings the
        read deadline forward at once (Go sets each read's deadline from
        the client's current interval), while the ticker keeps the first
        IDENTIFY's interval.
        """
        client = self.connect()
        start = self.clock.seconds()
        client.send(encodeIdentify({"heartbeat_interval": 10000}))
        client.send(encodeIdentify({"heartbeat_interval": 1000}))
        self.assertEqual(client.frames(), [OK, OK])
        self.clock.advance(1.99)
        self.assertFalse(client.closed)
        self.clock.advance(0.01)
        self.assertTrue(client.closed)
        self.assertEqual(client.frames(), [])
        self.assertEqual(self.clock.seconds() - start, 2.0)

    def test_oneTimerForAll(self) -> None:
        """
        Many subscribed connections leave one timer in the reactor (the
        scheduler's), and none once they have gone.
        """
        clients = [self.subscriber() for _ in range(50)]
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.assertEqual(len(self.factory.heartbeats), 50)
        self.clock.advance(30)
        self.assertEqual({tuple(c.frames()) for c in clients}, {(HEARTBEAT,)})
        for client in clients:
            client.lose()
        self.assertEqual(len(self.factory.heartbeats), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_timedOutTogether(self) -> None:
        """
        Connections whose deadlines expire in the same scan are all closed,
        each closing as it is reached.
        """
        clients = [self.subscriber() for _ in range(5)]
        self.clock.advance(60)
        self.assertEqual([c.closed for c in clients], [True] * 5)
        for client in clients:
            client.lose()
        self.assertEqual(self.clock.getDelayedCalls(), [])
