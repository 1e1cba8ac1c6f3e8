"""
nsqlookupd hosts dying under a working cluster: one, then two of three.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tests.cluster._hosts import namespacesMissing
from tests.cluster._nsq import Cluster, Tally, gather, reactor, until

TOPIC = "clicks"


class LookupdFailureTests(TestCase):
    """
    nsqlookupd is only the directory: losing some of them stops nothing,
    and a restarted one learns the nsqds again from their reconnections.
    """

    # Bounds a hang only: a PyPy run on a busy machine takes minutes.
    timeout = 480
    skip = namespacesMissing()

    async def test_oneThenTwoOfThreeDie(self) -> None:
        """
        With lookupd1 and then lookupd2 killed, the producer and the
        consumer keep going, and a new consumer still discovers both nsqds
        through lookupd3; restarted, lookupd1 and lookupd2 list both nsqds
        again once the nsqds reconnect (within nsqd's 15 s heartbeat and
        reconnection back-off), and every acknowledged message arrives.
        """
        cluster = Cluster(self)
        lookupds = await gather(cluster.lookupd(f"lookupd{i}") for i in range(1, 4))
        nsqds = await gather(cluster.nsqd(f"nsqd{i}", lookupds) for i in range(1, 3))
        everyNSQD = sorted(n.tcp for n in nsqds)
        consumer = cluster.consumer("app2", TOPIC, "stats", lookupds)
        producer = cluster.producer("app1", nsqds, TOPIC, 1500, rate=100)
        await until(
            lambda: consumer.connections() == everyNSQD, "consumer on both nsqds"
        )

        first, second, third = lookupds
        await until(lambda: producer.progress() >= 300, "300 publishes answered")
        await first.kill()
        await until(lambda: producer.progress() >= 600, "600 publishes answered")
        await second.kill()

        # Discovery through the one nsqlookupd left.
        late = cluster.consumer("app3", TOPIC, "audit", lookupds)
        await until(
            lambda: late.connections() == everyNSQD,
            "a consumer started now discovers both nsqds through lookupd3",
        )
        # Publishing and consuming while two of three are down, however
        # far the first producer got.
        meanwhile = cluster.producer(
            "app1", nsqds, TOPIC, 300, rate=100, prefix="meanwhile"
        )
        await meanwhile.whenDone()
        meanwhileTally = Tally([meanwhile], [consumer])
        await meanwhileTally.allDelivered()
        await Tally([meanwhile], [late]).allDelivered()
        await gather([first.start(), second.start()])
        restarted = reactor.seconds()

        async def registered() -> bool:
            for lookupd in (first, second):
                if sorted(await cluster.lookup(lookupd, TOPIC)) != everyNSQD:
                    return False
            return True

        await until(registered, "the restarted nsqlookupd list both nsqds", timeout=90)
        backAfter = reactor.seconds() - restarted
        tally = Tally([producer, meanwhile], [consumer])
        await tally.allDelivered()
        self.assertEqual(sorted(await cluster.lookup(third, TOPIC)), everyNSQD)
        tally.report(
            self,
            lookupds_killed=2,
            late_consumer_received=len(late.ofKind("m")),
            registrations_back_after_s=round(backAfter, 1),
        )
