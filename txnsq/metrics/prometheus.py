# -*- test-case-name: tests.metrics.test_prometheus -*-
"""
Prometheus metrics for nsqd and nsqlookupd, for their C{/metrics} routes.

Go NSQ serves no Prometheus metrics (nsqio/nsq#732); operators run lovoo's
C{nsq_exporter}, which polls nsqd's C{/stats} and republishes it.  nsqd's
metrics here carry that exporter's names, types and labels (its release
2.0.2, default namespace C{nsq}), so the dashboards and alerts written for
it keep working when Prometheus scrapes txnsq directly:

  - per topic, labelled C{topic} and C{paused}: C{nsq_topic_channel_count},
    C{nsq_topic_depth}, C{nsq_topic_backend_depth},
    C{nsq_topic_e2e_latency_99_percentile},
    C{nsq_topic_e2e_latency_95_percentile}, C{nsq_topic_message_count};
  - per channel, labelled C{topic}, C{channel} and C{paused}:
    C{nsq_channel_client_count}, C{nsq_channel_depth},
    C{nsq_channel_backend_depth}, C{nsq_channel_message_count},
    C{nsq_channel_in_flight_count}, C{nsq_channel_e2e_latency_99p},
    C{nsq_channel_e2e_latency_95p}, C{nsq_channel_deferred_count},
    C{nsq_channel_requeue_count}, C{nsq_channel_timeout_count};
  - per consumer connection, only with C{include_clients=true} (the
    exporter's optional C{stats.clients} collector), labelled C{topic},
    C{channel}, C{deflate}, C{snappy}, C{tls}, C{client_id}, C{hostname},
    C{version} and C{remote_address}: C{nsq_client_state},
    C{nsq_client_finish_count}, C{nsq_client_message_count},
    C{nsq_client_ready_count}, C{nsq_client_in_flight_count},
    C{nsq_client_requeue_count}, C{nsq_client_connect_ts},
    C{nsq_client_sample_rate};
  - C{nsq_exporter_scrape_duration_seconds{result="success"}}, a summary
    of how long reading the stats took (the exporter timed its C{/stats}
    request; here it is the snapshot).

They are all gauges, counts included, because the exporter declares them so
(as a counter, C{nsq_topic_message_count} would be exposed as
C{nsq_topic_message_count_total}, which no existing query names).  The
exporter's quirks that show in values are kept too: the C{99} and C{95}
latency gauges are the first and second percentile nsqd is configured with
(C{--e2e-processing-latency-percentile}), whatever they are, in
nanoseconds, and 0 when there is none (where the exporter would crash on a
topic with a single percentile, this reports 0).

What the exporter lacks comes under names of our own, following
Prometheus' conventions: base units, C{_total} counters, and no C{paused}
label (pausing would split a series, which breaks C{rate()}; the pause
state is a gauge of its own):

  - C{nsq_topic_paused{topic}}, C{nsq_channel_paused{topic,channel}}: 1
    while paused;
  - C{nsq_topic_message_bytes_total{topic}}: bytes published;
  - C{nsq_topic_e2e_processing_latency_seconds{topic,quantile}} and
    C{nsq_channel_e2e_processing_latency_seconds{topic,channel,quantile}}:
    every configured percentile, in seconds, with
    C{nsq_topic_e2e_processing_latency_samples{topic}} and
    C{nsq_channel_e2e_processing_latency_samples{topic,channel}}, how many
    messages the window holds (only when percentiles are configured);
  - C{nsq_healthy}: 1 while backend writes succeed (C{/ping} says C{OK});
  - C{nsq_start_time_seconds}: when nsqd started (POSIX time);
  - C{nsq_build_info{version,nsq_version}}: always 1; txnsq's version and
    the NSQ release it speaks;
  - the process (C{process_*}), the interpreter (C{python_info}) and, on
    CPython, its garbage collector (C{python_gc_*}), from prometheus_client.

nsqlookupd's metrics (namespace C{nsqlookupd}; the exporter has none):
C{nsqlookupd_topics}, C{nsqlookupd_channels{topic}},
C{nsqlookupd_producers} (active nsqds, as C{/nodes} lists them),
C{nsqlookupd_topic_producers{topic}} (active, untombstoned: what C{/lookup}
answers), C{nsqlookupd_topic_tombstones{topic}} (tombstones in force),
C{nsqlookupd_producer_last_update_timestamp_seconds{remote_address,
hostname,broadcast_address,tcp_port,http_port,version}} (the last IDENTIFY
or PING of every connected nsqd), C{nsqlookupd_start_time_seconds},
C{nsqlookupd_build_info{version,nsq_version}} and the process metrics.

Each daemon instance owns private registries (L{NSQDMetrics},
L{LookupdMetrics}), never prometheus_client's global one: C{twistd nsq}
runs both daemons in one process, and each must answer with its own state.
L{render} writes a registry in Prometheus' text format 0.0.4, which every
Prometheus reads (as lovoo's exporter, this serves no OpenMetrics), gzipped
when the scraper accepts it.  A scrape runs on the reactor thread, so it is
built for speed: 1,000 topics of 5 channels (60,000 samples) take tens of
milliseconds rather than the better part of a second
(C{bench/metrics_scrape.py}).

This module reads the daemons through structural types (L{StatsSnapshot},
L{RegistrationView}) rather than importing them, so the daemons' HTTP
layers can import it without an import circle.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import attrs
from prometheus_client import (
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from txnsq import NSQ_VERSION, __version__

__all__ = [
    "TEXT_CONTENT_TYPE",
    "Exposition",
    "HealthState",
    "LookupdCollector",
    "LookupdMetrics",
    "NSQDCollector",
    "NSQDMetrics",
    "RegistrationView",
    "StatsSnapshot",
    "render",
]

JSONObject = Mapping[str, Any]

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""
The C{Content-Type} of Prometheus' text format 0.0.4, what L{render}
writes: every Prometheus reads it, whatever it asks for in C{Accept}, and
Go's exporters (lovoo's included) answer with it.
"""

