"""
nsqadmin's web UI against a real cluster of txnsq daemons in this process
(one nsqlookupd, two nsqds), over real HTTP on 127.0.0.1 ports 0, behind
C{--base-path /admin/}: the pages show the cluster and the forms change
it, as a browser without JavaScript would use them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from tests._services import startLookupd, startNSQD
from tests.golden import httpRequest
from tests.integration._cluster import until
from tests.nsqadmin.test_integration import _call, _startAdmin
from tests.nsqadmin.test_ui import Page
from txnsq.client import Producer


async def _page(
    port: int,
    method: str,
    path: str,
    fields: dict[str, str] | None = None,
    cookie: str = "",
) -> Page:
    """
    One request to nsqadmin, a form's fields urlencoded; the answer.
    """
    headers = {}
    body = b""
    if cookie:
        headers["Cookie"] = cookie
    if fields and method == "GET":
        path += "?" + urlencode(fields)
    elif fields:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urlencode(fields).encode()
    response = await httpRequest(
        reactor, "127.0.0.1", port, method, path, body, headers=headers
    )

    class Headers:
        def getRawHeaders(self, name: str) -> list[str] | None:
            return response.headers.get(name.lower())

    return Page(response.status, Headers(), response.body)


def _cookie(page: Page) -> str:
    # The flash cookie, as the browser sends it back.
    value = page.header("Set-Cookie") or ""
    return value.partition(";")[0]


class UIClusterTests(TestCase):
    """
    The UI reads and changes a real cluster.
    """

    async def test_pagesAndActions(self) -> None:
        """
        Create a topic and channel on /lookup, see them on the pages,
        pause the channel on one nsqd only and on all, empty and delete
        it, all through the UI's forms under the base path.
        """
        _, lookupdTCP, lookupdHTTP = await startLookupd(self)
        nsqdPorts = []
        nsqdTCP = []
        for _ in range(2):
            nsqd, tcpPort = await startNSQD(self, lookupdTCP)
            nsqdTCP.append(tcpPort)
            listening = await nsqd.whenHTTPListening()
            nsqdPorts.append(listening.getHost().port)  # type: ignore[attr-defined]
        for port in nsqdPorts:
            status, _ = await _call(port, "POST", "/topic/create?topic=t")
            self.assertEqual(status, 200)
            status, _ = await _call(port, "POST", "/pub?topic=t", b"hello")
            self.assertEqual(status, 200)

        async def registered() -> tuple[bool, Any]:
            status, body = await _call(lookupdHTTP, "GET", "/lookup?topic=t")
            return status == 200 and len(body["producers"]) == 2, body

        await until(registered, "both nsqds registered t")
        admin = await _startAdmin(
            self,
            lookupd_http_addresses=[f"127.0.0.1:{lookupdHTTP}"],
            base_path="/admin/",
        )
        nodes = [f"127.0.0.1:{port}" for port in nsqdPorts]

        page = await _page(admin, "GET", "/admin/")
        self.assertEqual(page.status, 200)
        row = page.one("topic-row", topic="t")
        self.assertEqual(row.one("message-count").text, "2")
        self.assertEqual(row.one("topic-link").attrs["href"], "/admin/topics/t")

        page = await _page(
            admin, "POST", "/admin/actions/create", {"topic": "t", "channel": "c"}
        )
        self.assertEqual(page.status, 303)
        self.assertEqual(page.header("Location"), "/admin/lookup")
        page = await _page(admin, "GET", "/admin/lookup", cookie=_cookie(page))
        self.assertEqual(page.one("flash").text, "Created topic t and channel c.")

        page = await _page(admin, "GET", "/admin/topics/t")
        self.assertEqual(
            sorted(r.attrs["data-node"] for r in page.find("topic-node-row")),
            sorted(nodes),
        )
        page.one("channel-row", channel="c")
        self.assertEqual(page.find("producer-row"), [])

        # A connection that publishes shows on the topic's page (NSQ #879).
        producer = Producer([f"127.0.0.1:{nsqdTCP[0]}"], reactor=reactor)
        self.addCleanup(producer.stop)
        await producer.connect()
        await producer.publish("t", b"from a producer")
        page = await _page(admin, "GET", "/admin/topics/t")
        row = page.one("producer-row")
        self.assertEqual(row.attrs["data-node"], nodes[0])
        self.assertEqual(row.one("producer-pub-count").text, "1")
        self.assertEqual(
            page.one("topic-node-row", node=nodes[0]).one("metrics-link").attrs["href"],
            f"http://{nodes[0]}/metrics",
        )

        # The confirmation, then the per-node pause (NSQ #430).
        page = await _page(
            admin,
            "GET",
            "/admin/actions/topics/t/c",
            {"action": "pause", "node": nodes[0]},
        )
        self.assertEqual(
            page.one("confirm-message").text, f"Really pause channel t/c on {nodes[0]}?"
        )
        page = await _page(
            admin,
            "POST",
            "/admin/actions/topics/t/c",
            {"action": "pause", "node": nodes[0]},
        )
        self.assertEqual(page.header("Location"), "/admin/topics/t/c")
        page = await _page(admin, "GET", "/admin/topics/t/c", cookie=_cookie(page))
        self.assertEqual(page.one("flash").attrs["data-level"], "ok")
        page.one("channel-node-row", node=nodes[0]).one("paused-badge")
        self.assertEqual(
            page.one("channel-node-row", node=nodes[1]).find("paused-badge"), []
        )
        _, stats = await _call(nsqdPorts[1], "GET", "/stats?format=json&topic=t")
        self.assertFalse(stats["topics"][0]["channels"][0]["paused"])

        # The whole channel, on every nsqd.
        page = await _page(
            admin, "POST", "/admin/actions/topics/t/c", {"action": "pause"}
        )
        for port in nsqdPorts:
            _, stats = await _call(port, "GET", "/stats?format=json&topic=t")
            self.assertTrue(stats["topics"][0]["channels"][0]["paused"])
        page = await _page(
            admin, "POST", "/admin/actions/topics/t/c", {"action": "empty"}
        )
        self.assertEqual(page.status, 303)

        page = await _page(admin, "GET", "/admin/nodes")
        row = page.one("node-row", node=nodes[0])
        self.assertEqual(row.one("node-lookupd-count").text, "1")
        self.assertEqual(
            sorted(r.attrs["data-node"] for r in page.find("node-row")), sorted(nodes)
        )
        page = await _page(admin, "GET", f"/admin/nodes/{nodes[1]}")
        page.one("node-topic-row", topic="t")
        page = await _page(admin, "GET", "/admin/counter")
        page.one("counter-total")

        page = await _page(
            admin, "POST", "/admin/actions/topics/t/c", {"action": "delete"}
        )
        self.assertEqual(page.header("Location"), "/admin/topics/t")
        for port in nsqdPorts:
            _, stats = await _call(port, "GET", "/stats?format=json&topic=t")
            self.assertEqual(stats["topics"][0]["channels"], [])

        page = await _page(admin, "GET", "/admin/static/htmx.min.js")
        self.assertEqual(page.status, 200)
