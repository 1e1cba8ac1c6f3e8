"""
Tests for L{txnsq.nsqd.state.channel}: a channel's queues, in-flight
window, distribution, timeouts, requeues, deferred messages, pausing,
emptying and consumer limits, driven through a L{Broker} with time passed
in as numbers.
"""

from __future__ import annotations

from typing import Any

from txnsq.nsqd.state import (
    FINISHED,
    REQUEUED,
    TIMED_OUT,
    ChannelError,
)
from txnsq.nsqd.state import channel as channelModule

from ._support import FakeConsumer, StateTestCase


class ChannelBackendTests(StateTestCase):
    """
    A channel's memory queue overflows to its backend.
    """

    def test_overflow(self) -> None:
        """
        With C{mem_queue_size} 2, five messages are two in memory and three
        in the channel's backend; all are delivered, with their original
        ids and timestamps.
        """
        broker = self.broker(mem_queue_size=2)
        channel = broker.getChannel("t", "c", 0)
        broker.publish("t", [b"%d" % i for i in range(5)], 2.0)
        self.assertEqual((channel.depth(), channel.backendDepth()), (5, 3))
        self.assertEqual(self.backends["t:c"].depth(), 3)
        consumer = FakeConsumer()
        channel.addConsumer(consumer)
        self.ready(channel, consumer, 10)
        self.assertEqual(sorted(consumer.bodies()), [b"%d" % i for i in range(5)])
        self.assertEqual({m.timestamp for m in consumer.received}, {2000000000})
        self.assertEqual(channel.depth(), 0)

    def test_overflowOneAtATime(self) -> None:
        """
        One message per publish (the single-message path) overflows the
        same way, and the topic and channel count every message and byte.
        """
        broker = self.broker(mem_queue_size=2)
        channel = broker.getChannel("t", "c", 0)
        for i in range(5):
            broker.publish("t", [b"%d" % i], 2.0)
        self.assertEqual((channel.depth(), channel.backendDepth()), (5, 3))
        topic = broker.getTopic("t")
        self.assertEqual((topic.messageCount, topic.messageBytes), (5, 5))
        self.assertEqual(channel.messageCount, 5)
        consumer = FakeConsumer()
        channel.addConsumer(consumer)
        self.ready(channel, consumer, 10)
        self.assertEqual(sorted(consumer.bodies()), [b"%d" % i for i in range(5)])
        self.assertEqual(len({m.id for m in consumer.received}), 5)

    def test_memQueueZero(self) -> None:
        """
        With C{mem_queue_size} 0 every channel message goes through the
        backend, in order.
        """
        broker = self.broker(mem_queue_size=0)
        channel = broker.getChannel("t", "c", 0)
        broker.publish("t", [b"a", b"b", b"c"], 0)
        self.assertEqual(channel.backendDepth(), 3)
        consumer = FakeConsumer()
        channel.addConsumer(consumer)
        self.ready(channel, consumer, 10)
        self.assertEqual(consumer.bodies(), [b"a", b"b", b"c"])
        self.assertEqual(consumer.attempts, [1, 1, 1])

    def test_requeueOverflows(self) -> None:
        """
        A requeued message goes to the backend when memory is full.
        """
        broker = self.broker(mem_queue_size=0)
        channel, consumer = self.subscribe(broker, ready=1)
        broker.publish("t", [b"a"], 0)
        channel.requeue(consumer, consumer.received[0].id, 0, 0)
        self.assertEqual(channel.backendDepth(), 1)
        channel.pump(0)
        self.assertEqual(consumer.attempts, [1, 2])

    def test_ephemeralDiscards(self) -> None:
        """
        Ephemeral channels and topics never use a durable backend: what
        overflows memory is dropped.
        """
        broker = self.broker(mem_queue_size=1)
        channel = broker.getChannel("t", "c#ephemeral", 0)
        broker.publish("t", [b"1", b"2"], 0)
        self.assertEqual(channel.depth(), 1)
        self.assertNotIn("t:c#ephemeral", self.backends)
        broker.publish("e#ephemeral", [b"1", b"2"], 0)
        self.assertEqual(broker.topics["e#ephemeral"].depth(), 1)
        self.assertNotIn("e#ephemeral", self.backends)


