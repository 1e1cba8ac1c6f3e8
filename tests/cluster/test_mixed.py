"""
Mixed fleets: Go NSQ 1.3.0's nsqd and nsqlookupd beside txnsq's, with Go's
clients (C{to_nsq}, C{nsq_tail}) beside txnsq's.  Runs where Go NSQ's
binaries are found (C{$TXNSQ_GO_BIN}, else C{PATH}).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from twisted.trial.unittest import TestCase

from tests.cluster._hosts import namespacesMissing
from tests.cluster._nsq import (
    Client,
    Cluster,
    Tally,
    gather,
    goBinary,
    goMissing,
    until,
)

TOPIC = "mixed"
_BODY = re.compile(r"^[a-z0-9]+-\d+$")


class GoPublisher(Client):
    """
    Go's C{to_nsq}, fed C{count} lines on stdin: it exits 0 only if every
    one was acknowledged (it stops at the first failed publish).
    """

    def __init__(self, cluster: Cluster, hostName: str, nsqd: Any, count: int):
        binary = goBinary("to_nsq")
        assert binary is not None
        argv = [
            "/bin/sh",
            "-c",
            'exec "$0" "$@" 2>&1',
            binary,
            f"--topic={TOPIC}",
            f"--nsqd-tcp-address={nsqd.tcp}",
        ]
        name = f"to_nsq@{hostName}"
        host = cluster.host(hostName)
        super().__init__(cluster.spawn(host, argv, name), name, host, hostName)
        self.count = count
        transport = self.process.transport
        assert transport is not None
        transport.write("".join(f"{self.prefix}-{i}\n" for i in range(count)).encode())
        transport.closeStdin()

    async def whenDone(self, timeout: float = 120.0) -> dict[str, Any]:
        code = await self.process.whenEnded(timeout)
        if code != 0:
            raise AssertionError(f"to_nsq failed\n{self.process.output()}")
        return {"published": self.count, "acked": list(range(self.count))}

    def last(self, kind: str) -> dict[str, Any] | None:
        if kind == "done" and self.process.exitCode == 0:
            return {"published": self.count, "acked": list(range(self.count))}
        return super().last(kind)


class GoTail(Client):
    """
    Go's C{nsq_tail} discovering nsqds through nsqlookupd: each line it
    prints is a message body.
    """

    def __init__(self, cluster: Cluster, hostName: str, lookupd: Any, channel: str):
        binary = goBinary("nsq_tail")
        assert binary is not None
        argv = [
            "/bin/sh",
            "-c",
            'exec "$0" "$@" 2>&1',
            binary,
            f"--topic={TOPIC}",
            f"--channel={channel}",
            f"--lookupd-http-address={lookupd.http}",
            "--consumer-opt=lookupd_poll_interval,1s",
        ]
        name = f"nsq_tail@{hostName}"
        host = cluster.host(hostName)
        super().__init__(cluster.spawn(host, argv, name), name, host)

    def ofKind(self, kind: str) -> list[dict[str, Any]]:
        if kind != "m":
            return super().ofKind(kind)
        return [
            {"b": line, "a": 1, "n": "?"}
            for line in self.process.lines
            if _BODY.match(line)
        ]


class MixedFleetTests(TestCase):
    """
    Go and txnsq daemons and clients in one cluster.
    """

    # Bounds a hang only: a PyPy run on a busy machine takes minutes.
    timeout = 480
    skip = namespacesMissing() or goMissing("nsqd", "nsqlookupd", "to_nsq", "nsq_tail")

    async def test_goAndTxnsqTogether(self) -> None:
        """
        Go's nsqd and txnsq's nsqd both register with Go's nsqlookupd and
        txnsq's; each nsqlookupd lists both.  txnsq's producer publishes to
        both nsqds and Go's C{to_nsq} to txnsq's nsqd; txnsq's consumer
        finds the nsqds through Go's nsqlookupd only and Go's C{nsq_tail}
        through txnsq's only, each on its own channel, and each channel
        gets every acknowledged message.
        """
        cluster = Cluster(self)
        goLookupd, txLookupd = await gather(
            [
                cluster.lookupd("golookupd", impl="go"),
                cluster.lookupd("txlookupd"),
            ]
        )
        lookupds = [goLookupd, txLookupd]
        goNSQD, txNSQD = await gather(
            [
                cluster.nsqd("gonsqd", lookupds, impl="go"),
                cluster.nsqd("txnsqd", lookupds),
            ]
        )
        both = sorted([goNSQD.tcp, txNSQD.tcp])
        # Both channels exist before the first message, so each gets all.
        for nsqd in (goNSQD, txNSQD):
            for path in (
                f"/topic/create?topic={TOPIC}",
                f"/channel/create?topic={TOPIC}&channel=py",
                f"/channel/create?topic={TOPIC}&channel=go",
            ):
                status, body = await cluster.request("POST", nsqd.http, path)
                self.assertEqual(status, 200, (nsqd, path, body))
        for lookupd in lookupds:
            await until(
                functools.partial(_listsBoth, cluster, lookupd, both),
                f"{lookupd} lists both nsqds",
            )

        pyConsumer = cluster.consumer("app3", TOPIC, "py", [goLookupd])
        goConsumer = GoTail(cluster, "app4", txLookupd, "go")
        await until(lambda: pyConsumer.connections() == both, "txnsq consumer on both")
        producers: list[Client] = [
            cluster.producer("app1", [goNSQD, txNSQD], TOPIC, 1000, rate=200),
            GoPublisher(cluster, "app2", txNSQD, 500),
        ]
        pyTally = Tally(producers, [pyConsumer])
        goTally = Tally(producers, [goConsumer])
        await pyTally.allDelivered()
        await goTally.allDelivered()
        perNSQD = {goNSQD.tcp: 0, txNSQD.tcp: 0}
        for _, event in pyTally.deliveries():
            perNSQD[event["n"]] += 1
        self.assertTrue(all(perNSQD.values()), perNSQD)
        pyTally.report(
            self,
            channel="py",
            from_go_nsqd=perNSQD[goNSQD.tcp],
            from_txnsq_nsqd=perNSQD[txNSQD.tcp],
        )
        goTally.report(self, channel="go")


async def _listsBoth(cluster: Cluster, lookupd: Any, both: list[str]) -> bool:
    return sorted(await cluster.lookup(lookupd, TOPIC)) == both
