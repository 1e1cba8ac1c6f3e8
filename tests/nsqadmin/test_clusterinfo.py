"""
Tests for L{txnsq.nsqadmin._clusterinfo}: recorded Go nsqd C{/stats} and
nsqlookupd C{/nodes} answers in, Go nsqadmin's JSON shapes out.
"""

from __future__ import annotations

import json
import os
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqadmin import _clusterinfo as ci

_GOLDEN = os.path.join(os.path.dirname(__file__), "..", "data", "golden", "http")


def _body(server: str, name: str) -> Any:
    """
    The JSON body of a recorded Go answer.
    """
    with open(os.path.join(_GOLDEN, server, f"{name}.json")) as f:
        return json.loads(json.load(f)["body_text"])


class TopicsTests(SynchronousTestCase):
    """
    Topic lists merge as Go's C{GetLookupdTopics} / C{GetNSQDTopics}.
    """

    def test_nsqdTopics(self) -> None:
        """
        The topics of several nsqds' C{/stats} are listed once each,
        sorted.
        """
        self.assertEqual(
            ci.nsqdTopics(
                [_body("nsqd", "stats_json_full"), _body("nsqd", "stats_json_paused")]
            ),
            ["golden_nochannel", "golden_paused_topic", "golden_topic"],
        )

    def test_lookupdTopics(self) -> None:
        """
        The topics of several nsqlookupds are listed once each, sorted.
        """
        self.assertEqual(
            ci.lookupdTopics([{"topics": ["b", "a"]}, {"topics": ["a", "c"]}, {}]),
            ["a", "b", "c"],
        )

    def test_warningMessage(self) -> None:
        """
        Partial errors become Go's C{WARNING: ...} message; none is C{""}.
        """
        self.assertEqual(ci.warningMessage([]), "")
        self.assertEqual(ci.warningMessage(["x", "y"]), "WARNING: x; y")


class ProducersTests(SynchronousTestCase):
    """
    nsqds listed by several nsqlookupds are merged as Go's
    C{GetLookupdProducers} does.
    """

    def test_deduplicated(self) -> None:
        """
        An nsqd known to two nsqlookupds appears once, with each
        nsqlookupd's view in C{remote_addresses} and its topics with their
        tombstone flags, in Go's C{Producer} shape.
        """
        nodes = _body("nsqlookupd", "nodes_with_producer")
        producers = ci.lookupdProducers([("l1:4161", nodes), ("l2:4161", nodes)])
        self.assertEqual(
            producers,
            [
                {
                    "remote_addresses": [
                        "l1:4161/127.0.0.1:41102",
                        "l2:4161/127.0.0.1:41102",
                    ],
                    "remote_address": "127.0.0.1:41102",
                    "hostname": "golden-nsqd-host",
                    "broadcast_address": "golden-nsqd.example",
                    "tcp_port": 4150,
                    "http_port": 4151,
                    "version": "1.3.0",
                    "topics": [{"topic": "golden_topic", "tombstoned": False}],
                    "out_of_date": False,
                }
            ],
        )

    def test_outOfDate(self) -> None:
        """
        nsqds older than the newest are C{out_of_date}; a pre-release is
        older than its release; the list is sorted by hostname.
        """
        raw = {"remote_address": "r", "tcp_port": 4150, "http_port": 4151}
        answer = {
            "producers": [
                {**raw, "hostname": "c", "broadcast_address": "c", "version": "1.3.0"},
                {**raw, "hostname": "a", "broadcast_address": "a", "version": "1.2.1"},
                {
                    **raw,
                    "hostname": "b",
                    "broadcast_address": "b",
                    "version": "1.3.0-alpha",
                },
            ]
        }
        producers = ci.lookupdProducers([("l", answer)])
        self.assertEqual(
            [(p["hostname"], p["out_of_date"]) for p in producers],
            [("a", True), ("b", True), ("c", False)],
        )


