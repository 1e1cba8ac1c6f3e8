# -*- test-case-name: tests.nsqd.test_service -*-
"""
nsqd as a Twisted service: the broker, its TCP listener, the queue-scan
timer, the statsd pusher, the HTTP and HTTPS listeners for a site it is
given, and Go's ordered graceful shutdown.
"""

from __future__ import annotations

import gc
import platform
from collections.abc import Callable
from typing import Any

from twisted.application.internet import TimerService
from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred, fail, gatherResults
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IReactorTime

from txnsq._endpoints import ListeningService, ipPort, listeningService
from txnsq._logging import Logger, setLogLevel
from txnsq.metrics.statsd import StatsSnapshot, statsdPrefix
from txnsq.metrics.statsdservice import StatsdService, makeStatsdService
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.lookupd import LookupdPeers
from txnsq.nsqd.options import versionString
from txnsq.nsqd.persistence import Persistence, threadRunner
from txnsq.nsqd.protocol import NSQDFactory
from txnsq.nsqd.state import Broker
from txnsq.nsqd.stats import GCPauseRecorder, gatherStats, memoryStats

__all__ = ["HTTPSiteFactory", "NSQDService", "TopologyLog", "logClosing"]

_LOG_NAMESPACE = "txnsq.nsqd"
_topologyLog = Logger(namespace=_LOG_NAMESPACE)


HTTPSiteFactory = Callable[[bool], IProtocolFactory]
"""
Makes the site serving the HTTP API: called with C{False} for the HTTP
listener and C{True} for the HTTPS one (whose site the service wraps in
TLS).
"""


