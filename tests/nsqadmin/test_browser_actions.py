"""
nsqadmin's web UI in a headless browser: every admin action (topic,
channel, per node, tombstone, create), confirmed in the browser's confirm()
dialog or, without JavaScript, on the confirmation page; C{--base-path};
the ACL.  After each action the cluster itself (each nsqd's C{/stats},
nsqlookupd) is asked whether it changed, not just the page.  See
L{tests.nsqadmin.test_browser}.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from tests.integration._cluster import freePorts
from tests.nsqadmin._acl import ADMIN_ONLY_TEST_IDS
from tests.nsqadmin._browser import (
    CONSUMERS,
    MESSAGES,
    TOPICS,
    BrowserTestCase,
    number,
    segment,
    startBrowser,
    startCluster,
    testid,
)


class TopicActionTests(BrowserTestCase):
    """
    A topic's actions, confirmed in the browser's confirm() dialog.
    """

    async def test_pauseUnpause(self) -> None:
        """
        Pause pauses the topic on every nsqd; unpause undoes it.
        """
        cluster, browser = await self.start()
        await browser.open("/topics/orders", "topic")
        self.assertEqual(await browser.count(testid("action-unpause")), 0)
        flash = await browser.act(testid("action-pause"), "pause topic orders")
        await browser.screenshot("paused")
        self.assertEqual(flash, ("ok", "Paused topic orders."))
        self.assertEqual(await self.paused(cluster, "orders"), [True, True])
        self.assertEqual(await browser.page(), "topic")
        self.assertGreaterEqual(await browser.count(testid("paused-badge")), 1)
        self.assertEqual(await browser.count(testid("action-pause")), 0)

        # The flash shows once.
        await browser.open("/topics/orders", "topic")
        self.assertEqual(await browser.count(testid("flash")), 0)

        flash = await browser.act(testid("action-unpause"), "unpause topic orders")
        self.assertEqual(flash, ("ok", "Unpaused topic orders."))
        self.assertEqual(await self.paused(cluster, "orders"), [False, False])
        self.assertEqual(await browser.count(testid("action-unpause")), 0)

    async def test_empty(self) -> None:
        """
        Empty empties the topic on every nsqd.
        """
        cluster, browser = await self.start()
        self.assertEqual(await self.depths(cluster, "audit"), [MESSAGES, MESSAGES])
        await browser.open("/topics/audit", "topic")
        flash = await browser.act(testid("action-empty"), "empty topic audit")
        self.assertEqual(flash, ("ok", "Emptied topic audit."))
        self.assertEqual(await self.depths(cluster, "audit"), [0, 0])
        self.assertEqual(
            number(
                await browser.text(f"{testid('topic-total-row')} {testid('depth')}")
            ),
            0,
        )

    async def test_dismissed(self) -> None:
        """
        Dismissing the confirm() dialog does nothing.
        """
        cluster, browser = await self.start()
        await browser.open("/topics/audit", "topic")
        question = await browser.dismiss(testid("action-delete"))
        self.assertIn("delete topic audit", question)
        self.assertEqual(await browser.path(), "/topics/audit")
        self.assertEqual(await browser.count(testid("flash")), 0)
        self.assertEqual(await self.depths(cluster, "audit"), [MESSAGES, MESSAGES])

    async def test_delete(self) -> None:
        """
        Delete removes the topic from every nsqd and nsqlookupd, and leads
        to the streams page, which no longer lists it.
        """
        cluster, browser = await self.start()
        await browser.open("/topics/audit", "topic")
        flash = await browser.act(testid("action-delete"), "delete topic audit")
        self.assertEqual(flash, ("ok", "Deleted topic audit."))
        self.assertEqual(await browser.page(), "streams")
        await browser.screenshot("deleted")
        for node in range(2):
            self.assertIsNone(await cluster.topic(node, "audit"))

        async def forgotten() -> bool:
            topics = await cluster.lookupd("/topics")
            return topics is not None and "audit" not in topics["topics"]

        await cluster.eventually(forgotten, "nsqlookupd forgot audit")
        self.assertEqual(
            await browser.attrs(testid("topic-row"), "data-topic"), ["orders"]
        )


class ChannelActionTests(BrowserTestCase):
    """
    A channel's actions, confirmed in the browser's confirm() dialog.
    """

    async def test_pauseUnpauseEmpty(self) -> None:
        """
        Pause, unpause and empty change the channel on every nsqd.
        """
        cluster, browser = await self.start()
        await browser.open("/topics/orders/archive", "channel")
        flash = await browser.act(
            testid("action-pause"), "pause channel orders/archive"
        )
        self.assertEqual(flash, ("ok", "Paused channel orders/archive."))
        self.assertEqual(await self.paused(cluster, "orders", "archive"), [True, True])
        self.assertEqual(
            await self.paused(cluster, "orders", "billing"), [False, False]
        )
        self.assertGreaterEqual(await browser.count(testid("paused-badge")), 1)
        await browser.screenshot("paused")

        flash = await browser.act(
            testid("action-unpause"), "unpause channel orders/archive"
        )
        self.assertEqual(flash, ("ok", "Unpaused channel orders/archive."))
        self.assertEqual(
            await self.paused(cluster, "orders", "archive"), [False, False]
        )

        self.assertEqual(
            await self.depths(cluster, "orders", "archive"), [MESSAGES, MESSAGES]
        )
        flash = await browser.act(
            testid("action-empty"), "empty channel orders/archive"
        )
        self.assertEqual(flash, ("ok", "Emptied channel orders/archive."))
        self.assertEqual(await self.depths(cluster, "orders", "archive"), [0, 0])
        self.assertEqual(await browser.page(), "channel")

    async def test_delete(self) -> None:
        """
        Delete removes the channel from every nsqd and leads to its
        topic's page, which no longer lists it.
        """
        cluster, browser = await self.start()
        await browser.open("/topics/orders/archive", "channel")
        flash = await browser.act(
            testid("action-delete"), "delete channel orders/archive"
        )
        self.assertEqual(flash, ("ok", "Deleted channel orders/archive."))
        self.assertEqual(await browser.page(), "topic")
        self.assertEqual(await browser.path(), "/topics/orders")
        for node in range(2):
            self.assertIsNone(await cluster.channel(node, "orders", "archive"))
            self.assertIsNotNone(await cluster.channel(node, "orders", "billing"))
        self.assertEqual(
            await browser.attrs(testid("channel-row"), "data-channel"), ["billing"]
        )


class NodeActionTests(BrowserTestCase):
    """
    Acting on one nsqd only (NSQ #430), and tombstoning.
    """

    async def test_topicOnOneNode(self) -> None:
        """
        A topic's per-node pause, unpause and empty change that nsqd only.
        """
        cluster, browser = await self.start()
        first, second = cluster.nodes
        await browser.open("/topics/audit", "topic")
        row = testid("topic-node-row", node=first)
        flash = await browser.act(f"{row} {testid('node-action-pause')}", "pause")
        self.assertEqual(flash, ("ok", f"Paused topic audit on {first}."))
        self.assertEqual(await self.paused(cluster, "audit"), [True, False])
        self.assertEqual(await browser.count(f"{row} {testid('paused-badge')}"), 1)
        self.assertEqual(
            await browser.count(
                f"{testid('topic-node-row', node=second)} {testid('paused-badge')}"
            ),
            0,
        )
        await browser.screenshot("paused-on-one")

        flash = await browser.act(f"{row} {testid('node-action-unpause')}", "unpause")
        self.assertEqual(flash, ("ok", f"Unpaused topic audit on {first}."))
        self.assertEqual(await self.paused(cluster, "audit"), [False, False])

        row = testid("topic-node-row", node=second)
        flash = await browser.act(f"{row} {testid('node-action-empty')}", "empty")
        self.assertEqual(flash, ("ok", f"Emptied topic audit on {second}."))
        self.assertEqual(await self.depths(cluster, "audit"), [MESSAGES, 0])

    async def test_channelOnOneNode(self) -> None:
        """
        A channel's per-node pause, unpause and empty change that nsqd only.
        """
        cluster, browser = await self.start()
        first, second = cluster.nodes
        await browser.open("/topics/orders/archive", "channel")
        row = testid("channel-node-row", node=second)
        flash = await browser.act(f"{row} {testid('node-action-pause')}", "pause")
        self.assertEqual(flash, ("ok", f"Paused channel orders/archive on {second}."))
        self.assertEqual(await self.paused(cluster, "orders", "archive"), [False, True])

        flash = await browser.act(f"{row} {testid('node-action-unpause')}", "unpause")
        self.assertEqual(flash, ("ok", f"Unpaused channel orders/archive on {second}."))
        self.assertEqual(
            await self.paused(cluster, "orders", "archive"), [False, False]
        )

        row = testid("channel-node-row", node=first)
        flash = await browser.act(f"{row} {testid('node-action-empty')}", "empty")
        self.assertEqual(flash, ("ok", f"Emptied channel orders/archive on {first}."))
        self.assertEqual(await self.depths(cluster, "orders", "archive"), [0, MESSAGES])

    async def test_tombstone(self) -> None:
        """
        Tombstoning a node's topic on the node's page: nsqlookupd no
        longer gives that nsqd for it, and (as Go's) that nsqd deletes it.
        """
        cluster, browser = await self.start()
        first = cluster.nodes[0]
        await browser.open(f"/nodes/{segment(first)}", "node")
        row = testid("node-topic-row", topic="audit")
        flash = await browser.act(
            f"{row} {testid('action-tombstone')}", "tombstone topic audit"
        )
        self.assertEqual(flash, ("ok", f"Tombstoned topic audit on {first}."))
        self.assertEqual(await browser.page(), "node")
        self.assertEqual(await browser.path(), f"/nodes/{segment(first)}")
        await browser.screenshot("tombstoned")
        lookup = await cluster.lookupd("/lookup?topic=audit")
        self.assertEqual(
            [p["http_port"] for p in lookup["producers"]], [cluster.nsqdHTTP[1]]
        )
        self.assertIsNone(await cluster.topic(0, "audit"))
        self.assertIsNotNone(await cluster.topic(1, "audit"))
        self.assertIsNotNone(await cluster.topic(0, "orders"))

        # Tombstoned on nsqlookupd alone (the nsqd keeps the topic), the
        # node's page marks the topic so, as soon as it refreshes.
        row = testid("node-topic-row", topic="orders")
        self.assertEqual(await browser.count(f"{row} {testid('tombstoned-badge')}"), 0)
        await cluster.lookupdPost(f"/topic/tombstone?topic=orders&node={first}")
        await browser.wait(
            lambda: browser.tab.count(f"{row} {testid('tombstoned-badge')}") == 1,
            "orders shown tombstoned on the node's page (live)",
        )
        await browser.screenshot("tombstoned-badge")


class NoJavaScriptTests(BrowserTestCase):
    """
    Without JavaScript, actions confirm on a page of their own.
    """

    async def test_confirmPage(self) -> None:
        """
        The action button leads to a confirmation page; cancelling goes
        back and changes nothing; confirming acts and comes back with the
        flash.
        """
        cluster, browser = await self.start(javascript=False)
        await browser.open("/topics/orders/archive", "channel")
        await browser.follow(testid("action-empty"), "confirm")
        await browser.screenshot("confirm")
        self.assertIn(
            "empty channel orders/archive",
            await browser.text(testid("confirm-message")),
        )
        await browser.follow(testid("cancel-link"), "channel")
        self.assertEqual(await browser.path(), "/topics/orders/archive")
        self.assertEqual(
            await self.depths(cluster, "orders", "archive"), [MESSAGES, MESSAGES]
        )

        await browser.follow(testid("action-empty"), "confirm")
        await browser.follow(testid("confirm-button"), "channel")
        self.assertEqual(
            await browser.flash(), ("ok", "Emptied channel orders/archive.")
        )
        self.assertEqual(await self.depths(cluster, "orders", "archive"), [0, 0])

        await browser.open("/topics/orders", "topic")
        await browser.follow(testid("action-pause"), "confirm")
        await browser.follow(testid("confirm-button"), "topic")
        self.assertEqual(await browser.flash(), ("ok", "Paused topic orders."))
        self.assertEqual(await self.paused(cluster, "orders"), [True, True])

    async def test_perNodeAndTombstone(self) -> None:
        """
        Per-node actions and tombstoning confirm on their page too.
        """
        cluster, browser = await self.start(javascript=False)
        first, _ = cluster.nodes
        await browser.open("/topics/audit", "topic")
        row = testid("topic-node-row", node=first)
        await browser.follow(f"{row} {testid('node-action-pause')}", "confirm")
        await browser.follow(testid("confirm-button"), "topic")
        self.assertEqual(
            await browser.flash(), ("ok", f"Paused topic audit on {first}.")
        )
        self.assertEqual(await self.paused(cluster, "audit"), [True, False])

        # (audit: a topic nobody subscribes to, which no reconnecting
        # consumer creates again on that nsqd.)
        await browser.open(f"/nodes/{segment(first)}", "node")
        row = testid("node-topic-row", topic="audit")
        await browser.follow(f"{row} {testid('action-tombstone')}", "confirm")
        await browser.follow(testid("confirm-button"), "node")
        self.assertEqual(
            await browser.flash(), ("ok", f"Tombstoned topic audit on {first}.")
        )
        self.assertIsNone(await cluster.topic(0, "audit"))
        self.assertIsNotNone(await cluster.topic(1, "audit"))


class LookupTests(BrowserTestCase):
    """
    C{/lookup}: inactive topics, and creating topics and channels.
    """

    async def test_create(self) -> None:
        """
        Creating a topic, and a topic with a channel, registers them with
        nsqlookupd (no nsqd has them yet: they are listed as inactive); a
        bad name is refused and creates nothing.
        """
        cluster, browser = await self.start()
        await browser.open("/lookup", "lookup")
        self.assertEqual(await browser.count(testid("no-inactive")), 1)
        await browser.run(browser.tab.type, testid("create-topic-input"), "fresh")
        await browser.follow(testid("create-submit"), "lookup")
        self.assertEqual(await browser.flash(), ("ok", "Created topic fresh."))
        self.assertIn("fresh", (await cluster.lookupd("/topics"))["topics"])
        self.assertEqual(
            await browser.attrs(testid("inactive-topic-row"), "data-topic"), ["fresh"]
        )

        await browser.run(browser.tab.type, testid("create-topic-input"), "spare")
        await browser.run(browser.tab.type, testid("create-channel-input"), "later")
        await browser.follow(testid("create-submit"), "lookup")
        self.assertEqual(
            await browser.flash(), ("ok", "Created topic spare and channel later.")
        )
        self.assertEqual(
            (await cluster.lookupd("/channels?topic=spare"))["channels"], ["later"]
        )
        spare = testid("inactive-topic-row", topic="spare")
        self.assertEqual(
            await browser.attrs(
                f"{spare} {testid('inactive-channel')}", "data-channel"
            ),
            ["later"],
        )
        await browser.screenshot("created")

        await browser.run(browser.tab.type, testid("create-topic-input"), "no good")
        await browser.follow(testid("create-submit"), "lookup")
        level, text = await browser.flash()
        self.assertEqual(level, "error")
        self.assertIn("INVALID_TOPIC", text)
        self.assertNotIn("no good", (await cluster.lookupd("/topics"))["topics"])

        await browser.run(browser.tab.type, testid("create-topic-input"), "okay")
        await browser.run(browser.tab.type, testid("create-channel-input"), "not okay")
        await browser.follow(testid("create-submit"), "lookup")
        level, text = await browser.flash()
        self.assertEqual(level, "error")
        self.assertIn("INVALID_CHANNEL", text)
        # Neither is created (both names are checked first, as Go does).
        self.assertNotIn("okay", (await cluster.lookupd("/topics"))["topics"])
        self.assertEqual(
            (await cluster.lookupd("/channels?topic=okay"))["channels"], []
        )


class BasePathTests(BrowserTestCase):
    """
    Behind a proxy: C{--base-path=/admin}.
    """

    async def test_basePath(self) -> None:
        """
        Every page is under C{/admin}, every link, form and script the
        pages hold is too (the nodes' /metrics aside), and actions work.
        """
        cluster = await startCluster(self, TOPICS, MESSAGES, consumers=CONSUMERS)
        admin = await cluster.startAdmin(base_path="/admin")
        browser = await startBrowser(self, f"http://127.0.0.1:{admin}")
        await browser.open("/admin/", "streams")
        await browser.screenshot("streams")
        # Without the slash, as a user types it.
        await browser.open("/admin", "streams")
        self.assertEqual(await browser.path(), "/admin/")
        pages = [
            ("/admin/", "streams"),
            ("/admin/topics/orders", "topic"),
            ("/admin/topics/orders/billing", "channel"),
            ("/admin/nodes", "nodes"),
            (f"/admin/nodes/{segment(cluster.nodes[0])}", "node"),
            ("/admin/counter", "counter"),
            ("/admin/lookup", "lookup"),
        ]
        for path, page in pages:
            await browser.open(path, page)
            urls = await browser.run(browser.tab.localURLs)
            self.assertTrue(urls, path)
            outside = [url for url in urls if not url.startswith("/admin/")]
            self.assertEqual(outside, [], f"{path} links outside /admin/")

        await browser.open("/admin/", "streams")
        await browser.follow(
            f"{testid('topic-row', topic='orders')} {testid('topic-link')}", "topic"
        )
        self.assertEqual(await browser.path(), "/admin/topics/orders")
        await browser.follow(testid("nav-nodes"), "nodes")
        self.assertEqual(await browser.path(), "/admin/nodes")
        await browser.open("/admin/topics/orders", "topic")
        flash = await browser.act(testid("action-pause"), "pause topic orders")
        self.assertEqual(flash, ("ok", "Paused topic orders."))
        self.assertEqual(await browser.path(), "/admin/topics/orders")
        self.assertEqual(await self.paused(cluster, "orders"), [True, True])
        self.assertIn(
            "Zero-Clause BSD", await browser.raw("/admin/static/htmx-LICENSE")
        )

        # The confirmation page (as without JavaScript) and an error page
        # stay under /admin/ too.
        node = cluster.nodes[1]
        await browser.open(
            f"/admin/actions/topics/audit?action=empty&node={segment(node)}", "confirm"
        )
        await browser.screenshot("confirm")
        self.assertEqual(
            [
                u
                for u in await browser.run(browser.tab.localURLs)
                if not u.startswith("/admin/")
            ],
            [],
        )
        await browser.follow(testid("confirm-button"), "topic")
        self.assertEqual(await browser.path(), "/admin/topics/audit")
        self.assertEqual(
            await browser.flash(), ("ok", f"Emptied topic audit on {node}.")
        )
        self.assertEqual(await self.depths(cluster, "audit"), [MESSAGES, 0])
        await browser.open("/admin/nodes/nowhere:1")
        self.assertEqual(await browser.count(testid("error")), 1)
        self.assertEqual(
            [
                u
                for u in await browser.run(browser.tab.localURLs)
                if not u.startswith("/admin/")
            ],
            [],
        )


class ACLTests(BrowserTestCase):
    """
    C{--admin-user}: only the named users see the action buttons (as in
    Go's pages) and may act.
    """

    # Every button that changes the cluster, and the create form.
    BUTTONS = ", ".join(testid(name) for name in ADMIN_ONLY_TEST_IDS)

    async def test_forbidden(self) -> None:
        """
        A reader whose header names no admin sees no action button on the
        topic, channel, node and lookup pages (nor after their live
        refreshes), and the confirmation URL is a 403 page.  An admin (the
        header as an authenticating proxy sends it) sees them and acts; a
        button clicked after the header is gone comes back FORBIDDEN and
        leaves the cluster unchanged.
        """
        cluster, browser = await self.start(admin_users=["alice"])
        first = segment(cluster.nodes[0])
        pages = [
            ("/topics/orders", "topic"),
            ("/topics/orders/billing", "channel"),
            (f"/nodes/{first}", "node"),
            ("/lookup", "lookup"),
        ]
        for path, kind in pages:
            await browser.open(path, kind)
            self.assertEqual(await browser.count(self.BUTTONS), 0, path)
        await browser.screenshot("reader-topic")
        self.assertIn("--admin-user", await browser.text(testid("not-admin")))
        # Still none once the live part has been swapped (every 2 s).
        await browser.open("/topics/orders", "topic")
        live = "document.querySelector('#live')"
        await browser.run(browser.tab.driver.execute_script, f"{live}.txnsqOld = 1;")
        await browser.wait(
            lambda: browser.tab.driver.execute_script(
                f"return {live} !== null && {live}.txnsqOld === undefined;"
            ),
            "a live refresh of the topic page",
        )
        self.assertEqual(await browser.count(self.BUTTONS), 0)

        await browser.open("/actions/topics/orders?action=pause", "error")
        await browser.screenshot("forbidden-page")
        self.assertIn("FORBIDDEN", await browser.text(testid("error")))
        self.assertEqual(await self.paused(cluster, "orders"), [False, False])

        await browser.run(browser.tab.setHeaders, {"X-Forwarded-User": "alice"})
        for path, kind in pages:
            await browser.open(path, kind)
            self.assertGreater(await browser.count(self.BUTTONS), 0, path)
        await browser.open("/topics/orders", "topic")
        self.assertEqual(await browser.count(testid("node-action-empty")), 2)
        await browser.screenshot("admin-topic")
        flash = await browser.act(testid("action-pause"), "pause topic orders")
        self.assertEqual(flash, ("ok", "Paused topic orders."))
        self.assertEqual(await self.paused(cluster, "orders"), [True, True])

        # The page was an admin's; the header is gone when the click is.
        await browser.open("/topics/audit", "topic")
        await browser.run(browser.tab.setHeaders, {})
        level, text = await browser.act(testid("action-pause"), "pause topic audit")
        await browser.screenshot("forbidden-flash")
        self.assertEqual(level, "error")
        self.assertIn("FORBIDDEN", text)
        self.assertEqual(await self.paused(cluster, "audit"), [False, False])
        self.assertEqual(await browser.count(self.BUTTONS), 0)


class FailureTests(BrowserTestCase):
    """
    Nodes that do not answer are reported, on the page and after actions.
    """

    async def test_nodeDown(self) -> None:
        """
        With an nsqd that does not answer among C{--nsqd-http-address},
        pages warn, and an action reaches the others and warns.
        """
        cluster = await startCluster(self, TOPICS, MESSAGES, consumers=CONSUMERS)
        [dead] = freePorts(1)
        admin = await cluster.startAdmin(
            nsqd_http_addresses=[*cluster.nodes, f"127.0.0.1:{dead}"]
        )
        browser = await startBrowser(self, f"http://127.0.0.1:{admin}")
        await browser.open("/", "streams")
        self.assertIn("WARNING", await browser.text(testid("warning")))
        self.assertEqual(
            sorted(await browser.attrs(testid("topic-row"), "data-topic")),
            ["audit", "orders"],
        )
        await browser.open("/topics/orders", "topic")
        self.assertIn("WARNING", await browser.text(testid("warning")))
        level, text = await browser.act(testid("action-pause"), "pause topic orders")
        await browser.screenshot("warning")
        self.assertEqual(level, "warning")
        self.assertIn(f"127.0.0.1:{dead}", text)
        self.assertEqual(await self.paused(cluster, "orders"), [True, True])


class _Receiver(Resource):
    """
    A notification endpoint: each POST body fires the next L{Deferred}.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Deferred[Any]] = [Deferred() for _ in range(10)]

    def render_POST(self, request: Request) -> bytes:
        assert request.content is not None
        self.received.pop(0).callback(json.loads(request.content.read()))
        return b"ok"


class NotificationTests(BrowserTestCase):
    """
    Actions taken in the browser are notified as the JSON API's are.
    """

    async def test_actionNotifies(self) -> None:
        """
        Pausing a channel in the browser POSTs C{pause_channel} to
        C{--notification-http-endpoint}, with the browser's user agent
        (and, as Go's, no C{user} without Basic authentication).
        """
        receiver = _Receiver()
        waiting = list(receiver.received)
        site = Site(receiver)
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(site)
        self.addCleanup(port.stopListening)
        cluster, browser = await self.start(
            notification_http_endpoint=f"http://127.0.0.1:{port.getHost().port}/n"
        )
        await browser.open("/topics/orders/archive", "channel")
        flash = await browser.act(
            testid("action-pause"), "pause channel orders/archive"
        )
        self.assertEqual(flash, ("ok", "Paused channel orders/archive."))
        notification = await waiting[0]
        self.assertEqual(
            (notification["action"], notification["topic"], notification["channel"]),
            ("pause_channel", "orders", "archive"),
        )
        self.assertNotIn("user", notification)
        self.assertIn("Chrome", notification["user_agent"])
        self.assertEqual(await self.paused(cluster, "orders", "archive"), [True, True])


class _Elsewhere(Resource):
    """
    A page on another server whose form posts an action to nsqadmin.
    """

    isLeaf = True

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def render_GET(self, request: Request) -> bytes:
        return (
            '<!doctype html><html><body data-testid="page" data-page="elsewhere">'
            f'<form method="post" action="{self.target}">'
            '<input type="hidden" name="action" value="pause">'
            '<button type="submit" data-testid="elsewhere-submit">win</button>'
            "</form></body></html>"
        ).encode()


class CrossSiteTests(BrowserTestCase):
    """
    A form on another site cannot make the browser act on nsqadmin.
    """

    async def elsewhere(self, target: str) -> int:
        """
        Serve a page whose form posts to C{target}; its port.
        """
        site = Site(_Elsewhere(target))
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(site)
        self.addCleanup(port.stopListening)
        number: int = port.getHost().port
        return number

    async def test_crossSite(self) -> None:
        """
        From another site (C{localhost} is not C{127.0.0.1}), the post is
        refused and the topic stays as it was.
        """
        cluster, browser = await self.start()
        other = await self.elsewhere(
            f"http://127.0.0.1:{cluster.admin}/actions/topics/orders"
        )
        await browser.open(f"http://localhost:{other}/", "elsewhere")
        await browser.follow(testid("elsewhere-submit"), "error")
        self.assertIn("FORBIDDEN", await browser.text(testid("error")))
        self.assertEqual(await self.paused(cluster, "orders"), [False, False])

    async def test_otherOrigin(self) -> None:
        """
        From another origin of the same site (another port of the same
        host), the post is refused too.
        """
        cluster, browser = await self.start()
        other = await self.elsewhere(
            f"http://127.0.0.1:{cluster.admin}/actions/topics/orders"
        )
        await browser.open(f"http://127.0.0.1:{other}/", "elsewhere")
        await browser.follow(testid("elsewhere-submit"))
        await browser.screenshot("other-origin")
        self.assertEqual(await self.paused(cluster, "orders"), [False, False])
        self.assertEqual(await browser.page(), "error")
        self.assertIn("FORBIDDEN", await browser.text(testid("error")))


class BadActionTests(BrowserTestCase):
    """
    Action URLs with something wrong in them (typed or stale) are error
    pages that change nothing.
    """

    async def test_badActions(self) -> None:
        """
        An unknown action, a per-node delete, an unknown node and a
        tombstone without a topic are refused.
        """
        cluster, browser = await self.start()
        first = segment(cluster.nodes[0])
        for url in [
            "/actions/topics/orders?action=explode",
            f"/actions/topics/orders?action=delete&node={first}",
            f"/actions/nodes/{first}?action=tombstone",
            f"/actions/nodes/{first}?action=explode&topic=orders",
        ]:
            kind = await browser.open(url)
            text = await browser.text("body")
            self.assertEqual(kind, "error", f"{url}: {text}")
            await browser.screenshot("bad-action")

        # A node nsqadmin does not know: confirmed, the action fails and
        # says so.
        await browser.open(
            "/actions/topics/orders?action=pause&node=nowhere%3A1", "confirm"
        )
        await browser.follow(testid("confirm-button"))
        level, text = await browser.flash()
        await browser.screenshot("unknown-node")
        self.assertEqual(level, "error", text)
        self.assertEqual(await self.paused(cluster, "orders"), [False, False])
        for node in range(2):
            self.assertIsNotNone(await cluster.topic(node, "orders"))
