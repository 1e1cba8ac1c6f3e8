"""
Tests for L{txnsq.client._message}: a L{Message}'s answers, and how a
handler's or give-up hook's outcome answers it.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, fail
from twisted.trial.unittest import SynchronousTestCase

from tests.client._fakes import RecordingLog
from txnsq.client._message import Message, giveUp, handle

MESSAGE_ID = b"0123456789abcdef"


class HandlerError(Exception):
    """
    What failing test handlers raise.
    """


class Responder:
    """
    A L{Responder} recording each answer.
    """

    def __init__(self) -> None:
        self.answers: list[tuple[object, ...]] = []

    def finishMessage(self, message: Message) -> None:
        """
        Record a FIN.
        """
        self.answers.append(("FIN",))

    def requeueMessage(
        self, message: Message, delayMs: int | None, backoff: bool
    ) -> None:
        """
        Record a REQ.
        """
        self.answers.append(("REQ", delayMs, backoff))

    def touchMessage(self, message: Message) -> None:
        """
        Record a TOUCH.
        """
        self.answers.append(("TOUCH",))


class MessageTestCase(SynchronousTestCase):
    """
    A message answered by a recording responder.
    """

    def setUp(self) -> None:
        self.responder = Responder()
        self.message = Message(MESSAGE_ID, b"body", 123, 2, self.responder, "nsqd:1")
        self.log = RecordingLog()


class AnswerTests(MessageTestCase):
    """
    The commands that answer a message.
    """

    def test_attributes(self) -> None:
        """
        A message carries its delivery's id, body, timestamp, attempts and
        nsqd address.
        """
        message = self.message
        self.assertEqual(
            (message.id, message.body, message.timestamp, message.attempts),
            (MESSAGE_ID, b"body", 123, 2),
        )
        self.assertEqual(message.nsqdAddress, "nsqd:1")
        self.assertEqual(repr(message), "<Message 0123456789abcdef attempts=2 4 bytes>")

    def test_answeredOnce(self) -> None:
        """
        Only the first FIN or REQ is passed on; TOUCH is passed on until
        then.
        """
        self.message.touch()
        self.assertFalse(self.message.hasResponded)
        self.message.finish()
        self.assertTrue(self.message.hasResponded)
        self.message.requeue()
        self.message.finish()
        self.message.touch()
        self.assertEqual(self.responder.answers, [("TOUCH",), ("FIN",)])

    def test_requeueArguments(self) -> None:
        """
        REQ passes its delay (L{None}: the consumer's) and whether it counts
        as a failure for backoff.
        """
        self.message.requeue(500, backoff=False)
        other = Message(MESSAGE_ID, b"", 0, 1, self.responder)
        other.requeue()
        self.assertEqual(
            self.responder.answers, [("REQ", 500, False), ("REQ", None, True)]
        )


class HandleTests(MessageTestCase):
    """
    L{handle}: the handler's outcome answers the message.
    """

    def test_success(self) -> None:
        """
        A handler that returns L{None} at once leaves the FIN to the caller:
        C{handle} returns C{True}, sends nothing and marks the message
        answered (a later L{Message.finish} does nothing).
        """
        self.assertIs(handle(self.message, lambda message: None, self.log), True)
        self.assertTrue(self.message.hasResponded)
        self.message.finish()
        self.assertEqual(self.responder.answers, [])
        self.assertEqual(self.log.events, [])

    def test_successValue(self) -> None:
        """
        A handler that returns another value FINs the message itself.
        """
        self.assertIs(handle(self.message, lambda message: 1, self.log), False)
        self.assertEqual(self.responder.answers, [("FIN",)])

    def test_failure(self) -> None:
        """
        A handler that raises REQs the message (with the consumer's delay,
        as a backoff failure), and the failure is logged.
        """

        def handler(message: Message) -> None:
            raise HandlerError()

        handle(self.message, handler, self.log)
        self.assertEqual(self.responder.answers, [("REQ", None, True)])
        [(level, _, fields)] = self.log.events
        self.assertEqual((level, fields["attempts"]), ("error", 2))
        self.assertTrue(fields["log_failure"].check(HandlerError))

    def test_deferred(self) -> None:
        """
        A handler's Deferred answers the message when it fires: FIN on
        success, REQ on failure.
        """
        pending: Deferred[None] = Deferred()
        handle(self.message, lambda message: pending, self.log)
        self.assertEqual(self.responder.answers, [])
        pending.callback(None)
        self.assertEqual(self.responder.answers, [("FIN",)])
        other = Message(MESSAGE_ID, b"", 0, 1, self.responder)
        handle(other, lambda message: fail(HandlerError()), self.log)
        self.assertEqual(self.responder.answers[1:], [("REQ", None, True)])

    def test_coroutine(self) -> None:
        """
        A coroutine handler answers the message when it completes.
        """
        gate: Deferred[None] = Deferred()

        async def handler(message: Message) -> None:
            await gate

        handle(self.message, handler, self.log)
        self.assertEqual(self.responder.answers, [])
        gate.callback(None)
        self.assertEqual(self.responder.answers, [("FIN",)])

    def test_answeredByHandler(self) -> None:
        """
        A message the handler answered itself is not answered again.
        """

        def handler(message: Message) -> None:
            message.requeue(0)
            raise HandlerError()

        self.assertIs(handle(self.message, handler, self.log), False)
        self.assertEqual(self.responder.answers, [("REQ", 0, True)])

    def test_autoResponseDisabled(self) -> None:
        """
        After C{disableAutoResponse} neither success nor failure answers the
        message (the failure is still logged).
        """

        def handler(message: Message) -> None:
            message.disableAutoResponse()
            raise HandlerError()

        self.assertIs(handle(self.message, handler, self.log), False)
        self.assertIs(handle(self.message, lambda message: None, self.log), False)
        self.assertFalse(self.message.autoResponse)
        self.assertEqual(self.responder.answers, [])
        self.assertEqual(self.log.levels(), ["error"])


class GiveUpTests(MessageTestCase):
    """
    L{giveUp}: a message delivered too often goes to the give-up hook.
    """

    def test_noHook(self) -> None:
        """
        Without a hook the message is logged and FINed.
        """
        giveUp(self.message, None, self.log)
        self.assertEqual(self.log.levels(), ["warn"])
        self.assertEqual(self.responder.answers, [("FIN",)])

    def test_hook(self) -> None:
        """
        The message is FINed once the hook succeeds.
        """
        given: list[Message] = []
        pending: Deferred[None] = Deferred()

        def hook(message: Message) -> Deferred[None]:
            given.append(message)
            return pending

        giveUp(self.message, hook, self.log)
        self.assertEqual(given, [self.message])
        self.assertEqual(self.responder.answers, [])
        pending.callback(None)
        self.assertEqual(self.responder.answers, [("FIN",)])

    def test_hookFails(self) -> None:
        """
        If the hook fails, the message is REQed rather than lost, and the
        failure is logged.
        """

        def hook(message: Message) -> None:
            raise HandlerError()

        giveUp(self.message, hook, self.log)
        self.assertEqual(self.responder.answers, [("REQ", None, True)])
        self.assertEqual(self.log.levels(), ["warn", "error"])
