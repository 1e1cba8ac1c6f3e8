# -*- test-case-name: tests.wire.test_identify -*-
"""
IDENTIFY: decoding the client's JSON as strictly as Go does, validating
its values against nsqd's limits, and the feature-negotiation reply.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from txnsq.wire.errors import E_BAD_BODY, E_IDENTIFY_FAILED, ProtocolError

# Go decodes into a struct: these keys, these JSON types; anything else is
# ignored (the 1.3.0 release has no topology fields); a wrong type fails the
# whole body.
_FIELDS: dict[str, type] = {
    "client_id": str,
    "hostname": str,
    "user_agent": str,
    "feature_negotiation": bool,
    "heartbeat_interval": int,
    "output_buffer_size": int,
    "output_buffer_timeout": int,
    "tls_v1": bool,
    "snappy": bool,
    "deflate": bool,
    "deflate_level": int,
    "sample_rate": int,
    "msg_timeout": int,
}
_INT32_RANGE = range(-(2**31), 2**31)
# Go's identifyDataV2 fields, in its order, for its %+v (the IDENTIFY log
# line); a missing key shows Go's zero value.
_GO_FIELDS: tuple[tuple[str, str, object], ...] = (
    ("ClientID", "client_id", ""),
    ("Hostname", "hostname", ""),
    ("HeartbeatInterval", "heartbeat_interval", 0),
    ("OutputBufferSize", "output_buffer_size", 0),
    ("OutputBufferTimeout", "output_buffer_timeout", 0),
    ("FeatureNegotiation", "feature_negotiation", False),
    ("TLSv1", "tls_v1", False),
    ("Deflate", "deflate", False),
    ("DeflateLevel", "deflate_level", 0),
    ("Snappy", "snappy", False),
    ("SampleRate", "sample_rate", 0),
    ("UserAgent", "user_agent", ""),
    ("MsgTimeout", "msg_timeout", 0),
)
_INT64_RANGE = range(-(2**63), 2**63)


@attrs.define
class IdentifyLimits:
    """
    The nsqd settings IDENTIFY values are checked against (milliseconds).
    """

    defaultHeartbeatInterval: int = 30000
    maxHeartbeatInterval: int = 60000
    defaultOutputBufferSize: int = 16384
    maxOutputBufferSize: int = 65536
    defaultOutputBufferTimeout: int = 250
    minOutputBufferTimeout: int = 25
    maxOutputBufferTimeout: int = 30000
    defaultMsgTimeout: int = 60000
    maxMsgTimeout: int = 900000
    maxRdyCount: int = 2500
    maxDeflateLevel: int = 6
    tlsAvailable: bool = False
    snappyEnabled: bool = True
    deflateEnabled: bool = True
    authRequired: bool = False


@attrs.define
class IdentifyResult:
    """
    The settings a client ends up with.  Intervals in milliseconds; 0 means
    disabled for the heartbeat and the output buffer timeout.
    """

    clientID: str | None
    hostname: str | None
    userAgent: str
    featureNegotiation: bool
    heartbeatInterval: int
    outputBufferSize: int
    outputBufferTimeout: int
    sampleRate: int
    msgTimeout: int
    tls: bool
    snappy: bool
    deflate: bool
    deflateLevel: int


def _rejectConstant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decodeIdentify(body: bytes) -> dict[str, Any]:
    """
    Decode an IDENTIFY body as Go's C{json.Unmarshal} into its
    C{identifyDataV2} does: the fields it knows (keys lower-cased), with
    their values; nothing is validated yet (see L{negotiateIdentify}).

    @raise ProtocolError: C{E_BAD_BODY IDENTIFY failed to decode JSON body}.
    """
    error = ProtocolError(E_BAD_BODY, "IDENTIFY failed to decode JSON body")
    try:
        # Go reads UTF-8 only (no BOM, no UTF-16 detection), replaces
        # invalid sequences, and knows no NaN or Infinity.
        data = json.loads(
            body.decode("utf-8", "replace"), parse_constant=_rejectConstant
        )
    except (ValueError, RecursionError):
        raise error from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error
    values: dict[str, Any] = {}
    for key, value in data.items():
        # Go matches struct fields case-insensitively; null leaves the
        # default.
        field = key.lower()
        kind = _FIELDS.get(field)
        if kind is None or value is None:
            continue
        if kind is int:
            ok = type(value) is int and value in (
                _INT32_RANGE if field == "sample_rate" else _INT64_RANGE
            )
        else:
            ok = type(value) is kind
        if not ok:
            raise error
        values[field] = value
    return values


def formatIdentify(data: Mapping[str, Any]) -> str:
    """
    Decoded IDENTIFY data as Go prints its C{identifyDataV2} with C{%+v}
    (nsqd logs C{[<client>] IDENTIFY: <this>}): C{{ClientID:c Hostname:h
    HeartbeatInterval:0 ...}}, strings unquoted, absent fields at Go's zero
    values.

    @param data: what L{decodeIdentify} returns.
    """
    parts = []
    for goName, key, zero in _GO_FIELDS:
        value = data.get(key, zero)
        if isinstance(value, bool):
            shown = "true" if value else "false"
        else:
            shown = str(value)
        parts.append(f"{goName}:{shown}")
    return "{" + " ".join(parts) + "}"


def negotiateIdentify(
    body: bytes | Mapping[str, Any],
    limits: IdentifyLimits,
    current: IdentifyResult | None = None,
) -> IdentifyResult:
    """
    Decode and validate an IDENTIFY body as Go nsqd 1.3.0 does.

    @param body: the body, or what L{decodeIdentify} made of it.
    @param current: the settings an earlier IDENTIFY gave this client; Go
        applies values in place, so a 0 keeps the current value.
    @raise ProtocolError: C{E_BAD_BODY} or C{E_IDENTIFY_FAILED}, with Go's text.
    """
    data = decodeIdentify(body) if isinstance(body, bytes) else body
    if current is not None:
        limits = attrs.evolve(
            limits,
            defaultHeartbeatInterval=current.heartbeatInterval,
            defaultOutputBufferSize=current.outputBufferSize,
            defaultOutputBufferTimeout=current.outputBufferTimeout,
            defaultMsgTimeout=current.msgTimeout,
        )

    def invalid(what: str, value: int) -> ProtocolError:
        return ProtocolError(E_BAD_BODY, f"IDENTIFY {what} ({value}) is invalid")

    heartbeat = data.get("heartbeat_interval", 0)
    if heartbeat == -1:
        heartbeat = 0
    elif heartbeat == 0:
        heartbeat = limits.defaultHeartbeatInterval
    elif not 1000 <= heartbeat <= limits.maxHeartbeatInterval:
        raise invalid("heartbeat interval", heartbeat)

    # Go checks the timeout before the size.
    timeout = data.get("output_buffer_timeout", 0)
    if timeout == -1:
        timeout = 0
    elif timeout == 0:
        timeout = limits.defaultOutputBufferTimeout
    elif not limits.minOutputBufferTimeout <= timeout <= limits.maxOutputBufferTimeout:
        raise invalid("output buffer timeout", timeout)
    size = data.get("output_buffer_size", 0)
    if size == -1:
        size, timeout = 1, 0
    elif size == 0:
        size = limits.defaultOutputBufferSize
    elif not 64 <= size <= limits.maxOutputBufferSize:
        raise invalid("output buffer size", size)

    sampleRate = data.get("sample_rate", 0)
    if not 0 <= sampleRate <= 99:
        raise invalid("sample rate", sampleRate)

    msgTimeout = data.get("msg_timeout", 0)
    if msgTimeout == 0:
        msgTimeout = limits.defaultMsgTimeout
    elif not 1000 <= msgTimeout <= limits.maxMsgTimeout:
        raise invalid("msg timeout", msgTimeout)

    negotiating = data.get("feature_negotiation", False)
    tls = negotiating and limits.tlsAvailable and data.get("tls_v1", False)
    snappy = negotiating and limits.snappyEnabled and data.get("snappy", False)
    deflate = negotiating and limits.deflateEnabled and data.get("deflate", False)
    # Go takes the requested level only when deflate is granted.
    level = data.get("deflate_level", 0)
    level = min(level if deflate and level > 0 else 6, limits.maxDeflateLevel)
    if snappy and deflate:
        raise ProtocolError(
            E_IDENTIFY_FAILED, "cannot enable both deflate and snappy compression"
        )
    return IdentifyResult(
        clientID=data.get("client_id"),
        hostname=data.get("hostname"),
        userAgent=data.get("user_agent", ""),
        featureNegotiation=negotiating,
        heartbeatInterval=heartbeat,
        outputBufferSize=size,
        outputBufferTimeout=timeout,
        sampleRate=sampleRate,
        msgTimeout=msgTimeout,
        tls=tls,
        snappy=snappy,
        deflate=deflate,
        deflateLevel=level,
    )


def identifyResponse(
    result: IdentifyResult, limits: IdentifyLimits, version: str
) -> bytes:
    """
    The JSON nsqd answers when feature negotiation was asked for, keys in
    Go's order (clients and the recordings compare the bytes).
    """
    reply = {
        "max_rdy_count": limits.maxRdyCount,
        "version": version,
        "max_msg_timeout": limits.maxMsgTimeout,
        "msg_timeout": result.msgTimeout,
        "tls_v1": result.tls,
        "deflate": result.deflate,
        "deflate_level": result.deflateLevel,
        "max_deflate_level": limits.maxDeflateLevel,
        "snappy": result.snappy,
        "sample_rate": result.sampleRate,
        "auth_required": limits.authRequired,
        "output_buffer_size": result.outputBufferSize,
        "output_buffer_timeout": result.outputBufferTimeout,
    }
    return json.dumps(reply, separators=(",", ":")).encode("ascii")
