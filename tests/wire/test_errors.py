"""
Tests for L{txnsq.wire.errors}: error codes, fatality and Go's C{%q}.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txnsq.wire.errors import (
    E_BAD_PROTOCOL,
    E_FIN_FAILED,
    E_INVALID,
    E_REQ_FAILED,
    E_TOUCH_FAILED,
    ProtocolError,
    goQuote,
)

from ._support import ALL_CODES

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


class ProtocolErrorTests(SynchronousTestCase):
    """
    L{ProtocolError}: code, text and fatality.
    """

    def test_nonFatal(self) -> None:
        """
        Only FIN, REQ and TOUCH failures are non-fatal.
        """
        nonFatal = {code for code in ALL_CODES if not ProtocolError(code, "x").fatal}
        self.assertEqual(nonFatal, {E_FIN_FAILED, E_REQ_FAILED, E_TOUCH_FAILED})

    def test_wireText(self) -> None:
        """
        The frame data is the code, a space and the description.
        """
        self.assertEqual(
            ProtocolError(E_INVALID, "invalid command FOO").wireText(),
            b"E_INVALID invalid command FOO",
        )
        # An empty description still has the space (golden empty_line).
        self.assertEqual(
            ProtocolError(E_INVALID, "invalid command ").wireText(),
            b"E_INVALID invalid command ",
        )

    def test_badProtocol(self) -> None:
        """
        C{E_BAD_PROTOCOL} carries no description and no trailing space.
        """
        self.assertEqual(ProtocolError(E_BAD_PROTOCOL).wireText(), b"E_BAD_PROTOCOL")

    def test_rawBytes(self) -> None:
        """
        Undecodable bytes echoed in a text go out as the original bytes.
        """
        name = b"\xff".decode("utf-8", "surrogateescape")
        self.assertEqual(
            ProtocolError(E_INVALID, f"invalid command {name}").wireText(),
            b"E_INVALID invalid command \xff",
        )

    def test_silent(self) -> None:
        """
        C{silent} is off unless asked for.
        """
        self.assertFalse(ProtocolError(E_INVALID, "x").silent)
        self.assertTrue(ProtocolError("", "line too long", silent=True).silent)
