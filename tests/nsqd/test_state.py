"""
Tests for L{txnsq.nsqd.state}: the broker, topics, channels, messages and
message IDs, driven synchronously with time passed in as numbers.
"""

from __future__ import annotations

import re
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.state import (
    FINISHED,
    REQUEUED,
    TIMED_OUT,
    BackendQueue,
    Broker,
    Channel,
    ChannelError,
    Consumer,
    DiscardBackendQueue,
    GUIDFactory,
    MemoryBackendQueue,
    Message,
)
from txnsq.nsqd.state import channel as channelModule
from txnsq.nsqd.state.quantile import mergedResult


class FakeConsumer:
    """
    A L{Consumer} that records what the broker asks of it.

    @ivar ready: the RDY count.
    @ivar inFlight: how many of its messages are in flight, as the broker
        has told it.
    @ivar received: every delivered message, in order.
    @ivar done: C{(id, outcome)} for every message that left flight.
    """

    def __init__(
        self, ready: int = 0, msgTimeout: float = 60.0, sampleRate: int = 0
    ) -> None:
        self.ready = ready
        self.msgTimeout = msgTimeout
        self.sampleRate = sampleRate
        self.inFlight = 0
        self.received: list[Message] = []
        self.attempts: list[int] = []
        self.done: list[tuple[bytes, int]] = []
        self.resets = 0
        self.closed = False

    def capacity(self) -> int:
        if self.closed:
            return 0
        return self.ready - self.inFlight

    def sendMessages(self, messages: list[Message]) -> None:
        for message in messages:
            self.inFlight += 1
            self.received.append(message)
            self.attempts.append(message.attempts)

    def messagesFinished(self, messages: list[Message]) -> None:
        for message in messages:
            self.messageDone(message, FINISHED)

    def messageDone(self, message: Message, outcome: int) -> None:
        self.inFlight -= 1
        self.done.append((message.id, outcome))

    def inFlightReset(self) -> None:
        self.inFlight = 0
        self.resets += 1

    def channelClosed(self) -> None:
        self.closed = True

    def bodies(self) -> list[bytes]:
        """
        The bodies received, in order.
        """
        return [m.body for m in self.received]


