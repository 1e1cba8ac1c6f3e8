"""
Tests for L{txnsq.nsqd.stats}: the pieces of C{/stats} that the HTTP tests
do not pin down (latency percentiles, client details, memory figures, text
formatting).  The latency windows themselves are tested in
L{tests.nsqd.state.test_quantile}.
"""

from __future__ import annotations

import gc
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from tests.nsqd.state._support import NOW, insertLatencies, window
from tests.nsqd.test_http import FakeClient
from txnsq._go.json import encodeJSON
from txnsq.nsqd._authorizations import Authorization, Authorizations
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.state import Broker
from txnsq.nsqd.stats import (
    GCPauseRecorder,
    Health,
    Stats,
    clientStats,
    formatStatsText,
    gatherStats,
    latencyJSON,
    memoryStats,
    nanosecondsToHuman,
    statsJSON,
    statsText,
)


class LatencyTests(SynchronousTestCase):
    """
    The e2e processing latency in C{/stats}.
    """

    def test_latencyJSON(self) -> None:
        """
        Go's C{quantile.Result} shape: C{null} percentiles without a
        window, else one C{{"quantile","value"}} per percentile.
        """
        self.assertEqual(latencyJSON([], NOW), {"count": 0, "percentiles": None})
        latency = window([1.0, 0.99])
        insertLatencies(latency, [252], NOW)
        self.assertEqual(
            latencyJSON([latency], NOW),
            {
                "count": 1,
                "percentiles": [
                    {"quantile": 1.0, "value": 252e6},
                    {"quantile": 0.99, "value": 252e6},
                ],
            },
        )

    def test_reported(self) -> None:
        """
        With percentiles configured, topics report the merge of their
        channels' windows and channels their own.
        """
        config = NSQDConfig(e2e_processing_latency_percentiles=[1.0, 0.5])
        broker = Broker(config)
        old = broker.getChannel("t", "old", NOW)
        new = broker.getChannel("t", "new", NOW)
        for channel, millis in ((old, [10]), (new, [20, 30])):
            assert channel.e2eLatency is not None
            insertLatencies(channel.e2eLatency, millis, NOW)
        broker.getTopic("bare")
        stats = gatherStats(broker, [], now=NOW)
        assert stats.topics is not None
        bare, topic = stats.topics
        self.assertEqual(
            bare["e2e_processing_latency"], {"count": 0, "percentiles": None}
        )
        self.assertEqual(
            topic["e2e_processing_latency"],
            {
                "count": 3,
                "percentiles": [
                    {"quantile": 1.0, "value": 30e6},
                    {"quantile": 0.5, "value": 20e6},
                ],
            },
        )
        self.assertEqual(
            [c["e2e_processing_latency"]["count"] for c in topic["channels"]], [2, 1]
        )
        text = formatStatsText(stats, None, "OK", NOW, NOW)
        self.assertIn("msgs: 0        e2e%: 30.0ms, 20.0ms\n", text)
        self.assertIn("[old                      ]", text)
        self.assertIn("msgs: 0        e2e%: 10.0ms, 10.0ms\n", text)

    def test_notConfigured(self) -> None:
        """
        Without percentiles topics and channels report no latency.
        """
        broker = Broker(NSQDConfig())
        broker.getChannel("t", "c", NOW)
        stats = gatherStats(broker, [], now=NOW)
        assert stats.topics is not None
        [topic] = stats.topics
        noLatency = {"count": 0, "percentiles": None}
        self.assertEqual(topic["e2e_processing_latency"], noLatency)
        self.assertEqual(topic["channels"][0]["e2e_processing_latency"], noLatency)

    def test_nanosecondsToHuman(self) -> None:
        """
        Go's C{NanoSecondToHuman}: the unit changes strictly above each
        power of 1000, with one decimal.
        """
        cases = {
            0: "0.0ns",
            1000: "1000.0ns",
            1001: "1.0us",
            1_000_000: "1000.0us",
            252_721_661: "252.7ms",
            1_500_000_000: "1.5s",
        }
        for value, text in cases.items():
            self.assertEqual(nanosecondsToHuman(value), text)


def _answer(identity: str, identityURL: str, granted: bool) -> Authorizations:
    """
    An auth server's answer, granting publishing to every topic or nothing.
    """
    entries: tuple[Authorization, ...] = ()
    if granted:
        entries = (
            Authorization(re.compile(""), (re.compile(""),), frozenset({"publish"})),
        )
    return Authorizations(identity, identityURL, NOW + 60, entries)


