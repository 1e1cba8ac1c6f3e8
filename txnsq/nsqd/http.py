# -*- test-case-name: tests.nsqd.test_http -*-
"""
nsqd's HTTP API (C{--http-address}), as Go nsqd 1.3.0 serves it.

L{NSQDHTTPAPI} holds the routes; L{httpResource} is the
L{txnsq.nsqd.service.HTTPResourceFactory} that builds it for an
L{NSQDService}; serve it with L{NSQDSite}, which bounds request bodies.

Endpoints: C{/ping}, C{/info}, C{/stats}, C{/pub}, C{/mpub},
C{/topic/{create,delete,empty,pause,unpause}},
C{/channel/{create,delete,empty,pause,unpause}}, C{GET}/C{PUT}
C{/config/:opt}, C{PUT /debug/setblockrate} and C{POST /debug/freememory}.
Status codes, error texts, headers and bodies are Go's, including its
order of checks (C{/pub} reads and size-checks its body before it looks at
C{topic=}; C{/pub} and C{/mpub} create the topic before they validate
C{defer=} or parse the body).  C{/pub} and C{/mpub} publish through the
same L{Broker.publish} as the TCP C{PUB}/C{MPUB}/C{DPUB}, so consumers
cannot tell them apart; the TCP factory flushes the deliveries on the next
reactor turn.

Go-runtime endpoints:

  - C{/debug/pprof/*} are not served (404): they stream Go profiles in
    C{pprof}'s binary format, which a Python process cannot produce, and
    Python profilers need no HTTP endpoint.
  - C{POST /debug/freememory} runs a full garbage collection (Python's
    nearest equivalent of Go's C{debug.FreeOSMemory}); C{PUT
    /debug/setblockrate} validates C{rate} as Go does and changes nothing.
    Both then answer 500 C{INTERNAL_ERROR}, exactly as Go 1.3.0 does (its
    plain-text wrapper rejects their empty result).
  - C{/stats} C{memory} carries Python figures under Go's keys (see
    L{txnsq.nsqd.stats.memoryStats}).

Other choices:

  - C{/pub} and C{/mpub} bypass Klein's per-request routing (the router
    would pick the same handlers; see L{_PublishFastPath}); every other
    endpoint is an ordinary Klein route behind L{GoRouter}.
  - Like Go, requests other than C{/pub} and C{/mpub} are logged at INFO
    as C{<status> <method> <uri> (<peer>) <elapsed>}.
  - e2e processing latency (C{--e2e-processing-latency-percentile}) is
    tracked by L{txnsq.nsqd.stats.E2ELatencyTracker}, which this API
    attaches to the broker; samples are taken on C{FIN} by the TCP
    protocol.
  - The text C{/stats} page starts with Go's exact version line (see
    L{txnsq.nsqd.stats.STATS_TEXT_VERSION}).
  - twisted.web adds a C{Server} header and closes connections idle for
    60 seconds; Go's server sends no C{Server} header and keeps idle
    connections.

Request bodies: L{NSQDSite} stores at most C{max(--max-msg-size,
--max-body-size) + 1} bytes of any request body and discards the rest, so
a huge or endless body costs no memory.  Every handler reads at most that
many bytes, so a truncated body gets Go's answer (C{413 MSG_TOO_BIG},
C{BODY_TOO_BIG}, C{INVALID_VALUE}).  Two differences remain: the answer is
sent once the whole body has arrived (Go answers as soon as it has read
too much, then closes the connection), and a chunked binary C{/mpub} body
is limited to that bound too (Go only checks the declared
C{Content-Length} in binary mode).
"""

from __future__ import annotations

import functools
import gc
import json
import socket
import struct
import sys
import time
from collections.abc import Callable, Collection
from io import BytesIO
from typing import TYPE_CHECKING, Any, TypeVar, cast
from weakref import WeakKeyDictionary

from klein import Klein
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort, IReactorTime
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET

from txnsq import NSQ_VERSION
from txnsq._endpoints import ipPort, splitHostPort
from txnsq._go.json import encodeJSON
from txnsq._go.values import formatDurationNanoseconds, goQuote, parseInt
from txnsq._http import (
    JSON_CONTENT_TYPE,
    NSQ_CONTENT_TYPE,
    GoRouter,
    GoSite,
    HTTPError,
    QueryError,
    RequestParams,
    _decorate,
    _GoRequest,
    parseQuery,
    plainText,
    respondV1,
    v1,
)
from txnsq._logging import Logger
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.state import Broker, Topic
from txnsq.nsqd.stats import (
    ClientCounters,
    E2ELatencyTracker,
    GCPauseRecorder,
    Health,
    formatStatsText,
    gatherStats,
    memoryStats,
)
from txnsq.wire.names import isValidName

if TYPE_CHECKING:
    # Python 3.9's Callable can't take a Concatenate at run time; these only
    # annotate.
    from typing_extensions import Concatenate, ParamSpec

    from txnsq.nsqd.service import NSQDService

    P = ParamSpec("P")

__all__ = ["NSQDHTTPAPI", "NSQDSite", "httpResource"]

