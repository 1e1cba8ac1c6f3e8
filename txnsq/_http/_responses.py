# -*- test-case-name: tests._http.test_responses -*-
"""
Go NSQ's HTTP response conventions (C{internal/http_api}): the C{V1}
envelope and C{PlainText} answers, and the C{Content-Type} Go's server
sniffs for a body written without one; and L{RAW}, for txnsq's own
endpoints whose handlers choose their headers (C{/metrics}).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from twisted.web.iweb import IRequest

from txnsq._go.json import UnsupportedValueError, encodeJSON

__all__ = [
    "JSON_CONTENT_TYPE",
    "JSON_NULL",
    "NSQ_CONTENT_TYPE",
    "PLAIN_TEXT",
    "RAW",
    "V1",
    "Answer",
    "HTTPError",
    "RawResponse",
    "respondPlainText",
    "respondRaw",
    "respondV1",
    "sniffContentType",
]

JSON_CONTENT_TYPE = b"application/json; charset=utf-8"
NSQ_CONTENT_TYPE = b"nsq; version=1.0"
NSQ_CONTENT_TYPE_HEADER = b"X-NSQ-Content-Type"
HTML_CONTENT_TYPE = b"text/html; charset=utf-8"
TEXT_CONTENT_TYPE = b"text/plain; charset=utf-8"


def untyped(value: object) -> Any:
    """
    C{value}, for calling twisted.web's untyped C{IRequest} methods.
    """
    return value


class HTTPError(Exception):
    """
    Go's C{http_api.Err}: a status code and the error text that becomes
    C{{"message": text}}.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


class _JSONNull:
    """
    The type of L{JSON_NULL}.
    """

    def __repr__(self) -> str:
        return "JSON_NULL"


JSON_NULL = _JSONNull()
"""
What a L{V1} handler returns for Go's nil slice: a JSON C{null} body
(returning L{None} is Go's nil interface: an empty body).
"""


# Content sniffing.

_HTML_SIGNATURES = tuple(
    sig.encode("ascii")
    for sig in (
        "<!DOCTYPE HTML",
        "<HTML",
        "<HEAD",
        "<SCRIPT",
        "<IFRAME",
        "<H1",
        "<DIV",
        "<FONT",
        "<TABLE",
        "<A",
        "<STYLE",
        "<TITLE",
        "<B",
        "<BODY",
        "<BR",
        "<P",
        "<!--",
    )
)

_PREFIX_SIGNATURES: tuple[tuple[bytes, bytes], ...] = (
    (b"%PDF-", b"application/pdf"),
    (b"%!PS-Adobe-", b"application/postscript"),
    (b"\xfe\xff", b"text/plain; charset=utf-16be"),
    (b"\xff\xfe", b"text/plain; charset=utf-16le"),
    (b"\xef\xbb\xbf", b"text/plain; charset=utf-8"),
    (b"\x00\x00\x01\x00", b"image/x-icon"),
    (b"\x00\x00\x02\x00", b"image/x-icon"),
    (b"BM", b"image/bmp"),
    (b"GIF87a", b"image/gif"),
    (b"GIF89a", b"image/gif"),
    (b"\x89PNG\r\n\x1a\n", b"image/png"),
    (b"\xff\xd8\xff", b"image/jpeg"),
    (b"OggS\x00", b"application/ogg"),
    (b"\x1f\x8b\x08", b"application/x-gzip"),
    (b"PK\x03\x04", b"application/zip"),
    (b"Rar!\x1a\x07\x00", b"application/x-rar-compressed"),
    (b"Rar!\x1a\x07\x01\x00", b"application/x-rar-compressed"),
    (b"\x00asm", b"application/wasm"),
)

_BINARY = re.compile(b"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")


def sniffContentType(data: bytes) -> bytes:
    """
    The C{Content-Type} Go's C{http.DetectContentType} gives C{data}, which
    Go's server sends when a handler writes a body without one.

    HTML, XML, text (with or without a byte-order mark) and the common
    image, document and archive signatures are recognised as Go does;
    audio, video and font formats, which nsq never sends, are reported as
    C{application/octet-stream} when they contain binary bytes.
    """
    data = data[:512]
    text = data.lstrip(b"\t\n\x0c\r ")
    for signature in _HTML_SIGNATURES:
        if (
            len(text) > len(signature)
            and text[: len(signature)].upper() == signature
            and text[len(signature)] in b" >"
        ):
            return HTML_CONTENT_TYPE
    if text.startswith(b"<?xml"):
        return b"text/xml; charset=utf-8"
    for prefix, contentType in _PREFIX_SIGNATURES:
        if data.startswith(prefix):
            return contentType
    if data[:4] == b"RIFF" and data[8:14] == b"WEBPVP":
        return b"image/webp"
    if _BINARY.search(data):
        return b"application/octet-stream"
    return TEXT_CONTENT_TYPE


# Responses.


def _finishHeaders(
    request: IRequest, code: int, body: bytes, contentType: bytes | None
) -> None:
    req = untyped(request)
    req.setResponseCode(code)
    if contentType is None and body:
        contentType = sniffContentType(body)
    if contentType is not None:
        req.setHeader(b"Content-Type", contentType)
    # Go sends a Content-Length for every short response; setting it also
    # stops twisted.web from adding its default text/html Content-Type to
    # an empty body.
    req.setHeader(b"Content-Length", b"%d" % (len(body),))