class RecordingObserver:
    """
    A L{txnsq.nsqd.state.TopologyObserver} keeping every event.
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str | None]] = []

    def topologyChanged(self, event: str, topic: str, channel: str | None) -> None:
        self.events.append((event, topic, channel))


def config(**kwargs: Any) -> NSQDConfig:
    """
    An L{NSQDConfig} that does not depend on the host.
    """
    kwargs.setdefault("node_id", 1)
    kwargs.setdefault("broadcast_address", "127.0.0.1")
    return NSQDConfig(**kwargs)


class StateTestCase(SynchronousTestCase):
    """
    Builds brokers whose backends stay reachable by queue name.
    """

    def setUp(self) -> None:
        self.backends: dict[str, MemoryBackendQueue] = {}
        self.observer = RecordingObserver()

    def backendFactory(self, name: str) -> BackendQueue:
        """
        The L{MemoryBackendQueue} for C{name}, created on first use.
        """
        backend = self.backends.get(name)
        if backend is None:
            # Kept by name, so a second broker can take over the queues of
            # a closed one, as a restarted nsqd takes over its data path.
            backend = self.backends[name] = MemoryBackendQueue()
        return backend

    def broker(self, **kwargs: Any) -> Broker:
        """
        A broker with memory backends and a recording observer.
        """
        broker = Broker(config(**kwargs), self.backendFactory)
        broker.observers.append(self.observer)
        return broker

    def subscribe(
        self,
        broker: Broker,
        topic: str = "t",
        channel: str = "c",
        now: float = 0.0,
        **kwargs: Any,
    ) -> tuple[Channel, FakeConsumer]:
        """
        A new consumer on C{topic:channel}.
        """
        subscribed = broker.getChannel(topic, channel, now)
        consumer = FakeConsumer(**kwargs)
        self.assertIsNone(subscribed.addConsumer(consumer))
        return subscribed, consumer

    def ready(
        self, channel: Channel, consumer: FakeConsumer, count: int, now: float = 0.0
    ) -> None:
        """
        Set RDY and let the channel deliver, as the protocol does after RDY.
        """
        consumer.ready = count
        channel.pump(now)


class FakeConsumerTests(SynchronousTestCase):
    """
    The fake is a faithful L{Consumer}.
    """

    def test_provides(self) -> None:
        """
        L{FakeConsumer} satisfies the L{Consumer} protocol (checked by mypy
        through this assignment) and starts with nothing in flight.
        """
        consumer: Consumer = FakeConsumer(ready=3)
        self.assertEqual(consumer.capacity(), 3)


class FanOutTests(StateTestCase):
    """
    Every channel of a topic gets its own copy of every message.
    """

    def test_everyChannel(self) -> None:
        """
        A message published to a topic reaches a consumer of each channel,
        with the same id, body and timestamp and separate bookkeeping.
        """
        broker = self.broker()
        a, ca = self.subscribe(broker, channel="a", ready=1)
        b, cb = self.subscribe(broker, channel="b", ready=1)
        broker.publish("t", [b"hello"], 1.5)
        [ma], [mb] = ca.received, cb.received
        self.assertEqual((ma.id, ma.body, ma.timestamp), (mb.id, mb.body, mb.timestamp))
        self.assertEqual(ma.timestamp, 1500000000)
        self.assertIsNot(ma, mb)
        a.finish(ca, ma.id)
        self.assertIn(mb.id, b.inFlight)
        self.assertNotIn(ma.id, a.inFlight)

    def test_channelDepths(self) -> None:
        """
        Without consumers each channel holds its own copy.
        """
        broker = self.broker()
        a = broker.getChannel("t", "a", 0)
        b = broker.getChannel("t", "b", 0)
        broker.publish("t", [b"1", b"2"], 0)
        self.assertEqual((a.depth(), b.depth()), (2, 2))
        self.assertEqual(broker.topics["t"].depth(), 0)

    def test_perChannelAttempts(self) -> None:
        """
        Attempts are counted per channel.
        """
        broker = self.broker()
        a, ca = self.subscribe(broker, channel="a", ready=1)
        _b, cb = self.subscribe(broker, channel="b", ready=1)
        broker.publish("t", [b"x"], 0)
        a.requeue(ca, ca.received[0].id, 0, 0)
        a.pump(0)
        self.assertEqual(ca.attempts, [1, 2])
        self.assertEqual(cb.attempts, [1])

    def test_messageCounts(self) -> None:
        """
        Topic and channel message counts include every published message.
        """
        broker = self.broker()
        channel = broker.getChannel("t", "c", 0)
        broker.publish("t", [b"ab", b"cde"], 0)
        topic = broker.topics["t"]
        self.assertEqual((topic.messageCount, topic.messageBytes), (2, 5))
        self.assertEqual(channel.messageCount, 2)


class TopicBufferTests(StateTestCase):
    """
    A topic without channels keeps its messages for the first channel.
    """

    def test_keptUntilChannel(self) -> None:
        """
        Messages published before any channel exists are all handed to the
        first channel, in order.
        """
        broker = self.broker()
        broker.publish("t", [b"1", b"2"], 0)
        broker.publish("t", [b"3"], 0)
        self.assertEqual(broker.topics["t"].depth(), 3)
        channel, consumer = self.subscribe(broker, ready=10)
        self.assertEqual(broker.topics["t"].depth(), 0)
        self.assertEqual(channel.depth(), 3)
        channel.pump(0)
        self.assertEqual(consumer.bodies(), [b"1", b"2", b"3"])

    def test_secondChannelGetsNewOnly(self) -> None:
        """
        A channel created later receives only what is published after it.
        """
        broker = self.broker()
        broker.publish("t", [b"1"], 0)
        first = broker.getChannel("t", "a", 0)
        second = broker.getChannel("t", "b", 0)
        broker.publish("t", [b"2"], 0)
        self.assertEqual((first.depth(), second.depth()), (2, 1))

    def test_overflowToBackend(self) -> None:
        """
        Beyond C{mem_queue_size} the topic writes to its backend; the first
        channel still gets everything, attempts 0 and ids intact.
        """
        broker = self.broker(mem_queue_size=1)
        broker.publish("t", [b"1", b"2", b"3"], 0)
        topic = broker.topics["t"]
        self.assertEqual((topic.depth(), topic.backendDepth()), (3, 2))
        self.assertEqual(self.backends["t"].depth(), 2)
        channel, consumer = self.subscribe(broker, ready=10)
        channel.pump(0)
        self.assertEqual(sorted(consumer.bodies()), [b"1", b"2", b"3"])
        self.assertEqual(consumer.attempts, [1, 1, 1])
        self.assertEqual(len({m.id for m in consumer.received}), 3)
        self.assertEqual(self.backends["t"].depth(), 0)

    def test_memQueueZero(self) -> None:
        """
        With C{mem_queue_size} 0 a topic without channels writes everything
        to its backend.
        """
        broker = self.broker(mem_queue_size=0)
        broker.publish("t", [b"1", b"2"], 0)
        self.assertEqual(broker.topics["t"].backendDepth(), 2)
        channel, consumer = self.subscribe(broker, ready=10)
        channel.pump(0)
        self.assertEqual(consumer.bodies(), [b"1", b"2"])


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

    def test_discardBackend(self) -> None:
        """
        L{DiscardBackendQueue} holds nothing.
        """
        backend = DiscardBackendQueue()
        backend.put(b"x" * 30)
        self.assertEqual((backend.depth(), backend.get()), (0, None))

    def test_memoryBackend(self) -> None:
        """
        L{MemoryBackendQueue} is a FIFO.
        """
        backend = MemoryBackendQueue()
        backend.put(b"1")
        backend.put(b"2")
        self.assertEqual(backend.depth(), 2)
        self.assertEqual(backend.get(), b"1")
        backend.empty()
        self.assertEqual((backend.depth(), backend.get()), (0, None))


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

    def test_brokerQueueScan(self) -> None:
        """
        L{Broker.queueScan} scans every channel of every topic.
        """
        broker = self.broker()
        _a, ca = self.subscribe(broker, "t1", "a", ready=1, msgTimeout=1.0)
        _b, cb = self.subscribe(broker, "t2", "b", ready=1, msgTimeout=2.0)
        broker.publish("t1", [b"x"], 0)
        broker.publish("t2", [b"y"], 0)
        broker.queueScan(1.5)
        self.assertEqual((ca.attempts, cb.attempts), ([1, 2], [1]))
        broker.queueScan(2.0)
        self.assertEqual(cb.attempts, [1, 2])

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
    Paused topics keep their messages; paused channels deliver nothing.
    """

    def test_topic(self) -> None:
        """
        A paused topic holds what is published; unpausing hands it on.
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker, ready=10)
        topic = broker.topics["t"]
        topic.pause()
        broker.publish("t", [b"1", b"2"], 0)
        self.assertEqual((topic.depth(), channel.depth()), (2, 0))
        self.assertEqual(consumer.received, [])
        topic.unpause(1.0)
        self.assertEqual(topic.depth(), 0)
        self.assertEqual(consumer.bodies(), [b"1", b"2"])

    def test_pausedTopicNewChannel(self) -> None:
        """
        Creating a channel on a paused topic does not drain it.
        """
        broker = self.broker()
        broker.getTopic("t").pause()
        broker.publish("t", [b"1"], 0)
        channel = broker.getChannel("t", "c", 0)
        self.assertEqual(channel.depth(), 0)
        broker.topics["t"].unpause(0)
        self.assertEqual(channel.depth(), 1)

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
    Emptying drops messages.
    """

    def test_topic(self) -> None:
        """
        Emptying a topic drops its memory and backend, not its channels'.
        """
        broker = self.broker(mem_queue_size=1)
        broker.publish("t", [b"1", b"2"], 0)
        topic = broker.topics["t"]
        topic.empty()
        self.assertEqual(topic.depth(), 0)
        channel = broker.getChannel("t", "c", 0)
        self.assertEqual(channel.depth(), 0)
        broker.publish("t", [b"3"], 0)
        topic.pause()
        broker.publish("t", [b"4"], 0)
        topic.empty()
        self.assertEqual(channel.depth(), 1)

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


