# -*- test-case-name: tests.nsqd.state.test_channel -*-
"""
A channel: one copy of a topic's stream, shared by its consumers.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from typing import TYPE_CHECKING

from txnsq.nsqd.state.message import REQUEUED, TIMED_OUT, Consumer, Message
from txnsq.wire.names import isEphemeral

if TYPE_CHECKING:
    from txnsq.nsqd.state.backend import BackendQueue
    from txnsq.nsqd.state.quantile import LatencyWindow


class ChannelError(Exception):
    """
    A FIN, REQ or TOUCH that names a message this consumer cannot act on.
    The text is Go's (C{ID not in flight}, C{client does not own message}).
    """


class Channel:
    """
    Memory queue, backend overflow, in-flight and deferred messages, and
    delivery to ready consumers.

    In-flight messages are kept per timeout value in insertion order: every
    message a consumer takes gets the same timeout, so deadlines within one
    bucket arrive in order and the scan stops at the first unexpired entry
    (O(expired), no heap).  TOUCH moves an entry to the end of its bucket,
    unless C{--max-msg-timeout} caps its new deadline, which would break
    the order: such rare entries move to a small heap.  Deferred messages
    have arbitrary deadlines and live in a heap.
    """

    def __init__(
        self,
        topicName: str,
        name: str,
        memQueueSize: int,
        backend: BackendQueue,
        maxConsumers: int = 0,
        maxMsgTimeout: float = 900.0,
    ) -> None:
        self.topicName = topicName
        self.name = name
        self.ephemeral = isEphemeral(name)
        self.paused = False
        self.consumers: list[Consumer] = []
        self.inFlight: dict[bytes, Message] = {}
        self.messageCount = 0
        self.requeueCount = 0
        self.timeoutCount = 0
        self.deleted = False
        self._memQueueSize = memQueueSize
        self._memory: deque[Message] = deque()
        self._backend = backend
        self._maxConsumers = maxConsumers
        self._maxMsgTimeout = maxMsgTimeout
        self._timeouts: dict[float, dict[bytes, Message]] = {}
        # TOUCHed messages whose new deadline was capped by max-msg-timeout
        # would break a bucket's order; they wait in this heap instead
        # (entries go stale when the message leaves flight first).
        self._capped: list[tuple[float, int, Message]] = []
        self._cappedSeq = 0
        self._deferred: list[tuple[float, int, Message]] = []
        self._deferredSeq = 0
        self._rotation = 0
        self._preferBackend = False
        #: Due times (Unix seconds) of deferred messages that were written to
        #: the backend at the last shutdown, applied as they are read back.
        self.restoredDue: dict[bytes, float] = {}
        #: End-to-end latency samples (publish to FIN) when percentiles are
        #: configured; the broker gives each new channel one.
        self.e2eLatency: LatencyWindow | None = None

    def __repr__(self) -> str:
        return f"<Channel {self.topicName}:{self.name}>"

    # Queue contents.

    def depth(self) -> int:
        """
        Messages waiting for delivery: memory plus backend.
        """
        return len(self._memory) + self._backend.depth()

    def backendDepth(self) -> int:
        """
        Messages waiting in the backend.
        """
        return self._backend.depth()

    def deferredCount(self) -> int:
        """
        Messages waiting for their defer time.
        """
        return len(self._deferred)

    def put(self, message: Message, now: float) -> None:
        """
        Accept a message from the topic, honouring a DPUB delay.
        """
        self.messageCount += 1
        if message.deferMs:
            self._defer(message, now + message.deferMs / 1000.0)
            message.deferMs = 0
        else:
            self._enqueue(message)

    def putMany(
        self, messages: list[Message], now: float, deferred: bool | None = None
    ) -> None:
        """
        L{put} for a batch (a topic's fan-out): messages go to the memory
        queue in one step when none is deferred and they fit.

        @param deferred: whether any message has a DPUB delay, when the
            caller knows (L{None}: look).
        """
        memory = self._memory
        if len(messages) == 1:
            # One message per publish: no generator over the batch.
            message = messages[0]
            if message.deferMs:
                self.put(message, now)
                return
            self.messageCount += 1
            if len(memory) < self._memQueueSize:
                memory.append(message)
            else:
                self._backend.put(message.encode())
            return
        if deferred is None:
            deferred = any(message.deferMs for message in messages)
        if not deferred and len(memory) + len(messages) <= self._memQueueSize:
            self.messageCount += len(messages)
            memory.extend(messages)
            return
        for message in messages:
            self.put(message, now)

    def _enqueue(self, message: Message) -> None:
        if len(self._memory) < self._memQueueSize:
            self._memory.append(message)
        else:
            self._backend.put(message.encode())

    def _defer(self, message: Message, deadline: float) -> None:
        self._deferredSeq += 1
        message.deadline = deadline
        heapq.heappush(self._deferred, (deadline, self._deferredSeq, message))

    def _take(self, count: int, now: float) -> list[Message]:
        """
        Remove up to C{count} messages for delivery.  When both memory and
        backend hold messages, successive calls alternate between them so
        neither starves (Go picks between them at random).
        """
        memory = self._memory
        backend = self._backend
        taken: list[Message] = []
        if backend.depth() and (self._preferBackend or not memory):
            self._preferBackend = False
            restored = self.restoredDue
            while len(taken) < count:
                records = backend.getMany(count - len(taken))
                if not records:
                    break
                messages = Message.decodeMany(records)
                if restored:
                    for message in messages:
                        due = restored.pop(message.id, None)
                        if due is not None and due > now:
                            self._defer(message, due)
                        else:
                            taken.append(message)
                else:
                    taken += messages
            if taken or not memory:
                return taken
        self._preferBackend = True
        popleft = memory.popleft
        for _ in range(min(count, len(memory))):
            message = popleft()
            if message.shares > 1:
                # Still shared with the topic's other channels: deliver a
                # copy of our own (Message.take).
                message = message.take()
            taken.append(message)
        return taken

    # Consumers.

    def addConsumer(self, consumer: Consumer) -> str | None:
        """
        Subscribe C{consumer}; return Go's error text if the channel is full.
        """
        if self._maxConsumers and len(self.consumers) >= self._maxConsumers:
            return (
                f"consumers for {self.topicName}:{self.name} exceeds limit of "
                f"{self._maxConsumers}"
            )
        self.consumers.append(consumer)
        return None

    def removeConsumer(self, consumer: Consumer) -> None:
        """
        Unsubscribe C{consumer}.  Its in-flight messages stay in flight
        until they time out, as in Go.
        """
        if consumer in self.consumers:
            self.consumers.remove(consumer)

    def pump(self, now: float) -> None:
        """
        Deliver waiting messages to consumers with spare capacity, sharing
        them out in turn so that every ready consumer gets some.  Work is
        done in batches: one take and one send per consumer and round.
        """
        consumers = self.consumers
        if self.paused or not consumers:
            return
        count = len(consumers)
        if count > 1:
            self._rotation = (self._rotation + 1) % count
            order = consumers[self._rotation :] + consumers[: self._rotation]
        else:
            order = consumers
        backend = self._backend
        while True:
            available = len(self._memory) + backend.depth()
            if not available:
                return
            share = max(1, available // count)
            gave = False
            for consumer in order:
                capacity = consumer.capacity()
                if capacity <= 0:
                    continue
                batch = self._take(min(capacity, share), now)
                if not batch:
                    # Everything left was restored as deferred.
                    break
                gave = True
                self._deliver(consumer, batch, now)
            if not gave:
                return

    def _deliver(self, consumer: Consumer, batch: list[Message], now: float) -> None:
        rate = consumer.sampleRate
        if rate:
            # Go drops unsampled messages for the whole channel.
            batch = [m for m in batch if random.randrange(100) <= rate]
        timeout = consumer.msgTimeout
        deadline = now + timeout
        bucket = self._timeouts.get(timeout)
        if bucket is None:
            # A plain dict keeps insertion order, which is deadline order
            # here; it is cheaper per entry than an OrderedDict (see scan).
            bucket = self._timeouts[timeout] = {}
        inFlight = self.inFlight
        for message in batch:
            message.attempts += 1
            message.owner = consumer
            message.deliveredAt = now
            message.timeout = timeout
            message.deadline = deadline
            inFlight[message.id] = message
            bucket[message.id] = message
        consumer.sendMessages(batch)

    def _popInFlight(self, consumer: Consumer, messageID: bytes) -> Message:
        message = self.inFlight.get(messageID)
        if message is None:
            raise ChannelError("ID not in flight")
        if message.owner is not consumer:
            raise ChannelError("client does not own message")
        del self.inFlight[messageID]
        bucket = self._timeouts[message.timeout]
        if messageID in bucket:
            del bucket[messageID]
        return message

    def finish(
        self, consumer: Consumer, messageID: bytes, now: float | None = None
    ) -> Message:
        """
        FIN: the message is done.

        @raise ChannelError: it is not in flight for C{consumer}.
        """
        message = self._popInFlight(consumer, messageID)
        message.owner = None
        consumer.messagesFinished([message])
        if self.e2eLatency is not None and now is not None:
            self.e2eLatency.insert(message.timestamp, now)
        return message

    def finishMany(
        self, consumer: Consumer, messageIDs: list[bytes], now: float
    ) -> list[tuple[bytes, str]]:
        """
        FIN several messages (the common case: a consumer's batch).

        @return: C{(id, reason)} for each that could not be finished, with
            L{finish}'s reasons, in order.
        """
        inFlight = self.inFlight
        pop = inFlight.pop
        timeouts = self._timeouts
        # The messages a consumer owns were delivered with its timeout (a
        # client's msg_timeout is set by IDENTIFY, before SUB), so their
        # bucket is looked up once per batch; a message not found there was
        # capped by --max-msg-timeout (in no bucket) or has another timeout.
        # ~25 ns less per message (issue 19, consume CPU per message).
        bucket = timeouts.get(consumer.msgTimeout)
        unbucket = (bucket if bucket is not None else {}).pop
        failed: list[tuple[bytes, str]] = []
        done: list[Message] = []
        append = done.append
        for messageID in messageIDs:
            message = pop(messageID, None)
            if message is None:
                failed.append((messageID, "ID not in flight"))
                continue
            if message.owner is not consumer:
                inFlight[messageID] = message
                failed.append((messageID, "client does not own message"))
                continue
            if unbucket(messageID, None) is None:
                timeouts[message.timeout].pop(messageID, None)
            message.owner = None
            append(message)
        if done:
            consumer.messagesFinished(done)
            latency = self.e2eLatency
            if latency is not None:
                for message in done:
                    latency.insert(message.timestamp, now)
        return failed

    def requeue(
        self, consumer: Consumer, messageID: bytes, delay: float, now: float
    ) -> None:
        """
        REQ: back into the queue now, or after C{delay} seconds.

        @raise ChannelError: it is not in flight for C{consumer}.
        """
        message = self._popInFlight(consumer, messageID)
        message.owner = None
        self.requeueCount += 1
        consumer.messageDone(message, REQUEUED)
        if delay > 0:
            self._defer(message, now + delay)
        else:
            self._enqueue(message)

    def touch(self, consumer: Consumer, messageID: bytes, now: float) -> None:
        """
        TOUCH: restart the message's timeout, never beyond its first
        delivery plus C{--max-msg-timeout}.

        @raise ChannelError: it is not in flight for C{consumer}.
        """
        message = self.inFlight.get(messageID)
        if message is None:
            raise ChannelError("ID not in flight")
        if message.owner is not consumer:
            raise ChannelError("client does not own message")
        bucket = self._timeouts[message.timeout]
        if messageID not in bucket:
            # Already capped: the deadline cannot move any more.
            return
        deadline = now + message.timeout
        cap = message.deliveredAt + self._maxMsgTimeout
        if deadline <= cap:
            message.deadline = deadline
            # To the end of the bucket (what works for a plain dict too).
            del bucket[messageID]
            bucket[messageID] = message
            return
        message.deadline = cap
        del bucket[messageID]
        self._cappedSeq += 1
        heapq.heappush(self._capped, (cap, self._cappedSeq, message))

    def scan(self, now: float) -> bool:
        """
        Requeue timed-out in-flight messages and release due deferred ones.
        Return whether anything was due.
        """
        dirty = False
        for bucket in self._timeouts.values():
            # The expired entries, in one pass from the front, then removed
            # (a bucket cannot change while it is iterated).  The buckets are
            # plain dicts: the holes FINs leave at the front are skipped in
            # C within this one pass, where a fresh iterator per entry would
            # skip them again each time.
            expired = []
            for message in bucket.values():
                if message.deadline > now:
                    break
                expired.append(message)
            for message in expired:
                del bucket[message.id]
                self._timedOut(message)
            if expired:
                dirty = True
        capped = self._capped
        while capped and capped[0][0] <= now:
            cap, _, message = heapq.heappop(capped)
            # Stale if the message left flight, or left and came back
            # (then it sits in a bucket again with a new deadline).
            if (
                self.inFlight.get(message.id) is message
                and message.deadline == cap
                and message.id not in self._timeouts[message.timeout]
            ):
                self._timedOut(message)
                dirty = True
        deferred = self._deferred
        while deferred and deferred[0][0] <= now:
            self._enqueue(heapq.heappop(deferred)[2])
            dirty = True
        if dirty:
            self.pump(now)
        return dirty

    def _timedOut(self, message: Message) -> None:
        del self.inFlight[message.id]
        self.timeoutCount += 1
        owner = message.owner
        message.owner = None
        if owner is not None:
            owner.messageDone(message, TIMED_OUT)
        self._enqueue(message)

    # Administration.

    def pause(self) -> None:
        """
        Keep accepting messages but deliver none.
        """
        self.paused = True

    def unpause(self, now: float) -> None:
        """
        Resume delivery.
        """
        self.paused = False
        self.pump(now)

    def empty(self) -> None:
        """
        Drop everything queued, in flight and deferred.
        """
        self._memory.clear()
        self._backend.empty()
        self.inFlight.clear()
        self._timeouts.clear()
        self._capped.clear()
        self._deferred.clear()
        self.restoredDue.clear()
        for consumer in self.consumers:
            consumer.inFlightReset()

    def close(self) -> dict[bytes, float]:
        """
        Graceful shutdown: disconnect consumers, then write memory, in-flight
        and deferred messages (in Go's order) to the backend and close it.
        Ephemeral channels simply drop theirs.

        @return: the due time of every deferred message written, by ID,
            including restored ones not read back yet.
        """
        due: dict[bytes, float] = {}
        for consumer in list(self.consumers):
            consumer.channelClosed()
        self.consumers.clear()
        if not self.ephemeral:
            backend = self._backend
            for message in self._memory:
                backend.put(message.encode())
            for message in self.inFlight.values():
                backend.put(message.encode())
            for deadline, _, message in sorted(self._deferred):
                backend.put(message.encode())
                due[message.id] = deadline
            due.update(self.restoredDue)
        self._memory.clear()
        self.inFlight.clear()
        self._timeouts.clear()
        self._deferred.clear()
        self._backend.close()
        return due

    def delete(self) -> None:
        """
        Drop everything, disconnect consumers and remove the backend.
        """
        self.deleted = True
        for consumer in list(self.consumers):
            consumer.channelClosed()
        self.consumers.clear()
        self.empty()
        self._backend.delete()