class NSQDService(MultiService):
    """
    One nsqd: a L{Broker}, an L{NSQDFactory} listening on C{--tcp-address},
    a timer calling L{Broker.queueScan} every C{queue_scan_interval}, and
    once L{serveHTTP} is called, the HTTP API on C{--http-address} (and
    C{--https-address}).

    Stopping follows Go's C{NSQD.Exit}: stop accepting TCP connections,
    close every client connection, stop the HTTP listener, stop the scan
    timer, then close the broker (which writes queued, in-flight and
    deferred messages to disk).  L{MultiService} would stop its children all
    at once, so the order is written out here.  Services added as children
    by others (lookupd peers, statsd) stop after the broker closes, one by
    one, last added first.

    @ivar config: the options; C{broadcast_tcp_port} and
        C{broadcast_http_port} left at 0 are set to the bound ports once
        listening, and C{statsd_prefix} to the prefix it gives (its C{%s}
        replaced), as Go's C{nsqd.New} does.
    @ivar clock: the reactor's time.
    @ivar broker: the broker (which tracks e2e processing latency, HTTP
        listener or not).
    @ivar health: nsqd's health, as C{/ping} and C{/stats} report it.
    @ivar gcPauses: the process's garbage collection pauses, for
        C{/stats}.
    @ivar factory: the TCP protocol factory.
    @ivar lookupPeers: the nsqlookupd connections.
    @ivar tcpService: the TCP listener.
    @ivar httpService: the HTTP listener, or L{None} when there is no HTTP
        API (C{--http-address=""} or L{serveHTTP} not called).
    @ivar httpsService: the HTTPS listener, or L{None}.
    @ivar boundTCPPort: the port TCP listens on, once bound (L{None} until
        then, or on a unix socket).
    @ivar boundHTTPSPort: the port HTTPS listens on, once bound.
    @ivar scanService: the queue-scan timer.
    @ivar statsdService: the statsd pusher (Go's C{statsdLoop}), or
        L{None} without C{--statsd-address}.
    """

    _log = Logger(namespace=_LOG_NAMESPACE)

    def __init__(self, config: NSQDConfig, reactor: IReactorTime) -> None:
        """
        @param reactor: the reactor to listen with and the clock for the
            scan timer; it must also provide C{IReactorTCP} (and
            C{IReactorUNIX} for unix socket addresses).
        """
        super().__init__()  # type: ignore[no-untyped-call]
        self.config = config
        self._reactor = reactor
        self.clock = reactor
        setLogLevel(_LOG_NAMESPACE, config.log_level)
        self.persistence = Persistence(config, threadRunner(reactor))
        self.health = self.persistence.health
        self.broker = Broker(config, self.persistence.backend)
        # First among the broker's observers, so a topic's creation is
        # logged before what it causes (registration, nsqd.dat).
        self.broker.observers.append(TopologyLog(self.broker))
        # Go reads its runtime's GC figures; Python's pauses are only known
        # to a gc callback, installed once per process.
        self.gcPauses = GCPauseRecorder.install()
        self._dataOpened = False
        #: Whether starting tunes the process's garbage collector: only
        #: when nsqd is the process (twistd nsqd), never in a test run.
        self.tuneGC = False
        self.factory = NSQDFactory(self.broker, config, reactor)
        # Go logs no "Starting factory" lines; twistd's own would be noise.
        self.factory.noisy = False
        self._announced = False

        self.tcpService = listeningService(
            reactor, config.tcp_address, self.factory, "TCP", _LOG_NAMESPACE
        )
        self.tcpService.setServiceParent(self)  # type: ignore[no-untyped-call]

        self.httpService: ListeningService | None = None
        self.httpsService: ListeningService | None = None
        self.boundTCPPort: int | None = None
        self.boundHTTPSPort: int | None = None

        # Go registers the ports it really listens on when the broadcast
        # ports are left at 0 (port 0 listeners included).
        self.tcpService.whenListening().addCallbacks(self._tcpListening, _ignore)

        self.scanService = TimerService(config.queue_scan_interval, self._queueScan)
        self.scanService.clock = reactor
        self.scanService.setServiceParent(self)

        # Registration with nsqlookupd waits for the listeners, so the
        # broadcast ports it reports are the bound ones.
        self.lookupPeers = LookupdPeers(
            config, self.broker, reactor, ready=self._whenListening
        )
        self.lookupPeers.setServiceParent(self)  # type: ignore[no-untyped-call]

        # Here rather than where the HTTP API is wired (the tap): statsd
        # reads only what this service owns, and Go starts its statsdLoop
        # in nsqd.go too, so every nsqd built from a config pushes.
        self.statsdService: StatsdService | None = makeStatsdService(
            config, self._statsdSnapshot, reactor, logNamespace=_LOG_NAMESPACE
        )
        if self.statsdService is not None:
            self.statsdService.setServiceParent(self)  # type: ignore[no-untyped-call]
        self._prefixPending = True

    def serveHTTP(self, site: HTTPSiteFactory) -> None:
        """
        Serve the HTTP API: C{site(False)} on C{--http-address} unless it is
        empty, and, as Go does, C{site(True)} over TLS on
        C{--https-address} when a certificate and key are configured.  Call
        it once, before starting.
        """
        config = self.config
        if self.httpService is not None or self.httpsService is not None:
            raise RuntimeError("nsqd already serves HTTP")
        if config.http_address:
            self.httpService = listeningService(
                self._reactor, config.http_address, site(False), "HTTP", _LOG_NAMESPACE
            )
            self.httpService.setServiceParent(self)  # type: ignore[no-untyped-call]
            self.httpService.whenListening().addCallbacks(self._httpListening, _ignore)
        tlsOptions = self.factory.tlsOptions
        if config.https_address and tlsOptions is not None:
            # Imported only with TLS configured (txnsq._tlsimport).
            from twisted.protocols.tls import TLSMemoryBIOFactory

            self.httpsService = listeningService(
                self._reactor,
                config.https_address,
                TLSMemoryBIOFactory(tlsOptions, False, site(True)),
                "HTTPS",
                _LOG_NAMESPACE,
            )
            self.httpsService.setServiceParent(self)  # type: ignore[no-untyped-call]
            self.httpsService.whenListening().addCallbacks(
                self._httpsListening, _ignore
            )

    def _tcpListening(self, port: IListeningPort) -> None:
        bound = ipPort(port.getHost())
        self.boundTCPPort = bound
        if self.config.broadcast_tcp_port == 0 and bound is not None:
            self.config.broadcast_tcp_port = bound

    def _httpListening(self, port: IListeningPort) -> None:
        bound = ipPort(port.getHost())
        if self.config.broadcast_http_port == 0 and bound is not None:
            self.config.broadcast_http_port = bound

    def _httpsListening(self, port: IListeningPort) -> None:
        bound = ipPort(port.getHost())
        if bound is not None:
            self.boundHTTPSPort = bound

    def _computeStatsdPrefix(self, ports: object) -> None:
        # Go's nsqd.New, once the listeners are bound: the prefix names the
        # broadcast HTTP port, the bound one if it was 0.
        config = self.config
        config.statsd_prefix = statsdPrefix(
            config.statsd_prefix, config.broadcast_address, config.broadcast_http_port
        )

    def _computePrefixOnceListening(self) -> None:
        # Once per service: the option then holds the computed prefix.
        if self._prefixPending:
            self._prefixPending = False
            self._whenListening().addCallbacks(self._computeStatsdPrefix, _ignore)

    def _statsdSnapshot(self) -> StatsSnapshot:
        # Go's statsdLoop: GetStats("", "", false), and its memory figures
        # only with --statsd-mem-stats.
        stats = gatherStats(
            self.broker,
            self.factory.connections,
            includeClients=False,
            now=self._reactor.seconds(),
        )
        snapshot: dict[str, object] = {"topics": stats.topics}
        if self.config.statsd_mem_stats:
            snapshot["memory"] = memoryStats(self.gcPauses)
        return snapshot

    def _queueScan(self) -> None:
        now = self._reactor.seconds()
        self.broker.queueScan(now)
        self.persistence.tick(now)

    def _openData(self) -> None:
        # Go locks the data path and loads nsqd.dat before it serves anyone;
        # a locked path must stop the start, so errors propagate.
        if self._dataOpened:
            return
        self._dataOpened = True
        topics, deferred = self.persistence.openDataPath()
        self.broker.restore(topics, deferred, self._reactor.seconds())
        self.persistence.attach(self.broker)
        # Go rewrites nsqd.dat right after loading it.
        self.persistence.topologyChanged("loaded", "", None)

    def _announce(self) -> None:
        # Go's nsqd.New logs these before it listens.
        if not self._announced:
            self._announced = True
            self._log.info("{version}", version=versionString())
            self._log.info("ID: {nodeID}", nodeID=self.config.node_id)

    def privilegedStartService(self) -> None:
        """
        Listen (before twistd drops privileges).
        """
        self._announce()
        self._openData()
        self._computePrefixOnceListening()
        super().privilegedStartService()  # type: ignore[no-untyped-call]

    def startService(self) -> None:
        """
        Start listening (if not yet) and scanning.
        """
        self._announce()
        self._openData()
        self._computePrefixOnceListening()
        super().startService()  # type: ignore[no-untyped-call]
        if self.tuneGC:
            tuneGarbageCollector()

    def _whenListening(self) -> Deferred[list[Any]]:
        waits: list[Deferred[Any]] = [self.tcpService.whenListening()]
        if self.httpService is not None:
            waits.append(self.httpService.whenListening())
        # A failed listen is reported by startService and whenListening.
        return gatherResults(waits, consumeErrors=True)

    def logLevelChanged(self, level: str) -> None:
        """
        C{PUT /config/log_level}: log at C{level} from now on.
        """
        setLogLevel(_LOG_NAMESPACE, level)

    def whenTCPListening(self) -> Deferred[IListeningPort]:
        """
        The bound TCP port, once listening (its C{getHost()} has the real
        port when C{--tcp-address} asked for port 0).
        """
        return self.tcpService.whenListening()

    def whenHTTPListening(self) -> Deferred[IListeningPort]:
        """
        The bound HTTP port, once listening; fails if there is no HTTP
        listener.
        """
        if self.httpService is None:
            return fail(RuntimeError("nsqd has no HTTP listener"))
        return self.httpService.whenListening()

    def whenHTTPSListening(self) -> Deferred[IListeningPort]:
        """
        The bound HTTPS port, once listening; fails if there is no HTTPS
        listener (no certificate, or C{--https-address=""}).
        """
        if self.httpsService is None:
            return fail(RuntimeError("nsqd has no HTTPS listener"))
        return self.httpsService.whenListening()

    def stopService(self) -> Deferred[None]:
        """
        Stop in Go's order (see the class docstring).

        @return: fires when the broker has closed and every child stopped.
        """
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        Service.stopService(self)
        known: list[IService] = [self.tcpService, self.scanService]
        try:
            await _stopped(self.tcpService)
            self.factory.disconnectAll()
            for listener in (self.httpService, self.httpsService):
                if listener is not None:
                    known.append(listener)
                    await _stopped(listener)
            await _stopped(self.scanService)
        finally:
            self._log.info("NSQ: closing topics")
            logClosing(self.broker)
            await self.persistence.close()
        self._log.info("NSQ: stopping subsystems")
        for child in reversed(list(self)):
            if child not in known and child.running:
                await _stopped(child)
        self._log.info("NSQ: bye")


