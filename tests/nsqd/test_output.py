"""
Tests for L{txnsq.nsqd._output}: a client's frames, coalesced.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqd._clientv2 import ClientV2
from txnsq.nsqd._output import SEPARATE_BODY, ClientOutput
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.state import Message
from txnsq.wire.compression import DeflateDecoder, DeflateEncoder
from txnsq.wire.frames import (
    FRAME_TYPE_MESSAGE,
    RESPONSE_OK,
    FrameDecoder,
    encodeMessageFrame,
)


class CallsTransport(StringTransport):
    """
    A L{StringTransport} that remembers each C{write} and C{writeSequence}
    call.

    @ivar calls: one list of byte strings per call.
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[bytes]] = []

    def write(self, data: bytes) -> None:
        self.calls.append([data])
        super().write(data)

    def writeSequence(self, data: Sequence[bytes]) -> None:
        self.calls.append(list(data))
        super().writeSequence(data)


class Scheduler:
    """
    Records what L{ClientOutput} asks of the factory.
    """

    def __init__(self) -> None:
        self.dirty: list[ClientOutput] = []
        self.clean: list[ClientOutput] = []
        self.reading = 0

    def markDirty(self, output: ClientOutput) -> None:
        self.dirty.append(output)

    def markClean(self, output: ClientOutput) -> None:
        self.clean.append(output)


def message(body: bytes, attempts: int = 1) -> Message:
    """
    A message as the channel hands it over.
    """
    return Message(b"0123456789abcdef", body, 1_000_000_000, attempts)