class _TLSHandle:
    """
    The parts of a pyOpenSSL connection C{/stats} reads.
    """

    def __init__(self, cipher: str, version: str) -> None:
        self.cipher = cipher
        self.version = version

    def get_cipher_name(self) -> str:
        """
        The OpenSSL cipher name.
        """
        return self.cipher

    def get_protocol_version_name(self) -> str:
        """
        The OpenSSL protocol name.
        """
        return self.version

    def get_alpn_proto_negotiated(self) -> bytes:
        """
        No ALPN.
        """
        return b""


class ClientStatsTests(SynchronousTestCase):
    """
    L{clientStats}.
    """

    def test_optionalFields(self) -> None:
        """
        Auth fields appear only when the auth server answered (C{authed}
        only when it granted something); TLS details come from the
        connection's pyOpenSSL handle, named as Go names them (suites Go
        does not know as C{Unknown <id>}); compression flags are read.
        """
        client = FakeClient().client
        client.deflate = True
        client.authorizations = _answer("alice", "", granted=True)
        client.tls = True
        client.tlsConnection = _TLSHandle("ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2")
        stats = clientStats(client)
        self.assertEqual(
            list(stats)[12:],
            [
                "deflate",
                "snappy",
                "user_agent",
                "authed",
                "auth_identity",
                "tls",
                "tls_cipher_suite",
                "tls_version",
                "tls_negotiated_protocol",
                "tls_negotiated_protocol_is_mutual",
            ],
        )
        self.assertEqual(
            [stats[k] for k in list(stats)[12:]],
            [
                True,
                False,
                "probe/1.0",
                True,
                "alice",
                True,
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS1.2",
                "",
                True,
            ],
        )
        client.tlsConnection = _TLSHandle("TLS_AES_128_GCM_SHA256", "TLSv1.3")
        client.authorizations = _answer("", "https://id", granted=False)
        stats = clientStats(client)
        self.assertEqual(
            (stats["tls_cipher_suite"], stats["tls_version"]),
            ("Unknown 4865", "TLS1.3"),
        )
        self.assertNotIn("authed", stats)
        self.assertEqual(stats["auth_identity_url"], "https://id")

    def test_pubCountsOneTopic(self) -> None:
        """
        C{pub_counts} lists only the first topic (Go's loop breaks), or
        the filtered topic.
        """
        client = FakeClient().client
        client.pubCounts = {"a": 1, "b": 2}
        self.assertEqual(
            clientStats(client)["pub_counts"], [{"topic": "a", "count": 1}]
        )
        self.assertEqual(
            clientStats(client, "b")["pub_counts"], [{"topic": "b", "count": 2}]
        )
        self.assertNotIn("pub_counts", clientStats(client, "c"))


class MemoryAndHealthTests(SynchronousTestCase):
    """
    L{memoryStats}, L{GCPauseRecorder} and L{Health}.
    """

    def test_gcPauses(self) -> None:
        """
        The recorder times collections; the pause percentiles come from
        them, in microseconds, and the run count covers every generation.
        """
        recorder = GCPauseRecorder()
        gc.callbacks.append(recorder)
        self.addCleanup(gc.callbacks.remove, recorder)
        before = memoryStats(recorder)["gc_total_runs"]
        gc.collect()
        self.assertEqual(len(recorder.pauses), 1)
        recorder.pauses.clear()
        recorder.pauses.extend([5_000, 1_000_000, 2_000_000])
        stats = memoryStats(recorder)
        self.assertEqual(stats["gc_pause_usec_100"], 2000)
        self.assertGreater(stats["gc_total_runs"], before)
        self.assertGreater(stats["heap_objects"], 0)
        self.assertGreater(stats["heap_in_use_bytes"], 0)

    if not hasattr(gc, "callbacks"):
        test_gcPauses.skip = "PyPy's collector calls no gc.callbacks"  # type: ignore[attr-defined]

    def test_withoutCallbacks(self) -> None:
        """
        Where the collector reports nothing (PyPy), the figures are zeros
        and the resident size is still real.
        """
        stats = memoryStats(GCPauseRecorder())
        self.assertEqual(stats["gc_pause_usec_100"], 0)
        self.assertGreater(stats["heap_in_use_bytes"], 0)
        self.assertIsInstance(stats["gc_total_runs"], int)

    def test_installOnce(self) -> None:
        """
        L{GCPauseRecorder.install} registers one recorder per process (where
        the collector takes callbacks).
        """
        self.assertIs(GCPauseRecorder.install(), GCPauseRecorder.install())
        if hasattr(gc, "callbacks"):
            self.assertEqual(gc.callbacks.count(GCPauseRecorder.install()), 1)

    def test_health(self) -> None:
        """
        OK, then C{NOK - <error>} after a failure, OK again after success.
        """
        health = Health()
        self.assertEqual((health.healthy, health.text()), (True, "OK"))
        health.set(OSError(28, "No space left on device"))
        self.assertEqual(health.text(), "NOK - [Errno 28] No space left on device")
        health.set(None)
        self.assertTrue(health.healthy)

    def test_textWithoutTopics(self) -> None:
        """
        Go's nil topics and producers print as C{None}.
        """
        text = formatStatsText(Stats(None, None), None, "OK", NOW, NOW + 0.25)
        self.assertEqual(
            text.split("\n")[2:],
            [
                "uptime 250ms",
                "",
                "Health: OK",
                "",
                "Topics: None",
                "",
                "Producers: None",
                "",
            ],
        )


