# -*- test-case-name: tests._http.test_router -*-
"""
L{GoRouter}: the one dispatcher of a daemon's HTTP API, answering as Go NSQ's
C{julienschmidt/httprouter} v1.3.0 and C{http_api.Decorate} do.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from txnsq._go.values import formatDurationNanoseconds
from txnsq._http._params import unescape
from txnsq._http._paths import (
    cleanPath,
    hexEscapeNonASCII,
    redirectPage,
    redirectURL,
)
from txnsq._http._responses import (
    HTML_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    Answer,
    HTTPError,
    respondV1,
    untyped,
)
from txnsq._http._routes import BoundRoute, Routes, RouteTable

__all__ = ["GoRouter"]

_log = Logger(namespace="txnsq._http")

_CONTROL = re.compile(b"[\x00-\x1f\x7f]")


def _internalError(request: IRequest, failure: Failure) -> bytes:
    # Go's router recovers a panicking handler and answers through V1.
    _log.failure("panic in HTTP handler", failure)
    return respondV1(request, 500, "INTERNAL_ERROR")


def _peer(request: IRequest) -> str:
    # Go's Request.RemoteAddr ("[::1]:51234" for IPv6); a unix socket peer
    # has no host or port.
    peer = untyped(request).getClientAddress()
    if isinstance(peer, IPv6Address):
        return f"[{peer.host}]:{peer.port}"
    if isinstance(peer, IPv4Address):
        return f"{peer.host}:{peer.port}"
    return ":0"


class GoRouter(Resource):
    """
    The root resource of an HTTP API: it matches each request against the
    routes once, calls the handler and turns its outcome into the route's
    L{Answer}, or gives httprouter's answer when nothing matches.

    Matching is on the percent-decoded path, as Go's is; a path spelled
    exactly as a parameterless route is found with one dictionary lookup,
    which keeps publishing (C{POST /pub}) cheap.  Outcomes are mapped in
    one place (L{_answer}): data through the route's L{Answer}, an
    L{HTTPError} as its status and text, anything else (Go's recovered
    panic) as 500 C{INTERNAL_ERROR}, logged.

    Misses get httprouter's answers: a 301 (GET) or 307 redirect for a
    wrong trailing slash, letter case or unclean path; C{OPTIONS} answered
    with 200 and C{Allow}; 405 C{METHOD_NOT_ALLOWED} with a sorted
    C{Allow}; else 404 C{NOT_FOUND}.  C{HEAD} is never routed (Go nsq
    registers no HEAD handlers), so it always gets 405 or 404.  Only
    origin-form request targets (C{/path}) and C{*} are routed; others are
    Go's 400 C{Bad Request}.
    """

    isLeaf = True

    def __init__(self, routes: Iterable[BoundRoute], log: Logger | None = None) -> None:
        """
        @param log: where requests of routes marked C{logged} are logged as
            Go's C{http_api.Log} does, or L{None}.
        @raise ValueError: for two handlers of one method and pattern.
        """
        super().__init__()  # type: ignore[no-untyped-call]
        self._table = RouteTable(routes)
        self._raw = self._table.raw
        self._log = log

    @classmethod
    def forRoutes(cls, routes: Routes, instance: object) -> GoRouter:
        """
        Serve the routes declared in C{routes} with C{instance}'s handlers,
        logging requests to the table's log.
        """
        return cls(routes.bind(instance), routes.log)

    def render(self, request: IRequest) -> bytes | int:
        """
        Dispatch as httprouter's C{ServeHTTP} does.
        """
        byMethod = self._raw.get(untyped(request).path)
        if byMethod is not None:
            bound = byMethod.get(request.method)
            if bound is not None:
                return self._call(bound, request, {})
        return self._route(request)

    def _route(self, request: IRequest) -> bytes | int:
        table = self._table
        method = request.method.decode("latin-1")
        uri: bytes = request.uri
        rawPath, hasQuery, rawQuery = uri.partition(b"?")
        path = self._decodePath(rawPath)
        if path is None:
            return self._respond(
                request,
                400,
                [(b"Content-Type", TEXT_CONTENT_TYPE), (b"Connection", b"close")],
                b"400 Bad Request",
            )
        found = table.lookup(method, path)
        if found is not None:
            return self._call(found[0], request, found[1])

        if method in table.methods and method != "CONNECT" and path != "/":
            code = 301 if method == "GET" else 307
            if len(path) > 1 and path.endswith("/"):
                toggled = path[:-1]
            else:
                toggled = path + "/"
            if table.lookup(method, toggled) is not None:
                return self._redirect(request, toggled, hasQuery + rawQuery, code)
            fixed = table.fixedPath(method, cleanPath(path))
            if fixed is not None:
                return self._redirect(request, fixed, hasQuery + rawQuery, code)

        allow = table.allowed(path, method)
        if method == "OPTIONS":
            if allow:
                return self._respond(request, 200, [(b"Allow", allow.encode())], b"")
        elif allow:
            untyped(request).setHeader(b"Allow", allow.encode())
            self._logMiss(request, 405)
            return self._write(request, respondV1(request, 405, "METHOD_NOT_ALLOWED"))
        self._logMiss(request, 404)
        return self._write(request, respondV1(request, 404, "NOT_FOUND"))

    def _logMiss(self, request: IRequest, status: int) -> None:
        # Go's NotFound, MethodNotAllowed and Panic handlers go through
        # http_api.Log too (its redirects and OPTIONS answers do not).
        if self._log is not None:
            self._logRequest(self._log, request, status, time.perf_counter_ns())

    # Calling handlers.

    def _call(
        self, bound: BoundRoute, request: IRequest, params: dict[str, str]
    ) -> bytes | int:
        log = self._log if bound.logged else None
        start = 0 if log is None else time.perf_counter_ns()
        try:
            result = bound.handler(request, **params)
        except HTTPError as error:
            if log is not None:
                self._logRequest(log, request, error.code, start)
            return bound.answer.error(request, error)
        except Exception:
            body = _internalError(request, Failure())
            # Go's PanicHandler answers through http_api.Log, whether the
            # route was logged or not.
            self._logMiss(request, 500)
            return body
        if log is not None:
            self._logRequest(log, request, 200, start)
        if isinstance(result, Deferred):
            self._later(bound.answer, request, result)
            return NOT_DONE_YET
        return self._answer(bound.answer, request, result)

    @staticmethod
    def _answer(answer: Answer, request: IRequest, outcome: Any) -> bytes:
        """
        The body for a handler's outcome (its data, or a L{Failure}), its
        status and headers set: the one place outcomes become responses.
        """
        if isinstance(outcome, Failure):
            if isinstance(outcome.value, HTTPError):
                return answer.error(request, outcome.value)
            return _internalError(request, outcome)
        try:
            return answer.data(request, outcome)
        except Exception:
            return _internalError(request, Failure())

    def _later(self, answer: Answer, request: IRequest, result: Deferred[Any]) -> None:
        # Answered when the handler's Deferred fires, unless the client has
        # gone by then.
        gone: list[Failure] = []
        untyped(request).notifyFinish().addErrback(gone.append)

        def respond(outcome: Any) -> None:
            body = self._answer(answer, request, outcome)
            if not gone:
                req = untyped(request)
                req.write(body)
                req.finish()

        result.addBoth(respond)

    @staticmethod
    def _logRequest(log: Logger, request: IRequest, status: int, start: int) -> None:
        # Go's http_api.Log, after the handler returns.
        log.info(
            "{status} {method} {uri} ({remote}) {elapsed}",
            status=status,
            method=request.method.decode("latin-1"),
            uri=request.uri.decode("latin-1"),
            remote=_peer(request),
            elapsed=formatDurationNanoseconds(time.perf_counter_ns() - start),
        )

    # Misses.

    @staticmethod
    def _decodePath(rawPath: bytes) -> str | None:
        # Go's url.ParseRequestURI: no control bytes, valid escapes, and
        # the path decoded (so "/p%69ng" is "/ping").
        if _CONTROL.search(rawPath):
            return None
        if rawPath == b"*":
            return "*"
        if not rawPath.startswith(b"/"):
            return None
        decoded = unescape(rawPath, plusIsSpace=False)
        if decoded is None:
            return None
        return decoded.decode("utf-8", "surrogateescape")

    def _redirect(self, request: IRequest, path: str, query: bytes, code: int) -> int:
        url = redirectURL(path, query)
        headers = [(b"Location", hexEscapeNonASCII(url))]
        body = b""
        if request.method in (b"GET", b"HEAD"):
            headers.append((b"Content-Type", HTML_CONTENT_TYPE))
        if request.method == b"GET":
            body = redirectPage(url, code)
        return self._respond(request, code, headers, body)

    def _respond(
        self,
        request: IRequest,
        code: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> int:
        req = untyped(request)
        req.setResponseCode(code)
        for name, value in headers:
            req.setHeader(name, value)
        req.setHeader(b"Content-Length", b"%d" % (len(body),))
        return self._write(request, body)

    @staticmethod
    def _write(request: IRequest, body: bytes) -> int:
        # Written here rather than returned so a HEAD response keeps the
        # Content-Length of the body it does not carry, as Go's does.
        req = untyped(request)
        if body and request.method != b"HEAD":
            req.write(body)
        req.finish()
        return NOT_DONE_YET
