"""
Tests for L{txnsq.client.Consumer}, against in-memory nsqds on a clock:
handling and answering messages, RDY distribution, backoff, discovery and
graceful stop.
"""

from __future__ import annotations

import json
from random import Random
from typing import Any

from treq.testing import StubTreq
from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import Request

from tests.client._memory import MemoryNetwork, MemoryNSQD
from txnsq.client import Consumer, IdentifyOptions, Message, NotConnected, Producer

TOPIC = "t"
CHANNEL = "c"


class HandlerError(Exception):
    """
    What failing test handlers raise.
    """


class ConsumerTestCase(SynchronousTestCase):
    """
    Helpers: a memory network, consumers on it, publishing.
    """

    def setUp(self) -> None:
        self.network = MemoryNetwork()
        self.received: list[Message] = []

    def record(self, message: Message) -> None:
        """
        A handler that records each message and succeeds.
        """
        self.received.append(message)

    def consumer(self, *nsqds: MemoryNSQD, **kwargs: Any) -> Consumer:
        """
        A started consumer of C{t/c} on C{nsqds}.
        """
        kwargs.setdefault("handler", self.record)
        kwargs.setdefault("random", Random(1))
        kwargs.setdefault("retryPolicy", lambda attempt: 1.0)
        if nsqds:
            kwargs.setdefault("nsqdAddresses", [n.address for n in nsqds])
        handler = kwargs.pop("handler")
        consumer = Consumer(
            TOPIC,
            CHANNEL,
            handler,
            reactor=self.network.clock,
            endpointFactory=self.network.endpointFor,
            **kwargs,
        )
        consumer.start()
        self.network.flush()
        return consumer

    def publish(self, nsqd: MemoryNSQD, *bodies: bytes, topic: str = TOPIC) -> None:
        """
        Publish C{bodies} on C{nsqd} and deliver what follows.
        """
        nsqd.broker.publish(topic, list(bodies), self.network.clock.seconds())
        self.network.flush()

    def inFlight(self, nsqd: MemoryNSQD) -> int:
        """
        Messages in flight in nsqd's channel.
        """
        return len(nsqd.channel(TOPIC, CHANNEL).inFlight)


