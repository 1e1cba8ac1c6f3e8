# -*- test-case-name: tests.client.test_asyncio -*-
"""
txnsq's client for asyncio programs: the same L{Producer
<txnsq.client.Producer>} and L{Consumer <txnsq.client.Consumer>}, with
asyncio futures instead of Deferreds, no Twisted knowledge needed::

    import asyncio

    from txnsq.client.asyncio import Consumer, Producer

    async def main():
        async with Producer(["127.0.0.1:4150"]) as producer:
            await producer.publish("events", b"hello")
        async with Consumer("events", "archive",
                            nsqdAddresses=["127.0.0.1:4150"]) as consumer:
            async for message in consumer.messages():
                print(message.body)
                break

    asyncio.run(main())

Under the hood the clients run on Twisted's L{AsyncioSelectorReactor},
made for the running event loop (one per loop, not installed as Twisted's
global reactor, so C{asyncio.run} may be called again); if the program
installed Twisted's asyncio reactor on this loop itself, that one is used.
Host names are resolved with the loop's C{getaddrinfo}, so no thread is
left behind when C{asyncio.run} returns.  Every method that returns a
Deferred in the Twisted classes returns an C{asyncio.Future} here, which
the call has already started (a publish is sent whether or not it is
awaited); handlers and give-up hooks may be C{async def} functions (run as
asyncio tasks) or plain ones.

The clients log through C{twisted.logger}; to see their lines with the
standard library's C{logging}, once at start-up::

    from twisted.logger import STDLibLogObserver, globalLogBeginner
    globalLogBeginner.beginLoggingTo([STDLibLogObserver()])
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar

from zope.interface import implementer

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.internet.defer import Deferred
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import (
    IHostnameResolver,
    IHostResolution,
    IProtocol,
    IProtocolFactory,
    IResolutionReceiver,
    IStreamClientEndpoint,
)
from twisted.python.failure import Failure

from txnsq._endpoints import splitHostPort
from txnsq.client import consumer as _consumer
from txnsq.client import producer as _producer
from txnsq.client._block import ConnectedBlock, StartedBlock
from txnsq.client._connection import clientEndpoint
from txnsq.client._inbox import MessageStream
from txnsq.client._message import Handler, Message

__all__ = ["Consumer", "Producer", "reactorFor"]

_T = TypeVar("_T")

# The reactors made for event loops (each holds its loop).
_reactors: dict[asyncio.AbstractEventLoop, Any] = {}


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str, future: asyncio.Future[Any]) -> None:
        self.name = name
        self._future = future

    def cancel(self) -> None:
        self._future.cancel()


@implementer(IHostnameResolver)
class _LoopResolver:
    """
    Host names resolved by the event loop's C{getaddrinfo} (its default
    executor, which C{asyncio.run} shuts down), not Twisted's thread pool,
    which nothing would stop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # Why each name's last lookup failed (Name or service not known,
        # Temporary failure in name resolution...): Twisted's
        # HostnameEndpoint reports only "no results", so _ExplainedEndpoint
        # adds this to its error.
        self.failures: dict[str, str] = {}

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[Any]] | None = None,
        transportSemantics: str = "TCP",
    ) -> IHostResolution:
        family = socket.AF_UNSPEC
        if addressTypes is not None:
            if IPv4Address in addressTypes and IPv6Address not in addressTypes:
                family = socket.AF_INET
            elif IPv6Address in addressTypes and IPv4Address not in addressTypes:
                family = socket.AF_INET6
        kind = socket.SOCK_STREAM if transportSemantics == "TCP" else socket.SOCK_DGRAM
        future = asyncio.ensure_future(
            self._loop.getaddrinfo(hostName, portNumber, family=family, type=kind),
            loop=self._loop,
        )
        resolution = _Resolution(hostName, future)
        resolutionReceiver.resolutionBegan(resolution)

        def resolved(future: asyncio.Future[Any]) -> None:
            error = None if future.cancelled() else future.exception()
            if error is not None:
                self.failures[hostName] = getattr(error, "strerror", None) or str(error)
            elif not future.cancelled():
                self.failures.pop(hostName, None)
                protocol: Literal["TCP", "UDP"] = (
                    "TCP" if kind == socket.SOCK_STREAM else "UDP"
                )
                for family, _, _, _, sockaddr in future.result():
                    if family == socket.AF_INET:
                        resolutionReceiver.addressResolved(
                            IPv4Address(protocol, sockaddr[0], sockaddr[1])
                        )
                    elif family == socket.AF_INET6:
                        resolutionReceiver.addressResolved(
                            IPv6Address(protocol, *sockaddr[:4])
                        )
            resolutionReceiver.resolutionComplete()

        future.add_done_callback(resolved)
        return resolution


