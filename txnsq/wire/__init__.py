# -*- test-case-name: tests.wire -*-
"""
The NSQ wire format, sans I/O: bytes in, typed records and values out.

Nothing here imports Twisted; nsqd, nsqlookupd and the client all build on
these modules.
"""

from txnsq.wire.commands import CommandDecoder, CommandGate, encodeCommand
from txnsq.wire.errors import ProtocolError
from txnsq.wire.frames import (
    FRAME_TYPE_ERROR,
    FRAME_TYPE_MESSAGE,
    FRAME_TYPE_RESPONSE,
    FrameDecoder,
    encodeError,
    encodeMessageFrame,
    encodeResponse,
)
from txnsq.wire.message import decodeMessage, encodeMessage
from txnsq.wire.names import isEphemeral, isValidName

__all__ = [
    "FRAME_TYPE_ERROR",
    "FRAME_TYPE_MESSAGE",
    "FRAME_TYPE_RESPONSE",
    "CommandDecoder",
    "CommandGate",
    "FrameDecoder",
    "ProtocolError",
    "decodeMessage",
    "encodeCommand",
    "encodeError",
    "encodeMessage",
    "encodeMessageFrame",
    "encodeResponse",
    "isEphemeral",
    "isValidName",
]
