"""
Tests for L{txnsq.nsqlookupd.protocol} over L{StringTransport}, with a
L{Clock}.
"""

from __future__ import annotations

import json

from zope.interface.verify import verifyObject

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqlookupd.protocol import LookupdFactory, LookupdProtocol
from txnsq.nsqlookupd.registry import RegistrationDB
from txnsq.wire.lookup import (
    MAGIC_V1,
    REPLY_OK,
    LookupdResponseDecoder,
    encodeIdentify,
    encodeRegister,
    encodeUnregister,
)

PEER = {
    "broadcast_address": "nsqd.example",
    "hostname": "nsqd-host",
    "tcp_port": 4150,
    "http_port": 4151,
    "version": "1.3.0",
}


class ProtocolTests(SynchronousTestCase):
    """
    L{LookupdProtocol} applies commands to the registry and answers as Go.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.registry = RegistrationDB()
        self.factory = LookupdFactory(
            self.registry, self.clock, "lookupd.example", hostname="lookupd-host"
        )
        self.factory.tcpPort = 4160
        self.factory.httpPort = 4161

    def connect(
        self, peer: IPv4Address | IPv6Address | None = None
    ) -> tuple[LookupdProtocol, StringTransport]:
        """
        A protocol connected to a L{StringTransport} from C{peer}.
        """
        # Typed as object: LookupdFactory is a Factory[_ProtoWithFactory],
        # which LookupdProtocol cannot be (its factory is a LookupdFactory),
        # so narrowing buildProtocol's declared result would be impossible.
        protocol: object = self.factory.buildProtocol(
            IPv4Address("TCP", "127.0.0.1", 1)
        )
        assert isinstance(protocol, LookupdProtocol)
        transport = StringTransport(
            peerAddress=peer or IPv4Address("TCP", "10.0.0.1", 5000)
        )
        protocol.makeConnection(transport)
        return protocol, transport

    def replies(self, transport: StringTransport) -> list[bytes]:
        """
        The replies written so far (and clear them).
        """
        data = transport.value()
        transport.clear()
        return LookupdResponseDecoder().feed(data)

    def identified(self) -> tuple[LookupdProtocol, StringTransport]:
        """
        A connection that has sent the magic and IDENTIFY.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(MAGIC_V1 + encodeIdentify(PEER))
        transport.clear()
        return protocol, transport

    def test_interface(self) -> None:
        """
        The protocol handles half-closed connections.
        """
        protocol, _ = self.connect()
        self.assertTrue(verifyObject(IHalfCloseableProtocol, protocol))

    def test_identify(self) -> None:
        """
        IDENTIFY records the peer under its remote address and answers with
        nsqlookupd's broadcast address, hostname, ports and version.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(MAGIC_V1 + encodeIdentify(PEER))
        [reply] = self.replies(transport)
        self.assertEqual(
            reply,
            b'{"broadcast_address":"lookupd.example","hostname":"lookupd-host",'
            b'"http_port":4161,"tcp_port":4160,"version":"1.3.0"}',
        )
        assert protocol.peer is not None
        self.assertEqual(protocol.peer.id, "10.0.0.1:5000")
        self.assertEqual(protocol.peer.lastUpdate, 1000.0)
        self.assertEqual(
            self.registry.nodes(1000.0)[0]["remote_address"], "10.0.0.1:5000"
        )
        self.assertFalse(transport.disconnecting)

    def test_ipv6Peer(self) -> None:
        """
        An IPv6 peer's id is Go's C{[host]:port}.
        """
        protocol, _ = self.connect(IPv6Address("TCP", "::1", 5000))
        protocol.dataReceived(MAGIC_V1 + encodeIdentify(PEER))
        assert protocol.peer is not None
        self.assertEqual(protocol.peer.id, "[::1]:5000")

    def test_registerAndUnregister(self) -> None:
        """
        REGISTER and UNREGISTER edit the registry and answer C{OK}.
        """
        protocol, transport = self.identified()
        protocol.dataReceived(encodeRegister("t", "c") + encodeUnregister("t", "c"))
        self.assertEqual(self.replies(transport), [b"OK", b"OK"])
        self.assertEqual(self.registry.lookup("t", 1000.0), (["c"], [protocol.peer]))

    def test_ping(self) -> None:
        """
        PING answers C{OK}, before IDENTIFY too, and refreshes an identified
        nsqd's last update.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(MAGIC_V1 + b"PING\n")
        self.assertEqual(transport.value(), REPLY_OK)
        protocol.dataReceived(encodeIdentify(PEER) + encodeRegister("t"))
        self.clock.advance(301)
        self.assertEqual(self.registry.lookup("t", self.clock.seconds()), ([], []))
        protocol.dataReceived(b"PING\n")
        assert protocol.peer is not None
        self.assertEqual(protocol.peer.lastUpdate, 1301.0)
        self.assertEqual(
            self.registry.lookup("t", self.clock.seconds()), ([], [protocol.peer])
        )

    def test_errorCloses(self) -> None:
        """
        An error is answered with its text and the connection is closed;
        later bytes are ignored.
        """
        protocol, transport = self.identified()
        protocol.dataReceived(b"REGISTER bad!\nREGISTER t\n")
        self.assertEqual(
            self.replies(transport),
            [b"E_BAD_TOPIC REGISTER topic name 'bad!' is not valid"],
        )
        self.assertTrue(transport.disconnecting)
        protocol.dataReceived(b"PING\n")
        self.assertEqual(transport.value(), b"")
        self.assertEqual(self.registry.topics(), [])

    def test_badMagic(self) -> None:
        """
        A wrong magic gets C{E_BAD_PROTOCOL} and a close.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(b"  V2")
        self.assertEqual(transport.value(), b"\x00\x00\x00\x0eE_BAD_PROTOCOL")
        self.assertTrue(transport.disconnecting)

    def test_halfClose(self) -> None:
        """
        When the nsqd stops sending in the middle of an IDENTIFY, it gets
        Go's error and the connection is closed.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(MAGIC_V1 + b"IDENTIFY\n\x00\x00\x00\x10{")
        protocol.readConnectionLost()
        self.assertEqual(
            self.replies(transport), [b"E_BAD_BODY IDENTIFY failed to read body"]
        )
        self.assertTrue(transport.disconnecting)

    def test_disconnectRemovesPeer(self) -> None:
        """
        A closed connection takes its nsqd out of every registration; the
        keys stay.
        """
        protocol, _ = self.identified()
        protocol.dataReceived(encodeRegister("t", "c"))
        self.assertEqual(len(self.factory.connections), 1)
        protocol.connectionLost()
        self.assertEqual(self.factory.connections, set())
        self.assertEqual(self.registry.lookup("t", 1000.0), (["c"], []))
        self.assertEqual(self.registry.nodes(1000.0), [])
        self.assertIsNone(protocol.peer)

    def test_disconnectAll(self) -> None:
        """
        L{LookupdFactory.disconnectAll} closes every connection.
        """
        transports = [self.connect()[1] for _ in range(3)]
        self.factory.disconnectAll()
        self.assertTrue(all(t.disconnecting for t in transports))

    def test_identifyReplyPorts(self) -> None:
        """
        The IDENTIFY reply reports the factory's current ports (the service
        sets them once it has bound port 0).
        """
        self.factory.tcpPort, self.factory.httpPort = 40001, 40002
        reply = json.loads(self.factory.identifyReply())
        self.assertEqual((reply["tcp_port"], reply["http_port"]), (40001, 40002))
