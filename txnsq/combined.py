# -*- test-case-name: tests.test_combined -*-
"""
The C{nsq} daemon: nsqlookupd, nsqd and nsqadmin in one process (C{twistd
nsq}, C{txnsq nsq}).

Flags are nsqd's, unchanged, plus nsqlookupd's; the nsqlookupd flags whose
names nsqd also uses are prefixed C{nsqlookupd-} (C{--nsqlookupd-tcp-address},
C{--nsqlookupd-http-address}, C{--nsqlookupd-broadcast-address},
C{--nsqlookupd-log-level}, C{--nsqlookupd-log-prefix}).  The prefix is
C{nsqlookupd-} rather than C{lookupd-} because nsqd already has
C{--lookupd-tcp-address} (the lookupds it registers with).  In the C{--config}
file nsqd's keys stay at the top level and nsqlookupd's go in an
C{[nsqlookupd]} table, with their own names (so that table is a valid
nsqlookupd config file).

nsqadmin's flags are all prefixed C{nsqadmin-} (C{--nsqadmin-http-address},
default C{0.0.0.0:4171} as Go's; empty turns nsqadmin off) and its config
keys go in an C{[nsqadmin]} table.  Without C{--nsqadmin-lookupd-http-address}
or C{--nsqadmin-nsqd-http-address} nsqadmin reads the co-located nsqlookupd's
HTTP API (or, if that is off, nsqd's), on whatever port it bound.

C{--nsqlookupd-log-level} and C{--nsqadmin-log-level} default to
C{--log-level}, so one flag quiets the whole process.

Without C{--lookupd-tcp-address}, nsqd registers with the co-located
nsqlookupd (on the port it bound, when that is 0).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs
from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort
from twisted.python.usage import UsageError

from txnsq._endpoints import ListenError, splitHostPort
from txnsq._go.exit import (
    exitOneIfStopFailed,
    exitZeroAfterGracefulStop,
    oneLineFatalUnderTwistd,
)
from txnsq._go.flags import FlagTable, GoFlagOptions
from txnsq._logging import Logger, filterTwistdLogging
from txnsq.nsqadmin import options as adminOptions
from txnsq.nsqadmin.config import AdminConfig
from txnsq.nsqadmin.service import NSQAdminService
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

_ADMIN_DROPPED = ("config", "version", "verbose")

ADMIN_FLAGS = adminOptions.ADMIN_FLAGS.renamed(
    {
        flag.name: "nsqadmin-" + flag.name
        for flag in adminOptions.ADMIN_FLAGS.flags
        if flag.name not in _ADMIN_DROPPED
    },
    section="nsqadmin",
    drop=_ADMIN_DROPPED,
)
"""nsqadmin's flags as the combined daemon names them (all prefixed)."""

COMBINED_FLAGS: FlagTable = nsqdOptions.NSQD_FLAGS.merged(
    "nsq",
    LOOKUPD_FLAGS,
).merged(
    "nsq",
    ADMIN_FLAGS,
    version="\n".join(
        [
            nsqdOptions.versionString(),
            lookupdOptions.versionString(),
            adminOptions.versionString(),
        ]
    ),
)
"""Every flag of the combined daemon."""


@attrs.frozen
class CombinedConfig:
    """
    The daemons' configs.

    @ivar nsqadmin: L{None} when C{--nsqadmin-http-address} is empty.
    """

    nsqd: NSQDConfig
    nsqlookupd: LookupdConfig
    nsqadmin: AdminConfig | None = None


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
    return _connectAddress(host, port)


def _connectAddress(host: str, port: str | int) -> str:
    # A wildcard host becomes loopback; IPv6 hosts are bracketed.
    if host in ("", "0.0.0.0"):
        return f"127.0.0.1:{port}"
    if host == "::":
        return f"[::1]:{port}"
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def _followLogLevel(
    values: Mapping[str, object], table: FlagTable, name: str
) -> Mapping[str, object]:
    # One process, one --log-level: a co-located daemon follows nsqd's
    # unless given its own (an explicit level equal to the default is
    # indistinguishable here, and follows too).
    level = values.get("log-level")
    default = table[name].default
    if values.get(name) == default and level != default:
        return {**values, name: level}
    return values


