"""
nsqlookupd and two nsqds, each a C{twistd -n} child on 127.0.0.1 with
ports 0, as a user runs them: discovery by a pynsq Reader, nodes leaving,
and topic deletion and tombstones through nsqlookupd's HTTP API with Go's
semantics (C{../shared/nsq-reference.md} §5, the C{http/nsqlookupd}
golden recordings).

While C{twistd nsqd} serves no HTTP API, the nsqds publish over TCP and
register a made-up C{--broadcast-http-port} (see L{tests.integration._cluster}).
"""

from __future__ import annotations

import json
from typing import Any

from twisted.trial.unittest import TestCase

from tests.integration._cluster import (
    NSQD_SERVES_HTTP,
    PYNSQ_MISSING,
    getJSON,
    http,
    lookup,
    ofKind,
    producerPorts,
    publish,
    startCluster,
    startConsumer,
    startLookupd,
    startRegisteredNSQD,
    subscribe,
    until,
    waitForProducers,
)
from tests.integration._daemon import Daemon


def _node(nsqd: Daemon) -> str:
    """
    The C{node} parameter of C{/topic/tombstone} for C{nsqd}:
    C{<broadcast_address>:<http_port>}.
    """
    host, port = nsqd.addresses["broadcastHTTP"]
    return f"{host}:{port}"


def _nodes(body: Any) -> dict[int, dict[str, Any]]:
    """
    C{/nodes} producers by TCP port.
    """
    return {p["tcp_port"]: p for p in body["producers"]}


def _tombstones(node: dict[str, Any]) -> dict[str, bool]:
    """
    A C{/nodes} producer's topics with their tombstone flags.
    """
    return dict(zip(node["topics"], node["tombstones"]))


class DiscoveryTests(TestCase):
    """
    A consumer that knows only nsqlookupd finds every nsqd with its topic.
    """

    timeout = 60
    skip = PYNSQ_MISSING

    async def test_readerConsumesFromBothNSQDs(self) -> None:
        """
        A pynsq Reader given only C{lookupd_http_addresses} connects to
        both nsqds nsqlookupd lists for the topic and receives every
        message published on either.
        """
        lookupd, first, second = await startCluster(self)
        fromFirst = [f"first-{i}" for i in range(5)]
        fromSecond = [f"second-{i}" for i in range(5)]
        await publish(first, "spread", fromFirst)
        await publish(second, "spread", fromSecond)
        await waitForProducers(lookupd, "spread", [first, second])

        consumer = startConsumer(self, lookupd.address("http"), "spread", "c", count=10)
        self.assertEqual(await consumer.whenEnded(), 0, consumer.output())
        events = consumer.events()
        self.assertEqual(
            {e["address"] for e in ofKind(events, "connecting")},
            {first.address("tcp"), second.address("tcp")},
            consumer.output(),
        )
        messages = ofKind(events, "message")
        self.assertEqual(
            sorted(m["body"] for m in messages),
            sorted(fromFirst + fromSecond),
            consumer.output(),
        )
        for message in messages:
            origin = first if message["body"].startswith("first-") else second
            self.assertEqual(message["address"], origin.address("tcp"), message)


class MembershipTests(TestCase):
    """
    nsqlookupd forgets an nsqd as soon as its connection ends.
    """

    timeout = 60

    async def test_stoppedNSQDLeavesNodesAndLookup(self) -> None:
        """
        After one nsqd stops (C{SIGTERM}), C{/nodes} and C{/lookup} list
        only the other; the topic itself stays known (C{/topics}).
        """
        lookupd, first, second = await startCluster(self)
        await publish(first, "t", ["a"])
        await publish(second, "t", ["b"])
        await waitForProducers(lookupd, "t", [first, second])
        status, nodes = await getJSON(lookupd.address("http"), "/nodes")
        self.assertEqual(
            (status, producerPorts(nodes)),
            (200, {first.addresses["tcp"][1], second.addresses["tcp"][1]}),
        )

        await second.stop()

        async def nodesOnlyFirst() -> tuple[bool, Any]:
            _, nodes = await getJSON(lookupd.address("http"), "/nodes")
            return producerPorts(nodes) == {first.addresses["tcp"][1]}, nodes

        await until(nodesOnlyFirst, "/nodes lists only the running nsqd")
        status, body = await lookup(lookupd, "t")
        self.assertEqual(status, 200)
        self.assertEqual(producerPorts(body), {first.addresses["tcp"][1]})
        status, topics = await getJSON(lookupd.address("http"), "/topics")
        self.assertEqual((status, topics), (200, {"topics": ["t"]}))


