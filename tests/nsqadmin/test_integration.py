"""
nsqadmin against a real cluster of txnsq daemons in this process (one
nsqlookupd, two nsqds), over real HTTP on 127.0.0.1 ports 0: what Go
nsqadmin's JSON API answers and what its actions change.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from tests._services import requireIPv6Loopback, startLookupd, startNSQD
from tests.golden import httpRequest
from tests.integration._cluster import freePorts, until
from txnsq._http import TreqClient
from txnsq.nsqadmin.config import AdminConfig
from txnsq.nsqadmin.service import NSQAdminService


async def _call(
    port: int, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, Any]:
    """
    One request to 127.0.0.1:C{port}; the status and the decoded JSON body.
    """
    if isinstance(body, bytes):
        data = body
    else:
        data = b"" if body is None else json.dumps(body).encode()
    response = await httpRequest(
        reactor, "127.0.0.1", port, method, path, data, headers=headers
    )
    if response.body == b"OK":
        return response.status, "OK"
    return response.status, json.loads(response.body) if response.body else None


async def _startAdmin(testCase: TestCase, **config: Any) -> int:
    """
    A running nsqadmin on 127.0.0.1 port 0; its port.
    """
    admin = NSQAdminService(AdminConfig(http_address="127.0.0.1:0", **config), reactor)
    admin.startService()
    testCase.addCleanup(admin.stopService)
    listening = await admin.whenHTTPListening()
    port: int = listening.getHost().port  # type: ignore[attr-defined]
    return port


class ClusterTests(TestCase):
    """
    nsqadmin reads and changes a cluster as Go nsqadmin does.
    """

    async def _cluster(self) -> tuple[int, int, list[int]]:
        """
        nsqlookupd, two nsqds registered with it that both have topic
        C{t}, and nsqadmin pointed at the nsqlookupd; the nsqlookupd's and
        nsqadmin's HTTP ports and the nsqds'.
        """
        _, lookupdTCP, lookupdHTTP = await startLookupd(self)
        nsqdPorts = []
        for _ in range(2):
            nsqd, _ = await startNSQD(self, lookupdTCP)
            listening = await nsqd.whenHTTPListening()
            nsqdPorts.append(listening.getHost().port)  # type: ignore[attr-defined]
        for port in nsqdPorts:
            status, _ = await _call(port, "POST", "/topic/create?topic=t")
            self.assertEqual(status, 200)

        async def registered() -> tuple[bool, Any]:
            status, body = await _call(lookupdHTTP, "GET", "/lookup?topic=t")
            return status == 200 and len(body["producers"]) == 2, body

        await until(registered, "both nsqds registered t")
        adminPort = await _startAdmin(
            self, lookupd_http_addresses=[f"127.0.0.1:{lookupdHTTP}"]
        )
        return lookupdHTTP, adminPort, nsqdPorts

    async def _nsqdTopic(self, port: int) -> Any:
        """
        Topic C{t} in an nsqd's C{/stats}, or L{None}.
        """
        _, stats = await _call(port, "GET", "/stats?format=json&topic=t")
        # Go nsqd answers "topics": null when it has none.
        topics = [t for t in stats["topics"] or [] if t["topic_name"] == "t"]
        return topics[0] if topics else None

    async def test_readAndAct(self) -> None:
        """
        The topics, nodes and topic detail are Go's shapes over both
        nsqds; creating a channel, pausing, emptying and deleting change
        both nsqds and the nsqlookupd; tombstoning a node's topic marks it
        on nsqlookupd and deletes it from that nsqd, as Go's.
        """
        lookupdHTTP, admin, nsqds = await self._cluster()

        self.assertEqual(
            await _call(admin, "GET", "/api/topics"),
            (200, {"topics": ["t"], "message": ""}),
        )
        self.assertEqual(await _call(admin, "GET", "/ping"), (200, "OK"))

        status, nodes = await _call(admin, "GET", "/api/nodes")
        self.assertEqual(status, 200)
        self.assertEqual(nodes["message"], "")
        self.assertEqual(
            sorted(node["http_port"] for node in nodes["nodes"]), sorted(nsqds)
        )
        for node in nodes["nodes"]:
            self.assertEqual(node["topics"], [{"topic": "t", "tombstoned": False}])
            self.assertFalse(node["out_of_date"])

        self.assertEqual(
            await _call(admin, "POST", "/api/topics", {"topic": "t", "channel": "c"}),
            (200, {"message": ""}),
        )
        for port in nsqds:
            topic = await self._nsqdTopic(port)
            self.assertEqual([c["channel_name"] for c in topic["channels"]], ["c"])

        status, detail = await _call(admin, "GET", "/api/topics/t")
        self.assertEqual(status, 200)
        self.assertEqual(
            (detail["node"], detail["topic_name"], detail["message"]), ("*", "t", "")
        )
        self.assertEqual(
            sorted(node["node"] for node in detail["nodes"]),
            sorted(f"127.0.0.1:{port}" for port in nsqds),
        )
        self.assertEqual([c["channel_name"] for c in detail["channels"]], ["c"])
        self.assertEqual(len(detail["channels"][0]["nodes"]), 2)

        status, channel = await _call(admin, "GET", "/api/topics/t/c")
        self.assertEqual(
            (status, channel["node"], len(channel["nodes"])), (200, "*", 2)
        )

        node = f"127.0.0.1:{nsqds[0]}"
        status, detail = await _call(admin, "GET", f"/api/nodes/{node}")
        self.assertEqual((status, detail["node"]), (200, node))
        self.assertEqual([t["topic_name"] for t in detail["topics"]], ["t"])
        self.assertEqual(
            (await _call(admin, "GET", "/api/nodes/nowhere:1"))[0:2],
            (404, {"message": "NODE_NOT_FOUND"}),
        )

        self.assertEqual(
            await _call(admin, "POST", "/api/topics/t", {"action": "pause"}),
            (200, {"message": ""}),
        )
        for port in nsqds:
            self.assertTrue((await self._nsqdTopic(port))["paused"])
        self.assertTrue((await _call(admin, "GET", "/api/topics/t"))[1]["paused"])
        self.assertEqual(
            await _call(admin, "POST", "/api/topics/t", {"action": "unpause"}),
            (200, {"message": ""}),
        )
        self.assertEqual(
            await _call(admin, "POST", "/api/topics/t/c", {"action": "pause"}),
            (200, {"message": ""}),
        )
        for port in nsqds:
            self.assertTrue((await self._nsqdTopic(port))["channels"][0]["paused"])
        self.assertEqual(
            await _call(admin, "POST", "/api/topics/t/c", {"action": "empty"}),
            (200, {"message": ""}),
        )
        self.assertEqual(
            await _call(admin, "POST", "/api/topics/t", {"action": "explode"}),
            (400, {"message": "INVALID_ACTION"}),
        )

        self.assertEqual(
            await _call(admin, "DELETE", "/api/topics/t/c"), (200, {"message": ""})
        )
        for port in nsqds:
            self.assertEqual((await self._nsqdTopic(port))["channels"], [])

        self.assertEqual(
            await _call(admin, "DELETE", f"/api/nodes/{node}", {"topic": "t"}),
            (200, {"message": ""}),
        )
        # Tombstoned (and, once the nsqd's deletion reaches it,
        # unregistered): either way /lookup no longer lists it.
        _, lookup = await _call(lookupdHTTP, "GET", "/lookup?topic=t")
        self.assertEqual([p["http_port"] for p in lookup["producers"]], [nsqds[1]])
        # As Go's, tombstoning also deletes the topic from that nsqd.
        self.assertIsNone(await self._nsqdTopic(nsqds[0]))
        self.assertIsNotNone(await self._nsqdTopic(nsqds[1]))

        self.assertEqual(
            await _call(admin, "DELETE", "/api/topics/t"), (200, {"message": ""})
        )
        for port in nsqds:
            self.assertIsNone(await self._nsqdTopic(port))
        self.assertEqual(
            await _call(lookupdHTTP, "GET", "/topics"), (200, {"topics": []})
        )

    async def test_nsqdAddresses(self) -> None:
        """
        Pointed at nsqds rather than nsqlookupds, nsqadmin lists their
        topics and nodes from their own C{/info} and C{/stats}.
        """
        nsqds = []
        for name in ("a", "b"):
            nsqd, _ = await startNSQD(self)
            port = (await nsqd.whenHTTPListening()).getHost().port  # type: ignore[attr-defined]
            await _call(port, "POST", f"/topic/create?topic={name}")
            nsqds.append(port)
        admin = await _startAdmin(
            self, nsqd_http_addresses=[f"127.0.0.1:{port}" for port in nsqds]
        )
        self.assertEqual(
            await _call(admin, "GET", "/api/topics"),
            (200, {"topics": ["a", "b"], "message": ""}),
        )
        status, nodes = await _call(admin, "GET", "/api/nodes")
        self.assertEqual(
            sorted((n["http_port"], n["topics"][0]["topic"]) for n in nodes["nodes"]),
            sorted(zip(nsqds, ["a", "b"])),
        )
        status, detail = await _call(admin, "GET", "/api/topics/a")
        self.assertEqual((status, len(detail["nodes"])), (200, 1))

    async def test_upstreamFailures(self) -> None:
        """
        When some nsqlookupds do not answer the answer still comes, with
        C{"message": "WARNING: ..."}; when none does, 502
        C{UPSTREAM_ERROR: ...}.
        """
        _, _, lookupdHTTP = await startLookupd(self)
        [closed] = freePorts(1)
        partial = await _startAdmin(
            self,
            lookupd_http_addresses=[f"127.0.0.1:{lookupdHTTP}", f"127.0.0.1:{closed}"],
        )
        status, body = await _call(partial, "GET", "/api/topics")
        self.assertEqual((status, body["topics"]), (200, []))
        self.assertTrue(body["message"].startswith("WARNING: "), body)
        down = await _startAdmin(self, lookupd_http_addresses=[f"127.0.0.1:{closed}"])
        status, body = await _call(down, "GET", "/api/nodes")
        self.assertEqual(status, 502)
        self.assertTrue(body["message"].startswith("UPSTREAM_ERROR: "), body)


class IPv6Tests(TestCase):
    """
    nsqadmin reads nodes given, or broadcast, as IPv6 literals
    (C{--lookupd-http-address=[::1]:4161}): an nsqlookupd and an nsqd on
    C{::1} ports 0, the nsqd broadcasting C{::1}.
    """

    async def _cluster(self) -> tuple[str, str, int]:
        """
        The nsqlookupd and the nsqd, registered, with topic C{t} and
        channel C{c}; their HTTP addresses (C{[::1]:port}) and the nsqd's
        HTTP port.
        """
        requireIPv6Loopback()
        _, lookupdTCP, lookupdHTTP = await startLookupd(
            self, tcp_address="[::1]:0", http_address="[::1]:0", broadcast_address="::1"
        )
        nsqd, _ = await startNSQD(
            self,
            tcp_address="[::1]:0",
            http_address="[::1]:0",
            broadcast_address="::1",
            nsqlookupd_tcp_addresses=[f"[::1]:{lookupdTCP}"],
        )
        nsqdHTTP: int = (await nsqd.whenHTTPListening()).getHost().port  # type: ignore[attr-defined]
        lookupd, node = f"[::1]:{lookupdHTTP}", f"[::1]:{nsqdHTTP}"
        client = TreqClient(reactor)
        self.addCleanup(client.close)
        for path in ("topic/create?topic=t", "channel/create?topic=t&channel=c"):
            response = await client.post(f"http://{node}/{path}")
            body = await response.content()
            self.assertEqual(response.code, 200, body)

        async def registered() -> tuple[bool, Any]:
            response = await client.get(f"http://{lookupd}/lookup?topic=t")
            body = await response.json()
            return len(body.get("producers") or []) == 1, body

        await until(registered, "the nsqd registered t")
        return lookupd, node, nsqdHTTP

    async def _check(self, admin: int, nsqdHTTP: int) -> None:
        """
        nsqadmin lists topic C{t}, the nsqd with it, and the topic's
        channel from the nsqd's own C{/stats}, with no warning.
        """
        self.assertEqual(
            await _call(admin, "GET", "/api/topics"),
            (200, {"topics": ["t"], "message": ""}),
        )
        status, nodes = await _call(admin, "GET", "/api/nodes")
        self.assertEqual((status, nodes["message"]), (200, ""))
        [node] = nodes["nodes"]
        self.assertEqual(
            (node["broadcast_address"], node["http_port"], node["topics"]),
            ("::1", nsqdHTTP, [{"topic": "t", "tombstoned": False}]),
        )
        status, detail = await _call(admin, "GET", "/api/topics/t")
        self.assertEqual((status, detail["message"]), (200, ""), detail)
        self.assertEqual([n["node"] for n in detail["nodes"]], [f"[::1]:{nsqdHTTP}"])
        self.assertEqual(
            [c["channel_name"] for c in detail["nodes"][0]["channels"]], ["c"]
        )

    async def test_lookupdAddress(self) -> None:
        """
        Given C{--lookupd-http-address=[::1]:port}, nsqadmin asks the
        nsqlookupd, then the nsqd at the C{::1} it broadcasts.
        """
        lookupd, _, nsqdHTTP = await self._cluster()
        admin = await _startAdmin(self, lookupd_http_addresses=[lookupd])
        await self._check(admin, nsqdHTTP)

    async def test_nsqdAddress(self) -> None:
        """
        Given C{--nsqd-http-address=[::1]:port}, nsqadmin asks the nsqd.
        """
        _, node, nsqdHTTP = await self._cluster()
        admin = await _startAdmin(self, nsqd_http_addresses=[node])
        await self._check(admin, nsqdHTTP)


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


class NotificationTests(TestCase):
    """
    Admin actions are POSTed to C{--notification-http-endpoint} with Go's
    C{AdminAction} fields.
    """

    async def test_notifications(self) -> None:
        """
        Creating a topic and channel sends C{create_topic} then
        C{create_channel}, with the requesting client, the request's URL,
        the Basic-auth user and this host; an inactive topic (known to
        nsqlookupd, on no nsqd) is listed with its channels.
        """
        receiver = _Receiver()
        waiting = list(receiver.received)
        site = Site(receiver)
        site.noisy = False
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(site)
        self.addCleanup(port.stopListening)
        _, _, lookupdHTTP = await startLookupd(self)
        admin = await _startAdmin(
            self,
            lookupd_http_addresses=[f"127.0.0.1:{lookupdHTTP}"],
            notification_http_endpoint=f"http://127.0.0.1:{port.getHost().port}/n",
        )
        self.assertEqual(
            await _call(
                admin,
                "POST",
                "/api/topics",
                {"topic": "t", "channel": "c"},
                **{"Authorization": "Basic Ym9zczpzZWNyZXQ=", "User-Agent": "ua/1"},
            ),
            (200, {"message": ""}),
        )
        first = await waiting[0]
        second = await waiting[1]
        self.assertEqual(
            {
                k: v
                for k, v in first.items()
                if k not in ("timestamp", "remote_ip", "via")
            },
            {
                "action": "create_topic",
                "topic": "t",
                "user": "boss",
                "user_agent": "ua/1",
                "url": f"http://127.0.0.1:{admin}/api/topics",
            },
        )
        self.assertTrue(first["remote_ip"].startswith("127.0.0.1:"))
        self.assertIsInstance(first["timestamp"], int)
        self.assertEqual((second["action"], second["channel"]), ("create_channel", "c"))
        self.assertEqual(
            await _call(admin, "GET", "/api/topics?inactive=true"),
            (200, {"topics": {"t": ["c"]}, "message": ""}),
        )


class ACLTests(TestCase):
    """
    With C{--admin-user}, only a request whose C{--acl-http-header} names
    one may act; reads stay open.
    """

    async def test_admins(self) -> None:
        """
        An action without the header, or naming another user, is 403
        C{FORBIDDEN}; naming an admin passes the check (here to the
        topic-name check, which needs no cluster).
        """
        [closed] = freePorts(1)
        admin = await _startAdmin(
            self,
            lookupd_http_addresses=[f"127.0.0.1:{closed}"],
            admin_users=["boss"],
            acl_http_header="X-Who",
        )
        body = {"topic": "bad topic!"}
        forbidden = (403, {"message": "FORBIDDEN"})
        self.assertEqual(await _call(admin, "POST", "/api/topics", body), forbidden)
        self.assertEqual(
            await _call(admin, "POST", "/api/topics", body, **{"X-Who": "intern"}),
            forbidden,
        )
        self.assertEqual(
            await _call(
                admin, "DELETE", "/api/topics/t", **{"X-Forwarded-User": "boss"}
            ),
            forbidden,
        )
        self.assertEqual(
            await _call(admin, "POST", "/api/topics", body, **{"X-Who": "boss"}),
            (400, {"message": "INVALID_TOPIC"}),
        )

    async def test_noAdmins(self) -> None:
        """
        Without C{--admin-user} everyone may act.
        """
        [closed] = freePorts(1)
        admin = await _startAdmin(self, lookupd_http_addresses=[f"127.0.0.1:{closed}"])
        self.assertEqual(
            await _call(admin, "POST", "/api/topics", {"topic": "bad topic!"}),
            (400, {"message": "INVALID_TOPIC"}),
        )
        self.assertEqual(
            await _call(admin, "POST", "/api/topics", b"nope"),
            (400, {"message": "INVALID_BODY"}),
        )

    async def test_config(self) -> None:
        """
        C{GET /config/:opt} answers from 127.0.0.1 (in the default
        C{--allow-config-from-cidr}); C{PUT} changes the nsqlookupds.
        """
        admin = await _startAdmin(self, lookupd_http_addresses=["127.0.0.1:4161"])
        self.assertEqual(
            await _call(admin, "GET", "/config/nsqlookupd_http_addresses"),
            (200, ["127.0.0.1:4161"]),
        )
        self.assertEqual(
            await _call(admin, "PUT", "/config/nsqlookupd_http_addresses", ["x:1"]),
            (200, ["x:1"]),
        )
        self.assertEqual(await _call(admin, "GET", "/config/log_level"), (200, 2))

    async def test_misses(self) -> None:
        """
        Unknown paths are Go's 404 C{NOT_FOUND}, wrong methods 405
        C{METHOD_NOT_ALLOWED}.
        """
        admin = await _startAdmin(self, lookupd_http_addresses=["127.0.0.1:4161"])
        self.assertEqual(
            await _call(admin, "GET", "/nope"), (404, {"message": "NOT_FOUND"})
        )
        self.assertEqual(
            await _call(admin, "PATCH", "/api/nodes"),
            (405, {"message": "METHOD_NOT_ALLOWED"}),
        )
        self.assertEqual(
            await _call(admin, "GET", "/config/nope"),
            (400, {"message": "INVALID_OPTION"}),
        )
