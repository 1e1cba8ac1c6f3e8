# -*- test-case-name: tests.client.test_producer -*-
"""
L{Producer}: publish to one nsqd, or to a pool of them, over TCP.

Each publish returns a future that fires with L{None} when nsqd answered
C{OK}, or fails with the L{NSQError} subclass for nsqd's error code
(C{.code} is the code, e.g. C{"E_BAD_MESSAGE"}) or with
L{ConnectionClosed} when the connection ended before the answer (the
message may or may not have been queued: publishing is at-least-once only
if the application retries).

Connections are kept up by L{NSQDLink} (Twisted's C{ClientService}, with
exponential backoff).  While no connection is ready, publishes wait in a
queue of at most C{maxPending} entries; beyond that they fail at once with
L{PublishQueueFull}.  They wait a bounded time: when the latest attempt to
reach every nsqd failed (refused, unreachable, handshake rejected) they
fail at once with L{ConnectFailed}, as go-nsq's C{Publish} returns its dial
error, and after C{timeout} seconds without a connection with
L{PublishTimeout}.  A publish already sent fails with L{ConnectionClosed}
when its connection ends, which nsqd's heartbeats bound too (a connection
that hears nothing for two heartbeat intervals is closed).  With several
nsqds, publishes go to the ready connections in turn.

The futures are txaio futures (L{Deferred}s under Twisted); see
L{txnsq.client._aio}.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IStreamClientEndpoint
from twisted.python.failure import Failure

from txnsq.client import _aio
from txnsq.client._block import ConnectedBlock
from txnsq.client._connection import (
    DEFAULT_HANDSHAKE_TIMEOUT,
    NSQDLink,
    clientEndpoint,
    defaultReactor,
    identifyAndAuthenticate,
)
from txnsq.client._errors import (
    ConnectFailed,
    NotConnected,
    NSQError,
    PublishQueueFull,
    PublishTimeout,
)
from txnsq.client._identify import IdentifyOptions, IdentifyResponse
from txnsq.client._stopping import StartStopService, StopOnce
from txnsq.client.protocol import (
    NSQClientProtocol,
    checkDeferredPublish,
    checkMultiPublish,
    checkPublish,
)
from txnsq.wire.commands import encodeCommand, encodeMPub

__all__ = ["DEFAULT_PUBLISH_TIMEOUT", "Producer"]

#: Seconds a publish may wait for a connection to nsqd.
DEFAULT_PUBLISH_TIMEOUT = 10.0

_T = TypeVar("_T")
_OK = b"OK"
_packSize = struct.Struct(">i").pack


class Producer(ConnectedBlock, StartStopService):
    """
    Publishes messages to nsqd.

    @ivar outstandingCount: publishes not yet answered (waiting for a
        connection, or sent and waiting for nsqd).
    """

    def __init__(
        self,
        nsqdAddresses: Sequence[str | IStreamClientEndpoint],
        *,
        reactor: Any = None,
        identify: IdentifyOptions | None = None,
        authSecret: bytes | None = None,
        maxPending: int = 10000,
        retryPolicy: Callable[[int], float] | None = None,
        handshakeTimeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
        endpointFactory: Callable[[str], IStreamClientEndpoint] | None = None,
        timeout: float | None = DEFAULT_PUBLISH_TIMEOUT,
    ) -> None:
        """
        @param nsqdAddresses: the nsqds to publish to: C{host:port}, UNIX
            socket paths, client endpoint descriptions (C{tcp:...},
            C{unix:path=...}, C{tls:...}) or client endpoints; publishes are
            spread over those connected.
        @param reactor: the reactor; the global one when L{None}.
        @param identify: the IDENTIFY options.
        @param authSecret: sent with AUTH when nsqd requires it.
        @param maxPending: how many publishes may wait for a connection.
        @param retryPolicy: reconnect delays (given the number of failed
            attempts in a row).
        @param handshakeTimeout: seconds a connection may take to IDENTIFY.
        @param endpointFactory: makes the endpoint for an nsqd's
            C{host:port}; by default a C{HostnameEndpoint}.
        @param timeout: seconds a publish may wait for a connection before
            it fails with L{PublishTimeout}; L{None} waits as long as it
            takes (or until every nsqd's latest connection attempt failed).
        """
        if not nsqdAddresses:
            raise ValueError(
                "need at least one nsqd address: pass nsqds' TCP addresses,"
                " e.g. Producer(['127.0.0.1:4150'])"
            )
        self.reactor = reactor = defaultReactor(reactor)
        self._identify = identify or IdentifyOptions()
        self._authSecret = authSecret
        self.maxPending = maxPending
        self._log = _aio.makeLogger("txnsq.client.Producer")
        self._links: list[NSQDLink] = []
        for address in nsqdAddresses:
            if isinstance(address, str):
                key = address
                if endpointFactory is not None:
                    endpoint = endpointFactory(address)
                else:
                    endpoint = clientEndpoint(reactor, address)
            else:
                key, endpoint = repr(address), address
            self._links.append(
                NSQDLink(
                    key,
                    endpoint,
                    reactor,
                    self._handshake,
                    self,
                    reconnect=True,
                    retryPolicy=retryPolicy,
                    handshakeTimeout=handshakeTimeout,
                )
            )
        self._ready: list[NSQClientProtocol] = []
        self._next = 0
        self.timeout = timeout
        # (command, future, deadline), deadlines in order.
        self._queue: deque[tuple[bytes, Deferred[None], float]] = deque()
        self._expiry: IDelayedCall | None = None
        # Links whose latest connection attempt failed, since they were last
        # ready.
        self._failedLinks: set[NSQDLink] = set()
        # Validated topics and their PUB line, so a publish is one
        # concatenation.
        self._pubPrefixes: dict[str, bytes] = {}
        self.outstandingCount = 0
        self._whenIdle = _aio.Waiters()
        self._whenConnected = _aio.Waiters()
        # Waiting for a first connection, failed like the queued publishes.
        self._connecting = _aio.Waiters()
        self._started = False
        self._stopper = StopOnce(self._stop)

    def __repr__(self) -> str:
        return f"<Producer {[link.address for link in self._links]}>"

    @property
    def pendingCount(self) -> int:
        """
        Publishes waiting for a connection.
        """
        return len(self._queue)

    @property
    def connectionCount(self) -> int:
        """
        Connections ready to publish on.
        """
        return len(self._ready)

    def start(self) -> None:
        """
        Connect (publishes made before are queued meanwhile).  L{connect},
        C{async with} and a parent service's C{startService} start the
        producer too.
        """
        if self._started:
            return
        self._started = True
        self.running = True
        for link in self._links:
            link.start()

    def whenConnected(self) -> Deferred[None]:
        """
        A future that fires once a connection is ready (or fails with
        L{NotConnected} if the producer stops first).
        """
        if self._ready:
            return _aio.succeeded(None)
        return self._whenConnected.wait()

    def connect(self) -> Deferred[None]:
        """
        Start if needed and wait for a connection, bounded as a publish is:
        fail with L{ConnectFailed} once the latest attempt to reach every
        nsqd failed, with L{PublishTimeout} after C{timeout} seconds, with
        L{NotConnected} if the producer stops first.  The producer goes on
        (re)connecting either way.
        """
        self.start()
        if self._ready:
            return _aio.succeeded(None)
        if self._stopper.started:
            return _aio.failed(NotConnected("producer is stopping"))
        waiter = self._connecting.wait()
        if self.timeout is not None:
            timeout = self.timeout

            def timedOut(failure: Failure) -> Failure:
                if failure.check(defer.TimeoutError):
                    return Failure(
                        PublishTimeout(
                            f"no connection to nsqd within {timeout} s"
                            f" ({self._addresses()})"
                        )
                    )
                return failure

            waiter.addTimeout(timeout, self.reactor).addErrback(timedOut)
        return waiter

    def _addresses(self) -> str:
        return ", ".join(link.address for link in self._links)

    def stop(self) -> Deferred[None]:
        """
        Stop: fail the publishes still waiting for a connection with
        L{NotConnected}, wait for nsqd to answer those already sent, then
        close the connections.

        @return: a future that fires when everything is closed.
        """
        return self._stopper()

    async def _stop(self) -> None:
        self.running = False
        self._whenConnected.fail(NotConnected("producer stopped before connecting"))
        self._connecting.fail(NotConnected("producer stopped before connecting"))
        self._cancelExpiry()
        queue, self._queue = self._queue, deque()
        for _, future, _ in queue:
            _aio.reject(
                future,
                NotConnected("producer stopped before a connection to nsqd was ready"),
            )
        if self.outstandingCount:
            await self._whenIdle.wait()
        await _aio.gather([link.stop() for link in self._links])

    # Publishing.

    def publish(self, topic: str, body: bytes) -> Deferred[None]:
        """
        Publish one message (PUB).

        @return: a future firing with L{None} on nsqd's C{OK}.
        """
        prefix = self._pubPrefixes.get(topic)
        if prefix is None or not body:
            error = checkPublish(topic, body)
            if error is not None:
                return _aio.failed(error)
            prefix = self._pubPrefixes[topic] = b"PUB %s\n" % (topic.encode(),)
        return self._submit(prefix + _packSize(len(body)) + body)

    def multiPublish(self, topic: str, bodies: Sequence[bytes]) -> Deferred[None]:
        """
        Publish several messages at once (MPUB): nsqd queues all or none.

        @return: a future firing with L{None} on nsqd's C{OK}.
        """
        error = checkMultiPublish(topic, bodies)
        if error is not None:
            return _aio.failed(error)
        return self._submit(encodeMPub(topic.encode(), bodies))

    def deferredPublish(self, topic: str, delayMs: int, body: bytes) -> Deferred[None]:
        """
        Publish a message nsqd delivers only after C{delayMs} milliseconds
        (DPUB; at most nsqd's C{--max-req-timeout}).

        @return: a future firing with L{None} on nsqd's C{OK}.
        """
        error = checkDeferredPublish(topic, delayMs, body)
        if error is not None:
            return _aio.failed(error)
        command = encodeCommand(
            b"DPUB", topic.encode(), b"%d" % (delayMs,), body=bytes(body)
        )
        return self._submit(command)

    def _submit(self, command: bytes) -> Deferred[None]:
        if self._stopper.started:
            return _aio.failed(NotConnected("producer is stopping"))
        ready = self._ready
        while ready:
            index = self._next % len(ready)
            connection = ready[index]
            if connection.closed:
                # Ending after a fatal error; linkLost will follow.
                del ready[index]
                continue
            self._next = index + 1
            future: Deferred[None] = _aio.createFuture()
            self.outstandingCount += 1
            future.addBoth(self._settled)
            connection.sendCommand(command, _OK, future)
            return future
        if len(self._queue) >= self.maxPending:
            return _aio.failed(
                PublishQueueFull(
                    f"no connection to nsqd and {self.maxPending} publishes waiting"
                )
            )
        future = _aio.createFuture()
        self.outstandingCount += 1
        future.addBoth(self._settled)
        timeout = self.timeout
        deadline = float("inf") if timeout is None else self.reactor.seconds() + timeout
        self._queue.append((command, future, deadline))
        if self._expiry is None and timeout is not None:
            self._expiry = self.reactor.callLater(timeout, self._expire)
        return future

    def _expire(self) -> None:
        # One timer for the whole queue, due when its oldest entry is.
        self._expiry = None
        queue = self._queue
        now = self.reactor.seconds()
        hint = "" if self._started else ": the producer was never started (start())"
        while queue and queue[0][2] <= now:
            _, future, _ = queue.popleft()
            _aio.reject(
                future,
                PublishTimeout(
                    f"no connection to nsqd within {self.timeout} s"
                    f" ({self._addresses()}){hint}"
                ),
            )
        if queue and queue[0][2] != float("inf"):
            self._expiry = self.reactor.callLater(queue[0][2] - now, self._expire)

    def _cancelExpiry(self) -> None:
        if self._expiry is not None:
            if self._expiry.active():
                self._expiry.cancel()
            self._expiry = None

    def _settled(self, result: _T) -> _T:
        # The first callback of every publish's future: whatever happened,
        # it is no longer outstanding.
        self.outstandingCount -= 1
        if self.outstandingCount == 0:
            self._whenIdle.fire()
        return result

    # Connections.

    def _handshake(self, protocol: NSQClientProtocol) -> Deferred[IdentifyResponse]:
        protocol.delegate = self
        return Deferred.fromCoroutine(
            identifyAndAuthenticate(protocol, self._identify, self._authSecret)
        )

    def linkReady(self, link: NSQDLink, connection: NSQClientProtocol) -> None:
        """
        L{LinkListener}: publish on C{connection}, starting with the queue.
        """
        if self._stopper.started:
            connection.loseConnection()
            return
        self._log.info("connected to nsqd {address}", address=link.address)
        self._failedLinks.discard(link)
        self._ready.append(connection)
        queue = self._queue
        while queue and not connection.closed:
            command, future, _ = queue.popleft()
            connection.sendCommand(command, _OK, future)
        if not queue:
            self._cancelExpiry()
        self._whenConnected.fire()
        self._connecting.fire()

    def linkLost(
        self, link: NSQDLink, connection: NSQClientProtocol, reason: Failure
    ) -> None:
        """
        L{LinkListener}: stop using C{connection}.
        """
        if connection in self._ready:
            self._ready.remove(connection)
        if not self._stopper.started:
            self._log.info(
                "connection to nsqd {address} lost: {why}",
                address=link.address,
                why=reason.getErrorMessage(),
            )

    def linkFailed(self, link: NSQDLink, reason: Failure) -> None:
        """
        L{LinkListener}: once the latest attempt of every link failed, fail
        the waiting publishes with L{ConnectFailed} (the links go on
        retrying).
        """
        self._failedLinks.add(link)
        if self._ready or self._stopper.started:
            return
        if len(self._failedLinks) < len(self._links):
            return
        why = reason.getErrorMessage()
        message = f"cannot reach nsqd {link.address}: {why}"
        self._connecting.fail(ConnectFailed(message, reason))
        if not self._queue:
            return
        self._cancelExpiry()
        queue, self._queue = self._queue, deque()
        for _, future, _ in queue:
            _aio.reject(future, ConnectFailed(message, reason))

    # ClientDelegate.

    def messageReceived(
        self,
        connection: NSQClientProtocol,
        timestamp: int,
        attempts: int,
        messageID: bytes,
        body: bytes,
    ) -> None:
        """
        L{ClientDelegate}: never happens (a producer does not subscribe).
        """

    def heartbeatReceived(self, connection: NSQClientProtocol) -> None:
        """
        L{ClientDelegate}: nothing to do (the protocol answered it).
        """

    def errorReceived(self, connection: NSQClientProtocol, error: NSQError) -> None:
        """
        L{ClientDelegate}: log errors no publish waited for.
        """
        self._log.warn("nsqd error: {error}", error=str(error))

    def connectionClosed(self, connection: NSQClientProtocol, reason: Failure) -> None:
        """
        L{ClientDelegate}: nothing to do (the link reports it).
        """
