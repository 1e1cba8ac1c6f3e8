"""
Tests for L{txnsq.metrics.prometheus}: nsqd's and nsqlookupd's C{/metrics},
rendered from real brokers and registration databases and read back with
prometheus_client's parsers.
"""

from __future__ import annotations

import gzip
import json
import os
import random
from collections.abc import Iterable
from typing import Any

import attrs
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import (
    generate_latest as openMetricsLatest,
)
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openMetricsFamilies,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from txnsq import NSQ_VERSION, __version__
from txnsq.metrics import prometheus
from txnsq.metrics.prometheus import (
    TEXT_CONTENT_TYPE,
    Exposition,
    LookupdCollector,
    LookupdMetrics,
    NSQDCollector,
    NSQDMetrics,
    render,
)
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.state import Broker, Message
from txnsq.nsqd.state.quantile import LatencyWindow
from txnsq.nsqd.stats import Health, Stats, gatherStats
from txnsq.nsqlookupd import registry
from txnsq.nsqlookupd.registry import PeerInfo, RegistrationDB

NOW = 1_700_000_000.0
START = NOW - 3600

# The exporter's metric names (lovoo/nsq_exporter 2.0.2, namespace "nsq").
LOVOO_TOPIC = [
    "nsq_topic_channel_count",
    "nsq_topic_depth",
    "nsq_topic_backend_depth",
    "nsq_topic_e2e_latency_99_percentile",
    "nsq_topic_e2e_latency_95_percentile",
    "nsq_topic_message_count",
]
LOVOO_CHANNEL = [
    "nsq_channel_client_count",
    "nsq_channel_depth",
    "nsq_channel_backend_depth",
    "nsq_channel_message_count",
    "nsq_channel_in_flight_count",
    "nsq_channel_e2e_latency_99p",
    "nsq_channel_e2e_latency_95p",
    "nsq_channel_deferred_count",
    "nsq_channel_requeue_count",
    "nsq_channel_timeout_count",
]
LOVOO_CLIENT = [
    "nsq_client_state",
    "nsq_client_finish_count",
    "nsq_client_message_count",
    "nsq_client_ready_count",
    "nsq_client_in_flight_count",
    "nsq_client_requeue_count",
    "nsq_client_connect_ts",
    "nsq_client_sample_rate",
]
LOVOO_CLIENT_LABELS = {
    "topic",
    "channel",
    "deflate",
    "snappy",
    "tls",
    "client_id",
    "hostname",
    "version",
    "remote_address",
}


class Subscriber:
    """
    A consumer connection as the broker sees it.

    The scrapes of a real broker here leave clients out: what C{/stats}
    reads from a connection belongs to the TCP protocol, and
    L{GoStatsTests} cover the client metrics with Go's own answers.
    """

    def __init__(self, ready: int) -> None:
        self.ready = ready
        self.inFlight = 0
        self.msgTimeout = 60.0
        self.sampleRate = 0
        self.received: list[Message] = []

    def capacity(self) -> int:
        """
        RDY minus in flight.
        """
        return self.ready - self.inFlight

    def sendMessages(self, messages: list[Message]) -> None:
        """
        Record deliveries.
        """
        self.inFlight += len(messages)
        self.received.extend(messages)

    def messagesFinished(self, messages: list[Message]) -> None:
        """
        Messages were finished.
        """
        self.inFlight -= len(messages)

    def messageDone(self, message: Message, outcome: int) -> None:
        """
        A message left flight otherwise.
        """
        self.inFlight -= 1

    def inFlightReset(self) -> None:
        """
        The channel was emptied.
        """
        self.inFlight = 0

    def channelClosed(self) -> None:
        """
        The channel went away.
        """


def parse(exposition: Exposition) -> dict[str, Metric]:
    """
    The families of a text-format scrape, by name.
    """
    text = exposition.body.decode("utf-8")
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(families: dict[str, Metric], name: str, **labels: str) -> float:
    """
    The value of the one sample of C{name} with exactly C{labels}.
    """
    found = [
        sample.value
        for family in families.values()
        for sample in family.samples
        if sample.name == name and sample.labels == labels
    ]
    if len(found) != 1:
        raise AssertionError(f"{len(found)} samples {name}{labels}")
    return found[0]


