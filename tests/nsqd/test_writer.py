"""
Tests for L{txnsq.nsqd._writer}: sending at once when nothing waits, and
handing Twisted the rest.
"""

from __future__ import annotations

import socket
import struct
from errno import EAGAIN, ECONNRESET
from typing import Any

from zope.interface import implementer

from twisted.internet import reactor as globalReactor
from twisted.internet.abstract import FileDescriptor
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import ClientFactory, Factory, Protocol, connectionDone
from twisted.internet.testing import MemoryReactor, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from txnsq.nsqd._writer import GATHER_BYTES, GATHER_PIECES, DirectWriter

reactor: Any = globalReactor


class FakeSocket:
    """
    A socket whose C{send} takes at most C{room} bytes, or raises
    C{error}.

    @ivar sent: every chunk taken, in order.
    """

    def __init__(self, room: int = 1 << 30) -> None:
        self.room = room
        self.error: OSError | None = None
        self.sent: list[bytes] = []
        self.gathered = 0

    def send(self, data: Any) -> int:
        if self.error is not None:
            raise self.error
        taken = bytes(data[: self.room])
        self.room -= len(taken)
        if taken:
            self.sent.append(taken)
        elif data:
            raise OSError(EAGAIN, "Resource temporarily unavailable")
        return len(taken)

    def sendmsg(self, buffers: list[Any]) -> int:
        """
        A gathering send: as L{send} over the buffers joined.
        """
        self.gathered += 1
        return self.send(b"".join(buffers))


class FakeConnection(FileDescriptor):
    """
    A C{FileDescriptor} over a L{FakeSocket}, written the way Twisted's TCP
    connections write (C{writeSomeData} is C{socket.send}).
    """

    TLS = False

    def __init__(self, sock: FakeSocket, reactor: MemoryReactor) -> None:
        super().__init__(reactor)
        self.socket = sock
        self.connected = 1

    def writeSomeData(self, data: bytes) -> int | BaseException:
        try:
            return self.socket.send(data)
        except OSError as e:
            if e.errno == EAGAIN:
                return 0
            return ConnectionLost()


@implementer(IPushProducer)
class Producer:
    """
    Records whether it was paused.
    """

    paused = False

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        pass


