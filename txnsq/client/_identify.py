# -*- test-case-name: tests.client.test_identify,tests.client.test_protocol -*-
"""
What a client sends in IDENTIFY and what nsqd's feature-negotiation reply
tells it.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import attrs

from txnsq._version import __version__

#: nsqd's C{--max-rdy-count} default, assumed when nsqd does not negotiate.
DEFAULT_MAX_RDY_COUNT = 2500

#: nsqd's default heartbeat interval (half of C{--client-timeout}), in ms.
DEFAULT_HEARTBEAT_INTERVAL_MS = 30000


def _shortHostname() -> str:
    return socket.gethostname().split(".")[0]


@attrs.frozen
class IdentifyOptions:
    """
    The IDENTIFY body, field for field (C{None} leaves nsqd's default).

    Durations are milliseconds, as on the wire; C{-1} disables a heartbeat,
    the output buffer or its timeout, as nsqd defines.

    C{tls}, C{snappy} and C{deflate} ask nsqd for those stream upgrades;
    what nsqd agrees to is switched on (see
    L{NSQClientProtocol.startUpgrade
    <txnsq.client.protocol.NSQClientProtocol.startUpgrade>}), TLS with
    L{tlsOptions}.

    @ivar clientID: C{client_id}, shown in nsqd's C{/stats}.
    @ivar hostname: C{hostname}.
    @ivar userAgent: C{user_agent}.
    @ivar featureNegotiation: ask for nsqd's JSON reply (its limits); without
        it nsqd answers C{OK} and the client assumes defaults.
    @ivar heartbeatIntervalMs: C{heartbeat_interval}.
    @ivar outputBufferSize: C{output_buffer_size} (bytes).
    @ivar outputBufferTimeoutMs: C{output_buffer_timeout}.
    @ivar sampleRate: C{sample_rate} (percent, 0 is off).
    @ivar msgTimeoutMs: C{msg_timeout}.
    @ivar tls: C{tls_v1}.
    @ivar snappy: C{snappy}.
    @ivar deflate: C{deflate}.
    @ivar deflateLevel: C{deflate_level}.
    @ivar topologyZone: C{topology_zone} (ignored by nsqd 1.3.0).
    @ivar topologyRegion: C{topology_region} (ignored by nsqd 1.3.0).
    """

    clientID: str = attrs.field(factory=_shortHostname)
    hostname: str = attrs.field(factory=socket.gethostname)
    userAgent: str = f"txnsq/{__version__}"
    featureNegotiation: bool = True
    heartbeatIntervalMs: int | None = None
    outputBufferSize: int | None = None
    outputBufferTimeoutMs: int | None = None
    sampleRate: int | None = None
    msgTimeoutMs: int | None = None
    tls: bool = False
    snappy: bool = False
    deflate: bool = False
    deflateLevel: int | None = None
    topologyZone: str | None = None
    topologyRegion: str | None = None
    #: Twisted TLS client options (C{optionsForClientTLS(...)}) used when
    #: nsqd agrees to C{tls}; L{None} verifies the certificate for the
    #: address connected to.  Not sent to nsqd.
    tlsOptions: Any = attrs.field(default=None, eq=False)

    def toJSON(self) -> dict[str, Any]:
        """
        The IDENTIFY body as a dict with nsqd's keys; unset fields are left
        out so nsqd applies its own defaults.
        """
        fields: dict[str, Any] = {
            "client_id": self.clientID,
            "hostname": self.hostname,
            "user_agent": self.userAgent,
            "feature_negotiation": self.featureNegotiation,
            "heartbeat_interval": self.heartbeatIntervalMs,
            "output_buffer_size": self.outputBufferSize,
            "output_buffer_timeout": self.outputBufferTimeoutMs,
            "sample_rate": self.sampleRate,
            "msg_timeout": self.msgTimeoutMs,
            "tls_v1": self.tls,
            "snappy": self.snappy,
            "deflate": self.deflate,
            "deflate_level": self.deflateLevel,
            "topology_zone": self.topologyZone,
            "topology_region": self.topologyRegion,
        }
        return {key: value for key, value in fields.items() if value is not None}

    def readTimeout(self) -> float | None:
        """
        Seconds of silence after which the connection is presumed dead: two
        heartbeat intervals (nsqd sends a heartbeat every interval whatever
        else it sends), or L{None} when heartbeats are disabled.
        """
        interval = self.heartbeatIntervalMs
        if interval is None or interval == 0:
            interval = DEFAULT_HEARTBEAT_INTERVAL_MS
        if interval < 0:
            return None
        return 2 * interval / 1000.0


@attrs.frozen
class IdentifyResponse:
    """
    nsqd's settings for this connection, from its IDENTIFY reply.  With no
    feature negotiation (a bare C{OK}) every field has nsqd's default.

    Durations are milliseconds, as on the wire.

    @ivar negotiated: whether nsqd sent the JSON reply.
    @ivar raw: the decoded JSON reply (empty without negotiation).
    """

    negotiated: bool = False
    maxRdyCount: int = DEFAULT_MAX_RDY_COUNT
    version: str = ""
    maxMsgTimeoutMs: int = 900000
    msgTimeoutMs: int = 60000
    tls: bool = False
    deflate: bool = False
    deflateLevel: int = 6
    maxDeflateLevel: int = 6
    snappy: bool = False
    sampleRate: int = 0
    authRequired: bool = False
    outputBufferSize: int = 16384
    outputBufferTimeoutMs: int = 250
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False)

    @classmethod
    def fromFrame(cls, data: bytes) -> IdentifyResponse:
        """
        Parse the reply: C{OK}, or the JSON object.

        @raise ValueError: if it is neither.
        """
        if data == b"OK":
            return cls()
        raw = json.loads(data)
        if not isinstance(raw, dict):
            raise ValueError(f"IDENTIFY reply is not a JSON object: {data!r}")

        def get(key: str, kind: type, default: Any) -> Any:
            value = raw.get(key, default)
            return value if isinstance(value, kind) else default

        return cls(
            negotiated=True,
            maxRdyCount=get("max_rdy_count", int, DEFAULT_MAX_RDY_COUNT),
            version=get("version", str, ""),
            maxMsgTimeoutMs=get("max_msg_timeout", int, 900000),
            msgTimeoutMs=get("msg_timeout", int, 60000),
            tls=get("tls_v1", bool, False),
            deflate=get("deflate", bool, False),
            deflateLevel=get("deflate_level", int, 6),
            maxDeflateLevel=get("max_deflate_level", int, 6),
            snappy=get("snappy", bool, False),
            sampleRate=get("sample_rate", int, 0),
            authRequired=get("auth_required", bool, False),
            outputBufferSize=get("output_buffer_size", int, 16384),
            outputBufferTimeoutMs=get("output_buffer_timeout", int, 250),
            raw=raw,
        )

    @property
    def upgrades(self) -> list[str]:
        """
        The stream upgrades nsqd switched on (C{"tls_v1"}, C{"snappy"},
        C{"deflate"}), in the order they are applied.
        """
        return [
            name
            for name, on in (
                ("tls_v1", self.tls),
                ("snappy", self.snappy),
                ("deflate", self.deflate),
            )
            if on
        ]
