# -*- test-case-name: tests.test_combined -*-
"""
The C{nsq} daemon: nsqlookupd and nsqd in one process (C{twistd nsq},
C{txnsq nsq}).

Flags are nsqd's, unchanged, plus nsqlookupd's; the nsqlookupd flags whose
names nsqd also uses are prefixed C{nsqlookupd-} (C{--nsqlookupd-tcp-address},
C{--nsqlookupd-http-address}, C{--nsqlookupd-broadcast-address},
C{--nsqlookupd-log-level}, C{--nsqlookupd-log-prefix}).  The prefix is
C{nsqlookupd-} rather than C{lookupd-} because nsqd already has
C{--lookupd-tcp-address} (the lookupds it registers with).  In the C{--config}
file nsqd's keys stay at the top level and nsqlookupd's go in an
C{[nsqlookupd]} table, with their own names (so that table is a valid
nsqlookupd config file).

C{--nsqlookupd-log-level} defaults to C{--log-level}, so one flag quiets
the whole process.

Without C{--lookupd-tcp-address}, nsqd registers with the co-located
nsqlookupd (when its TCP port is fixed, not 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred
from twisted.python.usage import UsageError

from txnsq._endpoints import ListenError, splitHostPort
from txnsq._go.exit import (
    exitOneIfStopFailed,
    exitZeroAfterGracefulStop,
    oneLineFatalUnderTwistd,
)
from txnsq._go.flags import FlagTable, GoFlagOptions
from txnsq._logging import Logger, filterTwistdLogging
from txnsq.nsqd import options as nsqdOptions
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.tap import nsqdService
from txnsq.nsqlookupd import options as lookupdOptions
from txnsq.nsqlookupd.config import LookupdConfig
from txnsq.nsqlookupd.service import NSQLookupdService

__all__ = [
    "COMBINED_FLAGS",
    "CombinedConfig",
    "CombinedService",
    "Options",
    "colocatedAddress",
    "combinedService",
    "configure",
    "makeService",
]

_RENAMED = (
    "log-level",
    "log-prefix",
    "tcp-address",
    "http-address",
    "broadcast-address",
)

LOOKUPD_FLAGS = lookupdOptions.LOOKUPD_FLAGS.renamed(
    {name: "nsqlookupd-" + name for name in _RENAMED},
    section="nsqlookupd",
    drop=("config", "version", "verbose"),
)
"""nsqlookupd's flags as the combined daemon names them."""

COMBINED_FLAGS: FlagTable = nsqdOptions.NSQD_FLAGS.merged(
    "nsq",
    LOOKUPD_FLAGS,
    version=nsqdOptions.versionString() + "\n" + lookupdOptions.versionString(),
)
"""Every flag of the combined daemon."""


@attrs.frozen
class CombinedConfig:
    """
    The two daemons' configs.
    """

    nsqd: NSQDConfig
    nsqlookupd: LookupdConfig


def colocatedAddress(listenAddress: str) -> str | None:
    """
    The address nsqd connects to for an nsqlookupd listening on
    C{listenAddress}: a wildcard host becomes loopback.

    @return: L{None} when it cannot be known before listening (port 0, or
        a unix socket).
    """
    try:
        host, port = splitHostPort(listenAddress)
    except ValueError:
        return None
    if port in ("", "0"):
        return None
    if host in ("", "0.0.0.0"):
        return f"127.0.0.1:{port}"
    if host == "::":
        return f"[::1]:{port}"
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def configure(values: Mapping[str, object]) -> CombinedConfig:
    """
    Build both configs from resolved flag values.

    @raise nsqdOptions.InvalidOptions: see L{nsqdOptions.validate}.
    """
    level = values.get("log-level")
    lookupdDefault = LOOKUPD_FLAGS["nsqlookupd-log-level"].default
    if values.get("nsqlookupd-log-level") == lookupdDefault and level != lookupdDefault:
        # One process, one --log-level: nsqlookupd follows nsqd's unless
        # given its own (an explicit --nsqlookupd-log-level equal to the
        # default is indistinguishable here, and follows too).
        values = {**values, "nsqlookupd-log-level": level}
    nsqlookupd = lookupdOptions.configure(values, LOOKUPD_FLAGS)
    nsqd = nsqdOptions.configure(values, nsqdOptions.NSQD_FLAGS)
    if not nsqd.nsqlookupd_tcp_addresses:
        address = colocatedAddress(nsqlookupd.tcp_address)
        if address is not None:
            nsqd.nsqlookupd_tcp_addresses = [address]
    return CombinedConfig(nsqd=nsqd, nsqlookupd=nsqlookupd)


class Options(GoFlagOptions):
    """
    C{twistd nsq} options: nsqd's flags and nsqlookupd's (see the module
    docstring for the names).

    @ivar config: both configs, set after parsing.
    """

    synopsis = "[nsq options]"
    longdesc = (
        "Run nsqlookupd and nsqd (compatible with Go NSQ 1.3.0) in one "
        "process.  nsqlookupd's flags that nsqd also has are prefixed "
        "--nsqlookupd-."
    )
    flagTable = COMBINED_FLAGS
    config: CombinedConfig

    def postOptions(self) -> None:
        """
        Resolve the flags and build both configs.

        @raise UsageError: for a bad config file or invalid options.
        """
        super().postOptions()
        try:
            self.config = configure(self.flagValues)
        except nsqdOptions.InvalidOptions as e:
            raise UsageError(str(e))
        filterTwistdLogging(self)


class CombinedService(MultiService):
    """
    nsqlookupd and nsqd in one service.  They start in that order and stop
    in the reverse one, nsqd completely (clients closed, messages flushed)
    before nsqlookupd, so nsqd's last unregistrations can still reach it.
    L{MultiService} would stop both at once, hence L{stopService}.

    @ivar nsqlookupd: the nsqlookupd service.
    @ivar nsqd: the nsqd service.
    """

    def __init__(self, nsqlookupd: IService, nsqd: IService) -> None:
        """
        @param nsqlookupd: started first, stopped last.
        @param nsqd: started second, stopped (completely) first.
        """
        super().__init__()  # type: ignore[no-untyped-call]
        self.nsqlookupd = nsqlookupd
        self.nsqd = nsqd
        nsqlookupd.setServiceParent(self)
        nsqd.setServiceParent(self)

    def stopService(self) -> Deferred[None]:
        """
        Stop nsqd, then nsqlookupd.
        """
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        Service.stopService(self)
        for child in (self.nsqd, self.nsqlookupd):
            result: Any = child.stopService()
            if isinstance(result, Deferred):
                await result


def makeService(options: Options, reactor: Any = None) -> IService:
    """
    Build the combined service from parsed options.

    @param reactor: the reactor to run on; the global reactor, imported
        only now, if omitted.
    """
    underTwistd = reactor is None
    if reactor is None:
        from twisted.internet import reactor

        # Only for a real twistd run: tests pass their own reactor.
        oneLineFatalUnderTwistd(
            "nsq", Logger(namespace="txnsq.nsqd").critical, (ListenError,)
        )
    exitZeroAfterGracefulStop(reactor)
    service = combinedService(options.config, reactor)
    if underTwistd:
        nsqd: Any = service.nsqd
        exitOneIfStopFailed(reactor, lambda: nsqd.persistence.closeFailed)
    return service


def combinedService(config: CombinedConfig, reactor: Any) -> CombinedService:
    """
    The combined service for a config.

    @param reactor: the reactor to listen with and the clock.
    """
    return CombinedService(
        NSQLookupdService(config.nsqlookupd, reactor),
        nsqdService(config.nsqd, reactor),
    )