class HandlingTests(ConsumerTestCase):
    """
    The handler's outcome decides FIN or REQ.
    """

    def test_successFinishes(self) -> None:
        """
        Messages are handed to the handler with their id, body, timestamp
        and attempts; when it returns, each is FINed.
        """
        nsqd = self.network.nsqd()
        consumer = self.consumer(nsqd, maxInFlight=10)
        self.publish(nsqd, b"a", b"b")
        self.assertEqual([m.body for m in self.received], [b"a", b"b"])
        first = self.received[0]
        self.assertEqual(len(first.id), 16)
        self.assertEqual(first.attempts, 1)
        self.assertEqual(first.timestamp, 0)
        self.assertEqual(first.nsqdAddress, nsqd.address)
        self.assertEqual(self.inFlight(nsqd), 0)
        self.assertEqual(nsqd.connections[0].client.finishCount, 2)
        self.assertEqual((consumer.messagesReceived, consumer.messagesFinished), (2, 2))

    def test_failureRequeues(self) -> None:
        """
        When the handler raises, the message is REQed with a delay of
        C{requeueDelay} times its attempts, and comes back after that delay
        with attempts 2; the failure is logged.
        """
        nsqd = self.network.nsqd()

        def handler(message: Message) -> None:
            self.received.append(message)
            if message.attempts == 1:
                raise HandlerError("first try fails")

        consumer = self.consumer(nsqd, handler=handler, requeueDelay=1.5, backoff=None)
        self.publish(nsqd, b"x")
        self.assertEqual(len(self.flushLoggedErrors(HandlerError)), 1)
        channel = nsqd.channel(TOPIC, CHANNEL)
        self.assertEqual(channel.deferredCount(), 1)
        self.network.advance(1.4)
        self.assertEqual(len(self.received), 1)
        self.network.advance(0.1)
        self.assertEqual([m.attempts for m in self.received], [1, 2])
        self.assertEqual(self.received[0].id, self.received[1].id)
        self.assertEqual(self.inFlight(nsqd), 0)
        self.assertEqual((consumer.messagesRequeued, consumer.messagesFinished), (1, 1))

    def test_requeueDelayCapped(self) -> None:
        """
        The automatic requeue delay grows with attempts but never exceeds
        C{maxRequeueDelay}.
        """
        nsqd = self.network.nsqd()
        sent: list[bytes] = []

        def handler(message: Message) -> None:
            raise HandlerError()

        consumer = self.consumer(
            nsqd,
            handler=handler,
            requeueDelay=90.0,
            maxRequeueDelay=100.0,
            backoff=None,
        )
        [connection] = list(consumer._connections)
        write = connection.transport.write  # type: ignore[union-attr]

        def recording(data: bytes) -> None:
            sent.append(data)
            write(data)

        connection.transport.write = recording  # type: ignore[union-attr, method-assign]
        self.publish(nsqd, b"x")
        self.network.advance(90.0)
        self.flushLoggedErrors(HandlerError)
        requeues = [d.split()[-1] for d in sent if d.startswith(b"REQ ")]
        self.assertEqual(requeues, [b"90000", b"100000"])

    def test_deferredHandler(self) -> None:
        """
        A handler returning a Deferred keeps its message in flight until
        the Deferred fires; then it is FINed.
        """
        nsqd = self.network.nsqd()
        pending: list[Deferred[None]] = []

        def handler(message: Message) -> Deferred[None]:
            pending.append(Deferred())
            return pending[-1]

        self.consumer(nsqd, handler=handler)
        self.publish(nsqd, b"x")
        self.assertEqual(self.inFlight(nsqd), 1)
        pending[0].callback(None)
        self.network.flush()
        self.assertEqual(self.inFlight(nsqd), 0)

    def test_coroutineHandler(self) -> None:
        """
        A coroutine function works as a handler: its exception REQs.
        """
        nsqd = self.network.nsqd()
        gate: Deferred[None] = Deferred()

        async def handler(message: Message) -> None:
            await gate
            raise HandlerError()

        consumer = self.consumer(nsqd, handler=handler, backoff=None)
        self.publish(nsqd, b"x")
        self.assertEqual(self.inFlight(nsqd), 1)
        gate.callback(None)
        self.network.flush()
        self.assertEqual(consumer.messagesRequeued, 1)
        self.assertEqual(nsqd.channel(TOPIC, CHANNEL).deferredCount(), 1)
        self.flushLoggedErrors(HandlerError)

    def test_manualAnswers(self) -> None:
        """
        A handler may TOUCH and REQ its message itself; the consumer then
        does not answer it again, and C{backoff=False} leaves backoff
        alone.
        """
        nsqd = self.network.nsqd(msg_timeout=10.0)

        def handler(message: Message) -> None:
            self.received.append(message)
            if message.attempts == 1:
                message.touch()
                message.requeue(0, backoff=False)
                message.finish()

        consumer = self.consumer(nsqd, handler=handler)
        self.publish(nsqd, b"x")
        self.network.flush()
        self.assertEqual([m.attempts for m in self.received], [1, 2])
        self.assertEqual(consumer.backoffLevel, 0)
        self.assertEqual((consumer.messagesRequeued, consumer.messagesFinished), (1, 1))
        self.assertEqual(nsqd.connections[0].client.requeueCount, 1)

    def test_touch(self) -> None:
        """
        C{touch} restarts nsqd's in-flight timeout: a message touched before
        its 1 s timeout is not redelivered at 1 s.
        """
        nsqd = self.network.nsqd()
        held: list[Deferred[None]] = []

        def handler(message: Message) -> Deferred[None]:
            self.received.append(message)
            held.append(Deferred())
            return held[-1]

        self.consumer(
            nsqd, handler=handler, identify=IdentifyOptions(msgTimeoutMs=1000)
        )
        self.publish(nsqd, b"x")
        self.network.advance(0.8)
        self.received[0].touch()
        self.network.advance(0.8)
        self.assertEqual(len(self.received), 1)
        self.network.advance(0.3)
        self.assertEqual(len(self.received), 2)

    def test_disableAutoResponse(self) -> None:
        """
        After C{disableAutoResponse} the message stays in flight when the
        handler returns, until the application answers it.
        """
        nsqd = self.network.nsqd()

        def handler(message: Message) -> None:
            message.disableAutoResponse()
            self.received.append(message)

        consumer = self.consumer(nsqd, handler=handler)
        self.publish(nsqd, b"x")
        self.assertEqual(self.inFlight(nsqd), 1)
        self.assertEqual(consumer.inFlight, 1)
        self.received[0].finish()
        self.network.flush()
        self.assertEqual(self.inFlight(nsqd), 0)
        self.assertEqual(consumer.inFlight, 0)


