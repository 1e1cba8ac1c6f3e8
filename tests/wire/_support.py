"""
Helpers shared by the codec tests: a recording L{CommandDecoder}, chunking
and message-field strategies and access to the golden TCP recordings.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from typing_extensions import assert_never

from txnsq.wire import errors
from txnsq.wire.commands import (
    Auth,
    Cls,
    CommandDecoder,
    CommandRecord,
    DPub,
    FinBatch,
    Identify,
    MPub,
    MPubStart,
    Nop,
    Pub,
    Rdy,
    Req,
    Sub,
    Touch,
)
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
    A L{CommandDecoder} whose gate questions and records are recorded in
    order, each as a tuple whose first item names it (C{"allowed"} for the
    gate, C{"error"} for the L{ProtocolError} that ends decoding).

    Records are pulled after every L{feed}, as nsqd's protocol pulls them.

    @ivar errors: the L{ProtocolError}s reported, also recorded in C{calls}.
    @ivar decoder: the decoder, whose gate is L{allowed}.
    """

    def __init__(
        self,
        maxMsgSize: int = 1048576,
        maxBodySize: int = 5242880,
        maxDeferMs: int = 3600000,
    ) -> None:
        self.calls: list[Call] = []
        self.errors: list[ProtocolError] = []
        self.decoder = CommandDecoder(self.allowed, maxMsgSize, maxBodySize, maxDeferMs)

    def allowed(self, name: bytes) -> ProtocolError | bool:
        """
        The gate: record the question and let every command through.
        """
        self.calls.append(("allowed", name))
        return True

    def feed(self, data: bytes) -> None:
        """
        Feed C{data}, then pull and record every record it completes.
        """
        self.decoder.feed(data)
        self.drain()

    def drain(self) -> None:
        """
        Pull and record every record the buffered bytes complete.
        """
        while True:
            record = self.decoder.nextCommand()
            if record is None:
                return
            self.record(record)

    def record(self, record: CommandRecord) -> None:
        """
        Record one record as its call tuple.
        """
        calls = self.calls
        if isinstance(record, FinBatch):
            # The gate is asked once per run of consecutive FINs (nothing in
            # a run can change the state).  A run is recorded as the single
            # FINs it stands for, so recordings do not depend on how the
            # input was chunked.
            for index, messageID in enumerate(record.messageIDs):
                if index:
                    calls.append(("allowed", b"FIN"))
                calls.append(("fin", messageID))
        elif isinstance(record, Pub):
            calls.append(("pub", record.topic, record.body))
        elif isinstance(record, MPub):
            calls.append(("mpub", record.topic, record.bodies))
        elif isinstance(record, Rdy):
            calls.append(("rdy", record.count))
        elif isinstance(record, Req):
            calls.append(("req", record.messageID, record.timeoutMs))
        elif isinstance(record, Touch):
            calls.append(("touch", record.messageID))
        elif isinstance(record, DPub):
            calls.append(("dpub", record.topic, record.deferMs, record.body))
        elif isinstance(record, MPubStart):
            calls.append(("mpubStarted", record.topic))
        elif isinstance(record, Nop):
            calls.append(("nop",))
        elif isinstance(record, Sub):
            calls.append(("sub", record.topic, record.channel))
        elif isinstance(record, Cls):
            calls.append(("cls",))
        elif isinstance(record, Identify):
            calls.append(("identify", record.body))
        elif isinstance(record, Auth):
            calls.append(("auth", record.secret))
        elif isinstance(record, ProtocolError):
            calls.append(("error", record.code, record.description, record.silent))
            self.errors.append(record)
        else:
            assert_never(record)


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
    receiver = RecordingReceiver(maxMsgSize, maxBodySize, maxDeferMs)
    for chunk in chunks:
        receiver.feed(chunk)
    return receiver, receiver.decoder


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


#: 16-byte message IDs.
messageIDs = st.binary(min_size=16, max_size=16)

#: Message timestamps: any int64 of nanoseconds.
timestamps = st.integers(-(2**63), 2**63 - 1)

#: Attempt counts that fit the header's uint16.
attemptCounts = st.integers(0, 2**16 - 1)


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
