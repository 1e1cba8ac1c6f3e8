# -*- test-case-name: tests._go.test_json -*-
"""
JSON exactly as Go 1.19's C{encoding/json.Marshal} writes it.

Clients and the golden recordings compare bytes, and Go differs from
C{json.dumps} in small ways: it escapes C{<}, C{>}, C{&}, U+2028 and U+2029,
writes control characters other than C{\\n}, C{\\r}, C{\\t} as C{\\u00XX}
(C{\\b} and C{\\f} included), replaces invalid UTF-8 with C{\\ufffd},
prints whole floats without a fraction (C{1}, not C{1.0}) and never uses
an exponent between 1e-6 and 1e21.

Objects keep the insertion order of the C{dict}: build them in struct field
order for Go structs and in sorted order for Go maps.  Integer keys are
written as strings, as Go writes a C{map[int]T}.  Standard library only,
so the sans-I/O modules can use it.

Objects and arrays are first encoded by the standard library's C encoder
(large answers -- an nsqd's C{/stats}, nsqadmin's pages -- are several
times faster so); when its output holds anything Go would write otherwise
(a character Go escapes, C{\\b} or C{\\f}, a float ending in C{.0} or
with an exponent), the value is encoded again here, exactly.

A large answer can also be written as text directly (nsqd's C{/stats},
see L{txnsq.nsqd.stats.statsJSON}): L{quoteString} gives a string as Go
writes it, and L{EncodedJSON} carries the finished bytes through
L{encodeJSON} unchanged.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f<>&\u2028\u2029\ud800-\udfff]')

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


_STANDARD = json.JSONEncoder(
    ensure_ascii=False,
    separators=(",", ":"),
    allow_nan=False,
    check_circular=False,
)

# What in the standard encoder's output Go writes otherwise: characters Go
# escapes (and lone surrogates), the \b and \f escapes (Go: \u0008,
# \u000c), floats with an exponent or a ".0" (numbers follow ":", ","
# or "["), and float keys, which Go refuses (it has no map[float64]T) but
# the standard encoder writes as their repr ("1.5", "1e+16").  A match
# inside a string only costs the exact encoding.
_NOT_GO = re.compile(
    "[<>&\u2028\u2029\ud800-\udfff]"
    r"|\\[bf]"
    r"|[:,\[]-?\d+(?:\.\d+)?[eE]"
    r"|[:,\[]-?\d+\.0[,\]}]"
    r'|\d(?:\.\d+|[eE][+-]\d+)":'
)

# The same test, mostly as fast substring scans: the regular expression
# costs 30-40 ns a character (60 ms for a 1.4 MB /stats).  Characters and
# escapes Go writes otherwise are looked for directly; lone surrogates fail
# to encode; and _NOT_GO's float branches cannot match a number (outside a
# string) without "e+" or "e-" (the standard encoder's exponents) or ".0"
# before ",", "]" or "}", nor its float-key branch without "e+", "e-" or
# ".<digits>\":", so the expression runs only when one is present.  Those
# with a dot are one expression that starts with a literal, which the
# engine scans for as fast as a substring (three substring scans cost
# three times as much).
_MAYBE_GO_DOT = re.compile(r'\.(?:0[,\]}]|\d+":)')


def _maybeNotGo(text: str) -> bool:
    # Whether text holds a character or escape Go writes otherwise, or a
    # key the exact encoder refuses (Go has no map[bool]T) but the standard
    # one writes as a string: True, False and None as "true", "false" and
    # "null" (a string key that merely reads so only costs the exact
    # encoding).  Spelled out rather than any() over tuples: the generators
    # cost more than the scans when many small values are encoded (each
    # /stats channel's clients).
    return (
        "<" in text
        or ">" in text
        or "&" in text
        or "\u2028" in text
        or "\u2029" in text
        or "\\b" in text
        or "\\f" in text
        or '"true":' in text
        or '"false":' in text
        or '"null":' in text
    )


class UnsupportedValueError(ValueError):
    """
    Go cannot encode this value (NaN or an infinity); the message is Go's
    error text, which nsq's HTTP API reports as a 500 message.
    """


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    escaped = _ESCAPES.get(char)
    if escaped is not None:
        return escaped
    code = ord(char)
    if code < 0x20:
        return f"\\u{code:04x}"
    # A lone surrogate: an invalid UTF-8 byte kept by surrogateescape, or
    # an unpaired escape from a decoded document.  Go writes U+FFFD.
    return "\\ufffd"


def _string(value: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(_escape, value) + '"'


def quoteString(value: str) -> str:
    """
    C{value} as a JSON string, quotes included, as Go writes it (see the
    module's docstring for how that differs from C{json.dumps}).
    """
    return _string(value)


class EncodedJSON:
    """
    A value already encoded as Go's C{json.Marshal} writes it, which
    L{encodeJSON} writes as is (alone or inside a C{dict} or C{list}):
    for answers built directly as text, whose bytes the builder is
    responsible for.

    @ivar data: the UTF-8 JSON text.
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"EncodedJSON({self.data!r})"


# Whole floats of smaller magnitude are exact integers in binary.
_EXACT_WHOLE = 2.0**53


def formatFloat(value: float) -> str:
    """
    A float64 as Go's JSON encoder prints it.

    @raise UnsupportedValueError: for NaN and infinities.
    """
    if math.isnan(value) or math.isinf(value):
        text = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        raise UnsupportedValueError(f"json: unsupported value: {text}")
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        # Python's repr is the shortest round-trip form, like Go's -1
        # precision; Go then trims "e-07" to "e-7".
        text = repr(value)
        return re.sub(r"e([+-])0(\d)$", r"e\1\2", text)
    if magnitude < _EXACT_WHOLE and value.is_integer():
        # Exact in binary, so its digits are the shortest form too; ten
        # times faster than through Decimal (latency values are whole
        # nanoseconds, thousands of them in a /stats).
        if value == 0 and math.copysign(1.0, value) < 0:
            return "-0"
        return str(int(value))
    return format(Decimal(repr(value)).normalize(), "f")


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, EncodedJSON):
        out.append(value.data.decode("utf-8"))
    elif isinstance(value, str):
        out.append(_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(formatFloat(value))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in value.items():
            if isinstance(key, int) and not isinstance(key, bool):
                # int's own digits, as the standard encoder writes an
                # IntEnum key (its str() is "Color.RED" before 3.11).
                key = str(int(key))
            elif not isinstance(key, str):
                raise TypeError(f"JSON object keys must be str, not {key!r}")
            if not first:
                out.append(",")
            first = False
            out.append(_string(key))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def encodeJSON(value: Any) -> bytes:
    """
    Encode C{value} (C{dict}, C{list}, C{tuple}, C{str}, C{int}, C{float},
    C{bool}, C{None}, L{EncodedJSON}) as Go's C{json.Marshal} would.

    @raise UnsupportedValueError: a NaN or infinite float.
    @raise TypeError: a value JSON cannot hold.
    """
    if type(value) is EncodedJSON:
        return value.data
    if isinstance(value, (dict, list)):
        try:
            text = _STANDARD.encode(value)
        except (ValueError, TypeError):
            # NaN, infinities, unknown types: the exact encoder says so.
            pass
        else:
            if not _maybeNotGo(text) and (
                (
                    "e+" not in text
                    and "e-" not in text
                    and _MAYBE_GO_DOT.search(text) is None
                )
                or _NOT_GO.search(text) is None
            ):
                try:
                    return text.encode("utf-8")
                except UnicodeEncodeError:
                    pass  # a lone surrogate: Go writes U+FFFD
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")