class TopicDeleteTests(TestCase):
    """
    C{POST /topic/delete} on nsqlookupd edits only nsqlookupd's registry,
    as Go's does (nsq issue #1009).
    """

    timeout = 60

    async def test_deleteForgetsTopicUntilReRegistered(self) -> None:
        """
        After C{/topic/delete?topic=}: C{/topics} lacks the topic,
        C{/lookup} answers 404 C{TOPIC_NOT_FOUND}, C{/channels} is empty and
        C{/nodes} lists both nsqds without it, although both nsqds still
        have the topic.  An nsqd that registers it again (a consumer made a
        new channel) brings it back with only that nsqd as producer.
        """
        lookupd, first, second = await startCluster(self)
        api = lookupd.address("http")
        await publish(first, "doomed", ["a"])
        await publish(second, "doomed", ["b"])
        await subscribe(first, "doomed", "old")
        await waitForProducers(lookupd, "doomed", [first, second])

        self.assertEqual(
            await http(api, "POST", "/topic/delete?topic=doomed"), (200, b"")
        )

        self.assertEqual(await getJSON(api, "/topics"), (200, {"topics": []}))
        self.assertEqual(
            await lookup(lookupd, "doomed"), (404, {"message": "TOPIC_NOT_FOUND"})
        )
        self.assertEqual(
            await getJSON(api, "/channels?topic=doomed"), (200, {"channels": []})
        )
        status, nodes = await getJSON(api, "/nodes")
        self.assertEqual(status, 200)
        self.assertEqual(
            {port: node["topics"] for port, node in _nodes(nodes).items()},
            {first.addresses["tcp"][1]: [], second.addresses["tcp"][1]: []},
        )

        await subscribe(second, "doomed", "new")

        async def back() -> tuple[bool, Any]:
            # The lookup's own status (the test once read the /nodes one
            # above, and passed before the topic was back).
            answer, body = await lookup(lookupd, "doomed")
            return answer == 200, (answer, body)

        status, body = await until(back, "/lookup?topic=doomed answers again")
        self.assertEqual(body["channels"], ["new"])
        self.assertEqual(producerPorts(body), {second.addresses["tcp"][1]})