class GiveUpTests(ConsumerTestCase):
    """
    Messages delivered more than C{maxAttempts} times.
    """

    def failingConsumer(self, nsqd: MemoryNSQD, **kwargs: Any) -> Consumer:
        """
        A consumer whose handler always fails, requeueing at once.
        """

        def handler(message: Message) -> None:
            self.received.append(message)
            raise HandlerError()

        return self.consumer(
            nsqd, handler=handler, maxAttempts=2, requeueDelay=0, backoff=None, **kwargs
        )

    def test_giveUpHook(self) -> None:
        """
        The third delivery of a message with C{maxAttempts=2} goes to the
        give-up hook instead of the handler, and is FINed.
        """
        nsqd = self.network.nsqd()
        given: list[Message] = []
        consumer = self.failingConsumer(nsqd, giveUp=given.append)
        self.publish(nsqd, b"x")
        self.assertEqual([m.attempts for m in self.received], [1, 2])
        self.assertEqual([m.attempts for m in given], [3])
        self.assertEqual(self.inFlight(nsqd), 0)
        self.assertEqual(nsqd.channel(TOPIC, CHANNEL).depth(), 0)
        self.assertEqual((consumer.messagesGivenUp, consumer.messagesFinished), (1, 1))
        self.flushLoggedErrors(HandlerError)

    def test_deadLetter(self) -> None:
        """
        A give-up hook can publish the message to a dead-letter topic; the
        message is FINed only once the publish was acknowledged.
        """
        nsqd = self.network.nsqd()
        nsqd.channel("t-dead", "archive")
        producer = Producer(
            [nsqd.address],
            reactor=self.network.clock,
            endpointFactory=self.network.endpointFor,
        )

        def giveUp(message: Message) -> Deferred[None]:
            return producer.publish("t-dead", message.body)

        self.failingConsumer(nsqd, giveUp=giveUp)
        self.publish(nsqd, b"poison")
        # No producer connection yet: the message waits in flight.
        self.assertEqual(self.inFlight(nsqd), 1)
        producer.start()
        self.network.flush()
        self.assertEqual(self.inFlight(nsqd), 0)
        dead = nsqd.channel("t-dead", "archive")
        self.assertEqual(dead.depth(), 1)
        self.flushLoggedErrors(HandlerError)

    def test_hookFailureRequeues(self) -> None:
        """
        If the give-up hook fails, the message is REQed rather than lost,
        and the hook gets it again on its next delivery.
        """
        nsqd = self.network.nsqd()
        calls: list[int] = []

        def giveUp(message: Message) -> None:
            calls.append(message.attempts)
            if len(calls) == 1:
                raise HandlerError("dead-letter store down")

        self.failingConsumer(nsqd, giveUp=giveUp)
        self.publish(nsqd, b"x")
        self.assertEqual(calls, [3, 4])
        self.assertEqual(nsqd.channel(TOPIC, CHANNEL).depth(), 0)
        self.assertEqual(self.inFlight(nsqd), 0)
        self.flushLoggedErrors(HandlerError)

    def test_noHookFinishes(self) -> None:
        """
        Without a hook the message is logged and FINed.
        """
        nsqd = self.network.nsqd()
        consumer = self.failingConsumer(nsqd)
        self.publish(nsqd, b"x")
        self.assertEqual(consumer.messagesGivenUp, 1)
        self.assertEqual(self.inFlight(nsqd), 0)
        self.assertEqual(nsqd.channel(TOPIC, CHANNEL).depth(), 0)
        self.flushLoggedErrors(HandlerError)


