"""
nsqadmin's web UI (L{txnsq.nsqadmin.ui}, L{txnsq.nsqadmin._views}): the
pages rendered from a fake cluster fed with nsqd-shaped C{/stats}
answers, the actions, the ACL, escaping, the base path, the rates.  The
requests go through the real Klein resource, in memory (treq's
C{StubTreq}).
"""

from __future__ import annotations

from collections.abc import Sequence
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase
from twisted.web.template import flattenString

from tests.nsqadmin._acl import ADMIN_ONLY_TEST_IDS
from txnsq.nsqadmin import _clusterinfo as ci
from txnsq.nsqadmin import _views as views
from txnsq.nsqadmin._graphs import Graphs, sanitizeKey
from txnsq.nsqadmin._views import hostnamePort
from txnsq.nsqadmin.cluster import UpstreamError
from txnsq.nsqadmin.config import AdminConfig
from txnsq.nsqadmin.graphite import uiSettings
from txnsq.nsqadmin.http import AdminHTTPAPI
from txnsq.nsqadmin.ui import FLASH_COOKIE

HOSTILE = '<script>alert("x")</script>'


def _producer(host: str, port: int, version: str = "1.3.0") -> dict[str, Any]:
    return {
        "remote_address": f"{host}:5000",
        "hostname": host,
        "broadcast_address": host,
        "tcp_port": port - 1,
        "http_port": port,
        "version": version,
    }


def _channel(
    name: str,
    messages: int,
    clients: Sequence[dict[str, Any]] = (),
    paused: bool = False,
) -> dict[str, Any]:
    return {
        "channel_name": name,
        "depth": 3,
        "backend_depth": 1,
        "in_flight_count": 2,
        "deferred_count": 0,
        "message_count": messages,
        "requeue_count": 0,
        "timeout_count": 0,
        "client_count": len(clients),
        "clients": list(clients),
        "paused": paused,
        "e2e_processing_latency": {"count": 0, "percentiles": None},
    }


def _topic(
    name: str, messages: int, channels: Sequence[dict[str, Any]], paused: bool = False
) -> dict[str, Any]:
    return {
        "topic_name": name,
        "channels": list(channels),
        "depth": 5,
        "backend_depth": 0,
        "message_count": messages,
        "paused": paused,
        "e2e_processing_latency": {"count": 0, "percentiles": None},
    }


class FakeCluster:
    """
    The L{txnsq.nsqadmin.cluster.Cluster} operations the UI uses, over
    nsqd-shaped C{/stats} answers held in memory; the actions are
    recorded.
    """

    def __init__(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.lookupds = ["lookupd:4161"]
        self.nsqds: list[str] = []
        # node HTTP address -> (producer, /stats answer)
        self.nodes: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self.lookupdTopics: dict[str, list[str]] = {}
        self.calls: list[tuple[Any, ...]] = []
        # includeClients of each nodeStats call.
        self.statsAsked: list[bool] = []
        self.failing = False

    def add(
        self,
        producer: dict[str, Any],
        topics: list[dict[str, Any]],
        producers: Any = None,
    ) -> None:
        node = ci.producerHTTPAddress(producer)
        self.nodes[node] = (producer, {"topics": topics, "producers": producers})
        for t in topics:
            self.lookupdTopics.setdefault(t["topic_name"], [])

    def _check(self) -> None:
        if self.failing:
            raise UpstreamError("Failed to query any nsqlookupd: boom")

    async def topics(self) -> tuple[list[str], list[str]]:
        self._check()
        return sorted(self.lookupdTopics), []

    async def producers(self) -> tuple[list[dict[str, Any]], list[str]]:
        self._check()
        result = []
        for producer, stats in self.nodes.values():
            topics = [
                {"topic": t["topic_name"], "tombstoned": False} for t in stats["topics"]
            ]
            result.append({**producer, "topics": topics, "out_of_date": False})
        return ci.markOutOfDate(result), []

    async def topicProducers(
        self, topic: str
    ) -> tuple[list[dict[str, Any]], list[str]]:
        producers, errors = await self.producers()
        return [
            p for p in producers if any(t["topic"] == topic for t in p["topics"])
        ], errors

    async def nodeStats(
        self,
        producers: Sequence[dict[str, Any]],
        topic: str | None = None,
        clients: list[dict[str, Any]] | None = None,
        includeClients: bool = True,
    ) -> tuple[list[dict[str, Any]], list[str]]:
        self.statsAsked.append(includeClients)
        records = []
        for p in producers:
            node = ci.producerHTTPAddress(p)
            _, stats = self.nodes[node]
            if clients is not None:
                clients.extend({**c, "node": node} for c in stats["producers"] or [])
            if not includeClients:
                # nsqd's include_clients=false: clients null, counts kept.
                stats = {
                    **stats,
                    "topics": [
                        {
                            **t,
                            "channels": [{**c, "clients": None} for c in t["channels"]],
                        }
                        for t in stats["topics"]
                    ],
                }
            records.extend(ci.nodeTopicStats(node, p["hostname"], stats, topic))
        records.sort(key=lambda r: str(r["hostname"]))
        return records, []

    async def topicChannels(self, topic: str) -> list[str]:
        return self.lookupdTopics.get(topic, [])

    async def topicAction(
        self, action: str, topic: str, channel: str = ""
    ) -> list[str]:
        self.calls.append(("topicAction", action, topic, channel))
        return []

    async def nodeAction(
        self, node: str, action: str, topic: str, channel: str = ""
    ) -> list[str]:
        self.calls.append(("nodeAction", node, action, topic, channel))
        return []

    async def deleteTopic(self, topic: str, channel: str = "") -> list[str]:
        self.calls.append(("deleteTopic", topic, channel))
        return ["nsqd gone"]

    async def tombstone(self, topic: str, node: str) -> list[str]:
        self.calls.append(("tombstone", topic, node))
        return []

    async def createTopicChannel(self, topic: str, channel: str) -> list[str]:
        self.calls.append(("create", topic, channel))
        return []

    async def notify(self, endpoint: str, payload: dict[str, Any]) -> None:
        self.calls.append(("notify", endpoint, payload))


class Element:
    """
    An element with a C{data-testid}: its attributes and its text.
    """

    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.text = ""
        self.children: list[Element] = []

    @property
    def testid(self) -> str:
        return self.attrs.get("data-testid", "")

    def find(self, testid: str, **data: str) -> list[Element]:
        found = []
        for child in self.children:
            if child.testid == testid and all(
                child.attrs.get(f"data-{k}") == v for k, v in data.items()
            ):
                found.append(child)
            found.extend(child.find(testid, **data))
        return found

    def one(self, testid: str, **data: str) -> Element:
        found = self.find(testid, **data)
        assert len(found) == 1, f"{len(found)} elements {testid} {data}"
        return found[0]

    def byTag(self, tag: str) -> list[Element]:
        """
        The elements named C{tag} inside this one, in document order.
        """
        found = []
        for child in self.children:
            if child.tag == tag:
                found.append(child)
            found.extend(child.byTag(tag))
        return found


_VOID = {"meta", "link", "input", "br", "img", "hr"}


class _Parser(HTMLParser):
    # Builds a tree of every element, to find the test hooks in.
    def __init__(self) -> None:
        super().__init__()
        self.root = Element("root", {})
        self.stack = [self.root]
        self.all: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        self.all.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        while len(self.stack) > 1:
            if self.stack.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for element in self.stack[1:]:
            element.text += data


class Page:
    """
    An answer: status, headers, body and its parsed tree.
    """

    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        parser = _Parser()
        parser.feed(body.decode("utf-8"))
        self.root = parser.root
        self.elements = parser.all

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name)
        return values[0] if values else None

    def find(self, testid: str, **data: str) -> list[Element]:
        return self.root.find(testid, **data)

    def one(self, testid: str, **data: str) -> Element:
        return self.root.one(testid, **data)

    @property
    def page(self) -> str:
        return self.one("page").attrs["data-page"]

    def urls(self) -> list[str]:
        """
        Every link, form action, script and stylesheet URL, and htmx's.
        """
        result = []
        for element in self.elements:
            for attr in ("href", "action", "src", "hx-get", "hx-post"):
                if attr in element.attrs:
                    result.append(element.attrs[attr])
        return result


