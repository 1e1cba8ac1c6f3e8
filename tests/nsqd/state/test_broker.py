"""
Tests for L{txnsq.nsqd.state.broker}: queue scans, ephemeral topics and
channels, deletion, closing and restoring, backlogs, pausing by name,
topology observers and end-to-end latency windows, with time passed in as
numbers.
"""

from __future__ import annotations

from txnsq.nsqd.state import Broker, Channel, Message
from txnsq.nsqd.state.quantile import mergedResult

from ._support import FakeConsumer, StateTestCase


class QueueScanTests(StateTestCase):
    """
    L{Broker.queueScan} times out in-flight messages everywhere.
    """

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
