# -*- test-case-name: tests.test_plugins -*-
"""
The C{twistd nsqd} plugin's options and service.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService

from txnsq._go.exit import exitZeroAfterGracefulStop
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.http import httpResource
from txnsq.nsqd.options import Options
from txnsq.nsqd.service import NSQDService

__all__ = ["Options", "makeService", "nsqdService"]


def nsqdService(config: NSQDConfig, reactor: Any) -> NSQDService:
    """
    The nsqd service for a config: the one place C{twistd nsqd},
    C{twistd nsq} and the C{txnsq} command build nsqd, so what every nsqd
    has (the HTTP API's resource factory, once it exists) is added here.

    @param reactor: the reactor to listen with and the clock.
    """
    return NSQDService(config, reactor, httpResourceFactory=httpResource)


def makeService(options: Options, reactor: Any = None) -> IService:
    """
    Build the nsqd service from parsed options.

    @param reactor: the reactor to run on; the global reactor, imported
        only now (after twistd has installed the one chosen with C{-r}), if
        omitted.
    """
    if reactor is None:
        from twisted.internet import reactor
    exitZeroAfterGracefulStop(reactor)
    return nsqdService(options.config, reactor)
