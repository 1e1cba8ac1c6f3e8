# -*- test-case-name: tests.nsqlookupd.test_http_helpers -*-
"""
What nsqd's and nsqlookupd's HTTP APIs share: Go NSQ's response conventions
and its router's behaviour.

Go NSQ serves HTTP with C{julienschmidt/httprouter} v1.3.0 and the helpers
in C{internal/http_api}.  Clients see their quirks, so txnsq reproduces them:

  - L{GoRouter} wraps a L{Klein} app's resource.  A request that matches a
    route exactly (method included) goes to Klein.  Anything else gets
    httprouter's answer: a 301 (GET) or 307 redirect for a wrong trailing
    slash or letter case, C{OPTIONS} answered with 200 and C{Allow}, 405
    C{METHOD_NOT_ALLOWED} with a sorted C{Allow} (C{HEAD} is never routed),
    or 404 C{NOT_FOUND}.
  - L{v1} and L{plainText} decorate Klein handler methods like Go's
    C{http_api.V1} and C{http_api.PlainText}: a handler returns data (or a
    L{Deferred} of it) or raises L{HTTPError}; the decorator writes the
    status, headers and body.  Any other exception is Go's recovered panic:
    500 C{INTERNAL_ERROR}.
  - L{RequestParams} reads the query string with Go's C{url.ParseQuery}
    rules (a malformed query is 400 C{INVALID_REQUEST}; POST bodies are not
    parameters).

The V1 conventions (L{respondV1}): JSON data gets C{application/json;
charset=utf-8}; a string is sent as is with the type Go's
C{http.DetectContentType} would sniff (C{text/plain; charset=utf-8} for
C{OK}); no data is an empty 200 with no C{Content-Type}; errors are
C{{"message":"<TEXT>"}}; every V1 response carries C{X-NSQ-Content-Type:
nsq; version=1.0} (sent as C{X-Nsq-Content-Type}, Go's canonical case).

Usage::

    class API:
        app = Klein()

        @app.route("/ping", methods=["GET"])
        @plainText
        def ping(self, request: IRequest) -> str:
            return "OK"

        def resource(self) -> IResource:
            return GoRouter.forKlein(self.app)

    site = GoSite(API().resource())

Known differences from Go's server: twisted.web refuses request lines with
non-ASCII bytes or absolute-form targets with its own bare 400, before any
resource runs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import unquote_to_bytes

import attrs
from klein import Klein
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from txnsq._go.json import UnsupportedValueError, encodeJSON
from txnsq.wire.names import isValidName

__all__ = [
    "JSON_CONTENT_TYPE",
    "NSQ_CONTENT_TYPE",
    "GoRouter",
    "GoSite",
    "HTTPError",
    "QueryError",
    "RequestParams",
    "Route",
    "cleanPath",
    "parseQuery",
    "plainText",
    "respondPlainText",
    "respondV1",
    "sniffContentType",
    "v1",
]

_log = Logger()

JSON_CONTENT_TYPE = b"application/json; charset=utf-8"
NSQ_CONTENT_TYPE = b"nsq; version=1.0"
_NSQ_CONTENT_TYPE_HEADER = b"X-NSQ-Content-Type"
_HTML_CONTENT_TYPE = b"text/html; charset=utf-8"
_TEXT_CONTENT_TYPE = b"text/plain; charset=utf-8"


def _untyped(value: object) -> Any:
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
            return _HTML_CONTENT_TYPE
    if text.startswith(b"<?xml"):
        return b"text/xml; charset=utf-8"
    for prefix, contentType in _PREFIX_SIGNATURES:
        if data.startswith(prefix):
            return contentType
    if data[:4] == b"RIFF" and data[8:14] == b"WEBPVP":
        return b"image/webp"
    if _BINARY.search(data):
        return b"application/octet-stream"
    return _TEXT_CONTENT_TYPE


# Responses.


def _finishHeaders(
    request: IRequest, code: int, body: bytes, contentType: bytes | None
) -> None:
    # twisted.web's IRequest methods are untyped; work through Any.
    req = _untyped(request)
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
    @param data: for 200, JSON-able data, a C{str} or C{bytes} (sent as is)
        or L{None} (empty body, no C{Content-Type}).
    """
    isJSON = False
    body = b""
    if code == 200:
        if isinstance(data, str):
            body = data.encode("utf-8", "surrogateescape")
        elif isinstance(data, bytes):
            body = data
        elif data is not None:
            isJSON = True
            try:
                body = encodeJSON(data)
            except (UnsupportedValueError, TypeError) as error:
                code, data = 500, str(error)
    if code != 200:
        isJSON = True
        body = encodeJSON({"message": str(data)})
    _untyped(request).setHeader(_NSQ_CONTENT_TYPE_HEADER, NSQ_CONTENT_TYPE)
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


