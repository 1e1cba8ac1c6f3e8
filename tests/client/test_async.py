"""
The client's async ergonomics against a real txnsq nsqd (127.0.0.1, port 0,
in this process): C{async for message in consumer.messages()} with its
back-pressure, C{break} and stop; C{async with} for both clients; both as
L{IService}s in a L{MultiService}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zope.interface.verify import verifyObject

from twisted.application.service import IService, MultiService
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.client.test_integration import startNSQD, subscribersClosed
from txnsq.client import ConnectFailed, Consumer, Message, Producer, PublishTimeout
from txnsq.client._inbox import Inbox, MessageStream
from txnsq.nsqd.service import NSQDService


async def waitFor(condition: Callable[[], bool]) -> None:
    """
    Let the reactor run until C{condition()} holds (the test's timeout
    bounds it).
    """
    while not condition():
        await deferLater(reactor, 0.01, lambda: None)


async def roundTrip(producer: Producer, topic: str = "other") -> None:
    """
    Publish to another topic and wait for nsqd's OK: everything nsqd would
    have done by now (deliver more messages, say) has reached the client.
    """
    await producer.publish(topic, b"x")
    await deferLater(reactor, 0.05, lambda: None)
    await producer.publish(topic, b"x")


def channelOf(service: NSQDService, topic: str = "t", channel: str = "c") -> Any:
    """
    nsqd's state of C{topic}/C{channel}.
    """
    return service.broker.topics[topic].channels[channel]


class AsyncTestCase(TestCase):
    """
    Real nsqd, real reactor, clients stopped at the end.
    """

    timeout = 60

    def consumer(self, address: str, **kwargs: Any) -> Consumer:
        """
        A consumer of C{t/c} without a handler, stopped at the end.
        """
        kwargs.setdefault("maxInFlight", 5)
        consumer = Consumer(
            kwargs.pop("topic", "t"),
            kwargs.pop("channel", "c"),
            nsqdAddresses=[address],
            reactor=reactor,
            **kwargs,
        )
        self.addCleanup(consumer.stop)
        return consumer

    async def producer(self, address: str) -> Producer:
        """
        A connected producer, stopped at the end.
        """
        producer = Producer([address], reactor=reactor)
        self.addCleanup(producer.stop)
        await producer.connect()
        return producer

    async def published(
        self, address: str, count: int, topic: str = "t"
    ) -> tuple[Producer, list[bytes]]:
        """
        Publish C{count} messages to C{topic}.
        """
        producer = await self.producer(address)
        bodies = [b"%d" % i for i in range(count)]
        await producer.multiPublish(topic, bodies)
        return producer, bodies


class IterationTests(AsyncTestCase):
    """
    C{async for message in consumer.messages()}.
    """

    async def test_allMessagesFinished(self) -> None:
        """
        The loop gets every message once; moving on to the next message
        FINs the previous one, and leaving C{async with} FINs the last.
        """
        service, address = await startNSQD(self)
        _, bodies = await self.published(address, 30)
        received: list[bytes] = []
        async with self.consumer(address) as consumer:
            async for message in consumer.messages():
                received.append(message.body)
                if len(received) == len(bodies):
                    closed = subscribersClosed(service)
                    break
        await closed
        self.assertEqual(received, bodies)
        self.assertEqual(consumer.messagesFinished, 30)
        self.assertEqual(consumer.messagesRequeued, 0)
        channel = channelOf(service)
        self.assertEqual((len(channel.inFlight), channel.depth()), (0, 0))
        self.assertEqual(channel.requeueCount, 0)

    async def test_backPressure(self) -> None:
        """
        A loop body that does not move on stops delivery once C{maxInFlight}
        messages are in flight: nsqd sends no more, the consumer holds at
        most C{maxInFlight} messages; moving on lets the rest through.
        """
        service, address = await startNSQD(self)
        producer, bodies = await self.published(address, 20)
        consumer = self.consumer(address, maxInFlight=3)
        stream = consumer.messages()
        first = await stream.__anext__()
        self.assertEqual(first.body, b"0")
        await waitFor(lambda: consumer.messagesReceived == 3)
        await roundTrip(producer)
        self.assertEqual(consumer.messagesReceived, 3)
        self.assertEqual(consumer.waitingCount, 2)
        self.assertEqual(len(channelOf(service).inFlight), 3)
        received = [first.body]
        waiting = []
        async for message in stream:
            waiting.append(consumer.waitingCount)
            received.append(message.body)
            if len(received) == len(bodies):
                message.finish()
                break
        self.assertEqual(received, bodies)
        self.assertLessEqual(max(waiting), 2)
        self.assertEqual(consumer.messagesReceived, 20)

    async def test_waitingLoopEndsOnStop(self) -> None:
        """
        A loop waiting for a message ends when the consumer stops.
        """
        _, address = await startNSQD(self)
        consumer = self.consumer(address)
        consumer.start()
        await consumer.whenSubscribed()
        seen: list[Message] = []

        async def loop() -> str:
            async for message in consumer.messages():
                seen.append(message)
            return "ended"

        looping = Deferred.fromCoroutine(loop())
        self.assertNoResult(looping)
        await consumer.stop()
        self.assertEqual(await looping, "ended")
        self.assertEqual(seen, [])
        # A loop started after the stop ends at once.
        self.assertEqual(await Deferred.fromCoroutine(loop()), "ended")

    async def test_stopDuringTheBody(self) -> None:
        """
        C{stop()} called while the body works on a message waits for the
        body to move on (which FINs it); the loop then ends, and the messages
        it had not taken yet are requeued for other consumers at once.
        """
        service, address = await startNSQD(self)
        await self.published(address, 10)
        consumer = self.consumer(address, maxInFlight=4)
        stopping: list[Deferred[None]] = []
        gate: Deferred[None] = Deferred()
        received: list[bytes] = []

        async def loop() -> None:
            async for message in consumer.messages():
                received.append(message.body)
                if not stopping:
                    await waitFor(lambda: consumer.messagesReceived == 4)
                    stopping.append(consumer.stop())
                    await gate

        looping = Deferred.fromCoroutine(loop())
        await consumer.whenSubscribed()
        closed = subscribersClosed(service)
        await waitFor(lambda: bool(stopping))
        await deferLater(reactor, 0.1, lambda: None)
        self.assertNoResult(stopping[0])
        gate.callback(None)
        await stopping[0]
        await looping
        await closed
        self.assertEqual(received, [b"0"])
        channel = channelOf(service)
        self.assertEqual(channel.requeueCount, 3)
        self.assertEqual((len(channel.inFlight), channel.depth()), (0, 9))
        self.assertEqual((consumer.messagesFinished, consumer.messagesRequeued), (1, 3))

    async def test_breakLosesNothing(self) -> None:
        """
        After C{break} outside C{async with}, the held message stays in
        flight (here answered by hand), the waiting ones are requeued by
        C{stop()}, and another consumer gets every message not finished.
        """
        service, address = await startNSQD(self)
        _, bodies = await self.published(address, 10)
        consumer = self.consumer(address, maxInFlight=4)
        received: list[bytes] = []
        async for message in consumer.messages():
            received.append(message.body)
            if len(received) == 2:
                break
        await waitFor(lambda: consumer.messagesReceived == 5)
        # The held message and three waiting: maxInFlight.
        self.assertEqual(len(channelOf(service).inFlight), 4)
        self.assertFalse(message.hasResponded)
        message.finish()
        closed = subscribersClosed(service)
        await consumer.stop()
        await closed
        channel = channelOf(service)
        self.assertEqual(channel.requeueCount, 3)
        self.assertEqual((len(channel.inFlight), channel.depth()), (0, 8))

        rest: list[bytes] = []
        async with self.consumer(address, maxInFlight=4) as other:
            async for message in other.messages():
                rest.append(message.body)
                if len(rest) == 8:
                    break
        self.assertEqual(sorted(received + rest), sorted(bodies))

    async def test_unansweredAfterBreakTimesOut(self) -> None:
        """
        A message the body still holds after C{break} outside C{async with}
        is not answered: C{stop()} waits for it up to C{stopTimeout}, then
        closes, and the message stays in flight in nsqd until its message
        timeout.
        """
        service, address = await startNSQD(self)
        await self.published(address, 3)
        consumer = self.consumer(address, maxInFlight=1, stopTimeout=0.5)
        async for message in consumer.messages():  # noqa: B007
            break
        closed = subscribersClosed(service)
        await consumer.stop()
        await closed
        self.assertEqual(list(channelOf(service).inFlight), [message.id])
        self.assertFalse(message.hasResponded)

    async def test_connectionLost(self) -> None:
        """
        Messages waiting for the loop whose connection ends are dropped, not
        handed to the loop (they cannot be answered; nsqd delivers them
        again): the loop gets the redeliveries over the new connection,
        and the consumer stops without waiting for the dropped ones.
        """
        service, address = await startNSQD(self, msg_timeout=0.5)
        _, bodies = await self.published(address, 4)
        # No stop timeout: a dropped message still counted in flight would
        # make stop() hang.
        consumer = self.consumer(
            address,
            maxInFlight=4,
            retryPolicy=lambda attempt: 0.05,
            stopTimeout=None,
        )
        stream = consumer.messages()
        first = await stream.__anext__()
        await waitFor(lambda: consumer.waitingCount == 3)
        for connection in list(service.factory.connections):
            assert connection.transport is not None
            connection.transport.loseConnection()
        await waitFor(lambda: consumer.connectionCount == 0)
        received = []
        async for message in stream:
            self.assertEqual(message.attempts, 2)
            received.append(message.body)
            if len(received) == 4:
                message.finish()
                break
        self.assertEqual(sorted(received), sorted(bodies))
        # Moving on answered the first message too (a FIN nsqd never got).
        self.assertTrue(first.hasResponded)
        self.assertEqual(consumer.inFlight, 0)
        await consumer.stop()

    async def test_exceptionRequeues(self) -> None:
        """
        An exception leaving C{async with} requeues the held message (with
        the consumer's delay, as for a failed handler) and propagates.
        """
        service, address = await startNSQD(self)
        await self.published(address, 3)
        consumer = self.consumer(address, maxInFlight=1, requeueDelay=0)

        closing: list[Deferred[Any]] = []

        async def run() -> None:
            async with consumer:
                async for message in consumer.messages():
                    if message.body == b"1":
                        closing.append(subscribersClosed(service))
                        raise ValueError("cannot handle " + message.body.decode())

        with self.assertRaises(ValueError):
            await run()
        await closing[0]
        self.assertEqual((consumer.messagesFinished, consumer.messagesRequeued), (1, 1))
        channel = channelOf(service)
        self.assertEqual(channel.requeueCount, 1)
        self.assertEqual((len(channel.inFlight), channel.depth()), (0, 2))

    async def test_manualAnswers(self) -> None:
        """
        A message the body requeued, or whose automatic answer it disabled,
        is not FINed when the loop moves on; C{touch()} does not disable
        it.
        """
        service, address = await startNSQD(self)
        await self.published(address, 4)
        kept: list[Message] = []
        async with self.consumer(address, maxInFlight=4, requeueDelay=0) as consumer:
            async for message in consumer.messages():
                if message.body == b"0":
                    message.touch()
                elif message.body == b"1":
                    # Deferred in nsqd, no longer in flight.
                    message.requeue(60000, backoff=False)
                elif message.body == b"2":
                    message.disableAutoResponse()
                    kept.append(message)
                else:
                    await waitFor(lambda: len(channelOf(service).inFlight) == 2)
                    self.assertEqual(consumer.messagesFinished, 1)
                    self.assertEqual(consumer.messagesRequeued, 1)
                    kept[0].finish()
                    break
        self.assertEqual((consumer.messagesFinished, consumer.messagesRequeued), (3, 1))

    async def test_concurrentLoops(self) -> None:
        """
        Several loops over one consumer share its messages, each taken once
        (like go-nsq's concurrent handlers).
        """
        _, address = await startNSQD(self)
        _, bodies = await self.published(address, 40)
        consumer = self.consumer(address, maxInFlight=8)
        received: list[list[bytes]] = [[], []]
        done: Deferred[None] = Deferred()

        async def loop(mine: list[bytes]) -> None:
            async for message in consumer.messages():
                mine.append(message.body)
                # Let the other loop run.
                await deferLater(reactor, 0, lambda: None)
                if sum(map(len, received)) == len(bodies) and not done.called:
                    done.callback(None)

        loops = [Deferred.fromCoroutine(loop(mine)) for mine in received]
        await done
        await consumer.stop()
        await gatherResults(loops)
        self.assertEqual(sorted(received[0] + received[1]), sorted(bodies))
        self.assertTrue(received[0] and received[1])
        self.assertEqual(consumer.messagesFinished, 40)

    def test_handlerConsumerHasNoMessages(self) -> None:
        """
        A consumer with a handler cannot be iterated.
        """
        consumer = Consumer(
            "t", "c", lambda m: None, nsqdAddresses=["127.0.0.1:1"], reactor=reactor
        )
        with self.assertRaises(TypeError) as caught:
            consumer.messages()
        self.assertIn("without a handler", str(caught.exception))


class ProducerContextTests(AsyncTestCase):
    """
    C{async with Producer(...)}.
    """

    async def test_connectsAndStops(self) -> None:
        """
        Entering waits for a connection; leaving waits for the publishes
        sent and stops.
        """
        service, address = await startNSQD(self)
        async with Producer([address], reactor=reactor) as producer:
            self.assertEqual(producer.connectionCount, 1)
            publishing = producer.publish("t", b"hello")
        # The stop waited for nsqd's answer.
        self.successResultOf(publishing)
        self.assertFalse(producer.running)
        self.assertEqual(service.broker.topics["t"].messageCount, 1)

    def test_neverStarted(self) -> None:
        """
        A publish to a producer nobody started times out with an error
        that says so.
        """
        clock = Clock()
        producer = Producer(["127.0.0.1:4150"], reactor=clock, timeout=1.0)
        publishing = producer.publish("t", b"hello")
        clock.advance(1.0)
        error = self.failureResultOf(publishing, PublishTimeout).value
        self.assertIn("never started", str(error))

    async def test_unreachable(self) -> None:
        """
        Entering fails with L{ConnectFailed} when nsqd cannot be reached, and
        leaves the producer stopped.
        """
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            Factory.forProtocol(Protocol)
        )
        closed = f"127.0.0.1:{port.getHost().port}"
        await port.stopListening()
        producer = Producer([closed], reactor=reactor)
        entered = []
        with self.assertRaises(ConnectFailed) as caught:
            async with producer:
                entered.append(True)
        self.assertEqual(entered, [])
        self.assertIn(closed, str(caught.exception))
        self.assertFalse(producer.running)


class ServiceTests(AsyncTestCase):
    """
    Producer and Consumer as L{IService}s.
    """

    def test_interface(self) -> None:
        """
        Both provide L{IService}.
        """
        self.assertTrue(
            verifyObject(IService, Producer(["127.0.0.1:4150"], reactor=reactor))
        )
        self.assertTrue(
            verifyObject(
                IService,
                Consumer("t", "c", nsqdAddresses=["127.0.0.1:4150"], reactor=reactor),
            )
        )

    async def test_multiService(self) -> None:
        """
        In a L{MultiService}, starting the parent starts both; stopping it
        waits for their graceful stops.
        """
        service, address = await startNSQD(self)
        received: Deferred[Message] = Deferred()
        parent = MultiService()
        producer = Producer([address], reactor=reactor)
        consumer = Consumer(
            "t",
            "c",
            received.callback,
            nsqdAddresses=[address],
            reactor=reactor,
        )
        producer.setServiceParent(parent)
        consumer.setServiceParent(parent)
        parent.startService()
        self.assertTrue(producer.running and consumer.running)
        await producer.publish("t", b"through the services")
        self.assertEqual((await received).body, b"through the services")
        await parent.stopService()
        self.assertFalse(producer.running or consumer.running)
        self.assertEqual(producer.connectionCount, 0)
        self.assertEqual(consumer.connectionCount, 0)
        channel = channelOf(service)
        self.assertEqual((len(channel.inFlight), channel.depth()), (0, 0))


class _FakeMessage:
    """
    What the inbox needs of a message.
    """

    def __init__(self, name: str, live: bool = True) -> None:
        self.name = name
        self.live = live


class InboxTests(SynchronousTestCase):
    """
    L{Inbox} and L{MessageStream} without a consumer.
    """

    def setUp(self) -> None:
        self.discarded: list[Any] = []
        self.inbox = Inbox(lambda m: m.live, self.discarded.append)  # type: ignore[attr-defined]

    def test_skipsDeadConnections(self) -> None:
        """
        A waiting message whose connection ended is discarded, never
        handed to a loop.
        """
        dead, live = _FakeMessage("dead", live=False), _FakeMessage("live")
        self.inbox.put(dead)  # type: ignore[arg-type]
        self.inbox.put(live)  # type: ignore[arg-type]
        self.assertEqual(len(self.inbox), 2)
        self.assertIs(self.inbox.take(), live)
        self.assertEqual(self.discarded, [dead])
        self.assertIsNone(self.inbox.take())

    def test_waitersInOrder(self) -> None:
        """
        Messages go to the loop waiting longest; a cancelled wait gives its
        place up.
        """
        first, second, third = self.inbox.wait(), self.inbox.wait(), self.inbox.wait()
        second.cancel()
        self.failureResultOf(second)
        message = _FakeMessage("m")
        self.inbox.put(message)  # type: ignore[arg-type]
        self.assertIs(self.successResultOf(first), message)
        self.inbox.put(message)  # type: ignore[arg-type]
        self.assertIs(self.successResultOf(third), message)
        self.assertEqual(len(self.inbox), 0)

    def test_close(self) -> None:
        """
        Closing ends the waiting loops and gives back the waiting messages.
        """
        waiters = [self.inbox.wait(), self.inbox.wait()]
        self.assertEqual(self.inbox.close(), [])
        for waiter in waiters:
            self.failureResultOf(waiter, StopAsyncIteration)
        self.inbox = Inbox(lambda m: True, self.discarded.append)
        message = _FakeMessage("m")
        self.inbox.put(message)  # type: ignore[arg-type]
        self.assertEqual(self.inbox.close(), [message])
        stream = MessageStream(self.inbox)
        with self.assertRaises(StopAsyncIteration):
            stream.__anext__()
