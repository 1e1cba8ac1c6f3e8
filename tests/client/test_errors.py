"""
Tests for the client's error types.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

import txnsq.client
from txnsq.client import (
    NSQAuthError,
    NSQBadBody,
    NSQBadChannel,
    NSQBadMessage,
    NSQBadProtocol,
    NSQBadTopic,
    NSQError,
    NSQIdentifyFailed,
    NSQInvalid,
    NSQMessageNotInFlight,
    NSQPublishFailed,
    NSQSubscribeFailed,
)
from txnsq.client._errors import errorFromFrame, makeError


class ErrorFromFrameTests(SynchronousTestCase):
    """
    L{errorFromFrame} maps nsqd's codes to typed errors.
    """

    def test_everyCode(self) -> None:
        """
        Each nsqd error code gives its L{NSQError} subclass, with the code,
        the description and whether nsqd treats it as fatal.
        """
        expected = {
            "E_INVALID": NSQInvalid,
            "E_BAD_PROTOCOL": NSQBadProtocol,
            "E_BAD_BODY": NSQBadBody,
            "E_BAD_TOPIC": NSQBadTopic,
            "E_BAD_CHANNEL": NSQBadChannel,
            "E_BAD_MESSAGE": NSQBadMessage,
            "E_IDENTIFY_FAILED": NSQIdentifyFailed,
            "E_AUTH_DISABLED": NSQAuthError,
            "E_AUTH_FAILED": NSQAuthError,
            "E_AUTH_FIRST": NSQAuthError,
            "E_AUTH_ERROR": NSQAuthError,
            "E_UNAUTHORIZED": NSQAuthError,
            "E_SUB_FAILED": NSQSubscribeFailed,
            "E_PUB_FAILED": NSQPublishFailed,
            "E_MPUB_FAILED": NSQPublishFailed,
            "E_DPUB_FAILED": NSQPublishFailed,
            "E_FIN_FAILED": NSQMessageNotInFlight,
            "E_REQ_FAILED": NSQMessageNotInFlight,
            "E_TOUCH_FAILED": NSQMessageNotInFlight,
        }
        for code, cls in expected.items():
            error = errorFromFrame(f"{code} some text here".encode())
            self.assertIs(type(error), cls, code)
            self.assertEqual((error.code, error.description), (code, "some text here"))
            self.assertEqual(error.fatal, cls is not NSQMessageNotInFlight, code)
            self.assertIsInstance(error, NSQError)

    def test_bareAndUnknown(self) -> None:
        """
        A code without text (C{E_BAD_PROTOCOL}) and an unknown code parse
        too; the latter as a plain, fatal L{NSQError}.
        """
        bare = errorFromFrame(b"E_BAD_PROTOCOL")
        self.assertEqual(
            (bare.code, bare.description, str(bare)),
            ("E_BAD_PROTOCOL", "", "E_BAD_PROTOCOL"),
        )
        unknown = errorFromFrame(b"E_NEW_THING details")
        self.assertIs(type(unknown), NSQError)
        self.assertTrue(unknown.fatal)
        self.assertEqual(str(unknown), "E_NEW_THING details")
        self.assertEqual(
            repr(makeError("E_INVALID", "x")), "NSQInvalid('E_INVALID', 'x')"
        )


class ExportTests(SynchronousTestCase):
    """
    The public facade.
    """

    def test_all(self) -> None:
        """
        Everything in C{txnsq.client.__all__} exists, and the facade names
        the same objects as the modules defining them.
        """
        from txnsq.client.consumer import Consumer
        from txnsq.client.producer import Producer
        from txnsq.client.protocol import NSQClientProtocol

        for name in txnsq.client.__all__:
            self.assertTrue(hasattr(txnsq.client, name), name)
        self.assertIs(txnsq.client.Consumer, Consumer)
        self.assertIs(txnsq.client.Producer, Producer)
        self.assertIs(txnsq.client.NSQClientProtocol, NSQClientProtocol)
