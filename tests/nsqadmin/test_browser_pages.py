"""
nsqadmin's web UI in a headless browser: every page shows the real
cluster, its links lead where they say, rates appear and the counter counts
without reloading; and the documentation's screenshots
(C{TXNSQ_UPDATE_SCREENSHOTS=1}).  See L{tests.nsqadmin.test_browser}.
"""

from __future__ import annotations

import json
import os
from typing import Any

from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.web.proxy import ReverseProxyResource
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from tests._services import startLookupd
from tests.golden import httpRequest
from tests.nsqadmin._browser import (
    CONSUMERS,
    MESSAGES,
    TOPICS,
    BrowserTestCase,
    number,
    segment,
    startBrowser,
    startCluster,
    startTraffic,
    testid,
)
from txnsq.client import IdentifyOptions
from txnsq.client.producer import Producer
from txnsq.combined import Options as CombinedOptions
from txnsq.combined import combinedService
from txnsq.nsqadmin import _views as views


async def _get(port: int, path: str) -> tuple[int, Any]:
    """
    A GET of 127.0.0.1:C{port}'s JSON API: status and decoded body.
    """
    response = await httpRequest(reactor, "127.0.0.1", port, "GET", path, timeout=30.0)
    return response.status, json.loads(response.body) if response.body else None


