# -*- test-case-name: tests.nsqadmin.test_integration -*-
"""
nsqadmin as a Twisted service: the JSON API on C{--http-address}.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort, IReactorTime

from txnsq._endpoints import listeningService
from txnsq._http import GoSite
from txnsq._logging import Logger, setLogLevel
from txnsq.nsqadmin._tls import clientTLSPolicy
from txnsq.nsqadmin.cluster import Cluster
from txnsq.nsqadmin.config import AdminConfig
from txnsq.nsqadmin.http import LOG_NAMESPACE, AdminHTTPAPI
from txnsq.nsqadmin.options import versionString

__all__ = ["NSQAdminService"]


class NSQAdminService(MultiService):
    """
    One nsqadmin: a L{Cluster} client and the L{AdminHTTPAPI} on
    C{--http-address} (port 0 works: see L{whenHTTPListening}).

    @ivar config: the options.
    @ivar cluster: the cluster client.
    @ivar api: the HTTP API.
    @ivar httpService: the HTTP listener.
    """

    _log = Logger(namespace=LOG_NAMESPACE)

    def __init__(self, config: AdminConfig, reactor: IReactorTime) -> None:
        """
        @param reactor: the reactor to listen and connect with.
        """
        super().__init__()  # type: ignore[no-untyped-call]
        self.config = config
        setLogLevel(LOG_NAMESPACE, config.log_level)
        self.cluster = Cluster(
            reactor,
            config.lookupd_http_addresses,
            config.nsqd_http_addresses,
            config.http_client_connect_timeout,
            config.http_client_request_timeout,
            clientTLSPolicy(config),
        )
        self.api = AdminHTTPAPI(config, self.cluster)
        self._announced = False
        site = GoSite(self.api.resource(), reactor)
        self.httpService = listeningService(
            reactor, config.http_address, site, "HTTP", LOG_NAMESPACE
        )
        self.httpService.setServiceParent(self)  # type: ignore[no-untyped-call]

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

    def startService(self) -> None:
        """
        Listen, unless already listening.
        """
        self._announce()
        super().startService()  # type: ignore[no-untyped-call]

    def whenHTTPListening(self) -> Deferred[IListeningPort]:
        """
        The bound HTTP port, once listening.
        """
        return self.httpService.whenListening()

    def stopService(self) -> Deferred[None]:
        """
        Stop listening and close the connections to the cluster.
        """
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        Service.stopService(self)
        stopping: Any = self.httpService.stopService()
        if isinstance(stopping, Deferred):
            await stopping
        await self.cluster.close()
