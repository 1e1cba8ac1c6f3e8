"""
Tests for L{txnsq.nsqd._pump}: a client as its channel's consumer and its
transport's producer.
"""

from __future__ import annotations

from zope.interface.verify import verifyObject

from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.nsqd.test_output import CallsTransport, Scheduler, message
from txnsq.nsqd._clientv2 import STATE_SUBSCRIBED, ClientV2
from txnsq.nsqd._output import ClientOutput
from txnsq.nsqd._pump import MessagePump
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.state import REQUEUED, TIMED_OUT, Broker


class MessagePumpTests(SynchronousTestCase):
    """
    L{MessagePump} offers the channel the client's spare RDY, counts what
    happens to its messages, and stops taking messages while paused.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.client = ClientV2.connected(NSQDConfig(), "10.0.0.1", 1, 0)
        self.scheduler = Scheduler()
        self.transport = CallsTransport()
        self.output = ClientOutput(self.client, self.scheduler, self.transport)
        self.closed: list[None] = []
        self.pump = MessagePump(self.client, self.output, self.clock, self)

    def channelClosed(self) -> None:
        """
        The pump's connection (L{PumpOwner}) is told the channel closed.
        """
        self.closed.append(None)

    def test_interfaces(self) -> None:
        """
        It is a push producer.
        """
        self.assertTrue(verifyObject(IPushProducer, self.pump))

    def test_capacity(self) -> None:
        """
        Capacity is RDY less what is in flight, once subscribed; nothing
        while paused or closing.
        """
        self.client.readyCount = 3
        self.assertEqual(self.pump.capacity(), 0)
        self.client.state = STATE_SUBSCRIBED
        self.assertEqual(self.pump.capacity(), 3)
        self.pump.sendMessages([message(b"a"), message(b"b")])
        self.assertEqual(self.pump.capacity(), 1)
        self.pump.pauseProducing()
        self.assertEqual(self.pump.capacity(), 0)
        self.pump.resumeProducing()
        self.assertEqual(self.pump.capacity(), 1)
        self.pump.stopProducing()
        self.assertEqual(self.pump.capacity(), 0)
        self.pump.resumeProducing()
        self.output.closed = True
        self.assertEqual(self.pump.capacity(), 0)

    def test_counters(self) -> None:
        """
        Deliveries, FINs, requeues, timeouts and an emptied channel are
        counted in the client's state, as Go counts them.
        """
        client = self.client
        self.pump.sendMessages([message(b"a"), message(b"b"), message(b"c")])
        self.assertEqual((client.inFlightCount, client.messageCount), (3, 3))
        self.assertEqual(self.scheduler.dirty, [self.output])
        self.pump.messagesFinished([message(b"a")])
        self.assertEqual((client.inFlightCount, client.finishCount), (2, 1))
        self.pump.messageDone(message(b"b"), REQUEUED)
        self.pump.messageDone(message(b"c"), TIMED_OUT)
        self.assertEqual((client.inFlightCount, client.requeueCount), (0, 1))
        self.pump.sendMessages([message(b"d")])
        self.pump.inFlightReset()
        self.assertEqual(client.inFlightCount, 0)

    def test_settings(self) -> None:
        """
        The channel reads (and may set) the client's message timeout and
        sample rate.
        """
        self.client.msgTimeout = 5.0
        self.client.sampleRate = 20
        self.assertEqual((self.pump.msgTimeout, self.pump.sampleRate), (5.0, 20))
        self.pump.msgTimeout = 6.0
        self.pump.sampleRate = 30
        self.assertEqual((self.client.msgTimeout, self.client.sampleRate), (6.0, 30))

    def test_channelClosed(self) -> None:
        """
        A deleted channel is forgotten and the connection told to close.
        """
        self.pump.channel = Broker(NSQDConfig()).getChannel("t", "c", 0)
        self.pump.channelClosed()
        self.assertIsNone(self.pump.channel)
        self.assertEqual(self.closed, [None])

    def test_resumeDelivers(self) -> None:
        """
        Messages that waited while the transport was full are delivered as
        soon as it drains.
        """
        broker = Broker(NSQDConfig())
        channel = broker.getChannel("t", "c", 0)
        channel.addConsumer(self.pump)
        self.pump.channel = channel
        self.client.state = STATE_SUBSCRIBED
        self.client.readyCount = 5
        self.pump.pauseProducing()
        broker.publish("t", [b"a", b"b"], 0)
        self.assertEqual((channel.depth(), self.client.inFlightCount), (2, 0))
        self.pump.resumeProducing()
        self.assertEqual((channel.depth(), self.client.inFlightCount), (0, 2))
        self.output.flush()
        self.assertEqual([len(c) for c in self.transport.calls], [2])
