"""
Helpers shared by the codec tests: a recording L{CommandReceiver}, a
chunking strategy and access to the golden TCP recordings.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from txnsq.wire import errors
from txnsq.wire.commands import CommandDecoder
from txnsq.wire.errors import ProtocolError

#: Every error code the codec may report.
ALL_CODES = frozenset(
    value
    for name, value in vars(errors).items()
    if name.startswith("E_") and isinstance(value, str)
)

GOLDEN_TCP = Path(__file__).parent.parent / "data" / "golden" / "tcp"

Call = tuple[Any, ...]


class RecordingReceiver:
    """
    A L{txnsq.wire.commands.CommandReceiver} that records every call, in
    order, as a tuple whose first item names the method.

    @ivar errors: the L{ProtocolError}s reported, also recorded in C{calls}.
    """

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.errors: list[ProtocolError] = []

    def commandAllowed(self, name: bytes) -> bool:
        self.calls.append(("allowed", name))
        return True

    def identify(self, body: bytes) -> None:
        self.calls.append(("identify", body))

    def auth(self, secret: bytes) -> None:
        self.calls.append(("auth", secret))

    def sub(self, topic: str, channel: str) -> None:
        self.calls.append(("sub", topic, channel))

    def pub(self, topic: str, body: bytes) -> None:
        self.calls.append(("pub", topic, body))

    def mpubStarted(self, topic: str) -> bool:
        self.calls.append(("mpubStarted", topic))
        return True

    def mpub(self, topic: str, bodies: list[bytes]) -> None:
        self.calls.append(("mpub", topic, bodies))

    def dpub(self, topic: str, deferMs: int, body: bytes) -> None:
        self.calls.append(("dpub", topic, deferMs, body))

    def rdy(self, count: int) -> None:
        self.calls.append(("rdy", count))

    def fin(self, messageID: bytes) -> None:
        self.calls.append(("fin", messageID))

    def finMany(self, messageIDs: list[bytes]) -> None:
        # The decoder asks commandAllowed once per run of consecutive FINs
        # (nothing in a run can change the state).  A run is recorded as the
        # single FINs it stands for, so recordings do not depend on how the
        # input was chunked.
        for index, messageID in enumerate(messageIDs):
            if index:
                self.calls.append(("allowed", b"FIN"))
            self.calls.append(("fin", messageID))

    def req(self, messageID: bytes, timeoutMs: int) -> None:
        self.calls.append(("req", messageID, timeoutMs))

    def touch(self, messageID: bytes) -> None:
        self.calls.append(("touch", messageID))

    def cls(self) -> None:
        self.calls.append(("cls",))

    def nop(self) -> None:
        self.calls.append(("nop",))

    def protocolError(self, error: ProtocolError) -> None:
        self.calls.append(("error", error.code, error.description, error.silent))
        self.errors.append(error)


#: Go nsqd's default limits, which every golden recording used.
GO_MAX_MSG_SIZE = 1048576
GO_MAX_BODY_SIZE = 5242880
GO_MAX_REQ_TIMEOUT_MS = 3600000


def decode(
    chunks: list[bytes],
    maxMsgSize: int = GO_MAX_MSG_SIZE,
    maxBodySize: int = GO_MAX_BODY_SIZE,
    maxDeferMs: int = GO_MAX_REQ_TIMEOUT_MS,
) -> tuple[RecordingReceiver, CommandDecoder]:
    """
    Feed C{chunks} one by one to a fresh decoder.
    """
    receiver = RecordingReceiver()
    decoder = CommandDecoder(receiver, maxMsgSize, maxBodySize, maxDeferMs)
    for chunk in chunks:
        decoder.feed(chunk)
    return receiver, decoder


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """
    Cut C{data} at the given offsets (any order, duplicates give empty
    chunks, offsets are taken modulo C{len(data) + 1}).
    """
    points = sorted(cut % (len(data) + 1) for cut in cuts)
    pieces = []
    start = 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


def chunkings() -> st.SearchStrategy[list[int]]:
    """
    Cut offsets for L{split}: none, a few or many.
    """
    return st.lists(st.integers(min_value=0, max_value=2**16), max_size=40)


@cache
def goldenRecordings() -> dict[str, dict[str, Any]]:
    """
    Every nsqd TCP recording, by name.
    """
    recordings = {}
    for path in sorted(GOLDEN_TCP.glob("*.json")):
        recording = json.loads(path.read_text())
        recordings[recording["name"]] = recording
    return recordings


def goldenSent(name: str) -> bytes:
    """
    Everything the client sent in recording C{name}, after the magic.
    Only for recordings without C{fill_from}.
    """
    steps = goldenRecordings()[name]["steps"]
    sent = b"".join(base64.b64decode(s["send"]) for s in steps if "send" in s)
    assert not any("fill_from" in s for s in steps), name
    assert sent.startswith(b"  V2"), name
    return sent[4:]


def goldenFrames(name: str) -> Iterator[bytes]:
    """
    The whole frames (size included) received in recording C{name}.
    """
    for step in goldenRecordings()[name]["steps"]:
        if "recv" in step:
            yield base64.b64decode(step["recv"])


def goldenErrors() -> dict[str, bytes]:
    """
    The last error frame's text of every recording that received one.
    """
    found = {}
    for name in goldenRecordings():
        for frame in goldenFrames(name):
            if frame[4:8] == b"\x00\x00\x00\x01":
                found[name] = frame[8:]
    return found
