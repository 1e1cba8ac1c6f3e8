# -*- test-case-name: tests.wire.test_errors -*-
"""
NSQ protocol errors: machine-readable codes plus Go's exact description text.

Only C{E_FIN_FAILED}, C{E_REQ_FAILED} and C{E_TOUCH_FAILED} leave the
connection open; every other error is fatal (the server writes the error
frame and closes), exactly as Go nsqd does.
"""

from __future__ import annotations

E_INVALID = "E_INVALID"
E_BAD_PROTOCOL = "E_BAD_PROTOCOL"
E_BAD_BODY = "E_BAD_BODY"
E_BAD_TOPIC = "E_BAD_TOPIC"
E_BAD_CHANNEL = "E_BAD_CHANNEL"
E_BAD_MESSAGE = "E_BAD_MESSAGE"
E_IDENTIFY_FAILED = "E_IDENTIFY_FAILED"
E_AUTH_DISABLED = "E_AUTH_DISABLED"
E_AUTH_FAILED = "E_AUTH_FAILED"
E_AUTH_FIRST = "E_AUTH_FIRST"
E_AUTH_ERROR = "E_AUTH_ERROR"
E_UNAUTHORIZED = "E_UNAUTHORIZED"
E_SUB_FAILED = "E_SUB_FAILED"
E_PUB_FAILED = "E_PUB_FAILED"
E_MPUB_FAILED = "E_MPUB_FAILED"
E_DPUB_FAILED = "E_DPUB_FAILED"
E_FIN_FAILED = "E_FIN_FAILED"
E_REQ_FAILED = "E_REQ_FAILED"
E_TOUCH_FAILED = "E_TOUCH_FAILED"

NON_FATAL_CODES = frozenset({E_FIN_FAILED, E_REQ_FAILED, E_TOUCH_FAILED})


class ProtocolError(Exception):
    """
    An error a peer caused, carrying the NSQ code and description.

    @ivar code: the C{E_*} code.
    @ivar description: the text after the code (may be empty).
    @ivar fatal: whether the connection must be closed after reporting it.
    @ivar silent: close without writing any error frame (Go drops a
        connection whose command line overflows its read buffer).
    """

    def __init__(
        self, code: str, description: str = "", *, silent: bool = False
    ) -> None:
        super().__init__(code, description)
        self.code = code
        self.description = description
        self.fatal = code not in NON_FATAL_CODES
        self.silent = silent

    def wireText(self) -> bytes:
        """
        The error frame's data: C{"<code> <description>"}, or the bare code
        when Go sends no description (C{E_BAD_PROTOCOL}).
        """
        if self.code == E_BAD_PROTOCOL and not self.description:
            return self.code.encode("ascii")
        return f"{self.code} {self.description}".encode("utf-8", "surrogateescape")

    def __repr__(self) -> str:
        return f"ProtocolError({self.code!r}, {self.description!r})"
