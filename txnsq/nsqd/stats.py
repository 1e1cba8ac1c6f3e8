# -*- test-case-name: tests.nsqd.test_stats -*-
"""
nsqd's statistics: what C{GET /stats} reports, as Go nsqd 1.3.0 shapes it,
in JSON (L{gatherStats} builds the objects, in Go's field order, ready for
L{txnsq._go.json.encodeJSON}) and as Go's plain-text page
(L{formatStatsText}).  C{/stats} itself writes both directly from the
broker (L{statsJSON}, L{statsText}): the same bytes, without an object per
channel, which cost more than Go's whole answer at thousands of channels.

Go's quirks are kept (they are part of what clients and the golden
recordings see):

  - topics and channels are sorted by name; a C{topic=} filter naming an
    unknown topic gives C{"topics":null,"producers":null}; a C{channel=}
    filter drops the topics that lack that channel (C{"topics":[]});
  - C{include_clients=false} makes every channel's C{clients} and the
    C{producers} list C{null}, while C{client_count} stays filled;
  - a producer (a connection that has published) lists only one topic in
    C{pub_counts}, and reports C{message_count} 0;
  - C{e2e_processing_latency} is C{{"count":0,"percentiles":null}} unless
    C{--e2e-processing-latency-percentile} is set (see
    L{txnsq.nsqd.state.quantile}); in text it is then empty, leaving
    C{e2e%: } with its trailing space.

C{memory} holds Go runtime figures in Go; here the same nine keys carry the
closest Python equivalents (L{memoryStats} says which).

This module imports no Twisted: it reads the broker and the connections'
counters, so it can be tested with fakes.
"""

from __future__ import annotations

import functools
import gc
import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol, cast

import attrs

from txnsq._go.flags import daemonVersion
from txnsq._go.json import encodeJSON, formatFloat, quoteString
from txnsq._go.values import formatDurationNanoseconds
from txnsq.nsqd._clientv2 import ClientV2, TLSConnection
from txnsq.nsqd.state import Broker, Channel, Consumer, Topic
from txnsq.nsqd.state.quantile import LatencyWindow, mergedResult

__all__ = [
    "STATS_TEXT_VERSION",
    "ClientCounters",
    "GCPauseRecorder",
    "Health",
    "Stats",
    "clientStats",
    "formatStatsText",
    "gatherStats",
    "latencyJSON",
    "memoryStats",
    "nanosecondsToHuman",
    "statsJSON",
    "statsText",
]

STATS_TEXT_VERSION = daemonVersion("nsqd")
"""
The first line of the text C{/stats} page: what C{--version} prints, as
in Go (C{version.String("nsqd")}), so C{nsqd v1.3.0 (built
w/txnsq-0.1.0)} where Go says C{(built w/go1.19.8)}.  A reader that parses
the NSQ version from it finds Go's; the build part says what actually
runs.
"""

JSONObject = dict[str, Any]


class ClientCounters(Protocol):
    """
    A TCP connection as C{/stats} sees it (L{txnsq.nsqd.protocol.NSQDProtocol},
    and the broker's consumer of each subscribed connection, provide it).
    """

    @property
    def client(self) -> ClientV2:
        """
        The connection's state.
        """


class Health:
    """
    nsqd's health: C{OK} until a backend write fails, C{NOK - <error>}
    until the next one succeeds (Go's C{NSQD.SetHealth}).
    """

    def __init__(self) -> None:
        self.error: str | None = None

    def set(self, error: BaseException | str | None) -> None:
        """
        Record the outcome of the latest backend write: L{None} for
        success, else the error.
        """
        self.error = None if error is None else str(error)

    @property
    def healthy(self) -> bool:
        """
        Whether the latest backend write succeeded.
        """
        return self.error is None

    def text(self) -> str:
        """
        C{OK} or C{NOK - <error>}, as C{/ping} and C{/stats} show it.
        """
        return "OK" if self.error is None else f"NOK - {self.error}"


# e2e processing latency.


def _channelWindow(channel: Channel) -> LatencyWindow | None:
    return channel.e2eLatency


def _topicWindows(topic: Topic) -> list[LatencyWindow]:
    # A topic's latency merges all its channels' windows, whatever the
    # channel filter (as Go's does).
    return [
        window
        for channel in topic.channels.values()
        if (window := channel.e2eLatency) is not None
    ]