# gzip level 1: on the reactor thread, level 6 takes three times as long
# for a body only an eighth smaller (5 MB of text: 25 ms and 214 kB against
# 71 ms and 188 kB).
_GZIP_LEVEL = 1


class StatsSnapshot(Protocol):
    """
    What L{NSQDCollector} reads: the topics of nsqd's C{/stats}, as
    L{txnsq.nsqd.stats.gatherStats} returns them (its C{Stats} provides
    this), in Go's JSON shape.
    """

    @property
    def topics(self) -> Sequence[JSONObject] | None:
        """
        Go's C{TopicStats} objects, or L{None} (Go's nil slice).
        """


class HealthState(Protocol):
    """
    nsqd's health (L{txnsq.nsqd.stats.Health} provides it).
    """

    @property
    def healthy(self) -> bool:
        """
        Whether the latest backend write succeeded.
        """


@attrs.frozen
class Exposition:
    """
    A rendered scrape: the response body and its headers.

    @ivar contentEncoding: C{"gzip"} when C{body} is compressed, else
        L{None}.
    """

    body: bytes
    contentType: str = TEXT_CONTENT_TYPE
    contentEncoding: str | None = None

    def headers(self) -> list[tuple[bytes, bytes]]:
        """
        The response headers that go with C{body}: its C{Content-Type}, its
        C{Content-Encoding} when it has one, and C{Vary: Accept-Encoding}
        (the encoding depends on that request header).
        """
        headers = [(b"Content-Type", self.contentType.encode("ascii"))]
        if self.contentEncoding is not None:
            encoding = self.contentEncoding.encode("ascii")
            headers.append((b"Content-Encoding", encoding))
        headers.append((b"Vary", b"Accept-Encoding"))
        return headers


def render(source: Collector, acceptEncoding: str = "") -> Exposition:
    """
    Render C{source} (a registry) in Prometheus' text format, byte for byte
    as prometheus_client's C{generate_latest} does, but about ten times as
    fast for this module's own gauges (which carry their label text
    rendered once per label set); other metrics go through
    C{generate_latest}.

    @param acceptEncoding: the request's C{Accept-Encoding}: the body is
        gzipped when it names C{gzip} (Prometheus always does).
    """
    body = _text(source)
    encodings = [e.split(";")[0].strip() for e in acceptEncoding.split(",")]
    if "gzip" in encodings:
        return Exposition(gzip.compress(body, _GZIP_LEVEL), contentEncoding="gzip")
    return Exposition(body)


# Rendering.

