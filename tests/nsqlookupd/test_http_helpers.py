"""
Tests for L{txnsq._http}: Go's router and response conventions.

Requests go through a real L{Site} over a L{StringTransport} as raw bytes,
so request targets that HTTP clients would normalise (C{*}, C{//ping},
C{/./ping}, bad escapes, non-ASCII) reach the router as sent.
"""

from __future__ import annotations

from typing import Any

from klein import Klein
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.iweb import IRequest

from tests.golden import loadRecordings, runHTTPCase
from txnsq._http import (
    GoRouter,
    GoSite,
    HTTPError,
    QueryError,
    RequestParams,
    Route,
    cleanPath,
    parseQuery,
    plainText,
    sniffContentType,
    v1,
)


class ExampleAPI:
    """
    Routes shaped like nsqd's, to exercise the router and decorators.
    """

    app = Klein()

    @app.route("/ping", methods=["GET"])
    @plainText
    def ping(self, request: IRequest) -> str:
        """
        Plain text.
        """
        return "OK"

    @app.route("/pub", methods=["POST"])
    @v1
    def pub(self, request: IRequest) -> str:
        """
        V1 text, echoing the topic parameter.
        """
        params = RequestParams.fromRequest(request)
        topic = params.get("topic")
        if topic is None:
            raise HTTPError(400, "MISSING_ARG_TOPIC")
        return "OK " + topic

    @app.route("/config/<opt>", methods=["GET", "PUT"])
    @v1
    def config(self, request: IRequest, opt: str) -> Any:
        """
        A parameter route.
        """
        return {"opt": opt}

    @app.route("/debug/pprof/", methods=["GET"])
    @v1
    def pprof(self, request: IRequest) -> bytes:
        """
        A route with a trailing slash.
        """
        return b"<html>profiles</html>"

    @app.route("/empty", methods=["POST"])
    @v1
    def empty(self, request: IRequest) -> None:
        """
        No data: an empty 200.
        """

    @app.route("/later", methods=["GET"])
    @v1
    def later(self, request: IRequest) -> Deferred[Any]:
        """
        A Deferred result.
        """
        return succeed(["a", 1])

    @app.route("/laterError", methods=["GET"])
    @v1
    def laterError(self, request: IRequest) -> Deferred[Any]:
        """
        A Deferred failing with an L{HTTPError}.
        """
        return fail(HTTPError(404, "TOPIC_NOT_FOUND"))

    @app.route("/boom", methods=["GET"])
    @v1
    def boom(self, request: IRequest) -> None:
        """
        A handler bug.
        """
        raise ZeroDivisionError()

    @app.route("/nan", methods=["GET"])
    @v1
    def nan(self, request: IRequest) -> Any:
        """
        Data Go cannot marshal.
        """
        return {"x": float("nan")}

    @app.route("/textError", methods=["PUT"])
    @plainText
    def textError(self, request: IRequest) -> str:
        """
        A plain-text error.
        """
        raise HTTPError(400, "INVALID_BLOCK_RATE")

    @app.route("/textNone", methods=["POST"])
    @plainText
    def textNone(self, request: IRequest) -> None:
        """
        Go's PlainText cannot render nothing.
        """


class Response:
    """
    A parsed raw HTTP response.
    """

    def __init__(self, raw: bytes) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        self.status = int(lines[0].split(b" ")[1])
        self.headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b": ")
            self.headers[name.decode().lower()] = value.decode("latin-1")

    def nsq(self) -> dict[str, str]:
        """
        The headers the golden recordings keep.
        """
        return {
            name: value
            for name, value in self.headers.items()
            if name in ("content-type", "allow", "location")
            or name.startswith("x-nsq-")
        }


def request(method: str, target: bytes, body: bytes = b"") -> Response:
    """
    Send one raw request to L{ExampleAPI} behind L{GoRouter}.
    """
    site = GoSite(GoRouter.forKlein(ExampleAPI().app), reactor=Clock())
    channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 80))
    assert channel is not None
    transport = StringTransport()
    channel.makeConnection(transport)
    channel.dataReceived(
        method.encode()
        + b" "
        + target
        + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + b"Content-Length: %d\r\n\r\n" % (len(body),)
        + body
    )
    return Response(transport.value())


