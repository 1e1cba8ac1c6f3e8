"""
Tests for L{txnsq.client.Producer}, against in-memory nsqds on a clock.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from tests.client._memory import MemoryNetwork, MemoryNSQD
from txnsq.client import (
    ConnectionClosed,
    IdentifyOptions,
    NotConnected,
    NSQBadMessage,
    NSQBadTopic,
    NSQError,
    Producer,
    PublishQueueFull,
)


def drain(nsqd: MemoryNSQD, topic: str) -> list[bytes]:
    """
    The bodies waiting in C{topic}'s channel C{c} (created before
    publishing), in order, emptying it.
    """
    channel = nsqd.channel(topic, "c")
    taken = channel._take(channel.depth(), nsqd.clock.seconds())
    return [message.body for message in taken]


class ProducerTests(SynchronousTestCase):
    """
    Publishing through one nsqd.
    """

    def setUp(self) -> None:
        self.network = MemoryNetwork()
        self.nsqd = self.network.nsqd(max_msg_size=100)
        self.nsqd.channel("t", "c")

    def producer(self, *nsqds: MemoryNSQD, **kwargs: Any) -> Producer:
        """
        A started producer for C{nsqds} (default: C{self.nsqd}).
        """
        kwargs.setdefault("retryPolicy", lambda attempt: 2.0**attempt)
        producer = Producer(
            [n.endpoint() for n in nsqds or (self.nsqd,)],
            reactor=self.network.clock,
            **kwargs,
        )
        producer.start()
        return producer

    def test_noAddress(self) -> None:
        """
        A producer without an nsqd address is a L{ValueError} that shows
        what to pass.
        """
        error = self.assertRaises(ValueError, Producer, [], reactor=self.network.clock)
        self.assertIn("Producer(['127.0.0.1:4150'])", str(error))

    def test_publishKinds(self) -> None:
        """
        C{publish}, C{multiPublish} and C{deferredPublish} return futures
        that fire with L{None} on nsqd's C{OK}, and the messages reach the
        topic in order (the deferred one after its delay).
        """
        producer = self.producer()
        results = [
            producer.publish("t", b"1"),
            producer.multiPublish("t", [b"2", b"3"]),
            producer.deferredPublish("t", 1000, b"4"),
        ]
        self.network.flush()
        for d in results:
            self.assertIsNone(self.successResultOf(d))
        self.assertEqual(drain(self.nsqd, "t"), [b"1", b"2", b"3"])
        self.network.advance(1.0)
        self.assertEqual(drain(self.nsqd, "t"), [b"4"])

    def test_serverErrorCode(self) -> None:
        """
        A publish nsqd rejects fails with the L{NSQError} subclass for the
        code, whose C{code} and C{description} are nsqd's; the producer
        reconnects and later publishes succeed.
        """
        producer = self.producer()
        tooBig = producer.publish("t", b"x" * 101)
        self.network.flush()
        error = self.failureResultOf(tooBig, NSQBadMessage).value
        self.assertEqual(error.code, "E_BAD_MESSAGE")
        self.assertEqual(error.description, "PUB message too big 101 > 100")
        self.assertEqual(producer.connectionCount, 0)
        later = producer.publish("t", b"after")
        self.network.advance(2.0)
        self.successResultOf(later)
        self.assertEqual(drain(self.nsqd, "t"), [b"after"])

    def test_localErrors(self) -> None:
        """
        Publishes nsqd would reject as fatal fail at once with nsqd's code,
        without being queued or sent.
        """
        producer = self.producer()
        self.assertEqual(
            self.failureResultOf(producer.publish("a b", b"x"), NSQBadTopic).value.code,
            "E_BAD_TOPIC",
        )
        self.assertEqual(
            self.failureResultOf(producer.multiPublish("t", []), NSQError).value.code,
            "E_BAD_BODY",
        )
        self.assertEqual(
            self.failureResultOf(
                producer.deferredPublish("t", -1, b"x"), NSQError
            ).value.code,
            "E_INVALID",
        )
        self.assertEqual(producer.pendingCount, 0)
        self.network.flush()
        self.assertEqual(producer.connectionCount, 1)

    def test_queuedUntilConnected(self) -> None:
        """
        Publishes made before a connection is ready wait, in order, and
        are sent once it is.
        """
        self.nsqd.refuse = True
        producer = self.producer()
        waiting = [producer.publish("t", b"%d" % i) for i in range(5)]
        self.network.flush()
        self.assertEqual(producer.pendingCount, 5)
        for d in waiting:
            self.assertNoResult(d)
        self.nsqd.refuse = False
        self.network.advance(2.0)
        for d in waiting:
            self.successResultOf(d)
        self.assertEqual(drain(self.nsqd, "t"), [b"0", b"1", b"2", b"3", b"4"])

    def test_boundedQueue(self) -> None:
        """
        With no connection, at most C{maxPending} publishes wait; the next
        one fails at once with L{PublishQueueFull}.
        """
        self.nsqd.refuse = True
        producer = self.producer(maxPending=2)
        first = producer.publish("t", b"1")
        second = producer.publish("t", b"2")
        self.failureResultOf(producer.publish("t", b"3"), PublishQueueFull)
        self.assertNoResult(first)
        self.assertNoResult(second)

    def test_reconnectBackoff(self) -> None:
        """
        Failed connection attempts are retried with the growing delays of
        the retry policy, and the count starts over after a successful
        connection.
        """
        self.nsqd.refuse = True
        delays: list[int] = []

        def policy(attempt: int) -> float:
            delays.append(attempt)
            return float(2**attempt)

        producer = self.producer(retryPolicy=policy)
        self.network.advance(2.0 + 4.0 + 8.0 - 0.5)
        self.assertEqual(self.nsqd.connectAttempts, 3)
        self.assertEqual(delays, [1, 2, 3])
        self.network.advance(0.5)
        self.assertEqual(self.nsqd.connectAttempts, 4)
        self.nsqd.refuse = False
        self.network.advance(16.0)
        self.assertEqual(producer.connectionCount, 1)
        self.nsqd.dropConnections()
        self.network.flush()
        self.assertEqual(producer.connectionCount, 0)
        self.assertEqual(delays[-1], 1)
        self.network.advance(2.0)
        self.assertEqual(producer.connectionCount, 1)

    def test_handshakeFailureBacksOff(self) -> None:
        """
        An nsqd that accepts connections but rejects IDENTIFY is retried
        with growing delays too (the handshake failures count as failed
        attempts).
        """
        delays: list[float] = []

        def policy(attempt: int) -> float:
            delays.append(float(2**attempt))
            return delays[-1]

        self.producer(
            retryPolicy=policy, identify=IdentifyOptions(heartbeatIntervalMs=999)
        )
        self.network.advance(2.0 + 4.0 + 8.0)
        self.assertEqual(delays, [2.0, 4.0, 8.0, 16.0])
        self.flushLoggedErrors()
        self.assertEqual(self.nsqd.connectAttempts, 4)

    def test_lostConnectionFailsOutstanding(self) -> None:
        """
        Publishes sent on a connection that drops before nsqd answers fail
        with L{ConnectionClosed}; the producer reconnects.
        """
        producer = self.producer()
        self.network.flush()
        published = producer.publish("t", b"x")
        self.nsqd.dropConnections()
        self.network.flush()
        self.failureResultOf(published, ConnectionClosed)
        self.network.advance(2.0)
        self.assertEqual(producer.connectionCount, 1)

    def test_retryFromErrback(self) -> None:
        """
        A publish retried from the errback of one that failed with its
        connection is queued (not sent on the dead connection) and goes out
        once the producer has reconnected.
        """
        producer = self.producer()
        self.network.flush()
        retried: list[Deferred[None]] = []

        def retry(reason: Failure) -> None:
            reason.trap(ConnectionClosed)
            retried.append(producer.publish("t", b"again"))

        producer.publish("t", b"x").addErrback(retry)
        self.nsqd.dropConnections()
        self.network.flush()
        self.assertEqual(producer.pendingCount, 1)
        self.network.advance(2.0)
        self.successResultOf(retried[0])
        self.assertIn(b"again", drain(self.nsqd, "t"))

    def test_stop(self) -> None:
        """
        C{stop} waits for nsqd to answer publishes already sent, fails
        those still waiting for a connection with L{NotConnected}, closes
        the connection, and refuses publishes from then on.
        """
        producer = self.producer()
        self.network.flush()
        sent = producer.publish("t", b"x")
        stopped = producer.stop()
        self.assertNoResult(stopped)
        self.failureResultOf(producer.publish("t", b"y"), NotConnected)
        self.network.flush()
        self.successResultOf(sent)
        self.successResultOf(stopped)
        self.assertEqual(self.nsqd.connections, [])
        self.assertEqual(drain(self.nsqd, "t"), [b"x"])

    def test_stopFailsQueued(self) -> None:
        """
        Publishes queued while no connection was ever ready, and
        L{Producer.whenConnected}, fail with L{NotConnected} when the
        producer stops.
        """
        self.nsqd.refuse = True
        producer = self.producer()
        queued = producer.publish("t", b"x")
        connected = producer.whenConnected()
        stopped = producer.stop()
        self.network.flush()
        self.failureResultOf(queued, NotConnected)
        self.failureResultOf(connected, NotConnected)
        self.successResultOf(stopped)

    def test_whenConnected(self) -> None:
        """
        C{whenConnected} fires once a connection finished its handshake.
        """
        producer = self.producer()
        waiting = producer.whenConnected()
        self.assertNoResult(waiting)
        self.network.flush()
        self.successResultOf(waiting)
        self.successResultOf(producer.whenConnected())

    def test_heartbeats(self) -> None:
        """
        An idle producer answers heartbeats and keeps its connection.
        """
        producer = self.producer(identify=IdentifyOptions(heartbeatIntervalMs=1000))
        self.network.advance(10.0)
        self.assertEqual(producer.connectionCount, 1)
        self.assertEqual(self.nsqd.connectAttempts, 1)


class PoolTests(SynchronousTestCase):
    """
    Publishing through several nsqds.
    """

    def test_roundRobin(self) -> None:
        """
        Publishes alternate between the ready connections; when one nsqd
        goes away, the others take all of them.
        """
        network = MemoryNetwork()
        first, second = network.nsqd(), network.nsqd()
        for nsqd in (first, second):
            nsqd.channel("t", "c")
        producer = Producer(
            [first.endpoint(), second.endpoint()], reactor=network.clock
        )
        producer.start()
        network.flush()
        self.assertEqual(producer.connectionCount, 2)
        for i in range(6):
            producer.publish("t", b"%d" % i)
        network.flush()
        self.assertEqual(len(drain(first, "t")), 3)
        self.assertEqual(len(drain(second, "t")), 3)
        first.refuse = True
        first.dropConnections()
        network.flush()
        results = [producer.publish("t", b"more") for _ in range(4)]
        network.flush()
        for d in results:
            self.successResultOf(d)
        self.assertEqual(len(drain(second, "t")), 4)
        self.assertEqual(drain(first, "t"), [])
