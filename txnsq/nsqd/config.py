# -*- test-case-name: tests.nsqd.test_options -*-
"""
nsqd's settings, as plain values with Go nsqd 1.3.0's defaults.

This module imports no Twisted: the broker, the protocol, the HTTP API and
the option parser all share one L{NSQDConfig}.  Durations are held in
seconds (floats), the unit Twisted's clocks use; the HTTP API converts them
to nanoseconds where Go reports nanoseconds.
"""

from __future__ import annotations

import hashlib
import socket
import zlib

import attrs


def defaultNodeID(hostname: str | None = None) -> int:
    """
    Go's default C{--node-id}: CRC-32 of the MD5 digest of the hostname,
    modulo 1024.
    """
    host = socket.gethostname() if hostname is None else hostname
    return zlib.crc32(hashlib.md5(host.encode("utf-8")).digest()) % 1024


@attrs.define
class NSQDConfig:
    """
    Every nsqd option, named after Go's flag with C{-} replaced by C{_}.
    """

    # identity and listeners
    node_id: int = attrs.field(factory=defaultNodeID)
    tcp_address: str = "0.0.0.0:4150"
    http_address: str = "0.0.0.0:4151"
    https_address: str = "0.0.0.0:4152"
    broadcast_address: str = attrs.field(factory=socket.gethostname)
    broadcast_tcp_port: int = 0
    broadcast_http_port: int = 0
    nsqlookupd_tcp_addresses: list[str] = attrs.field(factory=list)
    auth_http_addresses: list[str] = attrs.field(factory=list)
    auth_http_request_method: str = "get"
    http_client_connect_timeout: float = 2.0
    http_client_request_timeout: float = 5.0
    log_level: str = "info"
    log_prefix: str = "[nsqd] "

    # storage
    data_path: str = ""
    mem_queue_size: int = 10000
    max_bytes_per_file: int = 104857600
    sync_every: int = 2500
    sync_timeout: float = 2.0

    # queue scanning
    queue_scan_interval: float = 0.1
    queue_scan_refresh_interval: float = 5.0
    queue_scan_selection_count: int = 20
    queue_scan_worker_pool_max: int = 4
    queue_scan_dirty_percent: float = 0.25

    # messages and clients
    msg_timeout: float = 60.0
    max_msg_timeout: float = 900.0
    max_msg_size: int = 1048576
    max_body_size: int = 5242880
    max_req_timeout: float = 3600.0
    client_timeout: float = 60.0
    max_heartbeat_interval: float = 60.0
    max_rdy_count: int = 2500
    max_output_buffer_size: int = 65536
    max_output_buffer_timeout: float = 30.0
    min_output_buffer_timeout: float = 0.025
    output_buffer_timeout: float = 0.25
    max_channel_consumers: int = 0

    # statsd and latency
    statsd_address: str = ""
    statsd_prefix: str = "nsq.%s"
    statsd_interval: float = 60.0
    statsd_mem_stats: bool = True
    statsd_udp_packet_size: int = 508
    statsd_exclude_ephemeral: bool = False
    e2e_processing_latency_window_time: float = 600.0
    e2e_processing_latency_percentiles: list[float] = attrs.field(factory=list)

    # TLS and compression
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_auth_policy: str = ""
    tls_root_ca_file: str = ""
    tls_required: int = 0
    tls_min_version: str = "tls1.0"
    deflate: bool = True
    max_deflate_level: int = 6
    snappy: bool = True

    @property
    def tlsEnabled(self) -> bool:
        """
        TLS can be negotiated only when a certificate and key are configured.
        """
        return bool(self.tls_cert and self.tls_key)

    @property
    def authEnabled(self) -> bool:
        """
        AUTH is required when at least one auth server is configured.
        """
        return bool(self.auth_http_addresses)
