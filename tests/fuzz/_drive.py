"""
Drives L{tests.fuzz._mutate} cases against a listening nsqd over real
sockets, several connections at a time, next to a well-behaved producer
and consumer pair that counts its messages; shared by the fuzz tests and
C{bench/fuzz.py}.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Union

from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.internet.interfaces import IReactorTCP, IReactorTime
from twisted.internet.protocol import ClientFactory, Protocol, connectionDone
from twisted.python.failure import Failure

from ._mutate import (
    FRAME_MESSAGE,
    FRAME_RESPONSE,
    HTTPCase,
    TCPCase,
    checkFrames,
    parseHTTPResponse,
)

GOOD_TOPIC = b"goodstream"
#: Seconds a fuzz connection may stay open before it counts as hung.
HANG_TIMEOUT = 20.0


@dataclass
class Report:
    """
    What a fuzz run saw.

    @ivar kinds: cases sent, by kind.
    @ivar mismatches: classified cases whose answer differed (kind, input
        head, expected, got), the first 20.
    @ivar mismatchCount: all of them.
    @ivar malformed: unclassified answers failing the structural oracle.
    @ivar hung: connections nsqd did not close within L{HANG_TIMEOUT}.
    """

    kinds: Counter[str] = field(default_factory=Counter)
    mismatches: list[tuple[str, bytes, object, object]] = field(default_factory=list)
    mismatchCount: int = 0
    malformed: list[tuple[str, bytes, str]] = field(default_factory=list)
    hung: int = 0

    def mismatch(self, kind: str, data: bytes, expected: object, got: object) -> None:
        self.mismatchCount += 1
        if len(self.mismatches) < 20:
            self.mismatches.append((kind, data[:200], expected, got))

    def ok(self) -> bool:
        """
        No mismatch, nothing malformed, nothing hung.
        """
        return not (self.mismatchCount or self.malformed or self.hung)


class _OneShot(Protocol):
    """
    Sends its input, shuts down its sending side, collects the answer
    until nsqd closes.
    """

    def __init__(self, data: bytes, clock: IReactorTime) -> None:
        self.data = data
        self.clock = clock
        self.received: list[bytes] = []
        self.done: Deferred[tuple[bytes, bool]] = Deferred()
        self.hung = False

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(self.data)
        self.transport.loseWriteConnection()  # type: ignore[attr-defined]
        self._watchdog = self.clock.callLater(HANG_TIMEOUT, self._hang)

    def _hang(self) -> None:
        self.hung = True
        assert self.transport is not None
        self.transport.abortConnection()  # type: ignore[attr-defined]

    def dataReceived(self, data: bytes) -> None:
        self.received.append(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._watchdog.active():
            self._watchdog.cancel()
        self.done.callback((b"".join(self.received), self.hung))


class _OneShotFactory(ClientFactory):
    def __init__(self, proto: _OneShot) -> None:
        self.proto = proto

    def buildProtocol(self, addr: Any) -> _OneShot:
        return self.proto

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.proto.done.errback(reason)


def sendOne(reactor: Any, port: int, data: bytes) -> Deferred[tuple[bytes, bool]]:
    """
    Send C{data} on a fresh connection to 127.0.0.1:C{port}; fires with
    the answer and whether the connection hung.
    """
    proto = _OneShot(data, reactor)
    reactor.connectTCP("127.0.0.1", port, _OneShotFactory(proto))
    return proto.done


Case = Union[TCPCase, HTTPCase]


def judge(report: Report, case: Case, answer: bytes, hung: bool) -> None:
    """
    Record C{case}'s outcome in C{report}.
    """
    report.kinds[case.kind] += 1
    if hung:
        report.hung += 1
        return
    if isinstance(case, TCPCase):
        if case.expected is not None:
            if answer != case.expected:
                report.mismatch(case.kind, case.data, case.expected, answer)
        else:
            problem = checkFrames(answer)
            if problem is not None and len(report.malformed) < 1000:
                report.malformed.append((case.kind, case.data[:200], problem))
        return
    parsed = parseHTTPResponse(answer)
    if case.expected is not None:
        if parsed != case.expected:
            report.mismatch(case.kind, case.data, case.expected, parsed or answer[:200])
    elif parsed is not None and parsed[0] >= 500:
        report.malformed.append((case.kind, case.data[:200], f"status {parsed[0]}"))


def runCases(
    reactor: Any, tcpPort: int, httpPort: int, cases: Iterable[Case], connections: int,
    report: Report | None = None,
) -> Deferred[Report]:
    """
    Send every case, C{connections} at a time; fires with the L{Report}.
    """
    if report is None:
        report = Report()
    final = report

    def one(case: Case) -> Deferred[None]:
        port = tcpPort if isinstance(case, TCPCase) else httpPort
        d = sendOne(reactor, port, case.data)
        return d.addCallback(lambda result: judge(final, case, *result))

    iterator = iter(cases)

    def worker() -> Deferred[None]:
        done: Deferred[None] = Deferred()

        def step(_: object = None) -> None:
            for case in iterator:
                d = one(case)
                d.addCallbacks(step, done.errback)
                return
            done.callback(None)

        step()
        return done

    pending = [worker() for _ in range(connections)]
    return gatherResults(pending).addCallback(lambda _: final)


class _Frames(Protocol):
    """
    Splits nsqd's frames.
    """

    def __init__(self) -> None:
        self._buffer = b""

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= 8:
            size, frameType = struct.unpack(">ii", self._buffer[:8])
            if len(self._buffer) < 4 + size:
                return
            body = self._buffer[8 : 4 + size]
            self._buffer = self._buffer[4 + size :]
            self.frameReceived(frameType, body)

    def frameReceived(self, frameType: int, data: bytes) -> None:
        raise NotImplementedError


class GoodProducer(_Frames):
    """
    Publishes C{b"good-<n>"} to L{GOOD_TOPIC}, one at a time, until
    stopped; counts the acknowledged ones.
    """

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0
        self.acked = 0
        self.errors: list[bytes] = []
        self.running = True
        self.stopped: Deferred[None] = Deferred()
        self.ready: Deferred[None] = Deferred()

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(b"  V2")
        self.ready.callback(None)
        self._publish()

    def _publish(self) -> None:
        assert self.transport is not None
        body = b"good-%d" % self.sent
        self.sent += 1
        self.transport.write(b"PUB " + GOOD_TOPIC + b"\n" + struct.pack(">i", len(body)) + body)

    def frameReceived(self, frameType: int, data: bytes) -> None:
        if frameType != FRAME_RESPONSE or data != b"OK":
            if data != b"_heartbeat_":
                self.errors.append(data)
            else:
                assert self.transport is not None
                self.transport.write(b"NOP\n")
            return
        self.acked += 1
        if self.running:
            self._publish()
        elif self.acked == self.sent:
            self.stopped.callback(None)

    def stop(self) -> Deferred[None]:
        """
        Stop publishing; fires once the last publish is acknowledged.
        """
        self.running = False
        if self.acked == self.sent:
            self.stopped.callback(None)
        return self.stopped


class GoodConsumer(_Frames):
    """
    Subscribes to L{GOOD_TOPIC}, finishes every message, records bodies.
    """

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []
        self.errors: list[bytes] = []
        self.subscribed: Deferred[None] = Deferred()
        self._waiting: tuple[int, Deferred[None]] | None = None

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(b"  V2SUB " + GOOD_TOPIC + b" ch\nRDY 500\n")

    def frameReceived(self, frameType: int, data: bytes) -> None:
        assert self.transport is not None
        if frameType == FRAME_MESSAGE:
            msgID = data[10:26]
            self.bodies.append(data[26:])
            self.transport.write(b"FIN " + msgID + b"\n")
            if self._waiting is not None and len(self.bodies) >= self._waiting[0]:
                d = self._waiting[1]
                self._waiting = None
                d.callback(None)
        elif data == b"OK" and not self.subscribed.called:
            self.subscribed.callback(None)
        elif data == b"_heartbeat_":
            self.transport.write(b"NOP\n")
        else:
            self.errors.append(data)

    def waitFor(self, count: int) -> Deferred[None]:
        """
        Fires once C{count} messages arrived.
        """
        if len(self.bodies) >= count:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._waiting = (count, d)
        return d


def _factory(proto: Protocol) -> ClientFactory:
    factory = ClientFactory()
    factory.buildProtocol = lambda addr: proto  # type: ignore[method-assign]
    return factory


async def startGoodPair(reactor: IReactorTCP, tcpPort: int) -> tuple[GoodProducer, GoodConsumer]:
    """
    A subscribed consumer, then a producer publishing throughout.
    """
    consumer = GoodConsumer()
    reactor.connectTCP("127.0.0.1", tcpPort, _factory(consumer))
    await consumer.subscribed
    producer = GoodProducer()
    reactor.connectTCP("127.0.0.1", tcpPort, _factory(producer))
    await producer.ready
    return producer, consumer


async def finishGoodPair(producer: GoodProducer, consumer: GoodConsumer) -> list[bytes]:
    """
    Stop publishing and wait for every published message; returns the
    problems (empty when every body arrived exactly once).
    """
    await producer.stop()
    await consumer.waitFor(producer.acked)
    problems = [b"producer error: " + e for e in producer.errors]
    problems += [b"consumer error: " + e for e in consumer.errors]
    if sorted(consumer.bodies) != sorted(b"good-%d" % n for n in range(producer.acked)):
        problems.append(b"bodies differ: %d received, %d published" % (len(consumer.bodies), producer.acked))
    return problems