class PageTests(BrowserTestCase):
    """
    Every page shows the cluster, and its links lead where they say.
    """

    async def test_streams(self) -> None:
        """
        C{/} lists every topic with its counts; the navigation reaches
        every page and the topic link its topic.
        """
        _, browser = await self.start()
        await browser.open("/", "streams")
        await browser.screenshot("streams")
        self.assertEqual(
            sorted(await browser.attrs(testid("topic-row"), "data-topic")),
            ["audit", "orders"],
        )
        orders = testid("topic-row", topic="orders")
        # 10 messages on each of the two nsqds.
        self.assertEqual(
            number(await browser.text(f"{orders} {testid('message-count')}")),
            2 * MESSAGES,
        )
        self.assertEqual(
            number(await browser.text(f"{orders} {testid('channel-count')}")), 2
        )
        audit = testid("topic-row", topic="audit")
        # No channel: the messages wait in the topic itself.
        self.assertEqual(
            number(await browser.text(f"{audit} {testid('depth')}")), 2 * MESSAGES
        )
        self.assertEqual(await browser.count(f"{orders} {testid('paused-badge')}"), 0)

        for link, page in [
            ("nav-nodes", "nodes"),
            ("nav-counter", "counter"),
            ("nav-lookup", "lookup"),
            ("nav-streams", "streams"),
        ]:
            await browser.follow(testid(link), page)
            await browser.screenshot(page)
        await browser.follow(f"{orders} {testid('topic-link')}", "topic")
        self.assertEqual(await browser.path(), "/topics/orders")

    async def test_topic(self) -> None:
        """
        A topic's page: its nodes, channels (with their depth and
        clients), producers and each node's /metrics link; the channel
        link leads to the channel.
        """
        cluster, browser = await self.start()
        await browser.open("/topics/orders", "topic")
        await browser.screenshot("topic")
        self.assertIn("orders", await browser.text(testid("page-title")))
        self.assertEqual(
            sorted(await browser.attrs(testid("topic-node-row"), "data-node")),
            sorted(cluster.nodes),
        )
        total = testid("topic-total-row")
        self.assertEqual(
            number(await browser.text(f"{total} {testid('message-count')}")),
            2 * MESSAGES,
        )
        self.assertEqual(
            sorted(await browser.attrs(testid("channel-row"), "data-channel")),
            ["archive", "billing"],
        )
        archive = testid("channel-row", channel="archive")
        billing = testid("channel-row", channel="billing")
        self.assertEqual(
            number(await browser.text(f"{archive} {testid('depth')}")), 2 * MESSAGES
        )
        self.assertEqual(
            number(await browser.text(f"{archive} {testid('client-count')}")), 0
        )
        # One consumer, connected to both nsqds.
        self.assertEqual(
            number(await browser.text(f"{billing} {testid('client-count')}")), 2
        )
        # A producer connection on each nsqd published to the topic.
        self.assertEqual(
            sorted(await browser.attrs(testid("producer-row"), "data-node")),
            sorted(cluster.nodes),
        )
        self.assertEqual(
            [number(t) for t in await browser.texts(testid("producer-pub-count"))],
            [MESSAGES, MESSAGES],
        )
        for node in cluster.nodes:
            row = testid("topic-node-row", node=node)
            self.assertEqual(
                await browser.attr(f"{row} {testid('metrics-link')}", "href"),
                f"http://{node}/metrics",
            )
            self.assertEqual(
                number(await browser.text(f"{row} {testid('message-count')}")),
                MESSAGES,
            )
        await browser.follow(f"{archive} {testid('channel-link')}", "channel")
        self.assertEqual(await browser.path(), "/topics/orders/archive")

    async def test_channel(self) -> None:
        """
        A channel's page: its nodes and its consumer's connections; the
        topic link leads back.  A channel nobody consumes says so.
        """
        cluster, browser = await self.start()
        await browser.open("/topics/orders/billing", "channel")
        await browser.screenshot("channel")
        self.assertIn("billing", await browser.text(testid("page-title")))
        self.assertEqual(
            sorted(await browser.attrs(testid("channel-node-row"), "data-node")),
            sorted(cluster.nodes),
        )
        self.assertEqual(
            sorted(await browser.attrs(testid("client-row"), "data-node")),
            sorted(cluster.nodes),
        )
        total = testid("channel-total-row")
        self.assertEqual(
            number(await browser.text(f"{total} {testid('client-count')}")), 2
        )
        # The consumer FINs everything it gets.
        await browser.wait(
            lambda: (
                browser.tab.text(f"{total} {testid('message-count')}").strip()
                == str(2 * MESSAGES)
            ),
            "every billing message counted",
        )
        self.assertTrue(await browser.text(testid("client-hostname")))
        await browser.wait(
            lambda: (
                sum(map(number, browser.tab.texts(testid("client-message-count"))))
                == 2 * MESSAGES
            ),
            "every billing message counted on its client connection",
        )
        self.assertEqual(
            [number(t) for t in await browser.texts(testid("client-in-flight"))], [0, 0]
        )

        await browser.follow(testid("topic-link"), "topic")
        self.assertEqual(await browser.path(), "/topics/orders")

        await browser.open("/topics/orders/archive", "channel")
        self.assertEqual(await browser.count(testid("no-clients")), 1)
        self.assertEqual(await browser.count(testid("client-row")), 0)

    async def test_nodes(self) -> None:
        """
        C{/nodes} lists both nsqds with their version and topic count; a
        node's page lists its topics and channels; an unknown node is a
        404 page.
        """
        cluster, browser = await self.start()
        await browser.open("/nodes", "nodes")
        await browser.screenshot("nodes")
        self.assertEqual(
            sorted(await browser.attrs(testid("node-row"), "data-node")),
            sorted(cluster.nodes),
        )
        node = cluster.nodes[0]
        row = testid("node-row", node=node)
        self.assertEqual(await browser.text(f"{row} {testid('node-version')}"), "1.3.0")
        self.assertEqual(
            number(await browser.text(f"{row} {testid('node-topic-count')}")), 2
        )
        self.assertEqual(await browser.count(testid("out-of-date")), 0)
        self.assertEqual(
            await browser.attr(f"{row} {testid('metrics-link')}", "href"),
            f"http://{node}/metrics",
        )

        await browser.follow(f"{row} {testid('node-link')}", "node")
        await browser.screenshot("node")
        self.assertEqual(await browser.path(), f"/nodes/{segment(node)}")
        self.assertIn(node, await browser.text(testid("page-title")))
        self.assertEqual(
            sorted(await browser.attrs(testid("node-topic-row"), "data-topic")),
            ["audit", "orders"],
        )
        self.assertEqual(
            sorted(await browser.attrs(testid("node-channel-row"), "data-channel")),
            ["archive", "billing"],
        )
        self.assertEqual(number(await browser.text(testid("node-total-clients"))), 1)
        # audit's and orders' messages on this nsqd.
        self.assertEqual(
            number(await browser.text(testid("node-total-messages"))), 2 * MESSAGES
        )
        self.assertEqual(
            await browser.attr(testid("metrics-link"), "href"), f"http://{node}/metrics"
        )
        # As Go's node page: each channel's clients, here the consumer's
        # connection to this nsqd under orders/billing, as nsqd tells it.
        found = await cluster.channel(0, "orders", "billing")
        assert found is not None
        consumer = found["clients"][0]
        billing = testid("node-channel-clients", topic="orders", channel="billing")
        row = f"{billing} {testid('client-row')}"
        self.assertEqual(await browser.count(row), 1)
        self.assertEqual(await browser.attr(row, "data-node"), node)
        self.assertEqual(
            await browser.attr(row, "data-client-id"), consumer["client_id"]
        )
        self.assertEqual(
            await browser.text(f"{row} {testid('client-hostname')}"),
            consumer["hostname"],
        )
        self.assertEqual(
            await browser.text(f"{row} {testid('client-address')}"),
            consumer["remote_address"],
        )
        self.assertEqual(
            await browser.text(f"{row} {testid('client-user-agent')}"),
            consumer["user_agent"],
        )
        self.assertEqual(await browser.text(f"{row} {testid('client-version')}"), "V2")
        self.assertTrue(
            (await browser.text(f"{row} {testid('client-connected')}")).endswith("s")
        )
        # It FINs everything it gets: the live refresh shows the count.
        await browser.wait(
            lambda: (
                number(browser.tab.text(f"{row} {testid('client-message-count')}"))
                == MESSAGES
            ),
            "the consumer's messages counted on the node page",
        )
        archive = testid("node-channel-clients", topic="orders", channel="archive")
        self.assertEqual(
            await browser.text(f"{archive} {testid('no-clients')}"),
            "No clients connected to this channel.",
        )

        await browser.open("/nodes/nowhere:1")
        self.assertEqual(await browser.count(testid("error")), 1)