class EphemeralTests(StateTestCase):
    """
    Ephemeral channels and topics disappear when unused.
    """

    def leave(self, broker: Broker, channel: Channel, consumer: FakeConsumer) -> None:
        """
        What the protocol does when a subscribed connection closes.
        """
        channel.removeConsumer(consumer)
        broker.consumerLeft(channel)

    def test_channelDeleted(self) -> None:
        """
        An ephemeral channel is deleted when its last consumer leaves.
        """
        broker = self.broker()
        channel, first = self.subscribe(broker, channel="c#ephemeral")
        second = FakeConsumer()
        channel.addConsumer(second)
        self.leave(broker, channel, first)
        self.assertIn("c#ephemeral", broker.topics["t"].channels)
        self.leave(broker, channel, second)
        self.assertNotIn("c#ephemeral", broker.topics["t"].channels)
        self.assertTrue(channel.deleted)
        self.assertIn(("channel_deleted", "t", "c#ephemeral"), self.observer.events)
        # The normal topic stays.
        self.assertIn("t", broker.topics)

    def test_durableChannelKept(self) -> None:
        """
        A normal channel stays when its last consumer leaves.
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker)
        self.leave(broker, channel, consumer)
        self.assertIn("c", broker.topics["t"].channels)

    def test_topicDeleted(self) -> None:
        """
        An ephemeral topic is deleted when its last channel goes.
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker, "t#ephemeral", "c#ephemeral")
        self.leave(broker, channel, consumer)
        self.assertNotIn("t#ephemeral", broker.topics)
        self.assertEqual(
            self.observer.events[-2:],
            [
                ("channel_deleted", "t#ephemeral", "c#ephemeral"),
                ("topic_deleted", "t#ephemeral", None),
            ],
        )

    def test_topicKeptByDurableChannel(self) -> None:
        """
        A non-ephemeral channel keeps an ephemeral topic alive.
        """
        broker = self.broker()
        broker.getChannel("t#ephemeral", "durable", 0)
        channel, consumer = self.subscribe(broker, "t#ephemeral", "c#ephemeral")
        self.leave(broker, channel, consumer)
        self.assertIn("t#ephemeral", broker.topics)
        self.assertEqual(list(broker.topics["t#ephemeral"].channels), ["durable"])

    def test_deleteChannelDisconnects(self) -> None:
        """
        Deleting a channel disconnects its consumers.
        """
        broker = self.broker()
        _channel, consumer = self.subscribe(broker)
        self.assertTrue(broker.deleteChannel("t", "c"))
        self.assertTrue(consumer.closed)
        self.assertFalse(broker.deleteChannel("t", "c"))

    def test_deleteTopic(self) -> None:
        """
        Deleting a topic deletes its channels and disconnects consumers.
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker)
        self.assertTrue(broker.deleteTopic("t"))
        self.assertTrue(consumer.closed)
        self.assertTrue(channel.deleted)
        self.assertNotIn("t", broker.topics)
        self.assertFalse(broker.deleteTopic("t"))


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


class CloseTests(StateTestCase):
    """
    L{Broker.close} writes everything a durable queue holds to its backend.
    """

    def test_order(self) -> None:
        """
        A channel writes its memory queue, then in-flight, then deferred
        messages (Go's order); in-flight messages keep their attempts,
        queued ones have attempts 0.
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker, ready=2)
        broker.publish("t", [b"inflight", b"deferred"], 1.0)
        deferredID = consumer.received[1].id
        channel.requeue(consumer, deferredID, 30.0, 1.0)
        consumer.ready = 0
        broker.publish("t", [b"queued1", b"queued2"], 1.0)
        broker.close()
        self.assertTrue(broker.closing)
        self.assertTrue(consumer.closed)
        backend = self.backends["t:c"]
        records = []
        while (record := backend.get()) is not None:
            records.append(Message.decode(record))
        self.assertEqual(
            [(m.body, m.attempts) for m in records],
            [(b"queued1", 0), (b"queued2", 0), (b"inflight", 1), (b"deferred", 1)],
        )
        self.assertEqual({m.timestamp for m in records}, {1000000000})

    def test_deferredSortedByDeadline(self) -> None:
        """
        Deferred messages are written in deadline order.
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker, ready=3)
        broker.publish("t", [b"a", b"b", b"c"], 0)
        for message, delay in zip(consumer.received, (3.0, 1.0, 2.0)):
            channel.requeue(consumer, message.id, delay, 0)
        broker.close()
        backend = self.backends["t:c"]
        bodies = [Message.decode(r).body for r in iter(backend.get, None)]
        self.assertEqual(bodies, [b"b", b"c", b"a"])

    def test_topicMemory(self) -> None:
        """
        A topic writes its memory queue to its backend.
        """
        broker = self.broker()
        broker.publish("t", [b"1", b"2"], 0)
        broker.close()
        backend = self.backends["t"]
        self.assertEqual(
            [Message.decode(r).body for r in iter(backend.get, None)], [b"1", b"2"]
        )

    def test_ephemeralDropped(self) -> None:
        """
        Ephemeral topics and channels write nothing.
        """
        broker = self.broker()
        broker.publish("e#ephemeral", [b"1"], 0)
        channel = broker.getChannel("t", "c#ephemeral", 0)
        broker.publish("t", [b"2"], 0)
        self.assertEqual(channel.depth(), 1)
        broker.close()
        self.assertEqual(sorted(self.backends), ["t"])
        self.assertEqual(self.backends["t"].depth(), 0)


class CloseDeferredTests(StateTestCase):
    """
    Deferred due times survive a close and a restore (txnsq keeps them
    where Go loses them).
    """

    def test_closeReturnsDueTimes(self) -> None:
        """
        L{Broker.close} reports each deferred message's due time by channel,
        and the delays still pending in topics.
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker, ready=1)
        broker.publish("t", [b"x"], 100.0)
        mid = consumer.received[0].id
        channel.requeue(consumer, mid, 30.0, 100.0)
        broker.publish("held", [b"y"], 100.0, deferMs=5000)
        deferred = broker.close()
        self.assertEqual(deferred.channels, {"t:c": {mid: 130.0}})
        # The topic wrote its memory queue to its backend.
        [record] = iter(self.backends["held"].get, None)
        heldID = Message.decode(record).id
        self.assertEqual(deferred.topics, {"held": {heldID: 5000}})

    def test_restore(self) -> None:
        """
        A broker restored from the metadata and due times of a closed one,
        over the same backends, recreates topics and channels with their
        paused flags and keeps deferred messages waiting until their due
        time.
        """
        old = self.broker()
        channel, consumer = self.subscribe(old, ready=2)
        old.getChannel("t", "paused", 0).pause()
        old.publish("t", [b"later", b"now"], 100.0)
        later, now = (m.id for m in consumer.received)
        channel.requeue(consumer, later, 30.0, 100.0)
        channel.requeue(consumer, now, 5.0, 100.0)
        topology = old.metadata()
        deferred = old.close()

        new = self.broker()
        new.restore(topology, deferred, 110.0)
        self.assertEqual(sorted(new.topics["t"].channels), ["c", "paused"])
        self.assertTrue(new.topics["t"].channels["paused"].paused)
        restored, fresh = self.subscribe(new, now=110.0, ready=2)
        restored.pump(110.0)
        # "now" was due at 105: delivered at once; "later" waits for 130.
        self.assertEqual(fresh.bodies(), [b"now"])
        self.assertEqual(fresh.attempts, [2])
        restored.scan(129.9)
        self.assertEqual(fresh.bodies(), [b"now"])
        restored.scan(130.0)
        self.assertEqual(fresh.bodies(), [b"now", b"later"])


