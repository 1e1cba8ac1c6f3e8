# -*- test-case-name: tests.nsqadmin.test_options -*-
"""
nsqadmin's command-line flags: Go nsqadmin 1.3.0's flags, names, defaults
and help texts (C{apps/nsqadmin/main.go}), read by both C{txnsq nsqadmin}
and C{twistd nsqadmin}, and the checks Go's C{nsqadmin.New} makes.
"""

from __future__ import annotations

import ipaddress
import posixpath
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from twisted.python.usage import UsageError

from txnsq._go.flags import (
    BOOL,
    DURATION,
    STRING,
    STRING_LIST,
    Flag,
    FlagTable,
    GoFlagOptions,
    daemonFlags,
    daemonVersion,
    httpClientTimeoutFlags,
)
from txnsq._logging import filterTwistdLogging
from txnsq.nsqadmin._tls import clientTLSPolicy
from txnsq.nsqadmin.config import AdminConfig

__all__ = ["ADMIN_FLAGS", "Options", "configure", "versionString"]


def versionString(program: str = "nsqadmin") -> str:
    """
    What C{--version} prints (see L{daemonVersion}).
    """
    return daemonVersion(program)


def _flags() -> list[Flag]:
    # Go's declaration order; usage sorts by name.
    return [
        *daemonFlags(),
        Flag(
            "http-address",
            STRING,
            "<addr>:<port> to listen on for HTTP clients",
            "http_address",
        ),
        Flag("base-path", STRING, "URL base path", "base_path"),
        Flag("graphite-url", STRING, "graphite HTTP address", "graphite_url"),
        Flag(
            "proxy-graphite",
            BOOL,
            "proxy HTTP requests to graphite",
            "proxy_graphite",
        ),
        Flag(
            "statsd-counter-format",
            STRING,
            "The counter stats key formatting applied by the implementation of "
            "statsd. If no formatting is desired, set this to an empty string.",
            "statsd_counter_format",
        ),
        Flag(
            "statsd-gauge-format",
            STRING,
            "The gauge stats key formatting applied by the implementation of "
            "statsd. If no formatting is desired, set this to an empty string.",
            "statsd_gauge_format",
        ),
        Flag(
            "statsd-prefix",
            STRING,
            "prefix used for keys sent to statsd (%s for host replacement, must "
            "match nsqd)",
            "statsd_prefix",
        ),
        Flag(
            "statsd-interval",
            DURATION,
            "time interval nsqd is configured to push to statsd (must match nsqd)",
            "statsd_interval",
        ),
        Flag(
            "notification-http-endpoint",
            STRING,
            "HTTP endpoint (fully qualified) to which POST notifications of "
            "admin actions will be sent",
            "notification_http_endpoint",
        ),
        *httpClientTimeoutFlags(),
        Flag(
            "http-client-tls-insecure-skip-verify",
            BOOL,
            "configure the HTTP client to skip verification of TLS certificates",
            "http_client_tls_insecure_skip_verify",
        ),
        Flag(
            "http-client-tls-root-ca-file",
            STRING,
            "path to CA file for the HTTP client",
            "http_client_tls_root_ca_file",
        ),
        Flag(
            "http-client-tls-cert",
            STRING,
            "path to certificate file for the HTTP client",
            "http_client_tls_cert",
        ),
        Flag(
            "http-client-tls-key",
            STRING,
            "path to key file for the HTTP client",
            "http_client_tls_key",
        ),
        Flag(
            "allow-config-from-cidr",
            STRING,
            "A CIDR from which to allow HTTP requests to the /config endpoint",
            "allow_config_from_cidr",
        ),
        Flag(
            "acl-http-header",
            STRING,
            "HTTP header to check for authenticated admin users",
            "acl_http_header",
        ),
        Flag(
            "lookupd-http-address",
            STRING_LIST,
            "lookupd HTTP address (may be given multiple times)",
            "lookupd_http_addresses",
            configKey="nsqlookupd_http_addresses",
        ),
        Flag(
            "nsqd-http-address",
            STRING_LIST,
            "nsqd HTTP address (may be given multiple times)",
            "nsqd_http_addresses",
        ),
        Flag(
            "skip-resolve-on-startup",
            BOOL,
            "skip DNS lookup of addresses on startup",
            "skip_resolve_on_startup",
        ),
        Flag(
            "admin-user",
            STRING_LIST,
            "admin user (may be given multiple times; if specified, only these "
            "users will be able to perform privileged actions; acl-http-header "
            "is used to determine the authenticated user)",
            "admin_users",
        ),
    ]


