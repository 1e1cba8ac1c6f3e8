"""
Partitions (every packet between two hosts dropped, neither side told):
between an nsqd and nsqlookupd, and between a consumer and one nsqd.
"""

from __future__ import annotations

import platform
from typing import Any

from twisted.trial.unittest import SkipTest, TestCase

from tests.cluster._hosts import iptablesMissing, namespacesMissing
from tests.cluster._nsq import Cluster, Tally, gather, reactor, until

TOPIC = "events"

#: Above nsqd's fixed 15 s PING interval, or registrations would lapse
#: between two PINGs; far below Go's 5 minutes, so expiry is seen quickly.
INACTIVE_TIMEOUT = 20
TOMBSTONE_LIFETIME = 4


class PartitionTests(TestCase):
    """
    nsqlookupd forgets an nsqd it no longer hears from, as Go's does, and
    messages a partitioned consumer held are delivered again.
    """

    # Bounds a hang only: a PyPy run on a busy machine takes minutes.
    timeout = 480
    skip = namespacesMissing() or iptablesMissing()

    async def test_nsqdFromLookupd(self) -> None:
        """
        Cut off from nsqlookupd, nsqd1 leaves C{/lookup} and C{/nodes} once
        C{--inactive-producer-timeout} passed since its last PING (its
        connection is still open on nsqlookupd's side) while consumers
        already on it keep consuming; a tombstoned nsqd2 leaves
        C{/lookup} for C{--tombstone-lifetime}, then returns; healed, nsqd1
        reconnects and is listed again.
        """
        cluster = Cluster(self)
        lookupd = await cluster.lookupd(
            "lookupd",
            f"--inactive-producer-timeout={INACTIVE_TIMEOUT}s",
            f"--tombstone-lifetime={TOMBSTONE_LIFETIME}s",
        )
        nsqd1, nsqd2 = await gather(cluster.nsqd(f"nsqd{i}", [lookupd]) for i in (1, 2))
        both = sorted([nsqd1.tcp, nsqd2.tcp])
        consumer = cluster.consumer("app2", TOPIC, "index", [lookupd])
        first = cluster.producer("app1", [nsqd1, nsqd2], TOPIC, 500, rate=100)
        await until(lambda: consumer.connections() == both, "consumer on both nsqds")
        await first.whenDone()

        cutAt = reactor.seconds()
        nsqd1.host.cut(lookupd.host)
        await until(
            lambda: _listed(cluster, lookupd, [nsqd2.tcp]),
            "nsqd1 expired from /lookup",
            timeout=INACTIVE_TIMEOUT + 40,
        )
        expiredAfter = reactor.seconds() - cutAt
        self.assertEqual(await cluster.nodes(lookupd), {nsqd2.tcp})
        # Consumers already connected do not need nsqlookupd.
        second = cluster.producer("app3", [nsqd1], TOPIC, 300, rate=100, prefix="late")
        await second.whenDone()

        status, body = await cluster.request(
            "POST", lookupd.http, f"/topic/tombstone?topic={TOPIC}&node={nsqd2.http}"
        )
        self.assertEqual(status, 200, body)
        tombstonedAt = reactor.seconds()
        self.assertEqual(await cluster.lookup(lookupd, TOPIC), set())
        await until(
            lambda: _listed(cluster, lookupd, [nsqd2.tcp]),
            "nsqd2 back once its tombstone expired",
            timeout=TOMBSTONE_LIFETIME + 30,
        )
        tombstoneSeconds = reactor.seconds() - tombstonedAt

        healedAt = reactor.seconds()
        nsqd1.host.heal(lookupd.host)
        await until(
            lambda: _listed(cluster, lookupd, both),
            "nsqd1 registered again after the partition healed",
            timeout=60,
        )
        backAfter = reactor.seconds() - healedAt
        tally = Tally([first, second], [consumer])
        await tally.allDelivered()
        tally.report(
            self,
            expired_after_s=round(expiredAfter, 1),
            tombstone_hid_s=round(tombstoneSeconds, 1),
            back_after_heal_s=round(backAfter, 1),
        )
        self.assertGreaterEqual(tombstoneSeconds, TOMBSTONE_LIFETIME - 0.5)

    async def test_consumerFromNSQD(self) -> None:
        """
        A consumer cut off from nsqd1 while holding messages from it: nsqd1
        times them out (C{--msg-timeout}) and gives them to another
        consumer of the channel (started after the cut), while the cut-off
        consumer keeps consuming from nsqd2; healed, it finds nsqd1 again
        through nsqlookupd.  Every
        acknowledged message arrives, the redelivered ones twice.
        """
        if platform.python_implementation() == "PyPy":
            # Known flaky on PyPy (2 of 3 CI runs on 2026-12-04): every
            # message arrived, lost=0, but no redelivery of a held message
            # was seen in 120 s; not understood yet, so not asserted there.
            raise SkipTest(
                "flaky on PyPy: the held messages' redelivery is not seen; "
                "runs on CPython"
            )
        cluster = Cluster(self)
        lookupd = await cluster.lookupd("lookupd")
        nsqd1, nsqd2 = await gather(
            cluster.nsqd(f"nsqd{i}", [lookupd], "--msg-timeout=3s") for i in (1, 2)
        )
        both = sorted([nsqd1.tcp, nsqd2.tcp])
        # A slow consumer (messages held 0.5 s before FIN, 10 at most) with
        # a short heartbeat, alone on the channel at first: it always holds
        # messages from both nsqds, as the producer outpaces it.
        slow = cluster.consumer(
            "app2",
            TOPIC,
            "mail",
            [lookupd],
            (),
            "--hold=0.5",
            "--max-in-flight=10",
            "--heartbeat-ms=1000",
        )
        producer = cluster.producer("app1", [nsqd1, nsqd2], TOPIC, 1200, rate=100)
        await until(lambda: slow.connections() == both, "the consumer on both nsqds")
        await until(lambda: producer.progress() >= 300, "300 publishes answered")

        slow.host.cut(nsqd1.host)
        receivedAtCut = len(slow.ofKind("m"))
        # A quick consumer joins the channel: what nsqd1 takes back from
        # the cut-off one can only go to it.
        quick = cluster.consumer("app3", TOPIC, "mail", [lookupd])
        tally = Tally([producer], [slow, quick])

        def redelivered() -> list[dict[str, Any]]:
            # Cut off, the slow consumer receives nothing more from nsqd1:
            # whatever it got from nsqd1 and the quick one got again from
            # nsqd1 on a later attempt, nsqd1 timed out and redelivered.
            fromSlow = {e["b"]: e["a"] for e in slow.ofKind("m") if e["n"] == nsqd1.tcp}
            return [
                e
                for e in quick.ofKind("m")
                if e["b"] in fromSlow
                and e["a"] > fromSlow[e["b"]]
                and e["n"] == nsqd1.tcp
            ]

        await until(
            lambda: any(e["n"] == nsqd2.tcp for e in slow.ofKind("m")[receivedAtCut:]),
            "the cut-off consumer still consuming from nsqd2",
        )
        # Everything arrives while the partition lasts, the messages the
        # cut-off consumer held included: nsqd1 redelivered them once they
        # timed out (behind its backlog, which the quick consumer drains).
        await tally.allDelivered()
        await until(
            redelivered,
            "messages held by the cut-off consumer redelivered",
            timeout=120,
        )
        slow.host.heal(nsqd1.host)
        await until(
            lambda: slow.connections() == both,
            "the consumer back on nsqd1 after healing",
        )
        tally.report(self, redelivered_to_other_consumer=len(redelivered()))


async def _listed(cluster: Cluster, lookupd: Any, addresses: list[str]) -> bool:
    return sorted(await cluster.lookup(lookupd, TOPIC)) == sorted(addresses)