# prometheus_client's number format (Go's, for the text format); typed here.
_formatNumber: Callable[[float], str] = floatToGoString


def _escapeLabelValue(value: str) -> str:
    # The text format's escapes, as generate_latest applies them; names of
    # topics and channels never need them, so look before copying.
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


class _Labels(NamedTuple):
    """
    One label set, shared by the samples of every family that carries it,
    with its text in the exposition format.
    """

    names: tuple[str, ...]
    values: tuple[str, ...]
    text: str

    def asDict(self) -> dict[str, str]:
        """
        The labels as a C{Sample} carries them.
        """
        return dict(zip(self.names, self.values))


class _LabelNames:
    """
    A family's label names, and the text format's template for their values
    (names sorted, as C{generate_latest} sorts them).
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        order = sorted(range(len(self.names)), key=self.names.__getitem__)
        # Valid label names hold no braces, so they can sit in a template.
        fields = ",".join(f'{self.names[index]}="{{{index}}}"' for index in order)
        self._template = "{{" + fields + "}}" if fields else ""

    def labels(self, values: Sequence[str]) -> _Labels:
        """
        The label set giving these names C{values}.
        """
        values = tuple(values)
        text = self._template.format(*map(_escapeLabelValue, values))
        return _Labels(self.names, values, text)


class _Gauge(GaugeMetricFamily):
    """
    A gauge of this module's, which L{render} writes itself: its names are
    valid legacy Prometheus names (nothing to escape), and it keeps each
    sample as a label set and a value, making C{Sample}s only when someone
    reads C{samples} (the OpenMetrics encoder, a restricted registry): a
    scrape of 1,000 topics has 60,000 samples, and building them was most
    of its cost.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        value: float | None = None,
        labels: Sequence[str] | None = None,
        labelSets: list[_Labels] | None = None,
    ) -> None:
        """
        @param labelSets: the list of label sets, when several gauges share
            one (a L{_GaugeGroup}, which then adds every sample).
        """
        # Set before the superclass adds a sample for value.
        self.labelNames = _LabelNames(labels or ())
        self.labelSets: list[_Labels] = [] if labelSets is None else labelSets
        self.values: list[float] = []
        self._samples: list[Sample] = []
        super().__init__(name, documentation, value, labels)

    @property
    def samples(self) -> list[Sample]:
        """
        The samples, as C{GaugeMetricFamily} has them.
        """
        made = self._samples
        for labels, value in zip(self.labelSets[len(made) :], self.values[len(made) :]):
            made.append(Sample(self.name, labels.asDict(), value))
        return made

    @samples.setter
    def samples(self, samples: list[Sample]) -> None:
        # Metric.__init__ starts the samples empty; they come through add.
        if samples:
            raise ValueError("add samples to a txnsq gauge with add()")

    def add_sample(self, *args: Any, **kwargs: Any) -> None:
        """
        Refused: samples come through L{add} or L{add_metric}.
        """
        raise NotImplementedError("add samples to a txnsq gauge with add()")

    def add_metric(
        self, labels: Sequence[str], value: float, timestamp: Any = None
    ) -> None:
        """
        Add a sample, as C{GaugeMetricFamily} does (timestamps excepted).
        """
        if timestamp is not None:
            raise ValueError("txnsq's gauges carry no timestamps")
        self.add(self.labelNames.labels(labels), value)

    def add(self, labels: _Labels, value: float) -> None:
        """
        Add a sample.
        """
        self.labelSets.append(labels)
        self.values.append(value)

    def text(self, formatted: dict[float, str]) -> str:
        """
        This family in the text format, as C{generate_latest} writes it.

        @param formatted: numbers already formatted, by value, to add to:
            most values repeat (zeros above all), and formatting them is a
            good part of the cost of a line.
        """
        name = self.name
        documentation = self.documentation.replace("\\", r"\\").replace("\n", r"\n")
        lines = [f"# HELP {name} {documentation}\n# TYPE {name} gauge\n"]
        append = lines.append
        for labels, value in zip(self.labelSets, self.values):
            number = formatted.get(value)
            if number is None:
                number = formatted[value] = _formatNumber(value)
            append(f"{name}{labels.text} {number}\n")
        return "".join(lines)