V1_JSON = {
    "content-type": "application/json; charset=utf-8",
    "x-nsq-content-type": "nsq; version=1.0",
}


class RouterTests(SynchronousTestCase):
    """
    L{GoRouter} answers as httprouter v1.3.0 does.
    """

    def test_exactMatch(self) -> None:
        """
        Matching routes reach Klein, parameters included; the path is
        percent-decoded first, as Go's is.
        """
        self.assertEqual(request("GET", b"/ping").body, b"OK")
        self.assertEqual(request("GET", b"/p%69ng").body, b"OK")
        self.assertEqual(
            request("GET", b"/config/log_level").body, b'{"opt":"log_level"}'
        )
        self.assertEqual(request("PUT", b"/config/x").body, b'{"opt":"x"}')

    def test_methodNotAllowed(self) -> None:
        """
        Another method's route gives 405 with a sorted C{Allow}, OPTIONS
        included; HEAD is never routed and gets the headers without a body.
        """
        response = request("POST", b"/config/x")
        self.assertEqual(response.status, 405)
        self.assertEqual(response.nsq(), dict(V1_JSON, allow="GET, OPTIONS, PUT"))
        self.assertEqual(response.body, b'{"message":"METHOD_NOT_ALLOWED"}')
        response = request("HEAD", b"/ping")
        self.assertEqual((response.status, response.body), (405, b""))
        self.assertEqual(response.headers["content-length"], "32")
        self.assertEqual(response.nsq(), dict(V1_JSON, allow="GET, OPTIONS"))

    def test_options(self) -> None:
        """
        OPTIONS lists the methods (200, empty, no C{Content-Type}); C{*}
        lists every method; an unknown path is 404.
        """
        response = request("OPTIONS", b"/config/x")
        self.assertEqual(
            (response.status, response.nsq(), response.body),
            (200, {"allow": "GET, OPTIONS, PUT"}, b""),
        )
        self.assertEqual(
            request("OPTIONS", b"*").nsq(), {"allow": "GET, OPTIONS, POST, PUT"}
        )
        self.assertEqual(
            request("GET", b"*").nsq(), dict(V1_JSON, allow="GET, OPTIONS, POST, PUT")
        )
        self.assertEqual(request("OPTIONS", b"/nope").status, 404)

    def test_notFound(self) -> None:
        """
        Unknown paths are 404 C{NOT_FOUND}; so is a wrong trailing slash for a
        method with no such route.
        """
        for method, target in (
            ("GET", b"/nope"),
            ("GET", b"/"),
            ("POST", b"/ping/"),
        ):
            response = request(method, target)
            self.assertEqual(
                (response.status, response.nsq(), response.body),
                (404, V1_JSON, b'{"message":"NOT_FOUND"}'),
                target,
            )

    def test_redirectGET(self) -> None:
        """
        GET with a wrong trailing slash, letter case or unclean path gets a
        301 with Go's HTML body, keeping the query.
        """
        cases = {
            b"/ping/": b"/ping",
            b"/PING": b"/ping",
            b"/Ping/": b"/ping",
            b"//ping": b"/ping",
            b"/./ping": b"/ping",
            b"/x/../ping": b"/ping",
            b"/debug/pprof": b"/debug/pprof/",
            b"/CONFIG/Log_Level": b"/config/Log_Level",
            b"/Config/a!b": b"/config/a%21b",
            b"/%C5%BFome/../PING": b"/ping",
            b"/PING?a=1&b=<'>": b"/ping?a=1&b=<'>",
        }
        for target, location in cases.items():
            response = request("GET", target)
            self.assertEqual(response.status, 301, target)
            self.assertEqual(
                response.nsq(),
                {
                    "content-type": "text/html; charset=utf-8",
                    "location": location.decode(),
                },
                target,
            )
        self.assertEqual(
            request("GET", b"/PING?a=<'&\">").body,
            b'<a href="/ping?a=&lt;&#39;&amp;&#34;&gt;">Moved Permanently</a>.\n\n',
        )

    def test_redirectOther(self) -> None:
        """
        Other methods get 307, without a body or C{Content-Type}.
        """
        response = request("POST", b"/pub/?topic=t", b"x")
        self.assertEqual(
            (response.status, response.nsq(), response.body),
            (307, {"location": "/pub?topic=t"}, b""),
        )
        self.assertEqual(
            request("PUT", b"/Config/x?").nsq(), {"location": "/config/x?"}
        )

    def test_badRequestTarget(self) -> None:
        """
        A malformed escape in the path is Go's plain 400.
        """
        response = request("GET", b"/p%zzing")
        self.assertEqual(
            (response.status, response.nsq()["content-type"], response.body),
            (400, "text/plain; charset=utf-8", b"400 Bad Request"),
        )

    def test_forKleinRejects(self) -> None:
        """
        Routes httprouter could not express are refused.
        """

        class Bad:
            app = Klein()

            @app.route("/a/<int:n>", methods=["GET"])
            def n(self, request: IRequest, n: int) -> str:
                return ""

        self.assertRaises(ValueError, GoRouter.forKlein, Bad().app)

        class NoMethods:
            app = Klein()

            @app.route("/a")
            def a(self, request: IRequest) -> str:
                return ""

        self.assertRaises(ValueError, GoRouter.forKlein, NoMethods().app)

    def test_route(self) -> None:
        """
        L{Route.match} matches whole segments, parameters non-empty, and
        gives the route's spelling for case-insensitive matches.
        """
        route = Route("GET", "/config/:opt")
        self.assertEqual(route.match("/config/x"), "/config/x")
        self.assertIsNone(route.match("/config/"))
        self.assertIsNone(route.match("/config/x/y"))
        self.assertIsNone(route.match("/CONFIG/x"))
        self.assertEqual(route.match("/CONFIG/X", caseInsensitive=True), "/config/X")
        # Go's simple case folding: LONG S and KELVIN SIGN match s and k.
        self.assertEqual(
            Route("GET", "/stats/kind").match(
                "/\u017ftats/\u212aIND", caseInsensitive=True
            ),
            "/stats/kind",
        )
        self.assertRaises(ValueError, Route, "GET", "config")

    def test_cleanPath(self) -> None:
        """
        L{cleanPath} agrees with httprouter's own test table.
        """
        cases = {
            "": "/",
            "/": "/",
            "//": "/",
            "abc": "/abc",
            "/abc/": "/abc/",
            "//abc//": "/abc/",
            ".": "/",
            "./": "/",
            "/abc/./def": "/abc/def",
            "/abc/.": "/abc/",
            "..": "/",
            "../../abc": "/abc",
            "/abc/def/ghi/../jkl": "/abc/def/jkl",
            "/abc/def/..": "/abc",
            "/abc/def/../..": "/",
            "/abc/def/../../../ghi/jkl/../../../mno": "/mno",
            "abc/../../././../def": "/def",
        }
        for path, cleaned in cases.items():
            self.assertEqual(cleanPath(path), cleaned, path)


