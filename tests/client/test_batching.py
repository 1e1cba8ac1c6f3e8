"""
Tests for the consuming fast path: the commands a read's messages cause are
written together at the end of the read (L{NSQClientProtocol.flush}),
without overtaking or delaying anything else, and a consumer whose handler
returns L{None} answers a read's messages with one write.
"""

from __future__ import annotations

from random import Random
from typing import Any

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from tests.client.test_protocol import RecordingDelegate
from txnsq.client import Consumer, Message, NSQClientProtocol
from txnsq.client.protocol import MAGIC_V2
from txnsq.wire.frames import encodeFrame, encodeMessageFrame, encodeResponse
from txnsq.wire.message import MESSAGE_HEADER_SIZE


def messageID(index: int) -> bytes:
    """
    A 16-byte message id for C{index}.
    """
    return b"%016x" % (index,)


def messageFrames(count: int, start: int = 0) -> bytes:
    """
    C{count} message frames, ids from C{start}.
    """
    return b"".join(
        encodeMessageFrame(1, 1, messageID(i), b"body %d" % (i,))
        for i in range(start, start + count)
    )


class CountingTransport(StringTransport):
    """
    A L{StringTransport} that keeps every write apart.
    """

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        super().write(data)


class FinishingDelegate(RecordingDelegate):
    """
    A delegate that FINs every message as it arrives, as a consumer with a
    synchronous handler does.
    """

    def messageReceived(
        self,
        connection: NSQClientProtocol,
        timestamp: int,
        attempts: int,
        messageID: bytes,
        body: bytes,
    ) -> None:
        super().messageReceived(connection, timestamp, attempts, messageID, body)
        connection.finish(messageID)


def connected(
    delegate: RecordingDelegate,
) -> tuple[NSQClientProtocol, CountingTransport]:
    """
    A protocol on a L{CountingTransport}, the magic written and forgotten.
    """
    protocol = NSQClientProtocol(Clock(), delegate)
    transport = CountingTransport()
    protocol.makeConnection(transport)
    assert transport.writes == [MAGIC_V2]
    transport.clear()
    del transport.writes[:]
    return protocol, transport


def fins(*indexes: int) -> bytes:
    """
    The FIN commands for messages C{indexes}.
    """
    return b"".join(b"FIN " + messageID(i) + b"\n" for i in indexes)