class ClientOutputTests(SynchronousTestCase):
    """
    L{ClientOutput} writes responses at once and message frames in batches.
    """

    def setUp(self) -> None:
        self.client = ClientV2.connected(NSQDConfig(), "10.0.0.1", 1, 0)
        self.scheduler = Scheduler()
        self.transport = CallsTransport()
        self.output = ClientOutput(self.client, self.scheduler, self.transport)

    def test_response(self) -> None:
        """
        A response with nothing buffered is written at once, alone.
        """
        self.output.writeFrame(RESPONSE_OK)
        self.assertEqual(self.transport.calls, [[RESPONSE_OK]])
        self.assertEqual(self.scheduler.dirty, [])

    def test_messagesBatched(self) -> None:
        """
        Message frames wait, the factory is asked once to flush them, and
        a flush writes them all in one C{writeSequence}, as Go frames them.
        """
        self.output.writeMessages([message(b"a")])
        self.output.writeMessages([message(b"b", 2)])
        self.assertEqual(self.transport.calls, [])
        self.assertEqual(self.scheduler.dirty, [self.output])
        self.output.flush()
        self.assertEqual(
            self.transport.calls,
            [
                [
                    encodeMessageFrame(1_000_000_000, 1, b"0123456789abcdef", b"a"),
                    encodeMessageFrame(1_000_000_000, 2, b"0123456789abcdef", b"b"),
                ]
            ],
        )
        self.assertEqual(self.scheduler.clean, [self.output])

    def test_responseAfterMessages(self) -> None:
        """
        A response goes out in the same write as the message frames that
        wait before it, after them.
        """
        self.output.writeMessages([message(b"a")])
        self.output.writeFrame(RESPONSE_OK)
        [call] = self.transport.calls
        self.assertEqual(len(call), 2)
        self.assertEqual(call[1], RESPONSE_OK)
        frames = list(FrameDecoder().feed(self.transport.value()))
        self.assertEqual([f[0] for f in frames], [FRAME_TYPE_MESSAGE, 0])

    def test_fullBuffer(self) -> None:
        """
        Message frames are written as soon as the client's output buffer
        is full.
        """
        self.client.outputBufferSize = 100
        self.output.writeMessages([message(b"x" * 60)])
        self.assertEqual(self.transport.calls, [])
        self.output.writeMessages([message(b"y" * 10)])
        self.assertEqual([len(c) for c in self.transport.calls], [2])

    def test_largeBodiesApart(self) -> None:
        """
        A large body (L{SEPARATE_BODY} bytes or more) is written as it is,
        after its frame header, never copied into a frame string; in a
        batch of large bodies, a small one is framed whole as usual.  The
        bytes on the wire are the same frames.
        """
        big = b"B" * (2 * SEPARATE_BODY)
        small = b"s"
        self.output.writeMessages([message(big), message(small), message(big, 2)])
        self.output.flush()
        [call] = self.transport.calls
        self.assertEqual(len(call), 5)
        self.assertIs(call[1], big)
        self.assertIs(call[4], big)
        self.assertEqual(
            self.transport.value(),
            encodeMessageFrame(1_000_000_000, 1, b"0123456789abcdef", big)
            + encodeMessageFrame(1_000_000_000, 1, b"0123456789abcdef", small)
            + encodeMessageFrame(1_000_000_000, 2, b"0123456789abcdef", big),
        )

    def test_largeBodiesCompressed(self) -> None:
        """
        On a compressed stream, large bodies are still one compressed block
        of whole frames.
        """
        self.output.encode = DeflateEncoder(6)
        big = bytes(range(256)) * (SEPARATE_BODY // 256)
        self.output.writeMessages([message(big), message(b"b")])
        self.output.flush()
        [[block]] = self.transport.calls
        frames = list(FrameDecoder().feed(DeflateDecoder()(block)))
        self.assertEqual([f[1][26:] for f in frames], [big, b"b"])

    def test_compressedBatch(self) -> None:
        """
        On a compressed stream, a batch is one compressed block.
        """
        self.output.encode = DeflateEncoder(6)
        self.output.writeMessages([message(b"a"), message(b"b")])
        self.output.flush()
        [[block]] = self.transport.calls
        frames = list(FrameDecoder().feed(DeflateDecoder()(block)))
        self.assertEqual([f[1][26:] for f in frames], [b"a", b"b"])

    def test_closed(self) -> None:
        """
        Once closed, nothing more is written.
        """
        self.output.writeMessages([message(b"a")])
        self.output.closed = True
        self.output.writeFrame(RESPONSE_OK)
        self.output.flush()
        self.assertEqual(self.transport.calls, [])

    def test_discard(self) -> None:
        """
        When the connection is gone, what waits is dropped and the factory
        told there is nothing to flush.
        """
        self.output.writeMessages([message(b"a")])
        self.output.discard()
        self.output.flush()
        self.assertEqual(self.transport.calls, [])
        self.assertIn(self.output, self.scheduler.clean)

    def test_close(self) -> None:
        """
        L{ClientOutput.close} writes what waits, then nothing more.
        """
        self.output.writeMessages([message(b"a")])
        self.output.close()
        self.output.writeFrame(RESPONSE_OK)
        self.output.flush()
        self.assertEqual([len(c) for c in self.transport.calls], [1])
        self.assertTrue(self.output.closed)


class ReadingTests(SynchronousTestCase):
    """
    While the factory handles what a client sent, responses wait for its
    flush, so pipelined commands are answered with one write.
    """

    def setUp(self) -> None:
        self.client = ClientV2.connected(NSQDConfig(), "10.0.0.1", 1, 0)
        self.scheduler = Scheduler()
        self.scheduler.reading = 1
        self.transport = CallsTransport()
        self.output = ClientOutput(self.client, self.scheduler, self.transport)

    def test_responsesWait(self) -> None:
        """
        Responses written during a read wait; the factory is asked once to
        flush them, and one write carries them all, in order, after the
        message frames written before them.
        """
        self.output.writeMessages([message(b"a")])
        self.output.writeFrame(RESPONSE_OK)
        self.output.writeFrame(b"second")
        self.assertEqual(self.transport.calls, [])
        self.assertEqual(self.scheduler.dirty, [self.output])
        self.output.flush()
        [call] = self.transport.calls
        self.assertEqual(call[1:], [RESPONSE_OK, b"second"])

    def test_closeWritesThem(self) -> None:
        """
        An error answered during a read, then the connection closed, is
        still written: closing flushes.
        """
        self.output.writeFrame(b"E_BAD")
        self.output.close()
        self.assertEqual(self.transport.calls, [[b"E_BAD"]])

    def test_compressedTogether(self) -> None:
        """
        On a compressed stream, what waits is one compressed block.
        """
        self.output.encode = DeflateEncoder(6)
        self.output.writeMessages([message(b"a")])
        self.output.writeFrame(RESPONSE_OK)
        self.output.flush()
        [[block]] = self.transport.calls
        frames = list(FrameDecoder().feed(DeflateDecoder()(block)))
        self.assertEqual([f[0] for f in frames], [FRAME_TYPE_MESSAGE, 0])
