"""
Bad input over real sockets: each gets Go nsqd 1.3.0's exact error frame,
and a client connected at the same time keeps being served.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Coroutine
from typing import Any, NamedTuple

from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from txnsq.wire.commands import encodeCommand, encodeIdentify, encodeMPub
from txnsq.wire.frames import (
    FRAME_TYPE_ERROR,
    FRAME_TYPE_MESSAGE,
    FRAME_TYPE_RESPONSE,
)
from txnsq.wire.message import decodeMessage

from ._realserver import FrameClient, RealNSQD, connectClient, reactor, startServer

OK = (FRAME_TYPE_RESPONSE, b"OK")
CLOSE_WAIT = (FRAME_TYPE_RESPONSE, b"CLOSE_WAIT")


def size(n: int) -> bytes:
    """
    A 4-byte big-endian signed size.
    """
    return struct.pack(">i", n)


class Case(NamedTuple):
    """
    One bad input.

    @ivar setup: commands sent first, each answered with C{OK}.
    @ivar bad: the bad input.
    @ivar text: Go's error frame text, or L{None} for a silent close.
    @ivar fatal: whether the server closes the connection.
    @ivar magic: whether the client sends the magic first.
    """

    setup: list[bytes]
    bad: bytes
    text: bytes | None
    fatal: bool = True
    magic: bool = True


CASES: dict[str, Case] = {
    "wrongMagic": Case([], b"  V1", b"E_BAD_PROTOCOL", magic=False),
    "httpMagic": Case([], b"GET / HTTP/1.1\r\n\r\n", b"E_BAD_PROTOCOL", magic=False),
    "unknownCommand": Case([], b"FOO\n", b"E_INVALID invalid command FOO", True),
    "lowercaseCommand": Case([], b"pub t\n", b"E_INVALID invalid command pub", True),
    "badTopic": Case(
        [],
        b"PUB bad!topic\n",
        b'E_BAD_TOPIC PUB topic name "bad!topic" is not valid',
        True,
    ),
    "longTopic": Case(
        [],
        b"PUB " + b"t" * 65 + b"\n",
        b'E_BAD_TOPIC PUB topic name "' + b"t" * 65 + b'" is not valid',
        True,
    ),
    "badChannel": Case(
        [],
        b"SUB t bad!channel\n",
        b'E_BAD_CHANNEL SUB channel name "bad!channel" is not valid',
        True,
    ),
    "mpubBadTopic": Case(
        [],
        b"MPUB bad!topic\n",
        b'E_BAD_TOPIC E_BAD_TOPIC MPUB topic name "bad!topic" is not valid',
        True,
    ),
    "oversizedPub": Case(
        [],
        b"PUB t\n" + size(1048577),
        b"E_BAD_MESSAGE PUB message too big 1048577 > 1048576",
        True,
    ),
    "oversizedDpub": Case(
        [],
        b"DPUB t 10\n" + size(1048577),
        b"E_BAD_MESSAGE DPUB message too big 1048577 > 1048576",
        True,
    ),
    "oversizedMpub": Case(
        [],
        b"MPUB t\n" + size(5242881),
        b"E_BAD_BODY MPUB body too big 5242881 > 5242880",
        True,
    ),
    "oversizedMpubMessage": Case(
        [],
        b"MPUB t\n" + size(100) + size(2) + size(1) + b"a" + size(1048577),
        b"E_BAD_MESSAGE MPUB message too big 1048577 > 1048576",
        True,
    ),
    "oversizedIdentify": Case(
        [],
        b"IDENTIFY\n" + size(5242881),
        b"E_BAD_BODY IDENTIFY body too big 5242881 > 5242880",
        True,
    ),
    "emptyPub": Case(
        [],
        b"PUB t\n" + size(0),
        b"E_BAD_MESSAGE PUB invalid message body size 0",
        True,
    ),
    "dpubOutOfRange": Case(
        [],
        b"DPUB t 3600001\n",
        b"E_INVALID DPUB timeout 3600001 out of range 0-3600000",
        True,
    ),
    "badIdentifyJSON": Case(
        [],
        encodeCommand(b"IDENTIFY", body=b"{not json"),
        b"E_BAD_BODY IDENTIFY failed to decode JSON body",
        True,
    ),
    "identifyValue": Case(
        [],
        encodeIdentify({"heartbeat_interval": 999}),
        b"E_BAD_BODY IDENTIFY heartbeat interval (999) is invalid",
        True,
    ),
    "finUnknown": Case(
        [b"SUB t c\n"],
        b"FIN 0000000000000000\n",
        b"E_FIN_FAILED FIN 0000000000000000 failed ID not in flight",
        False,
    ),
    "reqUnknown": Case(
        [b"SUB t c\n"],
        b"REQ 0000000000000000 0\n",
        b"E_REQ_FAILED REQ 0000000000000000 failed ID not in flight",
        False,
    ),
    "touchUnknown": Case(
        [b"SUB t c\n"],
        b"TOUCH 0000000000000000\n",
        b"E_TOUCH_FAILED TOUCH 0000000000000000 failed ID not in flight",
        False,
    ),
    "finBadID": Case(
        [b"SUB t c\n"], b"FIN 123\n", b"E_INVALID invalid message ID", True
    ),
    "rdyAboveMax": Case(
        [b"SUB t c\n"],
        b"RDY 2501\n",
        b"E_INVALID RDY count 2501 out of range 0-2500",
        True,
    ),
    "rdyNotANumber": Case(
        [b"SUB t c\n"],
        b"RDY x\n",
        b"E_INVALID RDY could not parse count x",
        True,
    ),
    "rdyBeforeSub": Case(
        [], b"RDY 1\n", b"E_INVALID cannot RDY in current state", True
    ),
    "finBeforeSub": Case(
        [],
        b"FIN 0000000000000000\n",
        b"E_INVALID cannot FIN in current state",
        True,
    ),
    "clsBeforeSub": Case([], b"CLS\n", b"E_INVALID cannot CLS in current state", True),
    "subTwice": Case(
        [b"SUB t c\n"], b"SUB t c\n", b"E_INVALID cannot SUB in current state", True
    ),
    "identifyAfterSub": Case(
        [b"SUB t c\n"],
        encodeIdentify({}),
        b"E_INVALID cannot IDENTIFY in current state",
        True,
    ),
    "subHeartbeatsDisabled": Case(
        [encodeIdentify({"heartbeat_interval": -1})],
        b"SUB t c\n",
        b"E_INVALID cannot SUB with heartbeats disabled",
        True,
    ),
    "auth": Case(
        [],
        encodeCommand(b"AUTH", body=b"secret"),
        b"E_AUTH_DISABLED AUTH disabled",
        True,
    ),
    "lineTooLong": Case([], b"PUB " + b"a" * 17000 + b"\n", None, True),
}


class RawSocketTests(TestCase):
    """
    One misbehaving client next to a well-behaved one.
    """

    timeout = 20

    def setUp(self) -> None:
        """
        Start nsqd.
        """
        self.server: RealNSQD = startServer(self)

    async def connectBystander(self) -> None:
        """
        Connect a well-behaved client that subscribes to, and publishes to,
        its own topic.
        """
        self.bystander = await connectClient(self, self.server)
        self.bystander.send(b"SUB bystander c\nRDY 10\n")
        self.assertEqual(await self.bystander.frame(), OK)
        await self.assertServed(b"before")

    async def assertServed(self, body: bytes) -> None:
        """
        The bystander can publish and receives what it published.
        """
        client = self.bystander
        client.send(encodeCommand(b"PUB", b"bystander", body=body))
        frames = await client.frames(2)
        self.assertIn(OK, frames)
        [message] = [f for f in frames if f[0] == FRAME_TYPE_MESSAGE]
        _, attempts, messageID, received = decodeMessage(message[1])
        self.assertEqual((attempts, received), (1, body))
        client.send(b"FIN " + messageID + b"\n")

    async def misbehave(self, case: Case) -> None:
        """
        Run one bad input on a new connection and check the server's answer
        and that the bystander is still served.
        """
        await self.connectBystander()
        client: FrameClient = await connectClient(self, self.server, case.magic)
        for command in case.setup:
            client.send(command)
            self.assertEqual(await client.frame(), OK, command)
        client.send(case.bad)
        if case.text is not None:
            self.assertEqual(await client.frame(), (FRAME_TYPE_ERROR, case.text))
        if case.fatal:
            self.assertTrue(await client.whenClosed(), "the connection stayed open")
            self.assertEqual(await client.quiet(0), [])
        else:
            client.send(b"CLS\n")
            self.assertEqual(await client.frame(), CLOSE_WAIT)
            self.assertFalse(client.closed)
        await self.assertServed(b"after")
        self.assertEqual(await self.bystander.quiet(0.1), [])


class ConnectionEndTests(TestCase):
    """
    Clients that vanish mid-command or with messages in flight.
    """

    timeout = 20

    def setUp(self) -> None:
        """
        Start nsqd.
        """
        self.server: RealNSQD = startServer(self)

    def test_partialBodyThenClose(self) -> Deferred[None]:
        """
        A client closing in the middle of a PUB body leaves no connection
        behind and publishes nothing; others are still served.
        """

        async def run() -> None:
            quitter = await connectClient(self, self.server)
            quitter.send(b"PUB t\n" + size(10) + b"abc")
            await quitter.close()
            other = await connectClient(self, self.server)
            other.send(encodeCommand(b"PUB", b"u", body=b"x"))
            self.assertEqual(await other.frame(), OK)
            self.assertEqual(len(self.server.factory.connections), 1)
            topic = self.server.broker.topics.get("t")
            self.assertEqual(topic.messageCount if topic else 0, 0)

        return Deferred.fromCoroutine(run())

    def test_inFlightRedeliveredAfterAbort(self) -> Deferred[None]:
        """
        A consumer that drops its connection with a message in flight: the
        message goes to another consumer of the channel once its timeout
        (1 s here) expires, with attempts 2 and the same id.
        """

        async def run() -> None:
            first = await connectClient(self, self.server)
            first.send(encodeIdentify({"msg_timeout": 1000}) + b"SUB t c\nRDY 1\n")
            self.assertEqual(await first.frames(2), [OK, OK])
            producer = await connectClient(self, self.server)
            producer.send(encodeCommand(b"PUB", b"t", body=b"work"))
            self.assertEqual(await producer.frame(), OK)
            delivered = await first.frame()
            assert delivered is not None
            _, attempts, messageID, body = decodeMessage(delivered[1])
            self.assertEqual((attempts, body), (1, b"work"))
            assert first.transport is not None
            first.transport.abortConnection()  # type: ignore[attr-defined]
            self.assertTrue(await first.whenClosed())
            second = await connectClient(self, self.server)
            second.send(b"SUB t c\nRDY 1\n")
            self.assertEqual(await second.frame(), OK)
            again = await second.frame(5.0)
            assert again is not None
            self.assertEqual(decodeMessage(again[1])[1:], (2, messageID, b"work"))

        return Deferred.fromCoroutine(run())


def _makeTest(name: str, case: Case) -> Callable[[RawSocketTests], Deferred[None]]:
    def test(self: RawSocketTests) -> Deferred[None]:
        coroutine: Coroutine[Any, Any, None] = self.misbehave(case)
        return Deferred.fromCoroutine(coroutine)

    test.__name__ = f"test_{name}"
    outcome = (
        "a silent close"
        if case.text is None
        else f"the error frame C{{{case.text.decode('latin-1')[:80]}}}"
        + ("" if case.fatal else " (the connection stays open)")
    )
    test.__doc__ = (
        f"Sending C{{{case.bad[:40]!r}}} gets {outcome}; a client connected at the "
        "same time keeps publishing and receiving."
    )
    return test


for _name, _case in CASES.items():
    setattr(RawSocketTests, f"test_{_name}", _makeTest(_name, _case))
del _name, _case


#: Commands cut short by the client's C{shutdown(SHUT_WR)}, and Go nsqd
#: 1.3.0's error frame for each (L{None}: a silent close).
CUT_SHORT: dict[str, tuple[bytes, bytes | None]] = {
    "pubSize": (
        b"PUB t\n\x00\x00",
        b"E_BAD_MESSAGE PUB failed to read message body size",
    ),
    "pubBody": (
        b"PUB t\n" + size(10) + b"abc",
        b"E_BAD_MESSAGE PUB failed to read message body",
    ),
    "identifySize": (b"IDENTIFY\n", b"E_BAD_BODY IDENTIFY failed to read body size"),
    "mpubCount": (
        b"MPUB t\n" + size(20),
        b"E_BAD_BODY MPUB failed to read message count",
    ),
    "partialLine": (b"PUB t", None),
}


def halfClose(client: FrameClient) -> None:
    """
    Shut down C{client}'s sending side once what it wrote has gone out
    (C{shutdown(SHUT_WR)}); it keeps reading.
    """
    assert client.transport is not None
    client.transport.loseWriteConnection()  # type: ignore[attr-defined]


class HalfCloseTests(TestCase):
    """
    Clients that send their commands and then shut down their sending side
    get every reply before nsqd closes, as from Go.
    """

    timeout = 30

    def setUp(self) -> None:
        """
        Start nsqd.
        """
        self.server: RealNSQD = startServer(self)

    def test_manyPublishers(self) -> Deferred[None]:
        """
        200 connections each sending one PUB, then C{SHUT_WR}: every one
        gets its C{OK} and is then closed by nsqd; the 200 messages are
        stored.
        """

        async def run() -> None:
            clients = []
            for i in range(200):
                client = await connectClient(self, self.server)
                client.send(encodeCommand(b"PUB", b"t", body=b"%d" % (i,)))
                halfClose(client)
                clients.append(client)
            for client in clients:
                self.assertEqual(await client.frame(), OK)
                self.assertTrue(await client.whenClosed())
            self.assertEqual(self.server.broker.topics["t"].messageCount, 200)
            self.assertEqual(self.server.factory.connections, set())

        return Deferred.fromCoroutine(run())

    def test_identifyAnswered(self) -> Deferred[None]:
        """
        IDENTIFY with feature negotiation, then C{SHUT_WR}: its JSON answer
        arrives before the close.
        """

        async def run() -> None:
            client = await connectClient(self, self.server)
            client.send(encodeIdentify({"feature_negotiation": True}))
            halfClose(client)
            frame = await client.frame()
            assert frame is not None
            self.assertEqual(frame[0], FRAME_TYPE_RESPONSE)
            self.assertIn(b'"max_rdy_count"', frame[1])
            self.assertTrue(await client.whenClosed())

        return Deferred.fromCoroutine(run())

    def test_cutShort(self) -> Deferred[None]:
        """
        A command cut short by C{SHUT_WR} gets Go's exact C{failed to read}
        error frame (a partial line: a silent close); nothing is published.
        """

        async def run() -> None:
            for name, (data, text) in CUT_SHORT.items():
                client = await connectClient(self, self.server)
                client.send(data)
                halfClose(client)
                if text is not None:
                    self.assertEqual(
                        await client.frame(), (FRAME_TYPE_ERROR, text), name
                    )
                self.assertTrue(await client.whenClosed(), name)
                self.assertEqual(await client.quiet(0), [], name)
            # MPUB creates its topic before reading its body, as Go's does.
            self.assertEqual(self.server.broker.topics["t"].messageCount, 0)

        return Deferred.fromCoroutine(run())


class StuckClientTests(TestCase):
    """
    A consumer that stops reading with its socket full is dropped once its
    read deadline passes, as Go drops it.
    """

    timeout = 30

    def setUp(self) -> None:
        """
        Start nsqd.
        """
        self.server: RealNSQD = startServer(self)

    def test_timedOutWithFullSocket(self) -> Deferred[None]:
        """
        Heartbeat 1 s, 4 KB messages, a client that never reads: it is
        gone from the server's connections (C{/stats}) and its channel (its
        read deadline is 2 s; the wait allows 30 s for a loaded machine),
        and its in-flight messages are delivered again (attempts 2) to
        another consumer once their 1 s timeout has passed.
        """

        async def run() -> None:
            stuck = await connectClient(self, self.server)
            stuck.send(
                encodeIdentify({"heartbeat_interval": 1000, "msg_timeout": 1000})
                + b"SUB t c\nRDY 2500\n"
            )
            self.assertEqual(await stuck.frames(2), [OK, OK])
            assert stuck.transport is not None
            # Read nothing more: the socket fills, then nsqd's buffer.
            stuck.transport.pauseProducing()  # type: ignore[attr-defined]
            producer = await connectClient(self, self.server)
            for _ in range(25):
                producer.send(encodeMPub(b"t", [b"m" * 4096] * 100))
            self.assertEqual(await producer.frames(25, 30.0), [OK] * 25)
            connections = self.server.factory.connections
            channel = self.server.broker.topics["t"].channels["c"]
            # (On a loaded machine the stuck client may be gone already.)
            self.assertLessEqual(len(connections), 2)
            start = reactor.seconds()
            while len(connections) > 1 and reactor.seconds() - start < 30:
                await deferLater(reactor, 0.1)
            self.assertEqual(len(connections), 1, "the stuck client is still listed")
            self.assertEqual(len(channel.consumers), 0)
            stuck.transport.abortConnection()  # type: ignore[attr-defined]
            other = await connectClient(self, self.server)
            other.send(b"SUB t c\nRDY 2500\n")
            self.assertEqual(await other.frame(), OK)
            attempts: set[int] = set()
            while 2 not in attempts:
                frame = await other.frame(30.0)
                assert frame is not None, f"no redelivery; attempts {attempts}"
                self.assertEqual(frame[0], FRAME_TYPE_MESSAGE)
                _, attempt, messageID, _ = decodeMessage(frame[1])
                attempts.add(attempt)
                other.send(b"FIN " + messageID + b"\n")

        return Deferred.fromCoroutine(run())