_log = Logger(namespace="txnsq.nsqd.http")

S = TypeVar("S")
R = TypeVar("R")

#: Go's boolParams: what C{binary}, C{include_clients} and C{include_mem}
#: understand.
_BOOL_PARAMS = {"true": True, "1": True, "false": False, "0": False}

_LOG_LEVELS = {"debug": 1, "info": 2, "warn": 3, "error": 4, "fatal": 5}
_TLS_VERSIONS = {"ssl3.0": 0x0300, "tls1.0": 0x0301, "tls1.1": 0x0302}
_TLS_VERSIONS.update({"tls1.2": 0x0303, "tls1.3": 0x0304})

#: Go's C{--tls-required=true} (C{TLSRequired}); C{tcp-https} is 1.
_TLS_REQUIRED = 2

_INT32 = struct.Struct(">i")


def _untyped(request: object) -> Any:
    # twisted.web's IRequest methods are untyped; call them through Any.
    return request


def _nanoseconds(seconds: float) -> int:
    return round(seconds * 1e9)


def _wrapInt64(value: int) -> int:
    value &= 2**64 - 1
    return value - 2**64 if value >= 2**63 else value


# What GET /config/:opt can read: each config-file name Go's Options
# struct answers to (flag name with "-" -> "_", unless a "cfg" tag says
# otherwise), with its NSQDConfig attribute and how Go encodes its type.
_STR, _INT, _BOOL, _DURATION = "str", "int", "bool", "duration"
_STRINGS, _FLOATS, _LOGLEVEL, _TLSVERSION = "strings", "floats", "log", "tls"
_OPTIONS: dict[str, tuple[str, str]] = {
    "id": ("node_id", _INT),
    "log_level": ("log_level", _LOGLEVEL),
    "log_prefix": ("log_prefix", _STR),
    "tcp_address": ("tcp_address", _STR),
    "http_address": ("http_address", _STR),
    "https_address": ("https_address", _STR),
    "broadcast_address": ("broadcast_address", _STR),
    "broadcast_tcp_port": ("broadcast_tcp_port", _INT),
    "broadcast_http_port": ("broadcast_http_port", _INT),
    "nsqlookupd_tcp_addresses": ("nsqlookupd_tcp_addresses", _STRINGS),
    "auth_http_addresses": ("auth_http_addresses", _STRINGS),
    "http_client_connect_timeout": ("http_client_connect_timeout", _DURATION),
    "http_client_request_timeout": ("http_client_request_timeout", _DURATION),
    "data_path": ("data_path", _STR),
    "mem_queue_size": ("mem_queue_size", _INT),
    "max_bytes_per_file": ("max_bytes_per_file", _INT),
    "sync_every": ("sync_every", _INT),
    "sync_timeout": ("sync_timeout", _DURATION),
    "queue_scan_selection_count": ("queue_scan_selection_count", _INT),
    "queue_scan_worker_pool_max": ("queue_scan_worker_pool_max", _INT),
    "msg_timeout": ("msg_timeout", _DURATION),
    "max_msg_timeout": ("max_msg_timeout", _DURATION),
    "max_msg_size": ("max_msg_size", _INT),
    "max_body_size": ("max_body_size", _INT),
    "max_req_timeout": ("max_req_timeout", _DURATION),
    "max_heartbeat_interval": ("max_heartbeat_interval", _DURATION),
    "max_rdy_count": ("max_rdy_count", _INT),
    "max_output_buffer_size": ("max_output_buffer_size", _INT),
    "max_output_buffer_timeout": ("max_output_buffer_timeout", _DURATION),
    "min_output_buffer_timeout": ("min_output_buffer_timeout", _DURATION),
    "output_buffer_timeout": ("output_buffer_timeout", _DURATION),
    "max_channel_consumers": ("max_channel_consumers", _INT),
    "statsd_address": ("statsd_address", _STR),
    "statsd_prefix": ("statsd_prefix", _STR),
    "statsd_interval": ("statsd_interval", _DURATION),
    "statsd_mem_stats": ("statsd_mem_stats", _BOOL),
    "statsd_udp_packet_size": ("statsd_udp_packet_size", _INT),
    "statsd_exclude_ephemeral": ("statsd_exclude_ephemeral", _BOOL),
    "e2e_processing_latency_window_time": (
        "e2e_processing_latency_window_time",
        _DURATION,
    ),
    "e2e_processing_latency_percentiles": (
        "e2e_processing_latency_percentiles",
        _FLOATS,
    ),
    "tls_cert": ("tls_cert", _STR),
    "tls_key": ("tls_key", _STR),
    "tls_client_auth_policy": ("tls_client_auth_policy", _STR),
    "tls_root_ca_file": ("tls_root_ca_file", _STR),
    "tls_required": ("tls_required", _INT),
    "tls_min_version": ("tls_min_version", _TLSVERSION),
    "deflate": ("deflate", _BOOL),
    "max_deflate_level": ("max_deflate_level", _INT),
    "snappy": ("snappy", _BOOL),
}


