"""
Tests for L{txnsq._go.json}: JSON as Go 1.19's C{json.Marshal} writes it.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any, Callable

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txnsq._go.json import (
    EncodedJSON,
    UnsupportedValueError,
    _encode,
    encodeJSON,
    formatFloat,
    quoteString,
)

# JSON values with the strings and floats where Go and the standard
# library differ: HTML characters, control characters, U+2028, integral
# and tiny or huge floats, lone surrogates.
_TEXT = st.text(
    alphabet=st.sampled_from(list('ab<>&"\\\b\f\n\x01\u2028\u2029é1.0e+-:,[]{}\udcff'))
)
_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1.0, -0.0, 1e-05, 1e16, 1e21, 0.5])
    | _TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4)
    ),
    max_leaves=12,
).filter(lambda v: isinstance(v, (list, dict)))


# Dictionary keys of every type the standard encoder takes: Go has no
# map[float64]T or map[bool]T, so the exact encoder refuses floats, bools
# and None, which the standard one would write as strings.
_KEYS = (
    _TEXT
    | st.integers()
    | st.floats()
    | st.sampled_from([True, False, None, 1.0, -0.0, 1.5, 1e16, 1e-07, "true"])
)
_KEYED = st.recursive(
    st.dictionaries(_KEYS, st.none() | st.integers() | _TEXT, max_size=3),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(_KEYS, children, max_size=3)
    ),
    max_leaves=8,
)


class _Color(enum.IntEnum):
    RED = 1


def _outcome(encode: Callable[[], bytes]) -> object:
    """
    What an encoding gives: its bytes, or the type of its exception.
    """
    try:
        return encode()
    except Exception as e:
        return type(e)


def _exact(value: Any) -> bytes:
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")


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
        self.assertEqual(encodeJSON({"k": [text]}), b'{"k":["a\\ufffd\\ufffdb"]}')

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
        self.assertRaises(TypeError, encodeJSON, {(1,): 2})
        self.assertRaises(TypeError, encodeJSON, object())
        self.assertRaises(TypeError, encodeJSON, [object()])

    def test_integerKeys(self) -> None:
        """
        Integer keys are strings, as Go writes a C{map[int]T}.
        """
        self.assertEqual(
            encodeJSON({1: 2, "a": {-3: [1.0]}}), b'{"1":2,"a":{"-3":[1]}}'
        )

    def test_keysGoRefuses(self) -> None:
        """
        Float, bool and None keys are refused (Go has no such maps) whether
        or not the standard encoder's fast path would take them; a string
        key that reads like one is written.  An C{IntEnum} key is its
        number.
        """
        for key in [1.5, -0.0, 1.0, 1e16, 1e-07, float("inf"), True, False, None]:
            for value in [{key: 1}, [{"a": {key: None}}]]:
                self.assertRaises(TypeError, encodeJSON, value)
                self.assertRaises(TypeError, _exact, value)
        self.assertEqual(
            encodeJSON({"true": 1, "t.1": 2, "1e+16": 3}),
            b'{"true":1,"t.1":2,"1e+16":3}',
        )
        self.assertEqual(encodeJSON({_Color.RED: [_Color.RED]}), b'{"1":[1]}')
        self.assertEqual(_exact({_Color.RED: [_Color.RED]}), b'{"1":[1]}')

    @given(_KEYED)
    def test_fastPathKeys(self, value: Any) -> None:
        """
        Whatever the keys, L{encodeJSON} agrees with the exact encoder: the
        same bytes or the same exception.
        """
        self.assertEqual(
            _outcome(lambda: encodeJSON(value)), _outcome(lambda: _exact(value))
        )

    @given(_VALUES)
    def test_fastPathExact(self, value: Any) -> None:
        """
        Objects and arrays go through the standard library's encoder first;
        the bytes are always the exact encoder's (Go's).
        """
        exact: list[str] = []
        _encode(value, exact)
        self.assertEqual(encodeJSON(value), "".join(exact).encode("utf-8"))


class FormatFloatTests(SynchronousTestCase):
    """
    L{formatFloat}'s fast path for whole floats.
    """

    @given(
        st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1).map(float)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.sampled_from([0.0, -0.0, 2.0**53, -(2.0**53), 1e20, 9.5])
    )
    def test_wholeFloats(self, value: float) -> None:
        """
        Below 1e21, every float is written as Python's shortest repr
        through C{Decimal} writes it without an exponent.
        """
        if value != 0 and (abs(value) < 1e-6 or abs(value) >= 1e21):
            return
        self.assertEqual(
            formatFloat(value), format(Decimal(repr(value)).normalize(), "f")
        )


class EncodedTextTests(SynchronousTestCase):
    """
    L{quoteString} and L{EncodedJSON}, for answers written as text.
    """

    @given(_TEXT)
    def test_quoteString(self, value: str) -> None:
        """
        A string is quoted as L{encodeJSON} writes it inside a list.
        """
        self.assertEqual(
            ("[" + quoteString(value) + "]").encode("utf-8"), encodeJSON([value])
        )

    def test_encoded(self) -> None:
        """
        Encoded text is written as is, alone or inside objects and arrays
        (which then take the exact encoder: the standard one refuses it).
        """
        raw = EncodedJSON(b'{"a":[1,"\\u003c"]}')
        self.assertIs(encodeJSON(raw), raw.data)
        self.assertEqual(
            encodeJSON({"x": raw, "y": [raw, 1.0]}),
            b'{"x":{"a":[1,"\\u003c"]},"y":[{"a":[1,"\\u003c"]},1]}',
        )
        self.assertEqual(repr(EncodedJSON(b"1")), "EncodedJSON(b'1')")
