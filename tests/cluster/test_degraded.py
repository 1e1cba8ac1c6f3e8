"""
Every link slow and lossy: 100 ms each way and 1% of packets dropped.

The kernel here has no C{netem}, so the delay comes from the relays in
front of every daemon (L{tests.cluster._relay}) and the loss from
C{iptables -m statistic} on every host (L{tests.cluster._hosts.Host.lossy}).
"""

from __future__ import annotations

from collections import defaultdict

from twisted.internet.task import LoopingCall
from twisted.trial.unittest import TestCase

from tests.cluster._hosts import iptablesMissing, namespacesMissing
from tests.cluster._nsq import Cluster, Tally, gather, reactor, until

TOPIC = "telemetry"
DELAY = 0.1
LOSS = 0.01


class DegradedLinkTests(TestCase):
    """
    Delay and loss slow NSQ down but break nothing: no message lost, no
    duplicate beyond a redelivery, no registration or connection dropped
    for a late heartbeat.
    """

    # Bounds a hang only: a PyPy run on a busy machine takes minutes.
    timeout = 480
    skip = namespacesMissing() or iptablesMissing()

    async def test_delayAndLossEverywhere(self) -> None:
        """
        Through 100 ms of delay each way and 1% loss on every host, a
        producer and a consumer on other hosts move every message, with no
        duplicate but redeliveries; nsqlookupd lists both nsqds at every
        look, and the consumer's connections (5 s heartbeats) never drop.
        """
        cluster = Cluster(self, delay=DELAY, loss=LOSS)
        lookupd = await cluster.lookupd("lookupd")
        nsqds = await gather(cluster.nsqd(f"nsqd{i}", [lookupd]) for i in (1, 2))
        both = sorted(n.tcp for n in nsqds)
        consumer = cluster.consumer(
            "app2", TOPIC, "metrics", [lookupd], (), "--heartbeat-ms=5000"
        )
        producer = cluster.producer("app1", nsqds, TOPIC, 1500, window=40)
        tally = Tally([producer], [consumer])
        await until(lambda: consumer.connections() == both, "consumer on both nsqds")
        # The delay is real: an HTTP request (on a connection made for it)
        # cannot come back sooner than twice the delay.  (The first request
        # starts the probe process: not that one.)
        await cluster.request("GET", lookupd.http, "/ping")
        started = reactor.seconds()
        await cluster.request("GET", lookupd.http, "/ping")
        roundTrip = reactor.seconds() - started
        self.assertGreaterEqual(roundTrip, 2 * DELAY)

        looks: dict[bool, int] = defaultdict(int)

        async def look() -> None:
            looks[sorted(await cluster.lookup(lookupd, TOPIC)) == both] += 1

        sampler = LoopingCall(look)
        sampling = sampler.start(1.0)
        await tally.allDelivered()
        sampler.stop()
        await sampling

        done = producer.last("done")
        assert done is not None
        rate = len(done["acked"]) / max(done["seconds"], 0.001)
        identifies = [n.logged(r"LOOKUPD\(.*\): peer info") for n in nsqds]
        lostConnections = _drops(consumer.ofKind("status"))
        deliveries = defaultdict(list)
        for _, event in tally.deliveries():
            deliveries[event["b"]].append(event["a"])
        unexplained = [
            body
            for body, attempts in deliveries.items()
            if sorted(attempts) != list(range(1, len(attempts) + 1))
            and len(attempts) > 1
        ]
        tally.report(
            self,
            publish_rate=f"{rate:.0f}/s",
            http_round_trip_ms=round(roundTrip * 1000),
            lookups_complete=f"{looks[True]}/{looks[True] + looks[False]}",
            nsqd_identifies="/".join(map(str, identifies)),
            consumer_drops=lostConnections,
        )
        # nsqd PINGs nsqlookupd every 15 s and, as Go's, reconnects when an
        # answer takes over 1 s: with a 200 ms round trip that happens only
        # when the machine is starved (PyPy warming up beside other tests),
        # so a re-IDENTIFY is reported above, not failed.  What a user
        # would see of a flap is asserted: nsqlookupd not listing an nsqd,
        # a consumer losing a connection (5 s heartbeats, 10 s deadline, so that
        # a starved machine's pauses do not count).
        self.assertEqual(looks[False], 0)
        self.assertEqual(lostConnections, 0)
        self.assertEqual(unexplained, [])


def _drops(statuses: list[dict[str, object]]) -> int:
    """
    How often a connection the consumer had disappeared from its status.
    """
    drops = 0
    previous: set[str] = set()
    for status in statuses:
        current = set(status["connections"])  # type: ignore[call-overload]
        drops += len(previous - current)
        previous = current
    return drops
