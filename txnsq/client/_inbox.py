# -*- test-case-name: tests.client.test_async -*-
"""
What C{async for message in consumer.messages()} runs on: the consumer's
L{Inbox} of delivered messages no loop has taken yet, and the
L{MessageStream} each loop iterates.

There is no buffer of its own to bound: every message in the inbox is in
flight (delivered, not yet answered), and nsqd never has more messages in
flight to a consumer than the RDY it was given, whose sum over the
connections never exceeds C{maxInFlight}.  A loop that does not ask for the
next message therefore stops delivery once C{maxInFlight} messages are
waiting for it: back-pressure through RDY.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from twisted.internet.defer import Deferred

from txnsq.client._message import Message

__all__ = ["Inbox", "MessageStream"]


class _Ready:
    """
    An awaitable that is already done (with a message taken from the inbox):
    awaiting it never suspends, under Twisted's coroutines as under asyncio's
    tasks.
    """

    __slots__ = ("_message",)

    def __init__(self, message: Message) -> None:
        self._message = message

    def __await__(self) -> Generator[Any, Any, Message]:
        return self._message
        yield  # type: ignore[unreachable]  # a generator that returns at once


class Inbox:
    """
    Delivered messages waiting for a loop, and the loops waiting for a
    message.

    @ivar closed: whether the consumer stopped (no message will be added;
        waiting loops have ended).
    """

    def __init__(
        self,
        isLive: Callable[[Message], bool],
        discard: Callable[[Message], None],
    ) -> None:
        """
        @param isLive: whether a message's connection is still open (a
            message whose connection ended is never handed to a loop: it
            cannot be answered, and nsqd delivers it again after its
            message timeout).
        @param discard: forget such a message (the consumer stops counting
            it as in flight).
        """
        self._isLive = isLive
        self._discard = discard
        self._messages: deque[Message] = deque()
        self._waiting: deque[Deferred[Message]] = deque()
        #: The loops whose body holds a message (kept here, so that they can
        #: be answered after the loop is gone: C{break} drops the iterator).
        self.holding: set[MessageStream] = set()
        self.closed = False

    def __len__(self) -> int:
        return len(self._messages)

    def put(self, message: Message) -> None:
        """
        A message was delivered: hand it to the loop waiting longest, or
        keep it until a loop asks.
        """
        waiting = self._waiting
        while waiting:
            waiter = waiting.popleft()
            if not waiter.called:
                waiter.callback(message)
                return
        self._messages.append(message)

    def take(self) -> Message | None:
        """
        The oldest waiting message whose connection is still open, if any.
        """
        messages = self._messages
        while messages:
            message = messages.popleft()
            if self._isLive(message):
                return message
            self._discard(message)
        return None

    def wait(self) -> Deferred[Message]:
        """
        A future for the next message, failing with C{StopAsyncIteration}
        when the consumer stops first.
        """
        waiter: Deferred[Message] = Deferred(self._cancelled)
        self._waiting.append(waiter)
        return waiter

    def _cancelled(self, waiter: Deferred[Message]) -> None:
        # The loop was cancelled (an asyncio task, a Deferred chain): its
        # place in line goes to the others.
        if waiter in self._waiting:
            self._waiting.remove(waiter)

    def close(self) -> list[Message]:
        """
        The consumer is stopping: end every waiting loop (and every later
        one), and give back the messages no loop took.
        """
        self.closed = True
        waiting, self._waiting = self._waiting, deque()
        for waiter in waiting:
            if not waiter.called:
                waiter.errback(StopAsyncIteration())
        messages = list(self._messages)
        self._messages.clear()
        return messages


def _sameAwaitable(waiter: Deferred[Message]) -> Awaitable[Message]:
    return waiter


class MessageStream:
    """
    One C{async for} loop over a consumer's messages.

    The message the loop body holds is answered when the loop asks for the
    next one: C{FIN}, unless the body already finished or requeued it, or
    called C{message.disableAutoResponse()} (as a handler's message is
    finished when the handler returns).  The loop ends when the consumer
    stops.
    """

    def __init__(
        self,
        inbox: Inbox,
        convert: Callable[[Deferred[Message]], Awaitable[Message]] = _sameAwaitable,
    ) -> None:
        """
        @param convert: turns the future of the next message into what the
            loop awaits (the future itself under Twisted).
        """
        self._inbox = inbox
        self._convert = convert
        #: The message the loop body has and has not moved on from.
        self.held: Message | None = None

    def __aiter__(self) -> MessageStream:
        return self

    def __anext__(self) -> Awaitable[Message]:
        self.release(failed=False)
        inbox = self._inbox
        message = inbox.take()
        if message is not None:
            self._hold(message)
            return _Ready(message)
        if inbox.closed:
            raise StopAsyncIteration()
        return self._convert(inbox.wait().addCallback(self._got))

    def _got(self, message: Message) -> Message:
        self._hold(message)
        return message

    def _hold(self, message: Message) -> None:
        self.held = message
        self._inbox.holding.add(self)

    def release(self, failed: bool) -> None:
        """
        Answer the held message unless it was answered or its automatic
        answer was disabled: C{FIN}, or C{REQ} (as for a failed handler)
        if C{failed}.
        """
        held = self.held
        if held is None:
            return
        self.held = None
        self._inbox.holding.discard(self)
        if held.autoResponse:
            if failed:
                held.requeue()
            else:
                held.finish()
