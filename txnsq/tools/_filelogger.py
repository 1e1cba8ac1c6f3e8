# -*- test-case-name: tests.tools.test_nsq_to_file -*-
"""
One topic of C{nsq_to_file}: a consumer whose messages are written to
files, and FINed only once their bytes are on disk -- Go NSQ 1.3.0's
C{FileLogger.router}.

The file work (L{FileWriter}: writes, rotation, fsync, moves) runs on a
worker thread, never on the reactor; L{FileLogger} queues it there one
batch at a time, in order, and keeps the decisions Go's router makes:

  - each message is written as it arrives (its arrival time decides
    rotation and the file name), and held unanswered;
  - the written messages are synced -- then FINed -- every
    C{--sync-interval}, as soon as C{--max-in-flight} of them wait, when
    the consumer is starved (its messages in flight nearly reach its
    RDY, so nsqd would send nothing more until some are answered), and
    after a rotation on a message;
  - every C{--sync-interval} the file also rotates if it is due (or with
    C{--skip-empty-files} is only closed);
  - L{hangUp} (SIGHUP) syncs and closes the file, which moves to the
    output dir; the next message opens a new one;
  - L{stop} (SIGTERM, SIGINT) syncs, stops the consumer (CLS, then
    waits for every message in flight to be answered), then syncs again
    and closes the file.

A failure of the file work is fatal, as in Go (which logs it and exits
1): L{FileLogger} reports it to its C{fatal} callback and stops answering
messages, so nsqd delivers them again to the next consumer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import attrs
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from txnsq.client import Consumer, Message
from txnsq.tools._filewriter import Event, FileWriter, WriterFailed

__all__ = ["FileLogger", "RunInThread"]

#: Runs a blocking function off the reactor thread; its Deferred fires on
#: the reactor thread with the result (C{threads.deferToThread}).
RunInThread = Callable[[Callable[[], Any]], "Deferred[Any]"]


@attrs.define
class _Batch:
    """
    File work queued for the worker, run in this order: the writes, the
    ticker's rotation check, a sync, closing the file.

    @ivar sequence: its place in the queue.
    @ivar writes: C{(body, arrival time)}.
    @ivar tick: the time of a ticker rotation check, if any.
    @ivar sync: whether to sync at the end (also done after a rotation).
    @ivar close: whether to close the file at the end.
    @ivar records: the messages the sync covers, for Go's log line.
    """

    sequence: int
    writes: list[tuple[bytes, float]] = attrs.Factory(list)
    tick: float | None = None
    sync: bool = False
    close: bool = False
    records: int = 0

    @property
    def merges(self) -> bool:
        """
        Whether writes can still join it (nothing runs after its writes
        yet).
        """
        return self.tick is None and not self.sync and not self.close


@attrs.frozen
class _Outcome:
    synced: bool
    events: list[Event]
    finished: list[str]


def _runBatch(writer: FileWriter, batch: _Batch) -> _Outcome:
    """
    Do one batch's file work (on the worker thread).
    """
    sync = batch.sync
    for body, arrived in batch.writes:
        if writer.write(body, arrived):
            sync = True
    if batch.writes:
        # Go writes each message straight to the file: make them visible
        # (to tail -f) now, not when the buffer fills.
        writer.flush()
    close = batch.close
    if batch.tick is not None and writer.tick(batch.tick):
        close = True
    if sync and writer.isOpen:
        writer._note("info", "syncing {count} records to disk", count=batch.records)
        writer.sync()
    if close:
        writer.close()
    # Without an open file, the messages went to files that were fsynced
    # as they closed.
    synced = sync
    return _Outcome(synced, writer.takeEvents(), writer.takeFinished())


class FileLogger:
    """
    One topic's consumer and files.

    @ivar consumer: the consumer.
    @ivar writer: the file writer (used on the worker thread only).
    """

    def __init__(
        self,
        writer: FileWriter,
        makeConsumer: Callable[[Callable[[Message], Deferred[None]]], Consumer],
        *,
        clock: Any,
        runInThread: RunInThread,
        syncInterval: float,
        maxInFlight: int,
        log: Callable[[Event], None],
        fatal: Callable[[WriterFailed], None],
    ) -> None:
        """
        @param makeConsumer: makes the (unstarted) consumer, given the
            handler.
        @param clock: the time of arrival and the sync ticker.
        @param runInThread: runs the file work off the reactor thread.
        @param syncInterval: seconds between syncs (C{--sync-interval}).
        @param maxInFlight: how many written messages force a sync.
        @param log: emits a L{FileWriter} event.
        @param fatal: told when the file work failed (Go exits 1).
        """
        self.writer = writer
        self.consumer = makeConsumer(self._handle)
        self._clock = clock
        self._runInThread = runInThread
        self._syncInterval = syncInterval
        self._maxInFlight = max(maxInFlight, 1)
        self._log = log
        self._fatal = fatal
        self._queue: deque[_Batch] = deque()
        self._running: _Batch | None = None
        self._sequence = 0
        # Written (or queued to be), not yet synced: (batch, message, answer).
        self._unsynced: deque[tuple[int, Message, Deferred[None]]] = deque()
        self._idle: list[Deferred[None]] = []
        self._ticker: LoopingCall | None = None
        self._stopping = False
        self._failed = False
        self._stopped: Deferred[None] | None = None

    @property
    def topic(self) -> str:
        """
        The topic.
        """
        return self.writer.topic

    def start(self) -> None:
        """
        Start consuming, and the sync ticker.
        """
        self._ticker = LoopingCall(self._tick)
        self._ticker.clock = self._clock
        self._ticker.start(self._syncInterval, now=False)
        self.consumer.start()

    # Messages.

    def _handle(self, message: Message) -> Deferred[None]:
        """
        The consumer's handler: write the message; it is FINed when the
        returned Deferred fires, after a sync that covers it.
        """
        answer: Deferred[None] = Deferred()
        if self._failed:
            _giveBack(message, answer)
            return answer
        batch = self._lastBatch(merging=True)
        batch.writes.append((message.body, self._clock.seconds()))
        self._unsynced.append((batch.sequence, message, answer))
        if (
            len(self._unsynced) >= self._maxInFlight
            or self.consumer.isStarved()
            or self._stopping
        ):
            self._requestSync()
        self._pump()
        return answer

    def _lastBatch(self, merging: bool) -> _Batch:
        """
        The last batch not yet running, or a new one; with C{merging}, one
        writes can still join.
        """
        if self._queue and (not merging or self._queue[-1].merges):
            return self._queue[-1]
        self._sequence += 1
        batch = _Batch(self._sequence)
        self._queue.append(batch)
        return batch

    def _requestSync(self, tick: float | None = None, close: bool = False) -> None:
        """
        Queue a sync of what is written (if anything is unsynced), with a
        ticker rotation check and closing the file if asked.
        """
        sync = bool(self._unsynced)
        if not (sync or close or tick is not None):
            return
        if tick is not None:
            # After the writes queued so far, and before any that follow.
            batch = self._lastBatch(merging=True)
            batch.tick = tick
        else:
            batch = self._lastBatch(merging=False)
        batch.sync = batch.sync or sync
        batch.close = batch.close or close
        self._pump()

    def _tick(self) -> None:
        self._requestSync(tick=self._clock.seconds())

    # The worker.

    def _pump(self) -> None:
        """
        Run the next batch if none is running.
        """
        if self._running is not None or not self._queue or self._failed:
            if self._running is None and not self._queue:
                self._fireIdle()
            return
        batch = self._running = self._queue.popleft()
        batch.records = sum(1 for entry in self._unsynced if entry[0] <= batch.sequence)
        if batch.records == 0:
            # An earlier batch synced them all already.
            batch.sync = False
        writer = self.writer
        done = self._runInThread(lambda: _runBatch(writer, batch))
        done.addCallbacks(self._batchDone, self._batchFailed, callbackArgs=(batch,))

    def _batchDone(self, outcome: _Outcome, batch: _Batch) -> None:
        self._running = None
        for event in outcome.events:
            self._log(event)
        if outcome.synced:
            # Everything queued up to this batch is on disk: FIN it.
            unsynced = self._unsynced
            while unsynced and unsynced[0][0] <= batch.sequence:
                unsynced.popleft()[2].callback(None)
        self._pump()

    def _batchFailed(self, reason: Failure) -> None:
        self._running = None
        self._failed = True
        self._queue.clear()
        # Go exits without answering, and nsqd delivers the messages again
        # once the connection is gone; requeueing them at once does the
        # same without waiting for the connection to end.
        unsynced, self._unsynced = self._unsynced, deque()
        for _, message, answer in unsynced:
            _giveBack(message, answer)
        for event in self.writer.takeEvents():
            self._log(event)
        error = reason.value
        if not isinstance(error, WriterFailed):
            error = WriterFailed(
                f"[{self.writer.topic}/{self.writer.channel}] {reason.getErrorMessage()}"
            )
        self._fireIdle()
        self._fatal(error)

    def _fireIdle(self) -> None:
        idle, self._idle = self._idle, []
        for waiter in idle:
            waiter.callback(None)

    def _whenIdle(self) -> Deferred[None]:
        """
        Fires once the queued file work is done (or has failed).
        """
        if (self._running is None and not self._queue) or self._failed:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._idle.append(waiter)
        return waiter

    # Signals.

    def hangUp(self) -> None:
        """
        SIGHUP: sync, and close the file (moving it to the output dir).
        """
        if not self._stopping:
            self._requestSync(close=True)

    def stop(self) -> Deferred[None]:
        """
        SIGTERM: sync what is written, stop the consumer (waiting for every
        message in flight to be written and synced), then close the file.

        @return: fires when the file is closed (or the file work failed).
        """
        if self._stopped is None:
            self._stopped = Deferred.fromCoroutine(self._stop())
        return self._stopped

    async def _stop(self) -> None:
        self._stopping = True
        if self._ticker is not None and self._ticker.running:
            self._ticker.stop()
        self._requestSync()
        await self.consumer.stop()
        if self._failed:
            return
        self._requestSync(close=True)
        await self._whenIdle()


def _giveBack(message: Message, answer: Deferred[None]) -> None:
    """
    Requeue a message that cannot be written, at once and without backoff,
    and end its handling.
    """
    message.requeue(0, backoff=False)
    answer.callback(None)
