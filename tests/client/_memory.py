"""
An nsqd in memory for client tests: the real L{NSQDFactory} and L{Broker},
reached through L{twisted.test.iosim} transports, on a L{Clock}.

Nothing moves by itself: L{MemoryNSQD.flush} delivers bytes both ways and
runs zero-delay calls until everything is quiet, and L{MemoryNSQD.advance}
moves time forward in small steps (flushing and running nsqd's queue scan
at each), so heartbeats are answered and timeouts fire as they would in a
running reactor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zope.interface import implementer

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import (
    IProtocol,
    IProtocolFactory,
    IStreamClientEndpoint,
)
from twisted.internet.task import Clock
from twisted.test.iosim import FakeTransport, IOPump, connect

from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.protocol import STATE_INIT, NSQDFactory, NSQDProtocol
from txnsq.nsqd.state import Broker, Channel

__all__ = ["MemoryNSQD", "MemoryNetwork"]


class MemoryNetwork:
    """
    Several in-memory nsqds sharing one clock, flushed together.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock if clock is not None else Clock()
        self.nsqds: list[MemoryNSQD] = []

    def nsqd(self, **config: Any) -> MemoryNSQD:
        """
        Add an nsqd with C{config} (L{NSQDConfig} fields).
        """
        nsqd = MemoryNSQD(self, len(self.nsqds), **config)
        self.nsqds.append(nsqd)
        return nsqd

    def endpointFor(self, address: str) -> IStreamClientEndpoint:
        """
        The endpoint of the nsqd at C{address} (an endpoint factory for
        clients).

        @raise ValueError: for an unknown address.
        """
        for nsqd in self.nsqds:
            if nsqd.address == address:
                return nsqd.endpoint()
        raise ValueError(f"no memory nsqd at {address}")

    def flush(self) -> None:
        """
        Deliver every pending byte and run every zero-delay call, until
        nothing moves.
        """
        for _ in range(100000):
            self.clock.advance(0)
            moved = False
            for nsqd in self.nsqds:
                if nsqd.pumpOnce():
                    moved = True
            if not moved and not any(
                call.getTime() <= self.clock.seconds()
                for call in self.clock.getDelayedCalls()
            ):
                return
        raise AssertionError("memory network never went quiet")

    def advance(
        self,
        seconds: float,
        step: float = 0.1,
        each: Callable[[], object] | None = None,
    ) -> None:
        """
        Move time forward by C{seconds}, C{step} at a time and stopping at
        every scheduled call, flushing and running each nsqd's queue scan
        after every stop (and calling C{each}, if given).
        """
        self.flush()
        clock = self.clock
        target = clock.seconds() + seconds
        while clock.seconds() < target:
            # Stop at every scheduled call on the way, so that each runs at
            # its own time rather than at the end of a step.
            now = clock.seconds()
            stop = min(
                [now + step, target]
                + [
                    call.getTime()
                    for call in clock.getDelayedCalls()
                    if call.getTime() > now
                ]
            )
            clock.advance(stop - now)
            clock.rightNow = stop
            clock.advance(0)
            for nsqd in self.nsqds:
                nsqd.scan()
            self.flush()
            if each is not None:
                each()


@implementer(IStreamClientEndpoint)
class _MemoryEndpoint:
    def __init__(self, nsqd: MemoryNSQD) -> None:
        self.nsqd = nsqd

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        return self.nsqd.connect(protocolFactory)

    def __repr__(self) -> str:
        return f"<memory endpoint {self.nsqd.address}>"


class MemoryNSQD:
    """
    One nsqd in a L{MemoryNetwork}.

    @ivar address: a made-up C{host:port} naming it.
    @ivar refuse: when true, connection attempts fail with
        C{ConnectionRefusedError}.
    @ivar connectAttempts: how many connections were attempted.
    """

    def __init__(self, network: MemoryNetwork, index: int, **config: Any) -> None:
        config.setdefault("node_id", index + 1)
        config.setdefault("broadcast_address", "127.0.0.1")
        self.network = network
        self.clock = network.clock
        self.config = NSQDConfig(**config)
        self.broker = Broker(self.config)
        self.factory = NSQDFactory(self.broker, self.config, self.clock)
        self.port = 4150 + 10 * index
        self.address = f"127.0.0.1:{self.port}"
        self.refuse = False
        self.connectAttempts = 0
        self.pumps: list[IOPump] = []
        self._clientPort = 50000

    def endpoint(self) -> IStreamClientEndpoint:
        """
        A client endpoint that connects to this nsqd.
        """
        return _MemoryEndpoint(self)

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        """
        Connect a client built by C{protocolFactory}.
        """
        self.connectAttempts += 1
        if self.refuse:
            return fail(ConnectionRefusedError())
        self._clientPort += 1
        serverAddress = IPv4Address("TCP", "127.0.0.1", self.port)
        clientAddress = IPv4Address("TCP", "127.0.0.1", self._clientPort)
        client = protocolFactory.buildProtocol(serverAddress)
        assert client is not None
        server = self.factory.buildProtocol(clientAddress)
        clientTransport = FakeTransport(
            client, isServer=False, hostAddress=clientAddress, peerAddress=serverAddress
        )
        serverTransport = FakeTransport(
            server, isServer=True, hostAddress=serverAddress, peerAddress=clientAddress
        )
        pump = connect(
            server,
            serverTransport,
            client,
            clientTransport,
            greet=False,
            clock=self.clock,
        )
        self.pumps.append(pump)
        return succeed(client)

    def pumpOnce(self) -> bool:
        """
        Move bytes once on every connection; C{True} if anything moved.
        """
        moved = False
        for pump in list(self.pumps):
            if pump.pump(advanceClock=False):
                moved = True
            if pump.clientIO.disconnected and pump.serverIO.disconnected:
                self.pumps.remove(pump)
        return moved

    def scan(self) -> None:
        """
        Run nsqd's queue scan (timeouts, deferred messages) now.
        """
        self.broker.queueScan(self.clock.seconds())

    @property
    def connections(self) -> list[NSQDProtocol]:
        """
        The server side of every open connection.
        """
        return sorted(self.factory.connections, key=lambda c: c.client.connectTime)

    def dropConnections(self) -> None:
        """
        Close every client connection from nsqd's side.
        """
        for connection in self.connections:
            assert connection.transport is not None
            connection.transport.loseConnection()

    def channel(self, topic: str, channel: str) -> Channel:
        """
        The broker's channel (created if needed).
        """
        return self.broker.getChannel(topic, channel, self.clock.seconds())

    def subscriberRdy(self) -> list[int]:
        """
        The RDY of every subscribed connection, oldest first.
        """
        return [
            c.client.readyCount
            for c in self.connections
            if c.client.state != STATE_INIT
        ]