class InFlightWindowTests(StateTestCase):
    """
    RDY is a window: a consumer holds at most RDY messages in flight.
    """

    def test_window(self) -> None:
        """
        RDY 2 with three messages delivers two; finishing one lets the third
        through (golden C{rdy_window}).
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker)
        broker.publish("t", [b"m1", b"m2", b"m3"], 0)
        self.ready(channel, consumer, 2)
        self.assertEqual(consumer.bodies(), [b"m1", b"m2"])
        channel.finish(consumer, consumer.received[0].id)
        channel.pump(0)
        self.assertEqual(consumer.bodies(), [b"m1", b"m2", b"m3"])
        self.assertEqual(consumer.done, [(consumer.received[0].id, FINISHED)])

    def test_rdyZero(self) -> None:
        """
        With RDY 0 nothing is delivered and messages wait.
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker)
        broker.publish("t", [b"x"], 0)
        self.assertEqual(consumer.received, [])
        self.assertEqual(channel.depth(), 1)

    def test_publishDelivers(self) -> None:
        """
        A ready consumer receives a message as it is published.
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker, ready=1)
        broker.publish("t", [b"x"], 0)
        self.assertEqual(consumer.bodies(), [b"x"])
        self.assertEqual(list(channel.inFlight), [consumer.received[0].id])

    def test_lowerRdyKeepsInFlight(self) -> None:
        """
        Lowering RDY below the in-flight count keeps those in flight and
        delivers nothing more.
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker, ready=3)
        broker.publish("t", [b"1", b"2", b"3", b"4"], 0)
        self.ready(channel, consumer, 1)
        self.assertEqual(len(channel.inFlight), 3)
        channel.finish(consumer, consumer.received[0].id)
        channel.pump(0)
        self.assertEqual(len(consumer.received), 3)


class DistributionTests(StateTestCase):
    """
    Messages of a channel are shared among its ready consumers.
    """

    def test_batchShared(self) -> None:
        """
        An MPUB of ten to a channel with two ready consumers gives five to
        each.
        """
        broker = self.broker()
        channel, first = self.subscribe(broker, ready=100)
        second = FakeConsumer(ready=100)
        channel.addConsumer(second)
        broker.publish("t", [b"%d" % i for i in range(10)], 0)
        self.assertEqual((len(first.received), len(second.received)), (5, 5))

    def test_singlePublishesShared(self) -> None:
        """
        Ten single publishes alternate between two ready consumers.
        """
        broker = self.broker()
        channel, first = self.subscribe(broker, ready=100)
        second = FakeConsumer(ready=100)
        channel.addConsumer(second)
        for i in range(10):
            broker.publish("t", [b"%d" % i], 0)
        self.assertEqual((len(first.received), len(second.received)), (5, 5))

    def test_queuedShared(self) -> None:
        """
        Messages waiting in a channel are shared when consumers become
        ready, within their windows.
        """
        broker = self.broker()
        channel, first = self.subscribe(broker)
        second = FakeConsumer()
        channel.addConsumer(second)
        broker.publish("t", [b"%d" % i for i in range(9)], 0)
        first.ready = second.ready = 4
        channel.pump(0)
        self.assertEqual((len(first.received), len(second.received)), (4, 4))
        self.assertEqual(channel.depth(), 1)

    def test_onlyReadyConsumers(self) -> None:
        """
        A consumer with RDY 0 gets nothing while another one is ready.
        """
        broker = self.broker()
        channel, idle = self.subscribe(broker)
        busy = FakeConsumer(ready=10)
        channel.addConsumer(busy)
        broker.publish("t", [b"1", b"2", b"3"], 0)
        self.assertEqual((len(idle.received), len(busy.received)), (0, 3))


