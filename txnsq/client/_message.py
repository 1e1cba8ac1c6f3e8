# -*- test-case-name: tests.client.test_message -*-
"""
L{Message}: one delivery, with the commands that answer it; and how the
application's handler or give-up hook answers it (L{handle}, L{giveUp}).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import Protocol as TypingProtocol

from twisted.python.failure import Failure

from txnsq.client import _aio

__all__ = ["Handler", "Message", "Responder", "giveUp", "handle"]


class Responder(TypingProtocol):
    """
    What answers a L{Message} on its connection (the consumer).
    """

    def finishMessage(self, message: Message) -> None:
        """
        FIN C{message}.
        """

    def requeueMessage(
        self, message: Message, delayMs: int | None, backoff: bool
    ) -> None:
        """
        REQ C{message}.
        """

    def touchMessage(self, message: Message) -> None:
        """
        TOUCH C{message}.
        """


class Message:
    """
    A message delivered to a L{Consumer <txnsq.client.Consumer>}'s handler.

    The consumer answers it when the handler is done: C{FIN} if the
    handler returned (or its Deferred fired), C{REQ} if it raised (or its
    Deferred failed).  A handler may answer earlier itself with
    L{finish}, L{requeue} or L{touch}; after L{finish} or L{requeue} the
    consumer does nothing more.  L{disableAutoResponse} leaves the answer
    entirely to the application, even after the handler returned.

    @ivar id: the 16-byte message id.
    @ivar body: the payload.
    @ivar timestamp: when nsqd accepted the message, in nanoseconds since
        the epoch.
    @ivar attempts: deliveries so far, this one included.
    @ivar nsqdAddress: the nsqd it came from.
    """

    __slots__ = (
        "_autoResponse",
        "_responded",
        "_responder",
        "attempts",
        "body",
        "connection",
        "id",
        "nsqdAddress",
        "timestamp",
    )

    def __init__(
        self,
        id: bytes,
        body: bytes,
        timestamp: int,
        attempts: int,
        responder: Responder,
        nsqdAddress: str = "",
        connection: object = None,
    ) -> None:
        self.id = id
        self.body = body
        self.timestamp = timestamp
        self.attempts = attempts
        self.nsqdAddress = nsqdAddress
        self.connection = connection
        self._responder = responder
        self._responded = False
        self._autoResponse = True

    def __repr__(self) -> str:
        return (
            f"<Message {self.id.decode('ascii', 'replace')} attempts={self.attempts}"
            f" {len(self.body)} bytes>"
        )

    @property
    def hasResponded(self) -> bool:
        """
        Whether L{finish} or L{requeue} was called.
        """
        return self._responded

    @property
    def autoResponse(self) -> bool:
        """
        Whether the consumer will answer the message when the handler is
        done (see L{disableAutoResponse}).
        """
        return self._autoResponse

    def disableAutoResponse(self) -> None:
        """
        Leave answering to the application: the consumer will neither FIN
        nor REQ this message when the handler completes.  Until it is
        answered it counts against C{maxInFlight}; nsqd requeues it after
        its message timeout if it is never answered.
        """
        self._autoResponse = False

    def finish(self) -> None:
        """
        Tell nsqd the message was handled (C{FIN}).  Later calls, and calls
        after L{requeue}, do nothing.
        """
        if not self._responded:
            self._responded = True
            self._responder.finishMessage(self)

    def requeue(self, delayMs: int | None = None, *, backoff: bool = True) -> None:
        """
        Ask nsqd to deliver the message again (C{REQ}).

        @param delayMs: how long nsqd should wait first, in milliseconds;
            L{None} uses the consumer's delay for this attempt count
            (C{requeueDelay} times C{attempts}, at most C{maxRequeueDelay}).
        @param backoff: whether this counts as a failure for the consumer's
            backoff (slowing down delivery on all connections).
        """
        if not self._responded:
            self._responded = True
            self._responder.requeueMessage(self, delayMs, backoff)

    def touch(self) -> None:
        """
        Restart nsqd's in-flight timeout for the message (C{TOUCH}), when
        handling takes longer than the message timeout.  Never sent
        automatically.
        """
        if not self._responded:
            self._responder.touchMessage(self)


#: A message handler or give-up hook: called with a L{Message}; may return a
#: value, a Deferred or a coroutine.
Handler = Callable[[Message], Any]


def handle(message: Message, handler: Handler, log: Any) -> bool:
    """
    Call C{handler} with C{message} and answer the message by the outcome
    (unless it was answered already, or its automatic answer was disabled):
    C{FIN} when the handler succeeds, C{REQ} when it fails.

    The common case is left to the caller: a handler that returned L{None}
    at once, without answering the message itself.  Then the message is
    marked answered and C{True} returned, and the caller must C{FIN} it
    (the consumer does so in the step that took the delivery, without the
    round trip through L{Message.finish}).

    @param log: the consumer's txaio logger, for the failure.
    @return: whether the caller must C{FIN} C{message} now.
    """
    # The common case first, without a future or a closure.
    try:
        result = handler(message)
    except Exception:
        _handlerFailed(_aio.txaio.create_failure(), message, log)
        return False
    if result is None:
        if message._autoResponse and not message._responded:
            message._responded = True
            return True
        return False
    # A value, a future or a coroutine: the seam decides what it is.
    _aio.callHandler(
        lambda _: result,
        message,
        lambda _: _handled(message),
        lambda reason: _handlerFailed(reason, message, log),
    )
    return False


def _handled(message: Message) -> None:
    if message.autoResponse:
        message.finish()


def _handlerFailed(reason: Failure, message: Message, log: Any) -> None:
    log.error(
        "handler failed for message {id} (attempt {attempts}): {log_failure}",
        log_failure=reason,
        id=message.id,
        attempts=message.attempts,
    )
    if message.autoResponse:
        message.requeue()


def giveUp(message: Message, hook: Handler | None, log: Any) -> None:
    """
    Give up on C{message}, delivered too often: log it, then C{FIN} it
    (after C{hook}, if there is one, succeeded; if the hook fails the
    message is requeued rather than lost).

    @param log: the consumer's txaio logger.
    """
    log.warn(
        "giving up on message {id} after {attempts} attempts",
        id=message.id,
        attempts=message.attempts,
    )
    if hook is None:
        message.finish()
        return

    def failed(reason: Failure) -> None:
        log.error(
            "give-up hook failed for message {id}, requeueing it: {log_failure}",
            log_failure=reason,
            id=message.id,
        )
        message.requeue()

    _aio.callUser(hook, message).addCallbacks(lambda _: message.finish(), failed)