class UITestCase(TestCase):
    """
    A fake cluster of two nsqds behind an L{AdminHTTPAPI}.
    """

    basePath = "/"

    def setUp(self) -> None:
        self.cluster = FakeCluster()
        a = _producer("a.example", 4151)
        b = _producer("b.example", 4251)
        client = {
            "client_id": "consumer-1",
            "hostname": "worker",
            "remote_address": "10.0.0.9:40000",
            "user_agent": HOSTILE,
            "ready_count": 1,
            "in_flight_count": 1,
            "message_count": 7,
            "finish_count": 6,
            "requeue_count": 0,
            "version": "V2",
            # The fake's clock is at 1000 s: connected for 1m5s.
            "connect_ts": 935,
        }
        publisher = {
            "client_id": "pub-1",
            "hostname": "publisher",
            "remote_address": "10.0.0.8:41000",
            "user_agent": "pynsq/0.9",
            "pub_counts": [{"topic": "t", "count": 42}],
        }
        other = {
            **publisher,
            "client_id": "pub-2",
            "pub_counts": [{"topic": "u", "count": 1}],
        }
        self.cluster.add(
            a,
            [
                _topic("t", 100, [_channel("c", 60, [client]), _channel(HOSTILE, 1)]),
                _topic("u", 1, []),
            ],
            [publisher, other],
        )
        self.cluster.add(b, [_topic("t", 50, [_channel("c", 40)], paused=True)])
        self.cluster.lookupdTopics["gone"] = ["old"]
        self.config = AdminConfig(base_path=self.basePath)
        self.api = AdminHTTPAPI(self.config, self.cluster)  # type: ignore[arg-type]
        # StubTreq's methods are made at run time; mypy cannot see them.
        self.stub: Any = StubTreq(self.api.resource())

    @property
    def base(self) -> str:
        return self.basePath.rstrip("/")

    async def request(
        self,
        method: str,
        path: str,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        cookie: str = "",
    ) -> Page:
        url = f"http://admin.example{self.base}{path}"
        sent: dict[str, Any] = dict(headers or {})
        if cookie:
            sent["Cookie"] = f"{FLASH_COOKIE.decode()}={cookie}"
        if method == "GET":
            if fields:
                url += "?" + urlencode(fields)
            response = await self.stub.get(url, headers=sent, allow_redirects=False)
        else:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
            response = await self.stub.request(
                method,
                url,
                data=urlencode(fields or {}).encode(),
                headers=sent,
                allow_redirects=False,
            )
        body = await response.content()
        return Page(response.code, response.headers, body)

    def flashCookie(self, page: Page) -> str:
        for value in page.headers.getRawHeaders("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            if name == FLASH_COOKIE.decode():
                return str(rest.partition(";")[0])
        self.fail("no flash cookie")


class PageTests(UITestCase):
    """
    Each page shows the cluster.
    """

    async def test_streams(self) -> None:
        """
        C{/} lists every topic, with its depth, message count and channels
        summed over its nsqds, and links to each topic's page.
        """
        page = await self.request("GET", "/")
        self.assertEqual(page.status, 200)
        self.assertEqual(page.header("Content-Type"), "text/html; charset=utf-8")
        self.assertTrue(page.body.startswith(b"<!DOCTYPE html>"))
        self.assertEqual(page.page, "streams")
        rows = page.find("topic-row")
        self.assertEqual([r.attrs["data-topic"] for r in rows], ["gone", "t", "u"])
        t = page.one("topic-row", topic="t")
        self.assertEqual(t.one("message-count").text, "150")
        self.assertEqual(t.one("depth").text, "10")
        self.assertEqual(t.one("channel-count").text, "2")
        self.assertEqual(t.one("topic-link").attrs["href"], f"{self.base}/topics/t")
        t.one("paused-badge")
        self.assertEqual(t.one("rate").attrs["data-rate"], "")
        live = page.one("live")
        self.assertEqual(live.attrs["hx-get"], f"{self.base}/")
        self.assertEqual(live.attrs["hx-trigger"], "every 2s")
        self.assertEqual(live.attrs["hx-select"], "#live")

    async def test_topicsPath(self) -> None:
        """
        C{/topics} is the streams page too, as in Go.
        """
        page = await self.request("GET", "/topics")
        self.assertEqual(page.status, 200)
        self.assertEqual(page.page, "streams")

    async def test_rates(self) -> None:
        """
        A second read, later, shows the message rate: the growth of
        C{message_count} per second, per node and summed.
        """
        await self.request("GET", "/")
        self.cluster.clock.advance(2)
        _, stats = self.cluster.nodes["a.example:4151"]
        stats["topics"][0]["message_count"] += 20
        stats["topics"][0]["channels"][0]["message_count"] += 10
        page = await self.request("GET", "/")
        rate = page.one("topic-row", topic="t").one("rate")
        self.assertEqual(rate.attrs["data-rate"], "10.0")
        self.assertEqual(rate.text, "10.0/s")
        page = await self.request("GET", "/topics/t")
        self.assertEqual(
            page.one("topic-node-row", node="a.example:4151")
            .one("rate")
            .attrs["data-rate"],
            "10.0",
        )
        self.assertEqual(
            page.one("topic-node-row", node="b.example:4251")
            .one("rate")
            .attrs["data-rate"],
            "0.0",
        )
        self.assertEqual(
            page.one("channel-row", channel="c").one("rate").attrs["data-rate"], "5.0"
        )
        page = await self.request("GET", "/counter")
        self.assertEqual(page.one("counter-rate").attrs["data-rate"], "5.0")

    async def test_topic(self) -> None:
        """
        C{/topics/:topic}: the topic's nodes with per-node actions and
        C{/metrics} links, its channels, its publishing connections.
        """
        page = await self.request("GET", "/topics/t")
        self.assertEqual(page.page, "topic")
        self.assertIn("t", page.one("page-title").text)
        self.assertEqual(page.one("topic-total-row").one("message-count").text, "150")
        nodeA = page.one("topic-node-row", node="a.example:4151")
        link = nodeA.one("node-link")
        self.assertEqual(link.text, "a.example:4151")
        self.assertEqual(link.attrs["href"], f"{self.base}/nodes/a.example%3A4151")
        self.assertEqual(nodeA.one("message-count").text, "100")
        self.assertEqual(
            nodeA.one("metrics-link").attrs["href"], "http://a.example:4151/metrics"
        )
        nodeA.one("node-action-pause")
        nodeA.one("node-action-empty")
        nodeB = page.one("topic-node-row", node="b.example:4251")
        nodeB.one("paused-badge")
        nodeB.one("node-action-unpause")
        # Paused on one node: the topic shows paused, and offers unpause.
        page.one("action-unpause")
        self.assertEqual(page.find("action-pause"), [])
        page.one("action-empty")
        page.one("action-delete")
        c = page.one("channel-row", channel="c")
        self.assertEqual(c.one("message-count").text, "100")
        self.assertEqual(c.one("channel-link").attrs["href"], f"{self.base}/topics/t/c")
        producer = page.one("producer-row")
        self.assertEqual(producer.attrs["data-client"], "publisher")
        self.assertEqual(producer.one("producer-pub-count").text, "42")
        self.assertEqual(producer.one("producer-node").text, "a.example:4151")

    async def test_clientsOnlyWhereShown(self) -> None:
        """
        The streams and counter pages read the nsqds' stats without the
        clients (smaller answers); the topic, channel and node pages with
        them.
        """
        await self.request("GET", "/")
        await self.request("GET", "/counter")
        self.assertEqual(self.cluster.statsAsked, [False, False])
        await self.request("GET", "/topics/t")
        await self.request("GET", "/topics/t/c")
        await self.request("GET", "/nodes/a.example:4151")
        self.assertEqual(self.cluster.statsAsked, [False, False, True, True, True])

    async def test_latency(self) -> None:
        """
        With nsqd's end-to-end latency percentiles, the topic and channel
        pages show them per nsqd and over all; without, no table.
        """
        page = await self.request("GET", "/topics/t")
        self.assertEqual(page.find("latency-table"), [])
        for node, value in (
            ("a.example:4151", 2_000_000.0),
            ("b.example:4251", 4_000_000.0),
        ):
            stats = self.cluster.nodes[node][1]["topics"][0]
            for record in [stats, stats["channels"][0]]:
                record["e2e_processing_latency"] = {
                    "count": 10,
                    "percentiles": [
                        {"quantile": 0.99, "value": value},
                        {"quantile": 0.5, "value": value / 2},
                    ],
                }
        for path in ("/topics/t", "/topics/t/c"):
            page = await self.request("GET", path)
            a = page.one("latency-row", node="a.example:4151")
            self.assertEqual(a.one("latency", quantile="0.99").text, "2.0ms")
            self.assertEqual(a.one("latency", quantile="0.5").text, "1.0ms")
            total = page.one("latency-row", node="*")
            p99 = total.one("latency", quantile="0.99")
            self.assertEqual(p99.text, "3.0ms")
            self.assertEqual(p99.attrs["title"], "max 4.0ms")

    def test_formatNanoseconds(self) -> None:
        """
        Latencies are written in the unit that fits.
        """
        self.assertEqual(views.formatNanoseconds(850), "850ns")
        self.assertEqual(views.formatNanoseconds(12_500), "12.5µs")
        self.assertEqual(views.formatNanoseconds(3_200_000), "3.2ms")
        self.assertEqual(views.formatNanoseconds(1_500_000_000), "1.5s")

    async def test_topicWithoutProducers(self) -> None:
        """
        A topic nothing publishes to says so.
        """
        self.cluster.nodes["a.example:4151"][1]["producers"] = None
        page = await self.request("GET", "/topics/t")
        page.one("no-producers")

    async def test_channel(self) -> None:
        """
        C{/topics/:topic/:channel}: the channel's nodes and its clients.
        """
        page = await self.request("GET", "/topics/t/c")
        self.assertEqual(page.page, "channel")
        self.assertEqual(page.one("channel-total-row").one("message-count").text, "100")
        self.assertEqual(page.one("channel-total-row").one("client-count").text, "1")
        page.one("channel-node-row", node="a.example:4151").one("node-action-pause")
        client = page.one("client-row", **{"client-id": "consumer-1"})
        self.assertEqual(client.attrs["data-node"], "a.example:4151")
        self.assertEqual(client.one("client-hostname").text, "worker")
        self.assertEqual(client.one("client-message-count").text, "7")
        self.assertEqual(client.one("client-id").text, "consumer-1")
        self.assertEqual(client.one("client-version").text, "V2")
        self.assertEqual(client.one("client-connected").text, "1m5s")
        self.assertEqual(
            client.one("node-link").attrs["href"], f"{self.base}/nodes/a.example%3A4151"
        )
        self.assertEqual(page.one("topic-link").attrs["href"], f"{self.base}/topics/t")

    async def test_escaping(self) -> None:
        """
        Names and user agents from the cluster, and names from the URL,
        are escaped: no markup gets into the page.
        """
        page = await self.request("GET", "/topics/t/c")
        client = page.one("client-row", **{"client-id": "consumer-1"})
        self.assertEqual(client.one("client-user-agent").text, HOSTILE)
        self.assertNotIn(b"<script>alert", page.body)
        page = await self.request("GET", "/topics/t")
        row = page.one("channel-row", channel=HOSTILE)
        self.assertEqual(
            row.one("channel-link").attrs["href"],
            f"{self.base}/topics/t/%3Cscript%3Ealert%28%22x%22%29%3C%2Fscript%3E",
        )
        self.assertNotIn(b"<script>alert", page.body)
        page = await self.request(
            "GET", "/topics/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E/x%22y"
        )
        self.assertEqual(page.status, 200)
        self.assertIn("<img src=x onerror=alert(1)>", page.one("page-title").text)
        self.assertNotIn(b"<img", page.body)
        # In attributes, quotes are escaped.
        self.assertIn(b"/x&quot;y?", page.body)
        self.assertNotIn(b'x"y?', page.body)

    async def test_nodes(self) -> None:
        """
        C{/nodes}: every nsqd, linked to its page and its C{/metrics}; an
        older version is marked out of date.
        """
        self.cluster.nodes["b.example:4251"][0]["version"] = "1.2.1"
        page = await self.request("GET", "/nodes")
        self.assertEqual(page.page, "nodes")
        a = page.one("node-row", node="a.example:4151")
        self.assertEqual(
            a.one("node-link").attrs["href"], f"{self.base}/nodes/a.example%3A4151"
        )
        self.assertEqual(
            a.one("metrics-link").attrs["href"], "http://a.example:4151/metrics"
        )
        self.assertEqual(a.one("node-topic-count").text, "2")
        # The nsqlookupds it is registered with (none in the fake).
        self.assertEqual(a.one("node-lookupd-count").text, "0")
        self.assertEqual(a.find("out-of-date"), [])
        page.one("node-row", node="b.example:4251").one("out-of-date")

    async def test_node(self) -> None:
        """
        C{/nodes/:node}: its topics with a tombstone button each, its
        channels, its totals.
        """
        page = await self.request("GET", "/nodes/a.example:4151")
        self.assertEqual(page.page, "node")
        self.assertEqual(page.one("node-total-messages").text, "101")
        self.assertEqual(page.one("node-total-clients").text, "1")
        # As Go's: nsqd's /stats with the clients, which the page lists.
        self.assertEqual(self.cluster.statsAsked, [True])
        t = page.one("node-topic-row", topic="t")
        t.one("action-tombstone")
        page.one("node-channel-row", topic="t", channel="c")
        page.one("metrics-link")

    async def test_nodeClients(self) -> None:
        """
        Under each channel, the node page lists its clients as the channel
        page does (without the nsqd column: it is this one), or says that
        none is connected; inside the live part.
        """
        page = await self.request("GET", "/nodes/a.example:4151")
        clients = page.one("node-channel-clients", topic="t", channel="c")
        table = clients.one("node-clients-table")
        row = table.one("client-row", **{"client-id": "consumer-1"})
        self.assertEqual(row.attrs["data-node"], "a.example:4151")
        self.assertEqual(row.one("client-hostname").text, "worker")
        self.assertEqual(row.one("client-id").text, "consumer-1")
        self.assertEqual(row.one("client-address").text, "10.0.0.9:40000")
        self.assertEqual(row.one("client-version").text, "V2")
        self.assertEqual(row.one("client-user-agent").text, HOSTILE)
        self.assertEqual(row.one("client-in-flight").text, "1")
        self.assertEqual(row.one("client-ready").text, "1")
        self.assertEqual(row.one("client-finish-count").text, "6")
        self.assertEqual(row.one("client-requeue-count").text, "0")
        self.assertEqual(row.one("client-message-count").text, "7")
        self.assertEqual(row.one("client-connected").text, "1m5s")
        self.assertEqual(row.one("client-attributes").text, "")
        self.assertEqual(row.find("node-link"), [])
        self.assertEqual(
            [th.text for th in table.byTag("th")],
            [
                "Client host",
                "Address",
                "Protocol",
                "User agent",
                "Attributes",
                "In flight",
                "Ready",
                "Finished",
                "Requeued",
                "Messages",
                "Connected",
            ],
        )
        empty = page.one("node-channel-clients", topic="t", channel=HOSTILE)
        self.assertEqual(empty.find("client-row"), [])
        self.assertEqual(
            empty.one("no-clients").text, "No clients connected to this channel."
        )
        live = page.one("live")
        self.assertEqual(len(live.find("client-row")), 1)
        self.assertEqual(len(live.find("node-channel-clients")), 2)
        # The other nsqd's page: its channel has no client.
        page = await self.request("GET", "/nodes/b.example:4251")
        page.one("node-channel-clients", topic="t", channel="c").one("no-clients")
        self.assertEqual(page.find("client-row"), [])
        self.assertNotIn(b"<script>alert", page.body)

    async def test_clientAttributes(self) -> None:
        """
        A client's sampling, TLS (its details in the title), compression
        and auth identity are badges, on the node and channel pages;
        names from the network are escaped, and an identity URL is a
        link only when it is a web address.
        """
        stats = self.cluster.nodes["a.example:4151"][1]
        client = stats["topics"][0]["channels"][0]["clients"][0]
        client.update(
            {
                "hostname": HOSTILE,
                "client_id": HOSTILE + "-id",
                "sample_rate": 25,
                "tls": True,
                "tls_version": "TLS1.3",
                "tls_cipher_suite": "TLS_AES_128_GCM_SHA256",
                "tls_negotiated_protocol": "",
                "tls_negotiated_protocol_is_mutual": True,
                "deflate": True,
                "snappy": True,
                "authed": True,
                "auth_identity": HOSTILE,
                "auth_identity_url": "https://auth.example/u?a=1&b=2",
            }
        )
        for path in ("/nodes/a.example:4151", "/topics/t/c"):
            page = await self.request("GET", path)
            self.assertNotIn(b"<script>alert", page.body)
            row = page.one("client-row", **{"client-id": HOSTILE + "-id"})
            self.assertEqual(row.one("client-hostname").text, HOSTILE)
            self.assertEqual(row.one("client-id").text, HOSTILE + "-id")
            self.assertEqual(row.one("client-sampled").text, "Sampled 25%")
            self.assertEqual(
                row.one("client-tls").attrs["title"],
                "TLS1.3 TLS_AES_128_GCM_SHA256  mutual:true",
            )
            row.one("client-deflate")
            row.one("client-snappy")
            authed = row.one("client-authed")
            self.assertEqual(authed.text, HOSTILE)
            self.assertEqual(authed.attrs["title"], f"Authed Identity:{HOSTILE}")
            links = [
                e
                for e in page.elements
                if e.attrs.get("href", "").startswith("https://auth.example")
            ]
            self.assertEqual(
                [e.attrs["href"] for e in links], ["https://auth.example/u?a=1&b=2"]
            )
        client["auth_identity_url"] = "javascript:alert(1)"
        client["auth_identity"] = ""
        page = await self.request("GET", "/nodes/a.example:4151")
        authed = page.one("client-authed")
        self.assertEqual(authed.text, "Authed")
        self.assertEqual(authed.attrs["title"], "Authed")
        self.assertNotIn(b"javascript:", page.body)

    async def test_clientIDShown(self) -> None:
        """
        As Go's pages, a client's ID is shown next to its hostname only
        when it is neither the hostname nor its first label (go-nsq's
        default ID).
        """
        stats = self.cluster.nodes["a.example:4151"][1]
        client = stats["topics"][0]["channels"][0]["clients"][0]
        for hostname, clientID, shown in (
            ("worker.example.com", "worker", False),
            ("worker.example.com", "WORKER.example.com", False),
            ("worker.example.com", "consumer-1", True),
        ):
            client.update({"hostname": hostname, "client_id": clientID})
            page = await self.request("GET", "/nodes/a.example:4151")
            row = page.one("client-row")
            self.assertEqual(row.one("client-hostname").text, hostname)
            self.assertEqual(len(row.find("client-id")), int(shown))

    def test_formatDuration(self) -> None:
        """
        How long a client has been connected, in hours, minutes and
        seconds.
        """
        self.assertEqual(views.formatDuration(0), "0s")
        self.assertEqual(views.formatDuration(45.7), "45s")
        self.assertEqual(views.formatDuration(125), "2m5s")
        self.assertEqual(views.formatDuration(3603), "1h0m3s")
        # A client's clock ahead of nsqadmin's.
        self.assertEqual(views.formatDuration(-5), "0s")

    async def test_nodeWithoutLookupd(self) -> None:
        """
        Reading nsqds only, there is nothing to tombstone on: no button.
        """
        self.cluster.lookupds = []
        page = await self.request("GET", "/nodes/a.example:4151")
        self.assertEqual(
            page.one("node-topic-row", topic="t").find("action-tombstone"), []
        )

    async def test_nodePages(self) -> None:
        """
        A node page shows L{views.NODE_PAGE_TOPICS} topics at a time (each
        with its channels), with plain links to the other pages and to
        all of them; the live part refreshes the page shown; the totals
        are the nsqd's on every page.
        """
        self.patch(views, "NODE_PAGE_TOPICS", 1)
        node = f"{self.base}/nodes/a.example%3A4151"
        page = await self.request("GET", "/nodes/a.example:4151")
        self.assertEqual(
            [r.attrs["data-topic"] for r in page.find("node-topic-row")], ["t"]
        )
        self.assertEqual(len(page.find("node-channel-row", topic="t")), 2)
        self.assertEqual(page.one("node-total-messages").text, "101")
        self.assertEqual(page.one("live").attrs["hx-get"], node)
        pager = page.one("pager")
        self.assertEqual(pager.one("pager-shown").text, "Topics 1\N{EN DASH}1 of 2")
        self.assertEqual(pager.one("pager-current").text, "1")
        self.assertEqual(pager.find("pager-previous"), [])
        self.assertEqual(pager.one("pager-next").attrs["href"], f"{node}?page=2")
        self.assertEqual(pager.one("pager-all").attrs["href"], f"{node}?page=all")

        page = await self.request("GET", "/nodes/a.example:4151", {"page": "2"})
        self.assertEqual(
            [r.attrs["data-topic"] for r in page.find("node-topic-row")], ["u"]
        )
        self.assertEqual(page.one("node-total-messages").text, "101")
        self.assertEqual(page.one("node-total-clients").text, "1")
        self.assertEqual(page.one("live").attrs["hx-get"], f"{node}?page=2")
        self.assertEqual(page.one("pager-previous").attrs["href"], node)
        self.assertEqual(page.find("pager-next"), [])
        # A page past the end (topics deleted meanwhile) is the last one.
        page = await self.request("GET", "/nodes/a.example:4151", {"page": "9"})
        self.assertEqual(page.one("pager-current").text, "2")
        # Anything else is the first.
        page = await self.request("GET", "/nodes/a.example:4151", {"page": "x"})
        self.assertEqual(page.one("pager-current").text, "1")

        page = await self.request("GET", "/nodes/a.example:4151", {"page": "all"})
        self.assertEqual(
            [r.attrs["data-topic"] for r in page.find("node-topic-row")], ["t", "u"]
        )
        self.assertEqual(page.one("live").attrs["hx-get"], f"{node}?page=all")
        self.assertEqual(page.one("pager-shown").text, "All 2 topics")
        self.assertEqual(page.find("pager-all"), [])
        self.assertEqual(page.one("pager-link", number="1").attrs["href"], node)

    async def test_nodeOnePage(self) -> None:
        """
        An nsqd of no more topics than fit on a page has no pager.
        """
        page = await self.request("GET", "/nodes/a.example:4151")
        self.assertEqual(page.find("pager"), [])
        self.assertEqual(len(page.find("node-topic-row")), 2)

    def test_pageNumbers(self) -> None:
        """
        The pager links the first and last pages and two either side of
        the current one, with gaps between.
        """
        self.assertEqual(views.Pages(1000, "10", 100).numbers(), [1, 0, 8, 9, 10])
        self.assertEqual(
            views.Pages(1000, "5", 100).numbers(), [1, 0, 3, 4, 5, 6, 7, 0, 10]
        )
        self.assertEqual(views.Pages(300, "1", 100).numbers(), [1, 2, 3])
        self.assertEqual(views.Pages(0, "", 100).pages, 1)
        every = views.Pages(1000, "all", 100)
        self.assertEqual((every.start, every.stop, every.query), (0, 1000, "?page=all"))
        last = views.Pages(250, "3", 100)
        self.assertEqual((last.start, last.stop, last.query), (200, 250, "?page=3"))

    async def test_unknownNode(self) -> None:
        """
        An unknown node is a 404 page.
        """
        page = await self.request("GET", "/nodes/nowhere:1")
        self.assertEqual(page.status, 404)
        self.assertEqual(page.one("error").text, "NODE_NOT_FOUND")

    async def test_counter(self) -> None:
        """
        C{/counter}: the messages of every channel of every nsqd.
        """
        self.cluster.nodes["a.example:4151"][1]["topics"][0]["channels"][0][
            "message_count"
        ] = 1200
        page = await self.request("GET", "/counter")
        self.assertEqual(page.page, "counter")
        total = page.one("counter-total")
        self.assertEqual(total.attrs["data-count"], "1241")
        self.assertEqual(total.text, "1,241")

    async def test_lookup(self) -> None:
        """
        C{/lookup}: topics nsqlookupd knows that no nsqd has, with their
        channels, and the create form.
        """
        page = await self.request("GET", "/lookup")
        self.assertEqual(page.page, "lookup")
        row = page.one("inactive-topic-row", topic="gone")
        row.one("inactive-channel", channel="old")
        self.assertEqual(len(page.find("inactive-topic-row")), 1)
        form = page.one("create-topic-form")
        self.assertEqual(form.attrs["action"], f"{self.base}/actions/create")
        self.assertEqual(form.attrs["method"], "post")

    async def test_upstreamError(self) -> None:
        """
        A read no node answers is a 502 page with Go's message.
        """
        self.cluster.failing = True
        page = await self.request("GET", "/")
        self.assertEqual(page.status, 502)
        self.assertIn("UPSTREAM_ERROR", page.one("error").text)
        # In the live part, still polling the page: it recovers by itself,
        # and a failed refresh of a good page shows the error.
        live = page.one("live")
        live.one("error")
        self.assertEqual(live.attrs["hx-get"], f"{self.base}/")

    async def test_upstreamErrorRecovers(self) -> None:
        """
        A page first loaded while no node answers polls with the
        recovering header, and once the cluster answers that poll is told
        to reload the page whole (C{HX-Refresh}): the error page has no
        title, tables or actions to patch.  A good page's failed refresh
        does not ask for that: it is patched back in place.
        """
        self.cluster.failing = True
        page = await self.request("GET", "/")
        live = page.one("live")
        self.assertEqual(live.attrs["hx-headers"], '{"X-Nsqadmin-Recovering": "true"}')
        refresh = await self.request("GET", "/", headers={"HX-Request": "true"})
        self.assertEqual(refresh.status, 502)
        self.assertNotIn("hx-headers", refresh.one("live").attrs)
        self.cluster.failing = False
        recovering = {"HX-Request": "true", "X-Nsqadmin-Recovering": "true"}
        back = await self.request("GET", "/", headers=recovering)
        self.assertEqual(back.status, 200)
        self.assertEqual(back.header("HX-Refresh"), "true")
        patched = await self.request("GET", "/", headers={"HX-Request": "true"})
        self.assertIsNone(patched.header("HX-Refresh"))

    async def test_static(self) -> None:
        """
        The stylesheet and htmx are served; nothing else is.
        """
        page = await self.request("GET", "/static/htmx.min.js")
        self.assertEqual(page.status, 200)
        self.assertEqual(page.header("Content-Type"), "text/javascript; charset=utf-8")
        self.assertIn(b"htmx", page.body)
        page = await self.request("GET", "/static/nsqadmin.css")
        self.assertEqual(page.status, 200)
        response = await self.stub.get(
            f"http://admin.example{self.base}/static/..%2Fui.py"
        )
        self.assertEqual(response.code, 404)

    async def test_navigation(self) -> None:
        """
        Every page links to the others, the stylesheet and htmx, under the
        base path.
        """
        page = await self.request("GET", "/counter")
        self.assertEqual(page.one("nav-streams").attrs["href"], f"{self.base}/")
        self.assertEqual(page.one("nav-nodes").attrs["href"], f"{self.base}/nodes")
        self.assertEqual(page.one("nav-lookup").attrs["href"], f"{self.base}/lookup")
        urls = page.urls()
        self.assertIn(f"{self.base}/static/htmx.min.js", urls)
        self.assertIn(f"{self.base}/static/nsqadmin.css", urls)


class BasePathTests(PageTests):
    """
    The same pages behind C{--base-path /admin/}: every URL they hold
    starts with it.
    """

    basePath = "/admin/"

    async def test_everyURL(self) -> None:
        """
        Every link, form action, script, stylesheet and htmx URL of every
        page carries the base path (but the nsqds' own C{/metrics}).
        """
        for path in (
            "/",
            "/topics/t",
            "/topics/t/c",
            "/nodes",
            "/nodes/a.example:4151",
            "/counter",
            "/lookup",
        ):
            page = await self.request("GET", path)
            self.assertEqual(page.status, 200, path)
            for url in page.urls():
                if url.startswith("http://") and url.endswith("/metrics"):
                    continue
                if url == "data:,":
                    # The empty icon.
                    continue
                self.assertTrue(url.startswith("/admin/"), f"{path}: {url}")

    async def test_redirect(self) -> None:
        """
        Actions redirect under the base path; the flash cookie is scoped
        to it.
        """
        page = await self.request("POST", "/actions/topics/t", {"action": "pause"})
        self.assertEqual(page.header("Location"), "/admin/topics/t")
        cookie = page.header("Set-Cookie") or ""
        self.assertIn("Path=/admin", cookie)


class ActionTests(UITestCase):
    """
    The admin actions: confirmation, the cluster operation, the redirect
    and its flash, the ACL, the notification.
    """

    async def test_confirmation(self) -> None:
        """
        GET of an action (a form without JavaScript) asks first and does
        nothing.
        """
        page = await self.request("GET", "/actions/topics/t/c", {"action": "empty"})
        self.assertEqual(page.status, 200)
        self.assertEqual(page.page, "confirm")
        self.assertEqual(page.one("confirm-message").text, "Really empty channel t/c?")
        button = page.one("confirm-button")
        self.assertEqual(button.tag, "button")
        form = next(
            e
            for e in page.elements
            if e.tag == "form" and e.attrs.get("class") == "confirm"
        )
        self.assertEqual(form.attrs["method"], "post")
        self.assertEqual(form.attrs["action"], "/actions/topics/t/c")
        self.assertEqual(page.one("cancel-link").attrs["href"], "/topics/t/c")
        self.assertEqual(self.cluster.calls, [])

    async def test_actionButtons(self) -> None:
        """
        The buttons are forms that GET the confirmation, and htmx POSTs
        after C{confirm()}.
        """
        page = await self.request("GET", "/topics/t/c")
        forms = [e for e in page.elements if e.tag == "form" and "hx-post" in e.attrs]
        empty = next(f for f in forms if f.find("action-empty"))
        self.assertEqual(empty.attrs["method"], "get")
        self.assertEqual(empty.attrs["action"], "/actions/topics/t/c")
        self.assertEqual(empty.attrs["hx-post"], "/actions/topics/t/c")
        self.assertEqual(empty.attrs["hx-confirm"], "Really empty channel t/c?")
        perNode = next(f for f in forms if f.find("node-action-empty"))
        self.assertEqual(
            perNode.attrs["hx-confirm"], "Really empty channel t/c on a.example:4151?"
        )

    async def test_post(self) -> None:
        """
        POST runs the action on the cluster, answers 303 back to the page,
        and the page shows the outcome once.
        """
        page = await self.request("POST", "/actions/topics/t/c", {"action": "empty"})
        self.assertEqual(page.status, 303)
        self.assertEqual(page.header("Location"), "/topics/t/c")
        self.assertEqual(self.cluster.calls, [("topicAction", "empty", "t", "c")])
        cookie = self.flashCookie(page)
        page = await self.request("GET", "/topics/t/c", cookie=cookie)
        flash = page.one("flash")
        self.assertEqual(flash.attrs["data-level"], "ok")
        self.assertEqual(flash.text, "Emptied channel t/c.")
        # Shown once: the page clears it.
        self.assertIn("Max-Age=0", page.header("Set-Cookie") or "")
        # The live refresh leaves it.
        page = await self.request(
            "GET", "/topics/t/c", headers={"HX-Request": "true"}, cookie=cookie
        )
        self.assertEqual(page.find("flash"), [])
        self.assertIsNone(page.header("Set-Cookie"))

    async def test_htmx(self) -> None:
        """
        An htmx POST is answered with C{HX-Redirect}, so the browser loads
        the page (with the flash).
        """
        page = await self.request(
            "POST",
            "/actions/topics/t",
            {"action": "pause"},
            headers={"HX-Request": "true"},
        )
        self.assertEqual(page.status, 200)
        self.assertEqual(page.header("HX-Redirect"), "/topics/t")
        self.assertEqual(self.cluster.calls, [("topicAction", "pause", "t", "")])

    async def test_deleteTopic(self) -> None:
        """
        Deleting a topic goes back to the streams; partial failures are a
        warning.
        """
        page = await self.request("POST", "/actions/topics/t", {"action": "delete"})
        self.assertEqual(page.header("Location"), "/")
        self.assertEqual(self.cluster.calls, [("deleteTopic", "t", "")])
        page = await self.request("GET", "/", cookie=self.flashCookie(page))
        self.assertEqual(page.one("flash").attrs["data-level"], "warning")
        self.assertEqual(page.one("flash").text, "WARNING: nsqd gone")

    async def test_deleteChannel(self) -> None:
        """
        Deleting a channel goes back to its topic.
        """
        page = await self.request("POST", "/actions/topics/t/c", {"action": "delete"})
        self.assertEqual(page.header("Location"), "/topics/t")
        self.assertEqual(self.cluster.calls, [("deleteTopic", "t", "c")])

    async def test_perNode(self) -> None:
        """
        With C{node}, the action runs on that nsqd only (NSQ #430).
        """
        page = await self.request(
            "POST", "/actions/topics/t", {"action": "pause", "node": "b.example:4251"}
        )
        self.assertEqual(page.header("Location"), "/topics/t")
        self.assertEqual(
            self.cluster.calls, [("nodeAction", "b.example:4251", "pause", "t", "")]
        )
        page = await self.request("GET", "/topics/t", cookie=self.flashCookie(page))
        self.assertEqual(page.one("flash").text, "Paused topic t on b.example:4251.")

    async def test_perNodeUnknown(self) -> None:
        """
        A node that does not have the topic is refused: the UI never posts
        to an address the cluster does not list.
        """
        page = await self.request(
            "POST", "/actions/topics/t", {"action": "pause", "node": "evil.example:80"}
        )
        self.assertEqual(page.status, 303)
        self.assertEqual(self.cluster.calls, [])
        page = await self.request("GET", "/topics/t", cookie=self.flashCookie(page))
        self.assertEqual(page.one("flash").attrs["data-level"], "error")

    async def test_invalidAction(self) -> None:
        """
        An unknown action, or delete on one node, is a 400 page.
        """
        page = await self.request("POST", "/actions/topics/t", {"action": "explode"})
        self.assertEqual(page.status, 400)
        page = await self.request(
            "POST", "/actions/topics/t", {"action": "delete", "node": "a.example:4151"}
        )
        self.assertEqual(page.status, 400)
        self.assertEqual(self.cluster.calls, [])

    async def test_tombstone(self) -> None:
        """
        Tombstoning a node's topic: confirmation, then the cluster
        operation, back to the node page.
        """
        page = await self.request(
            "GET",
            "/actions/nodes/a.example:4151",
            {"action": "tombstone", "topic": "t"},
        )
        self.assertEqual(
            page.one("confirm-message").text,
            "Really tombstone topic t on a.example:4151?",
        )
        page = await self.request(
            "POST",
            "/actions/nodes/a.example:4151",
            {"action": "tombstone", "topic": "t"},
        )
        self.assertEqual(page.header("Location"), "/nodes/a.example%3A4151")
        self.assertEqual(self.cluster.calls, [("tombstone", "t", "a.example:4151")])

    async def test_create(self) -> None:
        """
        The lookup page's form creates the topic and channel; invalid
        names come back as an error.
        """
        page = await self.request(
            "POST", "/actions/create", {"topic": "new", "channel": "ch"}
        )
        self.assertEqual(page.header("Location"), "/lookup")
        self.assertEqual(self.cluster.calls, [("create", "new", "ch")])
        page = await self.request("GET", "/lookup", cookie=self.flashCookie(page))
        self.assertEqual(page.one("flash").text, "Created topic new and channel ch.")
        page = await self.request("POST", "/actions/create", {"topic": "bad topic!"})
        page = await self.request("GET", "/lookup", cookie=self.flashCookie(page))
        self.assertEqual(page.one("flash").text, "INVALID_TOPIC")
        self.assertEqual(len(self.cluster.calls), 1)

    async def test_acl(self) -> None:
        """
        With C{--admin-user}, only requests whose C{--acl-http-header}
        names an admin may act: others get a 403 page (htmx: a flash).
        """
        self.config.admin_users = ["boss"]
        page = await self.request("POST", "/actions/topics/t", {"action": "empty"})
        self.assertEqual(page.status, 403)
        self.assertEqual(page.one("error").text, "FORBIDDEN")
        page = await self.request("GET", "/actions/topics/t", {"action": "empty"})
        self.assertEqual(page.status, 403)
        page = await self.request("POST", "/actions/create", {"topic": "x"})
        self.assertEqual(page.status, 403)
        page = await self.request(
            "POST",
            "/actions/topics/t",
            {"action": "empty"},
            headers={"HX-Request": "true"},
        )
        self.assertEqual(page.status, 403)
        self.assertEqual(page.header("HX-Redirect"), "/topics/t")
        self.assertEqual(self.cluster.calls, [])
        page = await self.request(
            "POST",
            "/actions/topics/t",
            {"action": "empty"},
            headers={"X-Forwarded-User": "boss"},
        )
        self.assertEqual(page.status, 303)
        self.assertEqual(self.cluster.calls, [("topicAction", "empty", "t", "")])

    async def test_aclHidesActions(self) -> None:
        """
        With C{--admin-user}, as in Go's pages, readers whose
        C{--acl-http-header} names no admin see no action button (whole,
        per node, tombstone, the create form), also in the live
        refreshes; admins see them all.
        """
        self.config.admin_users = ["boss"]
        self.config.acl_http_header = "X-Auth-User"
        buttons = ["topic-actions", "channel-actions", *ADMIN_ONLY_TEST_IDS]
        pages = ["/topics/t", "/topics/t/c", "/nodes/a.example:4151", "/lookup"]

        def shown(page: Page) -> list[str]:
            return [b for b in buttons if page.find(b)]

        for path in pages:
            for headers in (
                {},
                {"X-Auth-User": "mallory"},
                {"X-Forwarded-User": "boss"},
                {"HX-Request": "true"},
            ):
                page = await self.request("GET", path, headers=headers)
                self.assertEqual(page.status, 200)
                self.assertEqual(shown(page), [], (path, headers))
                self.assertEqual(page.find("action"), [])
                self.assertFalse(
                    any("hx-post" in e.attrs for e in page.elements), (path, headers)
                )
        page = await self.request("GET", "/lookup")
        self.assertIn("--admin-user", page.one("not-admin").text)
        # Still there for readers: the metrics links, the node links.
        page = await self.request("GET", "/topics/t")
        self.assertEqual(len(page.find("metrics-link")), 2)

        boss = {"X-Auth-User": "boss"}
        page = await self.request("GET", "/topics/t", headers=boss)
        self.assertEqual(
            shown(page),
            [
                "topic-actions",
                "action-unpause",
                "action-empty",
                "action-delete",
                "node-action-pause",
                "node-action-unpause",
                "node-action-empty",
            ],
        )
        page = await self.request("GET", "/topics/t/c", headers=boss)
        self.assertIn("channel-actions", shown(page))
        self.assertEqual(len(page.find("node-action-empty")), 2)
        page = await self.request("GET", "/nodes/a.example:4151", headers=boss)
        self.assertEqual(len(page.find("action-tombstone")), 2)
        page = await self.request("GET", "/lookup", headers=boss)
        page.one("create-topic-form")
        self.assertEqual(page.find("not-admin"), [])
        self.assertEqual(self.cluster.calls, [])

    async def test_noAdminUsers(self) -> None:
        """
        Without C{--admin-user} everyone is an admin (Go's default): the
        buttons are shown whatever the header says.
        """
        page = await self.request(
            "GET", "/topics/t", headers={"X-Forwarded-User": "anyone"}
        )
        page.one("topic-actions")
        page = await self.request("GET", "/lookup")
        page.one("create-topic-form")

    async def test_otherOrigin(self) -> None:
        """
        A form posted by another site, or by another application of the
        same site (another port, a sibling domain), is refused; nsqadmin's
        own pages, and clients that are not browsers, may post.
        """
        refused = [
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
            {"Origin": "http://admin.example:9999"},
            {"Origin": "http://evil.example"},
        ]
        for headers in refused:
            page = await self.request(
                "POST", "/actions/topics/t", {"action": "empty"}, headers=headers
            )
            self.assertEqual(page.status, 403, headers)
            self.assertIn("another origin", page.one("error").text)
        self.assertEqual(self.cluster.calls, [])
        allowed = [
            {"Sec-Fetch-Site": "same-origin"},
            {"Sec-Fetch-Site": "none"},
            {"Origin": "http://admin.example"},
            {
                "Origin": "https://admin.example.org",
                "X-Forwarded-Host": "admin.example.org",
            },
            {},
        ]
        for headers in allowed:
            page = await self.request(
                "POST", "/actions/topics/t", {"action": "empty"}, headers=headers
            )
            self.assertEqual(page.status, 303, headers)
        self.assertEqual(len(self.cluster.calls), len(allowed))

    async def test_apiOtherOrigin(self) -> None:
        """
        The JSON API's writes are refused to other sites too: a browser can
        be made to POST a JSON body as C{text/plain} without asking first.
        """

        async def post(headers: dict[str, str]) -> tuple[int, bytes]:
            response = await self.stub.post(
                f"http://admin.example{self.base}/api/topics/t",
                data=b'{"action": "empty"}',
                headers={"Content-Type": "text/plain", **headers},
            )
            return response.code, await response.content()

        for headers in (
            {"Sec-Fetch-Site": "cross-site"},
            {"Origin": "http://evil.example"},
        ):
            code, body = await post(headers)
            self.assertEqual(code, 403, headers)
            self.assertIn(b"cross-origin", body)
        self.assertEqual(self.cluster.calls, [])
        for headers in ({"Sec-Fetch-Site": "same-origin"}, {}):
            code, _ = await post(headers)
            self.assertEqual(code, 200, headers)
        self.assertEqual(len(self.cluster.calls), 2)

    async def test_notification(self) -> None:
        """
        UI actions are notified as the JSON API's are.
        """
        self.config.notification_http_endpoint = "http://hook.example/x"
        await self.request(
            "POST", "/actions/topics/t/c", {"action": "pause", "node": "a.example:4151"}
        )
        notes = [c for c in self.cluster.calls if c[0] == "notify"]
        self.assertEqual(len(notes), 1)
        payload = notes[0][2]
        self.assertEqual(payload["action"], "pause_channel")
        self.assertEqual(payload["topic"], "t")
        self.assertEqual(payload["channel"], "c")
        self.assertEqual(payload["node"], "a.example:4151")


class HostnamePortTests(TestCase):
    """
    Per-node rows name an nsqd C{hostname:http_port}, as Go's pages do.
    """

    def test_hostnamePort(self) -> None:
        """
        The hostname with the port of the node's address; the address
        alone without a hostname.
        """
        self.assertEqual(
            hostnamePort({"node": "10.0.0.1:4151", "hostname": "box"}), "box:4151"
        )
        self.assertEqual(
            hostnamePort({"node": "[::1]:4251", "hostname": "box"}), "box:4251"
        )
        self.assertEqual(
            hostnamePort({"node": "10.0.0.1:4151", "hostname": ""}), "10.0.0.1:4151"
        )


class RenderTests(TestCase):
    """
    The pages' HTML, and how often they refresh.
    """

    def test_liveInterval(self) -> None:
        """
        Pages refresh every 2 seconds, less often when they have many rows.
        """
        self.assertEqual(views.liveInterval(0), "2s")
        self.assertEqual(views.liveInterval(200), "2s")
        self.assertEqual(views.liveInterval(201), "5s")
        self.assertEqual(views.liveInterval(1001), "10s")


class FlattenTests(UITestCase):
    """
    L{views.flattenFast} writes what Twisted's C{flattenString} writes.
    """

    async def test_samePages(self) -> None:
        """
        Every page (with hostile names in it) and the confirmation and
        error pages come out of both flatteners byte for byte the same.
        """
        seen = []
        fast = views.flattenFast

        def checked(root: Any) -> bytes:
            mine = fast(root)
            twisted: list[bytes] = []
            flattenString(None, root).addCallback(twisted.append)
            self.assertEqual(mine, twisted[0])
            seen.append(root)
            return mine

        self.patch(views, "flattenFast", checked)
        self.cluster.lookupdTopics["gone"] = [HOSTILE]
        for path in (
            "/",
            "/topics/t",
            "/topics/t/c",
            "/topics/%3Cimg%20src%3Dx%3E/x%22y",
            "/nodes",
            "/nodes/a.example:4151",
            "/nodes/nowhere:1",
            "/counter",
            "/lookup",
            "/actions/topics/t/c?action=empty&node=a.example:4151",
        ):
            await self.request("GET", path)
        self.assertEqual(len(seen), 10)

    def test_escaping(self) -> None:
        """
        Text and attribute values with C{&}, C{<}, C{>} and both quotes,
        void and empty elements and tag-less groups come out as
        C{flattenString} writes them.
        """
        from twisted.web.template import Tag, tags

        nasty = "a&b<c>d\"e'f&amp;\N{SNOWMAN}"
        root = tags.div(
            nasty,
            tags.a(nasty, href=nasty, title=nasty, **{"data-x": nasty}),
            tags.input(value=nasty),
            tags.br(),
            tags.span(),
            Tag("")(nasty, [tags.b(nasty)], (tags.i(nasty),)),
            class_=nasty,
        )
        twisted: list[bytes] = []
        flattenString(None, root).addCallback(twisted.append)
        fast = views.flattenFast(root)
        self.assertEqual(fast, twisted[0])
        self.assertNotIn(b'"e', fast.split(b">", 1)[0])

    def test_voidElements(self) -> None:
        """
        The elements written C{<tag />} when empty are Twisted's.
        """
        from twisted.web._stan import voidElements

        self.assertEqual(views._VOID, frozenset(voidElements))

    def test_notPlain(self) -> None:
        """
        Anything but tags, strings and lists is left to Twisted.
        """
        from twisted.web.template import Comment, slot, tags

        for root in (tags.p(Comment("x")), tags.p(slot("s")), tags.p(3)):  # type: ignore[arg-type]
            self.assertRaises(views._NotPlain, views.flattenFast, root)


class GraphTests(UITestCase):
    """
    With C{--graphite-url}, the pages show Go's graphite sparklines.
    """

    def graphs(self) -> Graphs:
        graphs = Graphs.fromSettings(uiSettings(self.config), self.base)
        assert graphs is not None
        return graphs

    def test_none(self) -> None:
        """
        Without C{--graphite-url}, no graphs.
        """
        self.assertIsNone(Graphs.fromSettings(uiSettings(self.config), ""))

    def test_targets(self) -> None:
        """
        The statsd keys of Go's UI: the prefix with the node's address
        (dots and colons as underscores, C{*} for all), counters and gauges
        in their formats, names sanitized as statsdaemon does.
        """
        self.config.graphite_url = "http://graphite.example"
        graphs = self.graphs()
        self.assertEqual(
            graphs.target("*", "t", "", "depth"),
            "sumSeries(stats.gauges.nsq.*.topic.t.depth)",
        )
        self.assertEqual(
            graphs.target("10.0.0.1:4151", "t", "c", "message_count"),
            "sumSeries(stats.counters.nsq.10_0_0_1_4151.topic.t.channel.c"
            ".message_count.count)",
        )
        self.assertEqual(sanitizeKey("a b/c#ephemeral!"), "a_b-cephemeral")

    def test_urls(self) -> None:
        """
        Sparklines and large graphs are graphite C{/render} URLs of Go's
        parameters; counters are per second on the large graph.
        """
        self.config.graphite_url = "http://graphite.example/"
        graphs = self.graphs()
        url = urlsplit(graphs.sparkline("*", "t", "", "depth"))
        self.assertEqual(url.netloc + url.path, "graphite.example/render")
        query = parse_qs(url.query)
        self.assertEqual(
            query["target"],
            ['summarize(sumSeries(stats.gauges.nsq.*.topic.t.depth),"60sec","avg")'],
        )
        self.assertEqual((query["width"], query["height"]), (["120"], ["20"]))
        self.assertEqual(query["colorList"], ["red"])
        self.assertEqual(query["from"], ["-2h"])
        large = parse_qs(urlsplit(graphs.large("*", "t", "", "message_count")).query)
        self.assertEqual(
            large["target"],
            [
                "summarize(scale(sumSeries(stats.counters.nsq.*.topic.t.message_count"
                f'.count),{1 / 60}),"60sec","avg")'
            ],
        )

    async def test_pages(self) -> None:
        """
        The streams, topic and channel pages show sparklines linked to
        large graphs; with C{--proxy-graphite} they come from nsqadmin's
        own C{/render}.
        """
        self.config.graphite_url = "http://graphite.example"
        page = await self.request("GET", "/")
        graph = page.one("topic-row", topic="t").one("graph", key="depth")
        self.assertTrue(
            graph.attrs["href"].startswith("http://graphite.example/render?")
        )
        page = await self.request("GET", "/topics/t")
        page.one("topic-node-row", node="a.example:4151").one(
            "graph", key="message_count"
        )
        page.one("topic-total-row").one("graph", key="depth")
        page = await self.request("GET", "/topics/t/c")
        page.one("channel-total-row").one("graph", key="in_flight_count")
        self.config.proxy_graphite = True
        page = await self.request("GET", "/topics/t")
        graph = page.one("topic-total-row").one("graph", key="depth")
        self.assertTrue(graph.attrs["href"].startswith(f"{self.base}/render?"))
        self.config.graphite_url = ""
        page = await self.request("GET", "/topics/t")
        self.assertEqual(page.find("graph"), [])


class PathsTests(TestCase):
    """
    L{views.Paths}: every name is one percent-encoded path segment under
    the base path.
    """

    def test_segments(self) -> None:
        """
        C{#} (ephemeral topics), C{/}, C{?} and spaces are encoded, so a
        name never ends the path.
        """
        paths = views.Paths("/admin")
        self.assertEqual(paths.topic("t#ephemeral"), "/admin/topics/t%23ephemeral")
        self.assertEqual(paths.channel("t", "a/b?c d"), "/admin/topics/t/a%2Fb%3Fc%20d")
        self.assertEqual(paths.url(), "/admin/")
        self.assertEqual(views.Paths("").url(), "/")
        self.assertEqual(paths.static("htmx.min.js"), "/admin/static/htmx.min.js")
