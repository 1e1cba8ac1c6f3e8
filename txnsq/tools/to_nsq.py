# -*- test-case-name: tests.tools.test_to_nsq -*-
"""
C{txnsq to_nsq}: Go NSQ 1.3.0's C{to_nsq}, publishing stdin to a topic.

stdin is split on C{--delimiter} (one byte, C{\\n} by default) and each
chunk is published to the topic on every C{--nsqd-tcp-address}; empty
chunks are skipped (nsqd refuses empty messages).  C{--rate n} publishes
at most C{n} messages a second, as Go's token bucket does (a burst of up
to C{n} after a pause); 0 does not throttle.  At the end of stdin the tool
waits for nsqd's answers and exits 0; a publish nsqd refuses, or an nsqd
that cannot be reached, ends it with Go's C{log.Fatal} (status 1).
SIGINT or SIGTERM stops it (status 0).

B{Not in Go's} C{to_nsq}: progress a person can read, as Go log lines on
stderr (stdout stays empty for pipelines).  Every L{PROGRESS_INTERVAL}
seconds in which messages were acknowledged, C{N messages sent (R msg/s)}
with the total so far and the rate over the interval; and once publishing
has begun, at the end of stdin or on the signal, the same line with the
total and the rate over the whole run.  A message counts as sent once every
nsqd acknowledged it.

B{Unlike Go's} C{to_nsq}, a chunk is exactly the bytes before the
delimiter, and a last chunk that has no delimiter after it is published
whole.  Go's reads with C{ReadBytes} and always cuts the last byte, so
its last message loses a real byte when stdin does not end with the
delimiter (C{printf 'a\\nbc' | to_nsq} publishes C{a} and C{b}; txnsq
publishes C{a} and C{bc}).

Also unlike Go's, which waits for each answer before reading on, txnsq
keeps up to L{WINDOW} chunks in flight: the messages and their order are
the same, only faster.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from twisted.internet.defer import Deferred, FirstError, gatherResults, succeed
from twisted.internet.task import LoopingCall, deferLater
from twisted.python.failure import Failure

from txnsq._go.flags import INT, STRING, Flag, FlagTable
from txnsq.client import Producer
from txnsq.tools._common import (
    dialError,
    nsqConfig,
    nsqdAddress,
    nsqdTCPAddressFlag,
    producerOptFlag,
    topicFlag,
    watchEndpoints,
)
from txnsq.tools._config import producerOptions
from txnsq.tools._runner import Fatal, Tool, ToolContext, runTool
from txnsq.wire.names import isValidName

__all__ = [
    "PROGRESS_INTERVAL",
    "TOOL",
    "WINDOW",
    "LineSplitter",
    "Progress",
    "Throttle",
    "main",
]

#: Chunks published and not yet answered, at most.
WINDOW = 1000

#: Seconds between progress lines.
PROGRESS_INTERVAL = 10.0

#: Bytes read from stdin at a time.
READ_SIZE = 65536

FLAGS = FlagTable(
    "to_nsq",
    [
        topicFlag("NSQ topic to publish to"),
        Flag(
            "delimiter",
            STRING,
            "character to split input from stdin",
            default="\n",
        ),
        nsqdTCPAddressFlag(
            "destination nsqd TCP address (may be given multiple times)"
        ),
        producerOptFlag(),
        Flag("rate", INT, "Throttle messages to n/second. 0 to disable", default=0),
    ],
)
"""Go's C{to_nsq} flags (it has no C{--version})."""


class LineSplitter:
    """
    Cuts a byte stream into the chunks between delimiters.
    """

    def __init__(self, delimiter: bytes) -> None:
        self._delimiter = delimiter
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        """
        The chunks C{data} completes (empty ones included).
        """
        chunks = (self._buffer + data).split(self._delimiter)
        self._buffer = chunks.pop()
        return chunks

    def end(self) -> list[bytes]:
        """
        At the end of the stream: the last chunk, if bytes follow the last
        delimiter.
        """
        rest, self._buffer = self._buffer, b""
        return [rest] if rest else []