def configure(values: Mapping[str, object]) -> CombinedConfig:
    """
    Build the daemons' configs from resolved flag values.

    @raise nsqdOptions.InvalidOptions: see L{nsqdOptions.validate}.
    @raise ValueError: nsqadmin's options are invalid (Go's messages,
        with the combined names of the flags where they differ).
    """
    values = _followLogLevel(values, LOOKUPD_FLAGS, "nsqlookupd-log-level")
    values = _followLogLevel(values, ADMIN_FLAGS, "nsqadmin-log-level")
    nsqlookupd = lookupdOptions.configure(values, LOOKUPD_FLAGS)
    nsqd = nsqdOptions.configure(values, nsqdOptions.NSQD_FLAGS)
    if not nsqd.nsqlookupd_tcp_addresses:
        address = colocatedAddress(nsqlookupd.tcp_address)
        if address is not None:
            nsqd.nsqlookupd_tcp_addresses = [address]
    nsqadmin = None
    if values.get("nsqadmin-http-address"):
        try:
            nsqadmin = adminOptions.configure(values, ADMIN_FLAGS, colocated=True)
        except ValueError as e:
            raise ValueError(_prefixed(str(e))) from None
        if (
            not nsqadmin.lookupd_http_addresses
            and not nsqadmin.nsqd_http_addresses
            and not nsqlookupd.http_address
            and not nsqd.http_address
        ):
            raise ValueError(
                "nsqadmin needs an HTTP API to read: give --nsqlookupd-http-address "
                "or --http-address, or --nsqadmin-lookupd-http-address, or turn "
                "nsqadmin off with --nsqadmin-http-address="
            )
    return CombinedConfig(nsqd=nsqd, nsqlookupd=nsqlookupd, nsqadmin=nsqadmin)


def _prefixed(message: str) -> str:
    # nsqadmin's messages name its flags as this command spells them.
    def rename(match: re.Match[str]) -> str:
        name = "nsqadmin-" + match.group(1)
        return "--" + name if name in ADMIN_FLAGS else match.group(0)

    return re.sub(r"--([a-z][a-z-]*[a-z])", rename, message)


class Options(GoFlagOptions):
    """
    C{twistd nsq} options: nsqd's flags, nsqlookupd's and nsqadmin's (see
    the module docstring for the names).

    @ivar config: the daemons' configs, set after parsing.
    """

    synopsis = "[nsq options]"
    longdesc = (
        "Run nsqlookupd, nsqd and nsqadmin (compatible with Go NSQ 1.3.0) in "
        "one process.  nsqlookupd's flags that nsqd also has are prefixed "
        "--nsqlookupd-; nsqadmin's are all prefixed --nsqadmin- "
        "(--nsqadmin-http-address= turns it off)."
    )
    flagTable = COMBINED_FLAGS
    config: CombinedConfig

    def postOptions(self) -> None:
        """
        Resolve the flags and build the configs.

        @raise UsageError: for a bad config file or invalid options.
        """
        super().postOptions()
        try:
            self.config = configure(self.flagValues)
        except ValueError as e:
            raise UsageError(str(e)) from None
        filterTwistdLogging(self)