class StatsTests(SynchronousTestCase):
    """
    Per-node stats and their sums have Go's C{TopicStats} and
    C{ChannelStats} shapes.
    """

    def _twoNodes(self) -> list[dict[str, Any]]:
        """
        C{golden_topic} as two nsqds report it.
        """
        return [
            *ci.nodeTopicStats(
                "h2:4151", "host2", _body("nsqd", "stats_json_paused"), "golden_topic"
            ),
            *ci.nodeTopicStats(
                "h1:4151", "host1", _body("nsqd", "stats_json_full"), "golden_topic"
            ),
        ]

    def test_nodeRecord(self) -> None:
        """
        One node's topic record carries its node, hostname and memory
        depth, and its channels carry theirs, their clients tagged with the
        node.
        """
        [record] = ci.nodeTopicStats(
            "h1:4151", "host1", _body("nsqd", "stats_json_full"), "golden_topic"
        )
        self.assertEqual(
            {
                k: v
                for k, v in record.items()
                if k not in ("channels", "e2e_processing_latency")
            },
            {
                "node": "h1:4151",
                "hostname": "host1",
                "topic_name": "golden_topic",
                "depth": 0,
                "memory_depth": 0,
                "backend_depth": 0,
                "message_count": 3,
                "nodes": None,
                "paused": False,
            },
        )
        busy = record["channels"][0]
        self.assertEqual(
            (busy["channel_name"], busy["node"], busy["memory_depth"]),
            ("ch_busy", "h1:4151", 1),
        )
        self.assertEqual(busy["clients"][0]["node"], "h1:4151")
        self.assertEqual(busy["clients"][0]["client_id"], "golden-consumer")

    def test_aggregateTopic(self) -> None:
        """
        The topic's sum: counts added over nodes, C{node} C{*}, C{nodes}
        sorted by hostname, every channel of every node aggregated (in the
        order first seen), paused if any node's is.
        """
        total = ci.aggregateTopic("golden_topic", self._twoNodes())
        self.assertEqual(total["node"], "*")
        self.assertEqual(total["message_count"], 4)
        self.assertEqual(total["depth"], 0)
        self.assertEqual([n["hostname"] for n in total["nodes"]], ["host1", "host2"])
        channels = {c["channel_name"]: c for c in total["channels"]}
        self.assertEqual(
            [c["channel_name"] for c in total["channels"]],
            ["ch_active", "ch_paused", "ch_busy", "ch_idle"],
        )
        self.assertTrue(channels["ch_paused"]["paused"])
        self.assertEqual(channels["ch_busy"]["client_count"], 1)
        self.assertEqual(len(channels["ch_busy"]["clients"]), 1)
        self.assertEqual(channels["ch_idle"]["depth"], 2)
        self.assertEqual(
            total["e2e_processing_latency"],
            {
                "count": 0,
                "percentiles": None,
                "topic": "golden_topic",
                "channel": "",
                "host": "*",
            },
        )

    def test_sameChannelTwoNodes(self) -> None:
        """
        A channel on two nodes is summed, with both nodes' records in its
        C{nodes}.
        """
        stats = _body("nsqd", "stats_json_full")
        nodes = [
            *ci.nodeTopicStats("b:1", "b", stats, "golden_topic"),
            *ci.nodeTopicStats("a:1", "a", stats, "golden_topic"),
        ]
        total = ci.aggregateTopic("golden_topic", nodes)
        busy = total["channels"][0]
        self.assertEqual(busy["message_count"], 6)
        self.assertEqual(busy["in_flight_count"], 2)
        self.assertEqual([n["node"] for n in busy["nodes"]], ["a:1", "b:1"])

    def test_mergeE2E(self) -> None:
        """
        Percentiles merge as Go's C{E2eProcessingLatencyAggregate.Add}:
        counts add, the max is the larger, the average is weighted by
        count, sorted by quantile, highest first.
        """
        one = {
            "count": 1,
            "percentiles": [
                {"quantile": 0.99, "value": 100},
                {"quantile": 0.5, "value": 10},
            ],
        }
        three = {"count": 3, "percentiles": [{"quantile": 0.99, "value": 200}]}
        records = [
            ci.nodeTopicStats(
                node,
                node,
                {"topics": [{"topic_name": "t", "e2e_processing_latency": raw}]},
            )[0]
            for node, raw in (("a", one), ("b", three))
        ]
        total = ci.aggregateTopic("t", records)["e2e_processing_latency"]
        self.assertEqual(total["count"], 4)
        self.assertEqual(
            total["percentiles"],
            [
                {
                    "quantile": 0.99,
                    "max": 200,
                    "min": 100,
                    "average": 175.0,
                    "count": 4,
                },
                {"quantile": 0.5, "max": 10, "min": 10, "average": 10.0, "count": 1},
            ],
        )