class InFlightErrorTests(StateTestCase):
    """
    FIN, REQ and TOUCH of a message not in flight for this consumer raise
    L{ChannelError} with Go's text.
    """

    def setUp(self) -> None:
        super().setUp()
        broker = self.broker()
        self.channel, self.owner = self.subscribe(broker, ready=1)
        self.other = FakeConsumer(ready=1)
        self.channel.addConsumer(self.other)
        broker.publish("t", [b"x"], 0)
        [self.message] = self.owner.received + self.other.received
        if self.message in self.other.received:
            self.owner, self.other = self.other, self.owner

    def assertChannelError(self, text: str, f: Any, *args: Any) -> None:
        """
        C{f(*args)} raises L{ChannelError} with C{text}.
        """
        error = self.assertRaises(ChannelError, f, *args)
        self.assertEqual(str(error), text)

    def test_unknown(self) -> None:
        """
        An id that is not in flight: C{ID not in flight}.
        """
        unknown = b"0" * 16
        self.assertChannelError(
            "ID not in flight", self.channel.finish, self.owner, unknown
        )
        self.assertChannelError(
            "ID not in flight", self.channel.requeue, self.owner, unknown, 0, 0
        )
        self.assertChannelError(
            "ID not in flight", self.channel.touch, self.owner, unknown, 0
        )

    def test_notOwner(self) -> None:
        """
        An id in flight for another consumer: C{client does not own
        message}, and the message stays in flight for its owner.
        """
        mid = self.message.id
        text = "client does not own message"
        self.assertChannelError(text, self.channel.finish, self.other, mid)
        self.assertChannelError(text, self.channel.requeue, self.other, mid, 0, 0)
        self.assertChannelError(text, self.channel.touch, self.other, mid, 0)
        self.assertIn(mid, self.channel.inFlight)
        self.channel.finish(self.owner, mid)

    def test_finishTwice(self) -> None:
        """
        A second FIN of the same id: C{ID not in flight}.
        """
        self.channel.finish(self.owner, self.message.id)
        self.assertChannelError(
            "ID not in flight", self.channel.finish, self.owner, self.message.id
        )


