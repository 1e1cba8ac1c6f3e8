# -*- test-case-name: tests._http.test_paths -*-
"""
Paths as httprouter and Go's C{net/http} clean, escape and redirect them.
"""

from __future__ import annotations

__all__ = ["cleanPath", "hexEscapeNonASCII", "redirectPage", "redirectURL"]


def cleanPath(path: str) -> str:
    """
    httprouter's C{CleanPath}: a rooted path without empty, C{.} and C{..}
    elements, keeping a trailing slash (added when the path ends in C{.}).
    """
    if path == "":
        return "/"
    trailing = len(path) > 1 and path.endswith("/")
    parts: list[str] = []
    elements = path.split("/")
    for index, element in enumerate(elements):
        if element == "":
            continue
        if element == ".":
            if index == len(elements) - 1:
                trailing = True
            continue
        if element == "..":
            if parts:
                parts.pop()
            continue
        parts.append(element)
    cleaned = "/" + "/".join(parts)
    if trailing and parts:
        cleaned += "/"
    return cleaned


def _goPathClean(path: bytes) -> bytes:
    """
    Go's C{path.Clean}, for the rooted URLs C{http.Redirect} cleans.
    """
    rooted = path.startswith(b"/")
    parts: list[bytes] = []
    for element in path.split(b"/"):
        if element in (b"", b"."):
            continue
        if element == b"..":
            if parts and parts[-1] != b"..":
                parts.pop()
            elif not rooted:
                parts.append(b"..")
            continue
        parts.append(element)
    cleaned = b"/".join(parts)
    if rooted:
        cleaned = b"/" + cleaned
    return cleaned or b"."


_PATH_SAFE = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~$&+,/:;=@"
)


def _escapePath(path: bytes) -> bytes:
    # Go's url.escape(path, encodePath).
    return b"".join(
        bytes((byte,)) if byte in _PATH_SAFE else b"%%%02X" % (byte,) for byte in path
    )


def redirectURL(path: str, query: bytes) -> bytes:
    """
    Where httprouter redirects to: it sets the request URL's path to
    C{path} (decoded) and calls C{http.Redirect} with the URL's text,
    which cleans the path again (keeping a trailing slash).

    @param query: the raw query with its C{?}, or C{b""}.
    """
    escaped = _escapePath(path.encode("utf-8", "surrogateescape"))
    trailing = escaped.endswith(b"/")
    escaped = _goPathClean(escaped)
    if trailing and not escaped.endswith(b"/"):
        escaped += b"/"
    return escaped + query


def hexEscapeNonASCII(url: bytes) -> bytes:
    """
    Go's C{http.hexEscapeNonASCII} (lowercase hex), for the C{Location}
    header.
    """
    return b"".join(
        b"%%%x" % (byte,) if byte >= 0x80 else bytes((byte,)) for byte in url
    )


def _htmlEscape(text: bytes) -> bytes:
    return (
        text.replace(b"&", b"&amp;")
        .replace(b"<", b"&lt;")
        .replace(b">", b"&gt;")
        .replace(b'"', b"&#34;")
        .replace(b"'", b"&#39;")
    )


def redirectPage(url: bytes, code: int) -> bytes:
    """
    The body C{http.Redirect} writes for a C{GET}: a link to C{url}.
    """
    status = b"Moved Permanently" if code == 301 else b"Temporary Redirect"
    return b'<a href="' + _htmlEscape(url) + b'">' + status + b"</a>.\n\n"