class _OldNSQD(Resource):
    """
    An nsqd of an older version, as its C{/info} and C{/stats} tell.
    """

    isLeaf = True

    def __init__(self, info: dict[str, Any]) -> None:
        super().__init__()
        self.info = info

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        if request.path == b"/info":
            return json.dumps(self.info).encode()
        stats = {"version": self.info["version"], "health": "OK", "start_time": 0}
        return json.dumps(
            {**stats, "topics": [], "memory": {}, "producers": []}
        ).encode()


class VersionTests(BrowserTestCase):
    """
    Nodes older than the newest are marked.
    """

    async def test_outOfDate(self) -> None:
        """
        Beside an nsqd 1.3.0, an nsqd 1.2.1 is marked out of date on the
        nodes page.
        """
        cluster = await startCluster(self, TOPICS, MESSAGES)
        status, info = await cluster.nsqdCall(0, "GET", "/info")
        self.assertEqual(status, 200, info)
        resource = _OldNSQD({})
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            Site(resource)
        )
        self.addCleanup(port.stopListening)
        old = port.getHost().port
        resource.info = {
            **info,
            "version": "1.2.1",
            "hostname": "old",
            "http_port": old,
        }
        admin = await cluster.startAdmin(
            nsqd_http_addresses=[cluster.nodes[0], f"127.0.0.1:{old}"]
        )
        browser = await startBrowser(self, f"http://127.0.0.1:{admin}")
        await browser.open("/nodes", "nodes")
        await browser.screenshot("out-of-date")
        oldRow = testid("node-row", node=f"127.0.0.1:{old}")
        newRow = testid("node-row", node=cluster.nodes[0])
        # (The badge may sit in the version's cell.)
        self.assertIn("1.2.1", await browser.text(f"{oldRow} {testid('node-version')}"))
        self.assertEqual(await browser.count(f"{oldRow} {testid('out-of-date')}"), 1)
        self.assertEqual(await browser.count(f"{newRow} {testid('out-of-date')}"), 0)


