"""
Tests for L{txnsq.nsqadmin.graphite}: C{/api/graphite} and the
C{--proxy-graphite} C{/render} proxy against a fake graphite on 127.0.0.1,
as Go nsqadmin 1.3.0 uses graphite.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from tests.golden import httpRequest
from tests.integration._cluster import freePorts
from tests.nsqadmin.test_integration import _startAdmin
from txnsq.nsqadmin.config import AdminConfig
from txnsq.nsqadmin.graphite import uiSettings


class _Graphite(Resource):
    """
    A fake graphite: records each request and answers C{answer}.

    @ivar requests: C{(path with query, headers)} of each request.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[bytes, dict[bytes, bytes]]] = []
        self.status = 200
        self.answer: Any = [{"target": "x", "datapoints": [[25.0, 1700000000]]}]

    def render_GET(self, request: Request) -> bytes:
        self.requests.append(
            (
                request.uri,
                {
                    name.lower(): values[0]
                    for name, values in request.requestHeaders.getAllRawHeaders()
                },
            )
        )
        request.setResponseCode(self.status)
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"x-graphite", b"yes")
        return json.dumps(self.answer).encode()


class GraphiteTests(TestCase):
    """
    nsqadmin asks a (fake) graphite as Go's does.
    """

    timeout = 30

    async def _start(self, **config: Any) -> tuple[_Graphite, int]:
        graphite = _Graphite()
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            Site(graphite)
        )
        self.addCleanup(port.stopListening)
        config.setdefault(
            "graphite_url", f"http://user:p%40ss@127.0.0.1:{port.getHost().port}"
        )
        admin = await _startAdmin(
            self, nsqd_http_addresses=["127.0.0.1:1"], statsd_interval=10.0, **config
        )
        return graphite, admin

    async def _get(
        self, admin: int, path: str, **headers: str
    ) -> tuple[int, bytes, Any]:
        response = await httpRequest(
            reactor, "127.0.0.1", admin, "GET", path, b"", headers=headers
        )
        return response.status, response.body, response

    async def test_rate(self) -> None:
        """
        C{/api/graphite?metric=rate&target=T} asks graphite's C{/render}
        for T between two and one statsd intervals ago and answers the
        first value per second; a negative value is C{N/A}.
        """
        graphite, admin = await self._start()
        status, body, _ = await self._get(admin, "/api/graphite?metric=rate&target=a.b")
        self.assertEqual((status, json.loads(body)), (200, {"rate": "2.50"}))
        [(uri, _)] = graphite.requests
        self.assertEqual(
            uri, b"/render?format=json&from=-20sec&target=a.b&until=-10sec"
        )
        graphite.answer = [{"target": "x", "datapoints": [[-1, 1700000000]]}]
        status, body, _ = await self._get(admin, "/api/graphite?metric=rate&target=a")
        self.assertEqual((status, json.loads(body)), (200, {"rate": "N/A"}))

    async def test_rateErrors(self) -> None:
        """
        Go's errors: 400 C{INVALID_ARG_METRIC} / C{INVALID_ARG_TARGET} for
        bad arguments, 500 C{INTERNAL_ERROR} when graphite fails or has no
        value.
        """
        graphite, admin = await self._start()
        for path, expected in [
            ("/api/graphite?target=a", (400, "INVALID_ARG_METRIC")),
            ("/api/graphite?metric=count&target=a", (400, "INVALID_ARG_METRIC")),
            ("/api/graphite?metric=rate", (400, "INVALID_ARG_TARGET")),
        ]:
            status, body, _ = await self._get(admin, path)
            self.assertEqual((status, json.loads(body)["message"]), expected, path)
        self.assertEqual(graphite.requests, [])
        for answer, code in [
            ([], 200),
            ([{"datapoints": [[None, 1]]}], 200),
            ([], 500),
        ]:
            graphite.answer, graphite.status = answer, code
            status, body, _ = await self._get(
                admin, "/api/graphite?metric=rate&target=a"
            )
            self.assertEqual(
                (status, json.loads(body)), (500, {"message": "INTERNAL_ERROR"})
            )

    async def test_proxy(self) -> None:
        """
        With C{--proxy-graphite}, C{/render?...} is graphite's answer
        (status, headers, body), asked with the same path and query, the
        URL's user as HTTP Basic auth, and the client in
        C{X-Forwarded-For}.
        """
        graphite, admin = await self._start(proxy_graphite=True)
        graphite.status = 404
        status, body, response = await self._get(
            admin, "/render?target=a.b&format=json", Accept="application/json"
        )
        self.assertEqual((status, json.loads(body)), (404, graphite.answer))
        self.assertEqual(response.headers.get("x-graphite"), ["yes"])
        [(uri, headers)] = graphite.requests
        self.assertEqual(uri, b"/render?target=a.b&format=json")
        self.assertEqual(
            headers[b"authorization"], b"Basic " + base64.b64encode(b"user:p@ss")
        )
        self.assertEqual(headers[b"accept"], b"application/json")
        self.assertEqual(headers[b"x-forwarded-for"], b"127.0.0.1")

    async def test_proxyBasePath(self) -> None:
        """
        Under C{--base-path} the route is too; the path is passed on as
        received, as Go's proxy does.
        """
        graphite, admin = await self._start(proxy_graphite=True, base_path="/admin")
        status, _, _ = await self._get(admin, "/admin/render?target=a")
        self.assertEqual(status, 200)
        self.assertEqual(graphite.requests[0][0], b"/admin/render?target=a")

    async def test_notProxied(self) -> None:
        """
        Without C{--proxy-graphite}, C{/render} is not a route (404).
        """
        graphite, admin = await self._start()
        status, body, _ = await self._get(admin, "/render?target=a")
        self.assertEqual((status, json.loads(body)), (404, {"message": "NOT_FOUND"}))
        self.assertEqual(graphite.requests, [])

    async def test_unreachable(self) -> None:
        """
        A graphite that cannot be reached: 502 with an empty body from the
        proxy, 500 C{INTERNAL_ERROR} from C{/api/graphite}.
        """
        [port] = freePorts(1)
        _, admin = await self._start(
            proxy_graphite=True, graphite_url=f"http://127.0.0.1:{port}"
        )
        status, body, _ = await self._get(admin, "/render?target=a")
        self.assertEqual((status, body), (502, b""))
        status, body, _ = await self._get(admin, "/api/graphite?metric=rate&target=a")
        self.assertEqual(status, 500)


class UISettingsTests(SynchronousTestCase):
    """
    L{uiSettings} gives the web UI Go's template values.
    """

    def test_settings(self) -> None:
        """
        Graphs are enabled by a graphite URL; the statsd formats and
        interval (whole seconds) come from the options.
        """
        self.assertEqual(
            uiSettings(AdminConfig()),
            {
                "GraphEnabled": False,
                "GraphiteURL": "",
                "ProxyGraphite": False,
                "StatsdInterval": 60,
                "StatsdCounterFormat": "stats.counters.%s.count",
                "StatsdGaugeFormat": "stats.gauges.%s",
                "StatsdPrefix": "nsq.%s",
            },
        )
        settings = uiSettings(AdminConfig(graphite_url="http://g", proxy_graphite=True))
        self.assertTrue(settings["GraphEnabled"])
        self.assertTrue(settings["ProxyGraphite"])
