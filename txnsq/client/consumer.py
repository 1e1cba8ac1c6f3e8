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
  - B{Iterating.} Without a handler, the messages are taken with
    C{async for message in consumer.messages()} (L{Consumer.messages}).

The RDY and backoff decisions are made without I/O by
L{txnsq.client._rdy.RdyController}; the consumer sends the RDY it decides
and keeps its timers.

Application code meets the consumer through the txaio seam
(L{txnsq.client._aio}): handlers and hooks may return values, Deferreds or
coroutines, and the futures returned by L{Consumer.stop} and
L{Consumer.whenSubscribed} are txaio futures (Deferreds under Twisted).
"""

from __future__ import annotations

import random as _random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IStreamClientEndpoint
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from txnsq.client import _aio
from txnsq.client._block import StartedBlock
from txnsq.client._connection import (
    DEFAULT_HANDSHAKE_TIMEOUT,
    NSQDLink,
    defaultReactor,
    identifyAndAuthenticate,
)
from txnsq.client._errors import NotConnected, NSQError
from txnsq.client._identify import DEFAULT_MAX_RDY_COUNT, IdentifyOptions
from txnsq.client._inbox import Inbox, MessageStream
from txnsq.client._message import Handler, Message, giveUp, handle
from txnsq.client._pool import LinkPool
from txnsq.client._rdy import (
    DEFAULT_BACKOFF,
    NOTHING,
    BackoffStrategy,
    RdyController,
    RdyDecision,
    exponentialBackoff,
    fullJitterBackoff,
)
from txnsq.client._stopping import StartStopService, StopOnce
from txnsq.client.lookup import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_POLL_JITTER,
    HTTPClient,
    LookupdPoller,
)
from txnsq.client.protocol import NSQClientProtocol
from txnsq.wire.names import isValidName

__all__ = ["Consumer", "exponentialBackoff", "fullJitterBackoff"]


_VALID_NAME = (
    "use 1 to 64 characters of letters, digits, '.', '_' and '-',"
    " optionally ending in '#ephemeral'"
)


class _Connection:
    """
    A subscribed connection, on which its messages are answered; also the
    key of its RDY in the consumer's L{RdyController}.
    """

    __slots__ = ("address", "link", "protocol")

    def __init__(self, link: NSQDLink, protocol: NSQClientProtocol) -> None:
        self.link = link
        self.address = link.address
        self.protocol = protocol


def _isOpen(connection: _Connection) -> bool:
    # RDY fails only on a protocol that has ended or is ending after a fatal
    # error; the controller sends nothing there.
    return not connection.protocol.closed


def _isLiveMessage(message: Message) -> bool:
    state = message.connection
    assert isinstance(state, _Connection)
    return not state.protocol.closed


#: Seconds L{Consumer.stop} waits for nsqd and the running handlers.
DEFAULT_STOP_TIMEOUT = 30.0


class Consumer(StartedBlock, StartStopService):
    """
    Consumes one channel of one topic from any number of nsqds.

    @ivar topic: the topic.
    @ivar channel: the channel.
    @ivar messagesReceived: deliveries so far.
    @ivar messagesFinished: messages FINed (by the handler's success, by
        the application, or after giving up).
    @ivar messagesRequeued: messages REQed.
    @ivar messagesGivenUp: messages passed to the give-up hook.
    """

    def __init__(
        self,
        topic: str,
        channel: str,
        handler: Handler | None = None,
        *,
        nsqdAddresses: Sequence[str | IStreamClientEndpoint] = (),
        lookupdHTTPAddresses: Sequence[str | IStreamClientEndpoint] = (),
        reactor: Any = None,
        maxInFlight: int = 1,
        maxAttempts: int = 5,
        giveUp: Handler | None = None,
        requeueDelay: float = 90.0,
        maxRequeueDelay: float = 900.0,
        backoff: BackoffStrategy | None = DEFAULT_BACKOFF,
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
        stopTimeout: float | None = DEFAULT_STOP_TIMEOUT,
    ) -> None:
        """
        @param handler: called with each L{Message}; may return a value, a
            Deferred or a coroutine.  Success FINs the message, failure
            REQs it (unless the handler answered it itself).  L{None} (the
            default): the application takes the messages with
            L{messages} instead.
        @param nsqdAddresses: nsqds to connect to directly: C{host:port},
            UNIX socket paths, client endpoint descriptions (C{tcp:...},
            C{unix:path=...}, C{tls:...}) or client endpoints.
        @param lookupdHTTPAddresses: nsqlookupd HTTP addresses (C{host:port},
            URLs, client endpoint descriptions or endpoints) to discover
            nsqds from.
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
        @param stopTimeout: seconds L{stop} waits for nsqd to confirm CLS
            and for the handlers still running; then it closes the
            connections anyway (the unanswered messages are delivered
            again after nsqd's message timeout).  L{None} waits as long as
            it takes.
        """
        # The tools turn the first two into go-nsq's errors by their start.
        if not isValidName(topic):
            raise ValueError(f"invalid topic name {topic!r}: {_VALID_NAME}")
        if not isValidName(channel):
            raise ValueError(f"invalid channel name {channel!r}: {_VALID_NAME}")
        if not nsqdAddresses and not lookupdHTTPAddresses:
            raise ValueError(
                "need nsqdAddresses or lookupdHTTPAddresses: pass nsqds' TCP"
                " addresses (nsqdAddresses=['127.0.0.1:4150']) or nsqlookupds'"
                " HTTP addresses (lookupdHTTPAddresses=['127.0.0.1:4161'])"
            )
        self._random = random or _random.Random()
        # Raises for a negative maxInFlight.
        self._rdy: RdyController[_Connection] = RdyController(
            maxInFlight,
            isOpen=_isOpen,
            random=self._random,
            backoff=backoff,
            maxBackoffDuration=maxBackoffDuration,
            lowRdyIdleTimeout=lowRdyIdleTimeout,
            lowRdyTimeout=lowRdyTimeout,
        )
        self.topic = topic
        self.channel = channel
        #: The handler; for a consumer made without one, what queues the
        #: messages for L{messages}.
        self.handler: Handler = handler or self._unhandled
        self.reactor = reactor = defaultReactor(reactor)
        self.stopTimeout = stopTimeout
        self.maxAttempts = maxAttempts
        self._giveUpHook = giveUp
        self.requeueDelay = requeueDelay
        self.maxRequeueDelay = maxRequeueDelay
        self._rdyRedistributeInterval = rdyRedistributeInterval
        self._identify = identify or IdentifyOptions()
        self._authSecret = authSecret
        self._log = _aio.makeLogger("txnsq.client.Consumer")
        self._pool = LinkPool(
            nsqdAddresses,
            self,
            self._handshake,
            reactor=reactor,
            log=self._log,
            endpointFactory=endpointFactory,
            retryPolicy=retryPolicy,
            handshakeTimeout=handshakeTimeout,
        )
        self._poller: LookupdPoller | None = None
        if lookupdHTTPAddresses:
            self._poller = LookupdPoller(
                lookupdHTTPAddresses,
                topic,
                self._pool.discovered,
                clock=reactor,
                httpClient=httpClient,
                interval=lookupdPollInterval,
                jitter=lookupdPollJitter,
                random=self._random.random,
            )

        self._connections: dict[NSQClientProtocol, _Connection] = {}
        # Without a handler, delivered messages wait here for the loops
        # over messages().
        self._inbox: Inbox | None = None
        if handler is None:
            self._inbox = Inbox(_isLiveMessage, self._forget)
        self._whenDrained = _aio.Waiters()
        self._whenSubscribed = _aio.Waiters()
        self._backoffCall: IDelayedCall | None = None
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
        return self._rdy.maxInFlight

    def setMaxInFlight(self, maxInFlight: int) -> None:
        """
        Change C{maxInFlight} and redistribute RDY accordingly (0 pauses
        delivery).
        """
        now = self.reactor.seconds()
        self._sendRdy(self._rdy.maxInFlightChanged(maxInFlight, now))

    @property
    def inFlight(self) -> int:
        """
        Messages delivered and not yet answered.
        """
        return self._rdy.inFlight

    @property
    def backoffLevel(self) -> int:
        """
        The current backoff level (0: not backing off).
        """
        return self._rdy.backoffLevel

    # The RDY controller's settings, kept as attributes of the consumer.

    @property
    def maxBackoffDuration(self) -> float:
        """
        The longest backoff, in seconds.
        """
        return self._rdy.maxBackoffDuration

    @maxBackoffDuration.setter
    def maxBackoffDuration(self, seconds: float) -> None:
        self._rdy.maxBackoffDuration = seconds

    @property
    def lowRdyIdleTimeout(self) -> float:
        """
        Seconds after which a connection that received nothing gives its
        RDY up at the next redistribution.
        """
        return self._rdy.lowRdyIdleTimeout

    @lowRdyIdleTimeout.setter
    def lowRdyIdleTimeout(self, seconds: float) -> None:
        self._rdy.lowRdyIdleTimeout = seconds

    @property
    def lowRdyTimeout(self) -> float:
        """
        Seconds after which a connection whose RDY did not change gives it
        up at the next redistribution.
        """
        return self._rdy.lowRdyTimeout

    @lowRdyTimeout.setter
    def lowRdyTimeout(self, seconds: float) -> None:
        self._rdy.lowRdyTimeout = seconds

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
        return {c.address: self._rdy.rdy(c) for c in self._connections.values()}

    def isStarved(self) -> bool:
        """
        Whether some connection has (nearly) as many messages in flight as
        its RDY allows: the moment for a batching handler to process its
        batch rather than wait for more.
        """
        return self._rdy.isStarved()

    def start(self) -> None:
        """
        Connect to the configured nsqds and start polling nsqlookupd.
        """
        if self._started:
            return
        self._started = True
        self.running = True
        self._pool.start()
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
        return self._whenSubscribed.wait()

    def stop(self) -> Deferred[None]:
        """
        Stop gracefully: stop discovery, send CLS on every connection and
        wait for C{CLOSE_WAIT}, wait for every running handler to finish and
        its message to be answered, then close the connections.

        Without a handler, the messages no loop over L{messages} has taken
        yet are requeued at once (C{REQ} with no delay, not counted as
        failures), the loops end when they ask for their next message (which
        answers the one they held), and C{stop} waits for the message each
        loop body still holds to be answered.

        @return: a future that fires when everything is closed.
        """
        return self._stopper()

    def messages(self) -> MessageStream:
        """
        The delivered messages, for C{async for} (a consumer made without a
        handler)::

            async for message in consumer.messages():
                await store(message.body)

        Starts the consumer if needed.  Back-pressure goes through RDY: a
        message stays in flight until it is answered, and nsqd never has
        more than C{maxInFlight} messages in flight to the consumer, so at
        most C{maxInFlight} messages wait for the loop.

        The message the loop body holds is finished (C{FIN}) when the loop
        asks for the next one, unless the body finished or requeued it, or
        called C{message.disableAutoResponse()}: as a handler's message is
        finished when the handler returns.  A message the body holds when
        it leaves the loop (C{break}, C{return}, an exception) is answered
        when C{async with consumer:} ends (C{FIN}, or C{REQ} if an
        exception ends it), else stays in flight until the application
        answers it (L{stop} waits for that, up to C{stopTimeout}) or nsqd's
        message timeout delivers it again.  A later loop takes the next
        messages; several loops at once share them.

        The loop ends when the consumer stops (see L{stop}).

        @raise TypeError: if the consumer has a handler.
        """
        return self._stream()

    def _stream(
        self,
        convert: Callable[[Deferred[Message]], Awaitable[Message]] | None = None,
    ) -> MessageStream:
        if self._inbox is None:
            raise TypeError(
                f"{self!r} hands its messages to its handler; make the"
                " consumer without a handler to iterate over its messages"
            )
        self.start()
        if convert is None:
            return MessageStream(self._inbox)
        return MessageStream(self._inbox, convert)

    @property
    def waitingCount(self) -> int:
        """
        Delivered messages no loop over L{messages} has taken yet (at most
        C{maxInFlight}).
        """
        return 0 if self._inbox is None else len(self._inbox)

    def _releaseHeld(self, failed: bool) -> None:
        if self._inbox is not None:
            for stream in list(self._inbox.holding):
                stream.release(failed)

    async def _stop(self) -> None:
        # First, so that nothing the application does from here on (say, in
        # an errback of whenSubscribed) changes RDY.
        self._rdy.stop()
        self.running = False
        self._whenSubscribed.fail(NotConnected("consumer stopped before subscribing"))
        inbox = self._inbox
        polling = self._poller.stop() if self._poller is not None else None
        if self._redistributeLoop is not None and self._redistributeLoop.running:
            self._redistributeLoop.stop()
        if self._backoffCall is not None and self._backoffCall.active():
            self._backoffCall.cancel()
        self._backoffCall = None
        # Links still connecting have nothing in flight: stop them first, so
        # no new subscription starts while draining.
        stops = self._pool.stopConnecting()
        closes = [
            c.protocol.startClose()
            for c in self._connections.values()
            if not c.protocol.closed
        ]
        if inbox is not None:
            # After CLS, so that nsqd does not deliver them to us again.
            for message in inbox.close():
                self._requeueUnhandled(message)
        draining = Deferred.fromCoroutine(self._drain(closes))
        if self.stopTimeout is not None:
            draining.addTimeout(self.stopTimeout, self.reactor)
        try:
            await draining
        except defer.TimeoutError:
            # An nsqd that never confirms CLS, or a handler that never
            # returns, must not keep stop() from finishing.
            self._log.warn(
                "consumer {topic}/{channel}: not drained after {timeout} s"
                " ({inFlight} messages in flight), closing anyway",
                topic=self.topic,
                channel=self.channel,
                timeout=self.stopTimeout,
                inFlight=self._rdy.inFlight,
            )
            for c in list(self._connections.values()):
                c.protocol.abortConnection()
        stops += self._pool.stop()
        if polling is not None:
            stops.append(polling)
        await _aio.gather(stops)
        self._pool.links.clear()
        self._log.info(
            "consumer {topic}/{channel} stopped", topic=self.topic, channel=self.channel
        )

    async def _drain(self, closes: list[Deferred[Any]]) -> None:
        await _aio.gather(closes)
        if self._rdy.inFlight:
            await self._whenDrained.wait()

    # Connections.

    def _handshake(self, protocol: NSQClientProtocol) -> Deferred[None]:
        protocol.delegate = self

        async def handshake() -> None:
            await identifyAndAuthenticate(protocol, self._identify, self._authSecret)
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
        state = self._connections[connection] = _Connection(link, connection)
        response = connection.identifyResponse
        maxRdyCount = (
            response.maxRdyCount if response is not None else DEFAULT_MAX_RDY_COUNT
        )
        now = self.reactor.seconds()
        self._sendRdy(self._rdy.connectionAdded(state, maxRdyCount, now))
        self._whenSubscribed.fire()

    def linkLost(
        self, link: NSQDLink, connection: NSQClientProtocol, reason: Failure
    ) -> None:
        """
        L{LinkListener}: a subscribed connection ended.
        """
        state = self._connections.pop(connection, None)
        if state is None:
            return
        decision = self._rdy.connectionRemoved(state, self.reactor.seconds())
        if not self._stopper.started:
            self._log.info(
                "connection to nsqd {address} lost: {why}",
                address=link.address,
                why=reason.getErrorMessage(),
            )
            self._sendRdy(decision)

    def linkFailed(self, link: NSQDLink, reason: Failure) -> None:
        """
        L{LinkListener}: nothing to do (the pool forgets finished links).
        """

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
        self._rdy.messageReceived(state, self.reactor.seconds())
        self.messagesReceived += 1
        message = Message(
            messageID, body, timestamp, attempts, self, state.address, state
        )
        if self.maxAttempts and attempts > self.maxAttempts:
            self.messagesGivenUp += 1
            giveUp(message, self._giveUpHook, self._log)
            return
        inbox = self._inbox
        if inbox is None:
            # A handler that returned None at once: FIN in this step.
            if handle(message, self.handler, self._log):
                self._finished(message, state, self.reactor.seconds())
        elif inbox.closed:
            self._requeueUnhandled(message)
        else:
            inbox.put(message)

    def _unhandled(self, message: Message) -> None:
        # Never called: messageReceived hands them to the inbox.
        raise AssertionError("a consumer without a handler got a message to handle")

    def _requeueUnhandled(self, message: Message) -> None:
        # A message no loop took: back to nsqd for any consumer, at once and
        # without counting as a failure.
        message.requeue(0, backoff=False)

    def _forget(self, message: Message) -> None:
        # A waiting message whose connection ended: nsqd delivers it again
        # after its message timeout; it is no longer in flight here.
        self._answered(message)
        self._drained()

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
        state = message.connection
        assert isinstance(state, _Connection)
        self._finished(message, state, self.reactor.seconds())

    def _finished(self, message: Message, state: _Connection, now: float) -> None:
        # FIN and count the success, once per message (a synchronous
        # handler's FIN comes here straight from messageReceived):
        # _answered and _drained inlined, and nothing to do for the (usual)
        # success that changes no backoff.
        rdy = self._rdy
        rdy.messageAnswered(state)
        self.messagesFinished += 1
        if not state.protocol.finish(message.id):
            self._lostAnswer(message, "FIN")
        decision = rdy.messageFinished(now)
        if decision is not NOTHING:
            self._backoffDecided(decision)
        if not rdy.inFlight:
            self._whenDrained.fire()

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
        if not state.protocol.requeue(message.id, delayMs):
            self._lostAnswer(message, "REQ")
        now = self.reactor.seconds()
        self._backoffDecided(self._rdy.messageRequeued(now, backoff))
        self._drained()

    def touchMessage(self, message: Message) -> None:
        """
        L{Responder}: TOUCH.
        """
        state = message.connection
        assert isinstance(state, _Connection)
        if not state.protocol.touch(message.id):
            self._lostAnswer(message, "TOUCH")

    def _answered(self, message: Message) -> _Connection:
        state = message.connection
        assert isinstance(state, _Connection)
        self._rdy.messageAnswered(state)
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
        if self._rdy.inFlight == 0:
            self._whenDrained.fire()

    # RDY: the controller decides, the consumer sends and keeps the timers.

    def _sendRdy(self, decision: RdyDecision[_Connection]) -> None:
        for state, count in decision.rdy:
            # The controller only decides RDY on open connections, where it
            # is always sent.
            state.protocol.ready(count)
        if decision.backoffTimer is not None:
            self._backoffCall = self.reactor.callLater(
                decision.backoffTimer, self._backoffExpired
            )

    def _backoffDecided(self, decision: RdyDecision[_Connection]) -> None:
        if decision.backoffOver:
            self._log.warn("backoff over, restoring RDY")
        elif decision.backoffTimer is not None:
            self._log.warn(
                "backing off for {duration} seconds (level {backoffLevel}):"
                " RDY 0 everywhere",
                duration=decision.backoffTimer,
                backoffLevel=self._rdy.backoffLevel,
            )
        self._sendRdy(decision)

    def _redistribute(self) -> None:
        decision = self._rdy.redistributeTimerFired(self.reactor.seconds())
        for state in decision.idle:
            self._log.debug(
                "nsqd {address} idle: giving its RDY up", address=state.address
            )
        self._sendRdy(decision)

    def _backoffExpired(self) -> None:
        self._backoffCall = None
        decision = self._rdy.backoffTimerFired(self.reactor.seconds())
        if decision.testing is not None:
            self._log.warn(
                "backoff expired: testing the waters with RDY 1 on {address}",
                address=decision.testing.address,
            )
        elif decision.backoffTimer is not None:
            self._log.warn("no connection to resume on; backing off for 1 second")
        self._sendRdy(decision)
