# -*- test-case-name: tests.nsqadmin.test_options -*-
"""
nsqadmin's settings, as plain values with Go nsqadmin 1.3.0's defaults
(C{nsqadmin/options.go}).  No Twisted here.
"""

from __future__ import annotations

import attrs

__all__ = ["AdminConfig"]


@attrs.define
class AdminConfig:
    """
    Every nsqadmin option; fields are Go's flag names with C{-} replaced
    by C{_}, durations in seconds.

    @ivar http_address: C{--http-address}.
    @ivar base_path: C{--base-path}, normalized as Go's
        C{normalizeBasePath} does (leading slash, cleaned).
    @ivar lookupd_http_addresses: C{--lookupd-http-address}.
    @ivar nsqd_http_addresses: C{--nsqd-http-address}.
    @ivar acl_http_header: C{--acl-http-header}: the request header naming
        the authenticated user.
    @ivar admin_users: C{--admin-user}: if any, only they may act.
    @ivar allow_config_from_cidr: C{--allow-config-from-cidr}: who may use
        C{/config}.
    @ivar notification_http_endpoint: C{--notification-http-endpoint}.
    @ivar http_client_connect_timeout: C{--http-client-connect-timeout}.
    @ivar http_client_request_timeout: C{--http-client-request-timeout}.
    @ivar http_client_tls_root_ca_file: C{--http-client-tls-root-ca-file}:
        the authorities trusted for HTTPS to the cluster (the system's
        when empty).
    @ivar http_client_tls_cert: C{--http-client-tls-cert} (with
        C{--http-client-tls-key}): the certificate shown to nsqds that
        ask for one.
    @ivar http_client_tls_insecure_skip_verify:
        C{--http-client-tls-insecure-skip-verify}.
    @ivar graphite_url: C{--graphite-url}: the graphite the UI draws
        graphs from.
    @ivar proxy_graphite: C{--proxy-graphite}: serve C{/render} from
        graphite, so browsers need not reach it.
    """

    http_address: str = "0.0.0.0:4171"
    base_path: str = "/"
    graphite_url: str = ""
    proxy_graphite: bool = False
    statsd_prefix: str = "nsq.%s"
    statsd_counter_format: str = "stats.counters.%s.count"
    statsd_gauge_format: str = "stats.gauges.%s"
    statsd_interval: float = 60.0
    lookupd_http_addresses: list[str] = attrs.field(factory=list)
    nsqd_http_addresses: list[str] = attrs.field(factory=list)
    http_client_connect_timeout: float = 2.0
    http_client_request_timeout: float = 5.0
    http_client_tls_insecure_skip_verify: bool = False
    http_client_tls_root_ca_file: str = ""
    http_client_tls_cert: str = ""
    http_client_tls_key: str = ""
    allow_config_from_cidr: str = "127.0.0.1/8"
    acl_http_header: str = "X-Forwarded-User"
    admin_users: list[str] = attrs.field(factory=list)
    notification_http_endpoint: str = ""
    skip_resolve_on_startup: bool = False
    log_level: str = "info"
    log_prefix: str = "[nsqadmin] "