ADMIN_FLAGS = FlagTable(
    "nsqadmin", _flags(), defaults=AdminConfig(), version=versionString()
)
"""Every nsqadmin flag; defaults come from L{AdminConfig}."""


def normalizeBasePath(path: str) -> str:
    """
    Go's C{normalizeBasePath}: C{/} for nothing, a leading slash added,
    then C{path.Clean}.
    """
    if not path:
        return "/"
    if not path.startswith("/"):
        path = "/" + path
    cleaned = posixpath.normpath(path)
    # posixpath keeps a leading "//" (POSIX allows it a meaning); Go's
    # path.Clean does not.
    return "/" + cleaned.lstrip("/")


def _checkGraphiteURL(url: str) -> None:
    # Go's url.Parse accepts nearly anything; a URL that could never be
    # proxied to (no scheme or host) fails the start.  No URL at all is
    # Go's graphs-off setting, which Go accepts with --proxy-graphite too.
    parsed = urlsplit(url)
    if url and (parsed.scheme not in ("http", "https") or not parsed.netloc):
        raise ValueError(
            f"failed to parse --graphite-url ({url}) - --proxy-graphite needs "
            "an http:// or https:// URL with a host"
        )


def configure(
    values: Mapping[str, object],
    table: FlagTable = ADMIN_FLAGS,
    colocated: bool = False,
) -> AdminConfig:
    """
    Build an L{AdminConfig} from resolved flag values, with the checks of
    Go's C{nsqadmin.New}.

    @param table: the table C{values} was resolved with; the combined
        daemon passes its own names for the same attributes.
    @param colocated: the cluster is the co-located daemons' unless
        addresses are given (C{twistd nsq}): no address is not an error.
    @raise ValueError: with Go's message (C{txnsq nsqadmin} logs it as
        C{FATAL: failed to instantiate nsqadmin - <message>}).
    """
    kwargs: dict[str, Any] = {
        flag.attribute: values[flag.name]
        for flag in table.flags
        if flag.attribute is not None
    }
    config = AdminConfig(**kwargs)
    if (
        not colocated
        and not config.nsqd_http_addresses
        and not config.lookupd_http_addresses
    ):
        raise ValueError("--nsqd-http-address or --lookupd-http-address required")
    if config.nsqd_http_addresses and config.lookupd_http_addresses:
        raise ValueError("use --nsqd-http-address or --lookupd-http-address not both")
    if config.http_client_tls_cert and not config.http_client_tls_key:
        raise ValueError(
            "--http-client-tls-key must be specified with --http-client-tls-cert"
        )
    if config.http_client_tls_key and not config.http_client_tls_cert:
        raise ValueError(
            "--http-client-tls-cert must be specified with --http-client-tls-key"
        )
    # Load the certificates now, so that a bad file stops the start as
    # in Go (the service loads them again for its client).
    clientTLSPolicy(config)
    if config.proxy_graphite:
        _checkGraphiteURL(config.graphite_url)
    if config.allow_config_from_cidr:
        try:
            ipaddress.ip_network(config.allow_config_from_cidr, strict=False)
        except ValueError:
            raise ValueError(
                "failed to parse --allow-config-from-cidr "
                f"({config.allow_config_from_cidr}) - invalid CIDR address: "
                f"{config.allow_config_from_cidr}"
            ) from None
    config.base_path = normalizeBasePath(config.base_path)
    return config


class Options(GoFlagOptions):
    """
    C{twistd nsqadmin} options: every Go nsqadmin flag, with Go's names
    and defaults.

    @ivar config: the config, set after parsing.
    """

    synopsis = "[nsqadmin options]"
    longdesc = "Run an nsqadmin compatible with Go NSQ 1.3.0.  Flags are Go nsqadmin's."
    flagTable = ADMIN_FLAGS
    config: AdminConfig

    def postOptions(self) -> None:
        """
        Resolve the flags and build the L{AdminConfig}.

        @raise usage.UsageError: for a bad config file or invalid options.
        """
        super().postOptions()
        try:
            self.config = configure(self.flagValues)
        except ValueError as e:
            # One line, as twistd nsqd's: twistd names the program.
            raise UsageError(str(e)) from None
        filterTwistdLogging(self)
