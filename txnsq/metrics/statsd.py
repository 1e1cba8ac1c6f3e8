# -*- test-case-name: tests.metrics.test_statsd -*-
"""
statsd metrics exactly as Go nsqd 1.3.0 sends them (C{nsqd/statsd.go},
C{internal/statsd/}, C{internal/writers/}): the lines, their names, how they
are packed into datagrams and when each datagram goes out.

This module imports no Twisted: it turns two successive statistics
snapshots into lines (L{statsdLines}), packs lines into datagrams
(L{packDatagrams}) and says when to send each one (L{spreadOffsets}).
L{txnsq.metrics.statsdservice} does the sending.

The snapshot
============

A snapshot is a mapping shaped like Go's C{GET /stats?format=json}
(L{StatsSnapshot}): C{"topics"}, the list
L{txnsq.nsqd.stats.gatherStats} builds (each topic with its C{"channels"}),
and optionally C{"memory"}, the object L{txnsq.nsqd.stats.memoryStats}
builds.  Clients are not read (Go asks for stats without them), only each
channel's C{client_count}.

The lines
=========

Every line is C{<prefix><name>:<value>|c} (a counter: what changed since
the previous push) or C{<prefix><name>:<value>|g} (a gauge: the value now),
in this order, topics and channels in the snapshot's order (by name):

  - C{topic.<topic>.message_count} (c), C{topic.<topic>.message_bytes} (c),
    C{topic.<topic>.depth} (g), C{topic.<topic>.backend_depth} (g),
    C{topic.<topic>.e2e_processing_latency_<q>} (g) for each configured
    percentile, C{<q>} being the quantile times 100 rounded to an integer
    (C{0.99} -> C{99}, C{0.999} -> C{100}, as Go's C{%.0f}), the value in
    nanoseconds truncated to an integer;
  - for each channel of the topic, C{topic.<topic>.channel.<channel>.}
    followed by C{message_count} (c), C{depth} (g), C{backend_depth} (g),
    C{in_flight_count} (g), C{deferred_count} (g), C{requeue_count} (c),
    C{timeout_count} (c), C{clients} (g) and
    C{e2e_processing_latency_<q>} (g);
  - with C{--statsd-mem-stats} (the default), C{mem.heap_objects},
    C{mem.heap_idle_bytes}, C{mem.heap_in_use_bytes},
    C{mem.heap_released_bytes}, C{mem.gc_pause_usec_100},
    C{mem.gc_pause_usec_99}, C{mem.gc_pause_usec_95}, C{mem.next_gc_bytes}
    (all g) and C{mem.gc_runs} (c).

Counters of a topic or channel the previous push did not see count from 0,
and one that was deleted and created again between two pushes sends a
negative delta, as Go's unsigned subtraction converted to C{int64} does.
With C{--statsd-exclude-ephemeral}, topics and channels whose names end in
C{#ephemeral} are left out (a channel of a kept topic is checked by its own
name).

The mem.* family
================

Go reads its runtime's C{MemStats}; the snapshot's C{"memory"} carries the
same nine figures with Python's nearest equivalents, the ones C{/stats}
reports (L{txnsq.nsqd.stats.memoryStats}), so the two always agree:

  - C{mem.heap_objects}: memory blocks held by CPython's allocator,
    C{sys.getallocatedblocks()} (a counter read, unlike counting
    C{gc.get_objects()}); 0 on PyPy, which has no such figure;
  - C{mem.heap_in_use_bytes}: the resident set size, from
    C{/proc/self/statm} (the peak RSS from C{getrusage} where there is no
    C{/proc});
  - C{mem.heap_idle_bytes}, C{mem.heap_released_bytes},
    C{mem.next_gc_bytes}: 0.  Python's collector is triggered by allocation
    counts rather than heap size and does not track pages given back to the
    system, so there is nothing to map them to; they are still sent so
    dashboards built for Go find every name;
  - C{mem.gc_pause_usec_100}, C{_99}, C{_95}: the percentiles (Go's
    nearest-rank formula) of the latest 256 collection pauses, in
    microseconds, as timed by L{txnsq.nsqd.stats.GCPauseRecorder} through
    C{gc.callbacks}; 0 on PyPy, which has no C{gc.callbacks};
  - C{mem.gc_runs}: collections since the previous push, all generations
    together (the sum of C{gc.get_stats()}'s C{collections}); 0 on PyPy.

Names and prefix
================

The prefix (L{statsdPrefix}) is C{--statsd-prefix} with every C{%s}
replaced by C{<broadcast address>:<broadcast HTTP port>} (the bound HTTP
port when C{--broadcast-http-port} is 0; an IPv6 address in brackets, as
Go's C{net.JoinHostPort}) whose C{.} and C{:} become C{_}, and a C{.}
appended when it does not end with one: C{nsq.%s} on host C{nsqd1.example}
with HTTP on 4151 gives C{nsq.nsqd1_example_4151.}.  An empty
C{--statsd-prefix} gives no prefix at all.  nsqd computes the prefix once
its listeners are bound and stores it back into the option, as Go's
C{nsqd.New} does, so C{GET /config/statsd_prefix} answers the computed
prefix, not the flag.

Go builds each line by using the prefix and name as a C{printf} format; a
C{%} left in the prefix after the C{%s} replacement would then be
interpreted.  Topic and channel names cannot contain C{%}, and such a
prefix is an operator error, so here the prefix is always taken literally.

Datagrams and timing
====================

Lines end with C{\\n} and are packed whole, in order, into datagrams of at
most C{--statsd-udp-packet-size} bytes (Go's
C{writers.BoundaryBufferedWriter} over a C{bufio.Writer}): a line that does
not fit in the current datagram starts the next one, and a line longer
than the size goes out alone, never split.  A size of 0 or less means
4096 bytes, C{bufio}'s default.

The datagrams of one push are spread over the interval less one second
(Go's C{writers.SpreadWriter}): datagram C{i} of C{n} leaves
C{i * (interval - 1s) / n} after the push starts.  Go panics when that
step is not positive (an interval of one second or less); here the
datagrams then all leave at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "DEFAULT_PACKET_SIZE",
    "EPHEMERAL_SUFFIX",
    "StatsSnapshot",
    "hostKey",
    "joinHostPort",
    "packDatagrams",
    "spreadOffsets",
    "statsdLines",
    "statsdPrefix",
]

StatsSnapshot = Mapping[str, Any]
"""
One statistics snapshot: a mapping shaped like Go's C{/stats} JSON, with
C{"topics"} (a list of topic objects, or L{None}) and optionally
C{"memory"} (see the module docstring).
"""

EPHEMERAL_SUFFIX = "#ephemeral"
"""
What ends the name of an ephemeral topic or channel.
"""

DEFAULT_PACKET_SIZE = 4096
"""
The datagram size used when C{--statsd-udp-packet-size} is 0 or less: Go's
C{bufio.NewWriterSize} falls back to its default buffer size.
"""

# Go's int64() of a float outside int64's range (NaN included) on amd64:
# CVTTSD2SI's "integer indefinite".
_GO_INT64_INDEFINITE = -(2**63)

_TOPIC_COUNTERS = ("message_count", "message_bytes")
_TOPIC_GAUGES = ("depth", "backend_depth")
# A channel's lines in Go's order: the name sent, the key read in the
# snapshot, and whether it is a counter (else a gauge).
_CHANNEL_STATS = (
    ("message_count", "message_count", True),
    ("depth", "depth", False),
    ("backend_depth", "backend_depth", False),
    ("in_flight_count", "in_flight_count", False),
    ("deferred_count", "deferred_count", False),
    ("requeue_count", "requeue_count", True),
    ("timeout_count", "timeout_count", True),
    ("clients", "client_count", False),
)
_MEMORY_GAUGES = (
    "heap_objects",
    "heap_idle_bytes",
    "heap_in_use_bytes",
    "heap_released_bytes",
    "gc_pause_usec_100",
    "gc_pause_usec_99",
    "gc_pause_usec_95",
    "next_gc_bytes",
)


def hostKey(host: str) -> str:
    """
    Go's C{statsd.HostKey}: C{host} with every C{.} and C{:} replaced by
    C{_}, so it is one statsd name segment.
    """
    return host.replace(".", "_").replace(":", "_")


def joinHostPort(host: str, port: str) -> str:
    """
    Go's C{net.JoinHostPort}: C{host:port}, with a host that contains a
    colon (an IPv6 address) in brackets.
    """
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def statsdPrefix(template: str, broadcastAddress: str, httpPort: int) -> str:
    """
    The prefix of every line, as Go's C{nsqd.New} computes it from
    C{--statsd-prefix}.

    @param template: C{--statsd-prefix}; each C{%s} in it is replaced by
        the host key.
    @param broadcastAddress: C{--broadcast-address}.
    @param httpPort: C{--broadcast-http-port}, or the bound HTTP port when
        that is 0 (Go's C{BroadcastHTTPPort} once listening).
    @return: L{hostKey} of C{broadcastAddress:httpPort} put in the
        template, ending with C{.}; C{""} for an empty template.
    """
    if not template:
        return ""
    prefix = template.replace(
        "%s", hostKey(joinHostPort(broadcastAddress, str(httpPort)))
    )
    if not prefix.endswith("."):
        prefix += "."
    return prefix


def _goInt64(value: Any) -> int:
    """
    Go's C{int64(value)}: truncation toward zero.
    """
    if isinstance(value, float) and not (
        math.isfinite(value) and -(2.0**63) <= value < 2.0**63
    ):
        return _GO_INT64_INDEFINITE
    return int(value)


def _byName(items: Sequence[Mapping[str, Any]] | None, key: str) -> dict[str, Any]:
    # Go takes the first match of a linear search; names are unique anyway.
    found: dict[str, Any] = {}
    for item in items or ():
        found.setdefault(item[key], item)
    return found


def _delta(now: Mapping[str, Any], last: Mapping[str, Any], key: str) -> Any:
    # Go subtracts unsigned counters and converts to int64: a counter that
    # restarted (its topic was recreated) gives a negative delta.
    return now[key] - last.get(key, 0)


def _latencyGauges(
    gauge: Callable[[str, Any], None], base: str, stats: Mapping[str, Any]
) -> None:
    latency = stats.get("e2e_processing_latency") or {}
    for item in latency.get("percentiles") or ():
        # Go: fmt.Sprintf("%.0f", quantile*100.0); both languages round the
        # exact binary value half to even.
        gauge(
            f"{base}.e2e_processing_latency_{item['quantile'] * 100.0:.0f}",
            item["value"],
        )


def statsdLines(
    current: StatsSnapshot,
    previous: StatsSnapshot | None = None,
    *,
    prefix: str = "",
    memStats: bool = True,
    excludeEphemeral: bool = False,
) -> list[str]:
    """
    The lines of one push, without their newlines (see the module
    docstring for the names and their order).

    @param current: the snapshot taken for this push.
    @param previous: the snapshot of the previous push that was sent, for
        the counters' deltas; L{None} for the first (everything counts
        from 0).
    @param prefix: L{statsdPrefix}.
    @param memStats: C{--statsd-mem-stats}: send the C{mem.*} lines (when
        C{current} has C{"memory"}).
    @param excludeEphemeral: C{--statsd-exclude-ephemeral}.
    """
    lines: list[str] = []

    def counter(name: str, delta: Any) -> None:
        lines.append(f"{prefix}{name}:{_goInt64(delta)}|c")

    def gauge(name: str, value: Any) -> None:
        lines.append(f"{prefix}{name}:{_goInt64(value)}|g")

    lastTopics = _byName(
        previous.get("topics") if previous is not None else None, "topic_name"
    )
    for topic in current.get("topics") or ():
        topicName = topic["topic_name"]
        if excludeEphemeral and topicName.endswith(EPHEMERAL_SUFFIX):
            continue
        lastTopic = lastTopics.get(topicName, {})
        base = f"topic.{topicName}"
        for key in _TOPIC_COUNTERS:
            counter(f"{base}.{key}", _delta(topic, lastTopic, key))
        for key in _TOPIC_GAUGES:
            gauge(f"{base}.{key}", topic[key])
        _latencyGauges(gauge, base, topic)

        lastChannels = _byName(lastTopic.get("channels"), "channel_name")
        for channel in topic.get("channels") or ():
            channelName = channel["channel_name"]
            if excludeEphemeral and channelName.endswith(EPHEMERAL_SUFFIX):
                continue
            lastChannel = lastChannels.get(channelName, {})
            channelBase = f"{base}.channel.{channelName}"

            for name, key, isCounter in _CHANNEL_STATS:
                if isCounter:
                    counter(f"{channelBase}.{name}", _delta(channel, lastChannel, key))
                else:
                    gauge(f"{channelBase}.{name}", channel[key])
            _latencyGauges(gauge, channelBase, channel)

    memory = current.get("memory")
    if memStats and memory is not None:
        lastMemory = (previous.get("memory") if previous is not None else None) or {}
        for key in _MEMORY_GAUGES:
            gauge(f"mem.{key}", memory[key])
        counter(
            "mem.gc_runs",
            _delta(memory, lastMemory, "gc_total_runs"),
        )
    return lines


def packDatagrams(lines: Iterable[str], packetSize: int) -> list[bytes]:
    """
    Pack lines, each ended by C{\\n}, into datagrams as Go's
    C{BoundaryBufferedWriter} does: in order, as many whole lines as fit
    in C{packetSize} bytes; a longer line alone in its own datagram.

    @param packetSize: C{--statsd-udp-packet-size}; 0 or less means
        L{DEFAULT_PACKET_SIZE}.
    """
    size = packetSize if packetSize > 0 else DEFAULT_PACKET_SIZE
    datagrams: list[bytes] = []
    buffer = bytearray()
    for line in lines:
        data = line.encode("utf-8") + b"\n"
        if len(data) > size - len(buffer):
            if buffer:
                datagrams.append(bytes(buffer))
                buffer.clear()
            if len(data) > size:
                # bufio.Writer hands a write larger than its whole buffer
                # straight to the writer below: one oversized datagram.
                datagrams.append(data)
                continue
        buffer += data
    if buffer:
        datagrams.append(bytes(buffer))
    return datagrams


def spreadOffsets(count: int, interval: float) -> list[float]:
    """
    When each of a push's C{count} datagrams leaves, in seconds after the
    push starts: Go's C{SpreadWriter} sends one, then waits
    C{(interval - 1s) / count} (integer nanoseconds) before the next.

    @param interval: C{--statsd-interval}, in seconds.
    @return: C{count} offsets, the first 0; all 0 when the step would not
        be positive (where Go's ticker panics).
    """
    if count <= 0:
        return []
    step = (round(interval * 1e9) - 1_000_000_000) // count
    if step <= 0:
        return [0.0] * count
    return [index * step / 1e9 for index in range(count)]
