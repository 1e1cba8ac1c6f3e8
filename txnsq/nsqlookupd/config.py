# -*- test-case-name: tests.nsqlookupd.test_config,tests.nsqlookupd.test_options -*-
"""
nsqlookupd's settings, as plain values with Go nsqlookupd 1.3.0's defaults.

Fields are named after Go's flags with C{-} replaced by C{_}.  Durations are
held in seconds (floats), the unit Twisted's clocks use.  No Twisted here.
"""

from __future__ import annotations

import socket

import attrs


@attrs.define
class LookupdConfig:
    """
    Every nsqlookupd option.

    @ivar tcp_address: C{--tcp-address}, where nsqds connect.
    @ivar http_address: C{--http-address}, the HTTP API.
    @ivar broadcast_address: C{--broadcast-address}, returned to nsqds in
        the IDENTIFY reply (the OS hostname by default).
    @ivar inactive_producer_timeout: C{--inactive-producer-timeout}: an nsqd
        not heard from for this long is hidden from C{/lookup} and C{/nodes}.
    @ivar tombstone_lifetime: C{--tombstone-lifetime}: how long
        C{/topic/tombstone} hides a producer from C{/lookup}.
    @ivar log_level: C{--log-level} (debug, info, warn, error, fatal).
    @ivar log_prefix: C{--log-prefix}.
    """

    tcp_address: str = "0.0.0.0:4160"
    http_address: str = "0.0.0.0:4161"
    broadcast_address: str = attrs.field(factory=socket.gethostname)
    inactive_producer_timeout: float = 300.0
    tombstone_lifetime: float = 45.0
    log_level: str = "info"
    log_prefix: str = "[nsqlookupd] "
