# -*- test-case-name: tests._http.test_params -*-
"""
Reading a request as Go's C{net/http} and C{internal/http_api} do: the
query string (L{parseQuery}, L{RequestParams}), form values
(L{formValue}) and the body (L{contentLength}, L{readBody}).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

import attrs
from twisted.web.iweb import IRequest

from txnsq._http._responses import HTTPError, untyped
from txnsq.wire.names import isValidName

__all__ = [
    "QueryError",
    "RequestParams",
    "contentLength",
    "formValue",
    "parseQuery",
    "readBody",
]


class QueryError(ValueError):
    """
    A query string Go's C{url.ParseQuery} rejects.
    """


_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def unescape(raw: bytes, *, plusIsSpace: bool) -> bytes | None:
    """
    Go's C{url} unescaping: every C{%} must start two hex digits.

    @return: the bytes, or L{None} for a malformed escape.
    """
    if _BAD_ESCAPE.search(raw) is not None:
        return None
    if plusIsSpace:
        raw = raw.replace(b"+", b" ")
    return unquote_to_bytes(raw)


def parseQuery(raw: bytes) -> dict[str, list[str]]:
    """
    Parse a raw query string as Go's C{url.ParseQuery} (Go 1.17+): pairs
    split on C{&}, C{+} is a space, keys and values may hold any bytes
    (kept as text that round-trips through C{surrogateescape}).

    @raise QueryError: a malformed escape or a C{;} (Go stops accepting it
        as a separator in 1.17).
    """
    values: dict[str, list[str]] = {}
    error: QueryError | None = None
    for part in raw.split(b"&"):
        if b";" in part:
            error = error or QueryError("invalid semicolon separator in query")
            continue
        if not part:
            continue
        rawKey, _, rawValue = part.partition(b"=")
        key = unescape(rawKey, plusIsSpace=True)
        value = unescape(rawValue, plusIsSpace=True)
        if key is None or value is None:
            error = error or QueryError("invalid URL escape")
            continue
        values.setdefault(key.decode("utf-8", "surrogateescape"), []).append(
            value.decode("utf-8", "surrogateescape")
        )
    if error is not None:
        raise error
    return values


@attrs.frozen
class RequestParams:
    """
    A request's query parameters (Go's C{http_api.ReqParams}).
    """

    values: dict[str, list[str]]

    @classmethod
    def fromRequest(cls, request: IRequest) -> RequestParams:
        """
        Parse the request's query string.

        @raise HTTPError: 400 C{INVALID_REQUEST} when it is malformed.
        """
        uri: bytes = request.uri
        try:
            return cls(parseQuery(uri.partition(b"?")[2]))
        except QueryError:
            raise HTTPError(400, "INVALID_REQUEST") from None

    def get(self, key: str) -> str | None:
        """
        The first value of C{key} (possibly empty), or L{None} if absent.
        """
        found = self.values.get(key)
        return found[0] if found else None

    def getAll(self, key: str) -> list[str] | None:
        """
        Every value of C{key}, or L{None} if absent.
        """
        return self.values.get(key)

    def topic(self) -> str:
        """
        The C{topic} parameter, unvalidated.

        @raise HTTPError: 400 C{MISSING_ARG_TOPIC}.
        """
        topic = self.get("topic")
        if topic is None:
            raise HTTPError(400, "MISSING_ARG_TOPIC")
        return topic

    def topicAndChannel(self) -> tuple[str, str]:
        """
        Valid C{topic} and C{channel} parameters, checked in the order of
        Go's C{http_api.GetTopicChannelArgs}.

        @raise HTTPError: 400 with Go's C{MISSING_ARG_*}/C{INVALID_ARG_*}.
        """
        topic = self.topic()
        if not isValidName(topic):
            raise HTTPError(400, "INVALID_ARG_TOPIC")
        channel = self.get("channel")
        if channel is None:
            raise HTTPError(400, "MISSING_ARG_CHANNEL")
        if not isValidName(channel):
            raise HTTPError(400, "INVALID_ARG_CHANNEL")
        return topic, channel


def contentLength(request: IRequest) -> int:
    """
    Go's C{Request.ContentLength}: the declared length, -1 when unknown
    (chunked), 0 without a body.
    """
    headers = request.requestHeaders
    if headers.hasHeader(b"transfer-encoding"):
        return -1
    declared = headers.getRawHeaders(b"content-length")
    if not declared:
        return 0
    try:
        return int(declared[0])
    except ValueError:
        return -1


def readBody(request: IRequest, limit: int) -> bytes:
    """
    At most C{limit} bytes of the body (Go's C{io.LimitReader}).
    """
    content = request.content
    if content is None:
        return b""
    content.seek(0)
    data: bytes = content.read(limit)
    return data


def _lenientQuery(raw: bytes) -> dict[str, list[str]]:
    # Go's url.ParseQuery keeps the good pairs when some are malformed;
    # Request.FormValue ignores the error.
    values: dict[str, list[str]] = {}
    for part in raw.split(b"&"):
        try:
            parsed = parseQuery(part)
        except QueryError:
            continue
        for key, found in parsed.items():
            values.setdefault(key, []).extend(found)
    return values


#: Go's C{maxFormSize}: the most of a form body C{ParseForm} reads.
_MAX_FORM_BODY = 10 << 20


def formValue(request: IRequest, key: str) -> str:
    """
    Go's C{Request.FormValue}: the first value of C{key} in a URL-encoded
    form body (C{POST}/C{PUT}/C{PATCH}) or else in the query string; C{""}
    if absent.
    """
    form: dict[str, list[str]] = {}
    contentType: bytes = untyped(request).getHeader(b"content-type") or b""
    if (
        request.method in (b"POST", b"PUT", b"PATCH")
        and contentType.split(b";")[0].strip().lower()
        == b"application/x-www-form-urlencoded"
    ):
        form = _lenientQuery(readBody(request, _MAX_FORM_BODY))
    for name, found in _lenientQuery(request.uri.partition(b"?")[2]).items():
        form.setdefault(name, []).extend(found)
    values = form.get(key)
    return values[0] if values else ""