def latencyJSON(windows: Sequence[LatencyWindow], now: float) -> JSONObject:
    """
    Go's C{quantile.Result} for C{windows} merged: C{count} and
    C{percentiles} (a list of C{{"quantile","value"}} objects, or C{null}
    when there is no window).
    """
    if not windows:
        return {"count": 0, "percentiles": None}
    count, values = mergedResult(windows, windows[0].percentiles, now)
    return {
        "count": count,
        "percentiles": [{"quantile": q, "value": value} for q, value in values],
    }


# Clients.


def clientStats(client: ClientV2, topicFilter: str = "") -> JSONObject:
    """
    Go's C{ClientV2Stats} for one connection, in its field order.

    @param topicFilter: the C{topic=} filter of the request: C{pub_counts}
        then only considers that topic.
    """
    pubCounts = []
    for topic, count in client.pubCounts.items():
        if topicFilter and topic != topicFilter:
            continue
        pubCounts.append({"topic": topic, "count": count})
        # Go stops at the first topic (a quirk that clients see).
        break
    stats: JSONObject = {
        "client_id": client.clientID,
        "hostname": client.hostname,
        "version": "V2",
        "remote_address": client.remoteAddress,
        "state": client.state,
        "ready_count": client.readyCount,
        "in_flight_count": client.inFlightCount,
        "message_count": client.messageCount,
        "finish_count": client.finishCount,
        "requeue_count": client.requeueCount,
        "connect_ts": int(client.connectTime),
        "sample_rate": client.sampleRate,
        "deflate": client.deflate,
        "snappy": client.snappy,
        "user_agent": client.userAgent,
    }
    authorizations = client.authorizations
    if authorizations is not None:
        # Go: authed when the auth server granted anything; identity and
        # its URL whenever it answered.
        if authorizations.entries:
            stats["authed"] = True
        if authorizations.identity:
            stats["auth_identity"] = authorizations.identity
        if authorizations.identityURL:
            stats["auth_identity_url"] = authorizations.identityURL
    if pubCounts:
        stats["pub_counts"] = pubCounts
    tls = client.tls
    cipher, version, negotiated = ("", "", "")
    if tls and client.tlsConnection is not None:
        cipher, version, negotiated = _tlsDetails(client.tlsConnection)
    stats["tls"] = tls
    stats["tls_cipher_suite"] = cipher
    stats["tls_version"] = version
    stats["tls_negotiated_protocol"] = negotiated
    # Deprecated in Go's crypto/tls and always true there.
    stats["tls_negotiated_protocol_is_mutual"] = tls
    return stats


# Go nsqd names these suites (by their OpenSSL names here); any other is
# "Unknown <IANA id>".
_GO_CIPHER_NAMES = {
    "RC4-SHA": "TLS_RSA_WITH_RC4_128_SHA",
    "DES-CBC3-SHA": "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "AES128-SHA": "TLS_RSA_WITH_AES_128_CBC_SHA",
    "AES256-SHA": "TLS_RSA_WITH_AES_256_CBC_SHA",
    "ECDHE-ECDSA-RC4-SHA": "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "ECDHE-ECDSA-AES128-SHA": "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "ECDHE-ECDSA-AES256-SHA": "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "ECDHE-RSA-RC4-SHA": "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "ECDHE-RSA-DES-CBC3-SHA": "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "ECDHE-RSA-AES128-SHA": "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "ECDHE-RSA-AES256-SHA": "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "ECDHE-RSA-AES128-GCM-SHA256": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-ECDSA-AES128-GCM-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
}
_CIPHER_IDS = {
    "TLS_AES_128_GCM_SHA256": 0x1301,
    "TLS_AES_256_GCM_SHA384": 0x1302,
    "TLS_CHACHA20_POLY1305_SHA256": 0x1303,
    "AES128-GCM-SHA256": 0x009C,
    "AES256-GCM-SHA384": 0x009D,
    "ECDHE-ECDSA-AES256-GCM-SHA384": 0xC02C,
    "ECDHE-RSA-AES256-GCM-SHA384": 0xC030,
    "ECDHE-RSA-CHACHA20-POLY1305": 0xCCA8,
    "ECDHE-ECDSA-CHACHA20-POLY1305": 0xCCA9,
}
_GO_TLS_VERSIONS = {
    "TLSv1": "TLS1.0",
    "TLSv1.1": "TLS1.1",
    "TLSv1.2": "TLS1.2",
    "TLSv1.3": "TLS1.3",
}


