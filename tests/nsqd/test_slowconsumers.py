"""
Slow and stuck consumers cannot grow nsqd's memory without bound: a client
that stops reading its socket is offered nothing more once its transport's
buffer is full (back-pressure through the message pump, an
C{IPushProducer}), so what it was not sent stays in the channel, which
spills to the disk queue past C{--mem-queue-size}; a client that never
FINs holds at most its RDY count in flight, and C{--msg-timeout} requeues
them (issue 17, item 5).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from tests._services import startNSQD
from txnsq.nsqd.service import NSQDService
from txnsq.nsqd.state import Channel
from txnsq.wire.commands import encodeCommand, encodeIdentify, encodeMPub
from txnsq.wire.frames import FRAME_TYPE_MESSAGE, FRAME_TYPE_RESPONSE
from txnsq.wire.message import decodeMessage

from ._realserver import FrameClient, reactor

OK = (FRAME_TYPE_RESPONSE, b"OK")


async def waitFor(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """
    Wait until C{condition()} holds, checking every 10 ms.

    @return: whether it held within C{timeout} seconds.
    """
    deadline = reactor.seconds() + timeout
    while not condition():
        if reactor.seconds() > deadline:
            return False
        await deferLater(reactor, 0.01)
    return True


async def connect(testCase: TestCase, port: int) -> FrameClient:
    """
    A V2 frame client connected to nsqd's TCP C{port}, closed at the end.
    """
    client = FrameClient()
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), client)
    testCase.addCleanup(client.close)
    client.send(b"  V2")
    return client


def channelOf(nsqd: NSQDService, topic: str, channel: str) -> Channel | None:
    """
    The channel, once some client created it.
    """
    t = nsqd.broker.topics.get(topic)
    return None if t is None else t.channels.get(channel)


def serverBuffered(nsqd: NSQDService) -> list[int]:
    """
    For each subscribed connection, the bytes nsqd holds for it in memory:
    frames not yet handed to the transport plus the transport's own
    buffers (Twisted's C{dataBuffer} and C{_tempDataBuffer}).
    """
    sizes = []
    for protocol in nsqd.factory.connections:
        proto: Any = protocol
        transport: Any = proto.transport
        size = proto._output._pendingBytes
        size += len(transport.dataBuffer) - transport.offset
        size += transport._tempDataLen
        sizes.append(size)
    return sizes


class StuckReaderTests(TestCase):
    """
    A consumer with a high RDY that never reads its socket.
    """

    timeout = 30

    async def test_stuckReaderBoundedAndSpillsToDisk(self) -> None:
        """
        While 50,000 1 KB messages are published to a topic whose one
        channel's only consumer (RDY 2500) never reads its socket, nsqd's
        buffered output for that connection stays under 4 MB (RDY x message
        size plus Twisted's 64 KB high-water mark, not the 50 MB published),
        publishing keeps being answered C{OK}, and the channel's messages
        beyond C{--mem-queue-size} go to its disk queue.
        """
        nsqd, port = await startNSQD(self, mem_queue_size=1000)
        stuck = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(stuck.close)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # The kernel completes the handshake from the listen backlog, and
        # the few handshake bytes fit its buffers: neither call blocks.
        stuck.connect(("127.0.0.1", port))
        handshake = (
            b"  V2"
            + encodeIdentify({"client_id": "stuck"})
            + encodeCommand(b"SUB", b"t", b"c")
            + encodeCommand(b"RDY", b"2500")
        )
        stuck.sendall(handshake)
        self.assertTrue(
            await waitFor(
                lambda: (
                    channelOf(nsqd, "t", "c") is not None
                    and len(nsqd.factory.connections) == 1
                )
            )
        )
        channel = channelOf(nsqd, "t", "c")
        assert channel is not None

        producer = await connect(self, port)
        body = b"x" * 1024
        peak = 0
        batches, perBatch = 500, 100
        for _ in range(batches):
            producer.send(encodeMPub(b"t", [body] * perBatch))
            self.assertEqual(await producer.frame(), OK)
            peak = max([peak, *serverBuffered(nsqd)])
        total = batches * perBatch
        self.assertLess(peak, 4 * 1024 * 1024)
        # What the stuck client was not sent waits in the channel, mostly on
        # disk: memory holds at most --mem-queue-size.
        self.assertGreaterEqual(len(channel.inFlight), 1)
        self.assertLessEqual(len(channel.inFlight), 2500)
        self.assertEqual(channel.depth() + len(channel.inFlight), total)
        self.assertGreaterEqual(channel.backendDepth(), total - 1000 - 2500)
        self.assertLessEqual(channel.depth() - channel.backendDepth(), 1000)


class NonFinishingConsumerTests(TestCase):
    """
    A consumer that reads its messages and never FINs them.
    """

    timeout = 20

    async def test_rdyLimitsAndTimeoutRequeues(self) -> None:
        """
        A consumer with RDY 5 that never FINs is sent exactly 5 messages of
        the 200 published (nsqd holds at most RDY in flight for it); only
        after C{--msg-timeout} requeued them (the channel counts the
        timeouts, and they are queued again, nothing lost) is it sent 5
        more.
        """
        nsqd, port = await startNSQD(self, msg_timeout=0.5, queue_scan_interval=0.05)
        consumer = await connect(self, port)
        consumer.send(encodeIdentify({"client_id": "lazy"}))
        self.assertEqual((await consumer.frame() or (0, b""))[0], FRAME_TYPE_RESPONSE)
        consumer.send(encodeCommand(b"SUB", b"t", b"c"))
        self.assertEqual(await consumer.frame(), OK)
        consumer.send(encodeCommand(b"RDY", b"5"))
        producer = await connect(self, port)
        producer.send(encodeMPub(b"t", [b"m%d" % i for i in range(200)]))
        self.assertEqual(await producer.frame(), OK)

        first = await consumer.frames(5)
        self.assertEqual([f[0] for f in first], [FRAME_TYPE_MESSAGE] * 5)
        firstIDs = {decodeMessage(f[1])[2] for f in first}
        channel = channelOf(nsqd, "t", "c")
        assert channel is not None
        self.assertEqual(len(channel.inFlight), 5)
        self.assertEqual(channel.depth(), 195)

        # Nothing more until the timeouts: the next 5 frames come once the
        # first 5 timed out (requeued at the back of the channel, so they
        # are 5 other messages).
        again = await consumer.frames(5)
        self.assertEqual([f[0] for f in again], [FRAME_TYPE_MESSAGE] * 5)
        self.assertGreaterEqual(channel.timeoutCount, 5)
        self.assertTrue(firstIDs.isdisjoint(decodeMessage(f[1])[2] for f in again))
        self.assertLessEqual(len(channel.inFlight), 5)
        self.assertEqual(channel.depth() + len(channel.inFlight), 200)