def _internalError(request: IRequest, failure: Failure) -> bytes:
    # Go's router recovers a panicking handler and answers through V1.
    _log.failure("panic in HTTP handler", failure)
    return respondV1(request, 500, "INTERNAL_ERROR")


S = TypeVar("S")
if TYPE_CHECKING:
    # Only the type checker needs these: Python 3.9's Callable can't take a
    # Concatenate at run time, and the decorators below only annotate.
    from typing_extensions import Concatenate, ParamSpec

    P = ParamSpec("P")
    Handler = Callable[Concatenate[S, IRequest, P], Any]
    Rendered = Callable[Concatenate[S, IRequest, P], "bytes | Deferred[bytes]"]


def _decorate(
    f: Handler[S, P],
    success: Callable[[IRequest, Any], bytes],
    error: Callable[[IRequest, HTTPError], bytes],
) -> Rendered[S, P]:
    def outcome(request: IRequest, result: Any) -> bytes | Failure:
        if isinstance(result, Failure):
            if isinstance(result.value, HTTPError):
                return error(request, result.value)
            return _internalError(request, result)
        try:
            return success(request, result)
        except Exception:
            return _internalError(request, Failure())  # type: ignore[no-untyped-call]

    @functools.wraps(f)
    def render(
        self: S, request: IRequest, *args: P.args, **kwargs: P.kwargs
    ) -> bytes | Deferred[bytes]:
        try:
            result = f(self, request, *args, **kwargs)
        except Exception:
            result = Failure()  # type: ignore[no-untyped-call]
        if isinstance(result, Deferred):
            return result.addBoth(lambda value: outcome(request, value))
        rendered = outcome(request, result)
        assert isinstance(rendered, bytes)
        return rendered

    return cast("Rendered[S, P]", render)


def v1(f: Handler[S, P]) -> Rendered[S, P]:
    """
    Decorate a Klein handler method as Go's C{http_api.V1}: it returns the
    data for L{respondV1} (or a L{Deferred} firing with it) or raises
    L{HTTPError}.
    """
    return _decorate(
        f,
        lambda request, data: respondV1(request, 200, data),
        lambda request, e: respondV1(request, e.code, e.message),
    )


def _plainTextData(request: IRequest, data: Any) -> bytes:
    if not isinstance(data, (str, bytes)):
        # Go's PlainText panics on anything else, even nil, and the panic
        # handler answers 500 (POST /debug/freememory does this).
        raise TypeError(f"unknown response type {type(data).__name__}")
    return respondPlainText(request, 200, data)


def plainText(f: Handler[S, P]) -> Rendered[S, P]:
    """
    Decorate a Klein handler method as Go's C{http_api.PlainText}: it
    returns a C{str} or C{bytes}; an L{HTTPError} becomes its text with its
    status; any other result is a 500 C{INTERNAL_ERROR}, as in Go.
    """
    return _decorate(
        f,
        _plainTextData,
        lambda request, e: respondPlainText(request, e.code, e.message),
    )


# Query strings.


class QueryError(ValueError):
    """
    A query string Go's C{url.ParseQuery} rejects.
    """


_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def _unescape(raw: bytes, *, plusIsSpace: bool) -> bytes | None:
    """
    Go's C{url} unescaping: every C{%} must start two hex digits.

    @return: the bytes, or L{None} for a malformed escape.
    """
    match = _BAD_ESCAPE.search(raw)
    if match is not None:
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
        key = _unescape(rawKey, plusIsSpace=True)
        value = _unescape(rawValue, plusIsSpace=True)
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


# Routing.


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


def _hexEscapeNonASCII(url: bytes) -> bytes:
    # Go's http.hexEscapeNonASCII (lowercase hex).
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


def _fold(text: str) -> str:
    # Case-insensitive comparison with the (ASCII) route text: Go's simple
    # folding also maps U+017F LONG S to "s" (U+212A KELVIN SIGN lowers to
    # "k" in Python too).
    return text.replace("\u017f", "s").lower()


_WERKZEUG_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