class ResponseTests(SynchronousTestCase):
    """
    L{v1} and L{plainText} write Go's responses.
    """

    def test_v1Text(self) -> None:
        """
        V1 text is sent as is, with a sniffed type and the V1 header.
        """
        response = request("POST", b"/pub?topic=t")
        self.assertEqual(
            (response.status, response.nsq(), response.body),
            (
                200,
                {
                    "content-type": "text/plain; charset=utf-8",
                    "x-nsq-content-type": "nsq; version=1.0",
                },
                b"OK t",
            ),
        )
        self.assertEqual(
            request("GET", b"/debug/pprof/").nsq()["content-type"],
            "text/html; charset=utf-8",
        )

    def test_v1Empty(self) -> None:
        """
        No data: 200, empty, no C{Content-Type}.
        """
        response = request("POST", b"/empty")
        self.assertEqual(
            (response.status, response.nsq(), response.body),
            (200, {"x-nsq-content-type": "nsq; version=1.0"}, b""),
        )
        self.assertEqual(response.headers["content-length"], "0")

    def test_v1Deferred(self) -> None:
        """
        Deferred results and L{HTTPError} failures are rendered the same.
        """
        self.assertEqual(request("GET", b"/later").body, b'["a",1]')
        response = request("GET", b"/laterError")
        self.assertEqual(
            (response.status, response.body), (404, b'{"message":"TOPIC_NOT_FOUND"}')
        )

    def test_v1Errors(self) -> None:
        """
        L{HTTPError} gives its status and message; a bug gives 500
        C{INTERNAL_ERROR}; unmarshalable data gives 500 with Go's message.
        """
        response = request("POST", b"/pub")
        self.assertEqual(
            (response.status, response.nsq(), response.body),
            (400, V1_JSON, b'{"message":"MISSING_ARG_TOPIC"}'),
        )
        response = request("POST", b"/pub?topic=%zz")
        self.assertEqual(response.body, b'{"message":"INVALID_REQUEST"}')
        response = request("GET", b"/boom")
        self.assertEqual(
            (response.status, response.body), (500, b'{"message":"INTERNAL_ERROR"}')
        )
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        response = request("GET", b"/nan")
        self.assertEqual(
            (response.status, response.body),
            (500, b'{"message":"json: unsupported value: NaN"}'),
        )

    def test_plainText(self) -> None:
        """
        Plain text has no V1 header; its errors are plain text too; no data
        is Go's 500 (the PlainText panic).
        """
        response = request("GET", b"/ping")
        self.assertEqual(response.nsq(), {"content-type": "text/plain; charset=utf-8"})
        response = request("PUT", b"/textError")
        self.assertEqual(
            (response.status, response.nsq(), response.body),
            (400, {"content-type": "text/plain; charset=utf-8"}, b"INVALID_BLOCK_RATE"),
        )
        response = request("POST", b"/textNone")
        self.assertEqual(
            (response.status, response.nsq(), response.body),
            (500, V1_JSON, b'{"message":"INTERNAL_ERROR"}'),
        )
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)


