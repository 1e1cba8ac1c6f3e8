"""
Tests for L{txnsq.client._rdy}: the consumer's RDY and backoff decisions,
driven by plain calls with the time as a number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from random import Random
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from txnsq.client._rdy import (
    NOTHING,
    RdyController,
    RdyDecision,
    exponentialBackoff,
    fullJitterBackoff,
)


class Consumer:
    """
    What a consumer does with the controller's decisions: it sends RDY (here:
    records it per connection) and checks, after every single RDY, that
    the sum over connections stays within C{maxInFlight}.
    """

    def __init__(self, test: SynchronousTestCase, **kwargs: Any) -> None:
        kwargs.setdefault("random", Random(1))
        self.test = test
        self.closed: set[str] = set()
        self.controller: RdyController[str] = RdyController(
            kwargs.pop("maxInFlight", 10),
            isOpen=lambda key: key not in self.closed,
            **kwargs,
        )
        self.rdy: dict[str, int] = {}
        self.sent: list[tuple[str, int]] = []

    def apply(self, decision: RdyDecision[str]) -> RdyDecision[str]:
        """
        Send C{decision}'s RDY counts, checking the sum after each.
        """
        for key, count in decision.rdy:
            self.test.assertNotIn(key, self.closed)
            before = sum(self.rdy.values())
            self.rdy[key] = count
            self.sent.append((key, count))
            total = sum(self.rdy.values())
            # Right after maxInFlight was lowered the sum exceeds it until
            # every share is lowered; it may only shrink meanwhile.
            if total > self.controller.maxInFlight:
                self.test.assertLess(total, before, self.sent)
        return decision

    def add(
        self, key: str, now: float = 0.0, maxRdyCount: int = 2500
    ) -> RdyDecision[str]:
        """
        Subscribe connection C{key}.
        """
        self.rdy[key] = 0
        return self.apply(self.controller.connectionAdded(key, maxRdyCount, now))

    def remove(self, key: str, now: float = 0.0) -> RdyDecision[str]:
        """
        Lose connection C{key}.
        """
        del self.rdy[key]
        return self.apply(self.controller.connectionRemoved(key, now))

    def fail(self, key: str, now: float = 0.0) -> RdyDecision[str]:
        """
        A message is delivered on C{key} and requeued with backoff.
        """
        self.controller.messageReceived(key, now)
        self.controller.messageAnswered(key)
        return self.apply(self.controller.messageRequeued(now, backoff=True))

    def succeed(self, key: str, now: float = 0.0) -> RdyDecision[str]:
        """
        A message is delivered on C{key} and finished.
        """
        self.controller.messageReceived(key, now)
        self.controller.messageAnswered(key)
        return self.apply(self.controller.messageFinished(now))

    def backoffTimer(self, now: float = 0.0) -> RdyDecision[str]:
        """
        The backoff timer fires.
        """
        self.test.assertTrue(self.controller.backoffPending)
        return self.apply(self.controller.backoffTimerFired(now))

    def redistribute(self, now: float) -> RdyDecision[str]:
        """
        The redistribution timer fires.
        """
        return self.apply(self.controller.redistributeTimerFired(now))


def scripted(values: list[float], calls: list[int]) -> Callable[[int], float]:
    """
    A backoff strategy returning C{values} in turn, recording the levels it
    is asked for in C{calls}.
    """
    answers: Iterator[float] = iter(values)

    def strategy(level: int) -> float:
        calls.append(level)
        return next(answers)

    return strategy


class DistributionTests(SynchronousTestCase):
    """
    How C{maxInFlight} is spread over connections as they come and go.
    """

    def test_singleConnection(self) -> None:
        """
        One connection gets all of C{maxInFlight}, but never more than its
        nsqd's C{max_rdy_count}.
        """
        consumer = Consumer(self, maxInFlight=10)
        self.assertEqual(consumer.add("a").rdy, (("a", 10),))
        capped = Consumer(self, maxInFlight=10)
        self.assertEqual(capped.add("a", maxRdyCount=3).rdy, (("a", 3),))

    def test_lowerBeforeRaise(self) -> None:
        """
        Each new connection gets an even share (rounded down); the shares
        of the others are lowered first, so the sum never exceeds
        C{maxInFlight}; a lost connection's share goes to the others.
        """
        consumer = Consumer(self, maxInFlight=10)
        consumer.add("a")
        self.assertEqual(consumer.add("b").rdy, (("a", 5), ("b", 5)))
        self.assertEqual(consumer.add("c").rdy, (("a", 3), ("b", 3), ("c", 3)))
        self.assertEqual(consumer.remove("a").rdy, (("b", 5), ("c", 5)))
        self.assertEqual([consumer.controller.rdy(key) for key in "bc"], [5, 5])

    def test_orderOfEqualChanges(self) -> None:
        """
        Connections whose RDY changes by the same amount are sent RDY in the
        order they were added.
        """
        consumer = Consumer(self, maxInFlight=12)
        for key in "zyx":
            consumer.add(key)
        self.assertEqual(
            consumer.add("w").rdy, (("z", 3), ("y", 3), ("x", 3), ("w", 3))
        )

    def test_maxRdyCountLeavesRoomUnused(self) -> None:
        """
        A connection capped by its nsqd's C{max_rdy_count} gets less than
        its share, and the rest is not given to the others.
        """
        consumer = Consumer(self, maxInFlight=10)
        consumer.add("a", maxRdyCount=2)
        self.assertEqual(consumer.add("b").rdy, (("b", 5),))
        self.assertEqual(consumer.rdy, {"a": 2, "b": 5})

    def test_unchangedNotSent(self) -> None:
        """
        RDY is sent only when a connection's share changes.
        """
        consumer = Consumer(self, maxInFlight=10)
        consumer.add("a")
        decision = consumer.apply(consumer.controller.maxInFlightChanged(10, 1.0))
        self.assertEqual(decision.rdy, ())

    def test_maxInFlightRaised(self) -> None:
        """
        A higher C{maxInFlight} is spread at once.  A negative one is
        refused, at construction too.
        """
        consumer = Consumer(self, maxInFlight=4)
        consumer.add("a")
        consumer.add("b")
        decision = consumer.apply(consumer.controller.maxInFlightChanged(6, 2.0))
        self.assertEqual(decision.rdy, (("a", 3), ("b", 3)))
        self.assertEqual(consumer.controller.maxInFlight, 6)
        self.assertRaises(ValueError, consumer.controller.maxInFlightChanged, -1, 3.0)
        self.assertEqual(consumer.controller.maxInFlight, 6)
        self.assertRaises(ValueError, Consumer, self, maxInFlight=-1)

    def test_pause(self) -> None:
        """
        C{maxInFlight} 0 gives a single connection RDY 0, and a positive
        one resumes it.
        """
        consumer = Consumer(self, maxInFlight=4)
        consumer.add("a")
        decision = consumer.apply(consumer.controller.maxInFlightChanged(0, 1.0))
        self.assertEqual(decision.rdy, (("a", 0),))
        decision = consumer.apply(consumer.controller.maxInFlightChanged(2, 2.0))
        self.assertEqual(decision.rdy, (("a", 2),))

    def test_maxInFlightLowered(self) -> None:
        """
        A lower C{maxInFlight} lowers the shares of several connections.
        """
        consumer = Consumer(self, maxInFlight=10)
        consumer.add("a")
        consumer.add("b")
        decision = consumer.apply(consumer.controller.maxInFlightChanged(4, 1.0))
        self.assertEqual(decision.rdy, (("a", 2), ("b", 2)))

    def test_maxInFlightZeroPausesEveryConnection(self) -> None:
        """
        C{maxInFlight} 0 sends RDY 0 on every connection, and raising it
        again restores the shares.
        """
        consumer = Consumer(self, maxInFlight=10)
        for key in "abc":
            consumer.add(key)
        decision = consumer.apply(consumer.controller.maxInFlightChanged(0, 1.0))
        self.assertEqual(sorted(decision.rdy), [("a", 0), ("b", 0), ("c", 0)])
        self.assertEqual(consumer.rdy, {"a": 0, "b": 0, "c": 0})
        consumer.apply(consumer.controller.maxInFlightChanged(9, 2.0))
        self.assertEqual(consumer.rdy, {"a": 3, "b": 3, "c": 3})

    def test_maxInFlightLoweredUnevenly(self) -> None:
        """
        Lowering C{maxInFlight} lowers the larger shares before raising any,
        so the total only shrinks until it fits.
        """
        consumer = Consumer(self, maxInFlight=10)
        consumer.add("a")
        consumer.add("b")
        consumer.add("c")
        self.assertEqual(consumer.rdy, {"a": 3, "b": 3, "c": 3})
        consumer.apply(consumer.controller.maxInFlightChanged(2, 1.0))
        self.assertLessEqual(sum(consumer.rdy.values()), 2)

    def test_closingConnectionLeftAlone(self) -> None:
        """
        No RDY is decided for a connection that is no longer open; its RDY
        still counts until it is removed.
        """
        consumer = Consumer(self, maxInFlight=10)
        consumer.add("a")
        consumer.closed.add("a")
        self.assertEqual(consumer.add("b").rdy, ())
        self.assertEqual(consumer.remove("a").rdy, (("b", 10),))

    def test_moreConnectionsThanMaxInFlight(self) -> None:
        """
        With more connections than C{maxInFlight}, the first ones get RDY 1
        and the others RDY 0, until a redistribution.
        """
        consumer = Consumer(self, maxInFlight=2)
        consumer.add("a")
        self.assertEqual(consumer.add("b").rdy, (("a", 1), ("b", 1)))
        self.assertEqual(consumer.add("c").rdy, ())
        self.assertEqual(consumer.rdy, {"a": 1, "b": 1, "c": 0})


class InFlightTests(SynchronousTestCase):
    """
    Counting messages in flight.
    """

    def test_inFlightAndStarved(self) -> None:
        """
        Deliveries count until answered; a connection is starved once its
        messages in flight reach 85% of its RDY.
        """
        consumer = Consumer(self, maxInFlight=2)
        controller = consumer.controller
        consumer.add("a")
        self.assertFalse(controller.isStarved())
        controller.messageReceived("a", 1.0)
        self.assertEqual(controller.inFlight, 1)
        self.assertFalse(controller.isStarved())
        controller.messageReceived("a", 1.0)
        self.assertTrue(controller.isStarved())
        controller.messageAnswered("a")
        self.assertEqual(controller.inFlight, 1)
        self.assertFalse(controller.isStarved())

    def test_answeredAfterRemoval(self) -> None:
        """
        A message answered after its connection was removed still leaves
        the count of messages in flight.
        """
        consumer = Consumer(self)
        consumer.add("a")
        consumer.controller.messageReceived("a", 1.0)
        consumer.remove("a")
        consumer.controller.messageAnswered("a")
        self.assertEqual(consumer.controller.inFlight, 0)


class RedistributionTests(SynchronousTestCase):
    """
    Moving RDY away from idle connections when not every connection can
    have it.
    """

    def consumer(self) -> Consumer:
        """
        Three connections sharing C{maxInFlight} 2, subscribed at time 0:
        C{a} and C{b} have RDY 1.
        """
        consumer = Consumer(
            self,
            maxInFlight=2,
            lowRdyIdleTimeout=10.0,
            lowRdyTimeout=30.0,
            random=Random(3),
        )
        for key in "abc":
            consumer.add(key)
        return consumer

    def test_idleRdyMoves(self) -> None:
        """
        Connections idle for more than C{lowRdyIdleTimeout} give their RDY
        up (before anyone gets more); the free RDY goes, 1 each, to
        connections without RDY chosen at random.
        """
        consumer = self.consumer()
        self.assertEqual(consumer.redistribute(10.0), RdyDecision())
        decision = consumer.redistribute(15.0)
        self.assertEqual(decision.idle, ("a", "b"))
        self.assertEqual(decision.rdy[:2], (("a", 0), ("b", 0)))
        # The same draws as the controller's.
        random = Random(3)
        candidates = ["a", "b", "c"]
        chosen = [candidates.pop(random.randrange(len(candidates))) for _ in "12"]
        self.assertEqual(decision.rdy[2:], tuple((key, 1) for key in chosen))
        self.assertEqual(sum(consumer.rdy.values()), 2)

    def test_messagesKeepRdy(self) -> None:
        """
        A connection that received a message within C{lowRdyIdleTimeout}
        keeps its RDY.
        """
        consumer = self.consumer()
        consumer.controller.messageReceived("a", 9.0)
        decision = consumer.redistribute(15.0)
        self.assertEqual(decision.idle, ("b",))
        self.assertEqual(consumer.rdy["a"], 1)

    def test_lowRdyTimeout(self) -> None:
        """
        A connection whose RDY has not changed for C{lowRdyTimeout} gives it
        up even if it receives messages.
        """
        consumer = self.consumer()
        consumer.controller.messageReceived("a", 29.0)
        consumer.controller.messageReceived("b", 29.0)
        self.assertEqual(consumer.redistribute(30.0).idle, ())
        self.assertEqual(consumer.redistribute(31.0).idle, ("a", "b"))

    def test_onlyWhenNeeded(self) -> None:
        """
        With no more connections than C{maxInFlight} and no backoff, idle
        connections keep their share.
        """
        consumer = Consumer(self, maxInFlight=2)
        consumer.add("a")
        consumer.add("b")
        self.assertEqual(consumer.redistribute(100.0), RdyDecision())
        self.assertEqual(consumer.rdy, {"a": 1, "b": 1})

    def test_neededOnceAfterRebalance(self) -> None:
        """
        Once not everyone could have RDY, the next redistribution runs even
        if connections were lost meanwhile (once).
        """
        consumer = self.consumer()
        consumer.remove("c")
        self.assertEqual(consumer.redistribute(15.0).idle, ("a", "b"))
        self.assertEqual(consumer.redistribute(30.0), RdyDecision())

    def test_noConnections(self) -> None:
        """
        With no connection there is nothing to redistribute.
        """
        consumer = Consumer(self)
        self.assertEqual(consumer.redistribute(100.0), RdyDecision())


class BackoffTests(SynchronousTestCase):
    """
    Backing off after failures, and testing the waters after each backoff.
    """

    def test_backoffAndRecovery(self) -> None:
        """
        A failure raises the level to 1: RDY 0 everywhere and a 2 s timer.
        The timer sends RDY 1; a failure there raises the level (4 s); a
        success lowers it one level per window (RDY 0 again for the
        shorter window), and at level 0 the full shares are restored.
        """
        consumer = Consumer(self, maxInFlight=5)
        controller = consumer.controller
        consumer.add("a")
        self.assertEqual(
            consumer.fail("a"), RdyDecision(rdy=(("a", 0),), backoffTimer=2.0)
        )
        self.assertEqual(
            (controller.backoffLevel, controller.backoffPending), (1, True)
        )
        self.assertEqual(
            consumer.backoffTimer(2.0), RdyDecision(rdy=(("a", 1),), testing="a")
        )
        self.assertFalse(controller.backoffPending)
        self.assertEqual(
            consumer.fail("a", 2.5), RdyDecision(rdy=(("a", 0),), backoffTimer=4.0)
        )
        self.assertEqual(controller.backoffLevel, 2)
        consumer.backoffTimer(6.5)
        self.assertEqual(
            consumer.succeed("a", 7.0), RdyDecision(rdy=(("a", 0),), backoffTimer=2.0)
        )
        self.assertEqual(controller.backoffLevel, 1)
        consumer.backoffTimer(9.0)
        self.assertEqual(
            consumer.succeed("a", 9.5), RdyDecision(rdy=(("a", 5),), backoffOver=True)
        )
        self.assertEqual(
            (controller.backoffLevel, controller.backoffPending), (0, False)
        )

    def test_successOutsideBackoffIsNothing(self) -> None:
        """
        A success while not backing off changes nothing, and says so with
        the shared L{NOTHING} decision (which a consumer may skip); a
        success that ends a backoff is not L{NOTHING}.
        """
        consumer = Consumer(self, maxInFlight=5)
        consumer.add("a")
        self.assertIs(consumer.succeed("a"), NOTHING)
        self.assertEqual(consumer.controller.backoffLevel, 0)
        consumer.fail("a")
        consumer.backoffTimer(2.0)
        decision = consumer.succeed("a", 2.5)
        self.assertIsNot(decision, NOTHING)
        self.assertTrue(decision.backoffOver)
        self.assertIs(consumer.succeed("a", 3.0), NOTHING)

    def test_oneResultPerWindow(self) -> None:
        """
        While the backoff timer runs, results are not counted.
        """
        consumer = Consumer(self, maxInFlight=5)
        consumer.add("a")
        consumer.fail("a")
        self.assertEqual(consumer.fail("a"), RdyDecision())
        self.assertEqual(consumer.succeed("a"), RdyDecision())
        self.assertEqual(consumer.controller.backoffLevel, 1)

    def test_successWithoutBackoff(self) -> None:
        """
        Successes at level 0 decide nothing.
        """
        consumer = Consumer(self, maxInFlight=5)
        consumer.add("a")
        self.assertEqual(consumer.succeed("a"), RdyDecision())

    def test_requeueWithoutBackoff(self) -> None:
        """
        A requeue that is not a failure leaves the level alone: nothing at
        level 0, and another window at the same level while backing off.
        """
        consumer = Consumer(self, maxInFlight=5)
        controller = consumer.controller
        consumer.add("a")
        self.assertEqual(controller.messageRequeued(0.0, backoff=False), RdyDecision())
        consumer.fail("a")
        consumer.backoffTimer(2.0)
        decision = consumer.apply(controller.messageRequeued(2.5, backoff=False))
        self.assertEqual(decision, RdyDecision(rdy=(("a", 0),), backoffTimer=2.0))
        self.assertEqual(controller.backoffLevel, 1)

    def test_maxBackoffDuration(self) -> None:
        """
        The level stops rising once the next duration would exceed
        C{maxBackoffDuration}; failures at the top level start another
        window at that level.
        """
        consumer = Consumer(self, maxBackoffDuration=8.0)
        consumer.add("a")
        now = 0.0
        durations = []
        for _ in range(5):
            decision = consumer.fail("a", now)
            assert decision.backoffTimer is not None
            durations.append(decision.backoffTimer)
            now += decision.backoffTimer
            consumer.backoffTimer(now)
        self.assertEqual(durations, [2.0, 4.0, 8.0, 8.0, 8.0])
        self.assertEqual(consumer.controller.backoffLevel, 3)

    def test_strategyCalls(self) -> None:
        """
        A failure asks the strategy for the next level's duration (to decide
        whether to rise), then for the duration at the level reached, which
        is capped at C{maxBackoffDuration}: the order in which a random
        strategy is drawn from.
        """
        calls: list[int] = []
        consumer = Consumer(
            self, backoff=scripted([5.0, 30.0], calls), maxBackoffDuration=20.0
        )
        consumer.add("a")
        self.assertEqual(consumer.fail("a").backoffTimer, 20.0)
        self.assertEqual(calls, [1, 1])

    def test_disabled(self) -> None:
        """
        Without a strategy, failures change nothing.
        """
        consumer = Consumer(self, maxInFlight=5, backoff=None)
        consumer.add("a")
        self.assertEqual(consumer.fail("a"), RdyDecision())
        self.assertEqual(consumer.controller.backoffLevel, 0)
        self.assertEqual(consumer.rdy, {"a": 5})

    def test_everyConnectionPaused(self) -> None:
        """
        Backing off sets RDY 0 on every connection; the timer gives RDY 1 to
        one open connection chosen at random; at level 0 every connection
        gets its share again.
        """
        consumer = Consumer(self, maxInFlight=9, random=Random(7))
        for key in "abc":
            consumer.add(key)
        consumer.closed.add("a")
        self.assertEqual(consumer.fail("b").rdy, (("b", 0), ("c", 0)))
        decision = consumer.backoffTimer(2.0)
        expected = ["b", "c"][Random(7).randrange(2)]
        self.assertEqual(decision.rdy, ((expected, 1),))
        self.assertEqual(decision.testing, expected)
        consumer.closed.clear()
        decision = consumer.succeed(expected, 3.0)
        self.assertTrue(decision.backoffOver)
        self.assertEqual(sorted(decision.rdy), [("b", 3), ("c", 3)])
        self.assertEqual(consumer.rdy, {"a": 3, "b": 3, "c": 3})

    def test_noConnectionToTest(self) -> None:
        """
        When the timer finds no open connection, it tries again a second
        later.
        """
        consumer = Consumer(self)
        consumer.add("a")
        consumer.fail("a")
        consumer.remove("a")
        decision = consumer.backoffTimer(2.0)
        self.assertEqual(decision, RdyDecision(backoffTimer=1.0))
        self.assertTrue(consumer.controller.backoffPending)

    def test_noRoomToTest(self) -> None:
        """
        When there is no room for RDY 1 (C{maxInFlight} 0), the chosen
        connection gets nothing and the timer tries again a second later.
        """
        consumer = Consumer(self, maxInFlight=5)
        consumer.add("a")
        consumer.fail("a")
        consumer.apply(consumer.controller.maxInFlightChanged(0, 1.0))
        decision = consumer.backoffTimer(2.0)
        self.assertEqual(decision, RdyDecision(testing="a", backoffTimer=1.0))

    def test_sharesWaitForBackoff(self) -> None:
        """
        While backing off, new connections, lost ones and a new
        C{maxInFlight} do not hand out shares.
        """
        consumer = Consumer(self, maxInFlight=10)
        consumer.add("a")
        consumer.fail("a")
        self.assertEqual(consumer.add("b").rdy, ())
        consumer.backoffTimer(2.0)
        self.assertEqual(consumer.add("c").rdy, ())
        self.assertEqual(consumer.remove("c").rdy, ())
        self.assertEqual(consumer.controller.maxInFlightChanged(4, 3.0), RdyDecision())

    def test_redistributeWhileBackingOff(self) -> None:
        """
        While backing off with several connections (and no timer running),
        the test RDY 1 moves away from a connection idle for
        C{lowRdyIdleTimeout} to one chosen at random.
        """
        consumer = Consumer(self, maxInFlight=9, random=Random(5))
        controller = consumer.controller
        consumer.add("a")
        consumer.add("b")
        consumer.fail("a")
        self.assertEqual(consumer.redistribute(1.0), RdyDecision())
        tester = consumer.backoffTimer(2.0).testing
        assert tester is not None
        self.assertEqual(consumer.redistribute(5.0), RdyDecision())
        decision = consumer.redistribute(20.0)
        self.assertEqual(decision.idle, (tester,))
        self.assertEqual(decision.rdy[0], (tester, 0))
        self.assertEqual([count for _, count in decision.rdy[1:]], [1])
        self.assertEqual(sum(consumer.rdy.values()), 1)
        self.assertEqual(controller.backoffLevel, 1)


class StopTests(SynchronousTestCase):
    """
    Nothing is decided once the consumer stops.
    """

    def test_stop(self) -> None:
        """
        After L{RdyController.stop} the backoff timer is no longer pending,
        and no event decides anything, though messages in flight are still
        counted.
        """
        consumer = Consumer(self, maxInFlight=4)
        controller = consumer.controller
        consumer.add("a")
        consumer.add("b")
        consumer.fail("a")
        controller.stop()
        self.assertTrue(controller.stopping)
        self.assertFalse(controller.backoffPending)
        nothing = RdyDecision[str]()
        self.assertEqual(controller.backoffTimerFired(3.0), nothing)
        self.assertEqual(consumer.add("c"), nothing)
        self.assertEqual(consumer.remove("a"), nothing)
        self.assertEqual(controller.maxInFlightChanged(2, 3.0), nothing)
        self.assertEqual(consumer.fail("b"), nothing)
        self.assertEqual(consumer.succeed("b"), nothing)
        self.assertEqual(consumer.redistribute(100.0), nothing)
        controller.messageReceived("b", 4.0)
        self.assertEqual(controller.inFlight, 1)


class StrategyTests(SynchronousTestCase):
    """
    The backoff strategies.
    """

    def test_exponential(self) -> None:
        """
        L{exponentialBackoff} waits C{multiplier} times 2 to the level,
        without overflowing at absurd levels.
        """
        self.assertEqual([exponentialBackoff()(n) for n in (1, 2, 3)], [2.0, 4.0, 8.0])
        self.assertEqual(exponentialBackoff(0.5)(3), 4.0)
        self.assertEqual(exponentialBackoff()(10000), float(2**64))

    def test_fullJitter(self) -> None:
        """
        L{fullJitterBackoff} scales the exponential duration by a random
        fraction.
        """
        strategy = fullJitterBackoff(2.0, random=lambda: 0.25)
        self.assertEqual([strategy(n) for n in (1, 2, 3)], [1.0, 2.0, 4.0])