@attrs.frozen
class Route:
    """
    One httprouter route: a method and a pattern whose C{:name} segments
    match any one non-empty path segment.
    """

    method: str
    pattern: str
    segments: tuple[str, ...] = attrs.field(init=False)

    @segments.default
    def _split(self) -> tuple[str, ...]:
        if not self.pattern.startswith("/"):
            raise ValueError(f"path must begin with '/' in path '{self.pattern}'")
        return tuple(self.pattern.split("/")[1:])

    def match(self, path: str, *, caseInsensitive: bool = False) -> str | None:
        """
        Whether C{path} (decoded) matches.

        @return: the path with the route's letter case (the redirect
            target for a case-insensitive match), or L{None}.
        """
        if not path.startswith("/"):
            return None
        elements = path.split("/")[1:]
        if len(elements) != len(self.segments):
            return None
        fixed = []
        for element, segment in zip(elements, self.segments):
            if segment.startswith(":"):
                if not element:
                    return None
                fixed.append(element)
            elif element == segment or (
                caseInsensitive and _fold(element) == segment.lower()
            ):
                fixed.append(segment)
            else:
                return None
        return "/" + "/".join(fixed)


class GoRouter(Resource):
    """
    httprouter's dispatch in front of a resource that serves the routes.

    Requests matching a L{Route} exactly are rendered by C{target} (a
    L{Klein} app's resource, which routes them again the same way).  The
    rest get httprouter's answers; see the module docstring.  C{HEAD} is
    never routed (Go nsq registers no HEAD handlers), so it always gets 405
    or 404.  Only origin-form request targets (C{/path}) and C{*} are
    routed; others are Go's 400 C{Bad Request}.
    """

    isLeaf = True

    def __init__(self, routes: Iterable[Route], target: IResource) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._routes = list(routes)
        self._target = target
        self._methods = {route.method for route in self._routes}

    @classmethod
    def forKlein(cls, app: Klein) -> GoRouter:
        """
        Route to C{app}'s resource with C{app}'s own routes.  Every Klein
        route must list its methods and use only whole-segment parameters
        (C{/config/<opt>}); the C{HEAD} that werkzeug adds to C{GET} routes
        is left out.

        @raise ValueError: for a route httprouter could not express.
        """
        routes = []
        for rule in app.url_map.iter_rules():
            if rule.methods is None:
                raise ValueError(f"route {rule.rule!r} must list its methods")
            segments = []
            for segment in rule.rule.split("/"):
                param = _WERKZEUG_PARAM.fullmatch(segment)
                if param is not None:
                    if param.group(1) not in (None, "string", "default"):
                        raise ValueError(f"unsupported converter in {rule.rule!r}")
                    segments.append(":" + param.group(2))
                elif "<" in segment:
                    raise ValueError(f"unsupported parameter in {rule.rule!r}")
                else:
                    segments.append(segment)
            pattern = "/".join(segments)
            for method in sorted(rule.methods - {"HEAD"}):
                routes.append(Route(method, pattern))
        return cls(routes, app.resource())

    def render(self, request: IRequest) -> bytes | int:
        """
        Dispatch as httprouter's C{ServeHTTP} does.
        """
        method = request.method.decode("latin-1")
        uri: bytes = request.uri
        rawPath, hasQuery, rawQuery = uri.partition(b"?")
        path = self._decodePath(rawPath)
        if path is None:
            return self._respond(
                request,
                400,
                [(b"Content-Type", _TEXT_CONTENT_TYPE), (b"Connection", b"close")],
                b"400 Bad Request",
            )

        for route in self._routes:
            if route.method == method and route.match(path) is not None:
                result: bytes | int = _untyped(self._target).render(request)
                return result

        if method in self._methods and method != "CONNECT" and path != "/":
            code = 301 if method == "GET" else 307
            if len(path) > 1 and path.endswith("/"):
                toggled = path[:-1]
            else:
                toggled = path + "/"
            if self._find(method, toggled) is not None:
                return self._redirect(request, toggled, hasQuery + rawQuery, code)
            fixed = self._findCaseInsensitive(method, cleanPath(path))
            if fixed is not None:
                return self._redirect(request, fixed, hasQuery + rawQuery, code)

        if method == "OPTIONS":
            allow = self.allowed(path, method)
            if allow:
                return self._respond(request, 200, [(b"Allow", allow.encode())], b"")
        else:
            allow = self.allowed(path, method)
            if allow:
                _untyped(request).setHeader(b"Allow", allow.encode())
                return self._respondV1(request, 405, "METHOD_NOT_ALLOWED")
        return self._respondV1(request, 404, "NOT_FOUND")

    def allowed(self, path: str, method: str) -> str:
        """
        httprouter's C{Allow} list for C{path}: the other methods with a
        matching route, plus C{OPTIONS}, sorted; empty if none.  For the
        path C{*}, every routed method.
        """
        if path == "*":
            methods = {m for m in self._methods if m != "OPTIONS"}
        else:
            methods = {
                route.method
                for route in self._routes
                if route.method not in (method, "OPTIONS")
                and route.match(path) is not None
            }
        if not methods:
            return ""
        return ", ".join(sorted(methods | {"OPTIONS"}))

    @staticmethod
    def _decodePath(rawPath: bytes) -> str | None:
        # Go's url.ParseRequestURI: no control bytes, valid escapes, and
        # the path decoded (so "/p%69ng" is "/ping").
        if re.search(b"[\x00-\x1f\x7f]", rawPath):
            return None
        if rawPath == b"*":
            return "*"
        if not rawPath.startswith(b"/"):
            return None
        decoded = _unescape(rawPath, plusIsSpace=False)
        if decoded is None:
            return None
        return decoded.decode("utf-8", "surrogateescape")

    def _find(self, method: str, path: str) -> str | None:
        for route in self._routes:
            if route.method == method and route.match(path) is not None:
                return path
        return None

    def _findCaseInsensitive(self, method: str, path: str) -> str | None:
        # httprouter's findCaseInsensitivePath with fixTrailingSlash.
        candidates = [path]
        if len(path) > 1 and path.endswith("/"):
            candidates.append(path[:-1])
        elif path != "/":
            candidates.append(path + "/")
        for candidate in candidates:
            for route in self._routes:
                if route.method == method:
                    fixed = route.match(candidate, caseInsensitive=True)
                    if fixed is not None:
                        return fixed
        return None

    def _redirect(self, request: IRequest, path: str, query: bytes, code: int) -> int:
        # httprouter sets URL.Path and calls http.Redirect(URL.String()),
        # which cleans the path (keeping a trailing slash).
        escaped = _escapePath(path.encode("utf-8", "surrogateescape"))
        trailing = escaped.endswith(b"/")
        escaped = _goPathClean(escaped)
        if trailing and not escaped.endswith(b"/"):
            escaped += b"/"
        url = escaped + query
        headers = [(b"Location", _hexEscapeNonASCII(url))]
        body = b""
        if request.method in (b"GET", b"HEAD"):
            headers.append((b"Content-Type", _HTML_CONTENT_TYPE))
        if request.method == b"GET":
            status = b"Moved Permanently" if code == 301 else b"Temporary Redirect"
            body = b'<a href="' + _htmlEscape(url) + b'">' + status + b"</a>.\n\n"
        return self._respond(request, code, headers, body)

    def _respondV1(self, request: IRequest, code: int, text: str) -> int:
        body = respondV1(request, code, text)
        return self._write(request, body)

    def _respond(
        self,
        request: IRequest,
        code: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> int:
        req = _untyped(request)
        req.setResponseCode(code)
        for name, value in headers:
            req.setHeader(name, value)
        req.setHeader(b"Content-Length", b"%d" % (len(body),))
        return self._write(request, body)

    @staticmethod
    def _write(request: IRequest, body: bytes) -> int:
        # Written here rather than returned so a HEAD response keeps the
        # Content-Length of the body it does not carry, as Go's does.
        req = _untyped(request)
        if body and request.method != b"HEAD":
            req.write(body)
        req.finish()
        return NOT_DONE_YET


class _GoRequest(Request):
    """
    A request that lets the resource answer C{OPTIONS *} and C{GET *}.
    """

    def _handleStar(self) -> None:
        # twisted.web answers requests for "*" itself (200 for OPTIONS,
        # 405 otherwise, never with the routes' Allow list); Go's router
        # treats "*" as a path, so hand it to the resource as usual.
        try:
            site: Any = self.site
            self.render(site.getResourceFor(self))  # type: ignore[no-untyped-call]
        except BaseException:
            self.processingFailed(Failure())  # type: ignore[no-untyped-call]


class GoSite(Site):
    """
    A L{Site} for a L{GoRouter}: identical except that C{*} request targets
    reach the resource, so C{OPTIONS *} lists every routed method as Go's
    router does.
    """

    requestFactory = _GoRequest
