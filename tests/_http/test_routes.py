"""
Tests for L{txnsq._http._routes}: route patterns and route tables.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import IRequest

from txnsq._http import PLAIN_TEXT, V1, BoundRoute, Route, Routes, RouteTable


class RouteTests(SynchronousTestCase):
    """
    L{Route} matches as an httprouter route does.
    """

    def test_match(self) -> None:
        """
        L{Route.match} matches whole segments, parameters non-empty, and
        gives the route's spelling for case-insensitive matches.
        """
        route = Route("GET", "/config/:opt")
        self.assertEqual(route.match("/config/x"), "/config/x")
        self.assertIsNone(route.match("/config/"))
        self.assertIsNone(route.match("/config/x/y"))
        self.assertIsNone(route.match("/CONFIG/x"))
        self.assertIsNone(route.match("config/x"))
        self.assertEqual(route.match("/CONFIG/X", caseInsensitive=True), "/config/X")
        # Go's simple case folding: LONG S and KELVIN SIGN match s and k.
        self.assertEqual(
            Route("GET", "/stats/kind").match(
                "/\u017ftats/\u212aIND", caseInsensitive=True
            ),
            "/stats/kind",
        )

    def test_params(self) -> None:
        """
        L{Route.params} gives the parameters of a matching path by name.
        """
        route = Route("GET", "/config/:opt")
        self.assertEqual(route.params("/config/a b"), {"opt": "a b"})
        self.assertEqual(Route("GET", "/ping").params("/ping"), {})
        for path in ("/config/", "/config/x/y", "/CONFIG/x", "config/x", "*"):
            self.assertIsNone(route.params(path), path)

    def test_isStatic(self) -> None:
        """
        A route without parameters matches one path only.
        """
        self.assertTrue(Route("GET", "/debug/pprof/").isStatic)
        self.assertFalse(Route("GET", "/config/:opt").isStatic)

    def test_invalid(self) -> None:
        """
        Patterns must be rooted and use whole-segment C{:name} parameters.
        """
        for pattern in ("config", "/a/b:c", "/a/:", "/a/:b:c", "/files/*path", "/é"):
            self.assertRaises(ValueError, Route, "GET", pattern)


class RoutesTests(SynchronousTestCase):
    """
    L{Routes} collects routes declared on a class and binds them.
    """

    def test_bind(self) -> None:
        """
        Each method of a declaration is a route, in declaration order, with
        its answer and logging flag, and the handler bound to the instance.
        """
        routes = Routes()

        class API:
            @routes.route("GET", "/ping", PLAIN_TEXT)
            def ping(self, request: IRequest) -> str:
                return f"ping from {self.name}"

            @routes.route(("GET", "PUT"), "/config/:opt", logged=False)
            def config(self, request: IRequest, opt: str) -> str:
                return opt

            def __init__(self, name: str) -> None:
                self.name = name

        bound = routes.bind(API("a"))
        self.assertEqual(
            [(b.route, b.answer, b.logged) for b in bound],
            [
                (Route("GET", "/ping"), PLAIN_TEXT, True),
                (Route("GET", "/config/:opt"), V1, False),
                (Route("PUT", "/config/:opt"), V1, False),
            ],
        )
        request: IRequest = None  # type: ignore[assignment]
        self.assertEqual(bound[0].handler(request), "ping from a")
        self.assertEqual(bound[2].handler(request, opt="x"), "x")
        self.assertEqual(routes.bind(API("b"))[0].handler(request), "ping from b")

    def test_log(self) -> None:
        """
        The table keeps the log it is given.
        """
        self.assertIsNone(Routes().log)

    def test_headRefused(self) -> None:
        """
        C{HEAD} is never routed, so it cannot be declared; bad patterns are
        refused when declared.
        """
        routes = Routes()
        self.assertRaises(ValueError, routes.route, "HEAD", "/ping")
        self.assertRaises(ValueError, routes.route, ("GET", "HEAD"), "/ping")
        self.assertRaises(ValueError, routes.route, "GET", "ping")


def _table(*routes: tuple[str, str]) -> RouteTable:
    """
    A table of C{(method, pattern)} routes whose handlers return the
    pattern.
    """

    def handler(pattern: str) -> Callable[..., str]:
        return lambda request, **params: pattern

    return RouteTable(
        BoundRoute(Route(method, pattern), handler(pattern), V1, True)
        for method, pattern in routes
    )


class RouteTableTests(SynchronousTestCase):
    """
    L{RouteTable} answers what httprouter's tree answers.
    """

    def setUp(self) -> None:
        self.table = _table(
            ("GET", "/ping"),
            ("POST", "/pub"),
            ("GET", "/config/:opt"),
            ("PUT", "/config/:opt"),
            ("GET", "/debug/pprof/"),
        )

    def test_lookup(self) -> None:
        """
        A method and a decoded path find their route and its parameters.
        """
        found = self.table.lookup("PUT", "/config/x")
        assert found is not None
        self.assertEqual(
            (found[0].route, found[1]), (Route("PUT", "/config/:opt"), {"opt": "x"})
        )
        found = self.table.lookup("GET", "/ping")
        assert found is not None
        self.assertEqual((found[0].route, found[1]), (Route("GET", "/ping"), {}))
        self.assertIsNone(self.table.lookup("POST", "/ping"))
        self.assertIsNone(self.table.lookup("GET", "/ping/"))
        self.assertIsNone(self.table.lookup("GET", "/config/"))

    def test_raw(self) -> None:
        """
        Parameterless routes are indexed by their bytes for the fast path.
        """
        self.assertEqual(
            {path: sorted(byMethod) for path, byMethod in self.table.raw.items()},
            {b"/ping": [b"GET"], b"/pub": [b"POST"], b"/debug/pprof/": [b"GET"]},
        )
        self.assertEqual(self.table.methods, {"GET", "POST", "PUT"})

    def test_allowed(self) -> None:
        """
        The other methods of matching routes plus OPTIONS, sorted; every
        method for C{*}; nothing for an unknown path.
        """
        self.assertEqual(self.table.allowed("/config/x", "POST"), "GET, OPTIONS, PUT")
        self.assertEqual(self.table.allowed("/config/x", "GET"), "OPTIONS, PUT")
        self.assertEqual(self.table.allowed("/ping", "GET"), "")
        self.assertEqual(self.table.allowed("*", "OPTIONS"), "GET, OPTIONS, POST, PUT")
        self.assertEqual(self.table.allowed("/nope", "GET"), "")

    def test_fixedPath(self) -> None:
        """
        Letter case and a trailing slash are fixed to a route of the method,
        parameters keeping their case.
        """
        self.assertEqual(self.table.fixedPath("GET", "/PING/"), "/ping")
        self.assertEqual(self.table.fixedPath("GET", "/Debug/PProf"), "/debug/pprof/")
        self.assertEqual(self.table.fixedPath("PUT", "/CONFIG/Ab"), "/config/Ab")
        self.assertIsNone(self.table.fixedPath("POST", "/PING"))

    def test_duplicate(self) -> None:
        """
        Two handlers for one method and pattern are refused.
        """
        self.assertRaises(ValueError, _table, ("GET", "/a"), ("GET", "/a"))
        self.assertRaises(ValueError, _table, ("GET", "/a/:b"), ("GET", "/a/:b"))
        _table(("GET", "/a"), ("POST", "/a"))
