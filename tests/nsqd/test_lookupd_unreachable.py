"""
An nsqlookupd that refuses connections, or accepts them and never answers,
never stalls publishing or delivery: nsqd's peer commands time out (Go's
1 s deadlines), the connection is dropped and dialled again with back-off,
and clients are served meanwhile (issue 17, item 7).
"""

from __future__ import annotations

import socket

from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import TestCase

from tests._services import startNSQD
from txnsq.wire.commands import encodeCommand, encodeIdentify
from txnsq.wire.frames import FRAME_TYPE_MESSAGE, FRAME_TYPE_RESPONSE
from txnsq.wire.message import decodeMessage

from ._realserver import reactor
from .test_slowconsumers import connect, waitFor

OK = (FRAME_TYPE_RESPONSE, b"OK")

# A PUB stalled behind the peer would wait out nsqd's 1 s peer deadline;
# anything well under it shows no stall, however loaded the machine is
# (this is no speed target: those live in bench/).
STALL = 0.75


class Silent(Protocol):
    """
    A peer that accepts, reads and never answers.
    """

    def connectionMade(self) -> None:
        self.factory.connections += 1

    def dataReceived(self, data: bytes) -> None:
        self.factory.received += len(data)


class SilentFactory(Factory):
    """
    Counts the connections made to it and the bytes received.
    """

    protocol = Silent

    def __init__(self) -> None:
        self.connections = 0
        self.received = 0


def closedPort() -> int:
    """
    A port on 127.0.0.1 that nothing listens on (bound, then released).
    """
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


class UnreachableLookupdTests(TestCase):
    """
    Publishing and delivery with a broken nsqlookupd peer.
    """

    timeout = 20

    async def publishAndConsume(self, port: int, count: int = 1000) -> float:
        """
        PUB C{count} messages one at a time, each waiting for its C{OK},
        while a consumer receives and FINs them all.

        @return: the slowest PUB->OK, in seconds.
        """
        consumer = await connect(self, port)
        consumer.send(encodeIdentify({"client_id": "c"}))
        self.assertEqual((await consumer.frame() or (0, b""))[0], FRAME_TYPE_RESPONSE)
        consumer.send(encodeCommand(b"SUB", b"t", b"c"))
        self.assertEqual(await consumer.frame(), OK)
        consumer.send(encodeCommand(b"RDY", b"100"))
        producer = await connect(self, port)
        slowest = 0.0
        for i in range(count):
            started = reactor.seconds()
            producer.send(encodeCommand(b"PUB", b"t", body=b"m%d" % i))
            self.assertEqual(await producer.frame(), OK)
            slowest = max(slowest, reactor.seconds() - started)
        received = 0
        while received < count:
            frame = await consumer.frame()
            assert frame is not None, f"only {received} of {count} delivered"
            self.assertEqual(frame[0], FRAME_TYPE_MESSAGE)
            consumer.send(encodeCommand(b"FIN", decodeMessage(frame[1])[2]))
            received += 1
        return slowest

    async def test_refusingLookupd(self) -> None:
        """
        With C{--nsqlookupd-tcp-address} on a closed port, 1,000 messages
        are each published, no PUB->OK stalled behind the peer's 1 s
        deadline, and all delivered.
        """
        _nsqd, port = await startNSQD(self, lookupdTCP=closedPort())
        slowest = await self.publishAndConsume(port)
        self.assertLess(slowest, STALL)

    async def test_silentLookupd(self) -> None:
        """
        With C{--nsqlookupd-tcp-address} on a peer that accepts and never
        answers, 1,000 messages are each published, no PUB->OK stalled
        behind the peer's 1 s deadline, and all delivered, while nsqd's commands to the peer time out and
        it dials the peer again.
        """
        peer = SilentFactory()
        listening = reactor.listenTCP(0, peer, interface="127.0.0.1")
        self.addCleanup(listening.stopListening)
        _nsqd, port = await startNSQD(self, lookupdTCP=listening.getHost().port)
        self.assertTrue(await waitFor(lambda: peer.received > 0))
        slowest = await self.publishAndConsume(port)
        self.assertLess(slowest, STALL)
        # The stuck connection is dropped after Go's 1 s read deadline and
        # dialled again (back-off from 1 s).
        self.assertTrue(await waitFor(lambda: peer.connections >= 2, timeout=8))