class BacklogTests(StateTestCase):
    """
    With a wakeup installed, a topic hands a backlog to its channels in
    batches, one per L{Broker.work} call.
    """

    def test_batches(self) -> None:
        """
        A backlog larger than C{drainBatch} moves one batch per round, in
        order, and asks to be woken while some remains.
        """
        broker = self.broker()
        wakeups: list[None] = []
        broker.setWakeup(lambda: wakeups.append(None))
        bodies = [b"%d" % i for i in range(5000)]
        broker.publish("t", bodies, 0)
        channel = broker.getChannel("t", "c", 0)
        batch = broker.topics["t"].drainBatch
        self.assertEqual(channel.depth(), batch)
        self.assertEqual(len(wakeups), 1)
        self.assertTrue(broker.work(0))
        self.assertEqual(channel.depth(), 2 * batch)
        self.assertFalse(broker.work(0))
        self.assertEqual(channel.depth(), 5000)
        self.assertEqual(broker.topics["t"].depth(), 0)
        consumer = FakeConsumer(ready=2500)
        channel.addConsumer(consumer)
        channel.pump(0)
        for message in list(consumer.received):
            channel.finish(consumer, message.id)
        channel.pump(0)
        self.assertEqual(consumer.bodies(), bodies)

    def test_deletedTopic(self) -> None:
        """
        A topic deleted while backlogged is skipped.
        """
        broker = self.broker()
        broker.setWakeup(lambda: None)
        broker.publish("t", [b"x"] * 3000, 0)
        broker.getChannel("t", "c", 0)
        broker.deleteTopic("t")
        self.assertFalse(broker.work(0))


