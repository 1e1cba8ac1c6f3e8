"""
Tests for L{txnsq._go.json}: JSON as Go 1.19's C{json.Marshal} writes it.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from txnsq._go.json import UnsupportedValueError, encodeJSON, formatFloat


class EncodeJSONTests(SynchronousTestCase):
    """
    L{encodeJSON} matches Go's bytes.
    """

    def test_compact(self) -> None:
        """
        No spaces; objects keep insertion order; nested values.
        """
        self.assertEqual(
            encodeJSON({"b": [1, True, None], "a": {"x": False}, "c": ()}),
            b'{"b":[1,true,null],"a":{"x":false},"c":[]}',
        )

    def test_htmlEscaped(self) -> None:
        """
        C{<}, C{>}, C{&}, U+2028 and U+2029 are escaped as Go does.
        """
        self.assertEqual(
            encodeJSON("<a&b>\u2028\u2029"),
            b'"\\u003ca\\u0026b\\u003e\\u2028\\u2029"',
        )

    def test_controlCharacters(self) -> None:
        """
        Only C{\\n}, C{\\r} and C{\\t} get short escapes (Go 1.19 writes
        C{\\b} and C{\\f} as C{\\u0008} and C{\\u000c}); DEL and non-ASCII
        are literal.
        """
        self.assertEqual(
            encodeJSON('\n\r\t\b\f\x00\x1f"\\\x7fé'),
            '"\\n\\r\\t\\u0008\\u000c\\u0000\\u001f\\"\\\\\x7fé"'.encode(),
        )

    def test_invalidUTF8(self) -> None:
        """
        Bytes kept by C{surrogateescape} become C{\\ufffd}, one per byte.
        """
        text = b"a\xff\xfeb".decode("utf-8", "surrogateescape")
        self.assertEqual(encodeJSON(text), b'"a\\ufffd\\ufffdb"')

    def test_floats(self) -> None:
        """
        Go prints whole floats without a fraction and uses exponents only
        outside [1e-6, 1e21).
        """
        cases = {
            1.0: "1",
            -0.0: "-0",
            0.5: "0.5",
            0.99: "0.99",
            1e16: "10000000000000000",
            1e20: "100000000000000000000",
            1e21: "1e+21",
            1e-6: "0.000001",
            1e-7: "1e-7",
            1.5e-10: "1.5e-10",
            123456.789: "123456.789",
        }
        for value, text in cases.items():
            self.assertEqual(formatFloat(value), text, value)

    def test_unsupported(self) -> None:
        """
        NaN and infinities fail with Go's message; other types are refused.
        """
        error = self.assertRaises(UnsupportedValueError, encodeJSON, [float("nan")])
        self.assertEqual(str(error), "json: unsupported value: NaN")
        error = self.assertRaises(UnsupportedValueError, encodeJSON, float("-inf"))
        self.assertEqual(str(error), "json: unsupported value: -Inf")
        self.assertRaises(TypeError, encodeJSON, {1: 2})
        self.assertRaises(TypeError, encodeJSON, object())