def labelSets(families: dict[str, Metric], names: Iterable[str]) -> set[frozenset[str]]:
    """
    The label names the samples of C{names} carry.
    """
    return {
        frozenset(sample.labels) for name in names for sample in families[name].samples
    }


GOLDEN_NSQD = (
    FilePath(__file__).parent().parent().descendant(["data", "golden", "http", "nsqd"])
)


@attrs.frozen
class Recorded:
    """
    A C{/stats} answer as a L{txnsq.metrics.prometheus.StatsSnapshot}.
    """

    topics: list[dict[str, Any]] | None


def goStats(includeClients: bool) -> Recorded:
    """
    Go nsqd 1.3.0's C{/stats?format=json} answer for one state, recorded
    with and without C{include_clients} (see the recordings'
    descriptions).
    """
    name = "stats_json_full" if includeClients else "stats_json_no_clients"
    recording = json.loads(GOLDEN_NSQD.child(f"{name}.json").getContent())
    return Recorded(json.loads(recording["body_text"])["topics"])


def awkwardStats(includeClients: bool) -> Recorded:
    """
    L{goStats}, with label values that need the text format's escapes
    (quote, backslash, newline) and non-ASCII text.
    """
    stats = goStats(includeClients)
    assert stats.topics is not None
    for channel in stats.topics[1]["channels"]:
        for client in channel["clients"] or ():
            client["hostname"] = 'h\\o"s\nt-\u00e9\u6771'
            client["client_id"] = "\u00fcber"
    return stats


