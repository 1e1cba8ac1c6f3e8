"""
nsqd asks nsqlookupd for a new topic's channels before the topic delivers
anything, as Go's C{GetTopic} does: messages published to a topic that is
new on this nsqd also reach channels known elsewhere in the cluster.
"""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from tests._services import startLookupd, startNSQD
from tests.integration._cluster import http, until
from txnsq.nsqd.service import NSQDService
from txnsq.nsqd.state import Topic
from txnsq.nsqlookupd.service import NSQLookupdService


class PreCreateTests(TestCase):
    """
    A real nsqlookupd and nsqd on 127.0.0.1, in this process.
    """

    timeout = 30

    async def startCluster(self) -> tuple[str, NSQLookupdService, NSQDService]:
        """
        An nsqlookupd, and an nsqd registered with it; the lookupd's HTTP
        address.
        """
        lookupd, tcpPort, httpPort = await startLookupd(self)
        nsqd, _ = await startNSQD(self, tcpPort)

        async def registered() -> tuple[bool, object]:
            peers = list(nsqd.lookupPeers.peers.values())
            return bool(peers and peers[0].httpAddress), peers

        await until(registered, "nsqd identified with nsqlookupd")
        return f"127.0.0.1:{httpPort}", lookupd, nsqd

    async def test_channelsPreCreated(self) -> None:
        """
        A channel created on nsqlookupd exists on nsqd as soon as nsqd
        creates the topic, and the first message published there waits in
        that channel; ephemeral channels are not pre-created.
        """
        lookupdHTTP, _, nsqd = await self.startCluster()
        for channel in ("archive", "tail#ephemeral"):
            status, _ = await http(
                lookupdHTTP, "POST", f"/channel/create?topic=orders&channel={channel}"
            )
            self.assertEqual(status, 200)
        broker = nsqd.broker
        broker.publish("orders", [b"first"], reactor.seconds())
        topic: Topic = broker.topics["orders"]

        async def started() -> tuple[bool, object]:
            return not topic.starting, sorted(topic.channels)

        channels = await until(started, "topic started")
        self.assertEqual(channels, ["archive"])
        self.assertEqual(topic.channels["archive"].depth(), 1)
        self.assertEqual(topic.depth(), 0)

    async def test_replyWaitsForStart(self) -> None:
        """
        A PUB that creates the topic is answered once the topic has learnt
        its channels (Go's GetTopic blocks the same way), so the message is
        already in the pre-created channel when the client sees C{OK}.
        """
        from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

        from tests.nsqd._realserver import FrameClient

        lookupdHTTP, _, nsqd = await self.startCluster()
        status, _ = await http(
            lookupdHTTP, "POST", "/channel/create?topic=fresh&channel=early"
        )
        self.assertEqual(status, 200)
        port = (await nsqd.whenTCPListening()).getHost().port  # type: ignore[attr-defined]
        client = FrameClient()
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), client)
        self.addCleanup(lambda: Deferred.fromCoroutine(client.close()))
        client.send(b"  V2PUB fresh\n\x00\x00\x00\x02hi")
        self.assertEqual(await client.frame(), (0, b"OK"))
        topic: Topic = nsqd.broker.topics["fresh"]
        self.assertFalse(topic.starting)
        self.assertEqual(topic.channels["early"].depth(), 1)

    async def test_lookupdDownDoesNotHold(self) -> None:
        """
        When no nsqlookupd is reachable, the topic starts at once (Go logs
        an error and goes on).
        """
        nsqd, _ = await startNSQD(self, 1)
        nsqd.broker.publish("t", [b"x"], reactor.seconds())
        topic = nsqd.broker.topics["t"]
        self.assertFalse(topic.starting)
        nsqd.broker.getChannel("t", "c", reactor.seconds())
        self.assertEqual(topic.channels["c"].depth(), 1)
        self.flushLoggedErrors()
