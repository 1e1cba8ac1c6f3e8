"""
Partitions (every packet between two hosts dropped, neither side told):
between an nsqd and nsqlookupd, and between a consumer and one nsqd.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import TestCase

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
        A consumer cut off from nsqd1 while taking messages from it: nsqd1
        times out what it had in flight to it (C{--msg-timeout}) and gives
        those messages to another consumer of the channel (started after
        the cut), with their attempts counted, while the cut-off consumer
        keeps consuming from nsqd2; healed, it finds nsqd1 again through
        nsqlookupd.  Every acknowledged message arrives.

        What nsqd1 had in flight at the cut is whatever the cut-off
        consumer had not finished by then: the messages it held (then
        redelivered, so delivered twice), or a batch nsqd1 sent in answer
        to its last FINs that the cut kept from reaching it (then
        delivered once, on their second attempt).  Which of the two
        depends on when the cut falls, so both count.
        """
        cluster = Cluster(self)
        lookupd = await cluster.lookupd("lookupd")
        nsqd1, nsqd2 = await gather(
            cluster.nsqd(f"nsqd{i}", [lookupd], "--msg-timeout=3s") for i in (1, 2)
        )
        both = sorted([nsqd1.tcp, nsqd2.tcp])
        # A slow consumer (messages held 0.5 s before FIN, 10 at most) with
        # a short heartbeat, alone on the channel at first: it always has
        # messages in flight from both nsqds, as the producer outpaces it.
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
            # The quick consumer joined after the cut, so a message it gets
            # from nsqd1 on a later attempt the first time it sees it was
            # given to the cut-off consumer before, and timed out there
            # (nobody sends REQ; the stats below say so).
            seen: set[str] = set()
            again = []
            for e in quick.ofKind("m"):
                if e["n"] != nsqd1.tcp or e["b"] in seen:
                    continue
                seen.add(e["b"])
                if e["a"] > 1:
                    again.append(e)
            return again

        await until(
            lambda: any(e["n"] == nsqd2.tcp for e in slow.ofKind("m")[receivedAtCut:]),
            "the cut-off consumer still consuming from nsqd2",
        )
        # Everything arrives while the partition lasts: nsqd1 redelivered
        # what it had in flight to the cut-off consumer once it timed out
        # (behind its backlog, which the quick consumer drains).
        await tally.allDelivered()
        await until(
            redelivered,
            "messages in flight to the cut-off consumer redelivered",
            timeout=120,
        )
        stats = await _channelStats(cluster, nsqd1, "mail")
        again = redelivered()
        self.assertEqual(stats["requeue_count"], 0, stats)
        self.assertGreaterEqual(stats["timeout_count"], len(again), stats)
        fromSlow = {e["b"] for e in slow.ofKind("m") if e["n"] == nsqd1.tcp}
        held = [e for e in again if e["b"] in fromSlow]
        slow.host.heal(nsqd1.host)
        await until(
            lambda: slow.connections() == both,
            "the consumer back on nsqd1 after healing",
        )
        tally.report(
            self,
            timed_out_on_nsqd1=stats["timeout_count"],
            redelivered_to_other_consumer=len(again),
            of_them_held_by_cut_off_consumer=len(held),
        )


async def _channelStats(cluster: Cluster, nsqd: Any, channel: str) -> dict[str, Any]:
    """
    C{nsqd}'s C{/stats} entry for C{channel} of the topic.
    """
    status, body = await cluster.request(
        "GET", nsqd.http, f"/stats?format=json&topic={TOPIC}&channel={channel}"
    )
    assert status == 200 and isinstance(body, dict), (status, body)
    for topic in body.get("topics") or []:
        for entry in topic.get("channels") or []:
            if entry.get("channel_name") == channel:
                return dict(entry)
    raise AssertionError(f"no channel {channel} in {nsqd}'s /stats: {body}")


async def _listed(cluster: Cluster, lookupd: Any, addresses: list[str]) -> bool:
    return sorted(await cluster.lookup(lookupd, TOPIC)) == sorted(addresses)
