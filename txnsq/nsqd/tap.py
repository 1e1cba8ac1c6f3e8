# -*- test-case-name: tests.test_plugins -*-
"""
The C{twistd nsqd} plugin's options and service, and the one place nsqd's
parts are wired together: the service and its HTTP API, which know nothing
of each other.

The service and the HTTP API (and with them the reactor's TCP support) are
imported when a service is made, not with this module: twistd imports it
to parse the options, and L{makeService} first decides whether the process
needs TLS (L{txnsq._tlsimport}).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.application.service import IService

from txnsq._go.exit import (
    exitOneIfStopFailed,
    exitZeroAfterGracefulStop,
    oneLineFatalUnderTwistd,
)
from txnsq._logging import Logger
from txnsq._tlsimport import withoutTLS
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.options import Options, usesTLS

if TYPE_CHECKING:
    from txnsq.nsqd.http import NSQDHTTPAPI
    from txnsq.nsqd.service import NSQDService

__all__ = ["Options", "httpAPI", "makeService", "nsqdService"]


def httpAPI(service: NSQDService) -> NSQDHTTPAPI:
    """
    The HTTP API of an nsqd service: its broker, config, health, GC pauses
    and TCP connections, its bound TCP and HTTPS ports, and its lookupd
    peers and log level for C{PUT /config/:opt}.
    """
    from txnsq.nsqd.http import NSQDHTTPAPI

    return NSQDHTTPAPI(
        service.broker,
        service.config,
        service.factory.connections,
        service.clock,
        health=service.health,
        gcPauses=service.gcPauses,
        tcpPort=lambda: service.boundTCPPort,
        httpsPort=lambda: service.boundHTTPSPort,
        onLookupdAddresses=service.lookupPeers.setAddresses,
        onLogLevel=service.logLevelChanged,
    )


def nsqdService(config: NSQDConfig, reactor: Any) -> NSQDService:
    """
    The nsqd service for a config, serving its HTTP API (on HTTP and
    HTTPS): the one place C{twistd nsqd}, C{twistd nsq} and the C{txnsq}
    command build nsqd.

    @param reactor: the reactor to listen with and the clock.
    """
    from txnsq.nsqd.http import NSQDSite
    from txnsq.nsqd.service import NSQDService

    service = NSQDService(config, reactor)
    api = httpAPI(service)
    service.serveHTTP(lambda secure: NSQDSite(api.resource(secure), config, reactor))
    return service


def makeService(options: Options, reactor: Any = None) -> IService:
    """
    Build the nsqd service from parsed options.

    @param reactor: the reactor to run on; the global reactor, imported
        only now (after twistd has installed the one chosen with C{-r}), if
        omitted.
    """
    underTwistd = reactor is None
    if reactor is None:
        if not usesTLS(options.config):
            # Before the reactor's first import: see txnsq._tlsimport.
            withoutTLS()
        from twisted.internet import reactor

        from txnsq._endpoints import ListenError

        # Only for a real twistd run: tests pass their own reactor.
        oneLineFatalUnderTwistd(
            "nsqd", Logger(namespace="txnsq.nsqd").critical, (ListenError,)
        )
    exitZeroAfterGracefulStop(reactor)
    service = nsqdService(options.config, reactor)
    if underTwistd:
        exitOneIfStopFailed(reactor, lambda: service.persistence.closeFailed)
        service.tuneGC = True
    return service