class TimeoutTests(StateTestCase):
    """
    In-flight messages time out through C{scan(now)}; TOUCH extends them up
    to C{max_msg_timeout} after delivery.
    """

    def test_timeout(self) -> None:
        """
        A message not finished within the consumer's C{msgTimeout} is
        requeued at the scan that finds it due, counted, reported to its
        owner, and redelivered with attempts 2.
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker, ready=1, msgTimeout=10.0)
        broker.publish("t", [b"x"], 0)
        mid = consumer.received[0].id
        self.assertFalse(channel.scan(9.99))
        self.assertEqual(consumer.done, [])
        self.assertTrue(channel.scan(10.0))
        self.assertEqual(consumer.done, [(mid, TIMED_OUT)])
        self.assertEqual(channel.timeoutCount, 1)
        self.assertEqual(consumer.attempts, [1, 2])
        self.assertEqual([m.id for m in consumer.received], [mid, mid])

    def test_perConsumerTimeout(self) -> None:
        """
        Each consumer's own C{msgTimeout} applies to its messages.
        """
        broker = self.broker()
        channel, slow = self.subscribe(broker, ready=1, msgTimeout=30.0)
        fast = FakeConsumer(ready=1, msgTimeout=5.0)
        channel.addConsumer(fast)
        broker.publish("t", [b"1", b"2"], 0)
        channel.scan(5.0)
        self.assertEqual(fast.done[0][1], TIMED_OUT)
        self.assertEqual(slow.done, [])

    def test_touchExtends(self) -> None:
        """
        TOUCH restarts the timeout from now.
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker, ready=1, msgTimeout=10.0)
        broker.publish("t", [b"x"], 0)
        mid = consumer.received[0].id
        channel.touch(consumer, mid, 5.0)
        channel.scan(14.9)
        self.assertEqual(consumer.done, [])
        channel.scan(15.0)
        self.assertEqual(consumer.done, [(mid, TIMED_OUT)])

    def test_touchCapped(self) -> None:
        """
        TOUCH never extends beyond delivery plus C{max_msg_timeout}.
        """
        broker = self.broker(max_msg_timeout=20.0)
        channel, consumer = self.subscribe(broker, ready=1, msgTimeout=10.0)
        broker.publish("t", [b"x"], 0)
        mid = consumer.received[0].id
        channel.touch(consumer, mid, 8.0)
        channel.touch(consumer, mid, 15.0)
        channel.scan(19.9)
        self.assertEqual(consumer.done, [])
        channel.scan(20.0)
        self.assertEqual(consumer.done, [(mid, TIMED_OUT)])

    def test_cappedTouchBeforeLaterDeliveries(self) -> None:
        """
        A capped TOUCH can give a message an earlier deadline than messages
        delivered after it; it still times out at its own deadline.
        """
        broker = self.broker(max_msg_timeout=12.0)
        channel, consumer = self.subscribe(broker, ready=2, msgTimeout=10.0)
        broker.publish("t", [b"a"], 0.0)
        broker.publish("t", [b"b"], 5.0)
        first, _second = (m.id for m in consumer.received)
        # first: deadline 10 -> touched at 9 -> min(19, 0 + 12) = 12.
        channel.touch(consumer, first, 9.0)
        # second is due at 15; first must time out at 12, not wait for it.
        channel.scan(13.0)
        self.assertEqual(
            consumer.done,
            [(first, TIMED_OUT)],
            "a message touched up to its max_msg_timeout cap was not timed "
            "out at its deadline (12 s) because a later-delivered message "
            "(due 15 s) sits before it in the timeout bucket",
        )

    def test_disconnectedConsumer(self) -> None:
        """
        In-flight messages of a consumer that left stay in flight until
        they time out, then go to another consumer.
        """
        broker = self.broker()
        channel, gone = self.subscribe(broker, ready=1, msgTimeout=10.0)
        broker.publish("t", [b"x"], 0)
        channel.removeConsumer(gone)
        broker.consumerLeft(channel)
        self.assertEqual(len(channel.inFlight), 1)
        other = FakeConsumer(ready=1)
        channel.addConsumer(other)
        channel.pump(1.0)
        self.assertEqual(other.received, [])
        channel.scan(10.0)
        self.assertEqual(other.attempts, [2])

    def test_finishedNotTimedOut(self) -> None:
        """
        A finished message is not timed out later.
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker, ready=1, msgTimeout=1.0)
        broker.publish("t", [b"x"], 0)
        channel.finish(consumer, consumer.received[0].id)
        self.assertFalse(channel.scan(100.0))
        self.assertEqual(channel.timeoutCount, 0)

    def test_finishManyLeavesNoBucketEntry(self) -> None:
        """
        A batch FIN removes each message from the timeout bookkeeping
        wherever it is: in the consumer's bucket, capped by
        C{max_msg_timeout}, or delivered with a timeout the consumer no
        longer has; none of them times out later.
        """
        broker = self.broker(max_msg_timeout=12.0)
        channel, consumer = self.subscribe(broker, ready=3, msgTimeout=10.0)
        broker.publish("t", [b"a", b"b"], 0.0)
        consumer.msgTimeout = 5.0
        broker.publish("t", [b"c"], 1.0)
        ids = [m.id for m in consumer.received]
        channel.touch(consumer, ids[0], 9.0)
        consumer.msgTimeout = 10.0
        self.assertEqual(channel.finishMany(consumer, ids, 2.0), [])
        self.assertEqual(channel.inFlight, {})
        self.assertFalse(channel.scan(100.0))
        self.assertEqual(channel.timeoutCount, 0)


class RequeueTests(StateTestCase):
    """
    REQ puts a message back now or after a delay.
    """

    def test_immediate(self) -> None:
        """
        REQ 0 requeues at once: redelivered with attempts 2, same id and
        timestamp (golden C{req_redelivery}).
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker, ready=1)
        broker.publish("t", [b"x"], 3.0)
        first = consumer.received[0]
        channel.requeue(consumer, first.id, 0, 4.0)
        channel.pump(4.0)
        second = consumer.received[1]
        self.assertEqual((second.id, second.timestamp), (first.id, 3000000000))
        self.assertEqual(consumer.attempts, [1, 2])
        self.assertEqual(consumer.done, [(first.id, REQUEUED)])
        self.assertEqual(channel.requeueCount, 1)

    def test_delayed(self) -> None:
        """
        REQ with a delay defers the message until C{now + delay}.
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker, ready=1)
        broker.publish("t", [b"x"], 0)
        mid = consumer.received[0].id
        channel.requeue(consumer, mid, 5.0, 1.0)
        self.assertEqual((channel.deferredCount(), len(channel.inFlight)), (1, 0))
        self.assertEqual(channel.depth(), 0)
        channel.pump(2.0)
        self.assertFalse(channel.scan(5.99))
        self.assertEqual(len(consumer.received), 1)
        self.assertTrue(channel.scan(6.0))
        self.assertEqual(consumer.attempts, [1, 2])
        self.assertEqual(channel.deferredCount(), 0)

    def test_deferredOrder(self) -> None:
        """
        Deferred messages come back in deadline order.
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker, ready=3)
        broker.publish("t", [b"a", b"b", b"c"], 0)
        ids = {m.body: m.id for m in consumer.received}
        channel.requeue(consumer, ids[b"a"], 3.0, 0)
        channel.requeue(consumer, ids[b"b"], 1.0, 0)
        channel.requeue(consumer, ids[b"c"], 2.0, 0)
        consumer.ready = 3
        channel.scan(10.0)
        self.assertEqual(consumer.bodies()[3:], [b"b", b"c", b"a"])

    def test_attemptsCount(self) -> None:
        """
        Attempts count every delivery: timeouts and requeues alike.
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker, ready=1, msgTimeout=1.0)
        broker.publish("t", [b"x"], 0)
        channel.scan(1.0)
        mid = consumer.received[-1].id
        channel.requeue(consumer, mid, 0, 1.0)
        channel.pump(1.0)
        channel.requeue(consumer, mid, 0.5, 1.0)
        channel.scan(1.5)
        self.assertEqual(consumer.attempts, [1, 2, 3, 4])


class DeferredPublishTests(StateTestCase):
    """
    DPUB messages wait in the channel's deferred queue.
    """

    def test_deferred(self) -> None:
        """
        A DPUB is not delivered before its delay has passed.
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker, ready=1)
        broker.publish("t", [b"later"], 10.0, deferMs=2000)
        self.assertEqual((channel.deferredCount(), channel.depth()), (1, 0))
        self.assertEqual(consumer.received, [])
        channel.scan(11.999)
        self.assertEqual(consumer.received, [])
        channel.scan(12.0)
        self.assertEqual(consumer.bodies(), [b"later"])
        self.assertEqual(consumer.attempts, [1])

    def test_everyChannel(self) -> None:
        """
        Every channel defers its own copy.
        """
        broker = self.broker()
        a = broker.getChannel("t", "a", 0)
        b = broker.getChannel("t", "b", 0)
        broker.publish("t", [b"x"], 0, deferMs=1000)
        self.assertEqual((a.deferredCount(), b.deferredCount()), (1, 1))
        broker.queueScan(1.0)
        self.assertEqual((a.depth(), b.depth()), (1, 1))

    def test_timerStartsAtChannel(self) -> None:
        """
        A DPUB held by a topic without channels starts its delay when the
        first channel takes it.
        """
        broker = self.broker()
        broker.publish("t", [b"x"], 0, deferMs=2000)
        channel, consumer = self.subscribe(broker, now=5.0, ready=1)
        self.assertEqual(channel.deferredCount(), 1)
        channel.scan(6.9)
        self.assertEqual(consumer.received, [])
        channel.scan(7.0)
        self.assertEqual(consumer.bodies(), [b"x"])

    def test_keptThroughTopicBackend(self) -> None:
        """
        A DPUB that overflows the topic's memory keeps its delay: Go loses
        it (its record format has no field for it), txnsq remembers it by
        message ID and applies it when the record is read back.
        """
        broker = self.broker(mem_queue_size=0)
        broker.publish("t", [b"x"], 0, deferMs=60000)
        self.assertEqual(broker.topics["t"].backendDepth(), 1)
        channel, consumer = self.subscribe(broker, now=1.0, ready=1)
        channel.pump(1.0)
        self.assertEqual(consumer.received, [])
        self.assertEqual(channel.deferredCount(), 1)
        channel.scan(60.999)
        self.assertEqual(consumer.received, [])
        channel.scan(61.0)
        self.assertEqual(consumer.bodies(), [b"x"])

    def test_memQueueZeroWithChannel(self) -> None:
        """
        With C{mem_queue_size} 0 a DPUB to a topic that has a channel is
        still deferred (Go hands deferred messages over directly).
        """
        broker = self.broker(mem_queue_size=0)
        channel, consumer = self.subscribe(broker, ready=1)
        broker.publish("t", [b"x"], 0, deferMs=1000)
        self.assertEqual(consumer.received, [])
        channel.scan(1.0)
        self.assertEqual(consumer.bodies(), [b"x"])


