# -*- test-case-name: tests.nsqd.state.test_message -*-
"""
Messages as the broker holds them, Go-compatible message IDs, and
L{Consumer}, what the broker needs from a subscribed connection.

L{Consumer} and L{Message} refer to each other (a message in flight knows
its consumer; a consumer is handed messages), so they share this module
rather than importing each other.
"""

from __future__ import annotations

import struct
from typing import Protocol

from txnsq.wire.message import encodeMessage


class Message:
    """
    One message in a topic or channel.

    A slotted object rather than a tuple because the broker mutates its
    delivery bookkeeping in place.  Attempts and deadlines are per channel,
    so each channel delivers its own copy, as in Go; but a topic's channels
    share one object while it only waits in their memory queues, and a
    channel makes its copy when it takes the message for delivery (see
    L{take}): channels nobody reads from cost no copies.

    @ivar shares: how many channels' memory queues may still hold this
        object (1: it belongs to the one that holds it).
    @ivar deadline: in flight: when it times out; deferred: when it is due
        (seconds, the broker's clock).
    @ivar deferMs: a DPUB delay still to be applied when a channel takes it.
    """

    __slots__ = (
        "attempts",
        "body",
        "deadline",
        "deferMs",
        "deliveredAt",
        "id",
        "owner",
        "shares",
        "timeout",
        "timestamp",
    )

    def __init__(
        self,
        messageID: bytes,
        body: bytes,
        timestamp: int,
        attempts: int = 0,
        deferMs: int = 0,
    ) -> None:
        self.id = messageID
        self.body = body
        self.timestamp = timestamp
        self.attempts = attempts
        self.deferMs = deferMs
        self.deadline = 0.0
        self.deliveredAt = 0.0
        self.timeout = 0.0
        self.owner: Consumer | None = None
        self.shares = 1

    def copy(self) -> Message:
        """
        A fresh copy for another channel (same id, body, timestamp,
        attempts and delay), built as L{fresh} builds a message: one per
        message per extra channel was the largest part of a fan-out's
        cost; the delivery fields are set on delivery.
        """
        message = _new(Message)
        message.id = self.id
        message.body = self.body
        message.timestamp = self.timestamp
        message.attempts = self.attempts
        message.deferMs = self.deferMs
        message.owner = None
        message.shares = 1
        return message

    def take(self) -> Message:
        """
        This message for the channel taking it out of its memory queue to
        deliver it: the object itself when no other channel may still hold
        it, otherwise a copy of its own (the delivery fields are mutated).
        The last of the sharing channels to take it gets the original.
        """
        if self.shares > 1:
            self.shares -= 1
            return self.copy()
        return self

    def encode(self) -> bytes:
        """
        The disk record: header plus body.
        """
        return encodeMessage(self.timestamp, self.attempts, self.id, self.body)

    @classmethod
    def fresh(
        cls, messageID: bytes, body: bytes, timestamp: int, deferMs: int
    ) -> Message:
        """
        A just-published message, built without C{__init__} (the hot
        publish path): the delivery fields are set on delivery, before
        anything reads them.
        """
        message = _new(cls)
        message.id = messageID
        message.body = body
        message.timestamp = timestamp
        message.attempts = 0
        message.deferMs = deferMs
        message.owner = None
        message.shares = 1
        return message

    @classmethod
    def freshMany(
        cls, messageIDs: list[bytes], bodies: list[bytes], timestamp: int, deferMs: int
    ) -> list[Message]:
        """
        L{fresh} for an MPUB's batch, with the loop's names bound once (no
        call per message).
        """
        new = _new
        messages: list[Message] = []
        append = messages.append
        for messageID, body in zip(messageIDs, bodies):
            message = new(cls)
            message.id = messageID
            message.body = body
            message.timestamp = timestamp
            message.attempts = 0
            message.deferMs = deferMs
            message.owner = None
            message.shares = 1
            append(message)
        return messages

    @classmethod
    def decodeMany(cls, records: list[bytes]) -> list[Message]:
        """
        L{decode} for a batch of disk records (the consume path), with the
        loop's names bound once.
        """
        new = _new
        unpack = _HEADER.unpack_from
        messages: list[Message] = []
        append = messages.append
        for data in records:
            message = new(cls)
            message.timestamp, message.attempts = unpack(data)
            message.id = data[10:26]
            message.body = data[26:]
            message.deferMs = 0
            message.owner = None
            message.shares = 1
            append(message)
        return messages

    @classmethod
    def decode(cls, data: bytes) -> Message:
        """
        Rebuild a message from a disk record.

        @raise ValueError: the record is shorter than a message's header
            (the disk queue's own minimum size rules that out for what
            L{decodeMany} is given).
        """
        if len(data) < 26:
            raise ValueError(f"message of {len(data)} bytes is shorter than its header")
        return cls.decodeMany([data])[0]

    def __repr__(self) -> str:
        return f"<Message {self.id!r} attempts={self.attempts} {self.body[:20]!r}>"