def _logged(
    f: Callable[Concatenate[S, IRequest, P], R],
) -> Callable[Concatenate[S, IRequest, P], R]:
    """
    Go's C{http_api.Log}: after the handler, log
    C{<status> <method> <uri> (<remote>) <elapsed>} at INFO.  (Go logs
    every endpoint but C{/pub} and C{/mpub}.)
    """

    def log(request: IRequest, status: int, start: int) -> None:
        peer = _untyped(request).getClientAddress()
        _log.info(
            "{status} {method} {uri} ({remote}) {elapsed}",
            status=status,
            method=request.method.decode("latin-1"),
            uri=request.uri.decode("latin-1"),
            remote=f"{getattr(peer, 'host', '')}:{getattr(peer, 'port', 0)}",
            elapsed=formatDurationNanoseconds(time.perf_counter_ns() - start),
        )

    @functools.wraps(f)
    def logged(self: S, request: IRequest, *args: P.args, **kwargs: P.kwargs) -> R:
        start = time.perf_counter_ns()
        try:
            result = f(self, request, *args, **kwargs)
        except HTTPError as e:
            log(request, e.code, start)
            raise
        log(request, 200, start)
        return result

    return cast("Callable[Concatenate[S, IRequest, P], R]", logged)


class _JSONNull:
    """
    The type of L{JSON_NULL}.
    """


JSON_NULL = _JSONNull()
"""
What a L{_v1} handler returns for Go's nil slice: a JSON C{null} body.
"""


def _respondV1(request: IRequest, data: Any) -> bytes:
    if data is JSON_NULL:
        body = encodeJSON(None)
        req = _untyped(request)
        req.setHeader(b"X-NSQ-Content-Type", NSQ_CONTENT_TYPE)
        req.setHeader(b"Content-Type", JSON_CONTENT_TYPE)
        req.setHeader(b"Content-Length", b"%d" % (len(body),))
        return body
    return respondV1(request, 200, data)


def _v1(f: Callable[Concatenate[S, IRequest, P], Any]) -> Any:
    """
    L{v1} that also answers L{JSON_NULL} as a JSON C{null}.
    """
    return _decorate(
        f, _respondV1, lambda request, e: respondV1(request, e.code, e.message)
    )


def _contentLength(request: IRequest) -> int:
    """
    Go's C{Request.ContentLength}: the declared length, -1 when unknown
    (chunked), 0 without a body.
    """
    headers = request.requestHeaders
    if headers.hasHeader(b"transfer-encoding"):
        return -1
    declared = headers.getRawHeaders(b"content-length")
    if not declared:
        return 0
    try:
        return int(declared[0])
    except ValueError:
        return -1


def _readBody(request: IRequest, limit: int) -> bytes:
    """
    At most C{limit} bytes of the body (Go's C{io.LimitReader}).
    """
    content = request.content
    if content is None:
        return b""
    content.seek(0)
    data: bytes = content.read(limit)
    return data


def parseBinaryMPUB(data: bytes, maxMsgSize: int, maxBodySize: int) -> list[bytes]:
    """
    A binary C{/mpub} body: C{[int32 count]} then count times
    C{[int32 size][bytes]} (TCP C{MPUB} without its outer size).  Bytes
    after the last message are ignored, as Go does.

    @raise HTTPError: 413 with the TCP error code minus C{E_}:
        C{BAD_BODY} for a missing or out-of-range count, C{BAD_MESSAGE} for
        a missing, empty, oversized or truncated message.
    """
    if len(data) < 4:
        raise HTTPError(413, "BAD_BODY")
    (count,) = _INT32.unpack_from(data)
    # Go's (maxBodySize - 4) / 5: each message needs a size and a byte.
    room = maxBodySize - 4
    maxMessages = room // 5 if room >= 0 else -((-room) // 5)
    if count <= 0 or count > maxMessages:
        raise HTTPError(413, "BAD_BODY")
    bodies = []
    position = 4
    end = len(data)
    for _ in range(count):
        if position + 4 > end:
            raise HTTPError(413, "BAD_MESSAGE")
        (size,) = _INT32.unpack_from(data, position)
        position += 4
        if size <= 0 or size > maxMsgSize or position + size > end:
            raise HTTPError(413, "BAD_MESSAGE")
        bodies.append(data[position : position + size])
        position += size
    return bodies


def parseTextMPUB(data: bytes, maxMsgSize: int, maxBodySize: int) -> list[bytes]:
    """
    A text C{/mpub} body: one message per line, Go's way.  C{data} holds at
    most C{maxBodySize + 1} bytes (more means the body was too big).  Each
    line loses its C{\\n} (a C{\\r} stays); empty lines are skipped.

    @raise HTTPError: 413 C{BODY_TOO_BIG} or C{MSG_TOO_BIG}, whichever Go
        meets first reading line by line.
    """
    readMax = maxBodySize + 1
    bodies = []
    total = 0
    position = 0
    while True:
        newline = data.find(b"\n", position)
        last = newline < 0
        stop = len(data) if last else newline + 1
        total += stop - position
        if total >= readMax:
            raise HTTPError(413, "BODY_TOO_BIG")
        block = data[position : stop if last else newline]
        if block:
            if len(block) > maxMsgSize:
                raise HTTPError(413, "MSG_TOO_BIG")
            bodies.append(block)
        if last:
            return bodies
        position = stop