class BrokerPauseTests(StateTestCase):
    """
    L{Broker.pauseTopic} and L{Broker.pauseChannel}.
    """

    def test_pause(self) -> None:
        """
        Pausing and unpausing existing topics and channels works and is
        reported; unknown ones give C{False}.
        """
        broker = self.broker()
        channel, consumer = self.subscribe(broker, ready=5)
        self.assertTrue(broker.pauseTopic("t", True, 0))
        broker.publish("t", [b"1"], 0)
        self.assertTrue(broker.pauseChannel("t", "c", True, 0))
        self.assertTrue(broker.pauseTopic("t", False, 0))
        self.assertEqual((channel.depth(), consumer.received), (1, []))
        self.assertTrue(broker.pauseChannel("t", "c", False, 0))
        self.assertEqual(consumer.bodies(), [b"1"])
        self.assertFalse(broker.pauseTopic("nope", True, 0))
        self.assertFalse(broker.pauseChannel("t", "nope", True, 0))
        self.assertFalse(broker.pauseChannel("nope", "c", True, 0))
        self.assertEqual(
            [e for e in self.observer.events if e[0] == "paused"],
            [
                ("paused", "t", None),
                ("paused", "t", "c"),
                ("paused", "t", None),
                ("paused", "t", "c"),
            ],
        )