def _tlsDetails(connection: TLSConnection) -> tuple[str, str, str]:
    """
    Go's cipher suite and version names and the ALPN protocol of a TLS
    connection, read from its pyOpenSSL connection; empty when unavailable
    (before the handshake completes).
    """
    try:
        name = connection.get_cipher_name() or ""
        version = connection.get_protocol_version_name() or ""
        negotiated = connection.get_alpn_proto_negotiated() or b""
    except Exception:
        return "", "", ""
    cipher = _GO_CIPHER_NAMES.get(name) or f"Unknown {_CIPHER_IDS.get(name, 0)}"
    return (
        cipher,
        _GO_TLS_VERSIONS.get(version, f"Unknown {version}"),
        negotiated.decode("utf-8", "replace"),
    )


# Topics and channels.


@attrs.frozen
class Stats:
    """
    Go's C{nsqd.Stats}: the topics and producers C{/stats} reports, each
    L{None} where Go's slice is nil (C{null} in JSON).
    """

    topics: list[JSONObject] | None
    producers: list[JSONObject] | None


def _channelStats(
    channel: Channel, includeClients: bool, topicFilter: str, now: float
) -> JSONObject:
    # The TCP protocol's consumers are the connections' message pumps.
    consumers = cast("list[ClientCounters]", list(channel.consumers))
    window = _channelWindow(channel)
    return {
        "channel_name": channel.name,
        "depth": channel.depth(),
        "backend_depth": channel.backendDepth(),
        "in_flight_count": len(channel.inFlight),
        "deferred_count": channel.deferredCount(),
        "message_count": channel.messageCount,
        "requeue_count": channel.requeueCount,
        "timeout_count": channel.timeoutCount,
        "client_count": len(consumers),
        "clients": (
            [clientStats(consumer.client, topicFilter) for consumer in consumers]
            if includeClients
            else None
        ),
        "paused": channel.paused,
        "e2e_processing_latency": latencyJSON(
            [window] if window is not None else [], now
        ),
    }


def _topicStats(topic: Topic, channels: list[JSONObject], now: float) -> JSONObject:
    windows = _topicWindows(topic)
    return {
        "topic_name": topic.name,
        "channels": channels,
        "depth": topic.depth(),
        "backend_depth": topic.backendDepth(),
        "message_count": topic.messageCount,
        "message_bytes": topic.messageBytes,
        "paused": topic.paused,
        "e2e_processing_latency": latencyJSON(windows, now),
    }


def _selectedTopics(broker: Broker, topic: str) -> list[Topic] | None:
    # The topics a request asks for, by name (the broker's keys are the
    # names: sorting them is cheaper than sorting by an attribute); None
    # when the filter names an unknown topic.
    if topic:
        found = broker.topics.get(topic)
        return None if found is None else [found]
    topics = broker.topics
    return [topics[name] for name in sorted(topics)]


def _selectedChannels(topic: Topic, channel: str) -> list[Channel] | None:
    # The topic's channels a request asks for; None when the filter names
    # a channel the topic lacks (Go then leaves the topic out).
    channels = topic.channels
    if channel:
        only = channels.get(channel)
        return None if only is None else [only]
    return [channels[name] for name in sorted(channels)]


def _producers(
    clients: Iterable[ClientCounters], includeClients: bool, topicFilter: str
) -> list[JSONObject] | None:
    if not includeClients:
        return None
    publishing = [c.client for c in clients if c.client.pubCounts]
    publishing.sort(key=lambda client: client.connectTime)
    # Go leaves the slice nil when no connection has published.
    return [clientStats(client, topicFilter) for client in publishing] or None


def gatherStats(
    broker: Broker,
    clients: Iterable[ClientCounters],
    *,
    topic: str = "",
    channel: str = "",
    includeClients: bool = True,
    now: float = 0.0,
) -> Stats:
    """
    Go's C{NSQD.GetStats}.

    @param clients: every TCP connection; those that have published are
        the producers.
    @param topic: only this topic (C{""}: all).
    @param channel: only this channel of each topic (C{""}: all).
    @param now: the time, for the latency windows.
    """
    topics = _selectedTopics(broker, topic)
    if topics is None:
        return Stats(None, None)
    topicStats = []
    for held in topics:
        channels = _selectedChannels(held, channel)
        if channels is None:
            continue
        channelStats = [_channelStats(c, includeClients, topic, now) for c in channels]
        topicStats.append(_topicStats(held, channelStats, now))
    return Stats(topicStats, _producers(clients, includeClients, topic))