class NSQDHTTPAPI:
    """
    The routes of nsqd's HTTP API over a L{Broker}.

    @ivar broker: the topics and channels.
    @ivar config: the options (C{PUT /config} changes them).
    @ivar connections: the TCP connections, for C{/stats} clients and
        producers.
    @ivar clock: the time source.
    @ivar health: nsqd's health, shared with whatever writes to backends.
    @ivar tcpPort: the port the TCP listener is bound to (-1: a unix
        socket or not listening yet), for C{/info}.
    @ivar startTime: when nsqd started (POSIX seconds).
    """

    app = Klein()

    def __init__(
        self,
        broker: Broker,
        config: NSQDConfig,
        connections: Collection[ClientCounters],
        clock: IReactorTime,
        *,
        health: Health | None = None,
        tcpPort: int = -1,
        startTime: float | None = None,
        onLookupdAddresses: Callable[[list[str]], object] | None = None,
        onLogLevel: Callable[[str], object] | None = None,
    ) -> None:
        """
        @param onLookupdAddresses: called with the new list after a
            successful C{PUT /config/nsqlookupd_tcp_addresses} (the lookupd
            peers reconnect to the new set, as Go's do).
        @param onLogLevel: called with the new level name after a successful
            C{PUT /config/log_level}.
        """
        self.broker = broker
        self.config = config
        self.connections = connections
        self.clock = clock
        self.health = health if health is not None else Health()
        self.tcpPort = tcpPort
        #: The bound HTTPS port, once known (Go's TLS_REQUIRED names it).
        self.httpsPort: Callable[[], int | None] = lambda: None
        self.startTime = clock.seconds() if startTime is None else startTime
        self.onLookupdAddresses = onLookupdAddresses
        self.onLogLevel = onLogLevel
        self.e2eLatency = E2ELatencyTracker(broker, config, clock.seconds)
        self._gcPauses = GCPauseRecorder.install()
        # Go's slice after PUT "null": encoded as null until the next PUT.
        self._lookupdNil = False

    @classmethod
    def forService(cls, service: NSQDService) -> NSQDHTTPAPI:
        """
        The API of a running L{NSQDService}: its broker, config, TCP
        connections and bound TCP port.

        After C{PUT /config/nsqlookupd_tcp_addresses} the service's
        C{lookupdAddressesChanged(addresses)} is called if it has one, else
        its C{lookupPeers.setAddresses(addresses)}; after C{PUT
        /config/log_level}, its C{logLevelChanged(level)} if it has one.
        """
        factory = service.factory

        def lookupdChanged(addresses: list[str]) -> None:
            hook = getattr(service, "lookupdAddressesChanged", None)
            if hook is None:
                peers = getattr(service, "lookupPeers", None)
                hook = getattr(peers, "setAddresses", None)
            if hook is not None:
                hook(addresses)

        def logLevelChanged(level: str) -> None:
            hook = getattr(service, "logLevelChanged", None)
            if hook is not None:
                hook(level)

        health = getattr(service, "health", None)
        api = cls(
            service.broker,
            service.config,
            factory.connections,
            factory.clock,
            health=health if isinstance(health, Health) else None,
            onLookupdAddresses=lookupdChanged,
            onLogLevel=logLevelChanged,
        )

        def listening(port: IListeningPort) -> None:
            bound = ipPort(port.getHost())
            api.tcpPort = -1 if bound is None else bound

        service.whenTCPListening().addCallbacks(listening, lambda failure: None)
        api.httpsPort = lambda: getattr(service, "boundHTTPSPort", None)
        return api

    def resource(self, secure: bool = False) -> IResource:
        """
        The root resource to serve (with L{NSQDSite}), with Go's router
        behaviour; with C{--tls-required=true}, Go's C{403 TLS_REQUIRED}
        for every request on the plain-HTTP listener (C{secure} is for the
        HTTPS one).
        """
        if self.config.tls_required == _TLS_REQUIRED and not secure:
            return _TLSRequired(self.config, self.httpsPort)
        return _PublishFastPath(
            {b"/pub": self.pub, b"/mpub": self.mpub}, GoRouter.forKlein(self.app)
        )

    # Helpers.

    def _topicFromQuery(self, request: IRequest) -> tuple[RequestParams, str]:
        # Go's getTopicFromQuery: parse, require and validate the topic,
        # then create it.
        params = RequestParams.fromRequest(request)
        topic = params.topic()
        if not isValidName(topic):
            raise HTTPError(400, "INVALID_TOPIC")
        self.broker.getTopic(topic)
        return params, topic

    def _existingTopic(self, request: IRequest) -> tuple[Topic, str]:
        # Go's getExistingTopicFromQuery.
        topicName, channelName = RequestParams.fromRequest(request).topicAndChannel()
        topic = self.broker.topics.get(topicName)
        if topic is None:
            raise HTTPError(404, "TOPIC_NOT_FOUND")
        return topic, channelName

    def _afterStart(self, topic: str, result: str) -> str | Deferred[str]:
        # Go's GetTopic blocks until a new topic has learnt its channels
        # from nsqlookupd; the reply waits for the same moment here.
        created = self.broker.topics.get(topic)
        if created is None or not created.starting:
            return result
        started: Deferred[str] = Deferred()
        created.whenStarted(lambda: started.callback(result))
        return started

    def _publish(self, topic: str, bodies: list[bytes], deferMs: int = 0) -> None:
        broker = self.broker
        if broker.closing:
            raise HTTPError(503, "EXITING")
        try:
            broker.publish(topic, bodies, self.clock.seconds(), deferMs)
        except OSError as e:
            self.health.set(e)
            _log.error(
                "failed to put messages to topic ({topic}) - {e}", topic=topic, e=e
            )
            raise HTTPError(503, "EXITING") from None

    # Endpoints.

    @app.route("/ping", methods=["GET"])
    @plainText
    @_logged
    def ping(self, request: IRequest) -> str:
        """
        C{GET /ping}: C{OK} (plain text), or 500 C{NOK - <error>} while a
        backend write is failing.
        """
        if not self.health.healthy:
            raise HTTPError(500, self.health.text())
        return "OK"

    @app.route("/info", methods=["GET"])
    @v1
    @_logged
    def info(self, request: IRequest) -> dict[str, Any]:
        """
        C{GET /info}: version, addresses and the limits clients negotiate
        (durations in nanoseconds).
        """
        config = self.config
        bound = ipPort(_untyped(request).getHost())
        httpPort = -1 if bound is None else bound
        return {
            "version": NSQ_VERSION,
            "broadcast_address": config.broadcast_address,
            "hostname": socket.gethostname(),
            "http_port": httpPort,
            "tcp_port": self.tcpPort,
            "start_time": int(self.startTime),
            "max_heartbeat_interval": _nanoseconds(config.max_heartbeat_interval),
            "max_output_buffer_size": config.max_output_buffer_size,
            "max_output_buffer_timeout": _nanoseconds(config.max_output_buffer_timeout),
            "max_deflate_level": config.max_deflate_level,
        }

    @app.route("/stats", methods=["GET"])
    @v1
    @_logged
    def stats(self, request: IRequest) -> dict[str, Any] | bytes:
        """
        C{GET /stats}: text by default, JSON with C{format=json}; filters
        C{topic=} and C{channel=}; C{include_clients=false} and
        C{include_mem=false} leave those parts out.
        """
        params = RequestParams.fromRequest(request)
        topic = params.get("topic") or ""
        channel = params.get("channel") or ""
        includeClients = _BOOL_PARAMS.get(params.get("include_clients") or "", True)
        includeMem = _BOOL_PARAMS.get(params.get("include_mem") or "", True)
        now = self.clock.seconds()
        stats = gatherStats(
            self.broker,
            self.connections,
            topic=topic,
            channel=channel,
            includeClients=includeClients,
            now=now,
        )
        memory = memoryStats(self._gcPauses) if includeMem else None
        health = self.health.text()
        if params.get("format") != "json":
            text = formatStatsText(stats, memory, health, self.startTime, now)
            try:
                return text.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                return text.encode("utf-8", "replace")
        result: dict[str, Any] = {
            "version": NSQ_VERSION,
            "health": health,
            "start_time": int(self.startTime),
            "topics": stats.topics,
        }
        if memory is not None:
            result["memory"] = memory
        result["producers"] = stats.producers
        return result

    @app.route("/pub", methods=["POST"])
    @v1
    def pub(self, request: IRequest) -> str | Deferred[str]:
        """
        C{POST /pub?topic=<t>[&defer=<ms>]}: publish the body as one
        message (deferred by C{defer} milliseconds, at most
        C{--max-req-timeout}).
        """
        maxMsgSize = self.config.max_msg_size
        if _contentLength(request) > maxMsgSize:
            raise HTTPError(413, "MSG_TOO_BIG")
        body = _readBody(request, maxMsgSize + 1)
        if len(body) > maxMsgSize:
            raise HTTPError(413, "MSG_TOO_BIG")
        if not body:
            raise HTTPError(400, "MSG_EMPTY")
        params, topic = self._topicFromQuery(request)
        deferMs = 0
        deferText = params.get("defer")
        if deferText is not None:
            try:
                milliseconds = parseInt(deferText, base=10)
            except ValueError:
                raise HTTPError(400, "INVALID_DEFER") from None
            # Go multiplies into a time.Duration, which wraps around: a huge
            # value can land in range (and then defers by what it wrapped to).
            deferNs = _wrapInt64(milliseconds * 1_000_000)
            if deferNs < 0 or deferNs > _nanoseconds(self.config.max_req_timeout):
                raise HTTPError(400, "INVALID_DEFER")
            deferMs = deferNs // 1_000_000
        self._publish(topic, [body], deferMs)
        return self._afterStart(topic, "OK")

    @app.route("/mpub", methods=["POST"])
    @v1
    def mpub(self, request: IRequest) -> str | Deferred[str]:
        """
        C{POST /mpub?topic=<t>[&binary=true]}: publish several messages,
        one per line, or in the binary C{MPUB} format when C{binary} is
        C{true}, C{1} or (deprecated) any value but C{false} and C{0}.
        """
        config = self.config
        if _contentLength(request) > config.max_body_size:
            raise HTTPError(413, "BODY_TOO_BIG")
        params, topic = self._topicFromQuery(request)
        binary = False
        binaryText = params.get("binary")
        if binaryText is not None:
            known = _BOOL_PARAMS.get(binaryText)
            if known is None:
                _log.warn(
                    "deprecated value '{value}' used for /mpub binary param",
                    value=binaryText,
                )
            binary = True if known is None else known
        if binary:
            data = _readBody(
                request, max(config.max_body_size, config.max_msg_size) + 1
            )
            bodies = parseBinaryMPUB(data, config.max_msg_size, config.max_body_size)
        else:
            data = _readBody(request, config.max_body_size + 1)
            bodies = parseTextMPUB(data, config.max_msg_size, config.max_body_size)
        self._publish(topic, bodies)
        return self._afterStart(topic, "OK")

    @app.route("/topic/create", methods=["POST"])
    @v1
    @_logged
    def topicCreate(self, request: IRequest) -> None:
        """
        C{POST /topic/create?topic=<t>}.
        """
        self._topicFromQuery(request)

    @app.route("/topic/delete", methods=["POST"])
    @v1
    @_logged
    def topicDelete(self, request: IRequest) -> None:
        """
        C{POST /topic/delete?topic=<t>}: the topic, its channels and their
        messages go (the name is not validated: a bad one is not found).
        """
        topic = RequestParams.fromRequest(request).topic()
        if not self.broker.deleteTopic(topic):
            raise HTTPError(404, "TOPIC_NOT_FOUND")

    @app.route("/topic/empty", methods=["POST"])
    @v1
    @_logged
    def topicEmpty(self, request: IRequest) -> None:
        """
        C{POST /topic/empty?topic=<t>}: drop what the topic itself holds
        (its channels keep theirs).
        """
        topicName = RequestParams.fromRequest(request).topic()
        if not isValidName(topicName):
            raise HTTPError(400, "INVALID_TOPIC")
        topic = self.broker.topics.get(topicName)
        if topic is None:
            raise HTTPError(404, "TOPIC_NOT_FOUND")
        topic.empty()

    def _pauseTopic(self, request: IRequest, paused: bool) -> None:
        topic = RequestParams.fromRequest(request).topic()
        if not self.broker.pauseTopic(topic, paused, self.clock.seconds()):
            raise HTTPError(404, "TOPIC_NOT_FOUND")

    @app.route("/topic/pause", methods=["POST"])
    @v1
    @_logged
    def topicPause(self, request: IRequest) -> None:
        """
        C{POST /topic/pause?topic=<t>}: messages pile up in the topic.
        """
        self._pauseTopic(request, True)

    @app.route("/topic/unpause", methods=["POST"])
    @v1
    @_logged
    def topicUnpause(self, request: IRequest) -> None:
        """
        C{POST /topic/unpause?topic=<t>}: resume, delivering the pile.
        """
        self._pauseTopic(request, False)

    @app.route("/channel/create", methods=["POST"])
    @v1
    @_logged
    def channelCreate(self, request: IRequest) -> None:
        """
        C{POST /channel/create?topic=<t>&channel=<c>}: the topic must
        exist.
        """
        topic, channel = self._existingTopic(request)
        self.broker.getChannel(topic.name, channel, self.clock.seconds())

    @app.route("/channel/delete", methods=["POST"])
    @v1
    @_logged
    def channelDelete(self, request: IRequest) -> None:
        """
        C{POST /channel/delete?topic=<t>&channel=<c>}: its consumers are
        disconnected and its messages dropped.
        """
        topic, channel = self._existingTopic(request)
        if not self.broker.deleteChannel(topic.name, channel):
            raise HTTPError(404, "CHANNEL_NOT_FOUND")

    @app.route("/channel/empty", methods=["POST"])
    @v1
    @_logged
    def channelEmpty(self, request: IRequest) -> None:
        """
        C{POST /channel/empty?topic=<t>&channel=<c>}: drop its queued,
        in-flight and deferred messages.
        """
        topic, channelName = self._existingTopic(request)
        channel = topic.channels.get(channelName)
        if channel is None:
            raise HTTPError(404, "CHANNEL_NOT_FOUND")
        channel.empty()

    def _pauseChannel(self, request: IRequest, paused: bool) -> None:
        topic, channel = self._existingTopic(request)
        if not self.broker.pauseChannel(
            topic.name, channel, paused, self.clock.seconds()
        ):
            raise HTTPError(404, "CHANNEL_NOT_FOUND")

    @app.route("/channel/pause", methods=["POST"])
    @v1
    @_logged
    def channelPause(self, request: IRequest) -> None:
        """
        C{POST /channel/pause?topic=<t>&channel=<c>}: keep receiving,
        deliver nothing.
        """
        self._pauseChannel(request, True)

    @app.route("/channel/unpause", methods=["POST"])
    @v1
    @_logged
    def channelUnpause(self, request: IRequest) -> None:
        """
        C{POST /channel/unpause?topic=<t>&channel=<c>}: deliver again.
        """
        self._pauseChannel(request, False)

    @app.route("/config/<opt>", methods=["GET", "PUT"])
    @_v1
    @_logged
    def configOption(self, request: IRequest, opt: str) -> Any:
        """
        C{GET /config/<opt>}: an option by its config-file name (strings
        as plain text, durations in nanoseconds, the log level as 1-5).
        C{PUT} sets C{nsqlookupd_tcp_addresses} (a JSON list of strings)
        or C{log_level} (C{debug}, C{info}, C{warn}, C{error}, C{fatal})
        and answers the new value.
        """
        if request.method == b"PUT":
            self._setOption(request, opt)
        return self._option(opt)

    def _setOption(self, request: IRequest, opt: str) -> None:
        limit = self.config.max_msg_size + 1
        body = _readBody(request, limit)
        if len(body) == limit or not body:
            raise HTTPError(413, "INVALID_VALUE")
        if opt == "nsqlookupd_tcp_addresses":
            try:
                value = json.loads(body.decode("utf-8", "replace"))
            except ValueError:
                raise HTTPError(400, "INVALID_VALUE") from None
            if value is not None and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                raise HTTPError(400, "INVALID_VALUE")
            addresses = list(value or [])
            self.config.nsqlookupd_tcp_addresses = addresses
            self._lookupdNil = value is None
            if self.onLookupdAddresses is not None:
                self.onLookupdAddresses(list(addresses))
        elif opt == "log_level":
            level = body.decode("utf-8", "surrogateescape").lower()
            if level not in _LOG_LEVELS:
                raise HTTPError(400, "INVALID_VALUE")
            self.config.log_level = level
            if self.onLogLevel is not None:
                self.onLogLevel(level)
        else:
            raise HTTPError(400, "INVALID_OPTION")

    def _option(self, opt: str) -> Any:
        known = _OPTIONS.get(opt)
        if known is None:
            raise HTTPError(400, "INVALID_OPTION")
        attribute, kind = known
        value = getattr(self.config, attribute)
        if kind == _DURATION:
            return _nanoseconds(value)
        if kind == _LOGLEVEL:
            return _LOG_LEVELS.get(str(value).lower(), 0)
        if kind == _TLSVERSION:
            return _TLS_VERSIONS.get(str(value).lower(), 0)
        if kind == _STRINGS:
            if opt == "nsqlookupd_tcp_addresses" and self._lookupdNil and not value:
                return JSON_NULL
            return list(value)
        if kind == _FLOATS:
            # Go's slice is nil unless the flag was given.
            return [float(v) for v in value] or JSON_NULL
        if kind == _STR:
            return str(value)
        if kind == _BOOL:
            return bool(value)
        return int(value)

    @app.route("/debug/setblockrate", methods=["PUT"])
    @plainText
    @_logged
    def setBlockRate(self, request: IRequest) -> None:
        """
        C{PUT /debug/setblockrate?rate=<n>}: Go's block profiler has no
        Python counterpart, so a valid rate changes nothing; like Go 1.3.0
        the answer is then 500 C{INTERNAL_ERROR}.
        """
        rate = _formValue(request, "rate")
        try:
            parseInt(rate, base=10)
        except ValueError as e:
            quoted = goQuote(rate)
            message = f"invalid block rate : strconv.Atoi: parsing {quoted}: {e}"
            raise HTTPError(400, message) from None

    @app.route("/debug/freememory", methods=["POST"])
    @plainText
    @_logged
    def freeMemory(self, request: IRequest) -> None:
        """
        C{POST /debug/freememory}: a full garbage collection; like Go 1.3.0
        the answer is then 500 C{INTERNAL_ERROR}.
        """
        gc.collect()


