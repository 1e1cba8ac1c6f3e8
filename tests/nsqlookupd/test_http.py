"""
Tests for L{txnsq.nsqlookupd.http} through L{StubTreq}.
"""

from __future__ import annotations

import json
import re
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqlookupd.http import LookupdHTTPAPI
from txnsq.nsqlookupd.registry import PeerInfo, RegistrationDB

V1_JSON = {
    "Content-Type": ["application/json; charset=utf-8"],
    "X-Nsq-Content-Type": ["nsq; version=1.0"],
}
V1_EMPTY = {"X-Nsq-Content-Type": ["nsq; version=1.0"]}


def peer(id: str, address: str, now: float) -> PeerInfo:
    """
    An identified nsqd.
    """
    return PeerInfo(id, id, "host-" + address, address, 4150, 4151, "1.3.0", now)


class LookupdHTTPTests(SynchronousTestCase):
    """
    Every endpoint's status, headers and JSON shape.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.registry = RegistrationDB()
        self.api = LookupdHTTPAPI(self.registry, self.clock)
        # StubTreq adds treq's functions to itself at run time.
        self.stub: Any = StubTreq(self.api.resource())

    def request(
        self, method: str, path: str
    ) -> tuple[int, dict[str, list[str]], bytes]:
        """
        Make a request; return the status, the NSQ-relevant headers and the
        body.
        """
        response = self.successResultOf(
            self.stub.request(method, "http://lookupd" + path, allow_redirects=False)
        )
        body = self.successResultOf(response.content())
        headers = {
            name.decode(): [v.decode() for v in values]
            for name, values in response.headers.getAllRawHeaders()
            if name.lower() in (b"content-type", b"allow", b"location")
            or name.lower().startswith(b"x-nsq")
        }
        return response.code, headers, body

    def json(self, method: str, path: str, status: int = 200) -> Any:
        """
        Make a request answered with V1 JSON; return the decoded body.
        """
        code, headers, body = self.request(method, path)
        self.assertEqual((code, headers), (status, V1_JSON), body)
        return json.loads(body)

    def assertEmptyOK(self, method: str, path: str) -> None:
        """
        The request gets an empty 200 without C{Content-Type}.
        """
        self.assertEqual(self.request(method, path), (200, V1_EMPTY, b""))

    def assertError(self, method: str, path: str, status: int, message: str) -> None:
        """
        The request gets C{status} with C{{"message": message}}.
        """
        code, headers, body = self.request(method, path)
        self.assertEqual((code, headers), (status, V1_JSON))
        self.assertEqual(body, b'{"message":"%s"}' % (message.encode(),))

    def registered(self) -> PeerInfo:
        """
        An nsqd registered for topic C{t}, channel C{c}.
        """
        p = peer("10.0.0.1:5000", "n1", self.clock.seconds())
        self.registry.identify(p)
        self.registry.register(p, "t", "c")
        return p

    def test_ping(self) -> None:
        """
        C{/ping} is plain text, without the V1 header.
        """
        self.assertEqual(
            self.request("GET", "/ping"),
            (200, {"Content-Type": ["text/plain; charset=utf-8"]}, b"OK"),
        )

    def test_info(self) -> None:
        """
        C{/info} gives the NSQ version.
        """
        self.assertEqual(self.json("GET", "/info"), {"version": "1.3.0"})

    def test_topicsAndChannels(self) -> None:
        """
        C{/topics} and C{/channels} list keys, C{[]} when there are none.
        """
        self.assertEqual(self.json("GET", "/topics"), {"topics": []})
        self.assertEqual(self.json("GET", "/channels?topic=t"), {"channels": []})
        self.registered()
        self.assertEqual(self.json("GET", "/topics"), {"topics": ["t"]})
        self.assertEqual(self.json("GET", "/channels?topic=t"), {"channels": ["c"]})
        self.assertError("GET", "/channels", 400, "MISSING_ARG_TOPIC")
        self.assertError("GET", "/channels?topic=%zz", 400, "INVALID_REQUEST")

    def test_lookup(self) -> None:
        """
        C{/lookup} gives channels and producers' peer info in Go's field
        order; 404 for an unknown topic.
        """
        self.assertError("GET", "/lookup?topic=t", 404, "TOPIC_NOT_FOUND")
        self.assertError("GET", "/lookup", 400, "MISSING_ARG_TOPIC")
        self.registered()
        body = self.request("GET", "/lookup?topic=t")[2]
        self.assertEqual(
            body,
            b'{"channels":["c"],"producers":[{"remote_address":"10.0.0.1:5000",'
            b'"hostname":"host-n1","broadcast_address":"n1","tcp_port":4150,'
            b'"http_port":4151,"version":"1.3.0"}]}',
        )

    def test_lookupInactive(self) -> None:
        """
        Producers silent for longer than the inactive timeout are left out.
        """
        self.registered()
        self.clock.advance(300.5)
        self.assertEqual(
            self.json("GET", "/lookup?topic=t"), {"channels": ["c"], "producers": []}
        )
        self.assertEqual(self.json("GET", "/nodes"), {"producers": []})

    def test_tombstone(self) -> None:
        """
        C{/topic/tombstone} hides the producer from C{/lookup} for the
        tombstone lifetime; C{/nodes} shows it tombstoned.
        """
        self.registered()
        self.assertError(
            "POST", "/topic/tombstone?node=n1:4151", 400, "MISSING_ARG_TOPIC"
        )
        self.assertError("POST", "/topic/tombstone?topic=t", 400, "MISSING_ARG_NODE")
        self.assertEmptyOK("POST", "/topic/tombstone?topic=t&node=n1:4151")
        self.assertEqual(self.json("GET", "/lookup?topic=t")["producers"], [])
        nodes = self.json("GET", "/nodes")["producers"]
        self.assertEqual((nodes[0]["topics"], nodes[0]["tombstones"]), (["t"], [True]))
        self.clock.advance(45)
        self.assertEqual(len(self.json("GET", "/lookup?topic=t")["producers"]), 1)

    def test_nodes(self) -> None:
        """
        C{/nodes} lists identified nsqds with their topics.
        """
        self.assertEqual(self.json("GET", "/nodes"), {"producers": []})
        self.registered()
        body = self.request("GET", "/nodes")[2]
        self.assertEqual(
            body,
            b'{"producers":[{"remote_address":"10.0.0.1:5000","hostname":"host-n1",'
            b'"broadcast_address":"n1","tcp_port":4150,"http_port":4151,'
            b'"version":"1.3.0","tombstones":[false],"topics":["t"]}]}',
        )

    def test_debug(self) -> None:
        """
        C{/debug} maps C{category:key:subkey} to producer details.
        """
        self.registry.createTopic("empty")
        self.assertEqual(self.json("GET", "/debug"), {})
        self.registered()
        debug = self.json("GET", "/debug")
        self.assertEqual(sorted(debug), ["channel:t:c", "client::", "topic:t:"])
        self.assertEqual(debug["client::"][0]["last_update"], 1000 * 10**9)

    def test_topicCreateDelete(self) -> None:
        """
        C{/topic/create} validates the name; C{/topic/delete} does not, and
        succeeds for unknown topics.
        """
        self.assertEmptyOK("POST", "/topic/create?topic=a")
        self.assertError("POST", "/topic/create", 400, "MISSING_ARG_TOPIC")
        self.assertError("POST", "/topic/create?topic=bad!", 400, "INVALID_ARG_TOPIC")
        self.assertEqual(self.registry.topics(), ["a"])
        self.assertEmptyOK("POST", "/topic/delete?topic=bad!")
        self.assertError("POST", "/topic/delete", 400, "MISSING_ARG_TOPIC")
        self.assertEmptyOK("POST", "/topic/delete?topic=a")
        self.assertEqual(self.registry.topics(), [])

    def test_channelCreateDelete(self) -> None:
        """
        The channel endpoints check topic then channel, as Go does; deleting
        an unknown channel is a 404.
        """
        for query, message in (
            ("channel=c", "MISSING_ARG_TOPIC"),
            ("topic=bad!&channel=bad!", "INVALID_ARG_TOPIC"),
            ("topic=t", "MISSING_ARG_CHANNEL"),
            ("topic=t&channel=bad!", "INVALID_ARG_CHANNEL"),
        ):
            self.assertError("POST", "/channel/create?" + query, 400, message)
            self.assertError("POST", "/channel/delete?" + query, 400, message)
        self.assertError(
            "POST", "/channel/delete?topic=t&channel=c", 404, "CHANNEL_NOT_FOUND"
        )
        self.assertEmptyOK("POST", "/channel/create?topic=t&channel=c")
        self.assertEqual(
            (self.registry.topics(), self.registry.channels("t")), (["t"], ["c"])
        )
        self.assertEmptyOK("POST", "/channel/delete?topic=t&channel=c")
        self.assertEqual(self.registry.channels("t"), [])

    def test_wildcardTopic(self) -> None:
        """
        As in Go, C{topic=*} matches every topic in the read endpoints.
        """
        self.registered()
        self.registry.createChannel("u", "d")
        self.assertEqual(
            sorted(self.json("GET", "/channels?topic=*")["channels"]), ["c", "d"]
        )
        found = self.json("GET", "/lookup?topic=*")
        self.assertEqual(len(found["producers"]), 1)

    def test_firstValue(self) -> None:
        """
        A repeated parameter's first value counts; an empty value is present.
        """
        self.registered()
        self.assertEqual(
            self.json("GET", "/channels?topic=t&topic=u"), {"channels": ["c"]}
        )
        self.assertEqual(self.json("GET", "/channels?topic="), {"channels": []})

    def test_routerBehaviour(self) -> None:
        """
        The API sits behind Go's router: 405 with C{Allow}, OPTIONS, 404,
        redirects.
        """
        code, headers, _ = self.request("POST", "/lookup?topic=t")
        self.assertEqual((code, headers["Allow"]), (405, ["GET, OPTIONS"]))
        code, headers, _ = self.request("OPTIONS", "/topic/create")
        self.assertEqual((code, headers), (200, {"Allow": ["OPTIONS, POST"]}))
        self.assertError("GET", "/debug/pprof", 404, "NOT_FOUND")
        code, headers, _ = self.request("GET", "/Topics/")
        self.assertEqual((code, headers["Location"]), (301, ["/topics"]))

    def test_metrics(self) -> None:
        """
        C{GET /metrics} is Prometheus' text format with its own
        C{Content-Type} and no V1 header, reporting the registrations.
        """
        self.registered()
        code, headers, body = self.request("GET", "/metrics")
        self.assertEqual(
            (code, headers),
            (200, {"Content-Type": ["text/plain; version=0.0.4; charset=utf-8"]}),
        )
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        self.assertEqual(families["nsqlookupd_topics"].samples[0].value, 1)
        [channels] = families["nsqlookupd_channels"].samples
        self.assertEqual((channels.labels, channels.value), ({"topic": "t"}, 1))
        self.assertEqual(families["nsqlookupd_producers"].samples[0].value, 1)
        self.assertEqual(
            families["nsqlookupd_start_time_seconds"].samples[0].value, 1000
        )

    def test_metricsRouting(self) -> None:
        """
        Only C{GET /metrics} is routed: other methods get 405 with
        C{Allow}.
        """
        for method in ("POST", "HEAD"):
            code, headers, _ = self.request(method, "/metrics")
            self.assertEqual((code, headers["Allow"]), (405, ["GET, OPTIONS"]))


class AccessLogTests(SynchronousTestCase):
    """
    nsqlookupd logs its requests as Go's C{http_api.Log} does, as nsqd
    does: C{<status> <method> <uri> (<peer>) <elapsed>} at INFO, in its own
    namespace (so C{--log-level} and C{--log-prefix} apply), and no
    twisted.web access line.
    """

    def test_goFormat(self) -> None:
        """
        Every route is logged, misses included, each once, in Go's words.
        """
        events = EventLoggingObserver()
        globalLogPublisher.addObserver(events)
        self.addCleanup(globalLogPublisher.removeObserver, events)
        api = LookupdHTTPAPI(RegistrationDB(), Clock())
        stub: Any = StubTreq(api.resource())
        for method, path in (
            ("GET", "/ping"),
            ("GET", "/lookup?topic=t"),
            ("GET", "/x"),
        ):
            self.successResultOf(stub.request(method, "http://lookupd" + path))
        lines = [formatEvent(event) for event in events]
        self.assertEqual(len(lines), 3, lines)
        for line, expected in zip(
            lines,
            ["200 GET /ping", "404 GET /lookup?topic=t", "404 GET /x"],
        ):
            self.assertRegex(
                line, rf"^{re.escape(expected)} \(\S+:\d+\) [\d.]+(ns|µs|ms|s)$"
            )
        self.assertTrue(
            all(
                event["log_namespace"].startswith("txnsq.nsqlookupd")
                and event["log_level"] == LogLevel.info
                for event in events
            )
        )
