"""
What the broker needs from a subscribed connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from txnsq.nsqd.state.message import Message


class Consumer(Protocol):
    """
    A subscriber of a channel, as the broker sees it.  The TCP protocol
    implements it; tests use fakes.

    @ivar msgTimeout: this consumer's in-flight timeout in seconds.
    @ivar sampleRate: 0 (off) or 1..99, the percentage of messages kept.
    """

    msgTimeout: float
    sampleRate: int

    def capacity(self) -> int:
        """
        How many more messages it may take now (RDY minus in flight, 0 when
        its output is backed up).
        """

    def sendMessages(self, messages: list[Message]) -> None:
        """
        Deliver messages (their attempts already incremented), in order.
        """

    def messagesFinished(self, messages: list[Message]) -> None:
        """
        Some of its in-flight messages were FINished.
        """

    def messageDone(self, message: Message, outcome: int) -> None:
        """
        One of its in-flight messages left flight otherwise: L{REQUEUED} or
        L{TIMED_OUT}.
        """

    def inFlightReset(self) -> None:
        """
        The channel was emptied: nothing of it is in flight any more.
        """

    def channelClosed(self) -> None:
        """
        The channel was deleted (or nsqd is exiting): disconnect.
        """


FINISHED = 0
REQUEUED = 1
TIMED_OUT = 2