class Throttle:
    """
    Go's C{to_nsq} rate limit: a balance that starts at 1, grows by one
    every second divided by C{rate} up to C{rate}, and pays for each
    message; when it is spent, the next message waits one interval.
    """

    def __init__(self, clock: Any, rate: int) -> None:
        self._clock = clock
        self._rate = rate
        # time.Second / time.Duration(rate): whole nanoseconds.
        self.interval = (1_000_000_000 // rate) / 1e9
        self.balance = 1
        self._loop: LoopingCall | None = None
        if self.interval > 0:
            # Go's time.Tick(0) never ticks.
            self._loop = LoopingCall(self._tick)
            self._loop.clock = clock
            self._loop.start(self.interval, now=False)

    def _tick(self) -> None:
        self.balance += 1
        # Build up at most one second of capacity.
        if self.balance > self._rate:
            self.balance = self._rate

    async def take(self) -> None:
        """
        Pay for one message, first waiting an interval if nothing is left.
        """
        if self.balance <= 0:
            await deferLater(self._clock, self.interval)
        self.balance -= 1

    def stop(self) -> None:
        """
        Stop the ticker.
        """
        if self._loop is not None and self._loop.running:
            self._loop.stop()


class Progress:
    """
    Counts the messages sent, and says so: a line every C{interval} in
    which some were sent, and a last one from L{finish}.

    @ivar sent: the messages acknowledged so far.
    """

    def __init__(
        self, clock: Any, log: Callable[[str], object], interval: float
    ) -> None:
        self._clock = clock
        self._log = log
        self.sent = 0
        self._started = clock.seconds()
        self._last = (self._started, 0)
        self._loop = LoopingCall(self._report)
        self._loop.clock = clock
        self._loop.start(interval, now=False)

    def _line(self, sent: int, elapsed: float) -> None:
        rate = sent / elapsed if elapsed > 0 else 0.0
        self._log(f"{self.sent} messages sent ({rate:.1f} msg/s)")

    def _report(self) -> None:
        now = self._clock.seconds()
        since, count = self._last
        if self.sent == count:
            return
        self._last = (now, self.sent)
        self._line(self.sent - count, now - since)

    def finish(self) -> None:
        """
        Stop reporting, with the total and the rate over the whole run.
        """
        if not self._loop.running:
            return
        self._loop.stop()
        self._line(self.sent, self._clock.seconds() - self._started)

    def stop(self) -> None:
        """
        Stop reporting, without a last line.
        """
        if self._loop.running:
            self._loop.stop()


class _Reader(Protocol):
    def read(self) -> Deferred[bytes]:
        """
        The next bytes; C{b""} at the end.
        """


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes:
        """
        Up to C{size} bytes; C{b""} at the end.
        """


class _FileReader:
    """
    Reads a file object that has no file descriptor (tests' C{BytesIO}).
    """

    def __init__(self, stream: _Readable) -> None:
        self._stream = stream

    def read(self) -> Deferred[bytes]:
        return succeed(self._stream.read(READ_SIZE))


class _ThreadedReader:
    """
    Reads a file descriptor in a thread of its own: stdin may be a pipe, a
    terminal or a regular file, and regular files cannot be polled.  The
    thread is a daemon and reads only when asked, so a blocked read never
    holds the process (or the reactor's shutdown) up.
    """

    def __init__(self, reactor: Any, fd: int) -> None:
        self._reactor = reactor
        self._fd = fd
        self._requests: queue.Queue[Deferred[bytes]] = queue.Queue()
        self._thread: threading.Thread | None = None

    def read(self) -> Deferred[bytes]:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._work, name="to_nsq stdin", daemon=True
            )
            self._thread.start()
        result: Deferred[bytes] = Deferred()
        self._requests.put(result)
        return result

    def _work(self) -> None:
        while True:
            request = self._requests.get()
            try:
                data = os.read(self._fd, READ_SIZE)
            except OSError as e:
                self._reactor.callFromThread(_deliver, request, Failure(e))
                return
            self._reactor.callFromThread(_deliver, request, data)
            if not data:
                return


def _deliver(request: Deferred[bytes], result: bytes | Failure) -> None:
    # The read may have been cancelled (the tool stopped) meanwhile.
    if request.called:
        return
    if isinstance(result, Failure):
        request.errback(result)
    else:
        request.callback(result)


def _reader(context: ToolContext) -> _Reader:
    stdin = context.stdin
    if stdin is None:
        return _FileReader(_Empty())
    try:
        fd = stdin.fileno()
    except (OSError, ValueError, AttributeError):
        return _FileReader(stdin)
    return _ThreadedReader(context.reactor, fd)


class _Empty:
    def read(self, size: int) -> bytes:
        return b""


