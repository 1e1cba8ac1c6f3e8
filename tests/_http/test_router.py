"""
Tests for L{txnsq._http._router}: L{GoRouter} matches, calls and answers as
Go NSQ's httprouter and C{http_api.Decorate} do.

Requests go through a real L{GoSite} over a L{StringTransport} as raw
bytes, so request targets that HTTP clients would normalise (C{*},
C{//ping}, C{/./ping}, bad escapes, non-ASCII) reach the router as sent.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import LogEvent, Logger, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.iweb import IRequest
from twisted.web.server import Site

from tests.golden import loadRecordings, runHTTPCase
from txnsq._http import (
    PLAIN_TEXT,
    GoRouter,
    GoSite,
    HTTPError,
    RequestParams,
    Routes,
)

_requestLog = Logger(namespace="tests._http.example")


class ExampleAPI:
    """
    Routes shaped like nsqd's, to exercise the router and its answers.

    @ivar later: what C{/pending} returns.
    """

    routes = Routes(log=_requestLog)

    def __init__(self) -> None:
        self.later: Deferred[str] = Deferred()

    @routes.route("GET", "/ping", PLAIN_TEXT)
    def ping(self, request: IRequest) -> str:
        """
        Plain text.
        """
        return "OK"

    @routes.route("POST", "/pub", logged=False)
    def pub(self, request: IRequest) -> str:
        """
        V1 text, echoing the topic parameter.
        """
        params = RequestParams.fromRequest(request)
        topic = params.get("topic")
        if topic is None:
            raise HTTPError(400, "MISSING_ARG_TOPIC")
        return "OK " + topic

    @routes.route(("GET", "PUT"), "/config/:opt")
    def config(self, request: IRequest, opt: str) -> Any:
        """
        A parameter route.
        """
        return {"opt": opt}

    @routes.route("GET", "/debug/pprof/")
    def pprof(self, request: IRequest) -> bytes:
        """
        A route with a trailing slash.
        """
        return b"<html>profiles</html>"

    @routes.route("POST", "/empty")
    def empty(self, request: IRequest) -> None:
        """
        No data: an empty 200.
        """

    @routes.route("GET", "/later")
    def laterData(self, request: IRequest) -> Deferred[Any]:
        """
        A Deferred result.
        """
        return succeed(["a", 1])

    @routes.route("GET", "/laterError")
    def laterError(self, request: IRequest) -> Deferred[Any]:
        """
        A Deferred failing with an L{HTTPError}.
        """
        return fail(HTTPError(404, "TOPIC_NOT_FOUND"))

    @routes.route("GET", "/pending")
    def pending(self, request: IRequest) -> Deferred[str]:
        """
        A Deferred the test fires.
        """
        return self.later

    @routes.route("GET", "/boom")
    def boom(self, request: IRequest) -> None:
        """
        A handler bug.
        """
        raise ZeroDivisionError()

    @routes.route("GET", "/nan")
    def nan(self, request: IRequest) -> Any:
        """
        Data Go cannot marshal.
        """
        return {"x": float("nan")}

    @routes.route("PUT", "/textError", PLAIN_TEXT)
    def textError(self, request: IRequest) -> str:
        """
        A plain-text error.
        """
        raise HTTPError(400, "INVALID_BLOCK_RATE")

    @routes.route("POST", "/textNone", PLAIN_TEXT)
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


def connect(api: ExampleAPI | None = None) -> tuple[Any, StringTransport]:
    """
    A connection to L{ExampleAPI} behind L{GoRouter}: the HTTP channel and
    its transport.
    """
    if api is None:
        api = ExampleAPI()
    site = GoSite(GoRouter.forRoutes(api.routes, api), reactor=Clock())
    channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 80))
    assert channel is not None
    transport = StringTransport(peerAddress=IPv4Address("TCP", "10.0.0.1", 5555))
    channel.makeConnection(transport)
    return channel, transport


def rawRequest(method: str, target: bytes, body: bytes = b"") -> bytes:
    """
    One request's bytes, asking to close the connection after it.
    """
    return (
        method.encode()
        + b" "
        + target
        + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + b"Content-Length: %d\r\n\r\n" % (len(body),)
        + body
    )


def request(method: str, target: bytes, body: bytes = b"") -> Response:
    """
    Send one raw request to L{ExampleAPI} behind L{GoRouter}.
    """
    channel, transport = connect()
    channel.dataReceived(rawRequest(method, target, body))
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
        Matching routes reach their handler, parameters included; the path
        is percent-decoded first, as Go's is.
        """
        self.assertEqual(request("GET", b"/ping").body, b"OK")
        self.assertEqual(request("GET", b"/p%69ng").body, b"OK")
        self.assertEqual(request("POST", b"/p%75b?topic=t").body, b"OK t")
        self.assertEqual(
            request("GET", b"/config/log_level").body, b'{"opt":"log_level"}'
        )
        self.assertEqual(request("PUT", b"/config/x").body, b'{"opt":"x"}')
        self.assertEqual(request("GET", b"/config/a%21b").body, b'{"opt":"a!b"}')

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
        method with no such route, and an empty parameter.
        """
        for method, target in (
            ("GET", b"/nope"),
            ("GET", b"/"),
            ("POST", b"/ping/"),
            ("PUT", b"/config/x/y"),
            ("GET", b"/config/"),
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
        for target in (b"/p%zzing", b"/p%"):
            response = request("GET", target)
            self.assertEqual(
                (response.status, response.nsq()["content-type"], response.body),
                (400, "text/plain; charset=utf-8", b"400 Bad Request"),
                target,
            )

    def test_duplicateRoute(self) -> None:
        """
        Two handlers for one method and path are refused, as httprouter
        panics.
        """
        routes = Routes()

        class Twice:
            @routes.route("GET", "/a")
            def first(self, request: IRequest) -> str:
                return ""

            @routes.route("GET", "/a")
            def second(self, request: IRequest) -> str:
                return ""

        self.assertRaises(ValueError, GoRouter.forRoutes, routes, Twice())


class OutcomeTests(SynchronousTestCase):
    """
    A handler's outcome becomes the route's L{Answer}, in one place.
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

    def test_deferredAfterClientLeft(self) -> None:
        """
        A result arriving after the client has gone is dropped.
        """
        api = ExampleAPI()
        channel, transport = connect(api)
        channel.dataReceived(rawRequest("GET", b"/pending"))
        self.assertEqual(transport.value(), b"")
        channel.connectionLost(ConnectionError("gone"))
        api.later.callback("late")
        self.assertEqual(transport.value(), b"")

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


