# -*- test-case-name: tests.nsqlookupd.test_service -*-
"""
nsqlookupd as a Twisted service: the registry, the TCP listener for nsqds
and the HTTP API.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort, IReactorTime

from txnsq._endpoints import listeningService
from txnsq._http import GoSite
from txnsq._logging import Logger, setLogLevel
from txnsq.nsqlookupd.config import LookupdConfig
from txnsq.nsqlookupd.http import LookupdHTTPAPI
from txnsq.nsqlookupd.options import versionString
from txnsq.nsqlookupd.protocol import LOG_NAMESPACE, LookupdFactory
from txnsq.nsqlookupd.registry import RegistrationDB

__all__ = ["NSQLookupdService"]


class NSQLookupdService(MultiService):
    """
    One nsqlookupd: a L{RegistrationDB}, a L{LookupdFactory} on
    C{--tcp-address} and the L{LookupdHTTPAPI} on C{--http-address}.

    Port 0 works for both addresses: L{whenTCPListening} and
    L{whenHTTPListening} give the bound ports, and the IDENTIFY reply
    carries them.  Stopping closes both listeners and every nsqd
    connection, as Go's C{NSQLookupd.Exit} does.

    @ivar config: the options.
    @ivar registry: the registrations.
    @ivar factory: the TCP protocol factory.
    @ivar api: the HTTP API.
    @ivar tcpService: the TCP listener.
    @ivar httpService: the HTTP listener.
    """

    _log = Logger(namespace=LOG_NAMESPACE)

    def __init__(self, config: LookupdConfig, reactor: IReactorTime) -> None:
        """
        @param reactor: the reactor to listen with (it must also provide
            C{IReactorTCP}) and the clock for expiry and tombstones.
        """
        super().__init__()  # type: ignore[no-untyped-call]
        self.config = config
        setLogLevel(LOG_NAMESPACE, config.log_level)
        self.registry = RegistrationDB(
            config.inactive_producer_timeout, config.tombstone_lifetime
        )
        self.factory = LookupdFactory(self.registry, reactor, config.broadcast_address)
        self.api = LookupdHTTPAPI(self.registry, reactor)
        self._announced = False

        self.tcpService = listeningService(
            reactor, config.tcp_address, self.factory, "TCP", LOG_NAMESPACE
        )
        self.tcpService.setServiceParent(self)  # type: ignore[no-untyped-call]
        site = GoSite(self.api.resource())
        site.noisy = False
        self.httpService = listeningService(
            reactor, config.http_address, site, "HTTP", LOG_NAMESPACE
        )
        self.httpService.setServiceParent(self)  # type: ignore[no-untyped-call]

    def _tcpListening(self, port: IListeningPort) -> IListeningPort:
        self.factory.tcpPort = port.getHost().port  # type: ignore[attr-defined]
        return port

    def _httpListening(self, port: IListeningPort) -> IListeningPort:
        self.factory.httpPort = port.getHost().port  # type: ignore[attr-defined]
        return port

    def _trackPorts(self) -> None:
        # The IDENTIFY reply carries the bound ports (port 0 included).
        self.tcpService.whenListening().addCallbacks(self._tcpListening, _ignore)
        self.httpService.whenListening().addCallbacks(self._httpListening, _ignore)

    def _announce(self) -> None:
        if not self._announced:
            self._announced = True
            self._log.info("{version}", version=versionString())

    def privilegedStartService(self) -> None:
        """
        Listen (before twistd drops privileges).
        """
        self._announce()
        super().privilegedStartService()  # type: ignore[no-untyped-call]
        self._trackPorts()

    def startService(self) -> None:
        """
        Listen, unless already listening.
        """
        self._announce()
        super().startService()  # type: ignore[no-untyped-call]
        self._trackPorts()

    def whenTCPListening(self) -> Deferred[IListeningPort]:
        """
        The bound TCP port, once listening.
        """
        return self.tcpService.whenListening()

    def whenHTTPListening(self) -> Deferred[IListeningPort]:
        """
        The bound HTTP port, once listening.
        """
        return self.httpService.whenListening()

    def stopService(self) -> Deferred[None]:
        """
        Stop listening and close every nsqd connection.
        """
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        Service.stopService(self)
        stopping: Any = self.tcpService.stopService()
        self.factory.disconnectAll()
        httpStopping: Any = self.httpService.stopService()
        for result in (stopping, httpStopping):
            if isinstance(result, Deferred):
                await result


def _ignore(failure: Any) -> None:
    # A failed listen is reported by startService and whenListening.
    return None
