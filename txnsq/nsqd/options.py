# -*- test-case-name: tests.nsqd.test_options -*-
"""
nsqd's command-line flags: one table (Go nsqd 1.3.0's flags, names,
defaults and help texts) read by both the C{txnsq nsqd} command line and
C{twistd nsqd}.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from twisted.python.usage import UsageError

from txnsq._go.flags import (
    BOOL,
    DURATION,
    FLOAT_LIST,
    INT,
    STRING,
    STRING_LIST,
    Flag,
    FlagTable,
    FlagType,
    FlagValueError,
    GoFlagOptions,
    daemonFlags,
    daemonVersion,
    httpClientTimeoutFlags,
)
from txnsq._go.values import formatFloat, goQuote, parseBool
from txnsq._logging import filterTwistdLogging
from txnsq.nsqd.config import NSQDConfig

__all__ = [
    "AFTER_1_3_0_FIELDS",
    "NSQD_FLAGS",
    "PENDING_CONFIG_FIELDS",
    "TLS_NOT_REQUIRED",
    "TLS_REQUIRED",
    "TLS_REQUIRED_EXCEPT_HTTP",
    "InvalidOptions",
    "Options",
    "configure",
    "nsqdConfigFromFlags",
    "usesTLS",
    "validate",
    "versionString",
]


class InvalidOptions(ValueError):
    """
    The options parsed but cannot be used together; the message is Go's
    (C{--max-deflate-level must be [1,9]}).
    """


def versionString(program: str = "nsqd") -> str:
    """
    What C{--version} prints (see L{daemonVersion}).
    """
    return daemonVersion(program)


# -- nsqd's own flag types -----------------------------------------------------

TLS_NOT_REQUIRED = 0
"""C{--tls-required=false}."""

TLS_REQUIRED_EXCEPT_HTTP = 1
"""C{--tls-required=tcp-https}: TLS for TCP and HTTPS, plain HTTP allowed."""

TLS_REQUIRED = 2
"""C{--tls-required=true}."""


def _parseTLSRequired(text: str) -> int:
    text = text.lower()
    if text == "tcp-https":
        return TLS_REQUIRED_EXCEPT_HTTP
    try:
        return TLS_REQUIRED if parseBool(text) else TLS_NOT_REQUIRED
    except ValueError as e:
        raise FlagValueError(str(e))


def _setTLSRequired(current: object, text: str) -> int:
    return _parseTLSRequired(text)


def _configTLSRequired(value: object) -> int:
    # Go formats the TOML value with %v and parses that text.
    if isinstance(value, bool):
        value = "true" if value else "false"
    return _parseTLSRequired(str(value))


def _showInt(value: object) -> str:
    return str(value)


TLS_REQUIRED_TYPE = FlagType(
    "value",
    _setTLSRequired,
    _configTLSRequired,
    _showInt,
    "0",
    isBool=True,
)
"""C{--tls-required}: a Go boolean flag that also takes C{tcp-https}."""

TLS_VERSIONS = ("tls1.0", "tls1.1", "tls1.2", "tls1.3")
"""The values C{--tls-min-version} accepts."""


def _setTLSMinVersion(current: object, text: str) -> object:
    text = text.lower()
    if text == "":
        # Go leaves the value unchanged for an empty string.
        return current
    if text not in TLS_VERSIONS:
        raise FlagValueError(f"unknown tlsVersionOption {goQuote(text)}")
    return text


def _configTLSMinVersion(value: object) -> str:
    text = str(value).lower()
    if text == "":
        # Go drops an empty value, leaving the default.
        return str(attrs.fields(NSQDConfig).tls_min_version.default)
    if text not in TLS_VERSIONS:
        raise ValueError(f"unknown tlsVersionOption {goQuote(text)}")
    return text


def _showTLSMinVersion(value: object) -> str:
    return str(value)


TLS_MIN_VERSION_TYPE = FlagType(
    "value",
    _setTLSMinVersion,
    _configTLSMinVersion,
    _showTLSMinVersion,
    "0",
)
"""C{--tls-min-version}: C{tls1.0} to C{tls1.3}."""


# -- the table ---------------------------------------------------------------

EXPERIMENTS = ("topology-aware-consumption",)
"""The values C{--enable-experiment} knows."""


def _flags() -> list[Flag]:
    # Go's declaration order (apps/nsqd/options.go); usage sorts by name.
    return [
        *daemonFlags(),
        Flag(
            "node-id",
            INT,
            "unique part for message IDs, (int) in range [0,1024) "
            "(default is hash of hostname)",
            "node_id",
            configKey="id",
        ),
        Flag("worker-id", BOOL, "[deprecated] use --node-id", default=False),
        Flag(
            "https-address",
            STRING,
            "<addr>:<port> to listen on for HTTPS clients",
            "https_address",
        ),
        Flag(
            "http-address",
            STRING,
            "address to listen on for HTTP clients (<addr>:<port> for TCP/IP "
            "or <path> for unix socket)",
            "http_address",
        ),
        Flag(
            "tcp-address",
            STRING,
            "address to listen on for TCP clients (<addr>:<port> for TCP/IP "
            "or <path> for unix socket)",
            "tcp_address",
        ),
        Flag(
            "auth-http-address",
            STRING_LIST,
            "<addr>:<port> or a full url to query auth server "
            "(may be given multiple times)",
            "auth_http_addresses",
            configKey="auth_http_addresses",
        ),
        Flag(
            "auth-http-request-method",
            STRING,
            "HTTP method to use for auth server requests",
            "auth_http_request_method",
        ),
        Flag(
            "broadcast-address",
            STRING,
            "address that will be registered with lookupd "
            "(defaults to the OS hostname)",
            "broadcast_address",
        ),
        Flag(
            "broadcast-tcp-port",
            INT,
            "TCP port that will be registered with lookupd (defaults to the "
            "TCP port that this nsqd is listening on)",
            "broadcast_tcp_port",
        ),
        Flag(
            "broadcast-http-port",
            INT,
            "HTTP port that will be registered with lookupd (defaults to the "
            "HTTP port that this nsqd is listening on)",
            "broadcast_http_port",
        ),
        Flag(
            "lookupd-tcp-address",
            STRING_LIST,
            "lookupd TCP address (may be given multiple times)",
            "nsqlookupd_tcp_addresses",
            configKey="nsqlookupd_tcp_addresses",
        ),
        *httpClientTimeoutFlags(),
        Flag(
            "topology-region",
            STRING,
            "A region represents a larger domain, made up of one or more "
            "zones for preferring closer consumer",
            "topology_region",
            default="",
        ),
        Flag(
            "topology-zone",
            STRING,
            "A zone represents a logical failure domain for preferring closer consumer",
            "topology_zone",
            default="",
        ),
        # diskqueue options
        Flag("data-path", STRING, "path to store disk-backed messages", "data_path"),
        Flag(
            "mem-queue-size",
            INT,
            "number of messages to keep in memory (per topic/channel)",
            "mem_queue_size",
        ),
        Flag(
            "max-bytes-per-file",
            INT,
            "number of bytes per diskqueue file before rolling",
            "max_bytes_per_file",
        ),
        Flag(
            "sync-every",
            INT,
            "number of messages per diskqueue fsync",
            "sync_every",
        ),
        Flag(
            "sync-timeout",
            DURATION,
            "duration of time per diskqueue fsync",
            "sync_timeout",
        ),
        Flag(
            "queue-scan-worker-pool-max",
            INT,
            "max concurrency for checking in-flight and deferred message timeouts",
            "queue_scan_worker_pool_max",
        ),
        Flag(
            "queue-scan-selection-count",
            INT,
            "number of channels to check per cycle (every 100ms) for in-flight "
            "and deferred timeouts",
            "queue_scan_selection_count",
        ),
        # msg and command options
        Flag(
            "msg-timeout",
            DURATION,
            "default duration to wait before auto-requeing a message",
            "msg_timeout",
        ),
        Flag(
            "max-msg-timeout",
            DURATION,
            "maximum duration before a message will timeout",
            "max_msg_timeout",
        ),
        Flag(
            "max-msg-size",
            INT,
            "maximum size of a single message in bytes",
            "max_msg_size",
        ),
        Flag(
            "max-req-timeout",
            DURATION,
            "maximum requeuing timeout for a message",
            "max_req_timeout",
        ),
        Flag(
            "max-body-size",
            INT,
            "maximum size of a single command body",
            "max_body_size",
        ),
        # client overridable configuration options
        Flag(
            "max-heartbeat-interval",
            DURATION,
            "maximum client configurable duration of time between client heartbeats",
            "max_heartbeat_interval",
        ),
        Flag("max-rdy-count", INT, "maximum RDY count for a client", "max_rdy_count"),
        Flag(
            "max-output-buffer-size",
            INT,
            "maximum client configurable size (in bytes) for a client output buffer",
            "max_output_buffer_size",
        ),
        Flag(
            "max-output-buffer-timeout",
            DURATION,
            "maximum client configurable duration of time between flushing to a client",
            "max_output_buffer_timeout",
        ),
        Flag(
            "min-output-buffer-timeout",
            DURATION,
            "minimum client configurable duration of time between flushing to a client",
            "min_output_buffer_timeout",
        ),
        Flag(
            "output-buffer-timeout",
            DURATION,
            "default duration of time between flushing data to clients",
            "output_buffer_timeout",
        ),
        Flag(
            "max-channel-consumers",
            INT,
            "maximum channel consumer connection count per nsqd instance "
            "(default 0, i.e., unlimited)",
            "max_channel_consumers",
        ),
        # statsd integration options
        Flag(
            "statsd-address",
            STRING,
            "UDP <addr>:<port> of a statsd daemon for pushing stats",
            "statsd_address",
        ),
        Flag(
            "statsd-interval",
            DURATION,
            "duration between pushing to statsd",
            "statsd_interval",
        ),
        Flag(
            "statsd-mem-stats",
            BOOL,
            "toggle sending memory and GC stats to statsd",
            "statsd_mem_stats",
        ),
        Flag(
            "statsd-prefix",
            STRING,
            "prefix used for keys sent to statsd (%s for host replacement)",
            "statsd_prefix",
        ),
        Flag(
            "statsd-udp-packet-size",
            INT,
            "the size in bytes of statsd UDP packets",
            "statsd_udp_packet_size",
        ),
        Flag(
            "statsd-exclude-ephemeral",
            BOOL,
            "Skip ephemeral topics and channels when sending stats to statsd",
            "statsd_exclude_ephemeral",
        ),
        # end to end percentile flags
        Flag(
            "e2e-processing-latency-percentile",
            FLOAT_LIST,
            "message processing time percentiles (as float (0, 1.0]) to track "
            "(can be specified multiple times or comma separated "
            "'1.0,0.99,0.95', default none)",
            "e2e_processing_latency_percentiles",
            configKey="e2e_processing_latency_percentiles",
        ),
        Flag(
            "e2e-processing-latency-window-time",
            DURATION,
            "calculate end to end latency quantiles for this duration of time "
            "(ie: 60s would only show quantile calculations from the past "
            "60 seconds)",
            "e2e_processing_latency_window_time",
        ),
        # TLS config
        Flag("tls-cert", STRING, "path to certificate file", "tls_cert"),
        Flag("tls-key", STRING, "path to key file", "tls_key"),
        Flag(
            "tls-client-auth-policy",
            STRING,
            "client certificate auth policy ('require' or 'require-verify')",
            "tls_client_auth_policy",
        ),
        Flag(
            "tls-root-ca-file",
            STRING,
            "path to certificate authority file",
            "tls_root_ca_file",
        ),
        Flag(
            "tls-required",
            TLS_REQUIRED_TYPE,
            "require TLS for client connections (true, false, tcp-https)",
            "tls_required",
        ),
        Flag(
            "tls-min-version",
            TLS_MIN_VERSION_TYPE,
            "minimum SSL/TLS version acceptable ('ssl3.0', 'tls1.0', 'tls1.1', "
            "'tls1.2' or 'tls1.3')",
            "tls_min_version",
        ),
        # compression
        Flag(
            "deflate",
            BOOL,
            "enable deflate feature negotiation (client compression)",
            "deflate",
        ),
        Flag(
            "max-deflate-level",
            INT,
            "max deflate compression level a client can negotiate "
            "(> values == > nsqd CPU usage)",
            "max_deflate_level",
        ),
        Flag(
            "snappy",
            BOOL,
            "enable snappy feature negotiation (client compression)",
            "snappy",
        ),
        # experimental features
        Flag(
            "enable-experiment",
            STRING_LIST,
            "enable experimental feature (may be given multiple times) "
            "(valid options: " + ", ".join(goQuote(name) for name in EXPERIMENTS) + ")",
            "enable_experiment",
            configKey="enable_experiment",
            default=[],
        ),
    ]


NSQD_FLAGS = FlagTable("nsqd", _flags(), defaults=NSQDConfig(), version=versionString())
"""Every nsqd flag; defaults come from L{NSQDConfig}."""


# -- from flags to config ----------------------------------------------------

PENDING_CONFIG_FIELDS = frozenset(
    {"topology_region", "topology_zone", "enable_experiment"}
)
"""
Flags that L{NSQDConfig} may not have fields for yet (they are on Go master
after 1.3.0, see the reference's section 4.1): they parse and are then
dropped until the config holds them.
"""

AFTER_1_3_0_FIELDS = PENDING_CONFIG_FIELDS | {"auth_http_request_method"}
"""
The config attributes of flags from Go master after 1.3.0: Go 1.3.0's
C{Options} has no field for them, so its C{GET /config/:opt} does not know
them.
"""


def nsqdConfigFromFlags(
    values: Mapping[str, object], table: FlagTable = NSQD_FLAGS
) -> NSQDConfig:
    """
    Build an L{NSQDConfig} from resolved flag values (see
    L{FlagTable.resolve}), not yet validated.

    @param table: the table C{values} was resolved with; the combined
        daemon passes its own names for the same attributes.
    """
    fields = attrs.fields_dict(NSQDConfig)
    kwargs: dict[str, Any] = {
        flag.attribute: values[flag.name]
        for flag in table.flags
        if flag.attribute is not None and flag.attribute in fields
    }
    return NSQDConfig(**kwargs)


def validate(config: NSQDConfig) -> None:
    """
    Check the options as Go's C{nsqd.New} does, in its order, and make its
    one adjustment: a client auth policy implies C{--tls-required}.

    @raise InvalidOptions: with Go's message.
    """
    if not 1 <= config.max_deflate_level <= 9:
        raise InvalidOptions("--max-deflate-level must be [1,9]")
    if not 0 <= config.node_id < 1024:
        raise InvalidOptions("--node-id must be [0,1024)")
    if config.tls_client_auth_policy and config.tls_required == TLS_NOT_REQUIRED:
        config.tls_required = TLS_REQUIRED
    if config.tls_required != TLS_NOT_REQUIRED and not config.tlsEnabled:
        raise InvalidOptions(
            "cannot require TLS client connections without TLS key and cert"
        )
    if config.auth_http_request_method not in ("get", "post"):
        raise InvalidOptions("--auth-http-request-method must be post or get")
    for percentile in config.e2e_processing_latency_percentiles:
        if not 0 < percentile <= 1:
            raise InvalidOptions(
                f"invalid E2E processing latency percentile: {formatFloat(percentile)}"
            )


def configure(
    values: Mapping[str, object], table: FlagTable = NSQD_FLAGS
) -> NSQDConfig:
    """
    L{nsqdConfigFromFlags} then L{validate}.

    @raise InvalidOptions: see L{validate}.
    """
    config = nsqdConfigFromFlags(values, table)
    validate(config)
    return config


def usesTLS(config: NSQDConfig) -> bool:
    """
    Whether an nsqd with this config may use TLS: any C{--tls-*} flag that
    asks for it (a certificate, key or root CA file, a client auth policy,
    C{--tls-required}), or an auth server reached over HTTPS.  When not,
    the daemon's entry points keep pyOpenSSL out of the process
    (L{txnsq._tlsimport}).
    """
    if (
        config.tls_cert
        or config.tls_key
        or config.tls_root_ca_file
        or config.tls_client_auth_policy
        or config.tls_required != TLS_NOT_REQUIRED
    ):
        return True
    # A bare host:port means http://host:port/auth; any other scheme than
    # plain HTTP may need TLS.
    return any(
        "://" in address and not address.lower().startswith("http://")
        for address in config.auth_http_addresses
    )


class Options(GoFlagOptions):
    """
    C{twistd nsqd} options: every Go nsqd flag, with Go's names and
    defaults (C{twistd -n nsqd --tcp-address=127.0.0.1:0 --snappy=false}).

    @ivar config: the validated config, set after parsing.
    """

    synopsis = "[nsqd options]"
    longdesc = (
        "Run an nsqd compatible with Go NSQ 1.3.0.  Flags are Go nsqd's; "
        "booleans take --flag or --flag=false, durations Go syntax (1m30s)."
    )
    flagTable = NSQD_FLAGS
    config: NSQDConfig

    def postOptions(self) -> None:
        """
        Resolve the flags and build the validated L{NSQDConfig}.

        @raise usage.UsageError: for a bad config file or invalid options.
        """
        super().postOptions()
        try:
            self.config = configure(self.flagValues)
        except InvalidOptions as e:
            raise UsageError(str(e))
        filterTwistdLogging(self)