class _Publisher:
    """
    Publishes each chunk to every nsqd, keeping at most L{WINDOW} chunks
    unanswered; the first failure ends the tool.
    """

    def __init__(
        self,
        context: ToolContext,
        producers: list[Producer],
        topic: str,
        badAddress: str | None = None,
    ) -> None:
        """
        @param badAddress: Go's dial error for an C{--nsqd-tcp-address}
            that cannot be dialed, which L{publish} raises (as L{Fatal}).
        """
        self._context = context
        self._producers = producers
        self._topic = topic
        self._badAddress = badAddress
        # nsqd checks the topic name, once connected: the client's own
        # check must not come before a connection error, as in Go.
        self._connectFirst = not isValidName(topic)
        self._outstanding = 0
        self._started = False
        self._waiting: Deferred[None] | None = None
        self.progress: Progress | None = None

    def publish(self, chunk: bytes) -> None:
        if self._badAddress is not None:
            # Where go-nsq's Producer would dial it.
            raise Fatal(self._badAddress)
        if not self._started:
            # go-nsq's Producer connects at the first Publish.
            self._started = True
            self.progress = Progress(
                self._context.reactor, self._context.log, PROGRESS_INTERVAL
            )
            for producer in self._producers:
                producer.start()
        self._outstanding += 1
        answers = gatherResults(
            [self._publishTo(producer, chunk) for producer in self._producers],
            consumeErrors=True,
        )
        answers.addCallbacks(self._answered, self._failed)

    def _publishTo(self, producer: Producer, chunk: bytes) -> Deferred[None]:
        if not self._connectFirst:
            return producer.publish(self._topic, chunk)
        return producer.connect().addCallback(
            lambda _: producer.publish(self._topic, chunk)
        )

    def _answered(self, _: object) -> None:
        self._outstanding -= 1
        if self.progress is not None:
            self.progress.sent += 1
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.callback(None)

    def _failed(self, reason: Failure) -> None:
        if self.progress is not None:
            # Go's log.Fatal is the last line.
            self.progress.stop()
        error = reason.value
        if isinstance(error, FirstError):
            error = error.subFailure.value
        self._context.end(Fatal(str(error)))

    async def room(self, limit: int) -> None:
        """
        Wait until fewer than C{limit} chunks are unanswered.
        """
        while self._outstanding >= limit:
            self._waiting = Deferred()
            await self._waiting

    def finish(self) -> None:
        """
        Log the last progress line, if publishing began.
        """
        if self.progress is not None:
            self.progress.finish()

    async def stop(self) -> None:
        """
        Wait for nsqd's answers, then close the connections.
        """
        if self.progress is not None:
            self.progress.stop()
        if self._started:
            await gatherResults(
                [producer.stop() for producer in self._producers],
                consumeErrors=True,
            )


async def run(context: ToolContext) -> int:
    """
    Go's C{to_nsq} C{main} after C{flag.Parse}.
    """
    values = context.values
    topic = values["topic"]
    assert isinstance(topic, str)
    if not topic:
        raise Fatal("--topic required")
    delimiterText = values["delimiter"]
    assert isinstance(delimiterText, str)
    delimiter = os.fsencode(delimiterText)
    if len(delimiter) != 1:
        raise Fatal("--delimiter must be a single byte")
    addresses = values["nsqd-tcp-address"]
    rate = values["rate"]
    assert isinstance(addresses, list) and isinstance(rate, int)
    # Go keeps its producers in a map keyed by address.
    addresses = list(dict.fromkeys(addresses))
    if not addresses:
        raise Fatal("--nsqd-tcp-address required")
    config = nsqConfig(
        context, "producer-opt", errorPrefix="failed to create nsq.Producer - "
    )
    # Go's producers dial (and so check their address) at the first
    # publish: with nothing to publish, a bad address is no error.
    dialable: list[str] = []
    badAddress: str | None = None
    for address in addresses:
        try:
            dialable.append(nsqdAddress(address))
        except ValueError as e:
            badAddress = badAddress or f"dial tcp: {e}"

    def unreachable(address: str, reason: Failure) -> None:
        # go-nsq's Publish dials (again) when not connected, and to_nsq
        # log.Fatal()s its error.
        context.end(Fatal(dialError(address, reason)))

    producers = []
    for address in dialable:
        options = producerOptions(config, context.reactor)
        options["endpointFactory"] = watchEndpoints(
            options["endpointFactory"], unreachable
        )
        producers.append(Producer([address], **options))
    throttle: Throttle | None = None
    if rate >= 1:
        context.log(f"Throttling messages rate to max:{rate}/second")
        throttle = Throttle(context.reactor, rate)
    publisher = _Publisher(context, producers, topic, badAddress)

    def interrupted(_: object) -> None:
        publisher.finish()
        context.end(0)

    context.interrupted.addCallback(interrupted)
    splitter = LineSplitter(delimiter)
    reader = _reader(context)
    try:
        while True:
            try:
                data = await reader.read()
            except OSError as e:
                raise Fatal(f"read /dev/stdin: {(e.strerror or str(e)).lower()}")
            for chunk in splitter.feed(data) if data else splitter.end():
                if not chunk:
                    continue
                if throttle is not None:
                    await throttle.take()
                await publisher.room(WINDOW)
                publisher.publish(chunk)
            if not data:
                break
        await publisher.room(1)
        publisher.finish()
    finally:
        if throttle is not None:
            throttle.stop()
        await publisher.stop()
    return 0


TOOL = Tool("to_nsq", FLAGS, run, versionFlag=None)
"""C{to_nsq}."""


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run C{to_nsq} as the process.
    """
    return runTool(TOOL, argv)