# Broker states for comparing statsJSON with the objects it replaces.
# Names and client strings include what Go's JSON escapes or replaces
# (HTML characters, U+2028, quotes, control characters, a lone surrogate).
_ODD_TEXT = st.text(
    alphabet=st.sampled_from(list('ab.-_#<>&"\\\n\x01\u2028é\udcff')), max_size=6
)
_NAMES = st.sampled_from(["t", "t2", "c", "c#ephemeral", "a.b-c_d"]) | _ODD_TEXT
_COUNT = st.integers(min_value=0, max_value=2**63 - 1)
_CHANNEL = st.fixed_dictionaries(
    {
        "counts": st.tuples(_COUNT, _COUNT, _COUNT),
        "paused": st.booleans(),
        # (ready count, hostname, user agent, authorized identity, topics
        # published to) each.
        "consumers": st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=3),
                _ODD_TEXT,
                _ODD_TEXT,
                st.none() | _ODD_TEXT,
                st.lists(_NAMES, max_size=2),
            ),
            max_size=2,
        ),
        "latencies": st.lists(st.integers(min_value=0, max_value=5000), max_size=3),
    }
)
_TOPIC = st.fixed_dictionaries(
    {
        "published": st.integers(min_value=0, max_value=4),
        "deferred": st.integers(min_value=0, max_value=2),
        "paused": st.booleans(),
        "channels": st.dictionaries(_NAMES, _CHANNEL, max_size=3),
    }
)
# Figures of every memory key, fixed (a new memoryStats() differs).
_MEMORY = memoryStats(None)
_STATE = st.fixed_dictionaries(
    {
        "percentiles": st.sampled_from([[], [1.0, 0.99], [0.5]]),
        "topics": st.dictionaries(_NAMES, _TOPIC, max_size=3),
        # (topics published to, connect time offset) per producer.
        "producers": st.lists(
            st.tuples(st.lists(_NAMES, max_size=2), st.integers(0, 100)),
            max_size=3,
        ),
        "includeClients": st.booleans(),
        "memory": st.none()
        | st.just(_MEMORY)
        | st.just({"heap_objects": 1, "next_gc_bytes": 2**40}),
        "health": st.sampled_from(["OK", 'NOK - disk <full> & \u2028 "bad"'])
        | _ODD_TEXT,
    }
)


@st.composite
def _filteredStates(draw: st.DrawFn) -> dict[str, Any]:
    # Filters mostly name what exists, so that they select something.
    state: dict[str, Any] = draw(_STATE)
    topics = sorted(state["topics"])
    channels = sorted({c for t in state["topics"].values() for c in t["channels"]})
    state["topic"] = draw(st.sampled_from(["", "nope", *topics]))
    state["channel"] = draw(st.sampled_from(["", "nope", *channels]))
    return state