class TopologyLog:
    """
    Logs topics and channels as they come and go, in Go's words and at
    Go's level (INFO): C{TOPIC(t): created}, C{TOPIC(t): new channel(c)},
    C{TOPIC(t): deleting}, C{TOPIC(t): deleting channel c}, C{CHANNEL(c):
    deleting}.  Go logs these where topics and channels are made
    (C{nsqd.go}, C{topic.go}, C{channel.go}); txnsq's broker does no I/O,
    so its notifications are logged here.  Pauses are not logged: Go
    1.3.0 does not log them.
    """

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    def topologyChanged(self, event: str, topic: str, channel: str | None) -> None:
        """
        Log a topology change (see L{txnsq.nsqd.state.broker.TopologyObserver}).
        """
        log = _topologyLog
        if event == "topic_created":
            log.info("TOPIC({topic}): created", topic=topic)
        elif event == "channel_created":
            log.info(
                "TOPIC({topic}): new channel({channel})", topic=topic, channel=channel
            )
        elif event == "topic_deleted":
            log.info("TOPIC({topic}): deleting", topic=topic)
            log.info("TOPIC({topic}): closing ... messagePump", topic=topic)
        elif event == "channel_deleted":
            # A channel deleted with its topic is deleted by the topic (the
            # broker no longer has it), not removed from it.
            if topic in self._broker.topics:
                log.info(
                    "TOPIC({topic}): deleting channel {channel}",
                    topic=topic,
                    channel=channel,
                )
            log.info("CHANNEL({channel}): deleting", channel=channel)


