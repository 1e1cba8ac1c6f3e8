"""
Tests for L{txnsq.wire.errors}: error codes and fatality.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from txnsq.wire.errors import (
    E_BAD_PROTOCOL,
    E_FIN_FAILED,
    E_INVALID,
    E_REQ_FAILED,
    E_TOUCH_FAILED,
    ProtocolError,
)

from ._support import ALL_CODES


class ProtocolErrorTests(SynchronousTestCase):
    """
    L{ProtocolError}: code, text and fatality.
    """

    def test_nonFatal(self) -> None:
        """
        Only FIN, REQ and TOUCH failures are non-fatal.
        """
        nonFatal = {code for code in ALL_CODES if not ProtocolError(code, "x").fatal}
        self.assertEqual(nonFatal, {E_FIN_FAILED, E_REQ_FAILED, E_TOUCH_FAILED})

    def test_wireText(self) -> None:
        """
        The frame data is the code, a space and the description.
        """
        self.assertEqual(
            ProtocolError(E_INVALID, "invalid command FOO").wireText(),
            b"E_INVALID invalid command FOO",
        )
        # An empty description still has the space (golden empty_line).
        self.assertEqual(
            ProtocolError(E_INVALID, "invalid command ").wireText(),
            b"E_INVALID invalid command ",
        )

    def test_badProtocol(self) -> None:
        """
        C{E_BAD_PROTOCOL} carries no description and no trailing space.
        """
        self.assertEqual(ProtocolError(E_BAD_PROTOCOL).wireText(), b"E_BAD_PROTOCOL")

    def test_rawBytes(self) -> None:
        """
        Undecodable bytes echoed in a text go out as the original bytes.
        """
        name = b"\xff".decode("utf-8", "surrogateescape")
        self.assertEqual(
            ProtocolError(E_INVALID, f"invalid command {name}").wireText(),
            b"E_INVALID invalid command \xff",
        )

    def test_silent(self) -> None:
        """
        C{silent} is off unless asked for.
        """
        self.assertFalse(ProtocolError(E_INVALID, "x").silent)
        self.assertTrue(ProtocolError("", "line too long", silent=True).silent)