class RdyTests(ConsumerTestCase):
    """
    How C{maxInFlight} is spread over connections.
    """

    def test_singleConnection(self) -> None:
        """
        One connection gets all of C{maxInFlight}, but never more than
        nsqd's C{max_rdy_count}.
        """
        nsqd = self.network.nsqd()
        self.consumer(nsqd, maxInFlight=10)
        self.assertEqual(nsqd.subscriberRdy(), [10])
        capped = self.network.nsqd(max_rdy_count=3)
        self.consumer(capped, maxInFlight=10)
        self.assertEqual(capped.subscriberRdy(), [3])

    def test_evenSplit(self) -> None:
        """
        C{maxInFlight} is split evenly (rounding down) as connections come
        and go, and the sum of RDY never exceeds it.
        """
        first, second, third = (self.network.nsqd() for _ in range(3))
        third.refuse = True
        consumer = self.consumer(first, second, third, maxInFlight=10)

        def total() -> int:
            return sum(sum(n.subscriberRdy()) for n in (first, second, third))

        self.assertEqual((first.subscriberRdy(), second.subscriberRdy()), ([5], [5]))
        third.refuse = False
        self.network.advance(1.0, each=lambda: self.assertLessEqual(total(), 10))
        self.assertEqual(consumer.connectionCount, 3)
        self.assertEqual(
            [n.subscriberRdy() for n in (first, second, third)], [[3], [3], [3]]
        )
        first.refuse = True
        first.dropConnections()
        self.network.flush()
        self.assertEqual([n.subscriberRdy() for n in (second, third)], [[5], [5]])
        self.assertEqual(sorted(consumer.rdyCounts().values()), [5, 5])

    def test_redistribution(self) -> None:
        """
        With more connections than C{maxInFlight}, only C{maxInFlight}
        connections have RDY 1; the RDY of a connection idle for
        C{lowRdyIdleTimeout} moves elsewhere at each redistribution, so a
        message on any nsqd is eventually delivered, and the total never
        exceeds C{maxInFlight}.
        """
        nsqds = [self.network.nsqd() for _ in range(4)]
        self.consumer(
            *nsqds, maxInFlight=1, rdyRedistributeInterval=5.0, lowRdyIdleTimeout=10.0
        )

        def total() -> int:
            return sum(sum(n.subscriberRdy()) for n in nsqds)

        self.assertEqual(total(), 1)
        for index, nsqd in enumerate(nsqds):
            self.publish(nsqd, b"%d" % index)
        self.network.advance(
            120.0, step=1.0, each=lambda: self.assertLessEqual(total(), 1)
        )
        self.assertEqual(
            sorted(m.body for m in self.received), [b"0", b"1", b"2", b"3"]
        )

    def test_setMaxInFlight(self) -> None:
        """
        Changing C{maxInFlight} resends RDY; 0 pauses delivery.
        """
        nsqd = self.network.nsqd()
        consumer = self.consumer(nsqd, maxInFlight=4)
        consumer.setMaxInFlight(0)
        self.network.flush()
        self.assertEqual(nsqd.subscriberRdy(), [0])
        self.publish(nsqd, b"x")
        self.assertEqual(self.received, [])
        consumer.setMaxInFlight(2)
        self.network.flush()
        self.assertEqual(nsqd.subscriberRdy(), [2])
        self.assertEqual(len(self.received), 1)

    def test_setMaxInFlightSeveralConnections(self) -> None:
        """
        With several nsqds, lowering C{maxInFlight} lowers every share and 0
        pauses every connection (RDY 0 on each); raising it again resumes.
        """
        nsqds = [self.network.nsqd() for _ in range(3)]
        consumer = self.consumer(*nsqds, maxInFlight=9)
        self.assertEqual([n.subscriberRdy() for n in nsqds], [[3], [3], [3]])
        consumer.setMaxInFlight(3)
        self.network.flush()
        self.assertEqual([n.subscriberRdy() for n in nsqds], [[1], [1], [1]])
        consumer.setMaxInFlight(0)
        self.network.flush()
        self.assertEqual([n.subscriberRdy() for n in nsqds], [[0], [0], [0]])
        for nsqd in nsqds:
            self.publish(nsqd, b"x")
        self.assertEqual(self.received, [])
        consumer.setMaxInFlight(6)
        self.network.flush()
        self.assertEqual([n.subscriberRdy() for n in nsqds], [[2], [2], [2]])
        self.assertEqual(len(self.received), 3)

    def test_isStarved(self) -> None:
        """
        C{isStarved} turns true once a connection's in-flight messages reach
        85% of its RDY.
        """
        nsqd = self.network.nsqd()
        held: list[Deferred[None]] = []

        def handler(message: Message) -> Deferred[None]:
            held.append(Deferred())
            return held[-1]

        consumer = self.consumer(nsqd, handler=handler, maxInFlight=2)
        self.assertFalse(consumer.isStarved())
        self.publish(nsqd, b"1")
        self.assertFalse(consumer.isStarved())
        self.publish(nsqd, b"2")
        self.assertTrue(consumer.isStarved())
        held[0].callback(None)
        self.assertFalse(consumer.isStarved())