@implementer(IStreamClientEndpoint)
class _ExplainedEndpoint:
    """
    An nsqd's C{host:port} endpoint whose failed lookups say why, as Go's
    C{lookup nsqd.invalid: no such host} does.
    """

    def __init__(
        self, endpoint: IStreamClientEndpoint, host: str, resolver: _LoopResolver
    ) -> None:
        self._endpoint = endpoint
        self._host = host
        self._resolver = resolver

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        """
        Connect, adding the resolver's reason to a failed lookup.
        """
        attempt: Deferred[IProtocol] = self._endpoint.connect(protocolFactory)
        return attempt.addErrback(self._explain)

    def _explain(self, reason: Failure) -> Failure:
        why = self._resolver.failures.get(self._host)
        if why is None or not reason.check(DNSLookupError):
            return reason
        # Twisted's words without DNSLookupError's own "DNS lookup failed:"
        # prefix, which the new error adds again.
        text = " ".join(str(arg) for arg in getattr(reason.value, "args", ()))
        return Failure(DNSLookupError(f"{text}: {why}"))


def _explainedEndpoints(reactor: Any) -> Callable[[str], IStreamClientEndpoint]:
    """
    The clients' C{endpointFactory}: L{clientEndpoint}'s endpoints, those
    for C{host:port} explained when the host is resolved by this module's
    resolver (not when the program installed its own reactor).
    """
    resolver = reactor.nameResolver

    def endpoint(address: str) -> IStreamClientEndpoint:
        made = clientEndpoint(reactor, address)
        if not isinstance(resolver, _LoopResolver):
            return made
        try:
            host = splitHostPort(address)[0]
        except ValueError:
            return made
        return _ExplainedEndpoint(made, host, resolver)

    return endpoint


def _runningLoop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "txnsq.client.asyncio needs a running event loop: create the"
            " Producer or Consumer inside a coroutine (e.g. one run by"
            " asyncio.run())"
        ) from None


def reactorFor(loop: asyncio.AbstractEventLoop | None = None) -> Any:
    """
    The Twisted reactor the clients use on C{loop} (the running loop by
    default): Twisted's global reactor if it is an asyncio reactor on this
    loop, else an L{AsyncioSelectorReactor} of its own, made once per loop.
    Pass it as C{reactor} to other Twisted code that should run on the
    loop.  A reactor made here is never "run" in Twisted's sense, so it has
    no thread pool: code that needs one (C{deferToThread}) should install
    Twisted's asyncio reactor itself and run it.
    """
    if loop is None:
        loop = _runningLoop()
    installed: Any = sys.modules.get("twisted.internet.reactor")
    if (
        isinstance(installed, AsyncioSelectorReactor)
        and installed._asyncioEventloop is loop
    ):
        return installed
    for closed in [other for other in _reactors if other.is_closed()]:
        # Its reactor's waker (a pipe) would stay open.
        _reactors.pop(closed).waker.connectionLost(None)
    reactor = _reactors.get(loop)
    if reactor is None:
        reactor = AsyncioSelectorReactor(loop)
        reactor.installNameResolver(_LoopResolver(loop))
        _reactors[loop] = reactor
    return reactor


def _future(
    deferred: Deferred[_T], loop: asyncio.AbstractEventLoop
) -> asyncio.Future[_T]:
    return deferred.asFuture(loop)


def _twistedCallable(
    function: Handler | None, loop: asyncio.AbstractEventLoop
) -> Handler | None:
    # A handler's coroutine must run as an asyncio task (it may await asyncio
    # things); the consumer waits for it through a Deferred.
    if function is None:
        return None
    handler = function

    def call(message: Message) -> Any:
        result = handler(message)
        if inspect.isawaitable(result):
            return Deferred.fromFuture(asyncio.ensure_future(result, loop=loop))
        return result

    return call