class ObserverTests(StateTestCase):
    """
    Topology observers hear about creations and deletions.
    """

    def test_events(self) -> None:
        """
        Creating and deleting topics and channels is reported once each.
        """
        broker = self.broker()
        broker.getChannel("t", "c", 0)
        broker.getChannel("t", "c", 0)
        broker.publish("t", [b"x"], 0)
        broker.deleteChannel("t", "c")
        broker.deleteTopic("t")
        self.assertEqual(
            self.observer.events,
            [
                ("topic_created", "t", None),
                ("channel_created", "t", "c"),
                ("channel_deleted", "t", "c"),
                ("topic_deleted", "t", None),
            ],
        )


class E2ELatencyTests(StateTestCase):
    """
    The broker tracks end-to-end processing latency itself, whoever reports
    it.
    """

    def test_windows(self) -> None:
        """
        With percentiles configured, every channel gets a window when it is
        created, starting then, restored channels included; a C{FIN} adds
        a sample.
        """
        broker = self.broker(
            e2e_processing_latency_percentiles=[1.0, 0.5],
            e2e_processing_latency_window_time=60.0,
        )
        channel, consumer = self.subscribe(broker, now=10.0, ready=1)
        window = channel.e2eLatency
        assert window is not None
        self.assertEqual((window.percentiles, window.halfWindow), ([1.0, 0.5], 30.0))
        broker.publish("t", [b"x"], 10.0)
        [message] = consumer.received
        channel.finish(consumer, message.id, 10.25)
        self.assertEqual(mergedResult([window], [1.0], 10.25), (1, [(1.0, 0.25e9)]))

        topology = broker.metadata()
        broker.close()
        restored = self.broker(e2e_processing_latency_percentiles=[0.99])
        restored.restore(topology, None, 20.0)
        again = restored.topics["t"].channels["c"].e2eLatency
        assert again is not None
        self.assertEqual(again.percentiles, [0.99])

    def test_notConfigured(self) -> None:
        """
        Without percentiles no channel gets a window.
        """
        channel, _ = self.subscribe(self.broker())
        self.assertIsNone(channel.e2eLatency)


