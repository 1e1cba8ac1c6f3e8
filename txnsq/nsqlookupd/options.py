# -*- test-case-name: tests.nsqlookupd.test_options -*-
"""
nsqlookupd's command-line flags: one table (Go nsqlookupd 1.3.0's flags,
names, defaults and help texts) read by both the C{txnsq nsqlookupd}
command line and C{twistd nsqlookupd}.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from txnsq._go.flags import (
    DURATION,
    STRING,
    Flag,
    FlagTable,
    GoFlagOptions,
    daemonFlags,
    daemonVersion,
)
from txnsq._logging import filterTwistdLogging
from txnsq.nsqlookupd.config import LookupdConfig

__all__ = ["LOOKUPD_FLAGS", "Options", "configure", "versionString"]


def versionString(program: str = "nsqlookupd") -> str:
    """
    What C{--version} prints (see L{daemonVersion}).
    """
    return daemonVersion(program)


def _flags() -> list[Flag]:
    # Go's declaration order (apps/nsqlookupd/main.go); usage sorts by name.
    return [
        *daemonFlags(),
        Flag(
            "tcp-address",
            STRING,
            "<addr>:<port> to listen on for TCP clients",
            "tcp_address",
        ),
        Flag(
            "http-address",
            STRING,
            "<addr>:<port> to listen on for HTTP clients",
            "http_address",
        ),
        Flag(
            "broadcast-address",
            STRING,
            "address of this lookupd node, (default to the OS hostname)",
            "broadcast_address",
        ),
        Flag(
            "inactive-producer-timeout",
            DURATION,
            "duration of time a producer will remain in the active list since "
            "its last ping",
            "inactive_producer_timeout",
        ),
        Flag(
            "tombstone-lifetime",
            DURATION,
            "duration of time a producer will remain tombstoned if registration "
            "remains",
            "tombstone_lifetime",
        ),
    ]


LOOKUPD_FLAGS = FlagTable(
    "nsqlookupd", _flags(), defaults=LookupdConfig(), version=versionString()
)
"""Every nsqlookupd flag; defaults come from L{LookupdConfig}."""


def configure(
    values: Mapping[str, object], table: FlagTable = LOOKUPD_FLAGS
) -> LookupdConfig:
    """
    Build a L{LookupdConfig} from resolved flag values (see
    L{FlagTable.resolve}).  nsqlookupd has nothing to cross-check.

    @param table: the table C{values} was resolved with; the combined
        daemon passes its own names for the same attributes.
    """
    kwargs: dict[str, Any] = {
        flag.attribute: values[flag.name]
        for flag in table.flags
        if flag.attribute is not None
    }
    return LookupdConfig(**kwargs)


class Options(GoFlagOptions):
    """
    C{twistd nsqlookupd} options: every Go nsqlookupd flag, with Go's names
    and defaults.

    @ivar config: the config, set after parsing.
    """

    synopsis = "[nsqlookupd options]"
    longdesc = (
        "Run an nsqlookupd compatible with Go NSQ 1.3.0.  Flags are Go "
        "nsqlookupd's; durations use Go syntax (5m, 45s)."
    )
    flagTable = LOOKUPD_FLAGS
    config: LookupdConfig

    def postOptions(self) -> None:
        """
        Resolve the flags and build the L{LookupdConfig}.

        @raise usage.UsageError: for a bad config file.
        """
        super().postOptions()
        self.config = configure(self.flagValues)
        filterTwistdLogging(self)
