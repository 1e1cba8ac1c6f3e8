# -*- test-case-name: tests.nsqadmin.test_clusterinfo -*-
"""
Go's C{internal/clusterinfo}, the pure half: the JSON nsqlookupds and
nsqds answer goes in, the shapes Go nsqadmin 1.3.0 serves come out.

Fetching is L{txnsq.nsqadmin.http}'s job; nothing here does I/O or imports
Twisted, so every aggregation is tested with recorded C{/stats} answers.

Differences from Go, on purpose:
  - Go's C{TopicStats.Add} stops adding channels it has not seen once it
    has merged one (its C{found} flag is never reset), and it merges into
    the first node's own channel records, so that node's C{channels} in
    C{nodes} show the totals; here every channel is merged and each node
    keeps its own figures.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "adminAction",
    "aggregateTopic",
    "basicAuthUser",
    "lookupdProducers",
    "lookupdTopics",
    "mergeE2E",
    "nodeTopicStats",
    "nsqdProducer",
    "nsqdTopics",
    "parseVersion",
    "producerHTTPAddress",
    "producerTCPAddress",
    "warningMessage",
]

JSON = Any
"""Decoded JSON (dicts, lists, str, numbers, booleans, None)."""


def warningMessage(messages: Sequence[str]) -> str:
    """
    Go's C{maybeWarnMsg}: C{""}, or C{"WARNING: "} and the messages joined
    by C{"; "}.
    """
    return "WARNING: " + "; ".join(messages) if messages else ""


def joinHostPort(host: str, port: int) -> str:
    """
    Go's C{net.JoinHostPort}: IPv6 hosts in brackets.
    """
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def producerTCPAddress(producer: JSON) -> str:
    """
    A producer's C{broadcast_address:tcp_port}, the key Go deduplicates by.
    """
    return joinHostPort(str(producer["broadcast_address"]), int(producer["tcp_port"]))


def producerHTTPAddress(producer: JSON) -> str:
    """
    A producer's C{broadcast_address:http_port}, where its stats are read.
    """
    return joinHostPort(str(producer["broadcast_address"]), int(producer["http_port"]))


def parseVersion(text: str) -> tuple[int, int, int, str]:
    """
    A semantic version, comparable as Go's C{semver} compares released
    versions: a pre-release sorts before its release.  Unparseable text is
    the lowest version (Go logs it and leaves the zero version).
    """
    core, _, pre = text.partition("-")
    core = core.partition("+")[0]
    parts = core.split(".")
    try:
        major, minor, patch = (int(part) for part in parts)
    except ValueError:
        return (0, 0, 0, "")
    # "~" sorts after every pre-release identifier character.
    return (major, minor, patch, pre or "~")


def adminAction(
    action: str,
    topic: str,
    channel: str,
    node: str,
    timestamp: int,
    user: str,
    remoteIP: str,
    userAgent: str,
    url: str,
    via: str,
) -> dict[str, Any]:
    """
    The notification Go's C{notifyAdminAction} POSTs (its C{AdminAction},
    in its field order; C{channel}, C{node} and C{user} are left out when
    empty).
    """
    payload: dict[str, Any] = {"action": action, "topic": topic}
    if channel:
        payload["channel"] = channel
    if node:
        payload["node"] = node
    payload["timestamp"] = timestamp
    if user:
        payload["user"] = user
    payload.update(remote_ip=remoteIP, user_agent=userAgent, url=url, via=via)
    return payload


def basicAuthUser(authorization: str) -> str:
    """
    Go's C{basicAuthUser}: the user of a C{Basic} C{Authorization}
    header, or C{""}.
    """
    scheme, _, encoded = authorization.partition(" ")
    if scheme != "Basic":
        return ""
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""
    user, colon, _ = decoded.partition(":")
    return user if colon else ""


def lookupdTopics(answers: Iterable[JSON]) -> list[str]:
    """
    Go's C{GetLookupdTopics}: every topic of every nsqlookupd C{/topics}
    answer, once, sorted.
    """
    topics: set[str] = set()
    for answer in answers:
        topics.update(answer.get("topics") or [])
    return sorted(topics)


def nsqdTopics(answers: Iterable[JSON]) -> list[str]:
    """
    Go's C{GetNSQDTopics}: every topic of every nsqd C{/stats} answer,
    once, sorted.
    """
    topics: set[str] = set()
    for answer in answers:
        for topic in answer.get("topics") or []:
            topics.add(topic["topic_name"])
    return sorted(topics)


def _producer(raw: JSON, topics: list[JSON]) -> dict[str, Any]:
    return {
        "remote_addresses": None,
        "remote_address": raw.get("remote_address", ""),
        "hostname": raw.get("hostname", ""),
        "broadcast_address": raw.get("broadcast_address", ""),
        "tcp_port": raw.get("tcp_port", 0),
        "http_port": raw.get("http_port", 0),
        "version": raw.get("version", ""),
        "topics": topics,
        "out_of_date": False,
    }


def _markOutOfDate(producers: list[dict[str, Any]]) -> None:
    if not producers:
        return
    newest = max(parseVersion(p["version"]) for p in producers)
    for producer in producers:
        producer["out_of_date"] = parseVersion(producer["version"]) < newest


def lookupdProducers(answers: Iterable[tuple[str, JSON]]) -> list[dict[str, Any]]:
    """
    Go's C{GetLookupdProducers}: the nsqds of every nsqlookupd C{/nodes}
    answer, deduplicated by TCP address, with each nsqlookupd's view in
    C{remote_addresses} (C{lookupd/remote}), each topic with its
    tombstone flag, C{out_of_date} for those older than the newest, sorted
    by hostname.

    @param answers: (nsqlookupd address, its C{/nodes} answer) pairs.
    """
    byKey: dict[str, dict[str, Any]] = {}
    for lookupd, answer in answers:
        for raw in answer.get("producers") or []:
            key = producerTCPAddress(raw)
            remote = f"{lookupd}/{raw.get('remote_address', '')}"
            producer = byKey.get(key)
            if producer is None:
                names = raw.get("topics") or []
                tombstones = raw.get("tombstones") or []
                topics = [
                    {
                        "topic": name,
                        "tombstoned": bool(tombstones[i])
                        if i < len(tombstones)
                        else False,
                    }
                    for i, name in enumerate(names)
                ]
                producer = byKey[key] = _producer(raw, sorted(topics, key=_topicName))
                producer["remote_addresses"] = [remote]
            else:
                producer["remote_addresses"].append(remote)
    producers = list(byKey.values())
    _markOutOfDate(producers)
    producers.sort(key=lambda p: str(p["hostname"]))
    return producers


def _topicName(topic: JSON) -> str:
    return str(topic["topic"])


def nsqdProducer(info: JSON, stats: JSON) -> dict[str, Any]:
    """
    One nsqd as Go's C{GetNSQDProducers} describes it, from its C{/info}
    and C{/stats} answers (no tombstones: only nsqlookupd has them).
    """
    topics = [
        {"topic": topic["topic_name"], "tombstoned": False}
        for topic in stats.get("topics") or []
    ]
    return _producer(info, sorted(topics, key=_topicName))


def markOutOfDate(producers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """
    Set C{out_of_date} on producers older than the newest; sort them by
    hostname as Go does.
    """
    _markOutOfDate(producers)
    producers.sort(key=lambda p: str(p["hostname"]))
    return producers


# -- stats -------------------------------------------------------------------


def _nodeE2E(raw: JSON, topic: str, channel: str, host: str) -> dict[str, Any]:
    # Go's E2eProcessingLatencyAggregate.UnmarshalJSON: one node's
    # percentile values become min = max = average, weighted by its count.
    raw = raw or {}
    count = int(raw.get("count") or 0)
    percentiles = [
        {
            "quantile": p["quantile"],
            "max": p["value"],
            "min": p["value"],
            "average": p["value"],
            "count": count,
        }
        for p in raw.get("percentiles") or []
    ]
    return {
        "count": count,
        "percentiles": percentiles or None,
        "topic": topic,
        "channel": channel,
        "host": host,
    }


def mergeE2E(total: dict[str, Any], other: JSON) -> None:
    """
    Go's C{E2eProcessingLatencyAggregate.Add}: counts add up; per
    quantile the max is the larger, the average is weighted by count; the
    result is sorted by quantile, highest first.  Go's C{min} takes the
    smaller of the two maxima (its own slip); here it is the smaller
    minimum.
    """
    total["host"] = "*"
    total["count"] += other["count"]
    mine: list[dict[str, Any]] = total["percentiles"] or []
    for value in other["percentiles"] or []:
        match = next((p for p in mine if p["quantile"] == value["quantile"]), None)
        if match is None:
            match = {
                "quantile": value["quantile"],
                "max": value["max"],
                "min": value["min"],
                "average": 0.0,
                "count": 0,
            }
            mine.append(match)
        match["max"] = max(match["max"], value["max"])
        match["min"] = min(match["min"], value["min"])
        match["count"] += value["count"]
        if match["count"] == 0:
            match["average"] = 0.0
            continue
        delta = value["average"] - match["average"]
        match["average"] = match["average"] + delta * value["count"] / match["count"]
    mine.sort(key=lambda p: -float(p["quantile"]))
    total["percentiles"] = mine or None


_CHANNEL_COUNTS = (
    "depth",
    "memory_depth",
    "backend_depth",
    "in_flight_count",
    "deferred_count",
    "requeue_count",
    "timeout_count",
    "message_count",
    "client_count",
)

_TOPIC_COUNTS = ("depth", "memory_depth", "backend_depth", "message_count")


# Go's clusterinfo.ClientStats, in its field order: what nsqadmin's JSON
# API gives for each consumer, whatever else nsqd's /stats says of it
# (its "state" and "pub_counts" are not passed on).
_CLIENT_FIELDS: tuple[tuple[str, Any], ...] = (
    ("remote_address", ""),
    ("version", ""),
    ("client_id", ""),
    ("hostname", ""),
    ("user_agent", ""),
    ("connect_ts", 0),
)
_CLIENT_AFTER_CONNECTED: tuple[tuple[str, Any], ...] = (
    ("in_flight_count", 0),
    ("ready_count", 0),
    ("finish_count", 0),
    ("requeue_count", 0),
    ("message_count", 0),
    ("sample_rate", 0),
    ("deflate", False),
    ("snappy", False),
    ("authed", False),
    ("auth_identity", ""),
    ("auth_identity_url", ""),
    ("tls", False),
    ("tls_cipher_suite", ""),
    ("tls_version", ""),
    ("tls_negotiated_protocol", ""),
    ("tls_negotiated_protocol_is_mutual", False),
)


def clientStats(node: str, raw: JSON, now: float) -> dict[str, Any]:
    """
    One consumer as Go nsqadmin's JSON shows it: Go's C{ClientStats}
    fields in order, defaults for what nsqd left out (it omits the auth
    ones when empty), and C{connected}, the nanoseconds since
    C{connect_ts} as of C{now} truncated to the second (Go's
    C{time.Duration}).
    """
    record: dict[str, Any] = {"node": node}
    for key, default in _CLIENT_FIELDS:
        record[key] = raw.get(key, default)
    record["connected"] = (int(now) - int(record["connect_ts"])) * 1_000_000_000
    for key, default in _CLIENT_AFTER_CONNECTED:
        record[key] = raw.get(key, default)
    return record


def nodeTopicStats(
    node: str,
    hostname: str,
    stats: JSON,
    topic: str | None = None,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """
    The per-node records of Go's C{GetNSQDStats}: one nsqd's C{/stats}
    topics (only C{topic} if given), each with C{node}, C{hostname},
    C{memory_depth} and its channels in Go's C{ChannelStats} shape.

    @param node: the nsqd's HTTP address (C{broadcast_address:http_port}).
    @param hostname: its hostname.
    @param now: the wall clock's seconds, for the clients' C{connected}
        (by default, now).
    """
    when = time.time() if now is None else now
    result = []
    for raw in stats.get("topics") or []:
        name = raw["topic_name"]
        if topic is not None and name != topic:
            continue
        channels = []
        for rawChannel in raw.get("channels") or []:
            depth = int(rawChannel.get("depth", 0))
            backend = int(rawChannel.get("backend_depth", 0))
            clients = [
                clientStats(node, client, when)
                for client in rawChannel.get("clients") or []
            ]
            channels.append(
                {
                    "node": node,
                    "hostname": hostname,
                    "topic_name": name,
                    "channel_name": rawChannel["channel_name"],
                    "depth": depth,
                    "memory_depth": depth - backend,
                    "backend_depth": backend,
                    "in_flight_count": int(rawChannel.get("in_flight_count", 0)),
                    "deferred_count": int(rawChannel.get("deferred_count", 0)),
                    "requeue_count": int(rawChannel.get("requeue_count", 0)),
                    "timeout_count": int(rawChannel.get("timeout_count", 0)),
                    "message_count": int(rawChannel.get("message_count", 0)),
                    "client_count": int(rawChannel.get("client_count", len(clients))),
                    "nodes": None,
                    "clients": clients,
                    "paused": bool(rawChannel.get("paused", False)),
                    "e2e_processing_latency": _nodeE2E(
                        rawChannel.get("e2e_processing_latency"),
                        name,
                        rawChannel["channel_name"],
                        node,
                    ),
                }
            )
        depth = int(raw.get("depth", 0))
        backend = int(raw.get("backend_depth", 0))
        result.append(
            {
                "node": node,
                "hostname": hostname,
                "topic_name": name,
                "depth": depth,
                "memory_depth": depth - backend,
                "backend_depth": backend,
                "message_count": int(raw.get("message_count", 0)),
                "nodes": None,
                "channels": channels,
                "paused": bool(raw.get("paused", False)),
                "e2e_processing_latency": _nodeE2E(
                    raw.get("e2e_processing_latency"), name, "", node
                ),
            }
        )
    return result


def _emptyE2E(topic: str, channel: str) -> dict[str, Any]:
    return {
        "count": 0,
        "percentiles": None,
        "topic": topic,
        "channel": channel,
        "host": "*",
    }


def aggregateChannel(topic: str, name: str, nodes: Sequence[JSON]) -> dict[str, Any]:
    """
    Go's C{ChannelStats.Add} over each node's record of one channel: the
    counts summed, paused if any node is, C{nodes} and C{clients} sorted by
    hostname, the latencies merged.
    """
    total: dict[str, Any] = {
        "node": "*",
        "hostname": "",
        "topic_name": topic,
        "channel_name": name,
        **{key: 0 for key in _CHANNEL_COUNTS},
        "nodes": [],
        "clients": [],
        "paused": False,
        "e2e_processing_latency": _emptyE2E(topic, name),
    }
    for node in nodes:
        for key in _CHANNEL_COUNTS:
            total[key] += node[key]
        total["paused"] = total["paused"] or node["paused"]
        total["nodes"].append(node)
        total["clients"].extend(node["clients"])
        mergeE2E(total["e2e_processing_latency"], node["e2e_processing_latency"])
    total["nodes"].sort(key=lambda n: str(n["hostname"]))
    total["clients"].sort(key=lambda c: str(c.get("hostname", "")))
    return total


def aggregateTopic(topic: str, nodes: Sequence[JSON]) -> dict[str, Any]:
    """
    Go's C{TopicStats.Add} over each node's record of one topic (see
    L{nodeTopicStats}): the topic's counts summed over nodes, paused if
    any node is, C{nodes} sorted by hostname, each channel aggregated
    over the nodes that have it (L{aggregateChannel}), in the order first
    seen, the latencies merged.
    """
    total: dict[str, Any] = {
        "node": "*",
        "hostname": "",
        "topic_name": topic,
        **{key: 0 for key in _TOPIC_COUNTS},
        "nodes": [],
        "channels": [],
        "paused": False,
        "e2e_processing_latency": _emptyE2E(topic, ""),
    }
    byChannel: dict[str, list[JSON]] = {}
    for node in nodes:
        for key in _TOPIC_COUNTS:
            total[key] += node[key]
        total["paused"] = total["paused"] or node["paused"]
        total["nodes"].append(node)
        mergeE2E(total["e2e_processing_latency"], node["e2e_processing_latency"])
        for channel in node["channels"]:
            byChannel.setdefault(channel["channel_name"], []).append(channel)
    total["nodes"].sort(key=lambda n: str(n["hostname"]))
    total["channels"] = [
        aggregateChannel(topic, name, channels) for name, channels in byChannel.items()
    ]
    return total


# -- Go's nil slices ---------------------------------------------------------


def goTopicAnswer(total: dict[str, Any]) -> dict[str, Any]:
    """
    The C{GET /api/topics/:topic} answer as Go writes it: Go asks the
    nsqds without their clients, so every channel's C{clients}, the
    topic's and each node's, is C{null} (the web UI, which shows the
    topic's publishers, reads them; the JSON does not carry them).
    """
    channels = [*total["channels"]]
    for node in total["nodes"]:
        channels.extend(node["channels"])
    for channel in channels:
        channel["clients"] = None
        for node in channel["nodes"] or []:
            node["clients"] = None
    return total


def goChannelAnswer(total: dict[str, Any] | None, message: str) -> dict[str, Any]:
    """
    The C{GET /api/topics/:topic/:channel} answer as Go writes it: a
    channel without clients has C{"clients": null} (Go's nil slice), and a
    channel no nsqd has is only the C{message} (Go embeds a nil pointer).
    """
    if total is None or not total["nodes"]:
        return {"message": message}
    if not total["clients"]:
        total["clients"] = None
    total["message"] = message
    return total