class DirectWriterTests(SynchronousTestCase):
    """
    L{DirectWriter} sends at once on an idle plaintext socket, and leaves
    everything else to the transport.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactor()
        self.socket = FakeSocket()
        self.transport = FakeConnection(self.socket, self.reactor)
        self.writer = DirectWriter(self.transport)

    def test_interface(self) -> None:
        """
        The producer used below is a real L{IPushProducer}.
        """
        from zope.interface.verify import verifyObject

        self.assertTrue(verifyObject(IPushProducer, Producer()))

    def test_sentAtOnce(self) -> None:
        """
        With nothing waiting, the bytes go to the socket during the call,
        and the transport never registers for writability.
        """
        self.writer.write(b"OK")
        self.writer.writeSequence([b"a", b"b"])
        self.assertEqual(self.socket.sent, [b"OK", b"ab"])
        self.assertEqual(self.reactor.getWriters(), [])
        self.assertEqual(self.writer.directSends, 2)

    def test_partialSend(self) -> None:
        """
        What the kernel did not take waits in the transport's buffer, which
        registers for writability; later writes queue behind it, and the
        stream arrives in order.
        """
        self.socket.room = 3
        self.writer.write(b"abcdef")
        self.assertEqual(self.socket.sent, [b"abc"])
        self.assertEqual(self.reactor.getWriters(), [self.transport])
        self.writer.write(b"gh")
        self.writer.writeSequence([b"i", b"j"])
        self.assertEqual(self.socket.sent, [b"abc"])
        self.socket.room = 100
        self.assertIsNone(self.transport.doWrite())
        self.assertEqual(b"".join(self.socket.sent), b"abcdefghij")
        self.assertEqual(self.reactor.getWriters(), [])
        # Drained: the next write goes out at once again.
        self.writer.write(b"k")
        self.assertEqual(self.socket.sent[-1], b"k")

    def test_gather(self) -> None:
        """
        A sequence of a few pieces adding up to L{GATHER_BYTES} or more (a
        large message's header and body) goes out in one gathering send,
        unjoined; smaller sequences are joined and sent.
        """
        head, body = b"h" * 30, b"b" * GATHER_BYTES
        self.writer.writeSequence([head, body])
        self.assertEqual(self.socket.sent, [head + body])
        self.assertEqual(self.socket.gathered, 1)
        self.writer.writeSequence([b"a", b"b"])
        self.assertEqual(self.socket.gathered, 1)
        many = [b"x" * GATHER_BYTES] * (GATHER_PIECES + 1)
        self.writer.writeSequence(many)
        self.assertEqual(self.socket.gathered, 1)
        self.assertEqual(self.socket.sent[-1], b"".join(many))
        self.assertEqual(self.writer.directSends, 3)

    def test_gatherPartial(self) -> None:
        """
        What a gathering send leaves (cut in the header, in the body, between
        pieces, or nothing taken) waits in the transport's buffer as one
        string, and the stream arrives whole and in order; an untouched
        lone piece is handed over as it is, not copied.
        """
        body = bytes(range(256)) * (GATHER_BYTES // 256)
        pieces = [b"head1", body, b"head2", body]
        whole = b"".join(pieces)
        for room in (0, 3, 5, 1000, len(body) + 5, len(body) + 7, len(whole) - 1):
            socket = FakeSocket(room)
            transport = FakeConnection(socket, MemoryReactor())
            DirectWriter(transport).writeSequence(pieces)
            self.assertEqual(len(transport._tempDataBuffer), 1 if room < len(whole) else 0)
            socket.room = len(whole)
            transport.doWrite()
            self.assertEqual(b"".join(socket.sent), whole, room)
        socket = FakeSocket(5)
        transport = FakeConnection(socket, MemoryReactor())
        DirectWriter(transport).writeSequence([b"head1", body])
        self.assertIs(transport._tempDataBuffer[0], body)

    def test_gatherBroken(self) -> None:
        """
        A gathering send that fails for any reason but a full buffer hands
        the pieces to the transport, which reports the connection lost.
        """
        self.socket.error = OSError(ECONNRESET, "Connection reset by peer")
        self.writer.writeSequence([b"h", b"b" * GATHER_BYTES])
        self.assertEqual(self.reactor.getWriters(), [self.transport])
        self.assertIsInstance(self.transport.doWrite(), ConnectionLost)

    def test_wouldBlock(self) -> None:
        """
        C{EAGAIN}: everything waits in the transport's buffer.
        """
        self.socket.room = 0
        self.writer.write(b"abc")
        self.assertEqual(self.transport._tempDataBuffer, [b"abc"])
        self.assertEqual(self.reactor.getWriters(), [self.transport])

    def test_backPressure(self) -> None:
        """
        A remainder that fills the transport's buffer pauses its streaming
        producer, as a plain C{transport.write} would.
        """
        producer = Producer()
        self.transport.registerProducer(producer, True)
        self.transport.bufferSize = 10
        self.socket.room = 5
        self.writer.write(b"x" * 100)
        self.assertTrue(producer.paused)
        self.socket.room = 1000
        self.transport.doWrite()
        self.assertFalse(producer.paused)

    def test_brokenConnection(self) -> None:
        """
        A send that fails for any reason but a full buffer hands the bytes
        to the transport, whose next write attempt finds the error and
        reports the connection lost.
        """
        self.socket.error = OSError(ECONNRESET, "Connection reset by peer")
        self.writer.write(b"abc")
        self.assertEqual(self.reactor.getWriters(), [self.transport])
        self.assertIsInstance(self.transport.doWrite(), ConnectionLost)

    def test_tls(self) -> None:
        """
        Once TLS has started, every write goes through the transport (its
        TLS layer).
        """
        self.transport.TLS = True
        self.writer.write(b"abc")
        self.assertEqual(self.socket.sent, [])
        self.assertEqual(self.transport._tempDataBuffer, [b"abc"])

    def test_closing(self) -> None:
        """
        After C{loseConnection} or C{loseWriteConnection}, or once
        disconnected, writes go through the transport, which decides.
        """
        self.transport.loseWriteConnection()
        self.writer.write(b"abc")
        self.assertEqual(self.socket.sent, [])
        self.transport._writeDisconnecting = False
        self.transport.loseConnection()
        self.writer.write(b"def")
        self.assertEqual(self.socket.sent, [])
        self.transport.connected = 0
        self.writer.write(b"ghi")
        self.assertEqual(self.socket.sent, [])

    def test_otherTransports(self) -> None:
        """
        A transport that is not a socket C{FileDescriptor} is written to
        the ordinary way.
        """
        transport = StringTransport()
        writer = DirectWriter(transport)
        writer.write(b"a")
        writer.writeSequence([b"b", b"c"])
        self.assertEqual(transport.value(), b"abc")
        self.assertEqual(writer.directSends, 0)


class Collect(Protocol):
    """
    Collects what it receives, and fires C{done} when the connection ends.
    """

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.done: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.received.append(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.done.callback(None)


class Sender(Protocol):
    """
    Writes C{payload} through a L{DirectWriter} in chunks once connected,
    then closes; C{lost} fires with the reason the connection ended.
    """

    def __init__(self, payload: bytes, chunk: int, pieces: bool = False) -> None:
        self.payload = payload
        self.chunk = chunk
        self.pieces = pieces
        self.lost: Deferred[None] = Deferred()
        self.writer: DirectWriter | None = None

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.writer = DirectWriter(self.transport)
        for i in range(0, len(self.payload), self.chunk):
            chunk = self.payload[i : i + self.chunk]
            if self.pieces:
                # A header and a body, as large message frames are written.
                self.writer.writeSequence([chunk[:30], chunk[30:]])
            else:
                self.writer.write(chunk)
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.lost.callback(None)


class RealSocketTests(TestCase):
    """
    Over real TCP and UNIX sockets, a stream larger than the kernel's
    buffers arrives whole and in order, and a peer's reset is reported as a
    lost connection.
    """

    timeout = 120

    # 4 MB: more than the kernel takes at once, so sends are partial and
    # later writes queue behind them.
    payload = bytes(range(256)) * (4 * 4096)

    async def _roundTrip(
        self, listen: Any, connect: Any, pieces: bool = False
    ) -> None:
        sender = Sender(self.payload, 100_000, pieces)
        port = listen(Factory.forProtocol(lambda: sender))
        self.addCleanup(port.stopListening)
        receiver = Collect()
        factory = ClientFactory.forProtocol(lambda: receiver)
        connect(port.getHost(), factory)
        await receiver.done
        await sender.lost
        self.assertEqual(b"".join(receiver.received), self.payload)
        assert sender.writer is not None
        self.assertGreater(sender.writer.directSends, 0)

    async def test_tcp(self) -> None:
        """
        A TCP connection.
        """
        await self._roundTrip(
            lambda f: reactor.listenTCP(0, f, interface="127.0.0.1"),
            lambda host, f: reactor.connectTCP("127.0.0.1", host.port, f),
        )

    async def test_tcpGathered(self) -> None:
        """
        A TCP connection written in header and body pieces (gathering
        sends).
        """
        await self._roundTrip(
            lambda f: reactor.listenTCP(0, f, interface="127.0.0.1"),
            lambda host, f: reactor.connectTCP("127.0.0.1", host.port, f),
            pieces=True,
        )

    async def test_unix(self) -> None:
        """
        A UNIX socket connection.
        """
        path = self.mktemp()
        await self._roundTrip(
            lambda f: reactor.listenUNIX(path, f),
            lambda host, f: reactor.connectUNIX(path, f),
        )

    async def test_reset(self) -> None:
        """
        A peer that resets the connection: writes after it end in
        C{connectionLost} with a failure, not an exception from C{write}.
        """
        lost: Deferred[None] = Deferred()
        reasons: list[Failure] = []
        writers: list[DirectWriter] = []

        class Writer(Protocol):
            def connectionMade(self) -> None:
                assert self.transport is not None
                writers.append(DirectWriter(self.transport))

            def dataReceived(self, data: bytes) -> None:
                # The client is about to reset: keep writing into it.
                for _ in range(50):
                    writers[0].write(b"x" * 1000)

            def connectionLost(self, reason: Failure = connectionDone) -> None:
                reasons.append(reason)
                lost.callback(None)

        port = reactor.listenTCP(0, Factory.forProtocol(Writer), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        client = socket.create_connection(("127.0.0.1", port.getHost().port))
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.sendall(b"go")
        client.close()
        await lost
        self.assertIsInstance(reasons[0], Failure)
        # Written after the reset, and never raising.
        for _ in range(10):
            writers[0].write(b"y" * 1000)