class _GaugeGroup:
    """
    Gauges with the same labels, filled a row at a time: one label set per
    row, shared by all of them, and one value per gauge.
    """

    def __init__(
        self, prefix: str, specs: Sequence[tuple[str, str]], labelNames: _LabelNames
    ) -> None:
        """
        @param specs: each gauge's name (after C{prefix}) and help.
        """
        self.labelNames = labelNames
        self._labelSets: list[_Labels] = []
        self.gauges = [
            _Gauge(
                prefix + name, documentation, None, labelNames.names, self._labelSets
            )
            for name, documentation in specs
        ]
        self._appends = [gauge.values.append for gauge in self.gauges]

    def add(self, labels: _Labels, values: Iterable[float]) -> None:
        """
        Add a row: C{values} in the order of the gauges.
        """
        self._labelSets.append(labels)
        for append, value in zip(self._appends, values):
            append(value)


class _Only(Collector):
    """
    One metric, as a collector, for C{generate_latest}.
    """

    def __init__(self, metric: Metric) -> None:
        self._metric = metric

    def collect(self) -> list[Metric]:
        """
        The metric.
        """
        return [self._metric]


def _text(source: Collector) -> bytes:
    formatted: dict[float, str] = {}
    parts = []
    for metric in source.collect():
        if type(metric) is _Gauge:
            parts.append(metric.text(formatted))
        else:
            parts.append(generate_latest(_Only(metric)).decode("utf-8"))
    return "".join(parts).encode("utf-8")


def _processCollectors(registry: CollectorRegistry) -> None:
    # They register themselves; GCCollector only on CPython, whose collector
    # has generations to report.
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)


def _goBool(value: object) -> str:
    # Go's strconv.FormatBool, as the exporter writes its boolean labels.
    return "true" if value else "false"


def _goFloat(value: float) -> str:
    # Go's strconv.FormatFloat(value, 'g', -1, 64), as Go's Prometheus client
    # writes quantile labels: the shortest exact form, "1" rather than "1.0".
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _positionalPercentile(latency: JSONObject, index: int) -> float:
    # The exporter's reading: the index-th configured percentile, in
    # nanoseconds, 0 without it.
    percentiles = latency["percentiles"] or ()
    if index < len(percentiles):
        return float(percentiles[index]["value"])
    return 0.0


# The exporter's metrics, in its order: (name, help).  Values are read in
# the same order by _topicValues, _channelValues and _clientValues.
_TOPIC_GAUGES = (
    ("channel_count", "Number of channels"),
    ("depth", "Messages queued, in memory and on disk"),
    ("backend_depth", "Messages queued on disk"),
    ("e2e_latency_99_percentile", "First configured e2e latency percentile (ns)"),
    ("e2e_latency_95_percentile", "Second configured e2e latency percentile (ns)"),
    ("message_count", "Messages published"),
)
_TOPIC_LABELS = _LabelNames(("topic", "paused"))

_CHANNEL_GAUGES = (
    ("client_count", "Number of consumer connections"),
    ("depth", "Messages queued, in memory and on disk"),
    ("backend_depth", "Messages queued on disk"),
    ("message_count", "Messages delivered to the channel"),
    ("in_flight_count", "Messages in flight"),
    ("e2e_latency_99p", "First configured e2e latency percentile (ns)"),
    ("e2e_latency_95p", "Second configured e2e latency percentile (ns)"),
    ("deferred_count", "Messages deferred"),
    ("requeue_count", "Messages requeued"),
    ("timeout_count", "Messages timed out in flight"),
)
_CHANNEL_LABELS = _LabelNames(("topic", "channel", "paused"))

_CLIENT_GAUGES = (
    ("state", "Connection state (Go's stateInit 0 ... stateClosing 4)"),
    ("finish_count", "Messages finished"),
    ("message_count", "Messages sent"),
    ("ready_count", "RDY count"),
    ("in_flight_count", "Messages in flight"),
    ("requeue_count", "Messages requeued"),
    ("connect_ts", "When the connection was made (POSIX seconds)"),
    ("sample_rate", "Sample rate asked for in IDENTIFY"),
)
_CLIENT_LABELS = _LabelNames(
    (
        "topic",
        "channel",
        "deflate",
        "snappy",
        "tls",
        "client_id",
        "hostname",
        "version",
        "remote_address",
    )
)


