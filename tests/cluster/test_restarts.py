"""
nsqd hosts going away while producers publish and consumers consume: one
killed (C{SIGKILL}) and started again, one stopped gracefully (C{SIGTERM})
and started again.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.trial.unittest import TestCase

from tests.cluster._hosts import namespacesMissing
from tests.cluster._nsq import Client, Cluster, Tally, gather, queued, until

TOPIC = "payments"

#: Every message on disk and handed to the kernel before its C{OK}.
DURABLE = ("--mem-queue-size=0", "--sync-every=1")


def _progress(producers: Sequence[Client]) -> int:
    return sum(p.progress() for p in producers)


class RestartTests(TestCase):
    """
    Consumers move off a dead nsqd and come back when it returns; what nsqd
    acknowledged survives a graceful stop, and a kill when every message is
    synced.
    """

    # Bounds a hang only: a PyPy run on a busy machine takes minutes.
    timeout = 480
    skip = namespacesMissing()

    async def test_killedAndStopped(self) -> None:
        """
        nsqd1 (C{--mem-queue-size=0 --sync-every=1}) is killed three times and
        restarted on the same data path; nsqd2 (the default memory queue)
        is stopped with C{SIGTERM} and restarted; nsqd3 stays.  Producers
        keep publishing to whichever nsqd is up, consumers follow nsqlookupd
        off and back onto the nsqds, and every acknowledged message is
        delivered.
        """
        cluster = Cluster(self)
        lookupd = await cluster.lookupd("lookupd")
        killed, stopped, steady = await gather(
            [
                cluster.nsqd("nsqd1", [lookupd], *DURABLE),
                cluster.nsqd("nsqd2", [lookupd]),
                cluster.nsqd("nsqd3", [lookupd]),
            ]
        )
        nsqds = [killed, stopped, steady]
        # Consumers slower than the producers, so that messages queue up
        # (on nsqd1: on disk) when the nsqds go away.
        consumers = [
            cluster.consumer(
                name, TOPIC, "ledger", [lookupd], (), "--max-in-flight=8", "--hold=0.1"
            )
            for name in ("app1", "app2")
        ]
        producers = [
            cluster.producer(name, nsqds, TOPIC, 1500, rate=150)
            for name in ("app1", "app2")
        ]
        tally = Tally(producers, consumers)

        async def whenPublished(count: int) -> None:
            await until(
                lambda: _progress(producers) >= count, f"{count} publishes answered"
            )

        everyNSQD = sorted(n.tcp for n in nsqds)
        await until(
            lambda: all(c.connections() == everyNSQD for c in consumers),
            "every consumer subscribed to the three nsqds",
        )
        heldAtKills = 0
        for at in (400, 1000, 1600):
            await whenPublished(at)
            heldAtKills += await queued(cluster, killed, TOPIC)
            await killed.kill()
            await until(
                lambda: all(killed.tcp not in c.connections() for c in consumers),
                "consumers off the killed nsqd",
            )
            await whenPublished(at + 200)
            await killed.start()
        await whenPublished(2200)
        exitCode = await stopped.stop()
        self.assertEqual(exitCode, 0, stopped.process and stopped.process.output())
        await whenPublished(2400)
        await stopped.start()

        await tally.allDelivered()
        # Back on every nsqd: rediscovered through nsqlookupd.
        await until(
            lambda: all(c.connections() == everyNSQD for c in consumers),
            "every consumer back on the three nsqds",
        )
        errors: dict[str, int] = {}
        for producer in producers:
            for kind, count in (producer.last("done") or {}).get("errors", {}).items():
                errors[kind] = errors.get(kind, 0) + count
        tally.report(
            self,
            kills=3,
            held_at_kills=heldAtKills,
            graceful_stops=1,
            failed_publishes=sum(errors.values()),
        )