# JSON, written directly.
#
# At 1,000 topics x 5 channels, building a dict per topic, channel and
# latency result and then encoding them took ~8 us a channel, 1.8x Go's
# whole /stats.  statsJSON writes the same bytes from f-strings in Go's
# field order instead: the counters are plain ints, which an f-string
# writes as Go does; names go through Go's string quoting; only what is
# rare or small (clients, configured latency percentiles, memory,
# producers) is built as objects and encoded by encodeJSON.
# tests.nsqd.test_stats checks that both ways give the same bytes.

# latencyJSON without a window.
_NO_LATENCY_JSON = '{"count":0,"percentiles":null}'


def _encoded(value: Any) -> str:
    return encodeJSON(value).decode("utf-8")


def _number(value: float) -> str:
    # A number as encodeJSON writes it: an int's digits, a float Go's way.
    return str(int(value)) if isinstance(value, int) else formatFloat(value)


# The configured percentiles, the same for every window, are written once
# (typed: 1 and 1.0 are told apart; 0.0 and -0.0 would not be, but nsqd
# refuses percentiles outside (0, 1]).
_quantileJSON = functools.lru_cache(maxsize=64, typed=True)(_number)


def _latencyJSON(windows: Sequence[LatencyWindow], now: float) -> str:
    # What encodeJSON(latencyJSON(windows, now)) gives.  The values are
    # floats that end in ".0", which would send a whole dict through the
    # exact encoder (~40 us a channel).
    if not windows:
        return _NO_LATENCY_JSON
    count, values = mergedResult(windows, windows[0].percentiles, now)
    percentiles = ",".join(
        [
            f'{{"quantile":{_quantileJSON(q)},"value":{_number(value)}}}'
            for q, value in values
        ]
    )
    return f'{{"count":{count},"percentiles":[{percentiles}]}}'


def _clientsJSON(consumers: list[Consumer], topicFilter: str) -> str:
    # The TCP protocol's consumers are the connections' message pumps.
    pumps = cast("list[ClientCounters]", consumers)
    return _encoded([clientStats(pump.client, topicFilter) for pump in pumps])


def _topicsJSON(
    topics: list[Topic],
    channel: str,
    includeClients: bool,
    topicFilter: str,
    now: float,
) -> str:
    # What encodeJSON(gatherStats(...).topics) gives.
    # Channel names repeat across topics: quote each once per call.
    quoted: dict[str, str] = {}
    parts = []
    for topic in topics:
        channels = _selectedChannels(topic, channel)
        if channels is None:
            continue
        channelParts = []
        # Each channel as encodeJSON(_channelStats(...)) writes it, in one
        # f-string, inline: a function call per channel cost a tenth.
        for held in channels:
            name = held.name
            quotedName = quoted.get(name)
            if quotedName is None:
                quotedName = quoted[name] = quoteString(name)
            consumers = held.consumers
            if not includeClients:
                clients = "null"
            elif consumers:
                clients = _clientsJSON(consumers, topicFilter)
            else:
                clients = "[]"
            window = held.e2eLatency
            latency = (
                _NO_LATENCY_JSON if window is None else _latencyJSON([window], now)
            )
            channelParts.append(
                f'{{"channel_name":{quotedName},"depth":{held.depth()},'
                f'"backend_depth":{held.backendDepth()},'
                f'"in_flight_count":{len(held.inFlight)},'
                f'"deferred_count":{held.deferredCount()},'
                f'"message_count":{held.messageCount},'
                f'"requeue_count":{held.requeueCount},'
                f'"timeout_count":{held.timeoutCount},'
                f'"client_count":{len(consumers)},"clients":{clients},'
                f'"paused":{"true" if held.paused else "false"},'
                f'"e2e_processing_latency":{latency}}}'
            )
        latency = _latencyJSON(_topicWindows(topic), now)
        parts.append(
            f'{{"topic_name":{quoteString(topic.name)},'
            f'"channels":[{",".join(channelParts)}],'
            f'"depth":{topic.depth()},"backend_depth":{topic.backendDepth()},'
            f'"message_count":{topic.messageCount},'
            f'"message_bytes":{topic.messageBytes},'
            f'"paused":{"true" if topic.paused else "false"},'
            f'"e2e_processing_latency":{latency}}}'
        )
    return "[" + ",".join(parts) + "]"


