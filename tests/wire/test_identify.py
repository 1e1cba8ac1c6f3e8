"""
Tests for L{txnsq.wire.identify}: IDENTIFY decoding, validation and the
feature-negotiation reply.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txnsq.wire.errors import E_BAD_BODY, E_IDENTIFY_FAILED, ProtocolError
from txnsq.wire.identify import (
    IdentifyLimits,
    IdentifyResult,
    decodeIdentify,
    formatIdentify,
    identifyResponse,
    negotiateIdentify,
)

from ._support import goldenErrors, goldenFrames, goldenRecordings, goldenSent
from .test_commands import DECODER_GOLDEN, IDENTIFY_GOLDEN

LIMITS = IdentifyLimits()

#: The reply keys in the order Go nsqd 1.3.0 emits them (no topology keys).
GO_KEY_ORDER = [
    "max_rdy_count",
    "version",
    "max_msg_timeout",
    "msg_timeout",
    "tls_v1",
    "deflate",
    "deflate_level",
    "max_deflate_level",
    "snappy",
    "sample_rate",
    "auth_required",
    "output_buffer_size",
    "output_buffer_timeout",
]


def negotiate(data: Any, limits: IdentifyLimits = LIMITS) -> IdentifyResult:
    """
    Negotiate a JSON-serialisable IDENTIFY body.
    """
    return negotiateIdentify(json.dumps(data).encode(), limits)


def identifyBody(sent: bytes) -> bytes:
    """
    The JSON body of the first IDENTIFY in C{sent}.
    """
    assert sent.startswith(b"IDENTIFY\n"), sent[:20]
    size = int.from_bytes(sent[9:13], "big")
    return sent[13 : 13 + size]


class IdentifyTestCase(SynchronousTestCase):
    """
    Helpers for IDENTIFY tests.
    """

    def assertIdentifyError(self, data: Any, text: str, code: str = E_BAD_BODY) -> None:
        """
        Negotiating C{data} fails with C{code} and exactly C{text}.
        """
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        error = self.assertRaises(ProtocolError, negotiateIdentify, body, LIMITS)
        self.assertEqual((error.code, error.description), (code, text))


class DefaultsTests(IdentifyTestCase):
    """
    Absent or zero values take nsqd's defaults.
    """

    def test_emptyObject(self) -> None:
        """
        C{{}} gives every default.
        """
        result = negotiate({})
        self.assertEqual(
            result,
            IdentifyResult(
                clientID=None,
                hostname=None,
                userAgent="",
                featureNegotiation=False,
                heartbeatInterval=30000,
                outputBufferSize=16384,
                outputBufferTimeout=250,
                sampleRate=0,
                msgTimeout=60000,
                tls=False,
                snappy=False,
                deflate=False,
                deflateLevel=6,
            ),
        )

    def test_zeros(self) -> None:
        """
        Explicit zeros mean "default" too.
        """
        zeros = {
            "heartbeat_interval": 0,
            "output_buffer_size": 0,
            "output_buffer_timeout": 0,
            "msg_timeout": 0,
            "sample_rate": 0,
            "deflate_level": 0,
        }
        self.assertEqual(negotiate(zeros), negotiate({}))

    def test_null(self) -> None:
        """
        A JSON C{null} body, or C{null} values, leave the defaults (Go's
        C{json.Unmarshal} ignores them).
        """
        self.assertEqual(negotiateIdentify(b"null", LIMITS), negotiate({}))
        self.assertEqual(
            negotiate({"heartbeat_interval": None, "client_id": None}), negotiate({})
        )

    def test_strings(self) -> None:
        """
        C{client_id}, C{hostname} and C{user_agent} are taken as given.
        """
        result = negotiate({"client_id": "c", "hostname": "h", "user_agent": "ua/1"})
        self.assertEqual(
            (result.clientID, result.hostname, result.userAgent), ("c", "h", "ua/1")
        )

    def test_limitsFollowConfig(self) -> None:
        """
        Defaults and bounds come from the L{IdentifyLimits}.
        """
        limits = IdentifyLimits(
            defaultHeartbeatInterval=5000,
            maxHeartbeatInterval=7000,
            defaultOutputBufferTimeout=100,
            defaultMsgTimeout=2000,
            maxMsgTimeout=3000,
        )
        result = negotiate({}, limits)
        self.assertEqual(
            (result.heartbeatInterval, result.outputBufferTimeout, result.msgTimeout),
            (5000, 100, 2000),
        )
        self.assertEqual(
            negotiate({"heartbeat_interval": 7000}, limits).heartbeatInterval, 7000
        )
        self.assertRaises(
            ProtocolError, negotiate, {"heartbeat_interval": 7001}, limits
        )
        self.assertRaises(ProtocolError, negotiate, {"msg_timeout": 3001}, limits)


def _heartbeat(value: int) -> tuple[int, ...] | str:
    if value == -1:
        return (0,)
    if value == 0:
        return (30000,)
    if 1000 <= value <= 60000:
        return (value,)
    return f"IDENTIFY heartbeat interval ({value}) is invalid"


def _bufferTimeout(value: int) -> tuple[int, ...] | str:
    if value == -1:
        return (0,)
    if value == 0:
        return (250,)
    if 25 <= value <= 30000:
        return (value,)
    return f"IDENTIFY output buffer timeout ({value}) is invalid"


def _bufferSize(value: int) -> tuple[int, ...] | str:
    # (size, timeout)
    if value == -1:
        return (1, 0)
    if value == 0:
        return (16384, 250)
    if 64 <= value <= 65536:
        return (value, 250)
    return f"IDENTIFY output buffer size ({value}) is invalid"


def _sampleRate(value: int) -> tuple[int, ...] | str:
    if 0 <= value <= 99:
        return (value,)
    return f"IDENTIFY sample rate ({value}) is invalid"


def _msgTimeout(value: int) -> tuple[int, ...] | str:
    if value == 0:
        return (60000,)
    if 1000 <= value <= 900000:
        return (value,)
    return f"IDENTIFY msg timeout ({value}) is invalid"


#: field -> (Go's rule, what of the result it decides)
RULES: dict[
    str,
    tuple[
        Callable[[int], tuple[int, ...] | str],
        Callable[[IdentifyResult], tuple[int, ...]],
    ],
] = {
    "heartbeat_interval": (_heartbeat, lambda r: (r.heartbeatInterval,)),
    "output_buffer_timeout": (_bufferTimeout, lambda r: (r.outputBufferTimeout,)),
    "output_buffer_size": (
        _bufferSize,
        lambda r: (r.outputBufferSize, r.outputBufferTimeout),
    ),
    "sample_rate": (_sampleRate, lambda r: (r.sampleRate,)),
    "msg_timeout": (_msgTimeout, lambda r: (r.msgTimeout,)),
}

#: Values on and around every boundary of every rule.
BOUNDARIES = sorted(
    {
        b + d
        for b in (0, 25, 64, 99, 100, 1000, 30000, 60000, 65536, 900000)
        for d in (-1, 0, 1)
    }
    | {-2, -1, 2**31 - 1, -(2**31)}
)


class RangeTests(IdentifyTestCase):
    """
    Every numeric setting follows Go's accepted ranges, special values and
    error texts (reference section 1.7).
    """

    @given(
        st.sampled_from(sorted(RULES)),
        st.one_of(st.sampled_from(BOUNDARIES), st.integers(-(2**40), 2**40)),
    )
    def test_rule(self, field: str, value: int) -> None:
        """
        For any value, negotiation gives what Go's rule gives: the effective
        setting, or C{E_BAD_BODY} with Go's text.
        """
        if field == "sample_rate" and not -(2**31) <= value < 2**31:
            # An int32 field: out of range is a JSON decode error.
            self.assertIdentifyError(
                {field: value}, "IDENTIFY failed to decode JSON body"
            )
            return
        rule, effect = RULES[field]
        expected = rule(value)
        if isinstance(expected, str):
            self.assertIdentifyError({field: value}, expected)
        else:
            self.assertEqual(effect(negotiate({field: value})), expected)

    def test_boundaries(self) -> None:
        """
        The exact limits of each range, as the golden recordings show them.
        """
        self.assertEqual(
            negotiate({"heartbeat_interval": 1000}).heartbeatInterval, 1000
        )
        self.assertEqual(
            negotiate({"heartbeat_interval": 60000}).heartbeatInterval, 60000
        )
        self.assertEqual(negotiate({"heartbeat_interval": -1}).heartbeatInterval, 0)
        self.assertIdentifyError(
            {"heartbeat_interval": 999}, "IDENTIFY heartbeat interval (999) is invalid"
        )
        self.assertIdentifyError(
            {"heartbeat_interval": -2}, "IDENTIFY heartbeat interval (-2) is invalid"
        )
        self.assertIdentifyError(
            {"output_buffer_timeout": 24},
            "IDENTIFY output buffer timeout (24) is invalid",
        )
        self.assertIdentifyError(
            {"output_buffer_size": 63}, "IDENTIFY output buffer size (63) is invalid"
        )
        self.assertIdentifyError(
            {"msg_timeout": -1}, "IDENTIFY msg timeout (-1) is invalid"
        )

    def test_unbufferedOverridesTimeout(self) -> None:
        """
        C{output_buffer_size: -1} means unbuffered: size 1 and timeout 0,
        whatever timeout was asked for.
        """
        result = negotiate({"output_buffer_size": -1, "output_buffer_timeout": 100})
        self.assertEqual((result.outputBufferSize, result.outputBufferTimeout), (1, 0))

    def test_timeoutCheckedBeforeSize(self) -> None:
        """
        With both invalid, the timeout is reported (Go checks it first).
        """
        self.assertIdentifyError(
            {"output_buffer_size": 1, "output_buffer_timeout": 1},
            "IDENTIFY output buffer timeout (1) is invalid",
        )

    def test_checkOrder(self) -> None:
        """
        Go validates heartbeat, then output buffer, then sample rate, then
        message timeout; the first failure is reported.
        """
        bad = {
            "heartbeat_interval": 1,
            "output_buffer_size": 1,
            "sample_rate": 100,
            "msg_timeout": 1,
        }
        texts = [
            "IDENTIFY heartbeat interval (1) is invalid",
            "IDENTIFY output buffer size (1) is invalid",
            "IDENTIFY sample rate (100) is invalid",
            "IDENTIFY msg timeout (1) is invalid",
        ]
        for key, text in zip(list(bad), texts):
            self.assertIdentifyError(bad, text)
            del bad[key]


class DecodeTests(IdentifyTestCase):
    """
    The body is decoded as strictly as Go's C{json.Unmarshal} into nsqd's
    C{identifyDataV2} struct.
    """

    def test_notJSON(self) -> None:
        """
        Malformed JSON is C{IDENTIFY failed to decode JSON body}.
        """
        for body in (
            b"{not json",
            b"",
            b"{",
            b'{"a":1} x',
            b"\xff",
            b'{"a":1,}',
            b"[1,2]",
            b'"text"',
            b"5",
        ):
            self.assertIdentifyError(body, "IDENTIFY failed to decode JSON body")

    def test_wrongTypes(self) -> None:
        """
        A known key with a value of the wrong JSON type fails the whole
        body; floats are not integers.
        """
        cases: list[dict[str, Any]] = [
            {"heartbeat_interval": "1000"},
            {"heartbeat_interval": 1000.0},
            {"heartbeat_interval": 1e3},
            {"heartbeat_interval": True},
            {"feature_negotiation": 1},
            {"feature_negotiation": "true"},
            {"client_id": 5},
            {"user_agent": []},
            {"hostname": {}},
            {"sample_rate": 2**31},
            {"msg_timeout": 2**63},
        ]
        for data in cases:
            self.assertIdentifyError(data, "IDENTIFY failed to decode JSON body")

    def test_unknownKeysIgnored(self) -> None:
        """
        Unknown keys are ignored, whatever their values (golden
        C{identify_unknown_keys}).
        """
        self.assertEqual(
            negotiate(
                {
                    "short_id": "a",
                    "long_id": "b",
                    "no_such_key": [1, 2],
                    "deep": {"heartbeat_interval": "x"},
                }
            ),
            negotiate({}),
        )

    def test_topologyKeysUnknown(self) -> None:
        """
        Go nsqd 1.3.0's IDENTIFY struct has no topology fields, so
        C{topology_zone} and C{topology_region} are unknown keys: any value
        is ignored, even one that is not a string.
        """
        for data in ({"topology_zone": 5}, {"topology_region": [1]}):
            try:
                result = negotiate(data)
            except ProtocolError as e:
                self.fail(f"{data!r} was refused ({e!r}); Go 1.3.0 ignores the key")
            self.assertEqual(result, negotiate({}))

    def test_caseInsensitiveKeys(self) -> None:
        """
        Go matches JSON keys to struct fields without regard to case.
        """
        result = negotiate({"Heartbeat_Interval": 5000, "CLIENT_ID": "x"})
        self.assertEqual((result.heartbeatInterval, result.clientID), (5000, "x"))

    def test_lastDuplicateWins(self) -> None:
        """
        A repeated key takes its last value, as in Go.
        """
        body = b'{"msg_timeout": 5000, "msg_timeout": 6000}'
        self.assertEqual(negotiateIdentify(body, LIMITS).msgTimeout, 6000)

    def test_nonStandardNumbers(self) -> None:
        """
        C{NaN} and C{Infinity} are not JSON; Go's decoder rejects them even
        under a key it ignores.
        """
        for body in (b'{"x": NaN}', b'{"x": Infinity}', b'{"x": -Infinity}'):
            self.assertIdentifyError(body, "IDENTIFY failed to decode JSON body")

    def test_byteOrderMark(self) -> None:
        """
        Go's decoder takes the body as UTF-8 text with no byte-order mark;
        a BOM or a UTF-16 body is invalid JSON.
        """
        for body in (
            b"\xef\xbb\xbf{}",
            "{}".encode("utf-16-le"),
            "{}".encode("utf-16"),
        ):
            self.assertIdentifyError(body, "IDENTIFY failed to decode JSON body")

    @given(st.binary(max_size=64))
    def test_anyBytes(self, body: bytes) -> None:
        """
        Any body either negotiates or raises L{ProtocolError} with
        C{E_BAD_BODY} or C{E_IDENTIFY_FAILED}; nothing else escapes.
        """
        try:
            negotiateIdentify(body, LIMITS)
        except ProtocolError as e:
            self.assertIn(e.code, (E_BAD_BODY, E_IDENTIFY_FAILED))

    @given(
        st.dictionaries(
            st.sampled_from(
                [
                    "client_id",
                    "hostname",
                    "user_agent",
                    "feature_negotiation",
                    "heartbeat_interval",
                    "output_buffer_size",
                    "output_buffer_timeout",
                    "tls_v1",
                    "snappy",
                    "deflate",
                    "deflate_level",
                    "sample_rate",
                    "msg_timeout",
                    "other",
                ]
            ),
            st.none()
            | st.booleans()
            | st.integers(-(2**33), 2**33)
            | st.floats(allow_nan=False)
            | st.text(max_size=4),
        )
    )
    def test_anyObject(self, data: dict[str, Any]) -> None:
        """
        Any JSON object negotiates or fails with a known code.
        """
        try:
            negotiate(data)
        except ProtocolError as e:
            self.assertIn(e.code, (E_BAD_BODY, E_IDENTIFY_FAILED))


class FeatureNegotiationTests(IdentifyTestCase):
    """
    TLS, snappy and deflate are granted only when negotiated, requested and
    enabled; the deflate level is Go's.
    """

    def test_notNegotiating(self) -> None:
        """
        Without C{feature_negotiation} nothing is granted, and asking for
        both compressions is not an error (Go answers C{OK} before looking).
        """
        result = negotiate({"snappy": True, "deflate": True, "tls_v1": True})
        self.assertEqual((result.tls, result.snappy, result.deflate), (False,) * 3)

    def test_bothCompressions(self) -> None:
        """
        Negotiating both snappy and deflate is C{E_IDENTIFY_FAILED}.
        """
        self.assertIdentifyError(
            {"feature_negotiation": True, "snappy": True, "deflate": True},
            "cannot enable both deflate and snappy compression",
            E_IDENTIFY_FAILED,
        )

    def test_bothCompressionsOneDisabled(self) -> None:
        """
        If the server disabled one of them, asking for both is fine.
        """
        limits = IdentifyLimits(snappyEnabled=False)
        result = negotiate(
            {"feature_negotiation": True, "snappy": True, "deflate": True}, limits
        )
        self.assertEqual((result.snappy, result.deflate), (False, True))

    def test_granted(self) -> None:
        """
        A requested and enabled feature is granted.
        """
        fn = {"feature_negotiation": True}
        self.assertTrue(negotiate({**fn, "snappy": True}).snappy)
        self.assertTrue(negotiate({**fn, "deflate": True}).deflate)
        self.assertFalse(negotiate({**fn, "tls_v1": True}).tls)
        self.assertTrue(
            negotiate({**fn, "tls_v1": True}, IdentifyLimits(tlsAvailable=True)).tls
        )
        self.assertFalse(
            negotiate(
                {**fn, "deflate": True}, IdentifyLimits(deflateEnabled=False)
            ).deflate
        )

    def test_deflateLevel(self) -> None:
        """
        With deflate negotiated the level is the requested one, 6 when zero
        or negative, and clamped to C{--max-deflate-level}.
        """
        fn = {"feature_negotiation": True, "deflate": True}
        self.assertEqual(negotiate({**fn, "deflate_level": 3}).deflateLevel, 3)
        self.assertEqual(negotiate({**fn, "deflate_level": 0}).deflateLevel, 6)
        self.assertEqual(negotiate({**fn, "deflate_level": -4}).deflateLevel, 6)
        self.assertEqual(negotiate({**fn, "deflate_level": 9}).deflateLevel, 6)
        limits = IdentifyLimits(maxDeflateLevel=9)
        self.assertEqual(negotiate({**fn, "deflate_level": 9}, limits).deflateLevel, 9)
        limits = IdentifyLimits(maxDeflateLevel=2)
        self.assertEqual(negotiate({**fn}, limits).deflateLevel, 2)

    def test_deflateLevelWithoutDeflate(self) -> None:
        """
        Go uses the requested level only when deflate is granted; otherwise
        the reply shows 6 (clamped to C{--max-deflate-level}), whatever
        C{deflate_level} said.
        """
        result = negotiate({"feature_negotiation": True, "deflate_level": 3})
        self.assertEqual(result.deflateLevel, 6)
        result = negotiate(
            {"feature_negotiation": True, "deflate": True, "deflate_level": 3},
            IdentifyLimits(deflateEnabled=False),
        )
        self.assertEqual(result.deflateLevel, 6)


class ResponseTests(IdentifyTestCase):
    """
    The feature-negotiation reply is byte-identical to Go's.
    """

    def test_keyOrder(self) -> None:
        """
        Keys come in Go's struct order, with no topology keys.
        """
        reply = identifyResponse(negotiate({}), LIMITS, "1.3.0")
        pairs = json.loads(reply, object_pairs_hook=lambda p: p)
        self.assertEqual([key for key, _ in pairs], GO_KEY_ORDER)

    def test_compact(self) -> None:
        """
        The JSON has no spaces, like Go's C{json.Marshal}.
        """
        reply = identifyResponse(negotiate({"user_agent": "a b"}), LIMITS, "1.3.0")
        self.assertNotIn(b" ", reply)
        self.assertNotIn(b"\n", reply)

    def test_values(self) -> None:
        """
        The reply carries the limits and the negotiated values.
        """
        limits = IdentifyLimits(maxRdyCount=7, maxMsgTimeout=5000, authRequired=True)
        result = negotiate(
            {"msg_timeout": 2000, "sample_rate": 3, "output_buffer_size": 100}, limits
        )
        self.assertEqual(
            json.loads(identifyResponse(result, limits, "9.9")),
            {
                "max_rdy_count": 7,
                "version": "9.9",
                "max_msg_timeout": 5000,
                "msg_timeout": 2000,
                "tls_v1": False,
                "deflate": False,
                "deflate_level": 6,
                "max_deflate_level": 6,
                "snappy": False,
                "sample_rate": 3,
                "auth_required": True,
                "output_buffer_size": 100,
                "output_buffer_timeout": 250,
            },
        )

    def test_golden(self) -> None:
        """
        For each recording that negotiated features with a single IDENTIFY,
        the reply built from its body is the recorded frame's data.
        """
        for name in (
            "identify_feature_negotiation",
            "identify_feature_negotiation_custom",
            "identify_output_buffer_disabled",
        ):
            body = identifyBody(goldenSent(name))
            [frame] = list(goldenFrames(name))
            reply = identifyResponse(negotiateIdentify(body, LIMITS), LIMITS, "1.3.0")
            self.assertEqual(reply, frame[8:], name)

    def test_goldenErrors(self) -> None:
        """
        Every IDENTIFY-value error in the recordings has Go's exact text.
        """
        errors = goldenErrors()
        for name in sorted(IDENTIFY_GOLDEN):
            body = identifyBody(goldenSent(name))
            error = self.assertRaises(ProtocolError, negotiateIdentify, body, LIMITS)
            self.assertEqual(error.wireText(), errors[name], name)

    def test_goldenAccepted(self) -> None:
        """
        Every IDENTIFY body that Go answered with C{OK} negotiates.
        """
        for name, recording in goldenRecordings().items():
            if not name.startswith("identify_"):
                continue
            if name in IDENTIFY_GOLDEN or name in DECODER_GOLDEN:
                continue
            if any("fill_from" in s for s in recording["steps"]):
                continue
            sent = goldenSent(name)
            if sent.startswith(b"IDENTIFY\n"):
                negotiateIdentify(identifyBody(sent), LIMITS)


class GoPrintTests(SynchronousTestCase):
    """
    L{decodeIdentify} and L{formatIdentify}: what nsqd logs of an IDENTIFY
    (Go's C{[<client>] IDENTIFY: %+v} of its C{identifyDataV2}).
    """

    def test_format(self) -> None:
        """
        Every field in Go's order, strings unquoted, booleans as Go's
        C{true}/C{false}; keys are matched as Go matches them (any case).
        """
        data = decodeIdentify(
            b'{"CLIENT_ID":"a b","hostname":"h","heartbeat_interval":1000,'
            b'"feature_negotiation":true,"snappy":true,"sample_rate":5,'
            b'"user_agent":"go-nsq/1.1.0","unknown":1}'
        )
        self.assertEqual(
            formatIdentify(data),
            "{ClientID:a b Hostname:h HeartbeatInterval:1000 OutputBufferSize:0 "
            "OutputBufferTimeout:0 FeatureNegotiation:true TLSv1:false "
            "Deflate:false DeflateLevel:0 Snappy:true SampleRate:5 "
            "UserAgent:go-nsq/1.1.0 MsgTimeout:0}",
        )

    def test_decodedNegotiates(self) -> None:
        """
        L{negotiateIdentify} takes what L{decodeIdentify} made of a body as
        it takes the body.
        """
        body = json.dumps({"heartbeat_interval": 2000, "msg_timeout": 5000}).encode()
        self.assertEqual(
            negotiateIdentify(decodeIdentify(body), LIMITS),
            negotiateIdentify(body, LIMITS),
        )

    def test_undecodable(self) -> None:
        """
        A body that is not JSON fails to decode with Go's error, before
        anything could be logged.
        """
        error = self.assertRaises(ProtocolError, decodeIdentify, b"{")
        self.assertEqual(
            error.wireText(), b"E_BAD_BODY IDENTIFY failed to decode JSON body"
        )