def logClosing(broker: Broker) -> None:
    """
    Log what Go's C{Topic.Close} and C{Channel.Close} log at shutdown, just
    before L{Broker.close} writes the messages to disk: each topic and
    channel closing, and what each flushes to its backend.
    """
    log = _topologyLog
    for topic in broker.topics.values():
        log.info("TOPIC({topic}): closing", topic=topic.name)
        log.info("TOPIC({topic}): closing ... messagePump", topic=topic.name)
        for channel in topic.channels.values():
            log.info("CHANNEL({channel}): closing", channel=channel.name)
            memory = channel.depth() - channel.backendDepth()
            inFlight = len(channel.inFlight)
            deferred = channel.deferredCount()
            if memory or inFlight or deferred:
                log.info(
                    "CHANNEL({channel}): flushing {memory} memory {inFlight} "
                    "in-flight {deferred} deferred messages to backend",
                    channel=channel.name,
                    memory=memory,
                    inFlight=inFlight,
                    deferred=deferred,
                )
        memory = topic.depth() - topic.backendDepth()
        if memory:
            log.info(
                "TOPIC({topic}): flushing {memory} memory messages to backend",
                topic=topic.name,
                memory=memory,
            )


def _ignore(failure: object) -> None:
    # A failed listen is reported by startService and whenListening.
    return None


async def _stopped(service: IService) -> None:
    """
    Stop C{service} and wait for it.
    """
    result: Any = service.stopService()
    if isinstance(result, Deferred):
        await result


#: CPython's collector thresholds while nsqd runs (see L{tuneGarbageCollector}).
GC_THRESHOLDS = (10_000, 20, 100)


def tuneGarbageCollector() -> None:
    """
    Keep CPython's cyclic collector off nsqd's hot path (issue 19).

    Everything alive once nsqd has started (Twisted, txnsq, their modules,
    about 300,000 objects) lives as long as the process: C{gc.freeze()}
    moves it out of the collector's reach, so a full collection scans only
    what came later.  Messages are freed by reference counting; what the
    collector finds is the rare cycle, so the young generations are
    collected less often and a full collection waits for 100 of the middle
    one (and, as always, for the long-lived objects to have grown by a
    quarter): publishing 200,000 messages into five channels ran 1.5-2x
    faster.  PyPy's collector is another design, and is left alone.
    """
    if platform.python_implementation() != "CPython":
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
