# -*- test-case-name: tests._go.test_values -*-
"""
Go's value syntax: C{%q} quoting, C{time.Duration} text, C{strconv}
numbers and booleans, and C{%v} floats.

Go NSQ prints and parses these in flags, config files, HTTP parameters and
error texts, and clients and scripts compare the bytes.  Standard library
only, so the sans-IO core can use it.
"""

from __future__ import annotations

import re

__all__ = [
    "RANGE",
    "SYNTAX",
    "NumError",
    "formatDuration",
    "formatDurationNanoseconds",
    "formatFloat",
    "goQuote",
    "parseBool",
    "parseDuration",
    "parseDurationNanoseconds",
    "parseFloat",
    "parseInt",
]


_NS_PER_UNIT = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # MICRO SIGN
    "\u03bcs": 1_000,  # GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}

# Go's time.Duration is an int64 of nanoseconds.
_MAX_DURATION_NS = (1 << 63) - 1


def goQuote(value: str | bytes) -> str:
    """
    Quote C{value} as Go's C{%q} verb (C{strconv.Quote}) does, for names
    and values echoed in error texts.

    Bytes that are not UTF-8 become C{\\xNN}, as in Go.  Text given as
    C{str} may carry such bytes as surrogate escapes (Python decodes
    C{argv} that way), and they are quoted the same.
    """
    text = (
        value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
    )
    out = ['"']
    for ch in text:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif o <= 0xFFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def parseDurationNanoseconds(text: str) -> int:
    """
    Parse a Go duration (C{"1m30s"}, C{"250ms"}, C{"1.5h"}, C{"0"}) into
    nanoseconds, like Go's C{time.ParseDuration}.

    @raise ValueError: with Go's message, e.g.
        C{time: missing unit in duration "1"}.
    """
    original = text
    quoted = goQuote(original)
    negative = False
    if text and text[0] in "+-":
        negative = text[0] == "-"
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0
    while text:
        if not (text[0] == "." or (text[0].isascii() and text[0].isdigit())):
            raise ValueError(f"time: invalid duration {quoted}")
        match = re.match(r"([0-9]*)(?:\.([0-9]*))?", text)
        assert match is not None  # the pattern can match the empty string
        whole, fraction = match.group(1), match.group(2)
        if not whole and not fraction:
            # "." or ".s": a dot with no digits on either side
            raise ValueError(f"time: invalid duration {quoted}")
        text = text[match.end() :]
        unitEnd = 0
        while unitEnd < len(text) and not (
            text[unitEnd] == "."
            or (text[unitEnd].isascii() and text[unitEnd].isdigit())
        ):
            unitEnd += 1
        unit, text = text[:unitEnd], text[unitEnd:]
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        scale = _NS_PER_UNIT.get(unit)
        if scale is None:
            raise ValueError(f"time: unknown unit {goQuote(unit)} in duration {quoted}")
        value = int(whole or "0") * scale
        if fraction:
            value += int(fraction) * scale // 10 ** len(fraction)
        total += value
        if total > _MAX_DURATION_NS + (1 if negative else 0):
            raise ValueError(f"time: invalid duration {quoted}")
    return -total if negative else total


def parseDuration(text: str) -> float:
    """
    Parse a Go duration into float seconds.

    @raise ValueError: see L{parseDurationNanoseconds}.
    """
    return parseDurationNanoseconds(text) / 1e9


def _fraction(value: int, precision: int) -> tuple[str, int]:
    """
    Split C{value} into a C{.ddd} fraction of C{10**precision} (trailing
    zeros dropped, empty when zero) and the whole part, as Go's C{fmtFrac}.
    """
    whole, rest = divmod(value, 10**precision)
    if rest == 0:
        return "", whole
    return "." + str(rest).rjust(precision, "0").rstrip("0"), whole