class RequestLogTests(SynchronousTestCase):
    """
    Routes are logged as Go's C{http_api.Log} does, to their table's log.
    """

    def setUp(self) -> None:
        self.events = EventLoggingObserver()
        globalLogPublisher.addObserver(self.events)
        self.addCleanup(globalLogPublisher.removeObserver, self.events)

    def logged(self) -> list[LogEvent]:
        """
        The request log events so far.
        """
        return [
            event
            for event in self.events
            if event["log_namespace"] == "tests._http.example"
        ]

    def test_logged(self) -> None:
        """
        Status (the handler's, as Go's C{Log} sees it), method, URI and peer
        are logged at INFO.
        """
        request("GET", b"/ping?x=1")
        request("GET", b"/laterError")
        [ping, later] = self.logged()
        self.assertEqual(
            (ping["status"], ping["method"], ping["uri"], ping["remote"]),
            (200, "GET", "/ping?x=1", "10.0.0.1:5555"),
        )
        self.assertEqual(ping["log_level"].name, "info")
        self.assertRegex(ping["elapsed"], r"^[\d.]+(ns|µs|ms|s)$")
        # Go's Log runs before the Deferred's outcome is known.
        self.assertEqual(later["status"], 200)

    def test_errorStatus(self) -> None:
        """
        An L{HTTPError} is logged with its status.
        """
        request("PUT", b"/textError")
        [event] = self.logged()
        self.assertEqual(event["status"], 400)

    def test_notLogged(self) -> None:
        """
        Routes marked C{logged=False} are not logged as requests.
        """
        request("POST", b"/pub?topic=t")
        self.assertEqual(self.logged(), [])

    def test_missesLogged(self) -> None:
        """
        A 404, a 405 and a handler bug (Go's recovered panic, 500) are
        logged as requests too, as Go's C{NotFound}, C{MethodNotAllowed}
        and C{PanicHandler} answer through C{http_api.Log}; redirects and
        C{OPTIONS} answers are not.
        """
        request("GET", b"/nope")
        request("DELETE", b"/ping")
        request("GET", b"/boom")
        request("GET", b"/ping/")
        request("OPTIONS", b"/ping")
        self.flushLoggedErrors(ZeroDivisionError)
        self.assertEqual(
            [(e["status"], e["method"], e["uri"]) for e in self.logged()],
            [(404, "GET", "/nope"), (405, "DELETE", "/ping"), (500, "GET", "/boom")],
        )

    def test_ipv6Peer(self) -> None:
        """
        An IPv6 peer is logged as Go's C{RemoteAddr}: C{[::1]:5555}.
        """
        api = ExampleAPI()
        site = Site(GoRouter.forRoutes(api.routes, api), reactor=Clock())
        peer = IPv6Address("TCP", "::1", 5555)
        channel = site.buildProtocol(peer)
        assert channel is not None
        channel.makeConnection(StringTransport(peerAddress=peer))
        channel.dataReceived(rawRequest("GET", b"/ping"))
        [event] = self.logged()
        self.assertEqual(event["remote"], "[::1]:5555")

    def test_unixPeer(self) -> None:
        """
        A peer without host and port (a unix socket) is logged as C{:0}.
        """
        api = ExampleAPI()
        site = Site(GoRouter.forRoutes(api.routes, api), reactor=Clock())
        channel = site.buildProtocol(UNIXAddress(None))
        assert channel is not None
        channel.makeConnection(StringTransport(peerAddress=UNIXAddress(None)))
        channel.dataReceived(rawRequest("GET", b"/ping"))
        [event] = self.logged()
        self.assertEqual(event["remote"], ":0")