class LiveTests(BrowserTestCase):
    """
    Pages update themselves: rates appear, the counter counts.
    """

    async def test_rates(self) -> None:
        """
        With messages flowing, the topic's and the streams page's rate
        cells show a positive rate without reloading (two samples needed).
        """
        cluster, browser = await self.start()
        startTraffic(self, cluster, ["orders"])
        await browser.open("/topics/orders", "topic")
        rate = f"{testid('topic-total-row')} {testid('rate')}"
        await browser.wait(
            lambda: float(browser.tab.attr(rate, "data-rate") or "0") > 0,
            "a positive rate for orders",
        )
        channelRate = f"{testid('channel-row', channel='archive')} {testid('rate')}"
        await browser.wait(
            lambda: float(browser.tab.attr(channelRate, "data-rate") or "0") > 0,
            "a positive rate for orders/archive",
        )
        await browser.screenshot("topic-rates")
        await browser.open("/", "streams")
        streamsRate = f"{testid('topic-row', topic='orders')} {testid('rate')}"
        await browser.wait(
            lambda: float(browser.tab.attr(streamsRate, "data-rate") or "0") > 0,
            "a positive rate on the streams page",
        )

    async def test_newTopic(self) -> None:
        """
        A topic created after the streams page loaded shows up on it, and
        a deleted one goes, without reloading the page.
        """
        cluster, browser = await self.start()
        await browser.open("/", "streams")
        token = await browser.run(browser.tab.mark)
        await cluster.publish("late", 1, node=1)
        await browser.wait(
            lambda: browser.tab.count(testid("topic-row", topic="late")) == 1,
            "the new topic listed without reloading",
        )
        # Deleted as nsqadmin's action does: from each nsqd and nsqlookupd.
        for node in range(2):
            status, body = await cluster.nsqdCall(
                node, "POST", "/topic/delete?topic=audit"
            )
            self.assertEqual(status, 200, body)
        await cluster.lookupdPost("/topic/delete?topic=audit")
        await browser.wait(
            lambda: browser.tab.count(testid("topic-row", topic="audit")) == 0,
            "the deleted topic gone without reloading",
        )
        self.assertTrue(await browser.run(browser.tab.sameDocument, token))

    async def test_nodePages(self) -> None:
        """
        A node page of more topics than fit on one: the pager's links lead
        to the next page and to all of them, and the live refresh keeps
        the page shown.
        """
        self.patch(views, "NODE_PAGE_TOPICS", 1)
        cluster, browser = await self.start()
        node = segment(cluster.nodes[0])
        await browser.open(f"/nodes/{node}", "node")
        topics = testid("node-topic-row")
        self.assertEqual(await browser.attrs(topics, "data-topic"), ["audit"])
        await browser.follow(testid("pager-next"), "node")
        self.assertEqual(await browser.path(), f"/nodes/{node}?page=2")
        self.assertEqual(await browser.attrs(topics, "data-topic"), ["orders"])
        await browser.screenshot("node-page-2")
        live = "document.querySelector('#live')"
        await browser.run(browser.tab.driver.execute_script, f"{live}.txnsqOld = 1;")
        await browser.wait(
            lambda: browser.tab.driver.execute_script(
                f"return {live} !== null && {live}.txnsqOld === undefined;"
            ),
            "a live refresh of the node page",
        )
        self.assertEqual(await browser.attrs(topics, "data-topic"), ["orders"])
        self.assertEqual(await browser.text(testid("pager-current")), "2")
        await browser.follow(testid("pager-all"), "node")
        self.assertEqual(await browser.attrs(topics, "data-topic"), ["audit", "orders"])

    async def test_counter(self) -> None:
        """
        The counter shows every message of every channel, and counts on
        as more are published, without reloading.
        """
        cluster, browser = await self.start()
        await browser.open("/counter", "counter")
        # billing and archive each got every message of both nsqds.
        expected = 2 * 2 * MESSAGES
        total = testid("counter-total")
        await browser.wait(
            lambda: browser.tab.attr(total, "data-count") == str(expected),
            f"the counter at {expected}",
        )
        self.assertEqual(number(await browser.text(total)), expected)
        await browser.screenshot("counter")
        await cluster.publish("orders", 5)
        expected += 2 * 2 * 5
        await browser.wait(
            lambda: browser.tab.attr(total, "data-count") == str(expected),
            f"the counter updated to {expected} without reloading",
        )
        self.assertEqual(await browser.page(), "counter")
        await browser.screenshot("counter-updated")


