"""
Tests for L{txnsq.wire.names}: topic and channel name rules.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txnsq.wire.names import (
    MAX_NAME_LENGTH,
    isEphemeral,
    isValidChannelName,
    isValidName,
    isValidTopicName,
)

# Go's regexp, applied the way Go applies it (whole string, then length).
_GO = re.compile(rb"^[\.a-zA-Z0-9_-]+(#ephemeral)?$")


def goIsValid(name: bytes) -> bool:
    """
    Go nsqd's C{isValidName}, with C{$} meaning the end of the text only.
    """
    return 1 <= len(name) <= 64 and _GO.fullmatch(name) is not None


nameAlphabet = st.sampled_from([*b".-_aZ09#ephmrl", 0x0A, 0x20, 0x21, 0xC3, 0xA9, 0x00])


class NameTests(SynchronousTestCase):
    """
    C{^[.a-zA-Z0-9_-]+(#ephemeral)?$}, 1 to 64 bytes including the suffix.
    """

    def test_length(self) -> None:
        """
        64 characters are accepted, 65 are not (golden C{pub_topic_64_chars}
        and C{pub_topic_65_chars}); the empty name is not.
        """
        self.assertEqual(MAX_NAME_LENGTH, 64)
        self.assertTrue(isValidName(b"t" * 64))
        self.assertFalse(isValidName(b"t" * 65))
        self.assertTrue(isValidName(b"t"))
        self.assertFalse(isValidName(b""))

    def test_ephemeralCountsInLength(self) -> None:
        """
        The C{#ephemeral} suffix counts towards the 64.
        """
        self.assertTrue(isValidName(b"t" * 54 + b"#ephemeral"))
        self.assertFalse(isValidName(b"t" * 55 + b"#ephemeral"))

    def test_ephemeralRules(self) -> None:
        """
        The suffix is allowed once, exactly spelt, after at least one
        character; C{#} is allowed nowhere else.
        """
        self.assertTrue(isValidName(b"x#ephemeral"))
        for bad in (
            b"#ephemeral",
            b"x#ephemeral#ephemeral",
            b"x#Ephemeral",
            b"x#ephemera",
            b"x#ephemeralx",
            b"a#b",
            b"x #ephemeral",
        ):
            self.assertFalse(isValidName(bad), bad)

    def test_characters(self) -> None:
        """
        Letters, digits, C{.}, C{_} and C{-} only.
        """
        self.assertTrue(isValidName(b"a.b_c-D9"))
        self.assertTrue(isValidName(b"..."))
        for bad in (b"bad!topic", b"a b", b"a/b", b"caf\xc3\xa9", b"a:b", b"a\x00"):
            self.assertFalse(isValidName(bad), bad)

    def test_trailingNewline(self) -> None:
        """
        A trailing newline is not accepted (Python's C{$} would allow it,
        Go's does not).
        """
        self.assertFalse(isValidName(b"abc\n"))
        self.assertFalse(isValidName(b"abc#ephemeral\n"))

    def test_str(self) -> None:
        """
        Text names follow the same rules, measured in bytes.
        """
        self.assertTrue(isValidName("topic"))
        self.assertFalse(isValidName("café"))
        self.assertFalse(isValidName("t" * 65))

    def test_aliases(self) -> None:
        """
        Topics and channels share the rule.
        """
        self.assertIs(isValidTopicName, isValidName)
        self.assertIs(isValidChannelName, isValidName)

    @given(st.lists(nameAlphabet, max_size=70).map(bytes))
    def test_matchesGo(self, name: bytes) -> None:
        """
        For any bytes, the verdict is Go's.
        """
        self.assertEqual(isValidName(name), goIsValid(name))

    @given(
        st.from_regex(rb"\A[.a-zA-Z0-9_-]{1,70}(#ephemeral)?\Z"),
    )
    def test_validShapes(self, name: bytes) -> None:
        """
        Names of the right shape are valid exactly when at most 64 bytes.
        """
        self.assertEqual(isValidName(name), len(name) <= 64)

    def test_isEphemeral(self) -> None:
        """
        A name is ephemeral when it ends in C{#ephemeral}.
        """
        self.assertTrue(isEphemeral("t#ephemeral"))
        self.assertFalse(isEphemeral("t"))
        self.assertFalse(isEphemeral("t#ephemeralx"))
