"""
Tests for L{txnsq.nsqd.http}: every endpoint through L{StubTreq} (status,
headers, exact bodies and JSON shapes), and L{NSQDSite}'s body bound over
an in-memory connection.
"""

from __future__ import annotations

import gzip
import json
import struct
from typing import Any

import treq
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from treq.testing import RequestTraversalAgent, StubTreq
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http_headers import Headers
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource

from txnsq import __version__
from txnsq._go.flags import Flag, FlagTable, FlagType
from txnsq._http import HTTPError
from txnsq.nsqd._clientv2 import ClientV2
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.http import (
    NSQDHTTPAPI,
    NSQDSite,
    configOptions,
    parseBinaryMPUB,
    parseTextMPUB,
)
from txnsq.nsqd.options import NSQD_FLAGS
from txnsq.nsqd.state import Broker, Message
from txnsq.nsqd.stats import GCPauseRecorder, Health, _rfc3339

V1_JSON = {
    "Content-Type": ["application/json; charset=utf-8"],
    "X-Nsq-Content-Type": ["nsq; version=1.0"],
}
V1_EMPTY = {"X-Nsq-Content-Type": ["nsq; version=1.0"]}
V1_TEXT = {
    "Content-Type": ["text/plain; charset=utf-8"],
    "X-Nsq-Content-Type": ["nsq; version=1.0"],
}
PLAIN = {"Content-Type": ["text/plain; charset=utf-8"]}

START = 1_700_000_000.0

#: The config-file names of Go nsqd 1.3.0's C{Options} fields that have a
#: flag: what its C{GET /config/:opt} answers.
GO_1_3_0_OPTIONS = (
    "id",
    "log_level",
    "log_prefix",
    "tcp_address",
    "http_address",
    "https_address",
    "broadcast_address",
    "broadcast_tcp_port",
    "broadcast_http_port",
    "nsqlookupd_tcp_addresses",
    "auth_http_addresses",
    "http_client_connect_timeout",
    "http_client_request_timeout",
    "data_path",
    "mem_queue_size",
    "max_bytes_per_file",
    "sync_every",
    "sync_timeout",
    "queue_scan_selection_count",
    "queue_scan_worker_pool_max",
    "msg_timeout",
    "max_msg_timeout",
    "max_msg_size",
    "max_body_size",
    "max_req_timeout",
    "max_heartbeat_interval",
    "max_rdy_count",
    "max_output_buffer_size",
    "max_output_buffer_timeout",
    "min_output_buffer_timeout",
    "output_buffer_timeout",
    "max_channel_consumers",
    "statsd_address",
    "statsd_prefix",
    "statsd_interval",
    "statsd_mem_stats",
    "statsd_udp_packet_size",
    "statsd_exclude_ephemeral",
    "e2e_processing_latency_window_time",
    "e2e_processing_latency_percentiles",
    "tls_cert",
    "tls_key",
    "tls_client_auth_policy",
    "tls_root_ca_file",
    "tls_required",
    "tls_min_version",
    "deflate",
    "max_deflate_level",
    "snappy",
)


class FakeClient:
    """
    A TCP connection as the broker (a consumer) and C{/stats} (its
    L{ClientV2} state) see it.
    """

    def __init__(
        self,
        clientID: str = "cons",
        hostname: str = "conshost",
        port: int = 5000,
        ready: int = 0,
        connectTime: float = START + 5,
    ) -> None:
        self.client = ClientV2(
            remoteAddress=f"127.0.0.1:{port}",
            connectTime=connectTime,
            msgTimeout=60.0,
            heartbeatInterval=30.0,
            outputBufferTimeout=0.25,
            clientID=clientID,
            hostname=hostname,
            userAgent="probe/1.0",
            state=3,
            readyCount=ready,
        )
        self.msgTimeout = 60.0
        self.sampleRate = 0
        self.received: list[Message] = []
        self.closed = False

    def capacity(self) -> int:
        """
        RDY minus in flight.
        """
        return self.client.readyCount - self.client.inFlightCount

    def sendMessages(self, messages: list[Message]) -> None:
        """
        Record deliveries.
        """
        self.client.inFlightCount += len(messages)
        self.client.messageCount += len(messages)
        self.received.extend(messages)

    def messagesFinished(self, messages: list[Message]) -> None:
        """
        Messages were finished.
        """
        for message in messages:
            self.messageDone(message, 0)

    def messageDone(self, message: Message, outcome: int) -> None:
        """
        One message left flight.
        """
        self.client.inFlightCount -= 1

    def inFlightReset(self) -> None:
        """
        The channel was emptied.
        """
        self.client.inFlightCount = 0

    def channelClosed(self) -> None:
        """
        The channel was deleted.
        """
        self.closed = True