class QueryTests(SynchronousTestCase):
    """
    L{parseQuery} follows Go's C{url.ParseQuery}.
    """

    def test_parse(self) -> None:
        """
        Pairs split on C{&}, repeated keys, missing values, C{+} and
        escapes; empty pairs skipped; an empty key kept.
        """
        self.assertEqual(
            parseQuery(b"a=1&a=2&b&&c=x+y%21&=z&d=%ff"),
            {"a": ["1", "2"], "b": [""], "c": ["x y!"], "": ["z"], "d": ["\udcff"]},
        )
        self.assertEqual(parseQuery(b""), {})

    def test_errors(self) -> None:
        """
        Bad escapes and semicolons are errors.
        """
        for raw in (b"a=%zz", b"a=%f", b"%=1", b"a=1;b=2", b"a=1&b;"):
            self.assertRaises(QueryError, parseQuery, raw)


class SniffTests(SynchronousTestCase):
    """
    L{sniffContentType} gives Go's C{http.DetectContentType} answers.
    """

    def test_sniff(self) -> None:
        """
        Text, HTML, XML, a few binary signatures and binary data.
        """
        cases = {
            b"OK": b"text/plain; charset=utf-8",
            b"127.0.0.1:4150": b"text/plain; charset=utf-8",
            b" \n<!DOCTYPE html>": b"text/html; charset=utf-8",
            b"<html>": b"text/html; charset=utf-8",
            b"<a href": b"text/html; charset=utf-8",
            b"<ab>": b"text/plain; charset=utf-8",
            b"<!-- x": b"text/html; charset=utf-8",
            b"<?xml version": b"text/xml; charset=utf-8",
            b"%PDF-1.4": b"application/pdf",
            b"\xef\xbb\xbfx": b"text/plain; charset=utf-8",
            b"\xfe\xffx": b"text/plain; charset=utf-16be",
            b"\x89PNG\r\n\x1a\n": b"image/png",
            b"\x1f\x8b\x08": b"application/x-gzip",
            b"a\x00b": b"application/octet-stream",
            b"\xff\xfe\xfd": b"text/plain; charset=utf-16le",
            b"caf\xc3\xa9\t\n": b"text/plain; charset=utf-8",
        }
        for data, contentType in cases.items():
            self.assertEqual(sniffContentType(data), contentType, data)