def statsJSON(
    broker: Broker,
    clients: Iterable[ClientCounters],
    *,
    version: str,
    health: str,
    startTime: int,
    memory: JSONObject | None,
    topic: str = "",
    channel: str = "",
    includeClients: bool = True,
    now: float = 0.0,
) -> bytes:
    """
    The JSON C{/stats} document: byte for byte what L{encodeJSON} gives
    for C{version}, C{health}, C{start_time}, then L{gatherStats}' topics,
    C{memory} (left out when L{None}) and producers, in that order, but
    written directly (several times faster at thousands of channels).

    The parameters are L{gatherStats}' and the document's fields.
    """
    topics = _selectedTopics(broker, topic)
    if topics is None:
        topicsText = "null"
        producers = None
    else:
        topicsText = _topicsJSON(topics, channel, includeClients, topic, now)
        producers = _producers(clients, includeClients, topic)
    parts = [
        '{"version":',
        quoteString(version),
        ',"health":',
        quoteString(health),
        f',"start_time":{startTime:d},"topics":',
        topicsText,
    ]
    if memory is not None:
        parts += [',"memory":', _encoded(memory)]
    parts += [',"producers":', "null" if producers is None else _encoded(producers)]
    parts.append("}")
    return "".join(parts).encode("utf-8")


# Memory.


class GCPauseRecorder:
    """
    Times Python's garbage collections (through C{gc.callbacks}), keeping
    the latest 256 pauses as Go's runtime keeps C{PauseNs}.
    """

    _installed: GCPauseRecorder | None = None

    def __init__(self) -> None:
        self.pauses: deque[int] = deque(maxlen=256)
        self._started: int | None = None

    @classmethod
    def install(cls) -> GCPauseRecorder:
        """
        The process's recorder, registered with C{gc} on first use.
        """
        if cls._installed is None:
            cls._installed = cls()
            # PyPy has no gc.callbacks: its GC is incremental, and /stats
            # then reports no pauses rather than made-up ones.
            if hasattr(gc, "callbacks"):
                gc.callbacks.append(cls._installed)
        return cls._installed

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        """
        C{gc}'s callback: note when a collection starts and how long it
        took when it stops.
        """
        if phase == "start":
            self._started = time.perf_counter_ns()
        elif phase == "stop" and self._started is not None:
            self.pauses.append(time.perf_counter_ns() - self._started)
            self._started = None


def _percentile(percent: float, ordered: list[int]) -> int:
    # Go nsqd's percentile(): index floor(p/100 * n + 0.5), capped.
    if not ordered:
        return 0
    index = int(percent / 100.0 * len(ordered) + 0.5)
    return ordered[min(index, len(ordered) - 1)]


def _residentBytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            resident = int(statm.read().split()[1])
        return resident * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak if sys.platform == "darwin" else peak * 1024


def memoryStats(recorder: GCPauseRecorder | None = None) -> JSONObject:
    """
    Go's C{memStats} keys with Python's figures:

      - C{heap_objects}: memory blocks the Python allocator holds
        (C{sys.getallocatedblocks()}; 0 on PyPy);
      - C{heap_in_use_bytes}: the process's resident set size (from
        C{/proc/self/statm}; peak RSS from C{getrusage} elsewhere);
      - C{heap_idle_bytes}, C{heap_released_bytes}, C{next_gc_bytes}: 0,
        as Python has no equivalent (its collector is triggered by
        allocation counts, not heap size, and it does not track pages
        returned to the OS);
      - C{gc_pause_usec_100/99/95}: percentiles of the latest 256 garbage
        collection pauses timed by L{GCPauseRecorder}, in microseconds;
      - C{gc_total_runs}: collections of every generation since start
        (0 on PyPy, whose collector neither counts runs nor calls
        C{gc.callbacks}, so it reports no pauses either).
    """
    pauses = sorted(recorder.pauses) if recorder is not None else []
    return {
        "heap_objects": _allocatedBlocks(),
        "heap_idle_bytes": 0,
        "heap_in_use_bytes": _residentBytes(),
        "heap_released_bytes": 0,
        "gc_pause_usec_100": _percentile(100.0, pauses) // 1000,
        "gc_pause_usec_99": _percentile(99.0, pauses) // 1000,
        "gc_pause_usec_95": _percentile(95.0, pauses) // 1000,
        "next_gc_bytes": 0,
        "gc_total_runs": _collections(),
    }