def _lenientQuery(raw: bytes) -> dict[str, list[str]]:
    # Go's url.ParseQuery keeps the good pairs when some are malformed;
    # Request.FormValue ignores the error.
    values: dict[str, list[str]] = {}
    for part in raw.split(b"&"):
        try:
            parsed = parseQuery(part)
        except QueryError:
            continue
        for key, found in parsed.items():
            values.setdefault(key, []).extend(found)
    return values


def _formValue(request: IRequest, key: str) -> str:
    """
    Go's C{Request.FormValue}: the first value of C{key} in a URL-encoded
    form body (C{POST}/C{PUT}/C{PATCH}) or else in the query string.
    """
    form: dict[str, list[str]] = {}
    contentType: bytes = _untyped(request).getHeader(b"content-type") or b""
    if (
        request.method in (b"POST", b"PUT", b"PATCH")
        and contentType.split(b";")[0].strip().lower()
        == b"application/x-www-form-urlencoded"
    ):
        form = _lenientQuery(_readBody(request, 10 << 20))
    for key2, found in _lenientQuery(request.uri.partition(b"?")[2]).items():
        form.setdefault(key2, []).extend(found)
    values = form.get(key)
    return values[0] if values else ""


class _TLSRequired(Resource):
    """
    Go's plain-HTTP answer when C{--tls-required=true}: 403 with a
    hand-written JSON body (spaces included) naming the HTTPS port.
    """

    isLeaf = True

    def __init__(self, config: NSQDConfig, boundPort: Callable[[], int | None]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        try:
            self._configuredPort = int(splitHostPort(config.https_address)[1])
        except ValueError:
            self._configuredPort = 0
        self._boundPort = boundPort

    @property
    def _body(self) -> bytes:
        port = self._boundPort()
        if port is None:
            port = self._configuredPort
        return b'{"message": "TLS_REQUIRED", "https_port": %d}' % (port,)

    def render(self, request: IRequest) -> bytes:
        """
        403 C{TLS_REQUIRED}, whatever the request.
        """
        req = _untyped(request)
        req.setHeader(b"X-NSQ-Content-Type", NSQ_CONTENT_TYPE)
        req.setHeader(b"Content-Type", JSON_CONTENT_TYPE)
        req.setResponseCode(403)
        req.setHeader(b"Content-Length", b"%d" % (len(self._body),))
        return self._body


class _PublishFastPath(Resource):
    """
    Sends C{POST /pub} and C{POST /mpub} (exactly those paths) straight to
    their handlers, and everything else through the router and Klein.

    The router would pick the same handlers for these requests; skipping
    its route scan and Klein's per-request werkzeug matching and Deferred
    plumbing more than doubles the publish rate, which is the hot path.
    """

    isLeaf = True

    def __init__(
        self, handlers: dict[bytes, Callable[[IRequest], Any]], router: IResource
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._handlers = handlers
        self._router = router

    def render(self, request: IRequest) -> Any:
        """
        Dispatch.
        """
        if request.method == b"POST":
            handler = self._handlers.get(_untyped(request).path)
            if handler is not None:
                result = handler(request)
                if isinstance(result, Deferred):
                    # Answered later (a new topic learning its channels).
                    result.addCallback(_untyped(request).write)
                    result.addCallback(lambda _: _untyped(request).finish())
                    return NOT_DONE_YET
                return result
        return _untyped(self._router).render(request)


_apis: WeakKeyDictionary[NSQDService, NSQDHTTPAPI] = WeakKeyDictionary()


def httpResource(service: NSQDService, secure: bool = False) -> IResource:
    """
    The L{txnsq.nsqd.service.HTTPResourceFactory} for nsqd's HTTP API:
    one API per service, served by the HTTP listener and (C{secure}) the
    HTTPS one.  Serve it with L{NSQDSite}.
    """
    api = _apis.get(service)
    if api is None:
        api = _apis[service] = NSQDHTTPAPI.forService(service)
    return api.resource(secure)


class _BoundedRequest(_GoRequest):
    """
    A request that keeps at most its site's C{bodyLimit} bytes of body
    (in memory) and discards the rest, noting it in L{bodyTruncated}.
    Request bodies are never parsed as forms: Go's handlers read only the
    query string.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._parsePOSTFormSubmission = False
        self._bodyRoom = 0
        self.bodyTruncated = False

    def gotLength(self, length: int | None) -> None:
        """
        Prepare an in-memory body bounded by the site's limit.
        """
        site = getattr(self.channel, "site", None)
        limit = site.bodyLimit() if isinstance(site, NSQDSite) else sys.maxsize
        self._bodyRoom = limit
        self.content = BytesIO()

    def handleContentChunk(self, data: bytes) -> None:
        """
        Keep what fits; drop the rest.
        """
        room = self._bodyRoom
        if len(data) > room:
            data = data[:room]
            self.bodyTruncated = True
        if data:
            self._bodyRoom = room - len(data)
            content: Any = self.content
            content.write(data)


class NSQDSite(GoSite):
    """
    The site for nsqd's HTTP API: Go's router behaviour (L{GoSite}),
    request bodies bounded by C{max(--max-msg-size, --max-body-size) + 1}
    bytes and never parsed as forms, and no access log (Go logs requests
    itself, see L{NSQDHTTPAPI}).
    """

    requestFactory = _BoundedRequest
    noisy = False

    def __init__(
        self,
        resource: IResource,
        config: NSQDConfig,
        reactor: IReactorTime | None = None,
    ) -> None:
        """
        @param reactor: the clock for idle-connection timeouts (the global
            reactor if omitted).
        """
        super().__init__(resource, reactor=reactor)  # type: ignore[no-untyped-call]
        self.config = config

    def bodyLimit(self) -> int:
        """
        How many body bytes a request keeps: one more than the largest
        body any endpoint accepts, so a handler can tell "too big".
        """
        config = self.config
        return max(config.max_msg_size, config.max_body_size) + 1

    def log(self, request: object) -> None:
        """
        No access log.
        """
