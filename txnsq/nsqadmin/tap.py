# -*- test-case-name: tests.test_plugins -*-
"""
The C{twistd nsqadmin} plugin's options and service.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService

from txnsq._endpoints import ListenError
from txnsq._go.exit import exitZeroAfterGracefulStop, oneLineFatalUnderTwistd
from txnsq._logging import Logger
from txnsq.nsqadmin.options import Options
from txnsq.nsqadmin.service import NSQAdminService

__all__ = ["Options", "makeService"]


def makeService(options: Options, reactor: Any = None) -> IService:
    """
    Build the nsqadmin service from parsed options.

    @param reactor: the reactor to run on; the global reactor, imported
        only now (after twistd has installed the one chosen with C{-r}), if
        omitted.
    """
    if reactor is None:
        from twisted.internet import reactor

        # Only for a real twistd run: tests pass their own reactor.
        oneLineFatalUnderTwistd(
            "nsqadmin", Logger(namespace="txnsq.nsqadmin").critical, (ListenError,)
        )
    exitZeroAfterGracefulStop(reactor)
    return NSQAdminService(options.config, reactor)