def _allocatedBlocks() -> int:
    # CPython's allocator count; PyPy has no such figure.
    counter = getattr(sys, "getallocatedblocks", None)
    return counter() if counter is not None else 0


def _collections() -> int:
    # CPython lists a dict per generation; PyPy's gc.get_stats() is a
    # summary of its incremental collector with no run count.
    stats: object = gc.get_stats()
    if not isinstance(stats, list):
        return 0
    return sum(generation["collections"] for generation in stats)


# Text.


def nanosecondsToHuman(value: float) -> str:
    """
    Go nsq's C{stringy.NanoSecondToHuman}: C{252.7ms}, C{1.5s}, C{800.0ns}.
    """
    if value > 1e9:
        value, suffix = value / 1e9, "s"
    elif value > 1e6:
        value, suffix = value / 1e6, "ms"
    elif value > 1e3:
        value, suffix = value / 1e3, "us"
    else:
        suffix = "ns"
    return f"{value:.1f}{suffix}"


def _latencyText(latency: JSONObject) -> str:
    percentiles = latency["percentiles"] or []
    return ", ".join(nanosecondsToHuman(item["value"]) for item in percentiles)


def _rfc3339(when: float) -> str:
    # Go's time.RFC3339 in local time: "Z" for UTC, else "+hh:mm".
    local = datetime.fromtimestamp(int(when)).astimezone()
    if not local.utcoffset():
        return local.strftime("%Y-%m-%dT%H:%M:%SZ")
    return local.isoformat(timespec="seconds")


def _clientText(client: JSONObject, now: float) -> str:
    # Go's ClientV2Stats.String(): the connected time is truncated to
    # whole seconds, from a connect time already truncated by Unix().
    connected = formatDurationNanoseconds(int(now - client["connect_ts"]) * 10**9)
    port = client["remote_address"].rpartition(":")[2]
    ident = f"{client['hostname']}:{port} {client['user_agent']}"
    pubCounts = client.get("pub_counts")
    if pubCounts:
        total = sum(item["count"] for item in pubCounts)
        topics = ",".join(f"{item['topic']}={item['count']}" for item in pubCounts)
        return (
            f"[{client['version']} {ident:<21}] msgs: {total:<8d} "
            f"topics: {topics} connected: {connected}"
        )
    return (
        f"[{client['version']} {ident:<21}] state: {client['state']} "
        f"inflt: {client['in_flight_count']:<4d} rdy: {client['ready_count']:<4d} "
        f"fin: {client['finish_count']:<8d} re-q: {client['requeue_count']:<8d} "
        f"msgs: {client['message_count']:<8d} connected: {connected}"
    )


_MEMORY_KEYS = (
    "heap_objects",
    "heap_idle_bytes",
    "heap_in_use_bytes",
    "heap_released_bytes",
    "gc_pause_usec_100",
    "gc_pause_usec_99",
    "gc_pause_usec_95",
    "next_gc_bytes",
    "gc_total_runs",
)


def _head(memory: JSONObject | None, health: str, startTime: float, now: float) -> str:
    # The page down to "Topics:".
    lines = [
        STATS_TEXT_VERSION,
        f"start_time {_rfc3339(startTime)}",
        f"uptime {formatDurationNanoseconds(int((now - startTime) * 1e9))}",
        "",
        f"Health: {health}",
    ]
    if memory is not None:
        lines += ["", "Memory:"]
        lines += [f"   {key:<25}\t{memory[key]}" for key in _MEMORY_KEYS]
    return "\n".join(lines) + "\n"


# Go's printStats lines.  %-formatting pads (%-5d is {:<5d}) in half the
# time an f-string's format specs take, which shows at thousands of
# channels.
_TOPIC_LINE = "\n%s[%-15s] depth: %-5d be-depth: %-5d msgs: %-8d e2e%%: %s\n"
_CHANNEL_LINE = (
    "%s[%-25s] depth: %-5d be-depth: %-5d inflt: %-4d def: %-4d re-q: %-5d "
    "timeout: %-5d msgs: %-8d e2e%%: %s\n"
)