class BackoffTests(ConsumerTestCase):
    """
    Backing off after failures, as go-nsq does.
    """

    def setUp(self) -> None:
        super().setUp()
        self.failing = True

        def handler(message: Message) -> None:
            self.received.append(message)
            if self.failing:
                raise HandlerError()

        self.handler = handler

    def test_backoffAndRecovery(self) -> None:
        """
        A failure sends RDY 0 for 2 s (level 1); then RDY 1 tests the
        waters.  A failure there raises the level (4 s); successes lower it
        one level per window, and at level 0 the full RDY is restored.
        Results during a backoff window are not counted.
        """
        nsqd = self.network.nsqd()
        consumer = self.consumer(
            nsqd, handler=self.handler, maxInFlight=5, requeueDelay=0.0
        )
        self.publish(nsqd, b"a", b"b")
        # Both failed; only the first counted.
        self.assertEqual(consumer.backoffLevel, 1)
        self.assertEqual(nsqd.subscriberRdy(), [0])
        self.network.advance(1.9)
        self.assertEqual(len(self.received), 2)
        self.network.advance(0.1)
        # RDY 1 let one message through; it failed too: level 2, 4 s.
        self.assertEqual(len(self.received), 3)
        self.assertEqual(consumer.backoffLevel, 2)
        self.assertEqual(nsqd.subscriberRdy(), [0])
        self.failing = False
        self.network.advance(3.9)
        self.assertEqual(len(self.received), 3)
        self.network.advance(0.1)
        # Success: back to level 1, another 2 s window.
        self.assertEqual(len(self.received), 4)
        self.assertEqual(consumer.backoffLevel, 1)
        self.assertEqual(nsqd.subscriberRdy(), [0])
        self.network.advance(2.0)
        self.assertEqual(len(self.received), 5)
        self.assertEqual(consumer.backoffLevel, 0)
        self.assertEqual(nsqd.subscriberRdy(), [5])
        self.assertEqual(nsqd.channel(TOPIC, CHANNEL).depth(), 0)
        self.assertEqual(self.inFlight(nsqd), 0)
        self.flushLoggedErrors(HandlerError)

    def test_maxBackoffDuration(self) -> None:
        """
        The level stops rising once the next duration would exceed
        C{maxBackoffDuration}.
        """
        nsqd = self.network.nsqd()
        consumer = self.consumer(
            nsqd,
            handler=self.handler,
            requeueDelay=0.0,
            maxBackoffDuration=8.0,
            maxAttempts=0,
        )
        self.publish(nsqd, b"a")
        self.network.advance(60.0)
        self.assertEqual(consumer.backoffLevel, 3)
        self.flushLoggedErrors(HandlerError)

    def test_disabled(self) -> None:
        """
        With C{backoff=None} failures do not change RDY.
        """
        nsqd = self.network.nsqd()
        consumer = self.consumer(
            nsqd, handler=self.handler, maxInFlight=5, backoff=None
        )
        self.publish(nsqd, b"a")
        self.assertEqual(consumer.backoffLevel, 0)
        self.assertEqual(nsqd.subscriberRdy(), [5])
        self.flushLoggedErrors(HandlerError)

    def test_resumeOnOneConnection(self) -> None:
        """
        With several connections, backoff sets RDY 0 on all of them; its
        expiry gives RDY 1 to exactly one, and while backing off that one
        RDY moves between idle connections until it finds the message.
        Once the message succeeds, every connection gets its share again.
        """
        nsqds = [self.network.nsqd() for _ in range(3)]
        held: list[Deferred[None]] = []

        def handler(message: Message) -> Deferred[None] | None:
            self.received.append(message)
            if message.attempts == 1:
                raise HandlerError()
            held.append(Deferred())
            return held[-1]

        consumer = self.consumer(
            *nsqds, handler=handler, maxInFlight=9, requeueDelay=0.0
        )
        self.publish(nsqds[1], b"a")
        self.assertEqual(consumer.backoffLevel, 1)
        self.assertEqual([n.subscriberRdy() for n in nsqds], [[0], [0], [0]])

        def total() -> int:
            return sum(sum(n.subscriberRdy()) for n in nsqds)

        self.network.advance(2.0)
        self.assertEqual(total(), 1)
        self.network.advance(60.0, each=lambda: self.assertLessEqual(total(), 1))
        self.assertEqual([m.attempts for m in self.received], [1, 2])
        held[0].callback(None)
        self.network.flush()
        self.assertEqual([n.subscriberRdy() for n in nsqds], [[3], [3], [3]])
        self.assertEqual(consumer.backoffLevel, 0)
        self.flushLoggedErrors(HandlerError)