class ScreenshotTests(BrowserTestCase):
    """
    The documentation's pictures: a cluster with a few topics and channels
    and traffic flowing (C{TXNSQ_UPDATE_SCREENSHOTS=1} writes them to
    C{docs/_static/nsqadmin/}).
    """

    async def test_pages(self) -> None:
        """
        Every page, once its rates show.
        """
        topics = {
            "orders": ["billing", "shipping", "analytics"],
            "clicks": ["pageviews", "archive"],
            "payments": ["ledger"],
            "audit": [],
        }
        cluster = await startCluster(
            self,
            topics,
            messages=250,
            consumers=[
                ("orders", "billing"),
                ("orders", "shipping"),
                ("clicks", "pageviews"),
            ],
        )
        await cluster.publish("clicks", 1200)
        # Known to nsqlookupd only: an inactive topic on /lookup.
        await cluster.lookupdPost("/topic/create?topic=legacy")
        await cluster.lookupdPost("/channel/create?topic=legacy&channel=replay")
        startTraffic(self, cluster, ["orders", "clicks", "payments"], interval=0.1)
        browser = await startBrowser(self, f"http://127.0.0.1:{cluster.admin}")

        async def shoot(path: str, page: str, doc: str, rate: str = "") -> None:
            await browser.open(path, page)
            if rate:
                await browser.wait(
                    lambda: browser.tab.attr(rate, "data-rate") != "",
                    f"a rate on {path}",
                )
            await browser.screenshot(doc, doc=doc)

        await shoot(
            "/",
            "streams",
            "streams",
            f"{testid('topic-row', topic='orders')} {testid('rate')}",
        )
        await shoot(
            "/topics/orders",
            "topic",
            "topic",
            f"{testid('topic-total-row')} {testid('rate')}",
        )
        await shoot(
            "/topics/orders/billing",
            "channel",
            "channel",
            f"{testid('channel-total-row')} {testid('rate')}",
        )
        await shoot("/nodes", "nodes", "nodes")
        await shoot(f"/nodes/{segment(cluster.nodes[0])}", "node", "node")
        await shoot("/counter", "counter", "counter", testid("counter-rate"))
        await shoot("/lookup", "lookup", "lookup")
        await shoot(
            "/actions/topics/orders/shipping?action=empty", "confirm", "confirm"
        )


class EdgeTests(BrowserTestCase):
    """
    Names and strings the pages must carry through unharmed.
    """

    async def test_ephemeral(self) -> None:
        """
        An ephemeral channel (C{#} in its name, which a URL must encode)
        has working links, page and actions.
        """
        cluster, browser = await self.start()
        channel = "live#ephemeral"
        await cluster.consume("orders", channel)
        await browser.open("/topics/orders", "topic")
        row = testid("channel-row", channel=channel)
        await browser.follow(f"{row} {testid('channel-link')}", "channel")
        self.assertEqual(await browser.path(), f"/topics/orders/{segment(channel)}")
        self.assertIn(channel, await browser.text(testid("page-title")))
        self.assertEqual(
            sorted(await browser.attrs(testid("client-row"), "data-node")),
            sorted(cluster.nodes),
        )
        await browser.screenshot("ephemeral")
        flash = await browser.act(
            testid("action-pause"), f"pause channel orders/{channel}"
        )
        self.assertEqual(flash, ("ok", f"Paused channel orders/{channel}."))
        self.assertEqual(await self.paused(cluster, "orders", channel), [True, True])
        self.assertEqual(await browser.path(), f"/topics/orders/{segment(channel)}")

    async def test_clientStrings(self) -> None:
        """
        A client's hostname and user agent (any text the client chose)
        are shown as text, never as markup.
        """
        cluster, browser = await self.start()
        hostile = '<img src="x" data-testid="injected" onerror="window.pwned=1">'
        await cluster.consume(
            "orders",
            "archive",
            identify=IdentifyOptions(
                hostname=f"host{hostile}", userAgent=f"ua{hostile}"
            ),
        )
        await browser.open("/topics/orders/archive", "channel")
        self.assertEqual(
            await browser.texts(testid("client-user-agent")), [f"ua{hostile}"] * 2
        )
        self.assertEqual(
            await browser.texts(testid("client-hostname")), [f"host{hostile}"] * 2
        )
        self.assertEqual(await browser.count(testid("injected")), 0)
        self.assertIsNone(
            await browser.run(browser.tab.driver.execute_script, "return window.pwned;")
        )
        # And on an nsqd's page, under the channel.
        await browser.open(f"/nodes/{segment(cluster.nodes[0])}", "node")
        archive = testid("node-channel-clients", topic="orders", channel="archive")
        self.assertEqual(
            await browser.texts(f"{archive} {testid('client-user-agent')}"),
            [f"ua{hostile}"],
        )
        self.assertEqual(
            await browser.texts(f"{archive} {testid('client-hostname')}"),
            [f"host{hostile}"],
        )
        self.assertEqual(await browser.count(testid("injected")), 0)
        self.assertIsNone(
            await browser.run(browser.tab.driver.execute_script, "return window.pwned;")
        )

    async def test_emptyCluster(self) -> None:
        """
        A cluster without topics: the pages say so.
        """
        cluster = await startCluster(self, {})
        browser = await startBrowser(self, f"http://127.0.0.1:{cluster.admin}")
        await browser.open("/", "streams")
        self.assertEqual(await browser.count(testid("no-topics")), 1)
        self.assertEqual(await browser.count(testid("topic-row")), 0)
        await browser.open("/lookup", "lookup")
        self.assertEqual(await browser.count(testid("no-inactive")), 1)
        await browser.open("/counter", "counter")
        self.assertEqual(await browser.attr(testid("counter-total"), "data-count"), "0")


