# -*- test-case-name: tests.nsqd.test_authorizations,tests.nsqd.test_auth -*-
"""
What an auth server answered for a client's secret, and the checks of topics
and channels against that answer (Go's C{auth.State} and C{IsAllowed}).

Plain Python, so that the connection's state (L{txnsq.nsqd._clientv2}) and
C{/stats} can hold and read an answer without importing the HTTP client
that asks for it (L{txnsq.nsqd.auth}).
"""

from __future__ import annotations

import json
import re

import attrs

from txnsq._go.json import encodeJSON

__all__ = ["AuthError", "Authorization", "Authorizations", "parseAuthReply"]

_PERMISSIONS = frozenset({"subscribe", "publish"})


class AuthError(Exception):
    """
    The auth servers could not give a valid answer.
    """


@attrs.frozen
class Authorization:
    """
    One entry of the auth server's C{authorizations} list.
    """

    topic: re.Pattern[str]
    channels: tuple[re.Pattern[str], ...]
    permissions: frozenset[str]

    def allows(self, topic: str, channel: str) -> bool:
        """
        Go's C{IsAllowed}: a channel means subscribing, none publishing;
        regexes match anywhere in the name unless anchored.
        """
        needed = "subscribe" if channel else "publish"
        if needed not in self.permissions:
            return False
        if self.topic.search(topic) is None:
            return False
        return any(pattern.search(channel) is not None for pattern in self.channels)


@attrs.frozen
class Authorizations:
    """
    A parsed auth server reply.

    @ivar expires: when to ask again (the clock's seconds).
    """

    identity: str
    identityURL: str
    expires: float
    entries: tuple[Authorization, ...]

    def allows(self, topic: str, channel: str) -> bool:
        """
        Whether any entry grants this topic and channel.
        """
        return any(entry.allows(topic, channel) for entry in self.entries)

    def reply(self) -> bytes:
        """
        What nsqd answers AUTH with (Go's JSON encoding).
        """
        return encodeJSON(
            {
                "identity": self.identity,
                "identity_url": self.identityURL,
                "permission_count": len(self.entries),
            }
        )


def _string(value: object, what: str) -> str:
    # Go decodes into string fields: null leaves "", anything else fails.
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AuthError(f"{what} is not a string")
    return value


def _strings(value: object, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise AuthError(f"{what} is not a list")
    return [_string(item, what) for item in value]


# RE2 (Go's regexp) has no lookaround and no backreferences; Python's re
# would accept them and grant what Go refuses.
_NOT_RE2 = re.compile(r"\(\?[=!]|\(\?<[=!]|\\[1-9]|\(\?P=")


def _compile(pattern: str) -> re.Pattern[str]:
    if _NOT_RE2.search(pattern):
        raise AuthError(f"regex {pattern!r} is not RE2 syntax")
    # RE2's \z (end of text) is Python's \Z.
    return re.compile(pattern.replace("\\z", "\\Z"))


def parseAuthReply(body: bytes, now: float) -> Authorizations:
    """
    Validate an auth server's JSON as Go does: its field types, known
    permissions only, regexes that compile, a positive TTL.

    @raise AuthError: anything else.
    """
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise AuthError("auth reply is not an object")
        ttl = data.get("ttl")
        if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0:
            raise AuthError(f"invalid TTL {ttl!r}")
        items = data.get("authorizations")
        if items is not None and not isinstance(items, list):
            raise AuthError("authorizations is not a list")
        entries = []
        for item in items or ():
            if not isinstance(item, dict):
                raise AuthError("authorization is not an object")
            permissions = frozenset(_strings(item.get("permissions"), "permissions"))
            unknown = permissions - _PERMISSIONS
            if unknown:
                raise AuthError(f"unknown permission {sorted(unknown)[0]!r}")
            entries.append(
                Authorization(
                    _compile(_string(item.get("topic"), "topic")),
                    tuple(
                        _compile(c) for c in _strings(item.get("channels"), "channels")
                    ),
                    permissions,
                )
            )
        return Authorizations(
            _string(data.get("identity"), "identity"),
            _string(data.get("identity_url"), "identity_url"),
            now + ttl,
            tuple(entries),
        )
    except AuthError:
        raise
    except (ValueError, re.error) as e:
        raise AuthError(f"invalid auth reply: {e}") from None
