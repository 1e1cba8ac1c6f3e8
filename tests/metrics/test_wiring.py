"""
The metrics exporters wired into running daemons, end to end over real
sockets on 127.0.0.1: an nsqd built as C{twistd nsqd} builds it pushes its
statsd lines to a real UDP listener, and C{/metrics} is scraped over real
HTTP from an nsqd and an nsqlookupd in this process.

Both run the same workload: a consumer subscribes to C{orders/billing}
with C{maxInFlight} 2, ten messages are published, the consumer finishes
six and holds the next two in flight, so two stay queued.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorUDP
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from tests import _services as services
from tests.golden import httpRequest
from tests.metrics.test_prometheus import (
    LOVOO_CHANNEL,
    LOVOO_CLIENT,
    LOVOO_CLIENT_LABELS,
    LOVOO_TOPIC,
)
from txnsq._endpoints import ipPort
from txnsq.client import Consumer, Message, Producer
from txnsq.nsqd.service import NSQDService

TOPIC = "orders"
CHANNEL = "billing"
BODIES = [b"order %d" % i for i in range(10)]
FINISHED = 6
HELD = 2

# What Go nsqd 1.3.0's statsdLoop (nsqd/statsd.go) sends for this workload
# with --e2e-processing-latency-percentile=0.99, by kind: client.Incr
# sends counters (|c), client.Gauge gauges (|g).
GO_COUNTERS = {
    f"topic.{TOPIC}.message_count",
    f"topic.{TOPIC}.message_bytes",
    f"topic.{TOPIC}.channel.{CHANNEL}.message_count",
    f"topic.{TOPIC}.channel.{CHANNEL}.requeue_count",
    f"topic.{TOPIC}.channel.{CHANNEL}.timeout_count",
    "mem.gc_runs",
}
GO_GAUGES = {
    f"topic.{TOPIC}.depth",
    f"topic.{TOPIC}.backend_depth",
    f"topic.{TOPIC}.e2e_processing_latency_99",
    f"topic.{TOPIC}.channel.{CHANNEL}.depth",
    f"topic.{TOPIC}.channel.{CHANNEL}.backend_depth",
    f"topic.{TOPIC}.channel.{CHANNEL}.in_flight_count",
    f"topic.{TOPIC}.channel.{CHANNEL}.deferred_count",
    f"topic.{TOPIC}.channel.{CHANNEL}.clients",
    f"topic.{TOPIC}.channel.{CHANNEL}.e2e_processing_latency_99",
    "mem.heap_objects",
    "mem.heap_idle_bytes",
    "mem.heap_in_use_bytes",
    "mem.heap_released_bytes",
    "mem.gc_pause_usec_100",
    "mem.gc_pause_usec_99",
    "mem.gc_pause_usec_95",
    "mem.next_gc_bytes",
}


async def eventually(
    condition: Callable[[], bool], what: str, timeout: float = 15.0
) -> None:
    """
    Wait, checking every 20 ms, until C{condition()} holds.

    @raise AssertionError: after C{timeout} seconds.
    """
    deadline = reactor.seconds() + timeout
    while not condition():
        if reactor.seconds() > deadline:
            raise AssertionError(f"still waiting for {what}")
        await deferLater(reactor, 0.02)


class StatsdListener(DatagramProtocol):
    """
    A statsd server: keeps every datagram, in arrival order.
    """

    def __init__(self) -> None:
        self.datagrams: list[bytes] = []

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.datagrams.append(datagram)

    def lines(self) -> list[tuple[str, int, str]]:
        """
        Every line received so far as C{(name, value, kind)}, the name
        with its prefix.
        """
        found = []
        for datagram in self.datagrams:
            for line in datagram.decode("utf-8").splitlines():
                name, _, rest = line.rpartition(":")
                value, _, kind = rest.partition("|")
                found.append((name, int(value), kind))
        return found


class Workload:
    """
    The consumer side of the workload: finishes the first L{FINISHED}
    messages and holds the next L{HELD} in flight until the test ends.
    """

    def __init__(self, test: TestCase, address: str) -> None:
        self.received: list[Message] = []
        self._held: list[Deferred[None]] = []
        self.consumer = Consumer(
            TOPIC,
            CHANNEL,
            self.handle,
            nsqdAddresses=[address],
            maxInFlight=HELD,
            reactor=reactor,
        )
        self.consumer.start()
        # Cleanups run last first: the held messages are let go before the
        # consumer stops (it waits for its handlers).
        test.addCleanup(self.consumer.stop)
        test.addCleanup(self._release)
        self.producer = Producer([address], reactor=reactor)
        self.producer.start()
        test.addCleanup(self.producer.stop)

    def handle(self, message: Message) -> Deferred[None] | None:
        """
        Finish the first messages, hold the rest.
        """
        self.received.append(message)
        if len(self.received) <= FINISHED:
            return None
        held: Deferred[None] = Deferred()
        self._held.append(held)
        return held

    def _release(self) -> None:
        for held in self._held:
            held.callback(None)

    async def run(self) -> None:
        """
        Subscribe, then publish every message.
        """
        await self.consumer.whenSubscribed()
        await self.producer.multiPublish(TOPIC, BODIES)


def settled(service: NSQDService) -> bool:
    """
    Whether nsqd shows the workload's end: the channel has had every
    message, L{FINISHED} are done and L{HELD} in flight.
    """
    topic = service.broker.topics.get(TOPIC)
    channel = topic.channels.get(CHANNEL) if topic is not None else None
    return (
        channel is not None
        and channel.messageCount == len(BODIES)
        and len(channel.inFlight) == HELD
        and channel.depth() == len(BODIES) - FINISHED - HELD
    )


async def httpPort(service: NSQDService) -> int:
    """
    The HTTP port a running nsqd listens on.
    """
    port = ipPort((await service.whenHTTPListening()).getHost())
    assert port is not None
    return port


def families(body: bytes) -> dict[str, Metric]:
    """
    A scrape's metric families by name, as Prometheus' parser reads them.
    """
    return {f.name: f for f in text_string_to_metric_families(body.decode())}


def only(family: Metric) -> tuple[dict[str, str], float]:
    """
    The labels and value of a family's single sample.
    """
    [sample] = family.samples
    return sample.labels, sample.value


def labelSets(found: dict[str, Metric], names: Iterable[str]) -> set[frozenset[str]]:
    """
    The label names the samples of the C{names} families carry.
    """
    return {
        frozenset(sample.labels) for name in names for sample in found[name].samples
    }


class StatsdWiringTests(TestCase):
    """
    A running nsqd's statsd datagrams, received over UDP.
    """

    timeout = 60

    async def test_goNamesAndValues(self) -> None:
        """
        With C{--statsd-address} and a short C{--statsd-interval}, nsqd
        sends exactly Go nsqd's metric names for the workload, each as the
        kind Go sends (counter or gauge), under the prefix Go computes from
        the default C{nsq.%s} (which C{GET /config/statsd_prefix} answers);
        the counters' deltas add up to the totals and the latest gauges
        show the final state.
        """
        listener = StatsdListener()
        udp = IReactorUDP(reactor).listenUDP(0, listener, "127.0.0.1", 8192)
        self.addCleanup(udp.stopListening)
        nsqd, tcpPort = await services.startNSQD(
            self,
            statsd_address=f"127.0.0.1:{ipPort(udp.getHost())}",
            statsd_interval=0.1,
            e2e_processing_latency_percentiles=[0.99],
        )
        port = await httpPort(nsqd)
        prefix = f"nsq.127_0_0_1_{port}."
        channelBase = f"topic.{TOPIC}.channel.{CHANNEL}"

        def totals() -> tuple[dict[str, int], dict[str, int]]:
            # Counters summed, gauges at their latest value.
            counted: dict[str, int] = {}
            latest: dict[str, int] = {}
            for name, value, kind in listener.lines():
                short = name[len(prefix) :]
                if kind == "c":
                    counted[short] = counted.get(short, 0) + value
                else:
                    latest[short] = value
            return counted, latest

        def sent() -> bool:
            # Two pushes at least, so that the counters are seen to be
            # deltas (summed, cumulative values would double).
            pushes = sum(
                name == f"{prefix}topic.{TOPIC}.message_count"
                for name, _, _ in listener.lines()
            )
            counted, latest = totals()
            return (
                pushes >= 2
                and counted.get(f"{channelBase}.message_count") == len(BODIES)
                and latest.get(f"{channelBase}.in_flight_count") == HELD
                and latest.get(f"{channelBase}.depth") == len(BODIES) - FINISHED - HELD
            )

        await Workload(self, f"127.0.0.1:{tcpPort}").run()
        await eventually(lambda: settled(nsqd), "nsqd to settle")
        await eventually(sent, "statsd to report the final state")

        lines = listener.lines()
        self.assertEqual({name[: len(prefix)] for name, _, _ in lines}, {prefix})
        kinds = {(name[len(prefix) :], kind) for name, _, kind in lines}
        self.assertEqual(
            kinds,
            {(name, "c") for name in GO_COUNTERS} | {(name, "g") for name in GO_GAUGES},
        )
        counted, latest = totals()
        self.assertEqual(counted[f"topic.{TOPIC}.message_count"], len(BODIES))
        self.assertEqual(counted[f"topic.{TOPIC}.message_bytes"], sum(map(len, BODIES)))
        self.assertEqual(counted[f"{channelBase}.requeue_count"], 0)
        self.assertEqual(counted[f"{channelBase}.timeout_count"], 0)
        self.assertGreaterEqual(counted["mem.gc_runs"], 0)
        self.assertEqual(latest[f"topic.{TOPIC}.depth"], 0)
        self.assertEqual(latest[f"{channelBase}.clients"], 1)
        self.assertEqual(latest[f"{channelBase}.deferred_count"], 0)
        self.assertGreater(latest[f"{channelBase}.e2e_processing_latency_99"], 0)
        self.assertGreater(latest["mem.heap_in_use_bytes"], 0)
        # Whole lines packed into datagrams of at most the default 508 bytes.
        self.assertLessEqual(max(map(len, listener.datagrams)), 508)

        config = await httpRequest(
            reactor, "127.0.0.1", port, "GET", "/config/statsd_prefix"
        )
        self.assertEqual((config.status, config.body), (200, prefix.encode()))


class PrometheusWiringTests(TestCase):
    """
    C{/metrics} scraped over HTTP from a running nsqd and nsqlookupd.
    """

    timeout = 60

    async def scrape(
        self, port: int, query: str = "", headers: dict[str, str] | None = None
    ) -> Any:
        """
        C{GET /metrics<query>} on C{port}; the response, checked to be a
        200 in Prometheus' text format.
        """
        response = await httpRequest(
            reactor, "127.0.0.1", port, "GET", "/metrics" + query, headers=headers
        )
        self.assertEqual(response.status, 200, response.body)
        self.assertEqual(
            response.headers["content-type"],
            ["text/plain; version=0.0.4; charset=utf-8"],
        )
        return response

    async def test_nsqdAndLookupd(self) -> None:
        """
        nsqd's C{/metrics} carries lovoo nsq_exporter's topic and channel
        gauges with their exact labels and the workload's values, txnsq's
        additions, and per-connection metrics only with
        C{include_clients=true}; gzip is served on request.  nsqlookupd's
        reports the topic, its channel and the registered nsqd.
        """
        lookupd, lookupdTCP, lookupdHTTP = await services.startLookupd(self)
        nsqd, tcpPort = await services.startNSQD(
            self, lookupdTCP, e2e_processing_latency_percentiles=[0.99]
        )
        await Workload(self, f"127.0.0.1:{tcpPort}").run()
        await eventually(lambda: settled(nsqd), "nsqd to settle")
        await eventually(
            lambda: lookupd.registry.channels(TOPIC) == [CHANNEL],
            "nsqlookupd to learn the channel",
        )
        port = await httpPort(nsqd)

        found = families((await self.scrape(port)).body)
        self.assertEqual(
            labelSets(found, LOVOO_TOPIC), {frozenset({"topic", "paused"})}
        )
        self.assertEqual(
            labelSets(found, LOVOO_CHANNEL),
            {frozenset({"topic", "channel", "paused"})},
        )
        topicLabels = {"topic": TOPIC, "paused": "false"}
        channelLabels = {**topicLabels, "channel": CHANNEL}
        expected = {
            "nsq_topic_depth": (topicLabels, 0),
            "nsq_topic_message_count": (topicLabels, len(BODIES)),
            "nsq_topic_channel_count": (topicLabels, 1),
            "nsq_channel_depth": (channelLabels, len(BODIES) - FINISHED - HELD),
            "nsq_channel_in_flight_count": (channelLabels, HELD),
            "nsq_channel_message_count": (channelLabels, len(BODIES)),
            "nsq_channel_client_count": (channelLabels, 1),
            "nsq_channel_requeue_count": (channelLabels, 0),
            "nsq_topic_message_bytes": (
                {"topic": TOPIC},
                sum(map(len, BODIES)),
            ),
            "nsq_healthy": ({}, 1),
        }
        for name, labelsAndValue in expected.items():
            self.assertEqual(only(found[name]), labelsAndValue, name)
        self.assertEqual(found["nsq_topic_message_bytes"].type, "counter")
        self.assertIn("nsq_channel_e2e_processing_latency_seconds", found)
        self.assertFalse([name for name in found if name.startswith("nsq_client_")])

        withClients = families((await self.scrape(port, "?include_clients=true")).body)
        for name in LOVOO_CLIENT:
            labels, _ = only(withClients[name])
            self.assertEqual(set(labels), LOVOO_CLIENT_LABELS, name)
        self.assertEqual(only(withClients["nsq_client_finish_count"])[1], FINISHED)
        self.assertEqual(only(withClients["nsq_client_in_flight_count"])[1], HELD)

        zipped = await self.scrape(port, headers={"Accept-Encoding": "gzip"})
        self.assertEqual(zipped.headers["content-encoding"], ["gzip"])
        self.assertIn("nsq_topic_depth", families(gzip.decompress(zipped.body)))

        registered = families((await self.scrape(lookupdHTTP)).body)
        self.assertEqual(only(registered["nsqlookupd_topics"]), ({}, 1))
        self.assertEqual(only(registered["nsqlookupd_channels"]), ({"topic": TOPIC}, 1))
        self.assertEqual(only(registered["nsqlookupd_producers"]), ({}, 1))
        self.assertEqual(
            only(registered["nsqlookupd_topic_producers"]), ({"topic": TOPIC}, 1)
        )
        peer, _ = only(registered["nsqlookupd_producer_last_update_timestamp_seconds"])
        self.assertEqual(
            (peer["tcp_port"], peer["http_port"]), (str(tcpPort), str(port))
        )