class DetailTests(BrowserTestCase):
    """
    The rest of what the pages promise: node names, empty tables, graphite
    graphs, end-to-end latency, and reading nsqds without nsqlookupd.
    """

    async def test_namesAndEmptyTables(self) -> None:
        """
        Node links read C{hostname:http_port}; connections show their
        addresses; a topic without channels or producers says so; the
        nodes page counts registrations; C{/topics} is the streams page;
        an unknown node's page says C{NODE_NOT_FOUND}.
        """
        cluster, browser = await self.start()
        status, body = await cluster.nsqdCall(0, "POST", "/topic/create?topic=quiet")
        self.assertEqual(status, 200, body)
        status, info = await cluster.nsqdCall(0, "GET", "/info")
        self.assertEqual(status, 200, info)
        hostname = info["hostname"]

        await browser.open("/topics/orders", "topic")
        for node in cluster.nodes:
            row = testid("topic-node-row", node=node)
            self.assertEqual(
                await browser.text(f"{row} {testid('node-link')}"),
                f"{hostname}:{node.rsplit(':', 1)[1]}",
            )
        addresses = await browser.texts(testid("producer-address"))
        self.assertEqual(len(addresses), 2)
        self.assertTrue(all(a.startswith("127.0.0.1:") for a in addresses), addresses)
        self.assertEqual(
            sorted(await browser.texts(testid("producer-node"))), sorted(cluster.nodes)
        )
        self.assertIn("txnsq", await browser.text(testid("producer-user-agent")))

        await browser.open("/topics/orders/billing", "channel")
        row = testid("channel-node-row", node=cluster.nodes[1])
        self.assertEqual(
            await browser.text(f"{row} {testid('node-link')}"),
            f"{hostname}:{cluster.nsqdHTTP[1]}",
        )
        self.assertTrue(
            all(
                a.startswith("127.0.0.1:")
                for a in await browser.texts(testid("client-address"))
            )
        )
        # The consumer's max in flight (10), shared over its two connections.
        self.assertEqual(
            [number(t) for t in await browser.texts(testid("client-ready"))], [5, 5]
        )

        await browser.open("/topics/quiet", "topic")
        self.assertEqual(await browser.count(testid("no-channels")), 1)
        self.assertEqual(await browser.count(testid("no-producers")), 1)

        await browser.open("/nodes", "nodes")
        for node in cluster.nodes:
            row = testid("node-row", node=node)
            self.assertEqual(
                number(await browser.text(f"{row} {testid('node-lookupd-count')}")), 1
            )
            self.assertEqual(
                await browser.text(f"{row} {testid('node-hostname')}"), hostname
            )

        await browser.open("/topics", "streams")
        self.assertEqual(await browser.count(testid("topics-table")), 1)
        await browser.open("/nodes/nowhere:1")
        self.assertIn("NODE_NOT_FOUND", await browser.text(testid("error")))

    async def test_twoLookupds(self) -> None:
        """
        nsqds registered with two nsqlookupds, nsqadmin reading both: each
        topic and nsqd shows once, and each nsqd counts two registrations.
        """
        cluster = await startCluster(self, TOPICS, MESSAGES)
        _, secondTCP, secondHTTP = await startLookupd(self)
        both = [f"127.0.0.1:{cluster.lookupdTCP}", f"127.0.0.1:{secondTCP}"]
        for node in range(2):
            # nsqd's runtime /config: register with the second one too.
            status, body = await cluster.nsqdCall(
                node,
                "PUT",
                "/config/nsqlookupd_tcp_addresses",
                json.dumps(both).encode(),
            )
            self.assertEqual(status, 200, body)

        async def registered() -> bool:
            status, body = await _get(secondHTTP, "/lookup?topic=orders")
            return status == 200 and len(body["producers"]) == 2

        await cluster.eventually(registered, "both nsqds registered with the second")
        admin = await cluster.startAdmin(
            lookupd_http_addresses=[
                f"127.0.0.1:{cluster.lookupdHTTP}",
                f"127.0.0.1:{secondHTTP}",
            ]
        )
        browser = await startBrowser(self, f"http://127.0.0.1:{admin}")
        await browser.open("/", "streams")
        self.assertEqual(
            await browser.attrs(testid("topic-row"), "data-topic"), ["audit", "orders"]
        )
        await browser.open("/topics/orders", "topic")
        self.assertEqual(
            sorted(await browser.attrs(testid("topic-node-row"), "data-node")),
            sorted(cluster.nodes),
        )
        await browser.open("/nodes", "nodes")
        self.assertEqual(
            sorted(await browser.attrs(testid("node-row"), "data-node")),
            sorted(cluster.nodes),
        )
        self.assertEqual(
            [number(t) for t in await browser.texts(testid("node-lookupd-count"))],
            [2, 2],
        )
        await browser.screenshot("two-lookupds")

    async def test_graphite(self) -> None:
        """
        With C{--graphite-url}, the streams, topic and channel pages link
        each count to graphite's graph, with a sparkline.
        """
        graphite = "http://127.0.0.1:9"
        cluster, browser = await self.start(graphite_url=graphite)
        for path, page in [
            ("/", "streams"),
            ("/topics/orders", "topic"),
            ("/topics/orders/billing", "channel"),
        ]:
            await browser.open(path, page)
            hrefs = await browser.attrs(testid("graph"), "href")
            self.assertTrue(hrefs, path)
            self.assertTrue(all(h.startswith(graphite) for h in hrefs), hrefs)
            self.assertEqual(
                await browser.count(f"{testid('graph')} img"), len(hrefs), path
            )
        self.assertEqual(
            sorted(set(await browser.attrs(testid("graph"), "data-key"))),
            ["depth", "in_flight_count", "message_count"],
        )

        # With --proxy-graphite, the sparklines come from nsqadmin's own
        # /render (under --base-path), so browsers need not reach graphite.
        admin = await cluster.startAdmin(
            graphite_url=graphite, proxy_graphite=True, base_path="/admin"
        )
        browser.tab.base = f"http://127.0.0.1:{admin}"
        await browser.open("/admin/topics/orders", "topic")
        sources = [
            src for src in await browser.run(browser.tab.localURLs) if "render" in src
        ]
        self.assertTrue(sources)
        self.assertTrue(all(s.startswith("/admin/render?") for s in sources), sources)

    async def test_latency(self) -> None:
        """
        nsqds that measure end-to-end latency: the topic and channel pages
        show its percentiles per nsqd and over all.
        """
        cluster = await startCluster(
            self,
            TOPICS,
            MESSAGES,
            consumers=CONSUMERS,
            nsqdConfig={"e2e_processing_latency_percentiles": [0.5, 0.99]},
        )
        browser = await startBrowser(self, f"http://127.0.0.1:{cluster.admin}")
        for path, page in [
            ("/topics/orders", "topic"),
            ("/topics/orders/billing", "channel"),
        ]:
            await browser.open(path, page)
            self.assertEqual(await browser.count(testid("latency-table")), 1, path)
            self.assertEqual(
                sorted(await browser.attrs(testid("latency-row"), "data-node")),
                sorted([*cluster.nodes, "*"]),
            )
            overall = testid("latency-row", node="*")
            self.assertEqual(
                sorted(
                    await browser.attrs(
                        f"{overall} {testid('latency')}", "data-quantile"
                    )
                ),
                ["0.5", "0.99"],
            )
        await browser.screenshot("latency")

    async def test_nsqdsOnly(self) -> None:
        """
        Reading nsqds directly (no nsqlookupd): /lookup says there is no
        nsqlookupd, and a node's page has no tombstone buttons.
        """
        cluster = await startCluster(self, TOPICS, MESSAGES)
        admin = await cluster.startAdmin(nsqd_http_addresses=cluster.nodes)
        browser = await startBrowser(self, f"http://127.0.0.1:{admin}")
        await browser.open("/lookup", "lookup")
        self.assertEqual(await browser.count(testid("no-lookupd")), 1)
        await browser.open(f"/nodes/{segment(cluster.nodes[0])}", "node")
        self.assertEqual(
            sorted(await browser.attrs(testid("node-topic-row"), "data-topic")),
            ["audit", "orders"],
        )
        self.assertEqual(await browser.count(testid("action-tombstone")), 0)

    async def test_noNodes(self) -> None:
        """
        A cluster whose nsqlookupd knows no nsqd: the nodes page says so.
        """
        cluster = await startCluster(self, {}, nsqds=0)
        browser = await startBrowser(self, f"http://127.0.0.1:{cluster.admin}")
        await browser.open("/nodes", "nodes")
        self.assertEqual(await browser.count(testid("no-nodes")), 1)