class NSQDRoutes:
    """
    Go nsqd 1.3.0's route table with stub handlers, to replay the nsqd
    recordings that exercise only the router and the answers.
    """

    routes = Routes()

    @routes.route("GET", "/ping", PLAIN_TEXT)
    def ping(self, request: IRequest) -> str:
        """
        Healthy.
        """
        return "OK"

    @routes.route("POST", "/pub")
    @routes.route("POST", "/mpub")
    @routes.route("GET", "/stats")
    @routes.route("GET", "/info")
    @routes.route("POST", "/topic/create")
    @routes.route("POST", "/topic/delete")
    @routes.route("POST", "/topic/empty")
    @routes.route("POST", "/topic/pause")
    @routes.route("POST", "/topic/unpause")
    @routes.route("POST", "/channel/create")
    @routes.route("POST", "/channel/delete")
    @routes.route("POST", "/channel/empty")
    @routes.route("POST", "/channel/pause")
    @routes.route("POST", "/channel/unpause")
    @routes.route(("GET", "PUT"), "/config/:opt")
    @routes.route("GET", "/debug/pprof/")
    @routes.route("GET", "/debug/pprof/cmdline")
    @routes.route(("GET", "POST"), "/debug/pprof/symbol")
    @routes.route("GET", "/debug/pprof/profile")
    @routes.route("GET", "/debug/pprof/heap")
    @routes.route("GET", "/debug/pprof/goroutine")
    @routes.route("GET", "/debug/pprof/block")
    @routes.route("GET", "/debug/pprof/threadcreate")
    @routes.route("PUT", "/debug/setblockrate")
    def anything(self, request: IRequest, opt: str = "") -> None:
        """
        Parse the query as every nsqd handler does.
        """
        RequestParams.fromRequest(request)

    @routes.route("POST", "/debug/freememory", PLAIN_TEXT)
    def freeMemory(self, request: IRequest) -> None:
        """
        Go returns no data here, which PlainText turns into a 500.
        """


#: nsqd recordings whose answers come from the router and the answers.
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
    nsqd's route table: the router alone gives Go's answers.
    """

    def test_recordings(self) -> Deferred[None]:
        """
        Every router recording matches status, headers and body.
        """

        async def run() -> None:
            site = GoSite(GoRouter.forRoutes(NSQDRoutes.routes, NSQDRoutes()))
            # listenTCP's annotation wants a ServerFactory of its own protocol
            # type, which no Site (a factory of HTTP channels) is.
            port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[arg-type]
            self.addCleanup(port.stopListening)
            address = port.getHost()
            assert isinstance(address, IPv4Address)
            recordings = dict(loadRecordings("http", "nsqd"))
            problems = []
            for name in ROUTER_RECORDINGS:
                found = await runHTTPCase(
                    reactor,
                    recordings[name],
                    host="127.0.0.1",
                    httpPort=address.port,
                )
                problems += [f"{name}: {problem}" for problem in found]
            self.assertEqual(problems, [])
            # debug_freememory's recovered "panic" is logged.
            self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)

        return Deferred.fromCoroutine(run())