def _topicLine(
    name: str, paused: bool, depth: int, backendDepth: int, messages: int, e2e: str
) -> str:
    prefix = "*P " if paused else "   "
    return _TOPIC_LINE % (prefix, name, depth, backendDepth, messages, e2e)


def _channelLine(
    name: str,
    paused: bool,
    depth: int,
    backendDepth: int,
    inFlight: int,
    deferred: int,
    requeued: int,
    timedOut: int,
    messages: int,
    e2e: str,
) -> str:
    prefix = "   *P " if paused else "      "
    return _CHANNEL_LINE % (
        prefix,
        name,
        depth,
        backendDepth,
        inFlight,
        deferred,
        requeued,
        timedOut,
        messages,
        e2e,
    )


def _producersText(producers: list[JSONObject] | None, now: float) -> str:
    if not producers:
        return "\nProducers: None\n"
    return "\nProducers:\n" + "".join(
        f"   {_clientText(client, now)}\n" for client in producers
    )


def formatStatsText(
    stats: Stats,
    memory: JSONObject | None,
    health: str,
    startTime: float,
    now: float,
) -> str:
    """
    Go's text C{/stats} page (C{printStats}) from L{gatherStats}' objects
    (L{statsText} writes the same page from the broker directly).

    @param memory: L{memoryStats}, or L{None} for C{include_mem=false}.
    @param health: L{Health.text}.
    @param startTime: when nsqd started (POSIX seconds).
    @param now: the current time, for the uptime and connected times.
    """
    # One join at the end: repeated += copies the page over and over on
    # PyPy (and on CPython whenever the string has another reference).
    out = [_head(memory, health, startTime, now)]
    topics = stats.topics or []
    out.append("\nTopics: None\n" if not topics else "\nTopics:")
    for topic in topics:
        out.append(
            _topicLine(
                topic["topic_name"],
                topic["paused"],
                topic["depth"],
                topic["backend_depth"],
                topic["message_count"],
                _latencyText(topic["e2e_processing_latency"]),
            )
        )
        for channel in topic["channels"]:
            out.append(
                _channelLine(
                    channel["channel_name"],
                    channel["paused"],
                    channel["depth"],
                    channel["backend_depth"],
                    channel["in_flight_count"],
                    channel["deferred_count"],
                    channel["requeue_count"],
                    channel["timeout_count"],
                    channel["message_count"],
                    _latencyText(channel["e2e_processing_latency"]),
                )
            )
            for client in channel["clients"] or []:
                out.append(f"        {_clientText(client, now)}\n")
    out.append(_producersText(stats.producers, now))
    return "".join(out)


def statsText(
    broker: Broker,
    clients: Iterable[ClientCounters],
    *,
    memory: JSONObject | None,
    health: str,
    startTime: float,
    now: float,
    topic: str = "",
    channel: str = "",
    includeClients: bool = True,
) -> str:
    """
    L{formatStatsText} of L{gatherStats}, written from the broker without
    the objects in between (a third of the time at thousands of channels).

    The parameters are theirs.
    """
    out = [_head(memory, health, startTime, now)]
    topics = _selectedTopics(broker, topic)
    topicLines = []
    for held in topics or []:
        channels = _selectedChannels(held, channel)
        if channels is None:
            continue
        windows = _topicWindows(held)
        topicLines.append(
            _topicLine(
                held.name,
                held.paused,
                held.depth(),
                held.backendDepth(),
                held.messageCount,
                _latencyText(latencyJSON(windows, now)) if windows else "",
            )
        )
        for kept in channels:
            window = kept.e2eLatency
            topicLines.append(
                _channelLine(
                    kept.name,
                    kept.paused,
                    kept.depth(),
                    kept.backendDepth(),
                    len(kept.inFlight),
                    kept.deferredCount(),
                    kept.requeueCount,
                    kept.timeoutCount,
                    kept.messageCount,
                    "" if window is None else _latencyText(latencyJSON([window], now)),
                )
            )
            if includeClients and kept.consumers:
                consumers = cast("list[ClientCounters]", kept.consumers)
                topicLines += [
                    f"        {_clientText(clientStats(c.client, topic), now)}\n"
                    for c in consumers
                ]
    out.append("\nTopics:" if topicLines else "\nTopics: None\n")
    out += topicLines
    # An unknown topic filter leaves the producers out too (Go's nil).
    producers = None if topics is None else _producers(clients, includeClients, topic)
    out.append(_producersText(producers, now))
    return "".join(out)
