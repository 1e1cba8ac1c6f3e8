# -*- test-case-name: tests.test_plugins -*-
"""
The C{twistd nsqlookupd} plugin's options and service.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService

from txnsq._endpoints import ListenError
from txnsq._go.exit import exitZeroAfterGracefulStop, oneLineFatalUnderTwistd
from txnsq._logging import Logger
from txnsq.nsqlookupd.options import Options
from txnsq.nsqlookupd.service import NSQLookupdService

__all__ = ["Options", "makeService"]


def makeService(options: Options, reactor: Any = None) -> IService:
    """
    Build the nsqlookupd service from parsed options.

    @param reactor: the reactor to run on; the global reactor, imported
        only now (after twistd has installed the one chosen with C{-r}), if
        omitted.
    """
    if reactor is None:
        from twisted.internet import reactor

        # Only for a real twistd run: tests pass their own reactor.
        oneLineFatalUnderTwistd(
            "nsqlookupd", Logger(namespace="txnsq.nsqlookupd").critical, (ListenError,)
        )
    exitZeroAfterGracefulStop(reactor)
    return NSQLookupdService(options.config, reactor)
