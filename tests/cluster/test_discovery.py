"""
The deployment NSQ is built for: three nsqlookupd at stable addresses, four
nsqd hosts, and producers and consumers on three other hosts that find
the nsqds through nsqlookupd only.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tests.cluster._hosts import namespacesMissing
from tests.cluster._nsq import Cluster, Tally, gather, until

TOPIC = "orders"


class DiscoveryTests(TestCase):
    """
    Consumers given only nsqlookupd addresses reach every nsqd of the topic.
    """

    # Bounds a hang only: a PyPy run on a busy machine takes minutes.
    timeout = 480
    skip = namespacesMissing()

    async def test_threeLookupdsFourNSQDs(self) -> None:
        """
        Every nsqd registers with all three nsqlookupd; each consumer ends up
        subscribed to all four nsqds (discovered, not configured), and every
        acknowledged message is delivered.
        """
        cluster = Cluster(self)
        lookupds = await gather(cluster.lookupd(f"lookupd{i}") for i in range(1, 4))
        nsqds = await gather(cluster.nsqd(f"nsqd{i}", lookupds) for i in range(1, 5))
        clients = ["app1", "app2", "app3"]
        # Consumers first: they find nothing until the producers create
        # the topic, then discover every nsqd at their next poll.
        consumers = [
            cluster.consumer(name, TOPIC, "archive", lookupds) for name in clients
        ]
        producers = [
            cluster.producer(name, nsqds, TOPIC, 1000, rate=200) for name in clients
        ]
        tally = Tally(producers, consumers)
        await tally.allDelivered()

        everyNSQD = sorted(n.tcp for n in nsqds)
        for lookupd in lookupds:
            listed = await cluster.lookup(lookupd, TOPIC)
            self.assertEqual(sorted(listed), everyNSQD, lookupd)
        await until(
            lambda: all(c.connections() == everyNSQD for c in consumers),
            "every consumer subscribed to the four nsqds",
        )
        perNSQD = {n.tcp: 0 for n in nsqds}
        for _, event in tally.deliveries():
            perNSQD[event["n"]] += 1
        tally.report(self, per_nsqd="/".join(str(perNSQD[a]) for a in everyNSQD))
        self.assertTrue(all(perNSQD.values()), perNSQD)