class Frozen:
    """
    A registry's families collected once, so that two renderings see the
    same values.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.families = list(registry.collect())

    def collect(self) -> list[Metric]:
        """
        The families.
        """
        return self.families


def seededWindow(percentiles: list[float]) -> LatencyWindow:
    """
    A ten-minute latency window with a seeded random source.
    """
    return LatencyWindow(600.0, percentiles, NOW, random.Random(4))


class NSQD:
    """
    A real broker and its C{/metrics}.
    """

    def __init__(self, memQueueSize: int = 10_000) -> None:
        self.broker = Broker(NSQDConfig(node_id=1, mem_queue_size=memQueueSize))
        self.health = Health()
        self.gathered: list[bool] = []
        self.metrics = NSQDMetrics(self.gather, health=self.health, startTime=START)

    def gather(self, includeClients: bool) -> Stats:
        """
        What the daemon passes to L{NSQDMetrics}.
        """
        self.gathered.append(includeClients)
        return gatherStats(self.broker, (), includeClients=includeClients, now=NOW)

    def scrape(self, includeClients: bool = False) -> dict[str, Metric]:
        """
        Render and parse a scrape.
        """
        return parse(self.metrics.render(includeClients))


def busyNSQD() -> NSQD:
    """
    Topic C{orders}, five messages published, past a memory queue of three,
    to channels C{billing} and C{audit} (paused, no consumer); and topic
    C{idle}, paused, with no channel.  Of C{billing}'s messages, a consumer
    took four: it requeued one for later, finished one, and let two time
    out, then took one of those again.
    """
    nsqd = NSQD(memQueueSize=3)
    broker = nsqd.broker
    broker.getChannel("orders", "audit", NOW)
    billing = broker.getChannel("orders", "billing", NOW)
    consumer = Subscriber(ready=4)
    billing.addConsumer(consumer)
    broker.publish("orders", [b"a", b"bb", b"ccc", b"dddd", b"eeeee"], NOW)
    first, second, _, _ = consumer.received
    billing.requeue(consumer, first.id, 600.0, NOW)
    billing.finish(consumer, second.id, NOW)
    consumer.ready = 0
    billing.scan(NOW + 61)
    consumer.ready = 1
    billing.pump(NOW + 61)
    broker.pauseChannel("orders", "audit", True, NOW)
    broker.getTopic("idle")
    broker.pauseTopic("idle", True, NOW)
    return nsqd


def peer(name: str, port: int, lastUpdate: float) -> PeerInfo:
    """
    An nsqd as nsqlookupd knows it.
    """
    return PeerInfo(
        id=f"10.0.0.{port % 256}:{port}",
        remoteAddress=f"10.0.0.{port % 256}:{port}",
        hostname=name,
        broadcastAddress=f"{name}.example",
        tcpPort=4150,
        httpPort=4151,
        version=NSQ_VERSION,
        lastUpdate=lastUpdate,
    )


def busyRegistrations() -> RegistrationDB:
    """
    Three nsqds: C{a} and C{b} have topic C{orders} (C{b} tombstoned for
    it), C{b} also C{events}; C{stale} has C{orders} but stopped pinging.
    Topic C{empty} was created over HTTP.
    """
    db = RegistrationDB(inactiveProducerTimeout=300, tombstoneLifetime=45)
    a, b = peer("a", 101, NOW - 10), peer("b", 102, NOW - 20)
    stale = peer("stale", 103, NOW - 600)
    for nsqd in (a, b, stale):
        db.identify(nsqd)
    db.register(a, "orders", "billing")
    db.register(b, "orders", "audit")
    db.register(b, "events")
    db.register(stale, "orders")
    db.createTopic("empty")
    db.tombstoneTopicProducer("orders", "b.example:4151", NOW - 5)
    return db


class NSQDLovooTests(SynchronousTestCase):
    """
    nsqd's metrics under lovoo nsq_exporter's names, types and labels.
    """

    def test_names(self) -> None:
        """
        Every topic and channel metric the exporter exposes is there, as a
        gauge, labelled exactly as the exporter labels it.
        """
        families = busyNSQD().scrape()
        for name in LOVOO_TOPIC + LOVOO_CHANNEL:
            self.assertEqual(families[name].type, "gauge", name)
        self.assertEqual(
            labelSets(families, LOVOO_TOPIC), {frozenset({"topic", "paused"})}
        )
        self.assertEqual(
            labelSets(families, LOVOO_CHANNEL),
            {frozenset({"topic", "channel", "paused"})},
        )

    def test_topics(self) -> None:
        """
        Topic gauges carry the topic's stats; C{paused} is Go's C{true} or
        C{false}.
        """
        families = busyNSQD().scrape()
        orders = {"topic": "orders", "paused": "false"}
        idle = {"topic": "idle", "paused": "true"}
        self.assertEqual(value(families, "nsq_topic_channel_count", **orders), 2)
        self.assertEqual(value(families, "nsq_topic_message_count", **orders), 5)
        self.assertEqual(value(families, "nsq_topic_depth", **orders), 0)
        self.assertEqual(value(families, "nsq_topic_channel_count", **idle), 0)
        self.assertEqual(value(families, "nsq_topic_backend_depth", **idle), 0)

    def test_channels(self) -> None:
        """
        Channel gauges carry the channel's stats: depth (memory and disk),
        backend depth, in flight, deferred, requeued, timed out, consumers.
        """
        families = busyNSQD().scrape()
        billing = {"topic": "orders", "channel": "billing", "paused": "false"}
        audit = {"topic": "orders", "channel": "audit", "paused": "true"}
        expected = {
            "nsq_channel_client_count": (1, 0),
            "nsq_channel_depth": (2, 5),
            "nsq_channel_backend_depth": (1, 2),
            "nsq_channel_message_count": (5, 5),
            "nsq_channel_in_flight_count": (1, 0),
            "nsq_channel_deferred_count": (1, 0),
            "nsq_channel_requeue_count": (1, 0),
            "nsq_channel_timeout_count": (2, 0),
        }
        for name, (billingValue, auditValue) in expected.items():
            self.assertEqual(
                (value(families, name, **billing), value(families, name, **audit)),
                (billingValue, auditValue),
                name,
            )

    def test_noClientsByDefault(self) -> None:
        """
        Per-connection metrics are left out unless asked for, and the
        snapshot is then taken without clients.
        """
        nsqd = busyNSQD()
        families = nsqd.scrape()
        self.assertFalse([name for name in families if name.startswith("nsq_client")])
        self.assertEqual(nsqd.gathered, [False])

    def test_latencyPositional(self) -> None:
        """
        The exporter's C{99} and C{95} latency gauges are the first and
        second configured percentiles, in nanoseconds, whatever those
        percentiles are; 0 when latency is not tracked or a second
        percentile is missing.
        """
        nsqd = NSQD()
        tracked = nsqd.broker.getChannel("t", "tracked", NOW)
        tracked.e2eLatency = seededWindow([1.0, 0.5])
        for millis in (10, 20, 30):
            tracked.e2eLatency.insert(int(NOW * 1e9) - millis * 1_000_000, NOW)
        single = nsqd.broker.getChannel("single", "c", NOW)
        single.e2eLatency = seededWindow([0.99])
        nsqd.broker.getChannel("t", "untracked", NOW)
        families = nsqd.scrape()
        tracked_ = {"topic": "t", "channel": "tracked", "paused": "false"}
        untracked = {"topic": "t", "channel": "untracked", "paused": "false"}
        self.assertEqual(
            value(families, "nsq_channel_e2e_latency_99p", **tracked_), 30e6
        )
        self.assertEqual(
            value(families, "nsq_channel_e2e_latency_95p", **tracked_), 20e6
        )
        self.assertEqual(value(families, "nsq_channel_e2e_latency_99p", **untracked), 0)
        topic = {"topic": "t", "paused": "false"}
        self.assertEqual(
            value(families, "nsq_topic_e2e_latency_99_percentile", **topic), 30e6
        )
        self.assertEqual(
            value(families, "nsq_topic_e2e_latency_95_percentile", **topic), 20e6
        )
        self.assertEqual(
            value(
                families,
                "nsq_topic_e2e_latency_95_percentile",
                topic="single",
                paused="false",
            ),
            0,
        )

    def test_scrapeDuration(self) -> None:
        """
        C{nsq_exporter_scrape_duration_seconds{result="success"}} is a
        summary of the time the snapshots took, over every scrape with or
        without clients.
        """
        ticks = iter([10.0, 10.25, 20.0, 20.5])
        collector = NSQDCollector(goStats, timer=lambda: next(ticks))
        list(collector.collect())
        families = {f.name: f for f in collector.withClients().collect()}
        summary = families["nsq_exporter_scrape_duration_seconds"]
        self.assertEqual(summary.type, "summary")
        self.assertEqual(
            {
                (s.name, s.value)
                for s in summary.samples
                if s.labels == {"result": "success"}
            },
            {
                ("nsq_exporter_scrape_duration_seconds_count", 2),
                ("nsq_exporter_scrape_duration_seconds_sum", 0.75),
            },
        )


class GoStatsTests(SynchronousTestCase):
    """
    The collector fed Go nsqd 1.3.0's own C{/stats} answers (the golden
    recordings), the JSON the exporter reads.
    """

    def test_topicsAndChannels(self) -> None:
        """
        Go's topic and channel stats become the exporter's gauges; the
        consumer count is there with or without clients, as in Go.
        """
        for includeClients in (False, True):
            families = parse(NSQDMetrics(goStats).render(includeClients))
            topic = {"topic": "golden_topic", "paused": "false"}
            busy = {"topic": "golden_topic", "channel": "ch_busy", "paused": "false"}
            self.assertEqual(value(families, "nsq_topic_channel_count", **topic), 2)
            self.assertEqual(value(families, "nsq_topic_message_count", **topic), 3)
            self.assertEqual(value(families, "nsq_channel_client_count", **busy), 1)
            self.assertEqual(value(families, "nsq_channel_deferred_count", **busy), 1)
            self.assertEqual(
                value(families, "nsq_topic_message_bytes_total", topic="golden_topic"),
                20,
            )

    def test_clients(self) -> None:
        """
        Only with C{include_clients}, each consumer connection has the
        exporter's client gauges, labelled as the exporter labels them.
        """
        metrics = NSQDMetrics(goStats)
        without = parse(metrics.render())
        self.assertFalse([name for name in without if name.startswith("nsq_client")])
        families = parse(metrics.render(includeClients=True))
        for name in LOVOO_CLIENT:
            self.assertEqual(families[name].type, "gauge", name)
        self.assertEqual(
            labelSets(families, LOVOO_CLIENT), {frozenset(LOVOO_CLIENT_LABELS)}
        )
        labels = {
            "topic": "golden_topic",
            "channel": "ch_busy",
            "deflate": "false",
            "snappy": "false",
            "tls": "false",
            "client_id": "golden-consumer",
            "hostname": "golden-consumer-host",
            "version": "V2",
            "remote_address": "127.0.0.1:42654",
        }
        expected = {
            "nsq_client_state": 3,
            "nsq_client_finish_count": 0,
            "nsq_client_message_count": 1,
            "nsq_client_ready_count": 1,
            "nsq_client_in_flight_count": 1,
            "nsq_client_requeue_count": 0,
            "nsq_client_connect_ts": 1795731103,
            "nsq_client_sample_rate": 0,
        }
        for name, expectedValue in expected.items():
            self.assertEqual(value(families, name, **labels), expectedValue, name)

    def test_producersLeftOut(self) -> None:
        """
        Connections that only publish are not clients of a channel: the
        exporter has no metric for them, and neither has this.
        """
        families = parse(NSQDMetrics(goStats).render(includeClients=True))
        self.assertNotIn(
            "golden-producer",
            {s.labels["client_id"] for s in families["nsq_client_state"].samples},
        )


class NSQDExtraTests(SynchronousTestCase):
    """
    nsqd's metrics the exporter lacks.
    """

    def test_latencySeconds(self) -> None:
        """
        Every configured percentile is a C{quantile}-labelled gauge in
        seconds, with the number of messages in the window; topics merge
        their channels.  Channels without a window have neither.
        """
        nsqd = NSQD()
        tracked = nsqd.broker.getChannel("t", "tracked", NOW)
        tracked.e2eLatency = seededWindow([1.0, 0.99, 0.5])
        for millis in (10, 20, 30, 40):
            tracked.e2eLatency.insert(int(NOW * 1e9) - millis * 1_000_000, NOW)
        nsqd.broker.getChannel("t", "untracked", NOW)
        families = nsqd.scrape()
        channel = "nsq_channel_e2e_processing_latency_seconds"
        self.assertEqual(families[channel].type, "gauge")
        self.assertEqual(
            {
                sample.labels["quantile"]: sample.value
                for sample in families[channel].samples
            },
            {"1": 0.04, "0.99": 0.04, "0.5": 0.02},
        )
        self.assertEqual(
            {sample.labels["channel"] for sample in families[channel].samples},
            {"tracked"},
        )
        self.assertEqual(
            value(
                families,
                "nsq_channel_e2e_processing_latency_samples",
                topic="t",
                channel="tracked",
            ),
            4,
        )
        self.assertEqual(
            value(
                families,
                "nsq_topic_e2e_processing_latency_seconds",
                topic="t",
                quantile="0.5",
            ),
            0.02,
        )
        self.assertEqual(
            value(families, "nsq_topic_e2e_processing_latency_samples", topic="t"), 4
        )

    def test_topicAndChannelExtras(self) -> None:
        """
        Bytes published are a counter and the pause state a gauge, labelled
        without C{paused} so that pausing does not split their series.
        """
        families = busyNSQD().scrape()
        self.assertEqual(families["nsq_topic_message_bytes"].type, "counter")
        self.assertEqual(
            value(families, "nsq_topic_message_bytes_total", topic="orders"), 15
        )
        self.assertEqual(value(families, "nsq_topic_paused", topic="idle"), 1)
        self.assertEqual(value(families, "nsq_topic_paused", topic="orders"), 0)
        self.assertEqual(
            value(families, "nsq_channel_paused", topic="orders", channel="audit"), 1
        )
        self.assertEqual(
            value(families, "nsq_channel_paused", topic="orders", channel="billing"),
            0,
        )

    def test_daemon(self) -> None:
        """
        Health follows nsqd's L{Health}; the start time and the versions
        are reported.
        """
        nsqd = NSQD()
        families = nsqd.scrape()
        self.assertEqual(value(families, "nsq_healthy"), 1)
        self.assertEqual(value(families, "nsq_start_time_seconds"), START)
        self.assertEqual(
            value(
                families, "nsq_build_info", version=__version__, nsq_version=NSQ_VERSION
            ),
            1,
        )
        nsqd.health.set(OSError(28, "No space left on device"))
        self.assertEqual(value(nsqd.scrape(), "nsq_healthy"), 0)

    def test_optionalDaemonMetrics(self) -> None:
        """
        Without a health or a start time, those metrics are left out.
        """
        nsqd = NSQD()
        names = {family.name for family in NSQDCollector(nsqd.gather).collect()}
        self.assertNotIn("nsq_healthy", names)
        self.assertNotIn("nsq_start_time_seconds", names)
        self.assertIn("nsq_build_info", names)

    def test_noTopics(self) -> None:
        """
        Go's nil topics (an unknown C{topic=} filter) give empty families.
        """
        collector = NSQDCollector(lambda includeClients: Stats(None, None))
        families = {family.name: family for family in collector.collect()}
        self.assertEqual(families["nsq_topic_depth"].samples, [])
        self.assertEqual(families["nsq_channel_depth"].samples, [])

    def test_process(self) -> None:
        """
        The registry carries the process and interpreter metrics.
        """
        families = NSQD().scrape()
        self.assertIn("python_info", families)
        if os.path.exists("/proc/self/stat"):
            self.assertIn("process_start_time_seconds", families)


class RegistryTests(SynchronousTestCase):
    """
    Each daemon instance has its own registries, and renders them in
    Prometheus' text format.
    """

    def test_private(self) -> None:
        """
        Two nsqds in one process report their own state, and nothing is
        added to prometheus_client's global registry.
        """
        first, second = NSQD(), NSQD()
        first.broker.getTopic("first")
        second.broker.getTopic("second")
        self.assertEqual(
            {s.labels["topic"] for s in first.scrape()["nsq_topic_depth"].samples},
            {"first"},
        )
        self.assertEqual(
            {s.labels["topic"] for s in second.scrape()["nsq_topic_depth"].samples},
            {"second"},
        )
        self.assertNotIn(b"nsq_topic_depth", generate_latest(REGISTRY))

    def test_describeTakesNoSnapshot(self) -> None:
        """
        Registering describes the families without gathering stats, so the
        registry knows the names (duplicates are refused, C{name[]} filters
        work) at no cost.
        """
        nsqd = NSQD()
        self.assertEqual(nsqd.gathered, [])
        nsqd.broker.getTopic("t")
        restricted = nsqd.metrics.registry.restricted_registry(["nsq_topic_depth"])
        families = parse(render(restricted))
        self.assertEqual(list(families), ["nsq_topic_depth"])
        self.assertEqual(nsqd.gathered, [False])

    def test_textFormat(self) -> None:
        """
        The body is Prometheus' text format 0.0.4, uncompressed unless
        asked, with that format's C{Content-Type}.
        """
        exposition = NSQD().metrics.render()
        self.assertEqual(
            exposition.contentType, "text/plain; version=0.0.4; charset=utf-8"
        )
        self.assertIsNone(exposition.contentEncoding)
        self.assertIn(b"# TYPE nsq_topic_depth gauge\n", exposition.body)
        self.assertEqual(
            exposition.headers(),
            [
                (b"Content-Type", b"text/plain; version=0.0.4; charset=utf-8"),
                (b"Vary", b"Accept-Encoding"),
            ],
        )

    def test_sameAsGenerateLatest(self) -> None:
        """
        L{render} writes, byte for byte, what prometheus_client's
        C{generate_latest} writes for the same families: every family of
        both daemons, every metric type, label values needing escapes and
        non-ASCII text included.
        """
        nsqd = busyNSQD()
        channel = nsqd.broker.topics["orders"].channels["billing"]
        channel.e2eLatency = seededWindow([1.0, 0.99])
        channel.e2eLatency.insert(int(NOW * 1e9) - 25_000_000, NOW)
        lookupd = LookupdMetrics(busyRegistrations(), lambda: NOW, startTime=START)
        for source in (
            nsqd.metrics.registry,
            NSQDMetrics(awkwardStats).clientsRegistry,
            lookupd.registry,
        ):
            families = Frozen(source)
            self.assertEqual(render(families).body, generate_latest(families))

    def test_gzip(self) -> None:
        """
        A scraper that accepts gzip gets the same body gzipped.
        """
        nsqd = busyNSQD()

        def topicsAndChannels(body: bytes) -> bytes:
            # What follows changes from one scrape to the next.
            return body.split(b"# HELP nsq_exporter_")[0]

        plain = nsqd.metrics.render()
        for acceptEncoding in ("gzip", "deflate, gzip;q=1.0, *;q=0.5"):
            exposition = nsqd.metrics.render(acceptEncoding=acceptEncoding)
            self.assertEqual(exposition.contentEncoding, "gzip")
            self.assertEqual(exposition.contentType, TEXT_CONTENT_TYPE)
            self.assertIn((b"Content-Encoding", b"gzip"), exposition.headers())
            self.assertEqual(
                topicsAndChannels(gzip.decompress(exposition.body)),
                topicsAndChannels(plain.body),
            )
        self.assertIsNone(
            nsqd.metrics.render(acceptEncoding="identity").contentEncoding
        )

    def test_openMetrics(self) -> None:
        """
        The families are valid OpenMetrics too, for whoever serves a
        registry with prometheus_client's own handlers: its strict parser
        accepts the whole scrape, clients and latency quantiles included.
        """
        nsqd = busyNSQD()
        channel = nsqd.broker.topics["orders"].channels["billing"]
        channel.e2eLatency = seededWindow([0.99])
        names: set[str] = set()
        for source in (nsqd.metrics.registry, NSQDMetrics(goStats).clientsRegistry):
            text = openMetricsLatest(source).decode("utf-8")
            names.update(family.name for family in openMetricsFamilies(text))
        self.assertIn("nsq_client_state", names)
        self.assertIn("nsq_channel_e2e_processing_latency_seconds", names)


class LookupdTests(SynchronousTestCase):
    """
    nsqlookupd's metrics, read from a real L{RegistrationDB}.
    """

    def setUp(self) -> None:
        """
        The registrations of L{busyRegistrations}.
        """
        self.db = busyRegistrations()
        self.metrics = LookupdMetrics(self.db, lambda: NOW, startTime=START)

    def scrape(self) -> dict[str, Metric]:
        """
        Render and parse a scrape.
        """
        return parse(self.metrics.render())

    def test_counts(self) -> None:
        """
        Topics, channels per topic, active nsqds, producers per topic as
        C{/lookup} counts them (active, untombstoned) and tombstones in
        force.
        """
        families = self.scrape()
        self.assertEqual(value(families, "nsqlookupd_topics"), 3)
        self.assertEqual(value(families, "nsqlookupd_producers"), 2)
        channels = {
            s.labels["topic"]: s.value for s in families["nsqlookupd_channels"].samples
        }
        self.assertEqual(channels, {"orders": 2, "events": 0, "empty": 0})
        lookup = self.db.lookup("orders", NOW)
        assert lookup is not None
        self.assertEqual(
            value(families, "nsqlookupd_topic_producers", topic="orders"),
            len(lookup[1]),
        )
        self.assertEqual(
            value(families, "nsqlookupd_topic_producers", topic="orders"), 1
        )
        self.assertEqual(
            value(families, "nsqlookupd_topic_producers", topic="events"), 1
        )
        self.assertEqual(
            value(families, "nsqlookupd_topic_tombstones", topic="orders"), 1
        )
        self.assertEqual(
            value(families, "nsqlookupd_topic_tombstones", topic="events"), 0
        )

    def test_tombstoneExpires(self) -> None:
        """
        Once the tombstone lifetime has passed, the nsqd counts as a
        producer of the topic again.
        """
        later = NOW + 60
        metrics = LookupdMetrics(self.db, lambda: later)
        families = parse(metrics.render())
        self.assertEqual(
            value(families, "nsqlookupd_topic_tombstones", topic="orders"), 0
        )
        self.assertEqual(
            value(families, "nsqlookupd_topic_producers", topic="orders"), 2
        )

    def test_lastUpdate(self) -> None:
        """
        Every connected nsqd has its last IDENTIFY or PING time, inactive
        ones included, labelled with its addresses and version.
        """
        families = self.scrape()
        name = "nsqlookupd_producer_last_update_timestamp_seconds"
        self.assertEqual(families[name].type, "gauge")
        self.assertEqual(
            value(
                families,
                name,
                remote_address="10.0.0.103:103",
                hostname="stale",
                broadcast_address="stale.example",
                tcp_port="4150",
                http_port="4151",
                version=NSQ_VERSION,
            ),
            NOW - 600,
        )
        self.assertEqual(len(families[name].samples), 3)

    def test_daemon(self) -> None:
        """
        Start time, versions and process metrics, as for nsqd.
        """
        families = self.scrape()
        self.assertEqual(value(families, "nsqlookupd_start_time_seconds"), START)
        self.assertEqual(
            value(
                families,
                "nsqlookupd_build_info",
                version=__version__,
                nsq_version=NSQ_VERSION,
            ),
            1,
        )
        self.assertIn("python_info", families)
        names = {f.name for f in LookupdCollector(self.db, lambda: NOW).collect()}
        self.assertNotIn("nsqlookupd_start_time_seconds", names)

    def test_registryConstants(self) -> None:
        """
        The key categories and wildcard the collector looks up are the
        registry's own.
        """
        self.assertEqual(
            (
                prometheus._CLIENT,
                prometheus._TOPIC,
                prometheus._CHANNEL,
                prometheus._WILDCARD,
            ),
            (registry.CLIENT, registry.TOPIC, registry.CHANNEL, registry.WILDCARD),
        )
