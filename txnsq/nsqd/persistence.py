# -*- test-case-name: tests.nsqd.test_persistence -*-
"""
nsqd's data path as a Twisted collaborator of L{NSQDService}: disk queues
for the broker, their fsync policy, C{nsqd.dat}, and the shutdown flush.

The disk queues write on the reactor thread (small buffered writes); only
fsync and the atomic metadata rewrites go to a worker thread, one job at a
time, so a slow disk never stalls message delivery.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, succeed

from txnsq._go.exit import Fatal
from txnsq._logging import Logger
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.diskqueue import DiskQueue
from txnsq.nsqd.state import Broker
from txnsq.nsqd.state.metadata import (
    DEFERRED_FILE,
    METADATA_FILE,
    DeferredTimes,
    TopicMetadata,
    decodeMetadata,
    encodeMetadata,
    lockDataPath,
    readFile,
    writeAtomically,
)
from txnsq.nsqd.stats import Health
from txnsq.wire.message import MESSAGE_HEADER_SIZE

RunInThread = Callable[[Callable[[], None]], "Deferred[None]"]

_log = Logger(namespace="txnsq.nsqd")


def _runHere(job: Callable[[], None]) -> Deferred[None]:
    job()
    return succeed(None)


def threadRunner(reactor: Any) -> RunInThread:
    """
    Run jobs in the reactor's thread pool, or inline for reactors without
    one (the in-memory reactors tests use).
    """
    getThreadPool = getattr(reactor, "getThreadPool", None)
    if getThreadPool is None:
        return _runHere
    from twisted.internet.threads import deferToThreadPool

    def run(job: Callable[[], None]) -> Deferred[None]:
        return deferToThreadPool(reactor, getThreadPool(), job)

    return run


def goError(error: OSError) -> str:
    """
    C{error} as Go's C{*PathError} prints it: C{open PATH: permission
    denied}, or the lower-case reason alone when no file is named.
    """
    reason = (error.strerror or str(error)).lower()
    if error.filename is None:
        return reason
    return f"open {error.filename}: {reason}"


def _diskLog(line: str) -> None:
    level, _, text = line.partition(": ")
    if level == "ERROR":
        _log.error("{text}", text=text)
    elif level == "WARNING":
        _log.warn("{text}", text=text)
    else:
        _log.info("{text}", text=text)


class Persistence:
    """
    The data path of one nsqd.

    @ivar dataPath: the directory (C{--data-path}, or the current folder as
        in Go).
    """

    def __init__(self, config: NSQDConfig, runInThread: RunInThread = _runHere) -> None:
        self.config = config
        self.dataPath = os.path.abspath(config.data_path or os.getcwd())
        self._runInThread = runInThread
        self._queues: dict[str, DiskQueue] = {}
        self._buffered: list[DiskQueue] = []
        #: C{OK} until a disk write fails (C{/ping}, C{/stats}).
        self.health = Health()
        self._lockFD: int | None = None
        self._broker: Broker | None = None
        self._busy: Deferred[None] | None = None
        self._metadataWanted = False
        self._lastSync = 0.0
        #: Whether disk writes are failing (logged once per episode).
        self._failing = False
        #: Whether L{close} could not write everything it had to.
        self.closeFailed = False
        #: How many messages L{close} could not write (they are lost).
        self.unwritten = 0

    # Start-up.

    def openDataPath(self) -> tuple[list[TopicMetadata], DeferredTimes | None]:
        """
        Lock the data path and read what the last run left: the topology and
        txnsq's deferred due times.

        @raise OSError: the path is locked by another nsqd, or unreadable.
        @raise Fatal: C{nsqd.dat} is not what nsqd writes (Go's C{failed
            to load metadata}).
        """
        self._lockFD = lockDataPath(self.dataPath)
        topics: list[TopicMetadata] = []
        path = os.path.join(self.dataPath, METADATA_FILE)
        data = readFile(path)
        if data is not None:
            try:
                topics = decodeMetadata(
                    data, lambda text: _log.warn("{text}", text=text)
                )
            except (ValueError, AttributeError, TypeError) as e:
                # Go refuses to start rather than forget every topic (and
                # then overwrite the file that still names them).
                self._unlock()
                raise Fatal(
                    f"failed to load metadata - failed to parse metadata in"
                    f" {path} - {e}"
                ) from None
        deferred = None
        deferredPath = os.path.join(self.dataPath, DEFERRED_FILE)
        data = readFile(deferredPath)
        if data is not None:
            try:
                deferred = DeferredTimes.decode(data)
            except (ValueError, AttributeError, TypeError) as e:
                _log.error(
                    "ignoring unreadable {path}: {error}", path=deferredPath, error=e
                )
        # The file stays until the next graceful stop rewrites (or removes)
        # it, so a crash in between does not lose the due times.
        return topics, deferred

    def backend(self, name: str) -> DiskQueue:
        """
        The broker's backend factory: a disk queue per topic and channel.
        """
        config = self.config
        queue = DiskQueue(
            name,
            self.dataPath,
            config.max_bytes_per_file,
            MESSAGE_HEADER_SIZE,
            config.max_msg_size + MESSAGE_HEADER_SIZE,
            config.sync_every,
            _diskLog,
            self._markBuffered,
        )
        self._queues[name] = queue
        return queue

    def _markBuffered(self, queue: DiskQueue) -> None:
        # A method, not the bound append of one list: flushWrites swaps the
        # list out, and a queue holding the old list's append would never be
        # flushed before OK again (acknowledged records then waited for the
        # periodic tick, and a kill -9 lost them).
        self._buffered.append(queue)

    def flushWrites(self) -> None:
        """
        Hand every buffered record to the kernel.  It runs after every
        publish, before the publisher is told C{OK}, so an acknowledged
        message survives the process being killed (Go writes each record
        before it replies).

        @raise OSError: a queue could not be written (the disk is full, or
            gone): the publish must not be acknowledged.  Its records stay
            buffered and are written by the next flush that succeeds.
        """
        buffered, self._buffered = self._buffered, []
        failure: OSError | None = None
        for queue in buffered:
            if not queue.closed:
                try:
                    queue.flush()
                except OSError as e:
                    # Still buffered: the next flush retries it.
                    self._buffered.append(queue)
                    failure = failure or self._writeError(queue.name, e)
        if failure is not None:
            self._writeFailed(failure)
            raise failure
        if buffered:
            self._writeSucceeded()

    def _writeError(self, name: str, error: OSError) -> OSError:
        # Go's health text names the file that failed ("write PATH: no
        # space left on device"); the queue and the data path say as much.
        reason = (error.strerror or str(error)).lower()
        return OSError(f"write {self.dataPath} ({name}): {reason}")

    def _writeFailed(self, error: BaseException) -> None:
        """
        A disk write failed: health turns bad (C{/ping} 500, C{/stats}
        C{NOK - ...}), logged once until a write succeeds again.
        """
        self.health.set(error)
        if not self._failing:
            self._failing = True
            _log.error(
                "disk writes to {path} fail: {error}; publishes that need the"
                " disk are refused until a write succeeds",
                path=self.dataPath,
                error=error,
            )

    def _writeSucceeded(self) -> None:
        # Go's SetHealth(nil) after each backend write that worked.
        self.health.set(None)
        if self._failing:
            self._failing = False
            _log.info("disk writes to {path} succeed again", path=self.dataPath)

    def attach(self, broker: Broker) -> None:
        """
        Write C{nsqd.dat} now, as Go's start-up does, and again whenever the
        broker's topology changes.

        @raise Fatal: it could not be written (Go's C{failed to persist
            metadata}): the data path is not writable, so nothing published
            could be kept either.
        """
        path = self._persisting()
        try:
            # On the reactor thread, once: nothing is served yet, and the
            # start must stop here, synchronously, if the disk refuses.
            writeAtomically(path, encodeMetadata(broker.metadata()))
        except OSError as e:
            self._unlock()
            raise Fatal(f"failed to persist metadata - {goError(e)}") from None
        self._broker = broker
        broker.observers.append(self)
        broker.afterPublish.append(self.flushWrites)
        broker.publishFailed.append(self._writeFailed)

    def topologyChanged(self, event: str, topic: str, channel: str | None) -> None:
        """
        Rewrite C{nsqd.dat} (in a worker thread, coalesced).
        """
        self._metadataWanted = True
        self._kick()

    # Periodic work.

    def tick(self, now: float) -> None:
        """
        Hand buffered writes to the kernel and start due fsyncs: a queue
        that did C{--sync-every} operations, or anything dirty once
        C{--sync-timeout} has passed since the last timed sync.
        """
        timed = now - self._lastSync >= self.config.sync_timeout
        if timed:
            self._lastSync = now
        for name, queue in list(self._queues.items()):
            if queue.closed:
                del self._queues[name]
                continue
            try:
                queue.flush()
            except OSError as e:
                self._writeFailed(self._writeError(name, e))
        self._kick(timed)

    def _kick(self, timed: bool = False) -> None:
        if self._busy is not None:
            return
        jobs: list[Callable[[], None]] = []
        for queue in self._queues.values():
            if not queue.closed and (queue.syncNeeded() or (timed and queue.dirty)):
                try:
                    jobs.append(queue.prepareSync())
                except OSError as e:
                    self._writeFailed(self._writeError(queue.name, e))
        if self._metadataWanted and self._broker is not None:
            self._metadataWanted = False
            data = encodeMetadata(self._broker.metadata())
            path = self._persisting()
            jobs.append(lambda: writeAtomically(path, data))
        if not jobs:
            return

        failures: list[OSError] = []

        def runAll() -> None:
            # In a worker thread: failures are reported back on the
            # reactor's, where health and the episode's log live.
            for job in jobs:
                try:
                    job()
                except OSError as e:
                    failures.append(e)

        busy = self._busy = self._runInThread(runAll)
        busy.addBoth(self._jobDone, failures)

    def _jobDone(self, result: object, failures: list[OSError]) -> None:
        self._busy = None
        if failures:
            self._writeFailed(OSError(f"sync failed: {goError(failures[0])}"))
        if self._metadataWanted:
            self._kick()

    # Shutdown.

    async def close(self) -> None:
        """
        Go's exit sequence for the data: wait for the running sync job, let
        the broker write every queued, in-flight and deferred message to
        its disk queue (each closed with an fsync), then write the deferred
        due times and C{nsqd.dat}, and release the lock.

        Unlike Go, a disk that refuses these writes does not end the
        shutdown halfway, nor silently: every queue is still closed, and
        L{closeFailed} and L{unwritten} say what could not be kept (logged
        at the fatal level), so the program can exit non-zero.
        """
        while self._busy is not None:
            await self._busy
        broker = self._broker
        if broker is not None:
            queues = list(self._queues.values())
            for queue in queues:
                queue.holdFailures()
            deferred = broker.close()
            deferredPath = os.path.join(self.dataPath, DEFERRED_FILE)
            try:
                if deferred.channels or deferred.topics:
                    writeAtomically(deferredPath, deferred.encode())
                elif os.path.exists(deferredPath):
                    os.remove(deferredPath)
                writeAtomically(self._persisting(), encodeMetadata(broker.metadata()))
            except OSError as e:
                self.closeFailed = True
                _log.critical("failed to persist metadata - {error}", error=goError(e))
            self._reportUnwritten(queues)
        self._unlock()

    def _persisting(self) -> str:
        """
        Log that C{nsqd.dat} is about to be written, as Go's
        C{PersistMetadata} does each time (at start, after each topology
        change, at exit), and give its path.
        """
        path = os.path.join(self.dataPath, METADATA_FILE)
        _log.info("NSQ: persisting topic/channel metadata to {path}", path=path)
        return path

    def _reportUnwritten(self, queues: list[DiskQueue]) -> None:
        failed = [queue for queue in queues if queue.closeError is not None]
        if not failed:
            return
        self.closeFailed = True
        self.unwritten = sum(queue.unwritten for queue in failed)
        error = failed[0].closeError
        assert error is not None
        _log.critical(
            "NSQ: shutdown could not write {count} message(s) to {path}"
            " ({queues}): {error}; they are lost",
            count=self.unwritten,
            path=self.dataPath,
            queues=", ".join(f"{queue.name}: {queue.unwritten}" for queue in failed),
            error=goError(error),
        )

    def _unlock(self) -> None:
        if self._lockFD is not None:
            os.close(self._lockFD)
            self._lockFD = None
