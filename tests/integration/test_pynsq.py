"""
pynsq, the reference Python client, against C{twistd -n nsqd}; and a raw
socket client for heartbeat liveness.

pynsq runs on Tornado, so each Writer or Reader runs in a child process
(C{pynsq_scripts/pynsq_client.py}) that prints JSON lines; the scenarios
(L{tests.integration._interop}) start nsqd as a daemon, start the clients
and assert on what they printed.
"""

from __future__ import annotations

import json
import struct

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from tests.integration._daemon import Daemon, startNSQD
from tests.integration._interop import (
    ConsumeScenarios,
    HeartbeatScenarios,
    PublishScenarios,
    skipReason,
)


class PynsqPublishTests(PublishScenarios, TestCase):
    """
    pynsq's Writer publishes with PUB, MPUB and DPUB; a pynsq Reader gets
    the messages.
    """

    publisherKind = consumerKind = "pynsq"
    skip = skipReason("pynsq")


class PynsqConsumeTests(ConsumeScenarios, TestCase):
    """
    pynsq Readers requeue with a delay, see timed-out messages again, get
    a copy per channel and share a channel.
    """

    publisherKind = consumerKind = "pynsq"
    skip = skipReason("pynsq")


class PynsqHeartbeatTests(HeartbeatScenarios, TestCase):
    """
    An idle pynsq Reader answers heartbeats and stays connected.
    """

    publisherKind = consumerKind = "pynsq"
    skip = skipReason("pynsq")


class RawClientHeartbeatTests(TestCase):
    """
    Heartbeats as a hand-written client sees them: answering them keeps
    the connection, silence loses it.
    """

    timeout = 60

    async def test_answeringClientKeptAlive(self) -> None:
        """
        A client that answers each C{_heartbeat_} with C{NOP} and sends
        nothing else is still connected after three heartbeats (longer than
        nsqd's two-interval read deadline).
        """
        nsqd = await startNSQD(self)
        client = await connectRaw(nsqd, RawClient(answerHeartbeats=True))
        await client.heartbeatsReceived(3)
        self.assertFalse(client.lost.called)
        assert client.transport is not None
        client.transport.loseConnection()
        await client.lost

    async def test_silentClientDropped(self) -> None:
        """
        A client that IDENTIFYs with C{heartbeat_interval} 1000, SUBs and
        then never answers heartbeats is sent heartbeats and then
        disconnected by nsqd, with no error frame.
        """
        nsqd = await startNSQD(self)
        client = await connectRaw(nsqd, RawClient(answerHeartbeats=False))
        reason = await client.lost
        self.assertIsInstance(reason, ConnectionDone)
        identify, subscribed, *rest = client.frames
        self.assertEqual(identify[0], FRAME_RESPONSE)
        self.assertIn("max_rdy_count", json.loads(identify[1]))
        self.assertEqual(subscribed, (FRAME_RESPONSE, b"OK"))
        self.assertGreaterEqual(len(rest), 1)
        self.assertEqual(set(rest), {(FRAME_RESPONSE, b"_heartbeat_")})


FRAME_RESPONSE = 0


async def connectRaw(nsqd: Daemon, client: RawClient) -> RawClient:
    """
    Connect C{client} to C{nsqd}'s TCP listener and wait until its SUB was
    acknowledged.
    """
    host, port = nsqd.addresses["tcp"]
    await connectProtocol(TCP4ClientEndpoint(reactor, host, port), client)
    await client.subscribed
    return client


class RawClient(Protocol):
    """
    A hand-written V2 client: magic, IDENTIFY with a 1 s heartbeat
    interval, SUB; then it only answers heartbeats, or stays silent.

    @ivar frames: every frame received, as C{(frame type, data)}.
    @ivar lost: fires with the exception saying why, once the connection is
        gone.
    """

    def __init__(self, answerHeartbeats: bool) -> None:
        self.answerHeartbeats = answerHeartbeats
        self.frames: list[tuple[int, bytes]] = []
        self.subscribed: Deferred[None] = Deferred()
        self.lost: Deferred[BaseException] = Deferred()
        self._buffer = b""
        self._heartbeatWaiters: list[tuple[int, Deferred[None]]] = []

    def connectionMade(self) -> None:
        identify = json.dumps(
            {
                "client_id": "raw",
                "hostname": "raw",
                "feature_negotiation": True,
                "heartbeat_interval": 1000,
            }
        ).encode()
        assert self.transport is not None
        self.transport.write(
            b"  V2IDENTIFY\n"
            + struct.pack(">I", len(identify))
            + identify
            + b"SUB raw_topic raw_channel\n"
        )

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= 4:
            (size,) = struct.unpack(">I", self._buffer[:4])
            if len(self._buffer) < 4 + size:
                return
            frame, self._buffer = self._buffer[4 : 4 + size], self._buffer[4 + size :]
            (frameType,) = struct.unpack(">I", frame[:4])
            self.frameReceived(frameType, frame[4:])

    def frameReceived(self, frameType: int, data: bytes) -> None:
        """
        Record a frame; note SUB's OK; answer heartbeats if told to.
        """
        self.frames.append((frameType, data))
        if len(self.frames) == 2 and data == b"OK":
            self.subscribed.callback(None)
        if data == b"_heartbeat_":
            if self.answerHeartbeats and self.transport is not None:
                self.transport.write(b"NOP\n")
            count = sum(1 for _, d in self.frames if d == b"_heartbeat_")
            for waiter in list(self._heartbeatWaiters):
                if count >= waiter[0]:
                    self._heartbeatWaiters.remove(waiter)
                    waiter[1].callback(None)

    def heartbeatsReceived(self, count: int) -> Deferred[None]:
        """
        Fire once C{count} heartbeats arrived; fail if the connection is
        lost first.
        """
        d: Deferred[None] = Deferred()
        self._heartbeatWaiters.append((count, d))
        return d

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        waiters, self._heartbeatWaiters = self._heartbeatWaiters, []
        for _, d in waiters:
            d.errback(AssertionError(f"connection lost first: {reason.value}"))
        if not self.subscribed.called:
            self.subscribed.errback(AssertionError(f"no SUB OK: {self.frames}"))
        # The exception, not the Failure: a Failure would errback.
        assert reason.value is not None
        self.lost.callback(reason.value)