class _Switch(Resource):
    """
    An nsqd's HTTP API through a switch: passed through while C{up},
    C{500} while not.
    """

    isLeaf = True

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port
        self.up = True

    def render(self, request: Request) -> bytes | int:
        if not self.up:
            request.setResponseCode(500)
            return b'{"message": "switched off"}'
        uri = request.uri
        proxy = ReverseProxyResource("127.0.0.1", self.port, uri)
        # The proxy's own path already holds the query.
        request.uri = request.path
        result: bytes | int = proxy.render(request)
        return result


class RecoveryTests(BrowserTestCase):
    """
    A live page that cannot read the cluster says so, keeps trying, and
    comes back by itself.
    """

    async def test_clusterAway(self) -> None:
        """
        While its only nsqd fails, the open streams page shows
        C{UPSTREAM_ERROR}; once it answers again the topics are back
        without a reload; a page first loaded while it fails recovers too.
        """
        cluster = await startCluster(self, TOPICS, MESSAGES)
        switch = _Switch(cluster.nsqdHTTP[0])
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            Site(switch)
        )
        self.addCleanup(port.stopListening)
        admin = await cluster.startAdmin(
            nsqd_http_addresses=[f"127.0.0.1:{port.getHost().port}"]
        )
        browser = await startBrowser(self, f"http://127.0.0.1:{admin}")
        orders = testid("topic-row", topic="orders")
        await browser.open("/", "streams")
        self.assertEqual(await browser.count(orders), 1)
        token = await browser.run(browser.tab.mark)

        switch.up = False
        await browser.wait(
            lambda: "UPSTREAM_ERROR" in browser.tab.text(f"#live {testid('error')}"),
            "the error shown in the live part",
        )
        await browser.screenshot("cluster-away")
        switch.up = True
        await browser.wait(lambda: browser.tab.count(orders) == 1, "the topics back")
        self.assertEqual(await browser.count(testid("error")), 0)
        self.assertTrue(await browser.run(browser.tab.sameDocument, token))

        switch.up = False
        await browser.open("/topics/orders", "error")
        self.assertIn("UPSTREAM_ERROR", await browser.text(testid("error")))
        switch.up = True
        await browser.wait(
            lambda: (
                browser.tab.count(testid("topic-total-row")) == 1
                and browser.tab.count(testid("action-pause")) == 1
            ),
            "the topic's whole page back (its tables and its actions)",
        )
        self.assertEqual(await browser.page(), "topic")
        self.assertIn("orders", await browser.text(testid("page-title")))
        self.assertEqual(await browser.count(testid("error")), 0)
        await browser.screenshot("cluster-back")