class Producer(ConnectedBlock):
    """
    L{txnsq.client.Producer} for asyncio: publishes return
    C{asyncio.Future}s.  Make it inside a coroutine.

    @ivar twisted: the underlying L{txnsq.client.Producer}.
    """

    def __init__(
        self, nsqdAddresses: Sequence[str | IStreamClientEndpoint], **options: Any
    ) -> None:
        """
        @param nsqdAddresses: the nsqds to publish to (C{host:port}, UNIX
            socket paths, endpoint descriptions).
        @param options: the other keyword arguments of
            L{txnsq.client.Producer} (C{timeout}, C{identify}, C{authSecret},
            C{maxPending}...), C{reactor} excepted.
        """
        self._loop = _runningLoop()
        reactor = reactorFor(self._loop)
        options.setdefault("endpointFactory", _explainedEndpoints(reactor))
        self.twisted = _producer.Producer(nsqdAddresses, reactor=reactor, **options)

    def __repr__(self) -> str:
        return f"<asyncio {self.twisted!r}>"

    def __getattr__(self, name: str) -> Any:
        # Counters and settings (outstandingCount, connectionCount, ...).
        if name == "twisted":
            raise AttributeError(name)
        return getattr(self.twisted, name)

    def start(self) -> None:
        """
        Start connecting (publishes made before wait for a connection).
        """
        self.twisted.start()

    def connect(self) -> asyncio.Future[None]:
        """
        Start if needed and wait for a connection; see
        L{txnsq.client.Producer.connect}.
        """
        return _future(self.twisted.connect(), self._loop)

    def publish(self, topic: str, body: bytes) -> asyncio.Future[None]:
        """
        Publish one message (PUB); the future's result is L{None} once nsqd
        answered C{OK}.
        """
        return _future(self.twisted.publish(topic, body), self._loop)

    def multiPublish(self, topic: str, bodies: Sequence[bytes]) -> asyncio.Future[None]:
        """
        Publish several messages atomically (MPUB).
        """
        return _future(self.twisted.multiPublish(topic, bodies), self._loop)

    def deferredPublish(
        self, topic: str, delayMs: int, body: bytes
    ) -> asyncio.Future[None]:
        """
        Publish a message delivered after C{delayMs} milliseconds (DPUB).
        """
        return _future(self.twisted.deferredPublish(topic, delayMs, body), self._loop)

    def stop(self) -> asyncio.Future[None]:
        """
        Stop gracefully; see L{txnsq.client.Producer.stop}.
        """
        return _future(self.twisted.stop(), self._loop)


class Consumer(StartedBlock):
    """
    L{txnsq.client.Consumer} for asyncio.  Make it inside a coroutine.

    @ivar twisted: the underlying L{txnsq.client.Consumer}.
    """

    def __init__(
        self,
        topic: str,
        channel: str,
        handler: Callable[[Message], Any] | None = None,
        *,
        giveUp: Callable[[Message], Any] | None = None,
        **options: Any,
    ) -> None:
        """
        @param handler: called with each L{Message}; a plain function or an
            C{async def} one.  Its success FINs the message, its exception
            REQs it.  L{None}: take the messages with L{messages} instead.
        @param giveUp: called with a message delivered more than
            C{maxAttempts} times (plain or C{async def}).
        @param options: the other keyword arguments of
            L{txnsq.client.Consumer} (C{nsqdAddresses},
            C{lookupdHTTPAddresses}, C{maxInFlight}, C{maxAttempts}...),
            C{reactor} excepted.
        """
        self._loop = loop = _runningLoop()
        reactor = reactorFor(loop)
        options.setdefault("endpointFactory", _explainedEndpoints(reactor))
        self.twisted = _consumer.Consumer(
            topic,
            channel,
            _twistedCallable(handler, loop),
            giveUp=_twistedCallable(giveUp, loop),
            reactor=reactor,
            **options,
        )

    def __repr__(self) -> str:
        return f"<asyncio {self.twisted!r}>"

    def __getattr__(self, name: str) -> Any:
        # Counters and settings (maxInFlight, inFlight, messagesReceived,
        # setMaxInFlight, isStarved, ...).
        if name == "twisted":
            raise AttributeError(name)
        return getattr(self.twisted, name)

    def start(self) -> None:
        """
        Connect, subscribe and start receiving.
        """
        self.twisted.start()

    def whenSubscribed(self) -> asyncio.Future[None]:
        """
        Done once a connection is subscribed.
        """
        return _future(self.twisted.whenSubscribed(), self._loop)

    def stop(self) -> asyncio.Future[None]:
        """
        Stop gracefully; see L{txnsq.client.Consumer.stop}.
        """
        return _future(self.twisted.stop(), self._loop)

    def messages(self) -> MessageStream:
        """
        The messages, for C{async for}; see
        L{txnsq.client.Consumer.messages}.
        """
        loop = self._loop

        def convert(waiter: Deferred[Message]) -> Awaitable[Message]:
            return waiter.asFuture(loop)

        return self.twisted._stream(convert)

    def _releaseHeld(self, failed: bool) -> None:
        self.twisted._releaseHeld(failed)
