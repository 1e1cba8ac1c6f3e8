"""
Tests for L{txnsq.nsqd.state.topic}: fan-out to channels, the buffer of a
topic without channels, pausing and emptying, driven through a L{Broker}
with time passed in as numbers.
"""

from __future__ import annotations

from ._support import FakeConsumer, StateTestCase


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

    def test_sharedUntilTaken(self) -> None:
        """
        Channels without consumers hold the same message objects; the first
        channel to deliver one gets a copy, and the last gets the original.
        """
        broker = self.broker()
        a = broker.getChannel("t", "a", 0)
        b = broker.getChannel("t", "b", 0)
        c = broker.getChannel("t", "c", 0)
        broker.publish("t", [b"1", b"2"], 0)
        [original, _] = list(a._memory)
        self.assertEqual(
            [list(a._memory), list(b._memory)], [list(c._memory), list(c._memory)]
        )
        ca, cb, cc = FakeConsumer(), FakeConsumer(), FakeConsumer()
        for channel, consumer in [(a, ca), (b, cb), (c, cc)]:
            channel.addConsumer(consumer)
            self.ready(channel, consumer, 1)
        self.assertIsNot(ca.received[0], original)
        self.assertIsNot(cb.received[0], original)
        self.assertIs(cc.received[0], original)
        self.assertEqual(
            {
                (m.id, m.body, m.timestamp, m.attempts)
                for m in [*ca.received, *cb.received, *cc.received]
            },
            {(original.id, b"1", 0, 1)},
        )

    def test_requeueWhileShared(self) -> None:
        """
        A message one channel delivers, requeues and delivers again is still
        a first attempt for a channel that had no consumer meanwhile.
        """
        broker = self.broker()
        a, ca = self.subscribe(broker, channel="a", ready=1)
        b = broker.getChannel("t", "b", 0)
        broker.publish("t", [b"x"], 0)
        for _ in range(3):
            a.requeue(ca, ca.received[-1].id, 0, 0)
            a.pump(0)
        self.assertEqual(ca.attempts, [1, 2, 3, 4])
        cb = FakeConsumer()
        b.addConsumer(cb)
        self.ready(b, cb, 1)
        self.assertEqual(cb.attempts, [1])
        self.assertEqual(b.inFlight[cb.received[0].id].attempts, 1)
        self.assertEqual(a.inFlight[ca.received[-1].id].attempts, 4)

    def test_deletedSharer(self) -> None:
        """
        Deleting one of the sharing channels leaves the others their
        messages, each delivered with its own bookkeeping.
        """
        broker = self.broker()
        broker.getChannel("t", "a", 0)
        b = broker.getChannel("t", "b", 0)
        c = broker.getChannel("t", "c", 0)
        broker.publish("t", [b"x"], 0)
        broker.topics["t"].deleteChannel("a")
        cb, cc = FakeConsumer(), FakeConsumer()
        b.addConsumer(cb)
        c.addConsumer(cc)
        self.ready(b, cb, 1)
        b.requeue(cb, cb.received[0].id, 0, 0)
        self.ready(b, cb, 1)
        self.ready(c, cc, 1)
        self.assertEqual((cb.attempts, cc.attempts), ([1, 2], [1]))
        self.assertIsNot(cb.received[-1], cc.received[0])

    def test_deferredCopiedAtOnce(self) -> None:
        """
        A DPUB to several channels gives each its own message at once: the
        delay is applied per channel.
        """
        broker = self.broker()
        a = broker.getChannel("t", "a", 0)
        b = broker.getChannel("t", "b", 0)
        broker.publish("t", [b"x"], 0, deferMs=1000)
        [(_, _, ma)] = a._deferred
        [(_, _, mb)] = b._deferred
        self.assertIsNot(ma, mb)
        self.assertEqual((ma.deadline, mb.deadline), (1.0, 1.0))
        a.scan(1.0)
        b.scan(1.0)
        self.assertEqual((a.depth(), b.depth()), (1, 1))

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


class PauseTests(StateTestCase):
    """
    Paused topics keep their messages.
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


class EmptyTests(StateTestCase):
    """
    Emptying a topic drops its messages.
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