class StopTests(ConsumerTestCase):
    """
    Graceful stop.
    """

    def test_gracefulStop(self) -> None:
        """
        C{stop} sends CLS, so nothing more is delivered; it waits for the
        handler still running, whose message is FINed; then it closes the
        connection.  Messages not yet delivered stay in nsqd.
        """
        nsqd = self.network.nsqd()
        held: list[Deferred[None]] = []

        def handler(message: Message) -> Deferred[None]:
            self.received.append(message)
            held.append(Deferred())
            return held[-1]

        consumer = self.consumer(nsqd, handler=handler, maxInFlight=1)
        self.publish(nsqd, b"first")
        stopped = consumer.stop()
        self.network.flush()
        self.assertNoResult(stopped)
        self.assertEqual(nsqd.connections[0].client.state, 4)  # closing
        self.publish(nsqd, b"second")
        self.assertEqual(len(self.received), 1)
        held[0].callback(None)
        self.network.flush()
        self.successResultOf(stopped)
        self.assertEqual(nsqd.connections, [])
        channel = nsqd.channel(TOPIC, CHANNEL)
        self.assertEqual(len(channel.inFlight), 0)
        self.assertEqual(channel.depth(), 1)
        self.successResultOf(consumer.stop())

    def test_stopBounded(self) -> None:
        """
        A handler that never returns keeps C{stop} waiting at most
        C{stopTimeout} seconds; then the connection is closed and the
        message, unanswered, stays with nsqd.
        """
        nsqd = self.network.nsqd()

        def handler(message: Message) -> Deferred[None]:
            self.received.append(message)
            return Deferred()

        consumer = self.consumer(nsqd, handler=handler, stopTimeout=5.0)
        self.publish(nsqd, b"stuck")
        stopped = consumer.stop()
        self.network.advance(4.9)
        self.assertNoResult(stopped)
        self.network.advance(0.1)
        self.successResultOf(stopped)
        self.assertEqual(nsqd.connections, [])
        self.assertEqual(len(self.received), 1)
        # Unanswered: nsqd still holds it, to deliver again after its
        # message timeout.
        channel = nsqd.channel(TOPIC, CHANNEL)
        self.assertEqual(channel.depth() + len(channel.inFlight), 1)

    def test_stopWhileConnecting(self) -> None:
        """
        Stopping while no connection is up stops the retries, and fails
        L{Consumer.whenSubscribed}.
        """
        nsqd = self.network.nsqd()
        nsqd.refuse = True
        consumer = self.consumer(nsqd)
        subscribed = consumer.whenSubscribed()
        stopped = consumer.stop()
        self.network.flush()
        self.successResultOf(stopped)
        self.failureResultOf(subscribed, NotConnected)
        attempts = nsqd.connectAttempts
        self.network.advance(30.0)
        self.assertEqual(nsqd.connectAttempts, attempts)

    def test_reconnects(self) -> None:
        """
        A configured nsqd that drops the connection is reconnected and
        subscribed again.
        """
        nsqd = self.network.nsqd()
        consumer = self.consumer(nsqd, maxInFlight=3)
        nsqd.dropConnections()
        self.network.flush()
        self.assertEqual(consumer.connectionCount, 0)
        self.network.advance(1.0)
        self.assertEqual(consumer.connectionCount, 1)
        self.assertEqual(nsqd.subscriberRdy(), [3])
        self.successResultOf(consumer.whenSubscribed())


