# -*- test-case-name: tests.wire.test_names -*-
"""
Topic and channel name rules, shared by nsqd and nsqlookupd.
"""

from __future__ import annotations

import re

EPHEMERAL_SUFFIX = "#ephemeral"
MAX_NAME_LENGTH = 64

_NAME = re.compile(rb"[.a-zA-Z0-9_-]+(#ephemeral)?\Z")


def isValidName(name: bytes | str) -> bool:
    """
    Whether C{name} is a valid topic or channel name: 1 to 64 characters
    of C{[.a-zA-Z0-9_-]}, optionally ending in C{#ephemeral} (counted in
    the length).
    """
    raw = name.encode("utf-8", "surrogateescape") if isinstance(name, str) else name
    return 0 < len(raw) <= MAX_NAME_LENGTH and _NAME.match(raw) is not None


isValidTopicName = isValidName
isValidChannelName = isValidName


def isEphemeral(name: str) -> bool:
    """
    Ephemeral topics and channels never touch disk and vanish when unused.
    """
    return name.endswith(EPHEMERAL_SUFFIX)
