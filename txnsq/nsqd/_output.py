# -*- test-case-name: tests.nsqd.test_output -*-
"""
What nsqd writes to one client: frames, coalesced.

Go's C{clientV2} writes through a buffered writer that its message pump
flushes when the buffer is full or the channel has nothing more to send,
and every response flushes it.  L{ClientOutput} does the same with
Twisted's writes: message frames collect in a list that goes out in one
C{writeSequence} per batch (at the end of the reactor turn, or as soon as
the client's output buffer is full), and a response or error frame flushes
what waits before it, so the order on the wire is kept.
"""

from __future__ import annotations

from typing import Protocol

from twisted.internet.interfaces import ITransport

from txnsq.nsqd._clientv2 import ClientV2
from txnsq.nsqd.state import Message
from txnsq.wire.compression import StreamCodec
from txnsq.wire.frames import FRAME_TYPE_MESSAGE, MESSAGE_FRAME_HEAD

__all__ = ["ClientOutput", "FlushScheduler"]


class FlushScheduler(Protocol):
    """
    Flushes outputs at the end of the reactor turn
    (L{txnsq.nsqd.protocol.NSQDFactory} does, for all its connections).
    """

    def markDirty(self, output: ClientOutput) -> None:
        """
        C{output} has buffered message frames: flush it at the end of this
        reactor turn.
        """

    def markClean(self, output: ClientOutput) -> None:
        """
        C{output} has nothing buffered any more.
        """


class ClientOutput:
    """
    The frames written to one client.

    @ivar transport: where frames go, once the connection is made.
    @ivar encode: the stream's compression, once IDENTIFY negotiated one
        (each batch becomes one compressed block, one sync flush).
    @ivar closed: whether the connection is closing: nothing more is
        written.
    """

    def __init__(
        self, client: ClientV2, scheduler: FlushScheduler, transport: ITransport
    ) -> None:
        self.transport = transport
        self.encode: StreamCodec | None = None
        self.closed = False
        self._client = client
        self._scheduler = scheduler
        self._pending: list[bytes] = []
        self._pendingBytes = 0

    def writeFrame(self, frame: bytes) -> None:
        """
        Write a response, error or heartbeat frame now, after any message
        frames that wait.
        """
        if self.closed:
            return
        if self._pending:
            self._pending.append(frame)
            self.flush()
        elif self.encode is not None:
            self.transport.write(self.encode(frame))
        else:
            self.transport.write(frame)

    def writeMessages(self, messages: list[Message]) -> None:
        """
        Buffer message frames (their attempts already counted); they are
        written at the end of the reactor turn, or at once when the client's
        output buffer is full.
        """
        pending = self._pending
        if not pending:
            self._scheduler.markDirty(self)
        pack = MESSAGE_FRAME_HEAD.pack
        pending += [
            pack(
                len(m.body) + 30,
                FRAME_TYPE_MESSAGE,
                m.timestamp,
                m.attempts & 0xFFFF,
                m.id,
            )
            + m.body
            for m in messages
        ]
        # Go flushes once its output buffer is full; so do we (the frames
        # are ~30 bytes plus the body).
        self._pendingBytes += len(messages) * 30 + sum(len(m.body) for m in messages)
        if self._pendingBytes >= self._client.outputBufferSize:
            self.flush()

    def flush(self) -> None:
        """
        Write the buffered message frames in one call.
        """
        pending = self._pending
        self._pendingBytes = 0
        if pending and not self.closed:
            self._pending = []
            if self.encode is not None:
                # One compressed block (one sync flush) per batch.
                self.transport.write(self.encode(b"".join(pending)))
            else:
                self.transport.writeSequence(pending)
        self._scheduler.markClean(self)

    def discard(self) -> None:
        """
        The connection is gone: drop what waits and write nothing more.
        """
        self.closed = True
        self._pending.clear()
        self._pendingBytes = 0
        self._scheduler.markClean(self)