class ProtocolBatchingTests(SynchronousTestCase):
    """
    L{NSQClientProtocol} collects what message handling writes and writes
    it once per read.
    """

    def test_oneWritePerRead(self) -> None:
        """
        N messages in one read, each FINed while it is handled: one write of
        the N FINs, in delivery order.
        """
        protocol, transport = connected(FinishingDelegate())
        protocol.dataReceived(messageFrames(100))
        self.assertEqual(transport.writes, [fins(*range(100))])

    def test_oneWritePerReadWhenSplit(self) -> None:
        """
        Messages split across reads: each read writes the FINs of the
        messages it completed, once.
        """
        delegate = FinishingDelegate()
        protocol, transport = connected(delegate)
        stream = messageFrames(10)
        cut = len(stream) // 2 + 3
        protocol.dataReceived(stream[:cut])
        protocol.dataReceived(stream[cut:])
        self.assertEqual(len(transport.writes), 2)
        self.assertEqual(b"".join(transport.writes), fins(*range(10)))
        self.assertEqual(
            [m[2] for m in delegate.messages], [messageID(i) for i in range(10)]
        )

    def test_nothingWrittenForIncompleteRead(self) -> None:
        """
        A read completing no frame writes nothing.
        """
        protocol, transport = connected(FinishingDelegate())
        protocol.dataReceived(messageFrames(1)[:20])
        self.assertEqual(transport.writes, [])

    def test_outsideAReadWritesAtOnce(self) -> None:
        """
        Commands sent outside a read (a handler finishing later) are written
        at once.
        """
        protocol, transport = connected(RecordingDelegate())
        protocol.dataReceived(messageFrames(2))
        self.assertEqual(transport.writes, [])
        self.assertTrue(protocol.finish(messageID(0)))
        self.assertEqual(transport.writes, [fins(0)])
        protocol.ready(5)
        self.assertEqual(transport.writes, [fins(0), b"RDY 5\n"])

    def test_answersNotOvertaken(self) -> None:
        """
        A response in the middle of a read flushes what came before it, and
        what its callbacks write (the heartbeat's NOP) goes out directly,
        in order, before the FINs of the messages after it.
        """
        protocol, transport = connected(FinishingDelegate())
        protocol.dataReceived(
            messageFrames(2) + encodeResponse(b"_heartbeat_") + messageFrames(2, 2)
        )
        self.assertEqual(transport.writes, [fins(0, 1), b"NOP\n", fins(2, 3)])

    def test_publishAnsweredInTheSameRead(self) -> None:
        """
        A publish answered in a read that also delivers messages fires, and
        the FINs are written.
        """
        protocol, transport = connected(FinishingDelegate())
        published = protocol.publish("t", b"x")
        del transport.writes[:]
        protocol.dataReceived(
            messageFrames(1) + encodeResponse(b"OK") + messageFrames(1, 1)
        )
        self.successResultOf(published)
        self.assertEqual(b"".join(transport.writes), fins(0, 1))

    def test_closingFlushes(self) -> None:
        """
        A handler that closes the connection after answering: the collected
        FINs are written before the transport closes.
        """

        class Closing(FinishingDelegate):
            def messageReceived(
                self,
                connection: NSQClientProtocol,
                timestamp: int,
                attempts: int,
                messageID: bytes,
                body: bytes,
            ) -> None:
                super().messageReceived(
                    connection, timestamp, attempts, messageID, body
                )
                if len(self.messages) == 3:
                    connection.loseConnection()

        protocol, transport = connected(Closing())
        protocol.dataReceived(messageFrames(3))
        self.assertEqual(transport.writes, [fins(0, 1, 2)])
        self.assertTrue(transport.disconnecting)

    def test_lostDiscardsOutbox(self) -> None:
        """
        Once the connection is lost nothing more is written or collected,
        and a later read-time FIN reports it was not sent.
        """
        protocol, transport = connected(RecordingDelegate())
        protocol.connectionLost()
        self.assertFalse(protocol.finish(messageID(0)))
        self.assertEqual(transport.writes, [])

    def test_reentrantRead(self) -> None:
        """
        Bytes delivered from inside a delegate (a transport delivering
        synchronously) are decoded after the current read, in order.
        """
        later = messageFrames(2, 2)

        class Reentering(FinishingDelegate):
            def messageReceived(
                self,
                connection: NSQClientProtocol,
                timestamp: int,
                attempts: int,
                messageID: bytes,
                body: bytes,
            ) -> None:
                super().messageReceived(
                    connection, timestamp, attempts, messageID, body
                )
                if len(self.messages) == 1:
                    connection.dataReceived(later)

        delegate = Reentering()
        protocol, transport = connected(delegate)
        protocol.dataReceived(messageFrames(2))
        self.assertEqual(
            [m[2] for m in delegate.messages], [messageID(i) for i in range(4)]
        )
        self.assertEqual(transport.writes, [fins(0, 1, 2, 3)])

    def test_shortMessageFrame(self) -> None:
        """
        A message frame shorter than a message header drops the connection,
        delivering nothing.
        """
        delegate = FinishingDelegate()
        protocol, transport = connected(delegate)
        protocol.dataReceived(encodeFrame(2, b"x" * (MESSAGE_HEADER_SIZE - 1)))
        self.assertEqual(delegate.messages, [])
        self.assertTrue(transport.disconnecting)

    def test_largeFrameInManyReads(self) -> None:
        """
        A frame arriving in many small reads is delivered once, whole, and
        its FIN is written by the read that completed it; a read that
        completes a frame and starts the next keeps the start.
        """
        delegate = FinishingDelegate()
        protocol, transport = connected(delegate)
        body = bytes(range(256)) * 4096
        stream = encodeMessageFrame(5, 1, messageID(0), body) + messageFrames(1, 1)
        cut = len(stream) - 10
        for i in range(0, cut, 1000):
            protocol.dataReceived(stream[i : min(i + 1000, cut)])
        self.assertEqual(delegate.messages, [(5, 1, messageID(0), body)])
        self.assertEqual(transport.writes, [fins(0)])
        protocol.dataReceived(stream[cut:])
        self.assertEqual(len(delegate.messages), 2)
        self.assertEqual(transport.writes, [fins(0), fins(1)])

    def test_emptyBody(self) -> None:
        """
        A message frame with just a header is a message with an empty body.
        """
        delegate = RecordingDelegate()
        protocol, _ = connected(delegate)
        protocol.dataReceived(encodeMessageFrame(7, 3, messageID(1), b""))
        self.assertEqual(delegate.messages, [(7, 3, messageID(1), b"")])