def formatDuration(seconds: float) -> str:
    """
    Format float seconds as Go's C{time.Duration.String} does (C{"1m0s"},
    C{"250ms"}, C{"1h0m0s"}, C{"0s"}).
    """
    return formatDurationNanoseconds(round(seconds * 1e9))


def formatDurationNanoseconds(nanoseconds: int) -> str:
    """
    Format nanoseconds as Go's C{time.Duration.String} does.
    """
    sign = "-" if nanoseconds < 0 else ""
    remaining = abs(nanoseconds)
    if remaining == 0:
        return "0s"
    if remaining < 1_000_000_000:
        if remaining < 1_000:
            return f"{sign}{remaining}ns"
        if remaining < 1_000_000:
            fraction, whole = _fraction(remaining, 3)
            return f"{sign}{whole}{fraction}\u00b5s"
        fraction, whole = _fraction(remaining, 6)
        return f"{sign}{whole}{fraction}ms"
    fraction, wholeSeconds = _fraction(remaining, 9)
    text = f"{wholeSeconds % 60}{fraction}s"
    minutes = wholeSeconds // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        hours = minutes // 60
        if hours:
            text = f"{hours}h{text}"
    return sign + text


def parseBool(text: str) -> bool:
    """
    Parse a boolean as Go's C{strconv.ParseBool}: C{1 t T TRUE true True}
    and C{0 f F FALSE false False}.

    @raise ValueError: for anything else.
    """
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f"strconv.ParseBool: parsing {goQuote(text)}: invalid syntax")


class NumError(ValueError):
    """
    A number could not be parsed; the message is Go's C{strconv} reason,
    L{SYNTAX} or L{RANGE}, which each caller words as Go's caller does.
    """


SYNTAX = "invalid syntax"
RANGE = "value out of range"

# strconv.ParseInt's syntax: base 0 takes prefixes, a leading 0 for octal
# and underscores between digits; base 10 takes plain digits only.
_GO_INT = re.compile(
    r"""[+-]?(?:
        0[xX](?:_?[0-9a-fA-F])+
      | 0[bB](?:_?[01])+
      | 0[oO](?:_?[0-7])+
      | 0(?:_?[0-7])*
      | [1-9](?:_?[0-9])*
    )""",
    re.VERBOSE,
)
_DECIMAL = re.compile(r"[+-]?[0-9]+")


def parseInt(text: str, base: int = 0, bits: int = 64) -> int:
    """
    Parse an integer as Go's C{strconv.ParseInt(text, base, bits)}, for
    base 0 (C{0x}/C{0o}/C{0b} prefixes, a leading C{0} for octal,
    underscores between digits) or base 10.

    @raise NumError: L{SYNTAX} or L{RANGE}.
    """
    if base not in (0, 10):
        raise ValueError(f"unsupported base {base}")
    if not (_GO_INT if base == 0 else _DECIMAL).fullmatch(text):
        raise NumError(SYNTAX)
    body = text.lstrip("+-").replace("_", "")
    sign = -1 if text.startswith("-") else 1
    if base == 10:
        value = int(body, 10)
    elif len(body) > 1 and body[0] == "0" and body[1].isdigit():
        value = int(body, 8)
    else:
        value = int(body, 0)
    value *= sign
    limit = 1 << (bits - 1)
    if not -limit <= value < limit:
        raise NumError(RANGE)
    return value


def parseFloat(text: str) -> float:
    """
    Parse a float as Go's C{strconv.ParseFloat} (for the forms NSQ uses).

    @raise NumError: L{SYNTAX} or L{RANGE}.
    """
    if "_" in text or not text.strip() or text != text.strip():
        raise NumError(SYNTAX)
    try:
        value = float(text)
    except ValueError:
        raise NumError(SYNTAX) from None
    if value in (float("inf"), float("-inf")) and "inf" not in text.lower():
        raise NumError(RANGE)
    return value


def formatFloat(value: float) -> str:
    """
    Format a float as Go's C{%v} does for the values NSQ prints (C{1.5},
    C{2}, C{0.99}).
    """
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text
