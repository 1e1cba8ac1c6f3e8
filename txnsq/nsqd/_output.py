# -*- test-case-name: tests.nsqd.test_output -*-
"""
What nsqd writes to one client: frames, coalesced.

Go's C{clientV2} writes through a buffered writer that its message pump
flushes when the buffer is full or the channel has nothing more to send,
and every response flushes it.  L{ClientOutput} does the same with
Twisted's writes: message frames collect in a list that goes out in one
write per batch (at the end of the reactor turn, or as soon as the
client's output buffer is full).  Responses and errors written while the
factory handles what a client sent (L{FlushScheduler.reading}) join the
same list, so a run of pipelined commands is answered with one write at
the end of the read; at any other time a response flushes what waits
before it at once, so the order on the wire is kept.

Every write goes through a L{DirectWriter}: to the socket at once when the
transport's buffer is empty, so a request/response round trip costs no
writability registration.
"""

from __future__ import annotations

from typing import Protocol

from twisted.internet.interfaces import ITransport

from txnsq.nsqd._clientv2 import ClientV2
from txnsq.nsqd._writer import DirectWriter
from txnsq.nsqd.state import Message
from txnsq.wire.compression import StreamCodec
from txnsq.wire.frames import FRAME_TYPE_MESSAGE, MESSAGE_FRAME_HEAD

__all__ = ["SEPARATE_BODY", "ClientOutput", "FlushScheduler"]

#: Message bodies of at least this many bytes (when a batch starts with one)
#: are written apart from their frame header rather than copied after it.
SEPARATE_BODY = 16 * 1024


class FlushScheduler(Protocol):
    """
    Flushes outputs at the end of the reactor turn
    (L{txnsq.nsqd.protocol.NSQDFactory} does, for all its connections).

    @ivar reading: non-zero while the factory handles bytes a client sent;
        it flushes every marked output when that is done, so responses may
        wait for it.
    """

    reading: int

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
        written (L{close} flushes first).
    """

    __slots__ = (
        "_client",
        "_pending",
        "_pendingBytes",
        "_scheduler",
        "_writer",
        "closed",
        "encode",
        "transport",
    )

    def __init__(
        self, client: ClientV2, scheduler: FlushScheduler, transport: ITransport
    ) -> None:
        self.transport = transport
        self.encode: StreamCodec | None = None
        self.closed = False
        self._writer = DirectWriter(transport)
        self._client = client
        self._scheduler = scheduler
        # The frames waiting; None rather than an empty list of each idle
        # connection's own (56 bytes a connection).
        self._pending: list[bytes] | None = None
        self._pendingBytes = 0

    def writeFrame(self, frame: bytes) -> None:
        """
        Write a response, error or heartbeat frame after any message frames
        that wait: at the end of the read being handled, or now.
        """
        if self.closed:
            return
        pending = self._pending
        if self._scheduler.reading:
            if pending is None:
                self._scheduler.markDirty(self)
                self._pending = [frame]
            else:
                pending.append(frame)
            self._pendingBytes += len(frame)
        elif pending is not None:
            pending.append(frame)
            self.flush()
        elif self.encode is not None:
            self._writer.write(self.encode(frame))
        else:
            self._writer.write(frame)

    def writeMessages(self, messages: list[Message]) -> None:
        """
        Buffer message frames (their attempts already counted); they are
        written at the end of the reactor turn, or at once when the client's
        output buffer is full.
        """
        if not messages:
            # Sampling (a client's sample_rate) may leave none.
            return
        pending = self._pending
        if pending is None:
            self._scheduler.markDirty(self)
            pending = self._pending = []
        pack = MESSAGE_FRAME_HEAD.pack
        if len(messages[0].body) < SEPARATE_BODY:
            # The common case, decided on the first body rather than on a
            # sum over the batch (~30 ns a message less; a large body later
            # in the batch is then copied once, which is only slower).
            frames = [
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
            pending += frames
            # Go flushes once its output buffer is full; so do we.
            self._pendingBytes += sum(map(len, frames))
        else:
            # Large bodies: the header and the body stay apart, so the body
            # is never copied into a new frame string; the writer sends the
            # pieces in one gathering send.
            for m in messages:
                body = m.body
                head = pack(
                    len(body) + 30,
                    FRAME_TYPE_MESSAGE,
                    m.timestamp,
                    m.attempts & 0xFFFF,
                    m.id,
                )
                if len(body) < SEPARATE_BODY:
                    pending.append(head + body)
                else:
                    pending += (head, body)
                self._pendingBytes += len(head) + len(body)
        if self._pendingBytes >= self._client.outputBufferSize:
            self.flush()

    def flush(self) -> None:
        """
        Write the buffered message frames in one call.
        """
        pending = self._pending
        self._pendingBytes = 0
        if pending is not None and not self.closed:
            self._pending = None
            if self.encode is not None:
                # One compressed block (one sync flush) per batch.
                self._writer.write(self.encode(b"".join(pending)))
            else:
                self._writer.writeSequence(pending)
        self._scheduler.markClean(self)

    def close(self) -> None:
        """
        The connection is closing: write what waits, then nothing more.
        """
        self.flush()
        self.closed = True

    def discard(self) -> None:
        """
        The connection is gone: drop what waits and write nothing more.
        """
        self.closed = True
        self._pending = None
        self._pendingBytes = 0
        self._scheduler.markClean(self)
