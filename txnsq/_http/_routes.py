# -*- test-case-name: tests._http.test_routes -*-
"""
Route tables in httprouter's pattern syntax: declared on the class whose
methods handle them (L{Routes}, as with Klein's C{app.route}), bound to an
instance and indexed for matching (L{RouteTable}) by
L{txnsq._http.GoRouter}.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from types import MethodType
from typing import Any, TypeVar

import attrs
from twisted.logger import Logger

from txnsq._http._responses import V1, Answer

__all__ = ["BoundRoute", "Route", "RouteTable", "Routes"]


def _fold(text: str) -> str:
    # Case-insensitive comparison with the (ASCII) route text: Go's simple
    # folding also maps U+017F LONG S to "s" (U+212A KELVIN SIGN lowers to
    # "k" in Python too).
    return text.replace("\u017f", "s").lower()


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
        if not self.pattern.isascii():
            raise ValueError(f"path must be ASCII in path '{self.pattern}'")
        segments = tuple(self.pattern.split("/")[1:])
        for segment in segments:
            if "*" in segment or ":" in segment[1:] or segment == ":":
                raise ValueError(f"unsupported parameter in path '{self.pattern}'")
        return segments

    @property
    def isStatic(self) -> bool:
        """
        Whether the pattern has no parameter (it matches one path only).
        """
        return not any(segment.startswith(":") for segment in self.segments)

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

    def params(self, path: str) -> dict[str, str] | None:
        """
        The parameters of C{path} (decoded) by name, or L{None} if it does
        not match.
        """
        elements = path.split("/")[1:]
        if not path.startswith("/") or len(elements) != len(self.segments):
            return None
        found: dict[str, str] = {}
        for element, segment in zip(elements, self.segments):
            if segment.startswith(":"):
                if not element:
                    return None
                found[segment[1:]] = element
            elif element != segment:
                return None
        return found


@attrs.frozen
class BoundRoute:
    """
    A route with its handler bound to the object serving it.

    @ivar route: the method and pattern.
    @ivar handler: called with the request and the pattern's parameters
        as keyword arguments; returns data for L{answer} (or a
        L{Deferred<twisted.internet.defer.Deferred>} of it) or raises
        L{HTTPError<txnsq._http.HTTPError>}.
    @ivar answer: how the outcome becomes a response.
    @ivar logged: whether the request is logged, when its table has a log.
    """

    route: Route
    handler: Callable[..., Any]
    answer: Answer
    logged: bool


@attrs.frozen
class _Declared:
    route: Route
    function: Callable[..., Any]
    answer: Answer
    logged: bool


F = TypeVar("F", bound=Callable[..., Any])


class Routes:
    """
    A route table declared on a class, whose methods are the handlers::

        class API:
            routes = Routes()

            @routes.route("GET", "/ping", PLAIN_TEXT)
            def ping(self, request: IRequest) -> str:
                return "OK"

            @routes.route(("GET", "PUT"), "/config/:opt")
            def config(self, request: IRequest, opt: str) -> object:
                ...

    C{HEAD} is never routed (Go nsq registers no C{HEAD} handler), so it
    cannot be declared.

    @ivar log: where requests are logged as Go's C{http_api.Log} does
        (C{<status> <method> <uri> (<peer>) <elapsed>} at INFO), or
        L{None} for no request log.
    """

    def __init__(self, log: Logger | None = None) -> None:
        self.log = log
        self._declared: list[_Declared] = []

    def route(
        self,
        methods: str | Sequence[str],
        pattern: str,
        answer: Answer = V1,
        *,
        logged: bool = True,
    ) -> Callable[[F], F]:
        """
        Declare the decorated method as the handler of C{pattern} for
        C{methods}.

        @param answer: L{V1<txnsq._http.V1>} or
            L{PLAIN_TEXT<txnsq._http.PLAIN_TEXT>}.
        @param logged: whether the table's L{log} records these requests.
        @raise ValueError: for a pattern httprouter could not express here,
            or C{HEAD}.
        """
        names = [methods] if isinstance(methods, str) else list(methods)
        if "HEAD" in names:
            raise ValueError("HEAD is never routed")
        routes = [Route(method, pattern) for method in names]

        def declare(function: F) -> F:
            for route in routes:
                self._declared.append(_Declared(route, function, answer, logged))
            return function

        return declare

    def bind(self, instance: object) -> list[BoundRoute]:
        """
        The declared routes, in declaration order, with their handlers bound
        to C{instance}.
        """
        return [
            BoundRoute(
                declared.route,
                MethodType(declared.function, instance),
                declared.answer,
                declared.logged,
            )
            for declared in self._declared
        ]


class RouteTable:
    """
    Bound routes indexed for matching, answering what httprouter's tree
    answers: the route for a method and a decoded path, the methods allowed
    on a path, and where a case-insensitive match redirects.

    @ivar raw: the parameterless routes by raw path then method, in bytes:
        a request whose raw path is spelled exactly as such a route's
        (ASCII) pattern has that pattern as its decoded path, so this one
        dictionary lookup finds its route, which keeps publishing
        (C{POST /pub}) cheap.
    @ivar methods: every routed method.
    """

    def __init__(self, routes: Iterable[BoundRoute]) -> None:
        """
        @raise ValueError: for two handlers of one method and pattern, which
            httprouter refuses too.
        """
        self._routes = list(routes)
        self.methods = frozenset(bound.route.method for bound in self._routes)
        self.raw: dict[bytes, dict[bytes, BoundRoute]] = {}
        self._static: dict[str, dict[str, BoundRoute]] = {}
        self._dynamic: list[BoundRoute] = []
        seen: set[tuple[str, str]] = set()
        for bound in self._routes:
            route = bound.route
            if (route.method, route.pattern) in seen:
                raise ValueError(f"a handle is already registered for {route}")
            seen.add((route.method, route.pattern))
            if not route.isStatic:
                self._dynamic.append(bound)
                continue
            self._static.setdefault(route.pattern, {})[route.method] = bound
            raw = self.raw.setdefault(route.pattern.encode("ascii"), {})
            raw[route.method.encode("ascii")] = bound

    def lookup(
        self, method: str, path: str
    ) -> tuple[BoundRoute, dict[str, str]] | None:
        """
        The route for C{method} that matches C{path} (decoded), with the
        path's parameters; L{None} if none does.
        """
        byMethod = self._static.get(path)
        if byMethod is not None:
            bound = byMethod.get(method)
            if bound is not None:
                return bound, {}
        for bound in self._dynamic:
            if bound.route.method == method:
                params = bound.route.params(path)
                if params is not None:
                    return bound, params
        return None

    def allowed(self, path: str, method: str) -> str:
        """
        httprouter's C{Allow} list for C{path}: the other methods with a
        matching route, plus C{OPTIONS}, sorted; empty if none.  For the
        path C{*}, every routed method.
        """
        if path == "*":
            methods = {m for m in self.methods if m != "OPTIONS"}
        else:
            methods = {
                bound.route.method
                for bound in self._routes
                if bound.route.method not in (method, "OPTIONS")
                and bound.route.match(path) is not None
            }
        if not methods:
            return ""
        return ", ".join(sorted(methods | {"OPTIONS"}))

    def fixedPath(self, method: str, path: str) -> str | None:
        """
        httprouter's C{findCaseInsensitivePath} with C{fixTrailingSlash}:
        the path, in the routes' letter case and with or without a trailing
        slash, of a C{method} route C{path} matches that way; L{None} if
        none does.
        """
        candidates = [path]
        if len(path) > 1 and path.endswith("/"):
            candidates.append(path[:-1])
        elif path != "/":
            candidates.append(path + "/")
        for candidate in candidates:
            for bound in self._routes:
                if bound.route.method == method:
                    fixed = bound.route.match(candidate, caseInsensitive=True)
                    if fixed is not None:
                        return fixed
        return None
