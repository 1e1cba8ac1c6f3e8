# -*- test-case-name: tests._go.test_urls -*-
"""
The checks Go's C{net/url.Parse} makes, with its error texts.

go-nsq parses each nsqlookupd HTTP address a tool is given as a URL
(C{http://} put before a bare C{host:port}) and Go's tools end with
whatever C{url.Parse} says is wrong (C{parse "http://h:x": invalid port
":x" after host}), so txnsq's tools check addresses the same way.  Only
what decides between an error and a host is modelled: the scheme, the
authority (user information, host, port), and the escapes in the path and
fragment; nothing is built from the parts.
"""

from __future__ import annotations

import string

from txnsq._go.values import goQuote

__all__ = ["parseURLHost", "urlPort"]

_HEX = frozenset(string.hexdigits)
_ALNUM = frozenset(string.ascii_letters + string.digits)
# What a host (or an IPv6 zone) may hold unescaped besides letters and
# digits; url.shouldEscape's host rules.
_HOST_SAFE = frozenset("!$&'()*+,;=:[]<>\"-_.~")
_USERINFO_SAFE = frozenset("-._:~!$&'()*+,;=%@")

_PATH, _HOST, _ZONE, _OTHER = range(4)


class _Invalid(Exception):
    """
    What C{parse} reports, before the C{parse "url": } prefix.
    """


def _unescape(text: str, mode: int) -> str:
    # Go's url.unescape, for its errors: a bad %-escape, an escaped ASCII
    # control byte in a host, a character a host may not hold.
    out = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "%":
            escape = text[i : i + 3]
            if len(escape) < 3 or not set(escape[1:]) <= _HEX:
                raise _Invalid(f"invalid URL escape {goQuote(escape)}")
            value = int(escape[1:], 16)
            if mode == _HOST and value < 0x80 and escape != "%25":
                raise _Invalid(f"invalid URL escape {goQuote(escape)}")
            if (
                mode == _ZONE
                and escape != "%25"
                and value != 0x20
                and not _hostSafe(chr(value))
            ):
                raise _Invalid(f"invalid URL escape {goQuote(escape)}")
            out.append(chr(value))
            i += 3
            continue
        if mode in (_HOST, _ZONE) and ord(char) < 0x80 and not _hostSafe(char):
            raise _Invalid(f"invalid character {goQuote(char)} in host name")
        out.append(char)
        i += 1
    return "".join(out)


def _hostSafe(char: str) -> bool:
    return char in _ALNUM or char in _HOST_SAFE


def _validOptionalPort(port: str) -> bool:
    return port == "" or (port[0] == ":" and all("0" <= c <= "9" for c in port[1:]))


def _parseHost(host: str) -> str:
    if host.startswith("["):
        end = host.rfind("]")
        if end < 0:
            raise _Invalid("missing ']' in host")
        colonPort = host[end + 1 :]
        if not _validOptionalPort(colonPort):
            raise _Invalid(f"invalid port {goQuote(colonPort)} after host")
        zone = host.find("%25", 0, end)
        if zone >= 0:
            return (
                _unescape(host[:zone], _HOST)
                + _unescape(host[zone:end], _ZONE)
                + _unescape(host[end:], _HOST)
            )
    else:
        colon = host.rfind(":")
        if colon >= 0 and not _validOptionalPort(host[colon:]):
            raise _Invalid(f"invalid port {goQuote(host[colon:])} after host")
    return _unescape(host, _HOST)


def _parseAuthority(authority: str) -> str:
    at = authority.rfind("@")
    host = _parseHost(authority[at + 1 :])
    if at >= 0:
        userinfo = authority[:at]
        if not all(c in _ALNUM or c in _USERINFO_SAFE for c in userinfo):
            raise _Invalid("net/url: invalid userinfo")
        _unescape(userinfo, _OTHER)
    return host


def _scheme(raw: str) -> tuple[str, str]:
    for index, char in enumerate(raw):
        if char in string.ascii_letters:
            continue
        if char in string.digits or char in "+-.":
            if index == 0:
                return "", raw
            continue
        if char == ":":
            if index == 0:
                raise _Invalid("missing protocol scheme")
            return raw[:index], raw[index + 1 :]
        return "", raw
    return "", raw


def _parse(raw: str) -> str:
    if any(c < " " or c == "\x7f" for c in raw):
        raise _Invalid("net/url: invalid control character in URL")
    if raw == "":
        raise _Invalid("empty url")
    scheme, rest = _scheme(raw)
    if rest.endswith("?") and rest.count("?") == 1:
        rest = rest[:-1]
    else:
        rest = rest.partition("?")[0]
    if not rest.startswith("/"):
        if scheme:
            return ""  # opaque (mailto:x): no host
        colon, firstSlash = rest.find(":"), rest.find("/")
        if colon >= 0 and (firstSlash < 0 or colon < firstSlash):
            raise _Invalid("first path segment in URL cannot contain colon")
    host = ""
    if (scheme or not rest.startswith("///")) and rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        host = _parseAuthority(authority)
        rest = f"{slash}{path}"
    _unescape(rest, _PATH)
    return host


def parseURLHost(raw: str) -> str:
    """
    Check C{raw} as Go's C{url.Parse} does.

    @return: the URL's host (unescaped, with its port), C{""} if it has
        none.
    @raise ValueError: with Go's error text (C{parse "http://[::1": missing
        ']' in host}).
    """
    before, hash, fragment = raw.partition("#")
    try:
        host = _parse(before)
    except _Invalid as e:
        raise ValueError(f"parse {goQuote(before)}: {e}") from None
    if hash:
        try:
            _unescape(fragment, _OTHER)
        except _Invalid as e:
            raise ValueError(f"parse {goQuote(raw)}: {e}") from None
    return host


def urlPort(host: str) -> str:
    """
    The port of a URL's host, as Go's C{URL.Port}: C{""} when there is
    none (C{h}, C{h:}, C{[::1]}).
    """
    colon = host.rfind(":")
    if colon >= 0 and _validOptionalPort(host[colon:]):
        return host[colon + 1 :]
    return ""
