"""
Tests for L{txnsq._go.values}: Go's durations, numbers and C{%q} quoting.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txnsq._go.values import (
    RANGE,
    SYNTAX,
    NumError,
    formatDuration,
    formatDurationNanoseconds,
    goQuote,
    parseDuration,
    parseDurationNanoseconds,
    parseInt,
)

_SIMPLE = {
    "a": 0x07,
    "b": 0x08,
    "f": 0x0C,
    "n": 0x0A,
    "r": 0x0D,
    "t": 0x09,
    "v": 0x0B,
    "\\": 0x5C,
    '"': 0x22,
}


def goUnquote(text: str) -> bytes:
    """
    Parse a Go double-quoted string literal back into bytes (the escapes
    C{strconv.Quote} produces).
    """
    assert text[0] == text[-1] == '"', text
    body = text[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            assert ch != '"', text
            out += ch.encode("utf-8")
            i += 1
            continue
        kind = body[i + 1]
        if kind in _SIMPLE:
            out.append(_SIMPLE[kind])
            i += 2
        elif kind == "x":
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        elif kind == "u":
            out += chr(int(body[i + 2 : i + 6], 16)).encode("utf-8")
            i += 6
        elif kind == "U":
            out += chr(int(body[i + 2 : i + 10], 16)).encode("utf-8")
            i += 10
        else:
            raise AssertionError(f"unknown escape in {text!r}")
    return bytes(out)


class GoQuoteTests(SynchronousTestCase):
    """
    L{goQuote} quotes bytes as Go's C{%q} (C{strconv.Quote}) does.
    """

    def test_examples(self) -> None:
        """
        Known C{%q} outputs.
        """
        cases = [
            (b"", '""'),
            (b"bad!topic", '"bad!topic"'),
            (b'a"b', '"a\\"b"'),
            (b"a\\b", '"a\\\\b"'),
            (b"\x00", '"\\x00"'),
            (b"\x07\x08\x0c\n\r\t\x0b", '"\\a\\b\\f\\n\\r\\t\\v"'),
            (b"\x1b", '"\\x1b"'),
            (b"\x7f", '"\\x7f"'),
            (b"\xff", '"\\xff"'),
            (b"a b", '"a b"'),
            ("café".encode(), '"café"'),
            ("\u00a0".encode(), '"\\u00a0"'),
            ("\u00ad".encode(), '"\\u00ad"'),
            ("\u2028".encode(), '"\\u2028"'),
            ("\U0001f600".encode(), '"\U0001f600"'),
            ("\U000e0001".encode(), '"\\U000e0001"'),
            # An encoded surrogate is invalid UTF-8: three escaped bytes.
            (b"\xed\xa0\x80", '"\\xed\\xa0\\x80"'),
            # A truncated sequence likewise.
            (b"\xc3", '"\\xc3"'),
        ]
        for data, expected in cases:
            self.assertEqual(goQuote(data), expected, data)

    def test_golden(self) -> None:
        """
        The 65-character topic and the double suffix are quoted as in the
        recordings.
        """
        self.assertEqual(goQuote(b"t" * 65), '"' + "t" * 65 + '"')
        self.assertEqual(goQuote(b"x#ephemeral#ephemeral"), '"x#ephemeral#ephemeral"')

    @given(st.binary(max_size=40))
    def test_roundTripBytes(self, data: bytes) -> None:
        """
        Unquoting the result gives back the bytes, and the result has no raw
        control characters.
        """
        quoted = goQuote(data)
        self.assertEqual(goUnquote(quoted), data)
        self.assertFalse(any(ord(c) < 0x20 or ord(c) == 0x7F for c in quoted))

    @given(st.text(max_size=20))
    def test_roundTripText(self, text: str) -> None:
        """
        Valid UTF-8 text survives quoting; printable characters stay as they
        are and others are escaped.
        """
        data = text.encode("utf-8", "surrogatepass")
        quoted = goQuote(data)
        self.assertEqual(goUnquote(quoted), data)
        for ch in text:
            if ch.isprintable() and ch not in '"\\' and not 0xD800 <= ord(ch) < 0xE000:
                self.assertIn(ch, quoted)


class DurationTests(SynchronousTestCase):
    """
    Go's C{time.ParseDuration} and C{Duration.String}.
    """

    def test_parse(self) -> None:
        """
        Every unit, fractions, signs and combined units parse to seconds as
        Go parses them.
        """
        cases = {
            "0": 0.0,
            "1m30s": 90.0,
            "250ms": 0.25,
            "2h": 7200.0,
            "1.5s": 1.5,
            "300us": 0.0003,
            "300\u00b5s": 0.0003,
            "300\u03bcs": 0.0003,
            "7ns": 7e-9,
            "-1s": -1.0,
            "+5s": 5.0,
            ".5s": 0.5,
            "1.s": 1.0,
            "1h2m3s": 3723.0,
        }
        for text, seconds in cases.items():
            self.assertAlmostEqual(parseDuration(text), seconds, msg=text)

    def test_parseExactNanoseconds(self) -> None:
        """
        Parsing is exact in nanoseconds, fractions included.
        """
        self.assertEqual(parseDurationNanoseconds("1h2m3s4ms5us6ns"), 3723004005006)
        self.assertEqual(parseDurationNanoseconds("1.000000001s"), 1000000001)

    def test_parseErrors(self) -> None:
        """
        Malformed durations raise C{ValueError} with Go's messages.
        """
        cases = {
            "": 'time: invalid duration ""',
            "1": 'time: missing unit in duration "1"',
            "s": 'time: invalid duration "s"',
            ".s": 'time: invalid duration ".s"',
            "1x": 'time: unknown unit "x" in duration "1x"',
            "1s ": 'time: unknown unit "s " in duration "1s "',
            "-": 'time: invalid duration "-"',
            "3000000h": 'time: invalid duration "3000000h"',
        }
        for text, message in cases.items():
            with self.assertRaises(ValueError, msg=text) as raised:
                parseDuration(text)
            self.assertEqual(str(raised.exception), message)

    def test_format(self) -> None:
        """
        Durations print as Go's C{Duration.String} prints them (these are
        the texts Go's usage shows for nsqd's defaults).
        """
        cases = {
            0.0: "0s",
            60.0: "1m0s",
            90.0: "1m30s",
            0.25: "250ms",
            0.025: "25ms",
            3600.0: "1h0m0s",
            600.0: "10m0s",
            900.0: "15m0s",
            1.5: "1.5s",
            2.0: "2s",
            0.0003: "300\u00b5s",
            1e-9: "1ns",
            -2.0: "-2s",
        }
        for seconds, text in cases.items():
            self.assertEqual(formatDuration(seconds), text)

    @given(st.integers(min_value=-(2**62), max_value=2**62))
    def test_roundTrip(self, nanoseconds: int) -> None:
        """
        Whatever Go would print parses back to the same duration.
        """
        text = formatDurationNanoseconds(nanoseconds)
        self.assertEqual(parseDurationNanoseconds(text), nanoseconds)


class ValueSyntaxTests(SynchronousTestCase):
    """
    Go's integer parsing and C{%q} quoting.
    """

    def test_integers(self) -> None:
        """
        Integers accept Go's base prefixes, leading-zero octal and
        underscores, as C{strconv.ParseInt(s, 0, 64)}.
        """
        cases = {"10": 10, "-3": -3, "0x1f": 31, "0o17": 15, "017": 15, "0b101": 5}
        cases["1_000"] = 1000
        cases["0"] = 0
        for text, value in cases.items():
            self.assertEqual(parseInt(text), value, text)

    def test_integerErrors(self) -> None:
        """
        Bad integers fail with C{invalid syntax}; too large ones with C{value out
        of range}, C{strconv}'s reasons.
        """
        for text in ("", "ten", "1.5", "08", "1__0", "_1", " 1"):
            with self.assertRaises(NumError, msg=text) as raised:
                parseInt(text)
            self.assertEqual(str(raised.exception), SYNTAX)
        with self.assertRaises(NumError) as raised:
            parseInt("9223372036854775808")
        self.assertEqual(str(raised.exception), RANGE)

    def test_decimalIntegers(self) -> None:
        """
        Base 10 takes an optional sign and plain digits only, as
        C{strconv.ParseInt(s, 10, bits)}, and checks the range for C{bits}.
        """
        self.assertEqual(parseInt("+017", base=10), 17)
        self.assertEqual(parseInt("-5", base=10), -5)
        for text in ("0x1f", "1_000", "", "+", " 1", "1.0"):
            with self.assertRaises(NumError, msg=text) as raised:
                parseInt(text, base=10)
            self.assertEqual(str(raised.exception), SYNTAX)
        with self.assertRaises(NumError) as raised:
            parseInt("2147483648", base=10, bits=32)
        self.assertEqual(str(raised.exception), RANGE)
        self.assertEqual(parseInt("-2147483648", base=10, bits=32), -(2**31))

    def test_goQuote(self) -> None:
        """
        Strings in messages are quoted as Go's C{%q} quotes them.
        """
        self.assertEqual(goQuote('a"b\\c\n\x01'), '"a\\"b\\\\c\\n\\x01"')
        self.assertEqual(goQuote("a\udcffb"), '"a\\xffb"')
        self.assertEqual(goQuote("\a\u00ad"), '"\\a\\u00ad"')
