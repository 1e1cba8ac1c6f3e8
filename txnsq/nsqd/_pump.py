# -*- test-case-name: tests.nsqd.test_pump -*-
"""
Delivery to one client: the broker's consumer and the transport's
producer.

Go gives each client a C{messagePump} goroutine that takes messages from
its channel while the client is ready, and a C{Consumer} interface the
channel calls back.  L{MessagePump} is both, without the goroutine: the
channel offers it messages up to the client's RDY less those in flight,
and it is the transport's streaming producer, so a client whose socket
backs up (Twisted pauses the producer when the transport's buffer fills) is
offered nothing until it drains, instead of growing nsqd's memory.
"""

from __future__ import annotations

from typing import Protocol

from zope.interface import implementer

from twisted.internet.interfaces import IConsumer, IPushProducer, IReactorTime

from txnsq.nsqd._clientv2 import STATE_SUBSCRIBED, ClientV2
from txnsq.nsqd._output import ClientOutput
from txnsq.nsqd.state import REQUEUED, Channel, ChannelError, Message

__all__ = ["MessagePump", "PumpOwner"]


class PumpOwner(Protocol):
    """
    The connection a pump delivers to.
    """

    def channelClosed(self) -> None:
        """
        The broker deleted the channel (or shuts down): the connection must
        close.
        """


@implementer(IPushProducer)
class MessagePump:
    """
    One client as its channel's consumer (L{txnsq.nsqd.state.Consumer}).

    @ivar client: the client's state (RDY, counters, timeouts).
    @ivar channel: the channel subscribed to, once SUB succeeded.
    """

    __slots__ = (
        "_clock",
        "_connection",
        "_output",
        "_paused",
        "_registered",
        "channel",
        "client",
    )

    def __init__(
        self,
        client: ClientV2,
        output: ClientOutput,
        clock: IReactorTime,
        connection: PumpOwner,
    ) -> None:
        """
        @param connection: told when the broker deletes the channel (or
            shuts down); the pump keeps it rather than a bound method of it,
            which would cost 64 bytes a connection.
        """
        self.client = client
        self.channel: Channel | None = None
        self._output = output
        self._clock = clock
        self._connection = connection
        self._paused = False
        self._registered = False

    # What the channel reads of the client.

    @property
    def msgTimeout(self) -> float:
        """
        How long a message delivered to this client stays in flight.
        """
        return self.client.msgTimeout

    @msgTimeout.setter
    def msgTimeout(self, value: float) -> None:
        self.client.msgTimeout = value

    @property
    def sampleRate(self) -> int:
        """
        The percentage of messages kept (0: all).
        """
        return self.client.sampleRate

    @sampleRate.setter
    def sampleRate(self, value: int) -> None:
        self.client.sampleRate = value

    # Consumer.

    def capacity(self) -> int:
        """
        How many more messages the client may take now.
        """
        client = self.client
        if self._paused or self._output.closed or client.state != STATE_SUBSCRIBED:
            return 0
        return client.readyCount - client.inFlightCount

    def sendMessages(self, messages: list[Message]) -> None:
        """
        Deliver C{messages}: buffered in the output, written by the end of
        the reactor turn.
        """
        client = self.client
        count = len(messages)
        client.inFlightCount += count
        client.messageCount += count
        self._output.writeMessages(messages)

    def messagesFinished(self, messages: list[Message]) -> None:
        """
        The client FINished C{messages}.
        """
        client = self.client
        count = len(messages)
        client.inFlightCount = max(0, client.inFlightCount - count)
        client.finishCount += count

    def messageDone(self, message: Message, outcome: int) -> None:
        """
        One message left flight otherwise (requeued or timed out).
        """
        client = self.client
        if client.inFlightCount:
            client.inFlightCount -= 1
        if outcome == REQUEUED:
            client.requeueCount += 1

    def inFlightReset(self) -> None:
        """
        The channel was emptied: nothing is in flight any more.
        """
        self.client.inFlightCount = 0

    def channelClosed(self) -> None:
        """
        The channel was deleted (or nsqd is exiting).
        """
        self.channel = None
        self._connection.channelClosed()

    # What the client's commands do to its messages.

    def finish(self, messageIDs: list[bytes], now: float) -> list[tuple[bytes, str]]:
        """
        FIN messages (a run of them at once).

        @return: each message that could not be finished and Go's reason,
            in order.
        """
        channel = self.channel
        if channel is None:
            return [(messageID, "ID not in flight") for messageID in messageIDs]
        return channel.finishMany(self, messageIDs, now)

    def requeue(self, messageID: bytes, delay: float, now: float) -> None:
        """
        REQ a message, to be delivered again after C{delay} seconds.

        @raise ChannelError: it is not in flight for this client.
        """
        if self.channel is None:
            raise ChannelError("ID not in flight")
        self.channel.requeue(self, messageID, delay, now)

    def touch(self, messageID: bytes, now: float) -> None:
        """
        TOUCH a message: its timeout starts again.

        @raise ChannelError: it is not in flight for this client.
        """
        if self.channel is None:
            raise ChannelError("ID not in flight")
        self.channel.touch(self, messageID, now)

    # IPushProducer: the transport's buffer decides whether we may send.

    def registerWith(self, consumer: IConsumer) -> None:
        """
        Become C{consumer}'s streaming producer, unless already done (the
        connection does it once the client may take messages).
        """
        if not self._registered:
            self._registered = True
            consumer.registerProducer(self, True)

    def pauseProducing(self) -> None:
        """
        The transport's buffer is full: offer nothing more.
        """
        self._paused = True

    def resumeProducing(self) -> None:
        """
        The transport drained: deliver what waits.
        """
        self._paused = False
        channel = self.channel
        if channel is not None and not self._output.closed:
            channel.pump(self._clock.seconds())

    def stopProducing(self) -> None:
        """
        The connection is going: offer nothing more.
        """
        self._paused = True