class NSQDRoutes:
    """
    Go nsqd 1.3.0's route table with stub handlers, to replay the nsqd
    recordings that exercise only the router and the response wrappers.
    """

    app = Klein()

    @app.route("/ping", methods=["GET"])
    @plainText
    def ping(self, request: IRequest) -> str:
        """
        Healthy.
        """
        return "OK"

    @app.route("/pub", methods=["POST"])
    @app.route("/mpub", methods=["POST"])
    @app.route("/stats", methods=["GET"])
    @app.route("/info", methods=["GET"])
    @app.route("/topic/create", methods=["POST"])
    @app.route("/topic/delete", methods=["POST"])
    @app.route("/topic/empty", methods=["POST"])
    @app.route("/topic/pause", methods=["POST"])
    @app.route("/topic/unpause", methods=["POST"])
    @app.route("/channel/create", methods=["POST"])
    @app.route("/channel/delete", methods=["POST"])
    @app.route("/channel/empty", methods=["POST"])
    @app.route("/channel/pause", methods=["POST"])
    @app.route("/channel/unpause", methods=["POST"])
    @app.route("/config/<opt>", methods=["GET", "PUT"])
    @app.route("/debug/pprof/", methods=["GET"])
    @app.route("/debug/pprof/cmdline", methods=["GET"])
    @app.route("/debug/pprof/symbol", methods=["GET", "POST"])
    @app.route("/debug/pprof/profile", methods=["GET"])
    @app.route("/debug/pprof/heap", methods=["GET"])
    @app.route("/debug/pprof/goroutine", methods=["GET"])
    @app.route("/debug/pprof/block", methods=["GET"])
    @app.route("/debug/pprof/threadcreate", methods=["GET"])
    @app.route("/debug/setblockrate", methods=["PUT"])
    @v1
    def anything(self, request: IRequest, opt: str = "") -> None:
        """
        Parse the query as every nsqd handler does.
        """
        RequestParams.fromRequest(request)

    @app.route("/debug/freememory", methods=["POST"])
    @plainText
    def freeMemory(self, request: IRequest) -> None:
        """
        Go returns no data here, which PlainText turns into a 500.
        """


#: nsqd recordings whose answers come from the router and the wrappers.
ROUTER_RECORDINGS = (
    "options_config",
    "options_pub",
    "ping",
    "ping_head_405",
    "ping_post_405",
    "redirect_case_insensitive",
    "redirect_post_307",
    "redirect_trailing_slash",
    "not_found",
    "info_post_405",
    "config_post_405",
    "pub_get_405",
    "topic_create_get_405",
    "pub_invalid_query",
    "stats_invalid_query",
    "debug_freememory",
)


class NSQDRouterGoldenTests(TestCase):
    """
    The nsqd recordings of router behaviour replay against L{GoSite} with
    nsqd's route table: the helpers are ready for nsqd's HTTP API.
    """

    def test_recordings(self) -> Deferred[None]:
        """
        Every router recording matches status, headers and body.
        """

        async def run() -> None:
            site = GoSite(GoRouter.forKlein(NSQDRoutes().app))
            port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[attr-defined]
            self.addCleanup(port.stopListening)
            recordings = dict(loadRecordings("http", "nsqd"))
            problems = []
            for name in ROUTER_RECORDINGS:
                found = await runHTTPCase(
                    reactor,
                    recordings[name],
                    host="127.0.0.1",
                    httpPort=port.getHost().port,
                )
                problems += [f"{name}: {problem}" for problem in found]
            self.assertEqual(problems, [])
            # debug_freememory's recovered "panic" is logged.
            self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)

        return Deferred.fromCoroutine(run())
