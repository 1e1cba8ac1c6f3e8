"""
The client against a real txnsq nsqd over real sockets (127.0.0.1, port 0),
in this process, on the real reactor; and interop with pynsq, the reference
Python client, run in a child process (Tornado's loop must not share a
process with trial's reactor).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from tests import _services as services
from txnsq.client import Consumer, Message, Producer, exponentialBackoff
from txnsq.nsqd.protocol import STATE_INIT
from txnsq.nsqd.service import NSQDService

PYNSQ_SCRIPT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "integration",
    "pynsq_scripts",
    "pynsq_client.py",
)


def _pynsqMissing() -> str | None:
    try:
        import nsq  # noqa: F401
    except ImportError:
        return "pynsq (module nsq) is not installed"
    if not os.path.exists(PYNSQ_SCRIPT):
        return f"{PYNSQ_SCRIPT} is missing"
    return None


def subscribersClosed(service: NSQDService) -> Deferred[Any]:
    """
    Fires once nsqd has seen every current subscribed connection end (so
    it has read everything those consumers sent before closing).

    nsqd's connections are slotted objects (no per-instance hooks), so this
    watches the factory's set of live connections, which a connection
    leaves in its C{connectionLost}.
    """
    connections = service.factory.connections
    waiting = [c for c in list(connections) if c.client.state != STATE_INIT]

    async def gone() -> None:
        while any(c in connections for c in waiting):
            await deferLater(reactor, 0.01, lambda: None)

    return Deferred.fromCoroutine(gone())


async def startNSQD(testCase: TestCase, **config: Any) -> tuple[NSQDService, str]:
    """
    Start an nsqd in this process on an ephemeral loopback port (no HTTP
    API unless asked), stopped when the test ends.

    @return: the service and its C{host:port}.
    """
    config.setdefault("http_address", "")
    config.setdefault("node_id", 1)
    service, port = await services.startNSQD(testCase, **config)
    return service, f"127.0.0.1:{port}"


class Collector:
    """
    A handler that records messages and fires when enough arrived.
    """

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.messages: list[Message] = []
        self.done: Deferred[None] = Deferred()

    def __call__(self, message: Message) -> None:
        """
        Record C{message}.
        """
        self.messages.append(message)
        if len(self.messages) == self.expected and not self.done.called:
            self.done.callback(None)


class EndToEndTests(TestCase):
    """
    Publishing and consuming through a real nsqd.
    """

    timeout = 120

    def consumer(self, address: str, handler: Any, **kwargs: Any) -> Consumer:
        """
        A started consumer of C{t/c}, stopped at the end of the test.
        """
        kwargs.setdefault("topic", "t")
        consumer = Consumer(
            kwargs.pop("topic"),
            kwargs.pop("channel", "c"),
            handler,
            nsqdAddresses=[address],
            reactor=reactor,
            **kwargs,
        )
        consumer.start()
        self.addCleanup(consumer.stop)
        return consumer

    def producer(self, address: str) -> Producer:
        """
        A started producer, stopped at the end of the test.
        """
        producer = Producer([address], reactor=reactor)
        producer.start()
        self.addCleanup(producer.stop)
        return producer

    async def test_tenThousand(self) -> None:
        """
        10,000 messages published with pipelined PUBs are each handled
        exactly once and FINed exactly once: the consumer and nsqd agree
        on the counts and nothing is left queued or in flight.
        """
        service, address = await startNSQD(self)
        count = 10000
        collector = Collector(count)
        consumer = self.consumer(address, collector, maxInFlight=200)
        await consumer.whenSubscribed()
        producer = self.producer(address)
        await gatherResults([producer.publish("t", b"%d" % i) for i in range(count)])
        await collector.done
        await consumer.stop()
        bodies = Counter(m.body for m in collector.messages)
        self.assertEqual(len(bodies), count)
        self.assertEqual(set(bodies.values()), {1})
        self.assertEqual({m.attempts for m in collector.messages}, {1})
        self.assertEqual(
            (consumer.messagesReceived, consumer.messagesFinished), (count, count)
        )
        self.assertEqual(consumer.messagesRequeued, 0)
        channel = service.broker.topics["t"].channels["c"]
        self.assertEqual((channel.messageCount, channel.requeueCount), (count, 0))
        self.assertEqual((len(channel.inFlight), channel.depth()), (0, 0))
        self.assertEqual(channel.timeoutCount, 0)

    async def test_requeueOnFailure(self) -> None:
        """
        Messages whose handler fails are requeued and handled again (with
        attempts 2); every message ends up FINed once.
        """
        _, address = await startNSQD(self)
        count = 200
        handled: list[Message] = []
        done: Deferred[None] = Deferred()
        finished: set[bytes] = set()

        def handler(message: Message) -> None:
            handled.append(message)
            if message.attempts == 1 and int(message.body) % 10 == 0:
                raise ValueError("transient")
            finished.add(message.body)
            if len(finished) == count and not done.called:
                done.callback(None)

        consumer = self.consumer(
            address,
            handler,
            maxInFlight=20,
            requeueDelay=0.05,
            backoff=exponentialBackoff(0.01),
        )
        await consumer.whenSubscribed()
        producer = self.producer(address)
        await producer.multiPublish("t", [b"%d" % i for i in range(count)])
        await done
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), count // 10)
        retried = [m for m in handled if m.attempts == 2]
        self.assertEqual(
            sorted(int(m.body) for m in retried), list(range(0, count, 10))
        )
        self.assertEqual(consumer.messagesRequeued, count // 10)
        self.assertEqual(len(handled), count + count // 10)

    async def test_giveUpToDeadLetter(self) -> None:
        """
        A message that keeps failing is given up after C{maxAttempts}; the
        give-up hook publishes it to a dead-letter topic, where another
        consumer receives it; the good messages are unaffected.
        """
        _, address = await startNSQD(self)
        producer = self.producer(address)
        attempts: list[int] = []

        def handler(message: Message) -> None:
            if message.body == b"poison":
                attempts.append(message.attempts)
                raise ValueError("cannot handle")

        def giveUp(message: Message) -> Deferred[None]:
            return producer.publish("t-dead", message.body)

        dead = Collector(1)
        self.consumer(address, dead, topic="t-dead")
        consumer = self.consumer(
            address,
            handler,
            maxAttempts=3,
            giveUp=giveUp,
            requeueDelay=0.01,
            backoff=None,
        )
        await consumer.whenSubscribed()
        await producer.multiPublish("t", [b"ok1", b"poison", b"ok2"])
        await dead.done
        self.assertEqual(dead.messages[0].body, b"poison")
        self.assertEqual(attempts, [1, 2, 3])
        self.assertEqual(consumer.messagesGivenUp, 1)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 3)

    async def test_gracefulStopLosesNothing(self) -> None:
        """
        Stopping a consumer mid-stream finishes the messages it holds
        before closing: nothing stays in flight at nsqd, and a second
        consumer gets exactly the messages the first did not, so every
        message is handled once.
        """
        service, address = await startNSQD(self)
        count = 1000
        first: list[bytes] = []
        halfway: Deferred[None] = Deferred()

        def slow(message: Message) -> Deferred[None]:
            first.append(message.body)
            if len(first) == count // 4 and not halfway.called:
                halfway.callback(None)
            d: Deferred[None] = Deferred()
            reactor.callLater(0.002, d.callback, None)
            return d

        consumer = self.consumer(address, slow, maxInFlight=50)
        await consumer.whenSubscribed()
        producer = self.producer(address)
        await producer.multiPublish("t", [b"%d" % i for i in range(count)])
        await halfway
        closed = subscribersClosed(service)
        await consumer.stop()
        await closed
        channel = service.broker.topics["t"].channels["c"]
        self.assertEqual(len(channel.inFlight), 0)
        self.assertEqual(consumer.messagesFinished, len(first))
        self.assertEqual(consumer.messagesReceived, len(first))
        self.assertEqual(channel.depth(), count - len(first))
        rest = Collector(count - len(first))
        self.consumer(address, rest, maxInFlight=50)
        await rest.done
        everything = Counter(first + [m.body for m in rest.messages])
        self.assertEqual(len(everything), count)
        self.assertEqual(set(everything.values()), {1})


class PynsqInteropTests(TestCase):
    """
    txnsq's client and pynsq read each other's messages through a txnsq
    nsqd.
    """

    timeout = 90
    skip = _pynsqMissing()

    def pynsq(self, command: str, address: str, *args: str) -> Any:
        """
        Start the pynsq client script running C{command}.
        """
        from tests.integration._daemon import spawnChild

        argv = [sys.executable, PYNSQ_SCRIPT, command, "--nsqd", address, *args]
        return spawnChild(self, argv, name=f"pynsq {command}")

    async def test_pynsqPublishesTxnsqConsumes(self) -> None:
        """
        What a pynsq Writer publishes with PUB, MPUB and DPUB reaches a
        txnsq Consumer intact, once each.
        """
        _, address = await startNSQD(self)
        collector = Collector(5)
        consumer = Consumer(
            "interop",
            "c",
            collector,
            nsqdAddresses=[address],
            reactor=reactor,
            maxInFlight=10,
        )
        consumer.start()
        self.addCleanup(consumer.stop)
        await consumer.whenSubscribed()
        ops = [
            ["pub", "h\u00e9llo"],
            ["mpub", ["m1", "m2", "m3"]],
            ["dpub", 100, "late"],
        ]
        child = self.pynsq(
            "publish", address, "--topic", "interop", "--ops", json.dumps(ops)
        )
        self.assertEqual(await child.whenEnded(), 0, child.output())
        await collector.done
        self.assertEqual(
            sorted(m.body for m in collector.messages),
            sorted([b"h\xc3\xa9llo", b"m1", b"m2", b"m3", b"late"]),
        )
        self.assertEqual({m.attempts for m in collector.messages}, {1})

    async def test_txnsqPublishesPynsqConsumes(self) -> None:
        """
        What a txnsq Producer publishes with PUB, MPUB and DPUB reaches a
        pynsq Reader intact, once each.
        """
        _, address = await startNSQD(self)
        child = self.pynsq(
            "consume", address, "--topic", "interop", "--channel", "c", "--count", "5"
        )
        await child.waitForEvents(lambda e: e["event"] == "subscribed", 1)
        producer = Producer([address], reactor=reactor)
        producer.start()
        self.addCleanup(producer.stop)
        await producer.publish("interop", "h\u00e9llo".encode())
        await producer.multiPublish("interop", [b"m1", b"m2", b"m3"])
        await producer.deferredPublish("interop", 100, b"late")
        self.assertEqual(await child.whenEnded(), 0, child.output())
        messages = [e for e in child.events() if e["event"] == "message"]
        self.assertEqual(
            sorted(m["body"] for m in messages),
            sorted(["h\u00e9llo", "m1", "m2", "m3", "late"]),
        )
        self.assertEqual({m["attempts"] for m in messages}, {1})


class DiscoveryEndToEndTests(TestCase):
    """
    Discovery through a real txnsq nsqlookupd, with which a real txnsq nsqd
    registers its topics.
    """

    timeout = 60

    async def test_secondNSQDAppears(self) -> None:
        """
        An nsqd that starts while the consumer runs is found at a later
        lookupd poll, and what is published there is consumed too.
        """
        _, lookupdTCP, lookupdHTTP = await services.startLookupd(self)
        _, first = await services.startNSQD(self, lookupdTCP, node_id=1)
        producer = Producer([f"127.0.0.1:{first}"], reactor=reactor)
        producer.start()
        self.addCleanup(producer.stop)
        await producer.publish("grow", b"from the first")

        collector = Collector(1)
        consumer = Consumer(
            "grow",
            "c",
            collector,
            lookupdHTTPAddresses=[f"127.0.0.1:{lookupdHTTP}"],
            reactor=reactor,
            lookupdPollInterval=0.2,
            # Enough for both connections (with fewer, RDY would rotate
            # between them on the redistribution timer).
            maxInFlight=10,
        )
        consumer.start()
        self.addCleanup(consumer.stop)
        await collector.done

        _, second = await services.startNSQD(self, lookupdTCP, node_id=2)
        collector.expected = 2
        collector.done = Deferred()
        other = Producer([f"127.0.0.1:{second}"], reactor=reactor)
        other.start()
        self.addCleanup(other.stop)
        await other.publish("grow", b"from the second")
        await collector.done
        self.assertEqual(
            [(m.body, m.nsqdAddress) for m in collector.messages],
            [
                (b"from the first", f"127.0.0.1:{first}"),
                (b"from the second", f"127.0.0.1:{second}"),
            ],
        )

    async def test_discoverAndConsume(self) -> None:
        """
        A consumer given only nsqlookupd's HTTP address (and its default
        treq client) finds the nsqd that registered the topic, connects and
        receives what was published there.
        """
        _, lookupdTCP, lookupdHTTP = await services.startLookupd(self)
        _, nsqdTCP = await services.startNSQD(self, lookupdTCP, node_id=1)

        producer = Producer([f"127.0.0.1:{nsqdTCP}"], reactor=reactor)
        producer.start()
        self.addCleanup(producer.stop)
        await producer.publish("found", b"via lookupd")

        collector = Collector(1)
        consumer = Consumer(
            "found",
            "c",
            collector,
            lookupdHTTPAddresses=[f"127.0.0.1:{lookupdHTTP}"],
            reactor=reactor,
            # Registration may land after the first poll.
            lookupdPollInterval=0.2,
        )
        consumer.start()
        self.addCleanup(consumer.stop)
        await collector.done
        self.assertEqual(collector.messages[0].body, b"via lookupd")
        self.assertEqual(collector.messages[0].nsqdAddress, f"127.0.0.1:{nsqdTCP}")
