"""
Tests for L{txnsq.nsqd.stats}: the pieces of C{/stats} that the HTTP tests
do not pin down (latency percentiles, client details, memory figures, text
formatting).  The latency windows themselves are tested in
L{tests.nsqd.state.test_quantile}.
"""

from __future__ import annotations

import gc
import re

from twisted.trial.unittest import SynchronousTestCase

from tests.nsqd.state._support import NOW, insertLatencies, window
from tests.nsqd.test_http import FakeClient
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