class PauseTests(StateTestCase):
    """
    Paused channels deliver nothing.
    """

    def test_channel(self) -> None:
        """
        A paused channel accepts messages but delivers none until unpaused.
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker, ready=10)
        channel.pause()
        broker.publish("t", [b"1"], 0)
        self.assertEqual(channel.depth(), 1)
        channel.pump(0)
        channel.scan(0)
        self.assertEqual(consumer.received, [])
        channel.unpause(1.0)
        self.assertEqual(consumer.bodies(), [b"1"])

    def test_pausedChannelOtherChannels(self) -> None:
        """
        Pausing one channel does not hold back the others.
        """
        broker = self.broker()
        paused, pc = self.subscribe(broker, channel="p", ready=1)
        _, rc = self.subscribe(broker, channel="r", ready=1)
        paused.pause()
        broker.publish("t", [b"x"], 0)
        self.assertEqual((pc.received, rc.bodies()), ([], [b"x"]))


class EmptyTests(StateTestCase):
    """
    Emptying a channel drops its messages.
    """

    def test_channel(self) -> None:
        """
        Emptying a channel drops queued, in-flight and deferred messages
        and resets its consumers' in-flight counts.
        """
        broker = self.broker(mem_queue_size=1)
        channel, consumer = self.subscribe(broker, ready=2)
        broker.publish("t", [b"1", b"2", b"3", b"4"], 0)
        channel.requeue(consumer, consumer.received[0].id, 10.0, 0)
        channel.empty()
        self.assertEqual(
            (channel.depth(), len(channel.inFlight), channel.deferredCount()),
            (0, 0, 0),
        )
        self.assertEqual((consumer.resets, consumer.inFlight), (1, 0))
        self.assertRaises(
            ChannelError, channel.finish, consumer, consumer.received[1].id
        )
        self.assertFalse(channel.scan(1000.0))
        broker.publish("t", [b"5"], 0)
        self.assertEqual(consumer.bodies()[-1], b"5")


class MaxConsumersTests(StateTestCase):
    """
    C{--max-channel-consumers} limits consumers per channel.
    """

    def test_limit(self) -> None:
        """
        Beyond the limit, L{Channel.addConsumer} returns Go's text.
        """
        broker = self.broker(max_channel_consumers=2)
        channel = broker.getChannel("t", "c", 0)
        self.assertIsNone(channel.addConsumer(FakeConsumer()))
        self.assertIsNone(channel.addConsumer(FakeConsumer()))
        self.assertEqual(
            channel.addConsumer(FakeConsumer()),
            "consumers for t:c exceeds limit of 2",
        )
        self.assertEqual(len(channel.consumers), 2)

    def test_unlimited(self) -> None:
        """
        0 means no limit.
        """
        broker = self.broker(max_channel_consumers=0)
        channel = broker.getChannel("t", "c", 0)
        for _ in range(50):
            self.assertIsNone(channel.addConsumer(FakeConsumer()))

    def test_slotFreed(self) -> None:
        """
        A consumer leaving frees its slot.
        """
        broker = self.broker(max_channel_consumers=1)
        channel, consumer = self.subscribe(broker)
        channel.removeConsumer(consumer)
        self.assertIsNone(channel.addConsumer(FakeConsumer()))


class SampleRateTests(StateTestCase):
    """
    A consumer's sample rate drops messages for the whole channel.
    """

    def test_dropped(self) -> None:
        """
        Go draws r in [0, 100) per message and drops it when r > rate: a
        dropped message is consumed from the channel and never delivered
        or requeued.
        """
        draws = iter([10, 51, 50, 99])

        class FixedRandom:
            def randrange(self, n: int) -> int:
                assert n == 100
                return next(draws)

        self.patch(channelModule, "random", FixedRandom())
        broker = self.broker()
        channel, consumer = self.subscribe(broker, ready=10, sampleRate=50)
        broker.publish("t", [b"1", b"2", b"3", b"4"], 0)
        self.assertEqual(consumer.bodies(), [b"1", b"3"])
        self.assertEqual((channel.depth(), len(channel.inFlight)), (0, 2))
