# -*- test-case-name: tests.nsqd.state.test_topic -*-
"""
A topic: receives published messages and hands each to every channel.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from txnsq.nsqd.state.channel import Channel
from txnsq.nsqd.state.message import GUIDFactory, Message
from txnsq.wire.names import isEphemeral

if TYPE_CHECKING:
    from txnsq.nsqd.state.backend import BackendQueue


class Topic:
    """
    Holds messages while it has no channel or is paused; otherwise hands
    each message to every channel at once (Go does this in a pump
    goroutine; one reactor thread needs no hand-off).
    """

    def __init__(
        self,
        name: str,
        memQueueSize: int,
        backend: BackendQueue,
        guid: GUIDFactory,
        makeChannel: Callable[[Topic, str], Channel],
        onBacklog: Callable[[Topic], None] | None = None,
    ) -> None:
        self.name = name
        self.ephemeral = isEphemeral(name)
        self.paused = False
        self.starting = False
        self._startWaiters: list[Callable[[], object]] = []
        self.channels: dict[str, Channel] = {}
        self.messageCount = 0
        self.messageBytes = 0
        self.deleted = False
        self._memQueueSize = memQueueSize
        self._memory: deque[Message] = deque()
        self._backend = backend
        self._guid = guid
        self._makeChannel = makeChannel
        self._onBacklog = onBacklog
        #: DPUB delays (ms) of messages held in the backend: Go's record
        #: format cannot carry them, so they are kept here by message ID.
        self.backendDefers: dict[bytes, int] = {}

    def __repr__(self) -> str:
        return f"<Topic {self.name}>"

    @property
    def held(self) -> bool:
        """
        Whether messages stay in the topic: paused, or still starting (its
        channels are being learnt from nsqlookupd, as Go does before a new
        topic delivers anything).
        """
        return self.paused or self.starting

    def started(self, now: float) -> None:
        """
        The topic's channels are known: deliver what it holds, then tell
        those waiting (L{whenStarted}).
        """
        self.starting = False
        self.drain(now)
        waiting, self._startWaiters = self._startWaiters, []
        for callback in waiting:
            callback()

    def whenStarted(self, callback: Callable[[], object]) -> None:
        """
        Call C{callback} once the topic has started (at once if it has).
        Go's C{GetTopic} blocks the caller until then; nsqd holds the
        publisher's reply instead.
        """
        if self.starting:
            self._startWaiters.append(callback)
        else:
            callback()

    def depth(self) -> int:
        """
        Messages held by the topic itself (memory plus backend).
        """
        return len(self._memory) + self._backend.depth()

    def backendDepth(self) -> int:
        """
        Messages held in the topic's backend.
        """
        return self._backend.depth()

    def newMessage(self, body: bytes, nowNs: int, deferMs: int = 0) -> Message:
        """
        A message with a fresh topic-unique ID.
        """
        return Message(self._guid.nextID(nowNs), body, nowNs, 0, deferMs)

    def publish(self, bodies: list[bytes], now: float, deferMs: int = 0) -> None:
        """
        Accept published bodies (PUB, MPUB, DPUB, /pub, /mpub).

        @raise OSError: the backend could not store an overflowing message.
        """
        nowNs = int(now * 1e9)
        if len(bodies) == 1:
            # One message per PUB/MPUB is what most producers send: no
            # comprehensions, one ID.
            body = bodies[0]
            messages = [Message.fresh(self._guid.nextID(nowNs), body, nowNs, deferMs)]
            self.messageCount += 1
            self.messageBytes += len(body)
        else:
            messages = Message.freshMany(
                self._guid.nextIDs(len(bodies), nowNs), bodies, nowNs, deferMs
            )
            self.messageCount += len(messages)
            self.messageBytes += sum(map(len, bodies))
        channels = self.channels
        if (
            channels
            and not self.paused
            and not self.starting
            and not self._memory
            and not self._backend.depth()
        ):
            if len(channels) == 1:
                # The single channel takes the originals (see _fanOut).
                for channel in channels.values():
                    channel.putMany(messages, now, bool(deferMs))
                    channel.pump(now)
                return
            self._fanOut(messages, now, bool(deferMs))
            return
        for message in messages:
            self._store(message)
        if self.channels and not self.held:
            self.drain(now)

    def _store(self, message: Message) -> None:
        if len(self._memory) < self._memQueueSize:
            self._memory.append(message)
        else:
            self._backend.put(message.encode())
            if message.deferMs:
                self.backendDefers[message.id] = message.deferMs

    def _fanOut(
        self, messages: list[Message], now: float, deferred: bool | None = None
    ) -> None:
        """
        Hand C{messages} to every channel, then let each deliver.

        @param deferred: whether any message has a DPUB delay (L{None}:
            look).
        """
        channels = list(self.channels.values())
        if deferred is None:
            deferred = any(message.deferMs for message in messages)
        if deferred:
            # A channel defers a delayed message at once, setting its
            # deadline: every channel but the first needs its own copies
            # now; the first takes the originals.
            for channel in channels[1:]:
                channel.putMany([message.copy() for message in messages], now, True)
            channels[0].putMany(messages, now, True)
        else:
            # The channels share the objects while they wait in memory; each
            # channel copies a message when it takes it for delivery
            # (Message.take), so a channel without consumers costs no
            # copies and its backlog no extra objects.
            shares = len(channels)
            for message in messages:
                message.shares = shares
            for channel in channels:
                channel.putMany(messages, now, False)
        for channel in channels:
            channel.pump(now)

    #: How many held messages one L{drain} call moves when the broker can
    #: be woken up for the rest; bounded so that a large backlog never
    #: blocks the reactor for long.
    drainBatch = 2000

    def drain(self, now: float) -> bool:
        """
        Hand what the topic holds to its channels, if it has any and is not
        paused.  With an C{onBacklog} callback, move at most
        L{drainBatch} messages and report the topic for another round.

        @return: whether messages remain to be handed over.
        """
        if self.held or not self.channels:
            return False
        limit = self.drainBatch if self._onBacklog is not None else -1
        memory = self._memory
        messages: list[Message] = []
        while memory and limit:
            messages.append(memory.popleft())
            limit -= 1
        if limit and self._backend.depth():
            # In batches (runs of records are read in one piece): what is
            # left of a bounded drain's batch, or everything.
            records = self._backend.getMany(
                limit if limit > 0 else self._backend.depth()
            )
            restored = Message.decodeMany(records)
            defers = self.backendDefers
            if defers:
                for message in restored:
                    message.deferMs = defers.pop(message.id, 0)
            messages += restored
        if messages:
            self._fanOut(messages, now)
        # Nothing moved although the depth says otherwise (an unreadable
        # backend): do not spin on it.
        if messages and self.depth():
            if self._onBacklog is not None:
                self._onBacklog(self)
            return True
        return False

    def getChannel(
        self, name: str, now: float, drain: bool = True
    ) -> tuple[Channel, bool]:
        """
        The channel called C{name}, created if needed; the flag says whether
        it was created.  The first channel receives what the topic held,
        unless C{drain} is false (restoring: every channel must exist before
        the backlog moves, as in Go).
        """
        channel = self.channels.get(name)
        if channel is not None:
            return channel, False
        channel = self.channels[name] = self._makeChannel(self, name)
        if drain:
            self.drain(now)
        return channel, True

    def deleteChannel(self, name: str) -> Channel | None:
        """
        Delete a channel; return it, or L{None} if there was none.
        """
        channel = self.channels.pop(name, None)
        if channel is not None:
            channel.delete()
        return channel

    def pause(self) -> None:
        """
        Stop handing messages to channels; they pile up in the topic.
        """
        self.paused = True

    def unpause(self, now: float) -> None:
        """
        Resume, delivering what piled up.
        """
        self.paused = False
        self.drain(now)

    def empty(self) -> None:
        """
        Drop what the topic itself holds (not its channels' messages).
        """
        self._memory.clear()
        self._backend.empty()
        self.backendDefers.clear()

    def close(self) -> dict[str, dict[bytes, float]]:
        """
        Graceful shutdown: close channels, then write the topic's memory
        queue to its backend (ephemeral topics drop it).

        @return: each channel's deferred due times (see L{Channel.close}),
            by channel name; the topic's own pending delays stay in
            L{backendDefers}.
        """
        due = {name: channel.close() for name, channel in self.channels.items()}
        if not self.ephemeral:
            for message in self._memory:
                self._backend.put(message.encode())
                if message.deferMs:
                    self.backendDefers[message.id] = message.deferMs
        self._memory.clear()
        self._backend.close()
        return due

    def delete(self) -> None:
        """
        Delete every channel and the topic's own queue.
        """
        self.deleted = True
        for name in list(self.channels):
            self.deleteChannel(name)
        self.empty()
        self._backend.delete()