def respondV1(request: IRequest, code: int, data: Any) -> bytes:
    """
    Go's C{http_api.RespondV1}: set the status and headers for C{data}
    and return the body.

    @param code: 200, or an error status (then C{data} is the error text).
    @param data: for 200, JSON-able data, L{JSON_NULL}, a C{str} or
        C{bytes} (sent as is) or L{None} (empty body, no C{Content-Type}).
    """
    isJSON = False
    body = b""
    if code == 200:
        if isinstance(data, str):
            body = data.encode("utf-8", "surrogateescape")
        elif isinstance(data, bytes):
            body = data
        elif data is JSON_NULL:
            isJSON = True
            body = b"null"
        elif data is not None:
            isJSON = True
            try:
                body = encodeJSON(data)
            except (UnsupportedValueError, TypeError) as error:
                code, data = 500, str(error)
    if code != 200:
        isJSON = True
        body = encodeJSON({"message": str(data)})
    untyped(request).setHeader(NSQ_CONTENT_TYPE_HEADER, NSQ_CONTENT_TYPE)
    _finishHeaders(request, code, body, JSON_CONTENT_TYPE if isJSON else None)
    return body


def respondPlainText(request: IRequest, code: int, data: str | bytes) -> bytes:
    """
    Go's C{http_api.PlainText} output: the text as is, a sniffed
    C{Content-Type} and no C{X-NSQ-Content-Type}.
    """
    body = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    _finishHeaders(request, code, body, None)
    return body


@attrs.frozen
class RawResponse:
    """
    A body with the headers its handler chose, for L{RAW} routes.

    @ivar body: the body, sent as is.
    @ivar headers: response headers, as C{(name, value)} pairs; a name may
        come more than once.  C{Content-Length} is always set from
        C{body}; without a C{Content-Type} here, the one Go's server would
        sniff is sent.
    """

    body: bytes
    headers: Sequence[tuple[bytes, bytes]] = ()


def respondRaw(request: IRequest, code: int, response: RawResponse) -> bytes:
    """
    Set the status and C{response}'s headers, and return its body.
    """
    headers = untyped(request).responseHeaders
    # All of a name's values at once (header names ignore case):
    # setHeader would keep only the last.
    grouped: dict[bytes, tuple[bytes, list[bytes]]] = {}
    for name, value in response.headers:
        grouped.setdefault(name.lower(), (name, []))[1].append(value)
    for name, values in grouped.values():
        headers.setRawHeaders(name, values)
    if headers.hasHeader(b"Content-Type"):
        req = untyped(request)
        req.setResponseCode(code)
        req.setHeader(b"Content-Length", b"%d" % (len(response.body),))
    else:
        _finishHeaders(request, code, response.body, None)
    return response.body


def _v1Data(request: IRequest, data: Any) -> bytes:
    return respondV1(request, 200, data)


def _v1Error(request: IRequest, error: HTTPError) -> bytes:
    return respondV1(request, error.code, error.message)


def _plainTextData(request: IRequest, data: Any) -> bytes:
    if not isinstance(data, (str, bytes)):
        # Go's PlainText panics on anything else, even nil, and the panic
        # handler answers 500 (POST /debug/freememory does this).
        raise TypeError(f"unknown response type {type(data).__name__}")
    return respondPlainText(request, 200, data)


def _plainTextError(request: IRequest, error: HTTPError) -> bytes:
    return respondPlainText(request, error.code, error.message)


def _rawData(request: IRequest, data: Any) -> bytes:
    if not isinstance(data, RawResponse):
        # A programming error, answered as Go's recovered panic (500).
        raise TypeError(f"a RAW route returned {type(data).__name__}")
    return respondRaw(request, 200, data)


@attrs.frozen
class Answer:
    """
    How a route's outcome becomes a response: Go's C{http_api.V1} or
    C{http_api.PlainText} decorator.

    @ivar name: Go's name for it.
    @ivar data: sets the status and headers for what the handler
        returned, and gives the body; it raises for data it cannot send
        (the router then answers Go's recovered panic, 500
        C{INTERNAL_ERROR}).
    @ivar error: the same for an L{HTTPError} the handler raised.
    """

    name: str
    data: Callable[[IRequest, Any], bytes]
    error: Callable[[IRequest, HTTPError], bytes]


V1 = Answer("V1", _v1Data, _v1Error)
"""
Go's C{http_api.V1}: data through L{respondV1}, errors as
C{{"message": text}}.
"""

PLAIN_TEXT = Answer("PlainText", _plainTextData, _plainTextError)
"""
Go's C{http_api.PlainText}: a C{str} or C{bytes} as is; errors as their
text with their status; anything else is a 500 C{INTERNAL_ERROR}.
"""

RAW = Answer("Raw", _rawData, _plainTextError)
"""
txnsq's own answer, for endpoints Go NSQ does not have: the handler
returns a L{RawResponse} whose headers are sent unchanged (no
C{X-NSQ-Content-Type}, no sniffing over a C{Content-Type} it set); errors
are plain text, as L{PLAIN_TEXT}'s.
"""
