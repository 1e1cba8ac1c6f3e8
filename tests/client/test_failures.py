"""
Errors a caller can act on (issue 18): publishes to an nsqd that cannot be
reached fail within a bounded time, and those in flight on a connection
that dies fail; in memory with a fake clock, and over real sockets on
127.0.0.1.
"""

from __future__ import annotations

from typing import Any, TypeVar

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests import _services as services
from tests.client._memory import MemoryNetwork
from txnsq.client import (
    ConnectFailed,
    ConnectionClosed,
    NSQBadMessage,
    NSQBadTopic,
    Producer,
    PublishTimeout,
)

_E = TypeVar("_E", bound=BaseException)


async def failsWith(future: Deferred[Any], errorType: type[_E]) -> _E:
    """
    Wait for C{future}, which must fail with C{errorType}; its exception.
    """
    try:
        result = await future
    except errorType as e:
        return e
    raise AssertionError(f"{future} succeeded with {result!r}")


#: The bound the issue sets for a publish to a closed port to fail.
BOUND = 5.0


class QueuedPublishTests(SynchronousTestCase):
    """
    Publishes waiting for a connection, in memory.
    """

    def setUp(self) -> None:
        self.network = MemoryNetwork()
        self.nsqd = self.network.nsqd()

    def producer(self, *nsqds: Any, **kwargs: Any) -> Producer:
        kwargs.setdefault("retryPolicy", lambda attempt: 2.0)
        producer = Producer(
            [n.endpoint() for n in nsqds or (self.nsqd,)],
            reactor=self.network.clock,
            **kwargs,
        )
        producer.start()
        return producer

    def test_failedAttemptFailsQueued(self) -> None:
        """
        When the next attempt to connect fails, the waiting publishes fail
        with L{ConnectFailed}, which carries the reason; the producer goes
        on retrying and publishes once nsqd is back.
        """
        self.nsqd.refuse = True
        producer = self.producer()
        waiting = producer.publish("t", b"x")
        self.assertNoResult(waiting)
        self.network.advance(2.0)
        error = self.failureResultOf(waiting, ConnectFailed).value
        self.assertIsNotNone(error.reason)
        self.assertIn("refused", str(error))
        self.assertEqual(producer.outstandingCount, 0)
        self.nsqd.refuse = False
        later = producer.publish("t", b"y")
        self.network.advance(2.0)
        self.assertIsNone(self.successResultOf(later))

    def test_everyKindOfPublish(self) -> None:
        """
        MPUB and DPUB waiting for a connection fail the same way.
        """
        self.nsqd.refuse = True
        producer = self.producer()
        waiting = [
            producer.multiPublish("t", [b"a", b"b"]),
            producer.deferredPublish("t", 1000, b"c"),
        ]
        self.network.advance(2.0)
        for future in waiting:
            self.failureResultOf(future, ConnectFailed)

    def test_onlyWhenEveryNSQDFailed(self) -> None:
        """
        With several nsqds, a failed attempt on one fails no publish while
        another's latest attempt did not fail.
        """
        other = self.network.nsqd()
        self.nsqd.refuse = True
        producer = self.producer(self.nsqd, other)
        waiting = producer.publish("t", b"x")
        self.network.advance(2.0)
        self.assertIsNone(self.successResultOf(waiting))
        other.dropConnections()
        other.refuse = True
        self.network.flush()
        queued = producer.publish("t", b"y")
        self.network.advance(2.0)
        self.failureResultOf(queued, ConnectFailed)

    def test_timeout(self) -> None:
        """
        A publish that waited C{timeout} seconds for a connection fails
        with L{PublishTimeout}; later ones get their own full timeout.
        """
        self.nsqd.refuse = True
        producer = self.producer(timeout=3.0, retryPolicy=lambda attempt: 100.0)
        first = producer.publish("t", b"1")
        self.network.advance(1.0)
        second = producer.publish("t", b"2")
        self.network.advance(1.9)
        self.assertNoResult(first)
        self.network.advance(0.1)
        self.failureResultOf(first, PublishTimeout)
        self.assertNoResult(second)
        self.network.advance(1.0)
        self.failureResultOf(second, PublishTimeout)
        self.assertFalse(
            [
                call
                for call in self.network.clock.getDelayedCalls()
                if getattr(call, "func", None) == producer._expire
            ]
        )

    def test_noTimeout(self) -> None:
        """
        With C{timeout=None} a publish waits for a connection until an
        attempt fails.
        """
        self.nsqd.refuse = True
        producer = self.producer(timeout=None, retryPolicy=lambda attempt: 1000.0)
        waiting = producer.publish("t", b"1")
        self.network.advance(999.0)
        self.assertNoResult(waiting)
        self.network.advance(1.0)
        self.failureResultOf(waiting, ConnectFailed)

    def test_connectedCancelsTimer(self) -> None:
        """
        Publishes sent once connected are no longer timed by the producer.
        """
        self.nsqd.refuse = True
        producer = self.producer(timeout=3.0)
        waiting = producer.publish("t", b"1")
        self.nsqd.refuse = False
        self.network.advance(2.0)
        self.assertIsNone(self.successResultOf(waiting))
        self.assertFalse(
            [
                call
                for call in self.network.clock.getDelayedCalls()
                if getattr(call, "func", None) == producer._expire
            ]
        )