class CombinedService(MultiService):
    """
    nsqlookupd, nsqd and (optionally) nsqadmin in one service.  They start
    in that order and stop in the reverse one, nsqd completely (clients
    closed, messages flushed) before nsqlookupd, so nsqd's last
    unregistrations can still reach it.  L{MultiService} would stop them
    all at once, hence L{stopService}.

    @ivar nsqlookupd: the nsqlookupd service.
    @ivar nsqd: the nsqd service.
    @ivar nsqadmin: the nsqadmin service, or L{None}.
    """

    def __init__(
        self, nsqlookupd: IService, nsqd: IService, nsqadmin: IService | None = None
    ) -> None:
        """
        @param nsqlookupd: started first, stopped last.
        @param nsqd: started second, stopped (completely) before
            nsqlookupd.
        @param nsqadmin: started last, stopped first.
        """
        super().__init__()  # type: ignore[no-untyped-call]
        self.nsqlookupd = nsqlookupd
        self.nsqd = nsqd
        self.nsqadmin = nsqadmin
        for child in (nsqlookupd, nsqd, nsqadmin):
            if child is not None:
                child.setServiceParent(self)

    def stopService(self) -> Deferred[None]:
        """
        Stop nsqadmin, nsqd, then nsqlookupd.
        """
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        Service.stopService(self)
        for child in (self.nsqadmin, self.nsqd, self.nsqlookupd):
            if child is None:
                continue
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
        # The process is this service: tune the collector as twistd nsqd does.
        nsqd.tuneGC = True
    return service


def _boundAddress(configured: str, port: IListeningPort) -> str | None:
    # The address to reach a listener on: the configured host (a wildcard
    # becomes loopback) with the port actually bound (port 0 resolved).
    try:
        host, _ = splitHostPort(configured)
    except ValueError:
        return None
    return _connectAddress(host, port.getHost().port)  # type: ignore[attr-defined]


def _pointAdminAtColocated(
    admin: NSQAdminService, config: CombinedConfig, lookupd: Any, nsqd: Any
) -> None:
    """
    Without addresses of its own, nsqadmin reads the co-located
    nsqlookupd's HTTP API (nsqd's when nsqlookupd serves none) once it
    listens: its port may be 0 until then.
    """
    if admin.config.lookupd_http_addresses or admin.config.nsqd_http_addresses:
        return
    if config.nsqlookupd.http_address:
        configured, listening, kind = (
            config.nsqlookupd.http_address,
            lookupd.whenHTTPListening(),
            "lookupd",
        )
    else:
        configured, listening, kind = (
            config.nsqd.http_address,
            nsqd.whenHTTPListening(),
            "nsqd",
        )

    def listened(port: IListeningPort) -> None:
        address = _boundAddress(configured, port)
        if address is None:
            return
        # The config is the API's too: the UI shows the addresses read.
        if kind == "lookupd":
            admin.config.lookupd_http_addresses = [address]
            admin.cluster.lookupds = [address]
        else:
            admin.config.nsqd_http_addresses = [address]
            admin.cluster.nsqds = [address]

    # A failed listen stops the whole process; nothing to add here.
    listening.addCallbacks(listened, lambda failure: None)


def _registerWithColocated(config: CombinedConfig, lookupd: Any, nsqd: Any) -> None:
    """
    nsqd registers with the co-located nsqlookupd once it listens, when
    its TCP port is 0 (a fixed one was put in nsqd's config already, see
    L{configure}) and nsqd was given no nsqlookupd of its own.
    """
    if config.nsqd.nsqlookupd_tcp_addresses:
        return
    configured = config.nsqlookupd.tcp_address

    def listened(port: IListeningPort) -> None:
        address = _boundAddress(configured, port)
        if address is not None and not config.nsqd.nsqlookupd_tcp_addresses:
            nsqd.lookupPeers.setAddresses([address])

    lookupd.whenTCPListening().addCallbacks(listened, lambda failure: None)


def combinedService(config: CombinedConfig, reactor: Any) -> CombinedService:
    """
    The combined service for a config.

    @param reactor: the reactor to listen with and the clock.
    """
    lookupd = NSQLookupdService(config.nsqlookupd, reactor)
    nsqd = nsqdService(config.nsqd, reactor)
    _registerWithColocated(config, lookupd, nsqd)
    admin = None
    if config.nsqadmin is not None:
        admin = NSQAdminService(config.nsqadmin, reactor)
        _pointAdminAtColocated(admin, config, lookupd, nsqd)
    return CombinedService(lookupd, nsqd, admin)
