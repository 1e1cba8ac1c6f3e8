"""
Helpers shared by the tests of L{txnsq.nsqd.state}: a recording
L{Consumer <txnsq.nsqd.state.Consumer>} and topology observer, a host-free
L{NSQDConfig}, a test case building brokers over memory backends, and
latency windows filled with known samples.
"""

from __future__ import annotations

import random
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.state import (
    FINISHED,
    BackendQueue,
    Broker,
    Channel,
    MemoryBackendQueue,
    Message,
)
from txnsq.nsqd.state.quantile import LatencyWindow


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


NOW = 1_000_000.0
NS = 1_000_000_000


def window(percentiles: list[float], now: float = NOW) -> LatencyWindow:
    """
    A 10-minute window with a seeded random source.
    """
    return LatencyWindow(600.0, percentiles, now, random.Random(4))


def insertLatencies(latency: LatencyWindow, millis: list[int], now: float) -> None:
    """
    Record messages finished at C{now} after C{millis} milliseconds each.
    """
    for ms in millis:
        latency.insert(int(now * NS) - ms * 1_000_000, now)