class _Aborting(Protocol):
    """
    Accepts a connection and aborts it on the first bytes received.
    """

    def dataReceived(self, data: bytes) -> None:
        transport: Any = self.transport
        transport.abortConnection()


class RealSocketTests(TestCase):
    """
    The producer over real sockets on 127.0.0.1, on the real reactor.
    """

    async def test_closedPort(self) -> None:
        """
        A publish to a port nothing listens on fails with L{ConnectFailed}
        well within 5 seconds.
        """
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            Factory.forProtocol(Protocol)
        )
        number = port.getHost().port
        await port.stopListening()
        producer = Producer([f"127.0.0.1:{number}"])
        producer.start()
        self.addCleanup(producer.stop)
        started = reactor.seconds()
        publishing = producer.publish("t", b"x")
        publishing.addTimeout(BOUND, reactor)
        error = await failsWith(publishing, ConnectFailed)
        self.assertLess(reactor.seconds() - started, BOUND)
        self.assertIn(f"127.0.0.1:{number}", str(error))

    async def test_abortedDuringHandshake(self) -> None:
        """
        A server that aborts every connection counts as unreachable.
        """
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            Factory.forProtocol(_Aborting)
        )
        self.addCleanup(port.stopListening)
        producer = Producer([f"127.0.0.1:{port.getHost().port}"])
        producer.start()
        self.addCleanup(producer.stop)
        publishing = producer.publish("t", b"x")
        publishing.addTimeout(BOUND, reactor)
        await failsWith(publishing, ConnectFailed)

    async def test_killedMidPublish(self) -> None:
        """
        Publishes sent on a connection nsqd aborts before answering fail
        with L{ConnectionClosed}.
        """
        service, tcpPort = await services.startNSQD(self, http_address="")
        producer = Producer([f"127.0.0.1:{tcpPort}"])
        producer.start()
        self.addCleanup(producer.stop)
        await producer.whenConnected()
        publishes = [producer.publish("t", b"%d" % i) for i in range(50)]
        # Nothing was read yet: nsqd's side goes away with every publish
        # unanswered.
        for connection in list(service.factory.connections):
            transport: Any = connection.transport
            transport.abortConnection()
        for publishing in publishes:
            publishing.addTimeout(BOUND, reactor)
            await failsWith(publishing, ConnectionClosed)

    async def test_typedErrors(self) -> None:
        """
        Errors carry NSQ's code as a typed exception: a bad topic (refused
        before sending, with nsqd's code and text) and a body larger than
        nsqd's C{--max-msg-size} (answered by nsqd).
        """
        _, tcpPort = await services.startNSQD(self, http_address="", max_msg_size=10)
        producer = Producer([f"127.0.0.1:{tcpPort}"])
        producer.start()
        self.addCleanup(producer.stop)
        await producer.whenConnected()
        bad = await failsWith(producer.publish("bad topic!", b"x"), NSQBadTopic)
        self.assertEqual(bad.code, "E_BAD_TOPIC")
        large = producer.publish("t", b"x" * 11)
        large.addTimeout(BOUND, reactor)
        tooLarge = await failsWith(large, NSQBadMessage)
        self.assertEqual(tooLarge.code, "E_BAD_MESSAGE")