class TombstoneTests(TestCase):
    """
    C{POST /topic/tombstone?topic=&node=} hides one nsqd from C{/lookup}
    for C{--tombstone-lifetime}, as Go's does.
    """

    timeout = 60

    #: Long enough for the checks made while the tombstone holds.
    LIFETIME = 5.0

    async def test_tombstoneHidesProducerForLifetime(self) -> None:
        """
        A tombstoned nsqd disappears from C{/lookup} for that topic (the
        other stays), C{/nodes} still lists it with C{tombstones: [true]};
        its registering the topic again (a new channel) does not undo the
        tombstone; once the lifetime has passed it is listed again and no
        longer flagged.
        """
        lookupd, first, second = await startCluster(
            self, f"--tombstone-lifetime={int(self.LIFETIME)}s"
        )
        api = lookupd.address("http")
        firstPort, secondPort = first.addresses["tcp"][1], second.addresses["tcp"][1]
        await publish(first, "tomb", ["a"])
        await publish(second, "tomb", ["b"])
        await waitForProducers(lookupd, "tomb", [first, second])

        self.assertEqual(
            await http(api, "POST", f"/topic/tombstone?topic=tomb&node={_node(first)}"),
            (200, b""),
        )
        status, body = await lookup(lookupd, "tomb")
        self.assertEqual((status, producerPorts(body)), (200, {secondPort}))
        status, nodes = await getJSON(api, "/nodes")
        self.assertEqual(
            {port: _tombstones(node) for port, node in _nodes(nodes).items()},
            {firstPort: {"tomb": True}, secondPort: {"tomb": False}},
        )

        # The tombstoned nsqd registers the topic again (REGISTER tomb again).
        await subscribe(first, "tomb", "again")

        async def channelRegistered() -> tuple[bool, Any]:
            _, body = await lookup(lookupd, "tomb")
            return "again" in body.get("channels", []), body

        body = await until(channelRegistered, "the new channel is registered")
        self.assertEqual(
            producerPorts(body),
            {secondPort},
            "re-registering must not clear the tombstone",
        )

        async def lapsed() -> tuple[bool, Any]:
            _, body = await lookup(lookupd, "tomb")
            return producerPorts(body) == {firstPort, secondPort}, body

        await until(lapsed, "the tombstone lapses", timeout=self.LIFETIME + 10)
        status, nodes = await getJSON(api, "/nodes")
        self.assertEqual(_tombstones(_nodes(nodes)[firstPort]), {"tomb": False})

    async def test_tombstoneThenDeleteOnNSQD(self) -> None:
        """
        nsqadmin's way to remove a topic from one nsqd: tombstone it at
        nsqlookupd, then delete it on that nsqd (C{POST /topic/delete}),
        which UNREGISTERs it: the nsqd's registration for the topic is gone
        for good (C{/nodes} lists it without the topic), the other nsqd
        still produces it.
        """
        if not NSQD_SERVES_HTTP:
            raise self.skipTest(
                "nsqd's HTTP API is not served by twistd nsqd yet "
                "(txnsq.nsqd.tap.nsqdService passes no httpResourceFactory)"
            )
        lookupd, first, second = await startCluster(self)
        api = lookupd.address("http")
        firstPort, secondPort = first.addresses["tcp"][1], second.addresses["tcp"][1]
        await publish(first, "tomb", ["a"])
        await publish(second, "tomb", ["b"])
        await waitForProducers(lookupd, "tomb", [first, second])

        self.assertEqual(
            await http(api, "POST", f"/topic/tombstone?topic=tomb&node={_node(first)}"),
            (200, b""),
        )
        self.assertEqual(
            await http(first.address("http"), "POST", "/topic/delete?topic=tomb"),
            (200, b""),
        )

        async def unregistered() -> tuple[bool, Any]:
            _, nodes = await getJSON(api, "/nodes")
            return _nodes(nodes)[firstPort]["topics"] == [], nodes

        await until(unregistered, "the nsqd's registration of the topic is gone")
        status, body = await lookup(lookupd, "tomb")
        self.assertEqual((status, producerPorts(body)), (200, {secondPort}))


class ConfigTests(TestCase):
    """
    C{PUT /config/nsqlookupd_tcp_addresses} on nsqd changes which
    nsqlookupds it registers with, while it runs.
    """

    timeout = 60

    async def test_putLookupdAddresses(self) -> None:
        """
        An nsqd started without nsqlookupd registers (with its topics) once
        the address is PUT, and leaves C{/nodes} once the list is emptied.
        """
        if not NSQD_SERVES_HTTP:
            raise self.skipTest(
                "nsqd's HTTP API is not served by twistd nsqd yet "
                "(txnsq.nsqd.tap.nsqdService passes no httpResourceFactory)"
            )
        lookupd = await startLookupd(self)
        nsqd = await startRegisteredNSQD(self, None, 4151)
        await publish(nsqd, "t", ["a"])
        status, nodes = await getJSON(lookupd.address("http"), "/nodes")
        self.assertEqual((status, nodes), (200, {"producers": []}))

        addresses = json.dumps([lookupd.address("tcp")]).encode()
        status, _ = await http(
            nsqd.address("http"), "PUT", "/config/nsqlookupd_tcp_addresses", addresses
        )
        self.assertEqual(status, 200)
        await waitForProducers(lookupd, "t", [nsqd])

        status, _ = await http(
            nsqd.address("http"), "PUT", "/config/nsqlookupd_tcp_addresses", b"[]"
        )
        self.assertEqual(status, 200)

        async def gone() -> tuple[bool, Any]:
            _, nodes = await getJSON(lookupd.address("http"), "/nodes")
            return nodes == {"producers": []}, nodes

        await until(gone, "/nodes is empty once nsqd dropped the address")