class _Link:
    """
    What a consumer needs of a link: its address.
    """

    address = "127.0.0.1:4150"


class ConsumerBatchingTests(SynchronousTestCase):
    """
    A L{Consumer} answers the messages of one read with one write.
    """

    def subscribed(self, handler: Any) -> tuple[Consumer, CountingTransport]:
        """
        A consumer with one subscribed connection on a transport.
        """
        clock = Clock()
        consumer = Consumer(
            "t",
            "c",
            handler,
            nsqdAddresses=["127.0.0.1:4150"],
            reactor=clock,
            maxInFlight=1000,
            random=Random(1),
        )
        protocol = NSQClientProtocol(clock, consumer)
        transport = CountingTransport()
        protocol.makeConnection(transport)
        consumer.linkReady(_Link(), protocol)  # type: ignore[arg-type]
        self.assertEqual(transport.writes[-1], b"RDY 1000\n")
        del transport.writes[:]
        self.protocol = protocol
        return consumer, transport

    def test_handlerReturningNone(self) -> None:
        """
        N messages in one read to a handler that returns L{None}: one write
        of N FINs; nothing stays in flight.
        """
        received: list[Message] = []
        consumer, transport = self.subscribed(received.append)
        self.protocol.dataReceived(messageFrames(250))
        self.assertEqual(len(received), 250)
        self.assertEqual(transport.writes, [fins(*range(250))])
        self.assertEqual(consumer.inFlight, 0)
        self.assertEqual(consumer.messagesFinished, 250)

    def test_mixedAnswers(self) -> None:
        """
        FINs, REQs and TOUCHes of one read share its write, in order; a
        message the handler answered itself is not answered twice.
        """

        def handler(message: Message) -> None:
            index = int(message.id, 16)
            if index == 1:
                message.requeue(0, backoff=False)
            elif index == 2:
                message.touch()
                message.finish()

        consumer, transport = self.subscribed(handler)
        self.protocol.dataReceived(messageFrames(4))
        self.assertEqual(
            transport.writes,
            [
                fins(0)
                + b"REQ "
                + messageID(1)
                + b" 0\n"
                + b"TOUCH "
                + messageID(2)
                + b"\n"
                + fins(2, 3)
            ],
        )
        self.assertEqual(consumer.inFlight, 0)

    def test_failingHandler(self) -> None:
        """
        A handler that raises: the message is requeued in the same write as
        the others' FINs, and backoff lowers RDY after them.
        """

        def handler(message: Message) -> None:
            if message.id == messageID(1):
                raise ValueError("no")

        consumer, transport = self.subscribed(handler)
        self.protocol.dataReceived(messageFrames(3))
        self.assertEqual(len(transport.writes), 1)
        written = transport.writes[0]
        self.assertTrue(written.startswith(fins(0) + b"REQ " + messageID(1) + b" "))
        self.assertIn(b"RDY 0\n", written)
        self.assertEqual(consumer.backoffLevel, 1)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_disabledAutoResponse(self) -> None:
        """
        A handler that returns L{None} after disabling the automatic answer
        leaves its message in flight, unanswered.
        """
        kept: list[Message] = []

        def handler(message: Message) -> None:
            message.disableAutoResponse()
            kept.append(message)

        consumer, transport = self.subscribed(handler)
        self.protocol.dataReceived(messageFrames(2))
        self.assertEqual(transport.writes, [])
        self.assertEqual(consumer.inFlight, 2)
        kept[1].finish()
        self.assertEqual(transport.writes, [fins(1)])
        self.assertEqual(consumer.inFlight, 1)
