"""
Tests for how much nsqd's connections read at once while a large body
arrives (L{txnsq.nsqd._protocolv2}).
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address

from tests.nsqd.test_protocol import (
    OK,
    Client,
    ProtocolTestCase,
    RecordingTransport,
)
from txnsq.wire.commands import encodeCommand, encodeMPub


class SizedTransport(RecordingTransport):
    """
    A transport that reads C{bufferSize} bytes at once, as Twisted's TCP
    and UNIX transports do.
    """

    bufferSize = 65536


class ReadSizeTests(ProtocolTestCase):
    """
    While a body larger than a usual read is pending, the next read asks for
    what it still needs, up to 1 MB; then for Twisted's usual 64 KB again.
    """

    def sizedClient(self) -> Client:
        self._port += 1
        connection = self.factory.buildProtocol(
            IPv4Address("TCP", "10.1.2.3", self._port)
        )
        transport = SizedTransport(self._port)
        connection.makeConnection(transport)
        client = Client(connection, transport)
        client.send(b"  V2")
        return client

    def bufferSize(self, client: Client) -> int:
        assert isinstance(client.transport, SizedTransport)
        return client.transport.bufferSize

    def test_pub(self) -> None:
        """
        A PUB of 1,000,000 bytes: once its size is read, the next read asks
        for the rest of the body; once it is complete, 64 KB.
        """
        client = self.sizedClient()
        body = bytes(range(250)) * 4000
        data = encodeCommand(b"PUB", b"t", body=body)
        client.send(data[:8])
        self.assertEqual(self.bufferSize(client), 65536)
        client.send(data[8:70000])
        self.assertEqual(self.bufferSize(client), len(data) - 70000)
        client.send(data[70000:-40000])
        self.assertEqual(self.bufferSize(client), 65536)
        client.send(data[-40000:])
        self.assertEqual(self.bufferSize(client), 65536)
        self.assertEqual(client.frames(), [OK])
        self.assertEqual(self.broker.topics["t"].messageCount, 1)

    def test_mpub(self) -> None:
        """
        An MPUB of three 1,000,000-byte messages: reads of 1 MB at most
        while more than 64 KB of it is missing.
        """
        client = self.sizedClient()
        bodies = [bytes([n]) * 1_000_000 for n in range(3)]
        data = encodeMPub(b"t", bodies)
        client.send(data[:100])
        self.assertEqual(self.bufferSize(client), 1 << 20)
        client.send(data[100:1_000_000])
        self.assertEqual(self.bufferSize(client), 1 << 20)
        client.send(data[1_000_000:-70000])
        self.assertEqual(self.bufferSize(client), 70000)
        client.send(data[-70000:])
        self.assertEqual(self.bufferSize(client), 65536)
        self.assertEqual(client.frames(), [OK])
        self.assertEqual(self.broker.topics["t"].messageCount, 3)

    def test_small(self) -> None:
        """
        Small commands leave the read size alone.
        """
        client = self.sizedClient()
        client.send(encodeCommand(b"PUB", b"t", body=b"x" * 60000) + b"NOP\n")
        client.send(encodeMPub(b"t", [b"y" * 30000, b"z" * 30000]))
        self.assertEqual(self.bufferSize(client), 65536)
        self.assertNotIn("bufferSize", vars(client.transport))
        self.assertEqual(client.frames(), [OK, OK])