class MessageTests(SynchronousTestCase):
    """
    L{Message}: copies and disk records.
    """

    def test_copy(self) -> None:
        """
        A copy shares id, body, timestamp, attempts and delay, not
        bookkeeping.
        """
        message = Message(b"0" * 16, b"body", 7, attempts=2, deferMs=5)
        message.deadline = 3.0
        copy = message.copy()
        self.assertEqual(
            (copy.id, copy.body, copy.timestamp, copy.attempts, copy.deferMs),
            (b"0" * 16, b"body", 7, 2, 5),
        )
        self.assertEqual(copy.deadline, 0.0)

    def test_encodeDecode(self) -> None:
        """
        A disk record round-trips id, body, timestamp and attempts (the
        delay is not stored).
        """
        message = Message(b"0123456789abcdef", b"body", 123456789, 3, deferMs=9)
        data = message.encode()
        self.assertEqual(len(data), 26 + 4)
        back = Message.decode(data)
        self.assertEqual(
            (back.id, back.body, back.timestamp, back.attempts, back.deferMs),
            (b"0123456789abcdef", b"body", 123456789, 3, 0),
        )


_TWEPOCH = 1288834974288
_HEX16 = re.compile(rb"\A[0-9a-f]{16}\Z")


class GUIDFactoryTests(SynchronousTestCase):
    """
    L{GUIDFactory} makes Go nsqd's snowflake ids.
    """

    def test_goldenExample(self) -> None:
        """
        Node 7 at the tick of the reference example gives
        C{18a9b2e837807000} (reference section 3.7).
        """
        tick = (0x18A9B2E837807000 >> 22) + _TWEPOCH
        self.assertEqual(GUIDFactory(7).nextID(tick << 20), b"18a9b2e837807000")

    def test_layout(self) -> None:
        """
        C{((tick - twepoch) << 22) | (node << 12) | sequence}, tick being
        nanoseconds shifted right by 20.
        """
        now = 1_700_000_000_123_456_789
        value = int(GUIDFactory(5).nextID(now), 16)
        self.assertEqual(value >> 22, (now >> 20) - _TWEPOCH)
        self.assertEqual((value >> 12) & 0x3FF, 5)
        self.assertEqual(value & 0xFFF, 0)

    def test_nodeBits(self) -> None:
        """
        Every node id 0..1023 lands in bits 12-21.
        """
        now = 1_700_000_000_000_000_000
        for node in range(1024):
            value = int(GUIDFactory(node).nextID(now), 16)
            self.assertEqual((value >> 12) & 0x3FF, node)

    def test_format(self) -> None:
        """
        Ids are C{%016x}: 16 lower-case hex characters, zero-padded.
        """
        guid = GUIDFactory(7).nextID(_TWEPOCH << 20)
        self.assertEqual(guid, b"0000000000007000")
        self.assertRegex(GUIDFactory(1023).nextID(2**62), _HEX16)

    def test_sameTick(self) -> None:
        """
        10,000 ids in one tick are unique and strictly increasing (the
        4096-per-tick sequence spills into the following ticks).
        """
        factory = GUIDFactory(3)
        now = 1_700_000_000_000_000_000
        ids = [factory.nextID(now) for _ in range(10000)]
        values = [int(i, 16) for i in ids]
        self.assertEqual(values, sorted(set(values)))
        self.assertTrue(all(_HEX16.match(i) for i in ids))
        self.assertTrue(all((v >> 12) & 0x3FF == 3 for v in values))
        self.assertEqual([v & 0xFFF for v in values[:3]], [0, 1, 2])

    def test_clockBackwards(self) -> None:
        """
        A clock that goes back never yields a smaller or repeated id.
        """
        factory = GUIDFactory(1)
        now = 1_700_000_000_000_000_000
        values = [int(factory.nextID(t), 16) for t in (now, now - 10**9, now, now + 1)]
        self.assertEqual(values, sorted(set(values)))

    def test_newTickResetsSequence(self) -> None:
        """
        The sequence restarts at 0 in a later tick.
        """
        factory = GUIDFactory(1)
        now = 1_700_000_000_000_000_000
        factory.nextID(now)
        factory.nextID(now)
        value = int(factory.nextID(now + (5 << 20)), 16)
        self.assertEqual(value & 0xFFF, 0)

    def test_topicsIndependent(self) -> None:
        """
        Each topic has its own factory, so ids are unique per topic only.
        """
        broker = Broker(config(node_id=9))
        a = broker.getTopic("a").newMessage(b"", 1_700_000_000_000_000_000)
        b = broker.getTopic("b").newMessage(b"", 1_700_000_000_000_000_000)
        self.assertEqual(a.id, b.id)
