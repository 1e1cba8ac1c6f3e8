# -*- test-case-name: tests.client.test_consumer -*-
"""
L{Consumer}: subscribe to a topic's channel on every nsqd that has it and
hand each message to a handler.

The behaviour follows NSQ's guide for client libraries and go-nsq, the
reference implementation:

  - B{Connections.} One connection per nsqd, to nsqds given directly
    (reconnected with exponential backoff) and/or found by polling
    nsqlookupd (reconnected only if a later poll still lists them).  Each
    connection sends IDENTIFY, AUTH when nsqd asks for it, then SUB.
  - B{RDY.} nsqd's RDY is a window (messages in flight on the connection
    may not exceed it), so RDY is only sent when the share changes:
    C{maxInFlight} is split evenly over the connections, never exceeding
    any nsqd's C{max_rdy_count}, and the sum over connections never
    exceeds C{maxInFlight} (shares are lowered before others are raised).
    When there are more connections than C{maxInFlight}, some get RDY 1
    and the rest RDY 0, and every C{rdyRedistributeInterval} the RDY of
    connections idle for C{lowRdyIdleTimeout} moves to others at random,
    so that an nsqd with messages is eventually found.
  - B{Handling.} The handler's success FINs the message, its failure REQs
    it with a delay of C{requeueDelay} times the attempt count (at most
    C{maxRequeueDelay}) and counts as a backoff failure.  A message
    delivered more than C{maxAttempts} times is passed to the give-up hook
    and FINed instead.
  - B{Backoff.} Consecutive failures raise a backoff level; at each level
    every connection gets RDY 0 for C{backoff(level)} seconds (capped at
    C{maxBackoffDuration}), then one connection chosen at random gets RDY
    1 to test the waters.  Only one result per backoff window counts:
    successes lower the level, and at level 0 the normal RDY shares are
    restored.
  - B{Stopping.} L{Consumer.stop} sends CLS on every connection, waits
    for C{CLOSE_WAIT} and for every handler still running to finish (and
    its FIN or REQ to be written), then closes.

Application code meets the consumer through the txaio seam
(L{txnsq.client._aio}): handlers and hooks may return values, Deferreds or
coroutines, and the futures returned by L{Consumer.stop} and
L{Consumer.whenSubscribed} are txaio futures (Deferreds under Twisted).
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IStreamClientEndpoint
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from txnsq.client import _aio
from txnsq.client._connection import (
    DEFAULT_HANDSHAKE_TIMEOUT,
    NSQDLink,
    clientEndpoint,
    defaultReactor,
)
from txnsq.client._errors import NotConnected, NSQAuthError, NSQError
from txnsq.client._identify import IdentifyOptions
from txnsq.client._message import Message
from txnsq.client._stopping import StartStopService, StopOnce
from txnsq.client.lookup import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_POLL_JITTER,
    HTTPClient,
    LookupdPoller,
)
from txnsq.client.protocol import NSQClientProtocol
from txnsq.wire.errors import E_AUTH_FIRST
from txnsq.wire.names import isValidName

__all__ = ["Consumer", "exponentialBackoff", "fullJitterBackoff"]

Handler = Callable[[Message], Any]
BackoffStrategy = Callable[[int], float]

_RESUME, _BACKOFF, _CONTINUE = range(3)


def exponentialBackoff(multiplier: float = 1.0) -> BackoffStrategy:
    """
    go-nsq's default backoff: C{multiplier} times 2 to the backoff level
    (level 1 waits 2 s with the default multiplier).
    """

    def strategy(level: int) -> float:
        return float(multiplier * 2 ** min(level, 64))

    return strategy


def fullJitterBackoff(
    multiplier: float = 1.0, random: Callable[[], float] = _random.random
) -> BackoffStrategy:
    """
    go-nsq's full-jitter backoff: a random duration up to C{multiplier}
    times 2 to the backoff level.
    """

    def strategy(level: int) -> float:
        return float(multiplier * 2 ** min(level, 64)) * random()

    return strategy


_DEFAULT_BACKOFF = exponentialBackoff()


class _Connection:
    """
    A subscribed connection and its RDY bookkeeping.

    @ivar rdy: the last RDY sent.
    @ivar inFlight: messages delivered here and not yet answered.
    """

    __slots__ = (
        "address",
        "inFlight",
        "lastMessageTime",
        "lastRdyTime",
        "link",
        "maxRdyCount",
        "protocol",
        "rdy",
    )

    def __init__(self, link: NSQDLink, protocol: NSQClientProtocol, now: float) -> None:
        self.link = link
        self.address = link.address
        self.protocol = protocol
        response = protocol.identifyResponse
        self.maxRdyCount = response.maxRdyCount if response is not None else 2500
        self.rdy = 0
        self.inFlight = 0
        self.lastMessageTime = now
        self.lastRdyTime = now


class Consumer(StartStopService):
    """
    Consumes one channel of one topic from any number of nsqds.

    @ivar topic: the topic.
    @ivar channel: the channel.
    @ivar messagesReceived: deliveries so far.
    @ivar messagesFinished: messages FINed (by the handler's success, by
        the application, or after giving up).
    @ivar messagesRequeued: messages REQed.
    @ivar messagesGivenUp: messages passed to the give-up hook.
    @ivar backoffLevel: the current backoff level (0: not backing off).
    """

    def __init__(
        self,
        topic: str,
        channel: str,
        handler: Handler,
        *,
        nsqdAddresses: Sequence[str | IStreamClientEndpoint] = (),
        lookupdHTTPAddresses: Sequence[str] = (),
        reactor: Any = None,
        maxInFlight: int = 1,
        maxAttempts: int = 5,
        giveUp: Handler | None = None,
        requeueDelay: float = 90.0,
        maxRequeueDelay: float = 900.0,
        backoff: BackoffStrategy | None = _DEFAULT_BACKOFF,
        maxBackoffDuration: float = 120.0,
        lookupdPollInterval: float = DEFAULT_POLL_INTERVAL,
        lookupdPollJitter: float = DEFAULT_POLL_JITTER,
        rdyRedistributeInterval: float = 5.0,
        lowRdyIdleTimeout: float = 10.0,
        lowRdyTimeout: float = 30.0,
        identify: IdentifyOptions | None = None,
        authSecret: bytes | None = None,
        httpClient: HTTPClient | None = None,
        endpointFactory: Callable[[str], IStreamClientEndpoint] | None = None,
        retryPolicy: Callable[[int], float] | None = None,
        handshakeTimeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
        random: _random.Random | None = None,
    ) -> None:
        """
        @param handler: called with each L{Message}; may return a value, a
            Deferred or a coroutine.  Success FINs the message, failure
            REQs it (unless the handler answered it itself).
        @param nsqdAddresses: nsqds to connect to directly: C{host:port}
            strings or client endpoints.
        @param lookupdHTTPAddresses: nsqlookupd HTTP addresses (C{host:port}
            or URLs) to discover nsqds from.
        @param reactor: the reactor (connections, timers); the global one
            when L{None}.
        @param maxInFlight: how many messages may be in flight at once over
            all connections.
        @param maxAttempts: give up on a message delivered more often than
            this; 0 never gives up.
        @param giveUp: called with a message that is given up on (for
            example to publish it to a dead-letter topic); the message is
            FINed once it returns, or REQed if it fails.  Without it the
            message is logged and FINed.
        @param requeueDelay: seconds; a failed message is requeued for this
            times its attempt count ...
        @param maxRequeueDelay: ... but at most this many seconds.
        @param backoff: the backoff duration in seconds for a backoff level
            (see L{exponentialBackoff}); L{None} disables backoff.
        @param maxBackoffDuration: the longest backoff, in seconds.
        @param lookupdPollInterval: seconds between nsqlookupd polls.
        @param lookupdPollJitter: fraction of the interval added at random.
        @param rdyRedistributeInterval: seconds between RDY redistributions
            (when there are more connections than C{maxInFlight}, or when
            backing off with several connections).
        @param lowRdyIdleTimeout: a connection that received nothing for
            this long gives its RDY up at the next redistribution.
        @param lowRdyTimeout: ... as does one whose RDY was last changed
            this long ago.
        @param identify: the IDENTIFY options.
        @param authSecret: sent with AUTH when nsqd requires it.
        @param httpClient: for nsqlookupd (a treq C{HTTPClient}).
        @param endpointFactory: makes the endpoint for an nsqd's
            C{host:port} (configured or discovered); by default a
            C{HostnameEndpoint}.
        @param retryPolicy: reconnect delays for configured nsqds (given
            the number of failed attempts in a row).
        @param handshakeTimeout: seconds a connection may take to IDENTIFY
            and SUB.
        @param random: randomness for RDY redistribution and backoff
            recovery.
        """
        if not isValidName(topic):
            raise ValueError(f"invalid topic name {topic!r}")
        if not isValidName(channel):
            raise ValueError(f"invalid channel name {channel!r}")
        if not nsqdAddresses and not lookupdHTTPAddresses:
            raise ValueError("need nsqdAddresses or lookupdHTTPAddresses")
        if maxInFlight < 0:
            raise ValueError(f"maxInFlight must not be negative: {maxInFlight}")
        self.topic = topic
        self.channel = channel
        self.handler = handler
        self.reactor = reactor = defaultReactor(reactor)
        self._maxInFlight = maxInFlight
        self.maxAttempts = maxAttempts
        self._giveUpHook = giveUp
        self.requeueDelay = requeueDelay
        self.maxRequeueDelay = maxRequeueDelay
        self._backoffStrategy = backoff
        self.maxBackoffDuration = maxBackoffDuration
        self._rdyRedistributeInterval = rdyRedistributeInterval
        self.lowRdyIdleTimeout = lowRdyIdleTimeout
        self.lowRdyTimeout = lowRdyTimeout
        self._identify = identify or IdentifyOptions()
        self._authSecret = authSecret
        self._retryPolicy = retryPolicy
        self._handshakeTimeout = handshakeTimeout
        self._random = random or _random.Random()
        self._endpointFactory = endpointFactory or (
            lambda address: clientEndpoint(reactor, address)
        )
        self._log = _aio.makeLogger("txnsq.client.Consumer")

        self._direct: dict[str, IStreamClientEndpoint] = {}
        for address in nsqdAddresses:
            if isinstance(address, str):
                self._direct[address] = self._endpointFactory(address)
            else:
                self._direct[repr(address)] = address
        self._poller: LookupdPoller | None = None
        if lookupdHTTPAddresses:
            self._poller = LookupdPoller(
                lookupdHTTPAddresses,
                topic,
                self._discovered,
                clock=reactor,
                httpClient=httpClient,
                interval=lookupdPollInterval,
                jitter=lookupdPollJitter,
                random=self._random.random,
            )

        self._links: dict[str, NSQDLink] = {}
        self._connections: dict[NSQClientProtocol, _Connection] = {}
        self._totalRdy = 0
        self._inFlight = 0
        self._drainWaiters: list[Deferred[None]] = []
        self._subscribedWaiters: list[Deferred[None]] = []
        self.backoffLevel = 0
        self._backoffCall: IDelayedCall | None = None
        self._needRedistribute = False
        self._redistributeLoop: LoopingCall | None = None
        self._started = False
        self._stopper = StopOnce(self._stop)

        self.messagesReceived = 0
        self.messagesFinished = 0
        self.messagesRequeued = 0
        self.messagesGivenUp = 0

    def __repr__(self) -> str:
        return f"<Consumer {self.topic}/{self.channel}>"

    # Public API.

    @property
    def maxInFlight(self) -> int:
        """
        How many messages may be in flight at once over all connections.
        """
        return self._maxInFlight

    def setMaxInFlight(self, maxInFlight: int) -> None:
        """
        Change C{maxInFlight} and redistribute RDY accordingly (0 pauses
        delivery).
        """
        if maxInFlight < 0:
            raise ValueError(f"maxInFlight must not be negative: {maxInFlight}")
        self._maxInFlight = maxInFlight
        self._rebalance()

    @property
    def inFlight(self) -> int:
        """
        Messages delivered and not yet answered.
        """
        return self._inFlight

    @property
    def connectionCount(self) -> int:
        """
        Subscribed connections.
        """
        return len(self._connections)

    def rdyCounts(self) -> dict[str, int]:
        """
        The last RDY sent on each subscribed connection, by nsqd address.
        """
        return {c.address: c.rdy for c in self._connections.values()}

    def isStarved(self) -> bool:
        """
        Whether some connection has (nearly) as many messages in flight as
        its RDY allows: the moment for a batching handler to process its
        batch rather than wait for more.
        """
        return any(
            c.inFlight > 0 and c.inFlight >= c.rdy * 0.85
            for c in self._connections.values()
        )

    def start(self) -> None:
        """
        Connect to the configured nsqds and start polling nsqlookupd.
        """
        if self._started:
            return
        self._started = True
        self.running = True
        for address, endpoint in self._direct.items():
            self._addLink(address, endpoint, reconnect=True)
        if self._poller is not None:
            self._poller.start()
        self._redistributeLoop = LoopingCall(self._redistribute)
        self._redistributeLoop.clock = self.reactor
        self._redistributeLoop.start(self._rdyRedistributeInterval, now=False)

    def whenSubscribed(self) -> Deferred[None]:
        """
        A future that fires once at least one connection is subscribed (or
        fails with L{NotConnected} if the consumer stops first).
        """
        if self._connections:
            return _aio.succeeded(None)
        waiter = _aio.createFuture()
        self._subscribedWaiters.append(waiter)
        return waiter

    def stop(self) -> Deferred[None]:
        """
        Stop gracefully: stop discovery, send CLS on every connection and
        wait for C{CLOSE_WAIT}, wait for every running handler to finish and
        its message to be answered, then close the connections.

        @return: a future that fires when everything is closed.
        """
        return self._stopper()

    async def _stop(self) -> None:
        self.running = False
        waiting, self._subscribedWaiters = self._subscribedWaiters, []
        for waiter in waiting:
            _aio.reject(waiter, NotConnected("consumer stopped before subscribing"))
        polling = self._poller.stop() if self._poller is not None else None
        if self._redistributeLoop is not None and self._redistributeLoop.running:
            self._redistributeLoop.stop()
        if self._backoffCall is not None and self._backoffCall.active():
            self._backoffCall.cancel()
        self._backoffCall = None
        # Links still connecting have nothing in flight: stop them first, so
        # no new subscription starts while draining.
        stops = [
            link.stop() for link in self._links.values() if link.connection is None
        ]
        closes = [
            c.protocol.startClose()
            for c in self._connections.values()
            if not c.protocol.closed
        ]
        await _aio.gather(closes)
        if self._inFlight:
            drained: Deferred[None] = Deferred()
            self._drainWaiters.append(drained)
            await drained
        stops += [link.stop() for link in self._links.values()]
        if polling is not None:
            stops.append(polling)
        await _aio.gather(stops)
        self._links.clear()
        self._log.info(
            "consumer {topic}/{channel} stopped", topic=self.topic, channel=self.channel
        )

    # Connections.

    def _addLink(
        self, address: str, endpoint: IStreamClientEndpoint, reconnect: bool
    ) -> None:
        link = NSQDLink(
            address,
            endpoint,
            self.reactor,
            self._handshake,
            self,
            reconnect=reconnect,
            retryPolicy=self._retryPolicy,
            handshakeTimeout=self._handshakeTimeout,
        )
        self._links[address] = link
        link.start()

    def _discovered(self, addresses: set[str]) -> None:
        if self._stopper.started:
            return
        for address in sorted(addresses - set(self._links)):
            try:
                endpoint = self._endpointFactory(address)
            except ValueError as e:
                self._log.warn(
                    "ignoring nsqd {address}: {why}", address=address, why=str(e)
                )
                continue
            self._log.info("discovered nsqd {address}", address=address)
            self._addLink(address, endpoint, reconnect=False)

    def _handshake(self, protocol: NSQClientProtocol) -> Deferred[None]:
        protocol.delegate = self

        async def handshake() -> None:
            response = await protocol.identify(self._identify)
            if response.authRequired:
                if self._authSecret is None:
                    raise NSQAuthError(
                        E_AUTH_FIRST, "nsqd requires AUTH and no authSecret is set"
                    )
                await protocol.authenticate(self._authSecret)
            await protocol.subscribe(self.topic, self.channel)

        return Deferred.fromCoroutine(handshake())

    def linkReady(self, link: NSQDLink, connection: NSQClientProtocol) -> None:
        """
        L{LinkListener}: a connection subscribed.
        """
        if self._stopper.started:
            connection.loseConnection()
            return
        self._log.info(
            "subscribed to {topic}/{channel} on {address}",
            topic=self.topic,
            channel=self.channel,
            address=link.address,
        )
        self._connections[connection] = _Connection(
            link, connection, self.reactor.seconds()
        )
        self._rebalance()
        waiters, self._subscribedWaiters = self._subscribedWaiters, []
        for waiter in waiters:
            _aio.resolve(waiter)

    def linkLost(
        self, link: NSQDLink, connection: NSQClientProtocol, reason: Failure
    ) -> None:
        """
        L{LinkListener}: a subscribed connection ended.
        """
        state = self._connections.pop(connection, None)
        if state is None:
            return
        self._totalRdy -= state.rdy
        state.rdy = 0
        if link.finished:
            self._links.pop(link.address, None)
        if not self._stopper.started:
            self._log.info(
                "connection to nsqd {address} lost: {why}",
                address=link.address,
                why=reason.getErrorMessage(),
            )
            self._rebalance()

    def linkFailed(self, link: NSQDLink, reason: Failure) -> None:
        """
        L{LinkListener}: a connection attempt or handshake failed.
        """
        if link.finished:
            self._links.pop(link.address, None)

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
        L{ClientDelegate}: hand a delivery to the handler (or give up on
        it).
        """
        state = self._connections.get(connection)
        if state is None:
            # Delivered on a connection being torn down: nsqd will time it
            # out and deliver it again.
            return
        state.inFlight += 1
        state.lastMessageTime = self.reactor.seconds()
        self._inFlight += 1
        self.messagesReceived += 1
        message = Message(
            messageID, body, timestamp, attempts, self, state.address, state
        )
        if self.maxAttempts and attempts > self.maxAttempts:
            self._giveUp(message)
            return
        _aio.callHandler(
            self.handler,
            message,
            lambda _: self._handled(message),
            lambda reason: self._handlerFailed(reason, message),
        )

    def _handled(self, message: Message) -> None:
        if message.autoResponse:
            message.finish()

    def _handlerFailed(self, reason: Failure, message: Message) -> None:
        self._log.error(
            "handler failed for message {id} (attempt {attempts}): {log_failure}",
            log_failure=reason,
            id=message.id,
            attempts=message.attempts,
        )
        if message.autoResponse:
            message.requeue()

    def _giveUp(self, message: Message) -> None:
        self.messagesGivenUp += 1
        self._log.warn(
            "giving up on message {id} after {attempts} attempts",
            id=message.id,
            attempts=message.attempts,
        )
        hook = self._giveUpHook
        if hook is None:
            message.finish()
            return

        def failed(reason: Failure) -> None:
            self._log.error(
                "give-up hook failed for message {id}, requeueing it: {log_failure}",
                log_failure=reason,
                id=message.id,
            )
            message.requeue()

        _aio.callUser(hook, message).addCallbacks(lambda _: message.finish(), failed)

    def heartbeatReceived(self, connection: NSQClientProtocol) -> None:
        """
        L{ClientDelegate}: nothing to do (the protocol answered it).
        """

    def errorReceived(self, connection: NSQClientProtocol, error: NSQError) -> None:
        """
        L{ClientDelegate}: log errors no command waited for.
        """
        state = self._connections.get(connection)
        address = state.address if state is not None else "?"
        self._log.warn("nsqd {address}: {error}", address=address, error=str(error))

    def connectionClosed(self, connection: NSQClientProtocol, reason: Failure) -> None:
        """
        L{ClientDelegate}: nothing to do (the link reports it).
        """

    # Responder: answering messages.

    def finishMessage(self, message: Message) -> None:
        """
        L{Responder}: FIN, and count a success for backoff.
        """
        state = self._answered(message)
        self.messagesFinished += 1
        if state is not None and not state.protocol.finish(message.id):
            self._lostAnswer(message, "FIN")
        self._backoffSignal(_RESUME)
        self._drained()

    def requeueMessage(
        self, message: Message, delayMs: int | None, backoff: bool
    ) -> None:
        """
        L{Responder}: REQ, and count a failure for backoff if asked.
        """
        if delayMs is None:
            delay = min(self.requeueDelay * message.attempts, self.maxRequeueDelay)
            delayMs = int(delay * 1000)
        state = self._answered(message)
        self.messagesRequeued += 1
        if state is not None and not state.protocol.requeue(message.id, delayMs):
            self._lostAnswer(message, "REQ")
        self._backoffSignal(_BACKOFF if backoff else _CONTINUE)
        self._drained()

    def touchMessage(self, message: Message) -> None:
        """
        L{Responder}: TOUCH.
        """
        state = message.connection
        assert isinstance(state, _Connection)
        if not state.protocol.touch(message.id):
            self._lostAnswer(message, "TOUCH")

    def _answered(self, message: Message) -> _Connection | None:
        state = message.connection
        assert isinstance(state, _Connection)
        state.inFlight -= 1
        self._inFlight -= 1
        return state

    def _lostAnswer(self, message: Message, command: str) -> None:
        self._log.info(
            "cannot {command} message {id}: its connection to {address} is gone"
            " (nsqd will deliver it again)",
            command=command,
            id=message.id,
            address=message.nsqdAddress,
        )

    def _drained(self) -> None:
        if self._inFlight == 0 and self._drainWaiters:
            waiters, self._drainWaiters = self._drainWaiters, []
            for waiter in waiters:
                waiter.callback(None)

    # RDY.

    def _perConnection(self) -> int:
        count = len(self._connections)
        if count == 0:
            return 0
        maxInFlight = self._maxInFlight
        return min(max(1, maxInFlight // count), maxInFlight)

    def _updateRdy(self, state: _Connection, count: int) -> bool:
        """
        Send RDY C{count} on a connection, lowered so that the total never
        exceeds C{maxInFlight}.

        @return: whether the connection's RDY is now C{count} or some lower
            positive share (C{False} when there was no room at all).
        """
        if state.protocol.closed:
            return False
        count = min(count, state.maxRdyCount)
        room = self._maxInFlight - self._totalRdy + state.rdy
        if count > room:
            if room <= 0:
                return False
            count = room
        if count != state.rdy:
            if not state.protocol.ready(count):
                return False
            self._totalRdy += count - state.rdy
            state.rdy = count
            state.lastRdyTime = self.reactor.seconds()
        return True

    def _rebalance(self) -> None:
        """
        Give every connection its even share of C{maxInFlight} (not while
        backing off: the backoff timer decides then).
        """
        if self._stopper.started or not self._connections:
            return
        if self.backoffLevel > 0 or self._backoffCall is not None:
            return
        share = self._perConnection()
        if len(self._connections) > self._maxInFlight:
            # Not everyone can have RDY; the redistribution timer rotates it.
            self._needRedistribute = True
        # Lower before raising, so the sum never exceeds maxInFlight.
        for state in sorted(
            self._connections.values(),
            key=lambda c: c.rdy - min(share, c.maxRdyCount),
            reverse=True,
        ):
            self._updateRdy(state, share)

    def _redistribute(self) -> None:
        """
        go-nsq's RDY redistribution: when not everyone can have RDY (more
        connections than C{maxInFlight}, or backing off with several
        connections), take RDY from connections that have been idle and
        give what is free to connections chosen at random.
        """
        if self._backoffCall is not None or not self._connections:
            return
        connections = list(self._connections.values())
        if len(connections) > self._maxInFlight:
            self._needRedistribute = True
        if self.backoffLevel > 0 and len(connections) > 1:
            self._needRedistribute = True
        if not self._needRedistribute:
            return
        self._needRedistribute = False
        now = self.reactor.seconds()
        for state in connections:
            if state.rdy > 0 and (
                now - state.lastMessageTime > self.lowRdyIdleTimeout
                or now - state.lastRdyTime > self.lowRdyTimeout
            ):
                self._log.debug(
                    "nsqd {address} idle: giving its RDY up", address=state.address
                )
                self._updateRdy(state, 0)
        available = self._maxInFlight - self._totalRdy
        if self.backoffLevel > 0:
            available = 1 - self._totalRdy
        candidates = [c for c in connections if c.rdy == 0]
        while candidates and available > 0:
            state = candidates.pop(self._random.randrange(len(candidates)))
            if self._updateRdy(state, 1):
                available -= 1

    # Backoff.

    def _backoffSignal(self, signal: int) -> None:
        strategy = self._backoffStrategy
        if strategy is None or self._stopper.started:
            return
        if self._backoffCall is not None:
            # One result per backoff window.
            return
        level = self.backoffLevel
        updated = False
        if signal == _RESUME and level > 0:
            level -= 1
            updated = True
        elif signal == _BACKOFF and strategy(level + 1) <= self.maxBackoffDuration:
            level += 1
            updated = True
        self.backoffLevel = level
        if level == 0:
            if updated:
                self._log.warn("backoff over, restoring RDY")
                self._rebalance()
            return
        duration = min(strategy(level), self.maxBackoffDuration)
        self._log.warn(
            "backing off for {duration} seconds (level {backoffLevel}): RDY 0 everywhere",
            duration=duration,
            backoffLevel=level,
        )
        for state in self._connections.values():
            self._updateRdy(state, 0)
        self._startBackoffTimer(duration)

    def _startBackoffTimer(self, duration: float) -> None:
        self._backoffCall = self.reactor.callLater(duration, self._backoffExpired)

    def _backoffExpired(self) -> None:
        self._backoffCall = None
        if self._stopper.started:
            return
        connections = [c for c in self._connections.values() if not c.protocol.closed]
        if not connections:
            self._log.warn("no connection to resume on; backing off for 1 second")
            self._startBackoffTimer(1.0)
            return
        choice = connections[self._random.randrange(len(connections))]
        self._log.warn(
            "backoff expired: testing the waters with RDY 1 on {address}",
            address=choice.address,
        )
        if not self._updateRdy(choice, 1):
            self._startBackoffTimer(1.0)