_HEADER = struct.Struct(">qH")
_new = object.__new__

# Go's guid epoch, in its 2**20 ns "pseudo-milliseconds".
_TWEPOCH = 1288834974288
_SEQUENCE_MASK = 0xFFF
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF


class GUIDFactory:
    """
    Snowflake-style 64-bit IDs as Go nsqd makes them, one factory per topic.

    C{((tick - twepoch) << 22) | (nodeID << 12) | sequence}, where a tick
    is C{ns >> 20}.  Go sleeps when the 4096 sequence numbers of a tick run
    out or the clock goes back; a reactor must not sleep, so this factory
    borrows the next tick instead, which keeps IDs unique and increasing.
    """

    def __init__(self, nodeID: int) -> None:
        self._node = (nodeID & 0x3FF) << 12
        self._lastTick = -1
        self._sequence = 0
        # The formatted 13 hex digits of the last tick (see L{nextIDs}).
        self._prefix = b""

    def nextID(self, nowNs: int) -> bytes:
        """
        The next ID, as 16 lower-case hex ASCII bytes.
        """
        # One publish per command is the common case: the tick's prefix is
        # formatted once and reused until the tick changes (~1 ms).
        sequence = self._sequence + 1
        if (nowNs >> 20) <= self._lastTick and sequence <= _SEQUENCE_MASK:
            self._sequence = sequence
            return self._prefix + _SEQUENCE_HEX[sequence]
        return self.nextIDs(1, nowNs)[0]

    def nextIDs(self, count: int, nowNs: int) -> list[bytes]:
        """
        The next C{count} IDs, as L{nextID} would give them one by one.

        The sequence is the ID's low 12 bits, exactly its last three hex
        digits, so a batch shares one formatted prefix per tick.
        """
        tick = nowNs >> 20
        if tick <= self._lastTick:
            sequence = self._sequence + 1
            tick = self._lastTick
        else:
            sequence = 0
        ids: list[bytes] = []
        while True:
            if sequence > _SEQUENCE_MASK:
                # The tick's sequence numbers ran out: borrow the next tick.
                tick += 1
                sequence = 0
            take = min(count - len(ids), _SEQUENCE_MASK + 1 - sequence)
            prefix = b"%013x" % (
                ((((tick - _TWEPOCH) << 22) | self._node) & _MASK64) >> 12
            )
            ids += [prefix + _SEQUENCE_HEX[n] for n in range(sequence, sequence + take)]
            sequence += take
            if len(ids) == count:
                break
        self._lastTick = tick
        self._sequence = sequence - 1
        self._prefix = prefix
        return ids


_SEQUENCE_HEX = [b"%03x" % n for n in range(_SEQUENCE_MASK + 1)]


class Consumer(Protocol):
    """
    A subscriber of a channel, as the broker sees it.  The TCP protocol
    implements it; tests use fakes.

    @ivar msgTimeout: this consumer's in-flight timeout in seconds.
    @ivar sampleRate: 0 (off) or 1..99, the percentage of messages kept.
    """

    msgTimeout: float
    sampleRate: int

    def capacity(self) -> int:
        """
        How many more messages it may take now (RDY minus in flight, 0 when
        its output is backed up).
        """

    def sendMessages(self, messages: list[Message]) -> None:
        """
        Deliver messages (their attempts already incremented), in order.
        """

    def messagesFinished(self, messages: list[Message]) -> None:
        """
        Some of its in-flight messages were FINished.
        """

    def messageDone(self, message: Message, outcome: int) -> None:
        """
        One of its in-flight messages left flight otherwise: L{REQUEUED} or
        L{TIMED_OUT}.
        """

    def inFlightReset(self) -> None:
        """
        The channel was emptied: nothing of it is in flight any more.
        """

    def channelClosed(self) -> None:
        """
        The channel was deleted (or nsqd is exiting): disconnect.
        """


FINISHED = 0
REQUEUED = 1
TIMED_OUT = 2