def _brokerFor(state: dict[str, Any]) -> tuple[Broker, list[FakeClient]]:
    """
    A broker and connections in the state C{state} describes.
    """
    broker = Broker(NSQDConfig(e2e_processing_latency_percentiles=state["percentiles"]))
    connections = []
    port = 5000
    for topicName, topicSpec in state["topics"].items():
        topic = broker.getTopic(topicName)
        for channelName, spec in topicSpec["channels"].items():
            channel = broker.getChannel(topicName, channelName, NOW)
            channel.messageCount, channel.requeueCount, channel.timeoutCount = spec[
                "counts"
            ]
            for ready, hostname, userAgent, identity, published in spec["consumers"]:
                port += 1
                consumer = FakeClient(f"id{port}", hostname, port, ready)
                consumer.client.userAgent = userAgent
                consumer.client.pubCounts = {name: 1 for name in published}
                if identity is not None:
                    consumer.client.authorizations = _answer(identity, "", True)
                channel.addConsumer(consumer)
                connections.append(consumer)
            if channel.e2eLatency is not None:
                insertLatencies(channel.e2eLatency, spec["latencies"], NOW)
        broker.publish(topicName, [b"m"] * topicSpec["published"], NOW)
        broker.publish(topicName, [b"d"] * topicSpec["deferred"], NOW, 5000)
        for channel in topic.channels.values():
            if state["topics"][topicName]["channels"][channel.name]["paused"]:
                channel.pause()
            # Consumers with RDY take messages in flight.
            channel.pump(NOW)
        if topicSpec["paused"]:
            topic.pause()
    for topics, offset in state["producers"]:
        port += 1
        producer = FakeClient(f"p{port}", "pubhost", port, connectTime=NOW - offset)
        producer.client.pubCounts = {name: 3 for name in topics}
        connections.append(producer)
    return broker, connections


class WrittenDirectlyTests(SynchronousTestCase):
    """
    L{statsJSON} and L{statsText} write what encoding L{gatherStats}'
    objects (with L{encodeJSON} and L{formatStatsText}) gives.
    """

    def assertSameAsObjects(self, state: dict[str, Any]) -> bytes:
        """
        C{statsJSON} for the broker in C{state} equals L{encodeJSON} of the
        C{/stats} document built from L{gatherStats}, and C{statsText}
        equals L{formatStatsText} of it; return the JSON.
        """
        broker, connections = _brokerFor(state)
        filters: dict[str, Any] = {
            "topic": state["topic"],
            "channel": state["channel"],
            "includeClients": state["includeClients"],
            "now": NOW + 1,
        }
        stats = gatherStats(broker, connections, **filters)
        document: dict[str, Any] = {
            "version": "1.3.0",
            "health": state["health"],
            "start_time": int(NOW),
            "topics": stats.topics,
        }
        if state["memory"] is not None:
            document["memory"] = state["memory"]
        document["producers"] = stats.producers
        written = statsJSON(
            broker,
            connections,
            version="1.3.0",
            health=state["health"],
            startTime=int(NOW),
            memory=state["memory"],
            **filters,
        )
        self.assertEqual(written, encodeJSON(document))
        # The text page needs every memory key.
        memory = None if state["memory"] is None else _MEMORY
        text = statsText(
            broker,
            connections,
            memory=memory,
            health=state["health"],
            startTime=NOW - 3600,
            **filters,
        )
        self.assertEqual(
            text,
            formatStatsText(
                stats,
                memory,
                state["health"],
                NOW - 3600,
                NOW + 1,
            ),
        )
        return written

    @given(_filteredStates())
    def test_same(self, state: dict[str, Any]) -> None:
        """
        For random topics, channels, counters, consumers, producers,
        latencies, filters and odd names, the JSON bytes and the text are
        the same.
        """
        self.assertSameAsObjects(state)

    def test_cases(self) -> None:
        """
        The cases Go's quirks make: no topics, an unknown topic filter
        (C{null} topics and producers), a channel filter no topic matches
        (C{[]}), clients left out (C{null}), and a filled document.
        """
        busy = {
            "published": 2,
            "deferred": 1,
            "paused": True,
            "channels": {
                "c": {
                    "counts": (7, 1, 2),
                    "paused": False,
                    "consumers": [(1, "h<1>", "ua", "me", ["t"])],
                    "latencies": [10, 20],
                }
            },
        }
        base: dict[str, Any] = {
            "percentiles": [],
            "topics": {},
            "producers": [],
            "topic": "",
            "channel": "",
            "includeClients": True,
            "memory": None,
            "health": "OK",
        }
        cases: list[tuple[dict[str, Any], bytes]] = [
            ({}, b'"topics":[],"producers":null}'),
            ({"topics": {"t": busy}, "topic": "nope"}, b'"topics":null,'),
            ({"topics": {"t": busy}, "channel": "nope"}, b'"topics":[],'),
            (
                {"topics": {"t": busy}, "includeClients": False},
                b'"client_count":1,"clients":null,',
            ),
            (
                {
                    "topics": {"t": busy},
                    "percentiles": [0.5],
                    "producers": [(["t"], 1)],
                },
                b'"percentiles":[{"quantile":0.5,"value":10000000}]',
            ),
        ]
        for changes, expected in cases:
            written = self.assertSameAsObjects({**base, **changes})
            self.assertIn(expected, written)