class _Lookupd(Resource):
    """
    A fake nsqlookupd C{/lookup} serving a settable producer list.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.producers: list[MemoryNSQD] = []
        self.requests: list[bytes] = []

    def render_GET(self, request: Request) -> bytes:
        """
        The lookup answer for the current producers.
        """
        self.requests.append(request.uri)
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        body = {
            "channels": [CHANNEL],
            "producers": [
                {
                    "remote_address": "127.0.0.1:1",
                    "hostname": "h",
                    "broadcast_address": "127.0.0.1",
                    "tcp_port": n.port,
                    "http_port": n.port + 1,
                    "version": "1.3.0",
                }
                for n in self.producers
            ],
        }
        return json.dumps(body).encode()


class DiscoveryTests(ConsumerTestCase):
    """
    Finding nsqds through nsqlookupd.
    """

    def test_discovery(self) -> None:
        """
        The consumer polls C{/lookup?topic=} at once, connects to every
        listed nsqd, and on later polls connects to newly listed ones.
        """
        lookupd = _Lookupd()
        first, second = self.network.nsqd(), self.network.nsqd()
        lookupd.producers = [first]
        consumer = self.consumer(
            lookupdHTTPAddresses=["lookupd.example:4161"],
            httpClient=StubTreq(lookupd),
            lookupdPollInterval=10.0,
            lookupdPollJitter=0.0,
            maxInFlight=4,
        )
        self.assertEqual(lookupd.requests, [b"/lookup?topic=t"])
        self.assertEqual(consumer.connectionCount, 1)
        self.assertEqual(first.subscriberRdy(), [4])
        lookupd.producers = [first, second]
        self.network.advance(10.0)
        self.assertEqual(len(lookupd.requests), 2)
        self.assertEqual(consumer.connectionCount, 2)
        self.assertEqual([first.subscriberRdy(), second.subscriberRdy()], [[2], [2]])

    def test_discoveredNotReconnectedUntilListed(self) -> None:
        """
        A discovered nsqd whose connection drops is not reconnected on its
        own: only when a later poll lists it again.
        """
        lookupd = _Lookupd()
        nsqd = self.network.nsqd()
        lookupd.producers = [nsqd]
        consumer = self.consumer(
            lookupdHTTPAddresses=["http://lookupd.example:4161/"],
            httpClient=StubTreq(lookupd),
            lookupdPollInterval=60.0,
            lookupdPollJitter=0.0,
        )
        self.assertEqual(nsqd.connectAttempts, 1)
        nsqd.dropConnections()
        self.network.advance(59.0)
        self.assertEqual(consumer.connectionCount, 0)
        self.assertEqual(nsqd.connectAttempts, 1)
        self.network.advance(1.0)
        self.assertEqual(consumer.connectionCount, 1)
        self.assertEqual(nsqd.connectAttempts, 2)

    def test_stopStopsPolling(self) -> None:
        """
        After C{stop} nsqlookupd is not polled again.
        """
        lookupd = _Lookupd()
        consumer = self.consumer(
            lookupdHTTPAddresses=["lookupd.example:4161"],
            httpClient=StubTreq(lookupd),
            lookupdPollInterval=10.0,
        )
        self.successResultOf(consumer.stop())
        self.network.advance(60.0)
        self.assertEqual(len(lookupd.requests), 1)


class ConfigurationTests(SynchronousTestCase):
    """
    Arguments checked up front.
    """

    def test_invalid(self) -> None:
        """
        Invalid names, no nsqd source, or a negative C{maxInFlight} raise
        L{ValueError}.
        """
        clock = MemoryNetwork().clock

        def make(**kwargs: Any) -> Consumer:
            args: dict[str, Any] = {
                "topic": "t",
                "channel": "c",
                "nsqdAddresses": ["127.0.0.1:4150"],
            }
            args.update(kwargs)
            return Consumer(handler=lambda m: succeed(None), reactor=clock, **args)

        error = self.assertRaises(ValueError, make, topic="bad topic")
        self.assertIn("invalid topic name 'bad topic': use 1 to 64", str(error))
        error = self.assertRaises(ValueError, make, channel="")
        self.assertTrue(str(error).startswith("invalid channel name"))
        error = self.assertRaises(ValueError, make, nsqdAddresses=[])
        self.assertIn("lookupdHTTPAddresses=['127.0.0.1:4161']", str(error))
        self.assertRaises(ValueError, make, maxInFlight=-1)
        self.assertRaises(ValueError, make, nsqdAddresses=["nohost"])
