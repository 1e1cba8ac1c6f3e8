"""
Tests for L{txnsq.nsqlookupd.registry}, with time as plain numbers.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqlookupd.registry import (
    GO_ZERO_TIME_UNIX_NANO,
    PeerInfo,
    Producer,
    Registration,
    RegistrationDB,
    filterByActive,
)

TOPIC_A = Registration("topic", "a", "")
CHANNEL_AC = Registration("channel", "a", "c")


def peer(
    id: str = "127.0.0.1:1000", now: float = 100.0, address: str = "n1"
) -> PeerInfo:
    """
    An identified nsqd seen at C{now}.
    """
    return PeerInfo(
        id=id,
        remoteAddress=id,
        hostname="h-" + address,
        broadcastAddress=address,
        tcpPort=4150,
        httpPort=4151,
        version="1.3.0",
        lastUpdate=now,
    )


class PrimitiveTests(SynchronousTestCase):
    """
    Go's RegistrationDB operations.
    """

    def test_addProducer(self) -> None:
        """
        A producer is added once per id; the first entry (and its tombstone)
        stays.
        """
        db = RegistrationDB()
        first = Producer(peer())
        self.assertTrue(db.addProducer(TOPIC_A, first))
        self.assertFalse(db.addProducer(TOPIC_A, Producer(peer())))
        self.assertEqual(db.findProducers("topic", "a", ""), [first])

    def test_removeProducerKeepsKey(self) -> None:
        """
        Removing the last producer leaves the key, empty.
        """
        db = RegistrationDB()
        db.addProducer(TOPIC_A, Producer(peer()))
        self.assertEqual(db.removeProducer(TOPIC_A, "127.0.0.1:1000"), (True, 0))
        self.assertEqual(db.removeProducer(TOPIC_A, "127.0.0.1:1000"), (False, 0))
        self.assertEqual(db.removeProducer(CHANNEL_AC, "x"), (False, 0))
        self.assertEqual(db.findRegistrations("topic", "a", ""), [TOPIC_A])

    def test_wildcards(self) -> None:
        """
        C{*} matches any key or subkey; producers are returned once per id.
        """
        db = RegistrationDB()
        p1, p2 = peer("1"), peer("2")
        db.register(p1, "a", "c")
        db.register(p1, "b", "d")
        db.register(p2, "b")
        self.assertEqual(
            set(db.findRegistrations("channel", "*", "*")),
            {CHANNEL_AC, Registration("channel", "b", "d")},
        )
        self.assertEqual(db.findRegistrations("channel", "a", "*"), [CHANNEL_AC])
        self.assertEqual(db.findRegistrations("topic", "zz", ""), [])
        producers = db.findProducers("topic", "*", "")
        self.assertEqual(sorted(p.peerInfo.id for p in producers), ["1", "2"])
        self.assertEqual(
            set(db.lookupRegistrations("1")),
            {
                TOPIC_A,
                CHANNEL_AC,
                Registration("topic", "b", ""),
                Registration("channel", "b", "d"),
            },
        )


class ProtocolOperationTests(SynchronousTestCase):
    """
    What IDENTIFY, REGISTER, UNREGISTER and disconnecting do.
    """

    def test_identify(self) -> None:
        """
        An identified nsqd is listed under the client key.
        """
        db = RegistrationDB()
        self.assertTrue(db.identify(peer()))
        self.assertFalse(db.identify(peer()))
        self.assertEqual(len(db.findProducers("client", "", "")), 1)

    def test_registerChannel(self) -> None:
        """
        REGISTER with a channel registers the channel and its topic.
        """
        db = RegistrationDB()
        p = peer()
        self.assertEqual(db.register(p, "a", "c"), [CHANNEL_AC, TOPIC_A])
        self.assertEqual(db.register(p, "a", "c"), [])
        self.assertEqual(db.topics(), ["a"])
        self.assertEqual(db.channels("a"), ["c"])

    def test_unregisterChannel(self) -> None:
        """
        UNREGISTER of a channel keeps a normal channel key; an ephemeral one
        goes when nobody is left.
        """
        db = RegistrationDB()
        p1, p2 = peer("1"), peer("2")
        db.register(p1, "a", "c")
        db.register(p1, "a", "e#ephemeral")
        db.register(p2, "a", "e#ephemeral")
        self.assertEqual(db.unregister(p1, "a", "c"), [CHANNEL_AC])
        self.assertEqual(
            db.unregister(p1, "a", "e#ephemeral"),
            [Registration("channel", "a", "e#ephemeral")],
        )
        self.assertEqual(sorted(db.channels("a")), ["c", "e#ephemeral"])
        db.unregister(p2, "a", "e#ephemeral")
        self.assertEqual(db.channels("a"), ["c"])
        self.assertEqual(db.unregister(p2, "a", "c"), [])

    def test_unregisterTopic(self) -> None:
        """
        UNREGISTER of a topic leaves all its channels and the topic; only an
        ephemeral topic key is deleted.
        """
        db = RegistrationDB()
        p = peer()
        db.register(p, "a", "c")
        db.register(p, "t#ephemeral", "c")
        self.assertEqual(db.unregister(p, "a"), [CHANNEL_AC, TOPIC_A])
        self.assertEqual(db.topics(), ["a", "t#ephemeral"])
        self.assertEqual(db.findProducers("channel", "a", "c"), [])
        db.unregister(p, "t#ephemeral")
        self.assertEqual(db.topics(), ["a"])
        # The (non-ephemeral) channel of the ephemeral topic stays.
        self.assertEqual(db.channels("t#ephemeral"), ["c"])

    def test_unregisterUnknown(self) -> None:
        """
        UNREGISTER of something never registered changes nothing.
        """
        db = RegistrationDB()
        self.assertEqual(db.unregister(peer(), "never"), [])
        self.assertEqual(db.topics(), [])

    def test_removePeer(self) -> None:
        """
        A disconnected nsqd leaves every key, which all stay (ephemeral ones
        too, as in Go).
        """
        db = RegistrationDB()
        p = peer()
        db.identify(p)
        db.register(p, "t#ephemeral", "c#ephemeral")
        self.assertEqual(len(db.removePeer(p.id)), 3)
        self.assertEqual(db.topics(), ["t#ephemeral"])
        self.assertEqual(db.channels("t#ephemeral"), ["c#ephemeral"])
        self.assertEqual(db.nodes(100.0), [])
        self.assertEqual(db.removePeer(p.id), [])


class QueryTests(SynchronousTestCase):
    """
    What the HTTP API reads, with expiry and tombstones.
    """

    def test_lookup(self) -> None:
        """
        C{lookup} gives channels and producers, or L{None} for no topic key.
        """
        db = RegistrationDB()
        self.assertIsNone(db.lookup("a", 0))
        db.createTopic("a")
        self.assertEqual(db.lookup("a", 0), ([], []))
        p = peer()
        db.register(p, "a", "c")
        self.assertEqual(db.lookup("a", 100.0), (["c"], [p]))

    def test_inactiveProducers(self) -> None:
        """
        A producer not heard from for more than the inactive timeout is
        hidden from C{lookup} and C{nodes}, not removed.
        """
        db = RegistrationDB(inactiveProducerTimeout=300.0)
        p = peer(now=100.0)
        db.identify(p)
        db.register(p, "a")
        self.assertEqual(db.lookup("a", 400.0), ([], [p]))
        self.assertEqual(len(db.nodes(400.0)), 1)
        self.assertEqual(db.lookup("a", 400.5), ([], []))
        self.assertEqual(db.nodes(400.5), [])
        p.lastUpdate = 400.5
        self.assertEqual(db.lookup("a", 400.5), ([], [p]))

    def test_tombstone(self) -> None:
        """
        A tombstone hides the producer from C{lookup} for the lifetime,
        matched by C{broadcast_address:http_port}; C{nodes} still lists it.
        """
        db = RegistrationDB(tombstoneLifetime=45.0)
        p1, p2 = peer("1", address="n1"), peer("2", address="n2")
        for p in (p1, p2):
            db.identify(p)
            db.register(p, "a")
            db.register(p, "b")
        self.assertEqual(db.tombstoneTopicProducer("a", "n1:4151", 110.0), 1)
        self.assertEqual(db.tombstoneTopicProducer("a", "nowhere:1", 110.0), 0)
        self.assertEqual(db.lookup("a", 154.9), ([], [p2]))
        self.assertEqual(db.lookup("b", 154.9), ([], [p1, p2]))
        node = db.nodes(154.9)[0]
        self.assertEqual(
            (node["topics"], node["tombstones"]), (["a", "b"], [True, False])
        )
        # It lapses by time alone.
        self.assertEqual(db.lookup("a", 155.0), ([], [p1, p2]))
        self.assertEqual(db.nodes(155.0)[0]["tombstones"], [False, False])

    def test_tombstoneSurvivesReregister(self) -> None:
        """
        Re-REGISTERing keeps the tombstone; UNREGISTER then REGISTER clears
        it (a new producer entry).
        """
        db = RegistrationDB()
        p = peer()
        db.register(p, "a")
        db.tombstoneTopicProducer("a", "n1:4151", 100.0)
        db.register(p, "a")
        self.assertEqual(db.lookup("a", 101.0), ([], []))
        db.unregister(p, "a")
        db.register(p, "a")
        self.assertEqual(db.lookup("a", 101.0), ([], [p]))

    def test_nodes(self) -> None:
        """
        C{nodes} gives each identified nsqd's peer info, topics and
        tombstones (empty lists when it registered nothing).
        """
        db = RegistrationDB()
        p = peer()
        db.identify(p)
        self.assertEqual(
            db.nodes(100.0),
            [
                {
                    "remote_address": "127.0.0.1:1000",
                    "hostname": "h-n1",
                    "broadcast_address": "n1",
                    "tcp_port": 4150,
                    "http_port": 4151,
                    "version": "1.3.0",
                    "tombstones": [],
                    "topics": [],
                }
            ],
        )

    def test_createDelete(self) -> None:
        """
        HTTP creation adds keys without producers; topic deletion drops the
        topic and its channels, even with live producers.
        """
        db = RegistrationDB()
        db.createChannel("a", "c")
        self.assertEqual((db.topics(), db.channels("a")), (["a"], ["c"]))
        db.register(peer(), "a", "d")
        db.createTopic("b")
        db.deleteTopic("a")
        self.assertEqual((db.topics(), db.channels("a")), (["b"], []))
        db.deleteTopic("never")
        self.assertTrue(db.deleteChannel("b", "x") is False)
        db.createChannel("b", "x")
        self.assertTrue(db.deleteChannel("b", "x"))
        self.assertEqual(db.channels("b"), [])

    def test_debug(self) -> None:
        """
        C{debug} lists keys with producers as C{category:key:subkey}, sorted,
        times in nanoseconds, Go's zero time when never tombstoned.
        """
        db = RegistrationDB()
        db.createTopic("empty")
        p = peer(now=1.5)
        db.identify(p)
        db.register(p, "a", "c")
        db.tombstoneTopicProducer("a", "n1:4151", 2.25)
        debug = db.debug()
        self.assertEqual(list(debug), ["channel:a:c", "client::", "topic:a:"])
        self.assertEqual(
            debug["channel:a:c"],
            [
                {
                    "broadcast_address": "n1",
                    "hostname": "h-n1",
                    "http_port": 4151,
                    "id": "127.0.0.1:1000",
                    "last_update": 1500000000,
                    "tcp_port": 4150,
                    "tombstoned": False,
                    "tombstoned_at": GO_ZERO_TIME_UNIX_NANO,
                    "version": "1.3.0",
                }
            ],
        )
        self.assertEqual(debug["topic:a:"][0]["tombstoned_at"], 2250000000)
        self.assertTrue(debug["topic:a:"][0]["tombstoned"])

    def test_filterByActive(self) -> None:
        """
        The boundaries are Go's: inactive only when strictly older than the
        timeout; tombstoned while strictly younger than the lifetime.
        """
        p = Producer(peer(now=0.0))
        self.assertEqual(filterByActive([p], 10.0, 10.0, 5.0), [p])
        self.assertEqual(filterByActive([p], 10.1, 10.0, 5.0), [])
        p.tombstone(8.0)
        self.assertEqual(filterByActive([p], 10.0, 10.0, 5.0), [])
        self.assertEqual(filterByActive([p], 10.0, 10.0, 2.0), [p])
        self.assertEqual(filterByActive([p], 10.0, 10.0, 0), [p])