class CombinedTests(BrowserTestCase):
    """
    C{twistd nsq}: nsqlookupd, nsqd and the admin UI in one process.
    """

    async def test_quickStart(self) -> None:
        """
        The co-located nsqadmin shows the co-located nsqd and what is
        published to it.
        """
        dataPath = self.mktemp()
        os.makedirs(dataPath)
        options = CombinedOptions()
        options.parseOptions(
            [
                "--tcp-address=127.0.0.1:0",
                "--http-address=127.0.0.1:0",
                "--broadcast-address=127.0.0.1",
                "--nsqlookupd-tcp-address=127.0.0.1:0",
                "--nsqlookupd-http-address=127.0.0.1:0",
                "--nsqadmin-http-address=127.0.0.1:0",
                f"--data-path={dataPath}",
            ]
        )
        service = combinedService(options.config, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        nsqd: Any = service.nsqd
        admin: Any = service.nsqadmin
        tcp = (await nsqd.whenTCPListening()).getHost().port
        http = (await nsqd.whenHTTPListening()).getHost().port
        adminPort = (await admin.whenHTTPListening()).getHost().port
        producer = Producer([f"127.0.0.1:{tcp}"], reactor=reactor)
        producer.start()
        self.addCleanup(producer.stop)
        await producer.multiPublish("hello", [b"a", b"b", b"c"])

        browser = await startBrowser(self, f"http://127.0.0.1:{adminPort}")
        await browser.open("/", "streams")
        row = testid("topic-row", topic="hello")
        await browser.wait(
            lambda: browser.tab.count(row) == 1, "the published topic listed (live)"
        )
        self.assertEqual(
            number(await browser.text(f"{row} {testid('message-count')}")), 3
        )
        await browser.open("/nodes", "nodes")
        self.assertEqual(
            await browser.attrs(testid("node-row"), "data-node"), [f"127.0.0.1:{http}"]
        )