class ClientStatsTests(SynchronousTestCase):
    """
    A channel's consumers as Go nsqadmin's JSON gives them.
    """

    raw = {
        "client_id": "c",
        "hostname": "h",
        "version": "V2",
        "remote_address": "127.0.0.1:5000",
        "state": 3,
        "ready_count": 7,
        "in_flight_count": 1,
        "message_count": 9,
        "finish_count": 8,
        "requeue_count": 0,
        "connect_ts": 1000,
        "sample_rate": 0,
        "deflate": False,
        "snappy": True,
        "user_agent": "go-nsq/1.1.0",
        "tls": False,
        "tls_cipher_suite": "",
        "tls_version": "",
        "tls_negotiated_protocol": "",
        "tls_negotiated_protocol_is_mutual": False,
        "pub_counts": [{"topic": "t", "count": 2}],
    }

    def test_goShape(self) -> None:
        """
        Go's C{ClientStats} fields in Go's order: nsqd's C{state} and
        C{pub_counts} left out, the auth fields nsqd omits when empty
        present, and C{connected} in nanoseconds since C{connect_ts}, to
        the whole second.
        """
        record = ci.clientStats("n:4151", self.raw, 1065.9)
        self.assertEqual(
            list(record),
            [
                "node", "remote_address", "version", "client_id", "hostname",
                "user_agent", "connect_ts", "connected", "in_flight_count",
                "ready_count", "finish_count", "requeue_count", "message_count",
                "sample_rate", "deflate", "snappy", "authed", "auth_identity",
                "auth_identity_url", "tls", "tls_cipher_suite", "tls_version",
                "tls_negotiated_protocol", "tls_negotiated_protocol_is_mutual",
            ],
        )
        self.assertEqual(record["connected"], 65_000_000_000)
        self.assertEqual(record["node"], "n:4151")
        self.assertEqual(record["snappy"], True)
        self.assertEqual(
            (record["authed"], record["auth_identity"], record["auth_identity_url"]),
            (False, "", ""),
        )

    def test_inChannels(self) -> None:
        """
        L{ci.nodeTopicStats} gives each channel's clients that shape, as of
        the time it is given.
        """
        stats = {
            "topics": [
                {
                    "topic_name": "t",
                    "channels": [{"channel_name": "c", "clients": [self.raw]}],
                }
            ]
        }
        [record] = ci.nodeTopicStats("n:4151", "n", stats, None, 1001.0)
        [client] = record["channels"][0]["clients"]
        self.assertEqual(client, ci.clientStats("n:4151", self.raw, 1001.0))
        self.assertEqual(client["connected"], 1_000_000_000)


class AdminActionTests(SynchronousTestCase):
    """
    Notifications have Go's C{AdminAction} fields.
    """

    def test_fields(self) -> None:
        """
        Every field, in Go's order; C{channel}, C{node} and C{user} only
        when set.
        """
        full = ci.adminAction(
            "tombstone_topic_producer",
            "t",
            "c",
            "n:1",
            7,
            "u",
            "ip:1",
            "ua",
            "url",
            "via",
        )
        self.assertEqual(
            list(full),
            [
                "action",
                "topic",
                "channel",
                "node",
                "timestamp",
                "user",
                "remote_ip",
                "user_agent",
                "url",
                "via",
            ],
        )
        self.assertEqual(
            ci.adminAction(
                "create_topic", "t", "", "", 7, "", "ip:1", "ua", "url", "via"
            ),
            {
                "action": "create_topic",
                "topic": "t",
                "timestamp": 7,
                "remote_ip": "ip:1",
                "user_agent": "ua",
                "url": "url",
                "via": "via",
            },
        )

    def test_basicAuthUser(self) -> None:
        """
        The user comes from a C{Basic} C{Authorization} header, as Go's
        C{basicAuthUser}; anything else is no user.
        """
        self.assertEqual(ci.basicAuthUser("Basic Ym9zczpzZWNyZXQ="), "boss")
        self.assertEqual(ci.basicAuthUser("Basic Ym9zcw=="), "")
        self.assertEqual(ci.basicAuthUser("Bearer x"), "")
        self.assertEqual(ci.basicAuthUser("Basic !!"), "")
        self.assertEqual(ci.basicAuthUser(""), "")