class APITestCase(SynchronousTestCase):
    """
    An API over a fresh broker, with request helpers.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.config = NSQDConfig(node_id=7, broadcast_address="bcast.example")
        self.broker = Broker(self.config)
        self.clients: set[Any] = set()
        self.lookupdChanges: list[list[str]] = []
        self.logLevels: list[str] = []
        self.health = Health()
        self.gcPauses = GCPauseRecorder()
        self.httpsPort: int | None = None
        self.makeAPI()

    def makeAPI(self) -> None:
        """
        (Re)build the API and stub client over the current config.
        """
        self.api = NSQDHTTPAPI(
            self.broker,
            self.config,
            self.clients,
            self.clock,
            health=self.health,
            gcPauses=self.gcPauses,
            tcpPort=lambda: 4150,
            httpsPort=lambda: self.httpsPort,
            onLookupdAddresses=self.lookupdChanges.append,
            onLogLevel=self.logLevels.append,
        )
        # StubTreq adds treq's functions to itself at run time.
        self.stub: Any = StubTreq(self.api.resource())

    def observeLog(self) -> EventLoggingObserver:
        """
        The log events from now until the test ends.
        """
        # What EventLoggingObserver.createWithCleanup does; it is annotated
        # for trial's TestCase only, and this is a SynchronousTestCase.
        events = EventLoggingObserver()
        globalLogPublisher.addObserver(events)
        self.addCleanup(globalLogPublisher.removeObserver, events)
        return events

    def request(
        self, method: str, path: str, body: bytes = b""
    ) -> tuple[int, dict[str, list[str]], bytes]:
        """
        Make a request; return the status, the NSQ-relevant headers and the
        body.
        """
        response = self.successResultOf(
            self.stub.request(
                method, "http://nsqd:4151" + path, data=body, allow_redirects=False
            )
        )
        content = self.successResultOf(response.content())
        headers = {
            name.decode(): [v.decode() for v in values]
            for name, values in response.headers.getAllRawHeaders()
            if name.lower() in (b"content-type", b"allow", b"location")
            or name.lower().startswith(b"x-nsq")
        }
        return response.code, headers, content

    def json(self, method: str, path: str, body: bytes = b"") -> Any:
        """
        A request answered 200 with V1 JSON; the decoded body.
        """
        code, headers, content = self.request(method, path, body)
        self.assertEqual((code, headers), (200, V1_JSON), content)
        return json.loads(content)

    def assertOK(self, method: str, path: str, body: bytes = b"") -> None:
        """
        The request gets 200 C{OK} as text.
        """
        self.assertEqual(self.request(method, path, body), (200, V1_TEXT, b"OK"))

    def assertEmptyOK(self, method: str, path: str) -> None:
        """
        The request gets an empty 200 without C{Content-Type}.
        """
        self.assertEqual(self.request(method, path), (200, V1_EMPTY, b""))

    def assertError(
        self, method: str, path: str, status: int, message: str, body: bytes = b""
    ) -> None:
        """
        The request gets C{status} with C{{"message": message}}.
        """
        self.assertEqual(
            self.request(method, path, body),
            (status, V1_JSON, b'{"message":"%s"}' % (message.encode(),)),
        )

    def subscribe(self, topic: str, channel: str, client: FakeClient) -> None:
        """
        Subscribe C{client} to C{topic:channel}.
        """
        subscribed = self.broker.getChannel(topic, channel, self.clock.seconds())
        subscribed.addConsumer(client)
        subscribed.pump(self.clock.seconds())
        self.clients.add(client)


class PingInfoTests(APITestCase):
    """
    C{/ping} and C{/info}.
    """

    def test_ping(self) -> None:
        """
        C{/ping} is C{OK} as plain text without the V1 header.
        """
        self.assertEqual(self.request("GET", "/ping"), (200, PLAIN, b"OK"))

    def test_pingUnhealthy(self) -> None:
        """
        While a backend write is failing, C{/ping} answers 500 with
        C{NOK - <error>} as plain text.
        """
        self.health.set(OSError("disk full"))
        self.assertEqual(self.request("GET", "/ping"), (500, PLAIN, b"NOK - disk full"))
        self.health.set(None)
        self.assertEqual(self.request("GET", "/ping"), (200, PLAIN, b"OK"))

    def test_info(self) -> None:
        """
        C{/info} has Go's keys in Go's order, durations in nanoseconds, the
        TCP port given and the HTTP port the request arrived on.
        """
        info = self.json("GET", "/info")
        self.assertEqual(
            list(info),
            [
                "version",
                "broadcast_address",
                "hostname",
                "http_port",
                "tcp_port",
                "start_time",
                "max_heartbeat_interval",
                "max_output_buffer_size",
                "max_output_buffer_timeout",
                "max_deflate_level",
            ],
        )
        del info["hostname"]
        self.assertEqual(
            info,
            {
                "version": "1.3.0",
                "broadcast_address": "bcast.example",
                "http_port": 4151,
                "tcp_port": 4150,
                "start_time": int(START),
                "max_heartbeat_interval": 60_000_000_000,
                "max_output_buffer_size": 65536,
                "max_output_buffer_timeout": 30_000_000_000,
                "max_deflate_level": 6,
            },
        )

    def test_methods(self) -> None:
        """
        Wrong methods get 405 with Go's C{Allow} list; unknown paths 404.
        """
        code, headers, _ = self.request("POST", "/info")
        self.assertEqual((code, headers["Allow"]), (405, ["GET, OPTIONS"]))
        code, headers, _ = self.request("GET", "/pub")
        self.assertEqual((code, headers["Allow"]), (405, ["OPTIONS, POST"]))
        self.assertError("GET", "/debug/pprof/", 404, "NOT_FOUND")
        self.assertError("GET", "/no/such", 404, "NOT_FOUND")

    def test_tlsRequired(self) -> None:
        """
        With C{--tls-required=true}, every request on plain HTTP gets Go's
        403 with its hand-written body naming the HTTPS port.
        """
        self.config.tls_required = 2
        self.config.https_address = "0.0.0.0:4152"
        self.makeAPI()
        for method, path in (("GET", "/ping"), ("POST", "/pub?topic=t")):
            self.assertEqual(
                self.request(method, path, b"x"),
                (403, V1_JSON, b'{"message": "TLS_REQUIRED", "https_port": 4152}'),
            )
        self.httpsPort = 4443
        self.assertEqual(
            self.request("GET", "/ping")[2],
            b'{"message": "TLS_REQUIRED", "https_port": 4443}',
        )
        self.config.tls_required = 1
        self.makeAPI()
        self.assertEqual(self.request("GET", "/ping"), (200, PLAIN, b"OK"))


class PubTests(APITestCase):
    """
    C{POST /pub}.
    """

    def test_pub(self) -> None:
        """
        The body becomes one message of the topic (created on demand).
        """
        self.assertOK("POST", "/pub?topic=t", b"hello")
        topic = self.broker.topics["t"]
        self.assertEqual(
            (topic.depth(), topic.messageCount, topic.messageBytes), (1, 1, 5)
        )

    def test_deliveredLikeTCP(self) -> None:
        """
        A subscribed, ready consumer gets the message at once, with a fresh
        ID, attempts 1 and the publication time as its timestamp.
        """
        client = FakeClient(ready=1)
        self.subscribe("t", "c", client)
        self.assertOK("POST", "/pub?topic=t", b"hello")
        [message] = client.received
        self.assertEqual((message.body, message.attempts), (b"hello", 1))
        self.assertEqual(message.timestamp, int(START * 1e9))
        self.assertEqual(len(message.id), 16)

    def test_defer(self) -> None:
        """
        C{defer} milliseconds hold the message in each channel; 0 and
        C{--max-req-timeout} are accepted.
        """
        self.broker.getChannel("t", "c", self.clock.seconds())
        self.assertOK("POST", "/pub?topic=t&defer=1000", b"later")
        self.assertOK("POST", "/pub?topic=t&defer=3600000", b"latest")
        self.assertOK("POST", "/pub?topic=t&defer=0", b"now")
        self.assertOK("POST", "/pub?topic=t&defer=%2B5", b"plus")
        channel = self.broker.topics["t"].channels["c"]
        self.assertEqual((channel.deferredCount(), channel.depth()), (3, 1))

    def test_invalidDefer(self) -> None:
        """
        C{defer} that is not a base-10 integer, negative, beyond
        C{--max-req-timeout} or overflowing int64 is C{INVALID_DEFER}; the
        topic has been created by then, as in Go.
        """
        for value in ("abc", "", "-1", "3600001", " 5", "1_0", "0x10", "9" * 20):
            self.assertError(
                "POST",
                f"/pub?topic=t{len(value)}&defer={value}",
                400,
                "INVALID_DEFER",
                b"x",
            )
        self.assertIn("t3", self.broker.topics)
        self.assertEqual(self.broker.topics["t3"].depth(), 0)

    def test_deferWrapsLikeGo(self) -> None:
        """
        Go multiplies C{defer} into a 64-bit nanosecond duration, which
        wraps: 18446744073710 ms wraps to 448384 ns, accepted and (below a
        millisecond) not deferred at all.
        """
        self.broker.getChannel("t", "c", self.clock.seconds())
        self.assertOK("POST", "/pub?topic=t&defer=18446744073710", b"x")
        channel = self.broker.topics["t"].channels["c"]
        self.assertEqual((channel.deferredCount(), channel.depth()), (0, 1))
        self.assertError(
            "POST", "/pub?topic=t&defer=18446744073709", 400, "INVALID_DEFER", b"x"
        )

    def test_sizeAndEmpty(self) -> None:
        """
        A body of C{--max-msg-size} is accepted, one byte more is 413
        C{MSG_TOO_BIG}; an empty body is 400 C{MSG_EMPTY}.
        """
        self.config.max_msg_size = 10
        self.assertOK("POST", "/pub?topic=t", b"x" * 10)
        self.assertError("POST", "/pub?topic=t", 413, "MSG_TOO_BIG", b"x" * 11)
        self.assertError("POST", "/pub?topic=t", 400, "MSG_EMPTY")

    def test_bodyBeforeTopic(self) -> None:
        """
        The body is checked before the query: a bad body wins over a
        missing or invalid topic, and neither creates anything.
        """
        self.config.max_msg_size = 10
        self.assertError("POST", "/pub", 400, "MSG_EMPTY")
        self.assertError("POST", "/pub?topic=bad!", 413, "MSG_TOO_BIG", b"x" * 11)
        self.assertEqual(self.broker.topics, {})

    def test_topicErrors(self) -> None:
        """
        A missing topic, an invalid name and a malformed query are 400s.
        """
        self.assertError("POST", "/pub", 400, "MISSING_ARG_TOPIC", b"x")
        self.assertError("POST", "/pub?topic=bad!", 400, "INVALID_TOPIC", b"x")
        self.assertError("POST", "/pub?topic=" + "a" * 65, 400, "INVALID_TOPIC", b"x")
        self.assertError("POST", "/pub?topic=%zz", 400, "INVALID_REQUEST", b"x")
        self.assertOK("POST", "/pub?topic=" + "a" * 64, b"x")
        self.assertOK("POST", "/pub?topic=t%23ephemeral", b"x")

    def test_exiting(self) -> None:
        """
        While nsqd shuts down, publishing is 503 C{EXITING}.
        """
        self.broker.closing = True
        self.assertError("POST", "/pub?topic=t", 503, "EXITING", b"x")
        self.assertError("POST", "/mpub?topic=t", 503, "EXITING", b"x")

    def test_backendFailure(self) -> None:
        """
        A backend that cannot store the message makes the publish 503
        C{EXITING} and nsqd unhealthy.
        """

        def failing(*args: object) -> None:
            raise OSError("no space left on device")

        self.patch(self.broker, "publish", failing)
        self.assertError("POST", "/pub?topic=t", 503, "EXITING", b"x")
        self.assertEqual(self.health.text(), "NOK - no space left on device")
        self.assertEqual(len(self.flushLoggedErrors()), 0)

    def test_notLogged(self) -> None:
        """
        Like Go, C{/pub} and C{/mpub} log nothing per request, while other
        endpoints log C{<status> <method> <uri> (<peer>) <elapsed>}.
        """
        events = self.observeLog()
        self.assertOK("POST", "/pub?topic=t", b"x")
        self.assertOK("POST", "/mpub?topic=t", b"x")
        self.assertEqual(len(events), 0)
        self.request("GET", "/stats?format=json")
        self.assertEqual(len(events), 1)
        self.assertRegex(
            formatEvent(events[0]), r"^200 GET /stats\?format=json \(\S+:\d+\) \S+$"
        )
        self.assertError("POST", "/topic/create", 400, "MISSING_ARG_TOPIC")
        self.assertRegex(formatEvent(events[1]), r"^400 POST /topic/create ")


class MPubTests(APITestCase):
    """
    C{POST /mpub}, text and binary.
    """

    def bodies(self, topic: str = "t") -> list[bytes]:
        """
        The bodies a fresh consumer of C{topic} receives.
        """
        client = FakeClient(ready=100, port=len(self.clients))
        self.subscribe(topic, f"c{len(self.clients)}", client)
        return [message.body for message in client.received]

    def test_text(self) -> None:
        """
        One message per line: C{\\n} removed, C{\\r} kept, empty lines
        skipped, a last line without C{\\n} included.
        """
        self.assertOK("POST", "/mpub?topic=t", b"one\ntwo\r\n\n\nthree")
        self.assertEqual(self.bodies(), [b"one", b"two\r", b"three"])

    def test_textEmpty(self) -> None:
        """
        An empty body (or only newlines) is C{OK} with no message, but the
        topic exists.
        """
        self.assertOK("POST", "/mpub?topic=t")
        self.assertOK("POST", "/mpub?topic=t", b"\n\n")
        self.assertEqual(self.broker.topics["t"].messageCount, 0)

    def test_textLimits(self) -> None:
        """
        A line longer than C{--max-msg-size} is 413 C{MSG_TOO_BIG}; a body
        longer than C{--max-body-size} is 413 C{BODY_TOO_BIG}.
        """
        self.config.max_msg_size = 4
        self.config.max_body_size = 20
        self.assertOK("POST", "/mpub?topic=t", b"abcd\nabcd")
        self.assertError("POST", "/mpub?topic=t", 413, "MSG_TOO_BIG", b"abcde\nx")
        self.assertError("POST", "/mpub?topic=t", 413, "BODY_TOO_BIG", b"ab\n" * 7)
        self.assertEqual(self.broker.topics["t"].messageCount, 2)

    def test_binary(self) -> None:
        """
        C{binary=true} and C{binary=1} read C{[count]([size][bytes])*};
        any other value but C{false}/C{0} means binary too (with a
        deprecation warning), and C{false}/C{0} mean text.
        """
        body = struct.pack(">iI2sI1s", 2, 2, b"ab", 1, b"c")
        self.assertOK("POST", "/mpub?topic=t&binary=true", body)
        self.assertOK("POST", "/mpub?topic=t&binary=1", body + b"trailing")
        events = self.observeLog()
        self.assertOK("POST", "/mpub?topic=t&binary=yes", body)
        self.assertEqual(
            formatEvent(events[0]), "deprecated value 'yes' used for /mpub binary param"
        )
        self.assertOK("POST", "/mpub?topic=t&binary=false", b"x\ny")
        self.assertOK("POST", "/mpub?topic=t&binary=0", b"z")
        self.assertEqual(self.bodies(), [b"ab", b"c"] * 3 + [b"x", b"y", b"z"])

    def test_binaryErrors(self) -> None:
        """
        Binary parse errors are 413 with the TCP code minus C{E_}, and the
        topic was created before the body was parsed.
        """
        self.config.max_msg_size = 4
        self.config.max_body_size = 24
        cases = [
            (b"", "BAD_BODY"),
            (b"\x00\x00\x00", "BAD_BODY"),
            (struct.pack(">i", 0), "BAD_BODY"),
            (struct.pack(">i", -1), "BAD_BODY"),
            # (24 - 4) / 5 = 4 messages at most.
            (struct.pack(">i", 5), "BAD_BODY"),
            (struct.pack(">i", 1), "BAD_MESSAGE"),
            (struct.pack(">ii", 1, 0), "BAD_MESSAGE"),
            (struct.pack(">ii", 1, -3), "BAD_MESSAGE"),
            (struct.pack(">ii5s", 1, 5, b"abcde"), "BAD_MESSAGE"),
            (struct.pack(">ii2s", 1, 3, b"ab"), "BAD_MESSAGE"),
        ]
        for body, code in cases:
            self.assertError("POST", "/mpub?topic=t&binary=true", 413, code, body)
        self.assertEqual(self.broker.topics["t"].messageCount, 0)

    def test_topicAndSize(self) -> None:
        """
        Topic errors are the same as C{/pub}'s; a body over
        C{--max-body-size} is 413 C{BODY_TOO_BIG} in binary mode too.
        """
        self.assertError("POST", "/mpub", 400, "MISSING_ARG_TOPIC", b"x")
        self.assertError("POST", "/mpub?topic=bad!", 400, "INVALID_TOPIC", b"x")
        self.assertError("POST", "/mpub?topic=%zz", 400, "INVALID_REQUEST", b"x")
        self.config.max_body_size = 8
        self.assertError(
            "POST", "/mpub?topic=t&binary=1", 413, "BODY_TOO_BIG", b"x" * 9
        )


class MPubParserTests(SynchronousTestCase):
    """
    The C{/mpub} body parsers, including what only chunked bodies reach.
    """

    def assertHTTPError(self, code: str, f: Any, *args: Any) -> None:
        """
        C{f(*args)} raises 413 C{code}.
        """
        error = self.assertRaises(HTTPError, f, *args)
        self.assertEqual((error.code, error.message), (413, code))

    def test_textOrder(self) -> None:
        """
        Lines are checked in order, as Go reads them: a long line before
        the body limit is C{MSG_TOO_BIG}; reaching the limit first is
        C{BODY_TOO_BIG}.
        """
        self.assertHTTPError(
            "MSG_TOO_BIG", parseTextMPUB, b"abcdef\n" + b"x" * 20, 4, 10
        )
        self.assertHTTPError("BODY_TOO_BIG", parseTextMPUB, b"ab\n" * 3 + b"cd", 4, 10)
        self.assertEqual(parseTextMPUB(b"ab\n" * 3 + b"c", 4, 10), [b"ab"] * 3 + [b"c"])

    def test_binaryTrailingIgnored(self) -> None:
        """
        Bytes after the counted messages are ignored.
        """
        body = struct.pack(">ii1s", 1, 1, b"a") + b"junk"
        self.assertEqual(parseBinaryMPUB(body, 10, 100), [b"a"])


class TopicTests(APITestCase):
    """
    C{/topic/*}.
    """

    def test_create(self) -> None:
        """
        C{/topic/create} makes the topic (again is fine); names are
        validated.
        """
        self.assertEmptyOK("POST", "/topic/create?topic=t")
        self.assertEmptyOK("POST", "/topic/create?topic=t")
        self.assertEqual(list(self.broker.topics), ["t"])
        self.assertError("POST", "/topic/create", 400, "MISSING_ARG_TOPIC")
        self.assertError("POST", "/topic/create?topic=bad!", 400, "INVALID_TOPIC")
        self.assertError("POST", "/topic/create?topic=%zz", 400, "INVALID_REQUEST")
        self.assertEqual(self.request("GET", "/topic/create?topic=t")[0], 405)

    def test_delete(self) -> None:
        """
        C{/topic/delete} removes the topic, its channels and disconnects
        their consumers; unknown (even invalid) names are 404.
        """
        client = FakeClient()
        self.subscribe("t", "c", client)
        self.assertEmptyOK("POST", "/topic/delete?topic=t")
        self.assertEqual((self.broker.topics, client.closed), ({}, True))
        self.assertError("POST", "/topic/delete?topic=t", 404, "TOPIC_NOT_FOUND")
        self.assertError("POST", "/topic/delete?topic=bad!", 404, "TOPIC_NOT_FOUND")
        self.assertError("POST", "/topic/delete", 400, "MISSING_ARG_TOPIC")

    def test_empty(self) -> None:
        """
        C{/topic/empty} drops what the topic holds, not its channels'.
        """
        self.broker.getChannel("t", "c", self.clock.seconds())
        self.assertOK("POST", "/pub?topic=t", b"in the channel")
        self.assertEmptyOK("POST", "/topic/pause?topic=t")
        self.assertOK("POST", "/pub?topic=t", b"in the topic")
        topic = self.broker.topics["t"]
        self.assertEqual((topic.depth(), topic.channels["c"].depth()), (1, 1))
        self.assertEmptyOK("POST", "/topic/empty?topic=t")
        self.assertEqual((topic.depth(), topic.channels["c"].depth()), (0, 1))
        self.assertError("POST", "/topic/empty?topic=nope", 404, "TOPIC_NOT_FOUND")
        self.assertError("POST", "/topic/empty?topic=bad!", 400, "INVALID_TOPIC")
        self.assertError("POST", "/topic/empty", 400, "MISSING_ARG_TOPIC")

    def test_pause(self) -> None:
        """
        A paused topic holds messages; unpausing delivers them; both are
        announced to the broker's observers (metadata persistence).
        """
        events: list[tuple[str, str, str | None]] = []

        class Observer:
            def topologyChanged(
                self, event: str, topic: str, channel: str | None
            ) -> None:
                events.append((event, topic, channel))

        self.broker.observers.append(Observer())
        client = FakeClient(ready=5)
        self.subscribe("t", "c", client)
        self.assertEmptyOK("POST", "/topic/pause?topic=t")
        self.assertOK("POST", "/pub?topic=t", b"held")
        self.assertEqual((client.received, self.broker.topics["t"].depth()), ([], 1))
        self.assertEmptyOK("POST", "/topic/unpause?topic=t")
        self.assertEqual([m.body for m in client.received], [b"held"])
        self.assertEqual(
            [e for e in events if e[0] == "paused"], [("paused", "t", None)] * 2
        )
        self.assertError("POST", "/topic/pause?topic=nope", 404, "TOPIC_NOT_FOUND")
        self.assertError("POST", "/topic/unpause?topic=bad!", 404, "TOPIC_NOT_FOUND")
        self.assertError("POST", "/topic/pause", 400, "MISSING_ARG_TOPIC")


class ChannelTests(APITestCase):
    """
    C{/channel/*}.
    """

    def test_create(self) -> None:
        """
        C{/channel/create} needs an existing topic and valid names; the
        new channel gets what the topic held.
        """
        self.assertOK("POST", "/pub?topic=t", b"waiting")
        self.assertEmptyOK("POST", "/channel/create?topic=t&channel=c")
        self.assertEqual(self.broker.topics["t"].channels["c"].depth(), 1)
        self.assertError(
            "POST", "/channel/create?topic=u&channel=c", 404, "TOPIC_NOT_FOUND"
        )
        self.assertNotIn("u", self.broker.topics)

    def test_argumentErrors(self) -> None:
        """
        Every C{/channel/*} endpoint checks C{topic} then C{channel}, in
        Go's order, before looking anything up.
        """
        for action in ("create", "delete", "empty", "pause", "unpause"):
            path = f"/channel/{action}"
            self.assertError("POST", path + "?channel=c", 400, "MISSING_ARG_TOPIC")
            self.assertError(
                "POST", path + "?topic=bad!&channel=bad!", 400, "INVALID_ARG_TOPIC"
            )
            self.assertError("POST", path + "?topic=t", 400, "MISSING_ARG_CHANNEL")
            self.assertError(
                "POST", path + "?topic=t&channel=bad!", 400, "INVALID_ARG_CHANNEL"
            )
            self.assertError("POST", path + "?topic=%zz", 400, "INVALID_REQUEST")
            self.assertError(
                "POST", path + "?topic=t&channel=c", 404, "TOPIC_NOT_FOUND"
            )

    def test_notFound(self) -> None:
        """
        Delete, empty, pause and unpause of an unknown channel are 404
        C{CHANNEL_NOT_FOUND}.
        """
        self.broker.getTopic("t")
        for action in ("delete", "empty", "pause", "unpause"):
            self.assertError(
                "POST",
                f"/channel/{action}?topic=t&channel=c",
                404,
                "CHANNEL_NOT_FOUND",
            )

    def test_deleteEmptyPause(self) -> None:
        """
        Empty drops queued and in-flight messages; pause stops delivery
        and unpause resumes it; delete disconnects the consumers.
        """
        client = FakeClient(ready=1)
        self.subscribe("t", "c", client)
        self.assertOK("POST", "/mpub?topic=t", b"a\nb")
        channel = self.broker.topics["t"].channels["c"]
        self.assertEqual((len(channel.inFlight), channel.depth()), (1, 1))
        self.assertEmptyOK("POST", "/channel/empty?topic=t&channel=c")
        self.assertEqual((len(channel.inFlight), channel.depth()), (0, 0))
        self.assertEqual(client.client.inFlightCount, 0)
        self.assertEmptyOK("POST", "/channel/pause?topic=t&channel=c")
        self.assertOK("POST", "/pub?topic=t", b"c")
        self.assertEqual(len(client.received), 1)
        self.assertEmptyOK("POST", "/channel/unpause?topic=t&channel=c")
        self.assertEqual([m.body for m in client.received], [b"a", b"c"])
        self.assertEmptyOK("POST", "/channel/delete?topic=t&channel=c")
        self.assertEqual((self.broker.topics["t"].channels, client.closed), ({}, True))

    def test_ephemeralTopicGoesWithLastChannel(self) -> None:
        """
        Deleting the last channel of an ephemeral topic deletes the topic.
        """
        self.assertEmptyOK("POST", "/topic/create?topic=t%23ephemeral")
        self.assertEmptyOK("POST", "/channel/create?topic=t%23ephemeral&channel=c")
        self.assertEmptyOK("POST", "/channel/delete?topic=t%23ephemeral&channel=c")
        self.assertEqual(self.broker.topics, {})


class StatsTests(APITestCase):
    """
    C{GET /stats}, JSON and text.
    """

    def populate(self) -> tuple[FakeClient, FakeClient]:
        """
        Topic C{t} with a busy channel (a consumer holding one message) and
        an idle one, topic C{a} with no channel, and a producer.
        """
        consumer = FakeClient(ready=1)
        self.subscribe("t", "busy", consumer)
        self.broker.getChannel("t", "idle", self.clock.seconds())
        producer = FakeClient("prod", "prodhost", 6000, connectTime=START + 1)
        producer.client.state = 0
        producer.client.pubCounts = {"t": 2}
        self.clients.add(producer)
        self.assertOK("POST", "/mpub?topic=t", b"m1\nm2")
        self.assertOK("POST", "/pub?topic=a", b"alone")
        return consumer, producer

    def test_jsonEmpty(self) -> None:
        """
        With nothing on it: version, health, start time, empty topics,
        memory, C{null} producers.
        """
        stats = self.json("GET", "/stats?format=json")
        self.assertEqual(
            list(stats),
            ["version", "health", "start_time", "topics", "memory", "producers"],
        )
        self.assertEqual(
            (stats["version"], stats["health"], stats["start_time"]),
            ("1.3.0", "OK", int(START)),
        )
        self.assertEqual((stats["topics"], stats["producers"]), ([], None))
        self.assertEqual(
            list(stats["memory"]),
            [
                "heap_objects",
                "heap_idle_bytes",
                "heap_in_use_bytes",
                "heap_released_bytes",
                "gc_pause_usec_100",
                "gc_pause_usec_99",
                "gc_pause_usec_95",
                "next_gc_bytes",
                "gc_total_runs",
            ],
        )
        self.assertTrue(all(isinstance(v, int) for v in stats["memory"].values()))

    def test_gcPauses(self) -> None:
        """
        C{memory} reports the pauses of the recorder the API is given.
        """
        self.gcPauses.pauses.extend([1_000_000, 3_000_000])
        memory = self.json("GET", "/stats?format=json")["memory"]
        self.assertEqual(memory["gc_pause_usec_100"], 3000)

    def test_jsonFull(self) -> None:
        """
        Topics and channels sorted by name with Go's fields, clients under
        their channel, producers with one C{pub_counts} entry and
        C{message_count} 0.
        """
        self.populate()
        self.clock.advance(3)
        stats = self.json("GET", "/stats?format=json&include_mem=false")
        self.assertNotIn("memory", stats)
        noLatency = {"count": 0, "percentiles": None}
        consumerStats = {
            "client_id": "cons",
            "hostname": "conshost",
            "version": "V2",
            "remote_address": "127.0.0.1:5000",
            "state": 3,
            "ready_count": 1,
            "in_flight_count": 1,
            "message_count": 1,
            "finish_count": 0,
            "requeue_count": 0,
            "connect_ts": int(START) + 5,
            "sample_rate": 0,
            "deflate": False,
            "snappy": False,
            "user_agent": "probe/1.0",
            "tls": False,
            "tls_cipher_suite": "",
            "tls_version": "",
            "tls_negotiated_protocol": "",
            "tls_negotiated_protocol_is_mutual": False,
        }
        producerStats = dict(
            consumerStats,
            client_id="prod",
            hostname="prodhost",
            remote_address="127.0.0.1:6000",
            state=0,
            ready_count=0,
            in_flight_count=0,
            message_count=0,
            connect_ts=int(START) + 1,
        )
        producerStats = {
            **{k: producerStats[k] for k in list(producerStats)[:15]},
            "pub_counts": [{"topic": "t", "count": 2}],
            **{k: producerStats[k] for k in list(producerStats)[15:]},
        }

        def channel(name: str, **values: Any) -> dict[str, Any]:
            return {
                "channel_name": name,
                "depth": values.get("depth", 0),
                "backend_depth": 0,
                "in_flight_count": values.get("in_flight_count", 0),
                "deferred_count": 0,
                "message_count": 2,
                "requeue_count": 0,
                "timeout_count": 0,
                "client_count": len(values.get("clients", [])),
                "clients": values.get("clients", []),
                "paused": False,
                "e2e_processing_latency": noLatency,
            }

        expected = {
            "version": "1.3.0",
            "health": "OK",
            "start_time": int(START),
            "topics": [
                {
                    "topic_name": "a",
                    "channels": [],
                    "depth": 1,
                    "backend_depth": 0,
                    "message_count": 1,
                    "message_bytes": 5,
                    "paused": False,
                    "e2e_processing_latency": noLatency,
                },
                {
                    "topic_name": "t",
                    "channels": [
                        channel(
                            "busy", depth=1, in_flight_count=1, clients=[consumerStats]
                        ),
                        channel("idle", depth=2),
                    ],
                    "depth": 0,
                    "backend_depth": 0,
                    "message_count": 2,
                    "message_bytes": 4,
                    "paused": False,
                    "e2e_processing_latency": noLatency,
                },
            ],
            "producers": [producerStats],
        }
        self.assertEqual(stats, expected)
        # Key order too (json.loads keeps it).
        self.assertEqual(
            json.dumps(stats, sort_keys=False), json.dumps(expected, sort_keys=False)
        )

    def test_jsonFilters(self) -> None:
        """
        C{topic=} keeps one topic (an unknown one gives C{null} topics and
        producers); C{channel=} keeps one channel of each topic and drops
        topics without it; C{include_clients=false} gives C{null} clients
        (counts kept) and producers.
        """
        self.populate()
        stats = self.json("GET", "/stats?format=json&topic=t")
        self.assertEqual([t["topic_name"] for t in stats["topics"]], ["t"])
        stats = self.json("GET", "/stats?format=json&topic=nope")
        self.assertEqual((stats["topics"], stats["producers"]), (None, None))
        stats = self.json("GET", "/stats?format=json&channel=idle")
        [topic] = stats["topics"]
        self.assertEqual([c["channel_name"] for c in topic["channels"]], ["idle"])
        stats = self.json("GET", "/stats?format=json&topic=t&channel=nope")
        self.assertEqual(stats["topics"], [])
        self.assertEqual(len(stats["producers"]), 1)
        for value in ("false", "0"):
            stats = self.json("GET", f"/stats?format=json&include_clients={value}")
            busy = stats["topics"][1]["channels"][0]
            self.assertEqual((busy["clients"], busy["client_count"]), (None, 1))
            self.assertIsNone(stats["producers"])
        stats = self.json("GET", "/stats?format=json&include_clients=maybe")
        self.assertEqual(len(stats["producers"]), 1)

    def test_producerTopicFilter(self) -> None:
        """
        With C{topic=}, a producer's C{pub_counts} only considers that
        topic, and is left out when it has not published there.
        """
        self.populate()
        stats = self.json("GET", "/stats?format=json&topic=a")
        [producer] = stats["producers"]
        self.assertNotIn("pub_counts", producer)

    def test_text(self) -> None:
        """
        The default format is Go's text page; its first line is Go's
        version line with txnsq as the build (C{--version}'s text).
        """
        self.populate()
        self.broker.pauseChannel("t", "idle", True, self.clock.seconds())
        self.clock.advance(65.5)
        code, headers, body = self.request("GET", "/stats?include_mem=false")
        self.assertEqual((code, headers), (200, V1_TEXT))
        self.assertEqual(
            body.decode(),
            f"nsqd v1.3.0 (built w/txnsq-{__version__})\n"
            f"start_time {_rfc3339(START)}\n"
            "uptime 1m5.5s\n"
            "\n"
            "Health: OK\n"
            "\n"
            "Topics:\n"
            "   [a              ] depth: 1     be-depth: 0     msgs: 1        e2e%: \n"
            "\n"
            "   [t              ] depth: 0     be-depth: 0     msgs: 2        e2e%: \n"
            "      [busy                     ] depth: 1     be-depth: 0     "
            "inflt: 1    def: 0    re-q: 0     timeout: 0     msgs: 2        e2e%: \n"
            "        [V2 conshost:5000 probe/1.0] state: 3 inflt: 1    rdy: 1    "
            "fin: 0        re-q: 0        msgs: 1        connected: 1m0s\n"
            "   *P [idle                     ] depth: 2     be-depth: 0     "
            "inflt: 0    def: 0    re-q: 0     timeout: 0     msgs: 2        e2e%: \n"
            "\n"
            "Producers:\n"
            "   [V2 prodhost:6000 probe/1.0] msgs: 2        topics: t=2 "
            "connected: 1m4s\n",
        )

    def test_textEmptyAndMemory(self) -> None:
        """
        With nothing on it, the text page says C{None} twice, and lists the
        nine memory figures unless C{include_mem=false}.
        """
        body = self.request("GET", "/stats?format=text")[2]
        lines = body.decode().split("\n")
        self.assertEqual(lines[6], "Memory:")
        self.assertRegex(lines[7], r"^   heap_objects {13}\t\d+$")
        self.assertEqual(lines[16:], ["", "Topics: None", "", "Producers: None", ""])
        _, _, body = self.request("GET", "/stats?include_mem=0")
        self.assertNotIn(b"Memory", body)

    def test_health(self) -> None:
        """
        An unhealthy nsqd says so in both formats.
        """
        self.health.set("write failed")
        self.assertEqual(
            self.json("GET", "/stats?format=json")["health"], "NOK - write failed"
        )
        self.assertIn(
            b"\nHealth: NOK - write failed\n", self.request("GET", "/stats")[2]
        )

    def test_invalidQuery(self) -> None:
        """
        A malformed query is 400 C{INVALID_REQUEST}.
        """
        self.assertError("GET", "/stats?format=%zz", 400, "INVALID_REQUEST")

    def test_unencodable(self) -> None:
        """
        A figure JSON cannot hold (a NaN) is the 500 any V1 answer gets for
        one, with Go's message.
        """
        config = NSQDConfig(e2e_processing_latency_percentiles=[float("nan")])
        self.broker = Broker(config)
        self.broker.getChannel("t", "c", self.clock.seconds())
        self.makeAPI()
        self.assertError(
            "GET", "/stats?format=json", 500, "json: unsupported value: NaN"
        )


class ConfigTests(APITestCase):
    """
    C{GET} and C{PUT /config/:opt}.
    """

    def test_getKinds(self) -> None:
        """
        Options are read by config-file name: strings as plain text,
        numbers, booleans and lists as JSON, durations in nanoseconds, the
        log level as 1-5 and the TLS version as Go's constant.
        """
        self.config.e2e_processing_latency_percentiles = [0.99, 1.0]
        cases = {
            "tcp_address": (V1_TEXT, b"0.0.0.0:4150"),
            "statsd_address": (V1_EMPTY, b""),
            "id": (V1_JSON, b"7"),
            "mem_queue_size": (V1_JSON, b"10000"),
            "msg_timeout": (V1_JSON, b"60000000000"),
            "min_output_buffer_timeout": (V1_JSON, b"25000000"),
            "snappy": (V1_JSON, b"true"),
            "statsd_exclude_ephemeral": (V1_JSON, b"false"),
            "nsqlookupd_tcp_addresses": (V1_JSON, b"[]"),
            "e2e_processing_latency_percentiles": (V1_JSON, b"[0.99,1]"),
            "log_level": (V1_JSON, b"2"),
            "tls_min_version": (V1_JSON, b"769"),
            "tls_required": (V1_JSON, b"0"),
        }
        for option, (headers, body) in cases.items():
            self.assertEqual(
                self.request("GET", f"/config/{option}"), (200, headers, body), option
            )
        self.config.e2e_processing_latency_percentiles = []
        self.assertEqual(
            self.request("GET", "/config/e2e_processing_latency_percentiles"),
            (200, V1_JSON, b"null"),
        )

    def test_getInvalid(self) -> None:
        """
        Flag names that differ from the config name, options without a flag,
        options Go 1.3.0 does not have and unknown names are 400
        C{INVALID_OPTION}.
        """
        for option in (
            "node_id",
            "queue_scan_interval",
            "client_timeout",
            "auth_http_request_method",
            "topology_zone",
            "nope",
        ):
            self.assertError("GET", f"/config/{option}", 400, "INVALID_OPTION")

    def test_optionsFromFlagTable(self) -> None:
        """
        The options C{GET /config/:opt} knows come from nsqd's flag table:
        the config-file names of Go 1.3.0's C{Options} fields.
        """
        self.assertEqual(
            sorted(configOptions(NSQD_FLAGS)),
            sorted(GO_1_3_0_OPTIONS),
        )
        for option in GO_1_3_0_OPTIONS:
            self.assertEqual(self.request("GET", f"/config/{option}")[0], 200, option)

    def test_unknownFlagType(self) -> None:
        """
        A flag type without a known JSON encoding is refused, rather than
        answered in some guessed form.
        """
        odd = FlagType("odd", lambda current, text: text, str, str, "")
        table = FlagTable("x", [Flag("odd-one", odd, "", "odd_one", default="")])
        self.assertRaises(ValueError, configOptions, table)

    def test_putLookupdAddresses(self) -> None:
        """
        A JSON list of strings replaces the lookupd addresses, is handed to
        the lookupd peers and answered; C{null} reads back as C{null}.
        """
        self.assertEqual(
            self.request(
                "PUT", "/config/nsqlookupd_tcp_addresses", b' ["a:1", "b:2"] '
            ),
            (200, V1_JSON, b'["a:1","b:2"]'),
        )
        self.assertEqual(self.config.nsqlookupd_tcp_addresses, ["a:1", "b:2"])
        self.assertEqual(
            self.request("PUT", "/config/nsqlookupd_tcp_addresses", b"null"),
            (200, V1_JSON, b"null"),
        )
        self.assertEqual(
            self.request("GET", "/config/nsqlookupd_tcp_addresses"),
            (200, V1_JSON, b"null"),
        )
        self.assertEqual(self.lookupdChanges, [["a:1", "b:2"], []])

    def test_putInvalidValues(self) -> None:
        """
        Malformed JSON, a non-list or non-strings are 400 C{INVALID_VALUE};
        an empty body or one over C{--max-msg-size} is 413; nothing changes.
        """
        for body in (b"[", b'"a:1"', b'["a", 1]', b"{}", b'["a"] x'):
            self.assertError(
                "PUT", "/config/nsqlookupd_tcp_addresses", 400, "INVALID_VALUE", body
            )
        self.assertError("PUT", "/config/log_level", 413, "INVALID_VALUE")
        self.config.max_msg_size = 5
        self.assertError("PUT", "/config/log_level", 413, "INVALID_VALUE", b"warnxx")
        self.assertError("PUT", "/config/log_level", 400, "INVALID_VALUE", b"loud")
        self.assertEqual(self.lookupdChanges, [])
        self.assertEqual(self.config.log_level, "info")

    def test_putLogLevel(self) -> None:
        """
        C{log_level} takes a level name in any case and answers its number.
        """
        self.assertEqual(
            self.request("PUT", "/config/log_level", b"WARN"), (200, V1_JSON, b"3")
        )
        self.assertEqual((self.config.log_level, self.logLevels), ("warn", ["warn"]))

    def test_putUnsupported(self) -> None:
        """
        Only those two options can be set; POST is 405.
        """
        self.assertError("PUT", "/config/mem_queue_size", 400, "INVALID_OPTION", b"1")
        self.assertError("PUT", "/config/nope", 400, "INVALID_OPTION", b"1")
        self.assertEqual(self.request("POST", "/config/log_level", b"x")[0], 405)


class DebugTests(APITestCase):
    """
    C{/debug/*}.
    """

    def test_setBlockRateInvalid(self) -> None:
        """
        A C{rate} that is not an int gets Go's C{strconv.Atoi} error as
        plain text.
        """
        self.assertEqual(
            self.request("PUT", "/debug/setblockrate?rate=abc"),
            (
                400,
                PLAIN,
                b'invalid block rate : strconv.Atoi: parsing "abc": invalid syntax',
            ),
        )
        self.assertEqual(
            self.request("PUT", "/debug/setblockrate"),
            (
                400,
                PLAIN,
                b'invalid block rate : strconv.Atoi: parsing "": invalid syntax',
            ),
        )
        self.assertEqual(
            self.request("PUT", "/debug/setblockrate?rate=" + "9" * 20)[2],
            b'invalid block rate : strconv.Atoi: parsing "'
            + b"9" * 20
            + b'": value out of range',
        )

    def test_setBlockRateAndFreeMemory(self) -> None:
        """
        A valid rate and C{freememory} get Go 1.3.0's 500 C{INTERNAL_ERROR}
        (its plain-text wrapper rejects their empty result).
        """
        self.assertError(
            "PUT", "/debug/setblockrate?rate=5&x=%zz", 500, "INTERNAL_ERROR"
        )
        self.assertError("POST", "/debug/freememory", 500, "INTERNAL_ERROR")
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 2)


class _BodyRecorder(Resource):
    """
    Records what each request kept of its body.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[bytes, bool, dict[bytes, list[bytes]]]] = []

    def render(self, request: IRequest) -> bytes:
        """
        Note the kept body, whether it was cut and the parsed args.
        """
        req: Any = request
        self.seen.append((req.content.getvalue(), req.bodyTruncated, dict(req.args)))
        return b"done"


class SiteTests(SynchronousTestCase):
    """
    L{NSQDSite}: bounded bodies, no form parsing, Go's answers over a real
    HTTP channel.
    """

    def setUp(self) -> None:
        self.config = NSQDConfig(max_msg_size=10, max_body_size=20)

    def serve(self, site: NSQDSite, raw: bytes, chunk: int = 7) -> bytes:
        """
        Feed C{raw} to a new connection, C{chunk} bytes at a time; return
        what the server wrote.
        """
        channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1234))
        transport = StringTransport()
        channel.makeConnection(transport)
        for start in range(0, len(raw), chunk):
            channel.dataReceived(raw[start : start + chunk])
        written: bytes = transport.value()
        return written

    def test_boundedBody(self) -> None:
        """
        A request keeps at most C{max(max-msg-size, max-body-size) + 1}
        bytes of a chunked body and says it was cut; one whose declared
        C{Content-Length} is over that keeps nothing and says it was cut
        (its handler answers 413 on the header, as Go's does).
        """
        recorder = _BodyRecorder()
        site = NSQDSite(recorder, self.config, Clock())
        self.assertEqual(site.bodyLimit(), 21)
        body = b"x" * 1000
        self.serve(
            site,
            b"POST /r HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n" + body,
        )
        chunks = b"".join(b"%x\r\n%s\r\n" % (100, b"y" * 100) for _ in range(10))
        self.serve(
            site,
            b"POST /r HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunks
            + b"0\r\n\r\n",
        )
        self.serve(site, b"POST /r HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc")
        self.assertEqual(
            [(len(kept), cut) for kept, cut, _ in recorder.seen],
            [(0, True), (21, True), (3, False)],
        )

    def test_noFormParsing(self) -> None:
        """
        A form-encoded body does not become request arguments (Go's
        handlers read only the query string).
        """
        recorder = _BodyRecorder()
        site = NSQDSite(recorder, self.config, Clock())
        body = b"topic=x&channel=y"
        self.serve(
            site,
            b"POST /r?a=1 HTTP/1.1\r\nHost: h\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body),
        )
        [(kept, _, args)] = recorder.seen
        self.assertEqual((kept, args), (body, {b"a": [b"1"]}))

    def test_oversizedPub(self) -> None:
        """
        Through the real site, oversized C{/pub} and C{/mpub} bodies get
        Go's 413s whether declared or chunked, and nothing is published.
        """
        broker = Broker(self.config)
        api = NSQDHTTPAPI(broker, self.config, set(), Clock())
        site = NSQDSite(api.resource(), self.config, Clock())
        declared = self.serve(
            site,
            b"POST /pub?topic=t HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n"
            + b"x" * 11,
        )
        self.assertIn(b"413 ", declared.split(b"\r\n")[0])
        self.assertTrue(declared.endswith(b'{"message":"MSG_TOO_BIG"}'))
        chunked = self.serve(
            site,
            b"POST /pub?topic=t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked"
            b"\r\n\r\n" + b"20\r\n" + b"z" * 32 + b"\r\n0\r\n\r\n",
        )
        self.assertTrue(chunked.endswith(b'{"message":"MSG_TOO_BIG"}'))
        mpub = self.serve(
            site,
            b"POST /mpub?topic=t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked"
            b"\r\n\r\n" + b"20\r\n" + b"ab\n" * 10 + b"ab\r\n0\r\n\r\n",
        )
        self.assertTrue(mpub.endswith(b'{"message":"BODY_TOO_BIG"}'))
        self.assertEqual(broker.topics["t"].messageCount, 0)
        ok = self.serve(
            site,
            b"POST /pub?topic=t HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n"
            + b"x" * 10,
        )
        self.assertTrue(ok.endswith(b"\r\n\r\nOK"))
        self.assertEqual(broker.topics["t"].messageCount, 1)


class MetricsTests(APITestCase):
    """
    C{GET /metrics}: Prometheus' text format under lovoo nsq_exporter's
    names, served with its own headers.
    """

    def scrape(
        self, query: str = "", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, list[str]], bytes]:
        """
        C{GET /metrics<query>}: the status, every response header and the
        body as sent (treq's client would ask for gzip and decompress).
        """
        agent = RequestTraversalAgent(self.api.resource())
        requestHeaders = Headers(
            {name: [value] for name, value in (headers or {}).items()}
        )
        response = self.successResultOf(
            agent.request(
                b"GET", b"http://nsqd:4151/metrics" + query.encode(), requestHeaders
            )
        )
        content = self.successResultOf(treq.content(response))
        found = {
            name.decode().lower(): [v.decode() for v in values]
            for name, values in response.headers.getAllRawHeaders()
        }
        return response.code, found, content

    def families(self, query: str = "") -> dict[str, Metric]:
        """
        The metric families of a 200 C{/metrics<query>}, by name.
        """
        code, _, body = self.scrape(query)
        self.assertEqual(code, 200, body)
        return {f.name: f for f in text_string_to_metric_families(body.decode())}

    def test_textFormat(self) -> None:
        """
        The page is Prometheus' text format 0.0.4 with its own
        C{Content-Type}, C{Vary: Accept-Encoding} and no
        C{X-NSQ-Content-Type}; topics and channels carry lovoo's labels.
        """
        self.subscribe("orders", "billing", FakeClient(ready=1))
        self.api._publish("orders", [b"a", b"b"])
        code, headers, body = self.scrape()
        self.assertEqual(code, 200)
        self.assertEqual(
            headers["content-type"], ["text/plain; version=0.0.4; charset=utf-8"]
        )
        self.assertEqual(headers["vary"], ["Accept-Encoding"])
        self.assertNotIn("x-nsq-content-type", headers)
        self.assertNotIn("content-encoding", headers)
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        [depth] = families["nsq_topic_depth"].samples
        self.assertEqual(depth.labels, {"topic": "orders", "paused": "false"})
        [inFlight] = families["nsq_channel_in_flight_count"].samples
        self.assertEqual(
            inFlight.labels,
            {"topic": "orders", "channel": "billing", "paused": "false"},
        )
        self.assertEqual(inFlight.value, 1)
        self.assertEqual(families["nsq_start_time_seconds"].samples[0].value, START)

    def test_includeClients(self) -> None:
        """
        Per-connection metrics come only with C{include_clients} true in any
        of Go's C{strconv.ParseBool} spellings; absent, empty or false,
        they are left out.
        """
        self.subscribe("orders", "billing", FakeClient(clientID="c1"))
        for query in (
            "?include_clients=true",
            "?include_clients=1",
            "?include_clients=T",
        ):
            [state] = self.families(query)["nsq_client_state"].samples
            self.assertEqual(state.labels["client_id"], "c1", query)
        for query in (
            "",
            "?include_clients=",
            "?include_clients=false",
            "?include_clients=0",
        ):
            families = self.families(query)
            self.assertFalse(
                [name for name in families if name.startswith("nsq_client_")], query
            )

    def test_includeClientsInvalid(self) -> None:
        """
        Any other C{include_clients} is 400, as plain text with Go's
        C{strconv.ParseBool} error; a malformed query is 400
        C{INVALID_REQUEST}.
        """
        self.assertEqual(
            self.request("GET", "/metrics?include_clients=yes"),
            (
                400,
                PLAIN,
                b'invalid include_clients: strconv.ParseBool: parsing "yes": '
                b"invalid syntax",
            ),
        )
        self.assertEqual(
            self.request("GET", "/metrics?x=%zz"), (400, PLAIN, b"INVALID_REQUEST")
        )

    def test_gzip(self) -> None:
        """
        A scraper that accepts gzip (Prometheus always does) gets the same
        page gzipped, with C{Content-Encoding: gzip}.
        """
        self.broker.getTopic("orders")
        plain = self.scrape()[2]
        code, headers, body = self.scrape(
            headers={"Accept-Encoding": "deflate, gzip;q=1.0, *;q=0.5"}
        )
        self.assertEqual(code, 200)
        self.assertEqual(headers["content-encoding"], ["gzip"])
        self.assertEqual(
            headers["content-type"], ["text/plain; version=0.0.4; charset=utf-8"]
        )
        unzipped = gzip.decompress(body)
        # The process metrics move between two scrapes; nsqd's do not.
        self.assertEqual(
            [line for line in unzipped.splitlines() if line.startswith(b"nsq_topic")],
            [line for line in plain.splitlines() if line.startswith(b"nsq_topic")],
        )

    def test_routing(self) -> None:
        """
        Only C{GET} is routed, with httprouter's answers around it: 405
        with C{Allow} for other methods (C{HEAD} included), a redirect for
        a trailing slash or another letter case.
        """
        allowed = {"Allow": ["GET, OPTIONS"], **V1_JSON}
        for method in ("POST", "PUT", "HEAD"):
            code, headers, _ = self.request(method, "/metrics")
            self.assertEqual((code, headers), (405, allowed), method)
        self.assertEqual(self.request("GET", "/metrics/")[:2][0], 301)
        self.assertEqual(self.request("GET", "/Metrics")[1]["Location"], ["/metrics"])
