# -*- test-case-name: tests.metrics.test_statsd -*-
"""
Sending statsd metrics over UDP on a timer: the Twisted half of
L{txnsq.metrics.statsd}, which decides what is sent.

L{StatsdService} pushes every C{--statsd-interval} as Go nsqd 1.3.0's
C{statsdLoop} does: the first push one interval after start (Go's ticker
does not fire at once), then each push resolves the address, takes a
snapshot, sends the lines of what changed since the previous push, and
spreads its datagrams over the interval less one second.  Stopping sends
what a push still holds at once, as Go's spread writer skips its waits on
exit.

Sending never blocks nor stops the daemon:

  - The address is resolved once per push, as Go dials once per push, so
    a statsd host that moves is followed.  IP addresses need no lookup;
    host names go through the reactor's own resolver
    (C{IReactorPluggableNameResolver.nameResolver}), which by default
    calls C{getaddrinfo} in the reactor's thread pool, so a slow DNS server
    never holds up the reactor, IPv6 works (unlike C{reactor.resolve}) and
    tests substitute a resolver.  A lookup gets one second, Go's dial
    timeout; the first address C{getaddrinfo} answers is used (Go dials the
    first too, in the same RFC 6724 order).
  - Datagrams leave from one unconnected UDP socket per address family,
    bound to an ephemeral port when first needed and kept until the
    service stops.  A full send buffer, an unreachable network or an
    oversized datagram drops that datagram; nothing waits for the socket.
  - Failures are logged once per episode: the first push that cannot
    resolve (Go's C{failed to create UDP socket to statsd(<address>)}),
    the first datagram that cannot be sent, or the first snapshot that
    cannot be taken, then nothing more until a push sends every datagram.
    A push that could not resolve or take its snapshot keeps the previous
    snapshot, so the next push's counters cover both intervals, as in Go.
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from zope.interface import implementer

from twisted.application.internet import TimerService
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred, fail, gatherResults, maybeDeferred, succeed
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IHostResolution,
    IListeningPort,
    IReactorPluggableNameResolver,
    IReactorTime,
    IReactorUDP,
    IResolutionReceiver,
    IUDPTransport,
)
from twisted.internet.protocol import DatagramProtocol
from twisted.python.failure import Failure

from txnsq._endpoints import splitHostPort
from txnsq._logging import Logger
from txnsq.metrics.statsd import (
    StatsSnapshot,
    packDatagrams,
    spreadOffsets,
    statsdLines,
)

__all__ = ["StatsdService", "StatsdSettings", "makeStatsdService"]

DIAL_TIMEOUT = 1.0
"""
Seconds a host name lookup may take: Go's C{net.DialTimeout(..., time.Second)}.
"""


class StatsdSettings(Protocol):
    """
    The options L{makeStatsdService} reads: a narrow view of nsqd's
    configuration (L{txnsq.nsqd.config.NSQDConfig} provides it), so this
    package does not depend on nsqd.  Names are Go's option names.
    """

    @property
    def statsd_address(self) -> str:
        """C{--statsd-address}: C{host:port} of statsd; empty: no statsd."""

    @property
    def statsd_prefix(self) -> str:
        """
        The prefix of every line: nsqd computes it from
        C{--statsd-prefix} once listening
        (L{txnsq.metrics.statsd.statsdPrefix}) and stores it back into
        this option, as Go's C{nsqd.New} does.
        """

    @property
    def statsd_interval(self) -> float:
        """C{--statsd-interval}, in seconds."""

    @property
    def statsd_mem_stats(self) -> bool:
        """C{--statsd-mem-stats}: also send the C{mem.*} lines."""

    @property
    def statsd_udp_packet_size(self) -> int:
        """C{--statsd-udp-packet-size}: the largest datagram, in bytes."""

    @property
    def statsd_exclude_ephemeral(self) -> bool:
        """C{--statsd-exclude-ephemeral}: skip C{#ephemeral} names."""


class _StatsdProtocol(DatagramProtocol):
    """
    The sending side of a statsd socket: it reads nothing.
    """

    # Twisted would log "Starting protocol" for every socket opened.
    noisy = False

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        """
        Ignore anything sent to the ephemeral port.
        """


@implementer(IResolutionReceiver)
class _FirstAddress:
    """
    Collects a host name lookup's answer into a L{Deferred} that fires with
    the first IP address, or fails when there is none.
    """

    def __init__(self, host: str) -> None:
        self._host = host
        self._addresses: list[IPv4Address | IPv6Address] = []
        self.deferred: Deferred[tuple[str, int]] = Deferred()

    def resolutionBegan(self, resolutionInProgress: IHostResolution) -> None:
        """
        Nothing to do until addresses come.
        """

    def addressResolved(self, address: IAddress) -> None:
        """
        Keep an IP address.
        """
        if isinstance(address, (IPv4Address, IPv6Address)):
            self._addresses.append(address)

    def resolutionComplete(self) -> None:
        """
        Fire with the first address (unless the lookup already timed out).
        """
        if self.deferred.called:
            return
        if not self._addresses:
            self.deferred.errback(OSError(f"no address found for {self._host!r}"))
            return
        first = self._addresses[0]
        self.deferred.callback((first.host, first.port))


def _parseAddress(address: str) -> tuple[str, int]:
    """
    C{--statsd-address} as Go's C{net.Dial("udp", address)} reads it: an
    empty host is this machine, the port a number or a service name.

    @raise ValueError: where Go's dial fails before sending anything.
    """
    host, port = splitHostPort(address)
    if port == "":
        # Go: an empty port is port 0 (golang.org/issue/13610).
        number = 0
    elif port.isascii() and port.isdigit():
        number = int(port)
    else:
        try:
            number = socket.getservbyname(port, "udp")
        except OSError:
            raise ValueError(f"unknown port udp/{port}") from None
    if number > 65535:
        raise ValueError(f"invalid port {port!r}")
    return host or "127.0.0.1", number


class StatsdService(TimerService):
    """
    Pushes statsd lines over UDP every C{interval} seconds (see the module
    docstring for the timing and the failure handling).

    @ivar address: C{--statsd-address}, as given.
    @ivar lastSnapshot: the snapshot of the latest push that was sent (the
        base of the next push's counters), or L{None}.
    """

    def __init__(
        self,
        address: str,
        gather: Callable[[], StatsSnapshot],
        reactor: IReactorTime,
        *,
        prefix: Callable[[], str] = str,
        interval: float = 60.0,
        memStats: bool = True,
        packetSize: int = 508,
        excludeEphemeral: bool = False,
        logNamespace: str = "txnsq.metrics",
    ) -> None:
        """
        @param address: where statsd listens, Go's C{host:port}.
        @param gather: takes a fresh snapshot (a new object each call; see
            L{txnsq.metrics.statsd.StatsSnapshot}).
        @param reactor: the clock; it must also provide C{IReactorUDP}, and
            C{IReactorPluggableNameResolver} when C{address} names a host.
        @param prefix: gives the lines' prefix
            (L{txnsq.metrics.statsd.statsdPrefix}); called once, at the
            first push, by when the daemon has computed it from its bound
            HTTP port.  The default gives none.
        @param interval: seconds between pushes, C{--statsd-interval}.
        @param memStats: C{--statsd-mem-stats}.
        @param packetSize: C{--statsd-udp-packet-size}.
        @param excludeEphemeral: C{--statsd-exclude-ephemeral}.
        @param logNamespace: the log namespace (the daemon's, so that its
            C{--log-level} and C{--log-prefix} apply).
        @raise ValueError: for an interval that is not positive (Go's
            ticker panics).
        """
        if not interval > 0:
            raise ValueError(f"non-positive statsd interval {interval!r}")
        super().__init__(interval, self._tick)  # type: ignore[no-untyped-call]
        self.clock = reactor
        self.address = address
        self.lastSnapshot: StatsSnapshot | None = None
        self._reactor = reactor
        self._gather = gather
        self._prefixFactory = prefix
        self._prefix: str | None = None
        self._interval = interval
        self._memStats = memStats
        self._packetSize = packetSize
        self._excludeEphemeral = excludeEphemeral
        self._log = Logger(namespace=logNamespace)
        self._target: tuple[str, int] | ValueError
        try:
            self._target = _parseAddress(address)
        except ValueError as e:
            # Go fails the same way at every push rather than at start.
            self._target = e
        self._skipNextTick = False
        self._resolving: Deferred[tuple[str, int]] | None = None
        self._protocols: dict[socket.AddressFamily, _StatsdProtocol] = {}
        self._ports: list[IListeningPort] = []
        # The push being spread: its datagrams with their offsets, when it
        # started, where it goes and whether any datagram failed.
        self._pending: deque[tuple[float, bytes]] = deque()
        self._spreadStart = 0.0
        self._spreadCall: IDelayedCall | None = None
        self._destination: tuple[IUDPTransport, tuple[str, int]] | None = None
        self._pushFailed = False
        # The kind of failure being reported, until a push succeeds.
        self._failing: str | None = None

    # Service.

    def startService(self) -> None:
        """
        Start the timer; its first push comes one interval later.
        """
        # TimerService calls at once; Go's ticker first fires one interval
        # after start, so that first call is skipped.
        self._skipNextTick = True
        super().startService()  # type: ignore[no-untyped-call]

    def stopService(self) -> Deferred[object]:
        """
        Stop the timer, send what the current push still holds, and close
        the sockets.
        """
        stopped = super().stopService()  # type: ignore[no-untyped-call]
        self._finishSpread()
        if self._resolving is not None:
            resolving, self._resolving = self._resolving, None
            resolving.cancel()
        closing = [maybeDeferred(port.stopListening) for port in self._ports]
        self._ports = []
        self._protocols = {}
        self._log.info("STATSD: closing")
        done: Deferred[object] = gatherResults([stopped, *closing]).addCallback(
            lambda _: None
        )
        return done

    # One push.

    def _tick(self) -> None:
        if self._skipNextTick:
            self._skipNextTick = False
            return
        if self._resolving is not None:
            # Go's loop is still dialling: this tick is dropped.
            return
        # A push still spreading when the next starts (a lookup that took
        # part of the interval) finishes at once rather than overlapping.
        self._finishSpread()
        resolving = self._resolving = self._resolve()
        resolving.addCallbacks(self._resolved, self._dialFailed)

    def _resolve(self) -> Deferred[tuple[str, int]]:
        if isinstance(self._target, ValueError):
            return fail(self._target)
        host, port = self._target
        if isIPAddress(host) or isIPv6Address(host):
            return succeed((host, port))
        receiver = _FirstAddress(host)
        resolver = IReactorPluggableNameResolver(self._reactor).nameResolver
        resolver.resolveHostName(receiver, host, port, transportSemantics="UDP")
        return receiver.deferred.addTimeout(DIAL_TIMEOUT, self._reactor)

    def _dialFailed(self, reason: Failure) -> None:
        self._resolving = None
        if not self.running:
            # Stopped while looking up: nothing to report.
            return
        if self._failing != "dial":
            self._failing = "dial"
            self._log.error(
                "failed to create UDP socket to statsd({address})",
                address=self.address,
                reason=reason.getErrorMessage(),
            )

    def _resolved(self, destination: tuple[str, int]) -> None:
        self._resolving = None
        if not self.running:
            return
        try:
            transport = self._transportFor(destination[0])
        except Exception:
            self._dialFailed(Failure())
            return
        self._log.info("STATSD: pushing stats to {address}", address=self.address)
        try:
            snapshot = self._gather()
            if self._prefix is None:
                self._prefix = self._prefixFactory()
            lines = statsdLines(
                snapshot,
                self.lastSnapshot,
                prefix=self._prefix,
                memStats=self._memStats,
                excludeEphemeral=self._excludeEphemeral,
            )
        except Exception:
            # A broken snapshot must not stop the timer (a LoopingCall
            # stops at its first exception), nor be logged every minute.
            if self._failing != "gather":
                self._failing = "gather"
                self._log.failure("STATSD: could not take the stats snapshot")
            return
        self.lastSnapshot = snapshot
        datagrams = packDatagrams(lines, self._packetSize)
        offsets = spreadOffsets(len(datagrams), self._interval)
        self._pending = deque(zip(offsets, datagrams))
        self._spreadStart = self._reactor.seconds()
        self._destination = (transport, destination)
        self._pushFailed = False
        if self._pending:
            self._sendDue()
        else:
            self._pushSent()

    def _transportFor(self, host: str) -> IUDPTransport:
        family = socket.AF_INET6 if isIPv6Address(host) else socket.AF_INET
        protocol = self._protocols.get(family)
        if protocol is None:
            protocol = _StatsdProtocol()
            interface = "::" if family == socket.AF_INET6 else ""
            # 8192 is Twisted's default receive size; nothing is read here.
            port = IReactorUDP(self._reactor).listenUDP(0, protocol, interface, 8192)
            self._protocols[family] = protocol
            self._ports.append(port)
        transport = protocol.transport
        assert IUDPTransport.providedBy(transport), "listenUDP gives a transport"
        return transport

    # Spreading.

    def _sendDue(self) -> None:
        # Called when the first pending datagram is due: send it, and those
        # due by now (offsets of 0 when the interval is too short to spread).
        self._spreadCall = None
        self._send(self._pending.popleft()[1])
        now = self._reactor.seconds()
        while self._pending and self._spreadStart + self._pending[0][0] <= now:
            self._send(self._pending.popleft()[1])
        if self._pending:
            delay = self._spreadStart + self._pending[0][0] - now
            self._spreadCall = self._reactor.callLater(delay, self._sendDue)
        else:
            self._pushSent()

    def _finishSpread(self) -> None:
        if self._spreadCall is not None:
            self._spreadCall.cancel()
            self._spreadCall = None
        if self._pending:
            while self._pending:
                self._send(self._pending.popleft()[1])
            self._pushSent()

    def _send(self, datagram: bytes) -> None:
        assert self._destination is not None
        transport, destination = self._destination
        try:
            transport.write(datagram, destination)
        except Exception as e:
            # EAGAIN (a full send buffer), EMSGSIZE, an unreachable network:
            # the datagram is lost, as UDP allows, and the daemon goes on.
            self._pushFailed = True
            if self._failing != "send":
                self._failing = "send"
                self._log.error(
                    "STATSD: failed to send to {address}: {error}",
                    address=self.address,
                    error=e,
                )

    def _pushSent(self) -> None:
        self._destination = None
        if not self._pushFailed:
            # The episode is over: the next failure is reported again.
            self._failing = None


def makeStatsdService(
    settings: StatsdSettings,
    gather: Callable[[], StatsSnapshot],
    reactor: IReactorTime,
    *,
    logNamespace: str = "txnsq.nsqd",
) -> StatsdService | None:
    """
    nsqd's statsd pusher, configured from its options, or L{None} when
    C{--statsd-address} is empty (Go starts no statsd loop then).

    @param settings: nsqd's options (an L{txnsq.nsqd.config.NSQDConfig});
        C{statsd_prefix} is read at the first push, by when nsqd has
        replaced the flag's value with the prefix it computed once
        listening (as Go's C{nsqd.New} does).
    @param gather: takes a snapshot: C{{"topics": ..., "memory": ...}} from
        L{txnsq.nsqd.stats.gatherStats} (without clients) and
        L{txnsq.nsqd.stats.memoryStats}.
    @param reactor: the clock, UDP and name resolver (see L{StatsdService}).
    @param logNamespace: nsqd's log namespace.
    @raise ValueError: for a C{--statsd-interval} that is not positive.
    """
    if not settings.statsd_address:
        return None

    def prefix() -> str:
        return settings.statsd_prefix

    return StatsdService(
        settings.statsd_address,
        gather,
        reactor,
        prefix=prefix,
        interval=settings.statsd_interval,
        memStats=settings.statsd_mem_stats,
        packetSize=settings.statsd_udp_packet_size,
        excludeEphemeral=settings.statsd_exclude_ephemeral,
        logNamespace=logNamespace,
    )