def _topicValues(topic: JSONObject) -> tuple[float, ...]:
    latency = topic["e2e_processing_latency"]
    return (
        len(topic["channels"]),
        topic["depth"],
        topic["backend_depth"],
        _positionalPercentile(latency, 0),
        _positionalPercentile(latency, 1),
        topic["message_count"],
    )


def _channelValues(channel: JSONObject) -> tuple[float, ...]:
    latency = channel["e2e_processing_latency"]
    return (
        channel["client_count"],
        channel["depth"],
        channel["backend_depth"],
        channel["message_count"],
        channel["in_flight_count"],
        _positionalPercentile(latency, 0),
        _positionalPercentile(latency, 1),
        channel["deferred_count"],
        channel["requeue_count"],
        channel["timeout_count"],
    )


def _clientValues(client: JSONObject) -> tuple[float, ...]:
    return (
        client["state"],
        client["finish_count"],
        client["message_count"],
        client["ready_count"],
        client["in_flight_count"],
        client["requeue_count"],
        client["connect_ts"],
        client["sample_rate"],
    )


def _clientLabels(topic: str, channel: str, client: JSONObject) -> _Labels:
    return _CLIENT_LABELS.labels(
        (
            topic,
            channel,
            _goBool(client["deflate"]),
            _goBool(client["snappy"]),
            _goBool(client["tls"]),
            client["client_id"],
            client["hostname"],
            client["version"],
            client["remote_address"],
        ),
    )


def _addLatency(
    quantiles: _Gauge,
    samples: _Gauge,
    labels: Sequence[str],
    latency: JSONObject,
) -> None:
    # Go's quantile.Result: percentiles is null unless nsqd tracks latency.
    percentiles = latency["percentiles"]
    if percentiles is None:
        return
    for item in percentiles:
        quantiles.add_metric([*labels, _goFloat(item["quantile"])], item["value"] / 1e9)
    samples.add_metric(labels, latency["count"])


class _ScrapeDurations:
    """
    The running count and sum behind
    C{nsq_exporter_scrape_duration_seconds}, shared by the collectors of one
    nsqd (with and without clients).
    """

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0


