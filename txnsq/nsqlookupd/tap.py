# -*- test-case-name: tests.test_plugins -*-
"""
The C{twistd nsqlookupd} plugin's options and service.

The service (and with it the reactor's TCP support) is imported in
L{makeService}, after the process has done without TLS, which nsqlookupd
never uses (L{txnsq._tlsimport}).
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService

from txnsq._go.exit import exitZeroAfterGracefulStop, oneLineFatalUnderTwistd
from txnsq._logging import Logger
from txnsq._tlsimport import withoutTLS
from txnsq.nsqlookupd.options import Options

__all__ = ["Options", "makeService"]


def makeService(options: Options, reactor: Any = None) -> IService:
    """
    Build the nsqlookupd service from parsed options.

    @param reactor: the reactor to run on; the global reactor, imported
        only now (after twistd has installed the one chosen with C{-r}), if
        omitted.
    """
    if reactor is None:
        # Before the reactor's first import: see txnsq._tlsimport.
        withoutTLS()
        from twisted.internet import reactor

        from txnsq._endpoints import ListenError

        # Only for a real twistd run: tests pass their own reactor.
        oneLineFatalUnderTwistd(
            "nsqlookupd", Logger(namespace="txnsq.nsqlookupd").critical, (ListenError,)
        )
    from txnsq.nsqlookupd.service import NSQLookupdService

    exitZeroAfterGracefulStop(reactor)
    return NSQLookupdService(options.config, reactor)
