"""
A real nsqd TCP listener on 127.0.0.1 for integration tests, and a
Deferred-based frame client to talk to it.

Only for tests that use the real reactor (C{twisted.trial.unittest.TestCase}).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Protocol, connectionDone
from twisted.internet.task import LoopingCall, deferLater
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.protocol import NSQDFactory
from txnsq.nsqd.state import Broker
from txnsq.wire.frames import FrameDecoder

# The global reactor, typed loosely: it provides every interface used here.
reactor: Any = _reactor

Frame = tuple[int, bytes]


class RealNSQD:
    """
    A broker and its TCP listener, scanning queues every 100 ms as the
    service does.
    """

    def __init__(self, **config: Any) -> None:
        config.setdefault("node_id", 7)
        config.setdefault("broadcast_address", "127.0.0.1")
        self.config = NSQDConfig(**config)
        self.broker = Broker(self.config)
        self.factory = NSQDFactory(self.broker, self.config, reactor)
        self.port: IListeningPort = reactor.listenTCP(
            0, self.factory, interface="127.0.0.1"
        )
        address = self.port.getHost()
        self.host: str = address.host
        self.portNumber: int = address.port
        self._scan = LoopingCall(lambda: self.broker.queueScan(reactor.seconds()))
        self._scan.clock = reactor
        self._scan.start(0.1, now=False)

    async def stop(self) -> None:
        """
        Stop listening and scanning, close every connection and wait until
        the server side of each is gone (so no timer outlives the test).
        """
        if self._scan.running:
            self._scan.stop()
        stopped = self.port.stopListening()
        if stopped is not None:
            await stopped
        self.factory.disconnectAll()
        for _ in range(300):
            if not self.factory.connections:
                break
            await deferLater(reactor, 0.01)
        self.broker.close()


def startServer(testCase: TestCase, **config: Any) -> RealNSQD:
    """
    Start a L{RealNSQD} that is stopped when C{testCase} ends.
    """
    server = RealNSQD(**config)
    testCase.addCleanup(lambda: Deferred.fromCoroutine(server.stop()))
    return server


class FrameClient(Protocol):
    """
    A raw NSQ client: sends bytes, receives frames one at a time.
    """

    def __init__(self) -> None:
        self._decoder = FrameDecoder()
        self._frames: deque[Frame] = deque()
        self._waiters: deque[Deferred[None]] = deque()
        self.closed = False

    def dataReceived(self, data: bytes) -> None:
        self._frames.extend(self._decoder.feed(data))
        self._wake()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            waiter.callback(None)

    async def _changed(self, timeout: float) -> bool:
        waiter: Deferred[None] = Deferred()
        self._waiters.append(waiter)
        waiter.addTimeout(timeout, reactor)
        try:
            await waiter
        except Exception:
            return False
        return True

    def send(self, data: bytes) -> None:
        """
        Write C{data} to the server.
        """
        assert self.transport is not None
        self.transport.write(data)

    async def frame(self, timeout: float = 5.0) -> Frame | None:
        """
        The next frame, or L{None} if the connection closed or nothing came
        within C{timeout} seconds.
        """
        while not self._frames:
            if self.closed or not await self._changed(timeout):
                return None
        return self._frames.popleft()

    async def frames(self, count: int, timeout: float = 5.0) -> list[Frame]:
        """
        The next C{count} frames (fewer if the connection closed or timed
        out).
        """
        out = []
        for _ in range(count):
            frame = await self.frame(timeout)
            if frame is None:
                break
            out.append(frame)
        return out

    async def whenClosed(self, timeout: float = 5.0) -> bool:
        """
        Wait for the server to close the connection.

        @return: whether it did within C{timeout} seconds.
        """
        while not self.closed:
            if not await self._changed(timeout):
                return False
        return True

    async def quiet(self, seconds: float = 0.2) -> list[Frame]:
        """
        Wait C{seconds} and return whatever frames arrived meanwhile.
        """
        await deferLater(reactor, seconds)
        frames = list(self._frames)
        self._frames.clear()
        return frames

    async def close(self) -> None:
        """
        Close from our side and wait until closed.
        """
        if not self.closed and self.transport is not None:
            self.transport.loseConnection()
            if not await self.whenClosed(5.0):
                self.transport.abortConnection()  # type: ignore[attr-defined]


async def connectClient(
    testCase: TestCase, server: RealNSQD, magic: bool = True
) -> FrameClient:
    """
    A new client connection to C{server}, closed when C{testCase} ends.
    """
    endpoint = TCP4ClientEndpoint(reactor, server.host, server.portNumber)
    client = FrameClient()
    await connectProtocol(endpoint, client)
    testCase.addCleanup(lambda: Deferred.fromCoroutine(client.close()))
    if magic:
        client.send(b"  V2")
    return client