class NSQDCollector(Collector):
    """
    nsqd's metrics (see the module docstring), from a fresh snapshot of its
    stats at every scrape.
    """

    def __init__(
        self,
        gather: Callable[[bool], StatsSnapshot],
        *,
        health: HealthState | None = None,
        startTime: float | None = None,
        includeClients: bool = False,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        """
        @param gather: takes C{includeClients} and returns the stats, e.g.
            C{lambda includeClients: gatherStats(broker, clients,
            includeClients=includeClients, now=reactor.seconds())}.
        @param health: nsqd's health, for C{nsq_healthy} (left out when
            L{None}).
        @param startTime: when nsqd started, for C{nsq_start_time_seconds}
            (left out when L{None}).
        @param includeClients: whether to report each consumer connection.
        @param timer: a monotonic clock in seconds, to time the snapshot.
        """
        self._gather = gather
        self._health = health
        self._startTime = startTime
        self._timer = timer
        self.includeClients = includeClients
        self._durations = _ScrapeDurations()

    def withClients(self) -> NSQDCollector:
        """
        The same collector, reporting each consumer connection too (and
        sharing the scrape durations).
        """
        twin = NSQDCollector(
            self._gather,
            health=self._health,
            startTime=self._startTime,
            includeClients=True,
            timer=self._timer,
        )
        twin._durations = self._durations
        return twin

    def describe(self) -> Iterator[Metric]:
        """
        The families this collector yields, without samples: the registry
        learns their names (to refuse duplicates and to serve C{name[]}
        filters) without taking a snapshot.
        """
        return self._families(None)

    def collect(self) -> Iterator[Metric]:
        """
        Take a snapshot and yield every family.
        """
        started = self._timer()
        snapshot = self._gather(self.includeClients)
        durations = self._durations
        durations.count += 1
        durations.total += self._timer() - started
        return self._families(snapshot.topics or ())

    def _families(self, topics: Sequence[JSONObject] | None) -> Iterator[Metric]:
        # topics is None when describing: the families come out empty.
        yield from _topicFamilies(topics or ())
        yield from _channelFamilies(topics or ())
        if self.includeClients:
            yield from _clientFamilies(topics or ())
        durations = SummaryMetricFamily(
            "nsq_exporter_scrape_duration_seconds",
            "Time taken to read nsqd's stats for a scrape",
            labels=["result"],
        )
        if topics is not None:
            durations.add_metric(
                ["success"], self._durations.count, self._durations.total
            )
        yield durations
        if self._health is not None:
            healthy = _Gauge(
                "nsq_healthy", "1 while backend writes succeed (/ping says OK)"
            )
            if topics is not None:
                healthy.add_metric([], 1 if self._health.healthy else 0)
            yield healthy
        if self._startTime is not None:
            yield _Gauge(
                "nsq_start_time_seconds",
                "When nsqd started, in seconds since the epoch",
                value=self._startTime,
            )
        yield _buildInfo("nsq", "nsqd")


def _buildInfo(namespace: str, daemon: str) -> _Gauge:
    info = _Gauge(
        f"{namespace}_build_info",
        f"Always 1: the txnsq version of this {daemon} and the NSQ release it speaks",
        labels=["version", "nsq_version"],
    )
    info.add_metric([__version__, NSQ_VERSION], 1)
    return info


_TOPIC_ONLY = _LabelNames(("topic",))
_TOPIC_CHANNEL = _LabelNames(("topic", "channel"))


def _topicFamilies(topics: Iterable[JSONObject]) -> Iterator[Metric]:
    lovoo = _GaugeGroup("nsq_topic_", _TOPIC_GAUGES, _TOPIC_LABELS)
    paused = _GaugeGroup("nsq_topic_", [("paused", "1 while paused")], _TOPIC_ONLY)
    messageBytes = CounterMetricFamily(
        "nsq_topic_message_bytes", "Bytes published", labels=["topic"]
    )
    quantiles = _Gauge(
        "nsq_topic_e2e_processing_latency_seconds",
        "End-to-end processing latency percentiles over the topic's channels",
        labels=["topic", "quantile"],
    )
    samples = _Gauge(
        "nsq_topic_e2e_processing_latency_samples",
        "Messages in the topic's latency window",
        labels=["topic"],
    )
    for topic in topics:
        name = topic["topic_name"]
        lovoo.add(
            _TOPIC_LABELS.labels((name, _goBool(topic["paused"]))), _topicValues(topic)
        )
        only = (name,)
        paused.add(_TOPIC_ONLY.labels(only), (1 if topic["paused"] else 0,))
        messageBytes.add_metric(only, topic["message_bytes"])
        _addLatency(quantiles, samples, only, topic["e2e_processing_latency"])
    yield from lovoo.gauges
    yield from paused.gauges
    yield from (messageBytes, quantiles, samples)


def _channelFamilies(topics: Iterable[JSONObject]) -> Iterator[Metric]:
    lovoo = _GaugeGroup("nsq_channel_", _CHANNEL_GAUGES, _CHANNEL_LABELS)
    paused = _GaugeGroup("nsq_channel_", [("paused", "1 while paused")], _TOPIC_CHANNEL)
    quantiles = _Gauge(
        "nsq_channel_e2e_processing_latency_seconds",
        "End-to-end processing latency percentiles",
        labels=["topic", "channel", "quantile"],
    )
    samples = _Gauge(
        "nsq_channel_e2e_processing_latency_samples",
        "Messages in the channel's latency window",
        labels=["topic", "channel"],
    )
    for topic in topics:
        topicName = topic["topic_name"]
        for channel in topic["channels"]:
            both = (topicName, channel["channel_name"])
            isPaused = channel["paused"]
            lovoo.add(
                _CHANNEL_LABELS.labels((*both, _goBool(isPaused))),
                _channelValues(channel),
            )
            paused.add(_TOPIC_CHANNEL.labels(both), (1 if isPaused else 0,))
            _addLatency(quantiles, samples, both, channel["e2e_processing_latency"])
    yield from lovoo.gauges
    yield from paused.gauges
    yield from (quantiles, samples)


def _clientFamilies(topics: Iterable[JSONObject]) -> Iterator[Metric]:
    lovoo = _GaugeGroup("nsq_client_", _CLIENT_GAUGES, _CLIENT_LABELS)
    for topic in topics:
        for channel in topic["channels"]:
            for client in channel["clients"] or ():
                lovoo.add(
                    _clientLabels(topic["topic_name"], channel["channel_name"], client),
                    _clientValues(client),
                )
    yield from lovoo.gauges


class NSQDMetrics:
    """
    One nsqd's C{/metrics}: its private registries and their rendering.

    @ivar collector: nsqd's own metrics, without clients.
    @ivar registry: C{collector} and the process metrics.
    @ivar clientsRegistry: the same with each consumer connection, for
        C{include_clients=true}.
    """

    def __init__(
        self,
        gather: Callable[[bool], StatsSnapshot],
        *,
        health: HealthState | None = None,
        startTime: float | None = None,
    ) -> None:
        """
        The arguments are L{NSQDCollector}'s.
        """
        self.collector = NSQDCollector(gather, health=health, startTime=startTime)
        # Two registries rather than a flag flipped around each render: a
        # registry may be collected from any thread (prometheus_client's
        # own servers do), and each scrape takes a single snapshot.
        self.registry = CollectorRegistry()
        self.clientsRegistry = CollectorRegistry()
        self.registry.register(self.collector)
        self.clientsRegistry.register(self.collector.withClients())
        _processCollectors(self.registry)
        _processCollectors(self.clientsRegistry)

    def render(
        self, includeClients: bool = False, acceptEncoding: str = ""
    ) -> Exposition:
        """
        Scrape: L{render} of the registry C{includeClients} picks.

        @param acceptEncoding: the request's C{Accept-Encoding}.
        """
        registry = self.clientsRegistry if includeClients else self.registry
        return render(registry, acceptEncoding)


# nsqlookupd.

# txnsq.nsqlookupd.registry's key categories and wildcard (the tests check
# they agree).
_CLIENT = "client"
_TOPIC = "topic"
_CHANNEL = "channel"
_WILDCARD = "*"


class _PeerInfo(Protocol):
    """
    An identified nsqd (the registry's C{PeerInfo}).
    """

    @property
    def remoteAddress(self) -> str: ...
    @property
    def hostname(self) -> str: ...
    @property
    def broadcastAddress(self) -> str: ...
    @property
    def tcpPort(self) -> int: ...
    @property
    def httpPort(self) -> int: ...
    @property
    def version(self) -> str: ...
    @property
    def lastUpdate(self) -> float: ...


class _Producer(Protocol):
    """
    An nsqd under one registration key (the registry's C{Producer}).
    """

    @property
    def peerInfo(self) -> _PeerInfo: ...

    def isTombstoned(self, now: float, lifetime: float) -> bool: ...


class _Key(Protocol):
    """
    A registration key (the registry's C{Registration}).
    """

    @property
    def key(self) -> str: ...
    @property
    def subkey(self) -> str: ...


class RegistrationView(Protocol):
    """
    What L{LookupdCollector} reads from nsqlookupd's registrations
    (L{txnsq.nsqlookupd.registry.RegistrationDB} provides it).
    """

    @property
    def inactiveProducerTimeout(self) -> float:
        """
        Seconds after its last PING that an nsqd stops counting as active.
        """

    @property
    def tombstoneLifetime(self) -> float:
        """
        Seconds a tombstone stays in force.
        """

    def topics(self) -> Sequence[str]:
        """
        Every topic key.
        """

    def findRegistrations(self, category: str, key: str, subkey: str) -> Sequence[_Key]:
        """
        The keys matching a pattern.
        """

    def findProducers(
        self, category: str, key: str, subkey: str
    ) -> Sequence[_Producer]:
        """
        The producers under the keys matching a pattern.
        """


_PEER_LABELS = (
    "remote_address",
    "hostname",
    "broadcast_address",
    "tcp_port",
    "http_port",
    "version",
)


class LookupdCollector(Collector):
    """
    nsqlookupd's metrics (see the module docstring), read from its
    registrations at every scrape.

    Every lookup is by exact key but two (every topic key, every channel
    key), so a scrape costs one pass over the registrations.
    """

    def __init__(
        self,
        db: RegistrationView,
        now: Callable[[], float],
        *,
        startTime: float | None = None,
    ) -> None:
        """
        @param now: the current time in seconds (the reactor's C{seconds}),
            against which activity and tombstones are judged.
        @param startTime: when nsqlookupd started, for
            C{nsqlookupd_start_time_seconds} (left out when L{None}).
        """
        self._db = db
        self._now = now
        self._startTime = startTime

    def describe(self) -> Iterator[Metric]:
        """
        The families this collector yields, without samples.
        """
        return self._families(False)

    def collect(self) -> Iterator[Metric]:
        """
        Read the registrations and yield every family.
        """
        return self._families(True)

    def _families(self, filled: bool) -> Iterator[Metric]:
        topicCount = _Gauge("nsqlookupd_topics", "Topics registered")
        channels = _Gauge(
            "nsqlookupd_channels", "Channels registered", labels=["topic"]
        )
        producers = _Gauge(
            "nsqlookupd_producers", "Active nsqds (as /nodes lists them)"
        )
        topicProducers = _Gauge(
            "nsqlookupd_topic_producers",
            "Active, untombstoned nsqds with the topic (as /lookup answers)",
            labels=["topic"],
        )
        tombstones = _Gauge(
            "nsqlookupd_topic_tombstones",
            "nsqds tombstoned for the topic, tombstone still in force",
            labels=["topic"],
        )
        lastUpdate = _Gauge(
            "nsqlookupd_producer_last_update_timestamp_seconds",
            "When a connected nsqd last sent IDENTIFY or PING",
            labels=_PEER_LABELS,
        )
        if filled:
            self._fill(
                topicCount, channels, producers, topicProducers, tombstones, lastUpdate
            )
        yield from (topicCount, channels, producers, topicProducers, tombstones)
        yield lastUpdate
        if self._startTime is not None:
            yield _Gauge(
                "nsqlookupd_start_time_seconds",
                "When nsqlookupd started, in seconds since the epoch",
                value=self._startTime,
            )
        yield _buildInfo("nsqlookupd", "nsqlookupd")

    def _fill(
        self,
        topicCount: _Gauge,
        channels: _Gauge,
        producers: _Gauge,
        topicProducers: _Gauge,
        tombstones: _Gauge,
        lastUpdate: _Gauge,
    ) -> None:
        db, now = self._db, self._now()
        inactive, lifetime = db.inactiveProducerTimeout, db.tombstoneLifetime
        topics = db.topics()
        topicCount.add_metric([], len(topics))
        channelCounts = dict.fromkeys(topics, 0)
        for registration in db.findRegistrations(_CHANNEL, _WILDCARD, _WILDCARD):
            # A channel key without its topic key cannot be made through
            # the protocol or the API; counting it anyway costs nothing.
            channelCounts[registration.key] = channelCounts.get(registration.key, 0) + 1
        for topic, count in channelCounts.items():
            channels.add_metric([topic], count)
        for topic in topics:
            active = tombstoned = 0
            for producer in db.findProducers(_TOPIC, topic, ""):
                if producer.isTombstoned(now, lifetime):
                    tombstoned += 1
                elif now - producer.peerInfo.lastUpdate <= inactive:
                    # Go's FilterByActive: inactive strictly after the
                    # timeout.
                    active += 1
            topicProducers.add_metric([topic], active)
            tombstones.add_metric([topic], tombstoned)
        clients = db.findProducers(_CLIENT, "", "")
        producers.add_metric(
            [],
            sum(1 for c in clients if now - c.peerInfo.lastUpdate <= inactive),
        )
        for client in clients:
            peer = client.peerInfo
            lastUpdate.add_metric(
                [
                    peer.remoteAddress,
                    peer.hostname,
                    peer.broadcastAddress,
                    str(peer.tcpPort),
                    str(peer.httpPort),
                    peer.version,
                ],
                peer.lastUpdate,
            )


class LookupdMetrics:
    """
    One nsqlookupd's C{/metrics}: its private registry and its rendering.

    @ivar collector: nsqlookupd's own metrics.
    @ivar registry: C{collector} and the process metrics.
    """

    def __init__(
        self,
        db: RegistrationView,
        now: Callable[[], float],
        *,
        startTime: float | None = None,
    ) -> None:
        """
        The arguments are L{LookupdCollector}'s.
        """
        self.collector = LookupdCollector(db, now, startTime=startTime)
        self.registry = CollectorRegistry()
        self.registry.register(self.collector)
        _processCollectors(self.registry)

    def render(self, acceptEncoding: str = "") -> Exposition:
        """
        Scrape: L{render} of the registry.

        @param acceptEncoding: the request's C{Accept-Encoding}.
        """
        return render(self.registry, acceptEncoding)
