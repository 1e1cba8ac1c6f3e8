# -*- test-case-name: tests.nsqd.test_http -*-
"""
nsqd's HTTP API (C{--http-address}), as Go nsqd 1.3.0 serves it.

L{NSQDHTTPAPI} holds the routes; serve its L{NSQDHTTPAPI.resource} with
L{NSQDSite}, which bounds request bodies.  Whoever builds nsqd
(L{txnsq.nsqd.tap.nsqdService}) wires the API to the running service.

Endpoints: C{/ping}, C{/info}, C{/stats}, C{/pub}, C{/mpub},
C{/topic/{create,delete,empty,pause,unpause}},
C{/channel/{create,delete,empty,pause,unpause}}, C{GET}/C{PUT}
C{/config/:opt}, C{PUT /debug/setblockrate} and C{POST /debug/freememory};
and C{GET /metrics}, txnsq's own (Go nsqd has none): Prometheus metrics
under lovoo nsq_exporter's names (L{txnsq.metrics.prometheus}).
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

  - Like Go, requests other than C{/pub} and C{/mpub} are logged at INFO
    as C{<status> <method> <uri> (<peer>) <elapsed>}.
  - C{GET /config/:opt} knows the options of nsqd's flag table
    (L{txnsq.nsqd.options.NSQD_FLAGS}) by their config-file names, less
    those Go 1.3.0 lacks.
  - The text C{/stats} page starts with Go's version line, whose build
    part names txnsq (C{nsqd v1.3.0 (built w/txnsq-0.1.0)}, see
    L{txnsq.nsqd.stats.STATS_TEXT_VERSION}).
  - twisted.web adds a C{Server} header and closes connections idle for
    60 seconds; Go's server sends no C{Server} header and keeps idle
    connections.

Request bodies: L{NSQDSite} stores at most C{max(--max-msg-size,
--max-body-size) + 1} bytes of any request body and discards the rest, so
a huge or endless body costs no memory.  Every handler reads at most that
many bytes, so a truncated body gets Go's answer (C{413 MSG_TOO_BIG},
C{BODY_TOO_BIG}, C{INVALID_VALUE}).  As in Go, the answer comes as soon as
the body is known to be too big (from its declared C{Content-Length}, or
once that many bytes have arrived), and the connection is then closed
without reading the rest.  One difference remains: a chunked binary
C{/mpub} body is limited to that bound too (Go only checks the declared
C{Content-Length} in binary mode).
"""

from __future__ import annotations

import gc
import json
import socket
import struct
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource

from txnsq import NSQ_VERSION
from txnsq._endpoints import ipPort, splitHostPort
from txnsq._go.flags import (
    BOOL,
    DURATION,
    FLOAT_LIST,
    INT,
    LOG_LEVEL,
    LOG_LEVELS,
    STRING,
    STRING_LIST,
    FlagTable,
    FlagType,
)
from txnsq._go.json import EncodedJSON, UnsupportedValueError
from txnsq._go.values import goQuote, parseBool, parseInt
from txnsq._http import (
    JSON_CONTENT_TYPE,
    JSON_NULL,
    NSQ_CONTENT_TYPE,
    PLAIN_TEXT,
    RAW,
    GoRouter,
    GoSite,
    HTTPError,
    RawResponse,
    RequestParams,
    Routes,
    contentLength,
    formValue,
    readBody,
)
from txnsq._logging import Logger
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.options import (
    AFTER_1_3_0_FIELDS,
    NSQD_FLAGS,
    TLS_MIN_VERSION_TYPE,
    TLS_REQUIRED,
    TLS_REQUIRED_TYPE,
)
from txnsq.nsqd.state import Broker, Topic
from txnsq.nsqd.stats import (
    ClientCounters,
    GCPauseRecorder,
    Health,
    Stats,
    gatherStats,
    memoryStats,
    statsJSON,
    statsText,
)
from txnsq.wire.names import isValidName

if TYPE_CHECKING:
    from txnsq.metrics.prometheus import NSQDMetrics

__all__ = [
    "NSQDHTTPAPI",
    "NSQDSite",
    "configOptions",
    "parseBinaryMPUB",
    "parseTextMPUB",
]

_log = Logger(namespace="txnsq.nsqd.http")

#: Go's boolParams: what C{binary}, C{include_clients} and C{include_mem}
#: understand.
_BOOL_PARAMS = {"true": True, "1": True, "false": False, "0": False}

_TLS_VERSIONS = {"ssl3.0": 0x0300, "tls1.0": 0x0301, "tls1.1": 0x0302}
_TLS_VERSIONS.update({"tls1.2": 0x0303, "tls1.3": 0x0304})

_INT32 = struct.Struct(">i")


def _untyped(request: object) -> Any:
    # twisted.web's IRequest methods are untyped; call them through Any.
    return request


def _nanoseconds(seconds: float) -> int:
    return round(seconds * 1e9)


def _wrapInt64(value: int) -> int:
    value &= 2**64 - 1
    return value - 2**64 if value >= 2**63 else value


def _noPort() -> int | None:
    return None


# GET /config/:opt: how Go's JSON encodes each flag type's Options field.


def _logLevelNumber(value: object) -> int:
    # Go's lg.LogLevel: DEBUG is 1 ... FATAL is 5.
    level = str(value).lower()
    return LOG_LEVELS.index(level) + 1 if level in LOG_LEVELS else 0


def _floats(value: Any) -> Any:
    # Go's slice is nil unless the flag was given.
    return [float(v) for v in value] or JSON_NULL


_ENCODINGS: tuple[tuple[FlagType, Callable[[Any], Any]], ...] = (
    (STRING, str),
    (INT, int),
    (BOOL, bool),
    (DURATION, _nanoseconds),
    (STRING_LIST, list),
    (FLOAT_LIST, _floats),
    (LOG_LEVEL, _logLevelNumber),
    (TLS_REQUIRED_TYPE, int),
    (TLS_MIN_VERSION_TYPE, lambda value: _TLS_VERSIONS.get(str(value).lower(), 0)),
)


def _encoding(flagType: FlagType) -> Callable[[Any], Any]:
    for known, encode in _ENCODINGS:
        if known is flagType:
            return encode
    raise ValueError(f"no /config encoding for flag type {flagType!r}")


def configOptions(table: FlagTable) -> dict[str, tuple[str, Callable[[Any], Any]]]:
    """
    What C{GET /config/:opt} can read, from a flag table: each config-file
    name Go's C{Options} answers to (the flag name with C{-} as C{_}, or
    its C{cfg} tag), with the config attribute holding it and its
    encoding.  Flags without a config attribute and those Go 1.3.0 lacks
    (L{AFTER_1_3_0_FIELDS}) are left out.

    @raise ValueError: for a flag type with no known encoding.
    """
    return {
        flag.tomlKey: (flag.attribute, _encoding(flag.type))
        for flag in table.flags
        if flag.tomlKey is not None
        and flag.attribute is not None
        and flag.attribute not in AFTER_1_3_0_FIELDS
    }


_OPTIONS = configOptions(NSQD_FLAGS)


# Bodies.


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


class _ConfigOptions:
    """
    What C{GET} and C{PUT /config/:opt} read and change: the options of
    L{_OPTIONS}, and the two C{PUT} can set.
    """

    def __init__(
        self,
        config: NSQDConfig,
        onLookupdAddresses: Callable[[list[str]], object] | None,
        onLogLevel: Callable[[str], object] | None,
    ) -> None:
        self._config = config
        self._onLookupdAddresses = onLookupdAddresses
        self._onLogLevel = onLogLevel
        # Go's slice after PUT "null": encoded as null until the next PUT.
        self._lookupdNil = False

    def get(self, opt: str) -> Any:
        """
        The option's value as Go's JSON encodes its C{Options} field.

        @raise HTTPError: 400 C{INVALID_OPTION} for an unknown name.
        """
        known = _OPTIONS.get(opt)
        if known is None:
            raise HTTPError(400, "INVALID_OPTION")
        attribute, encode = known
        # The flag table names the attribute.
        value = getattr(self._config, attribute)
        if opt == "nsqlookupd_tcp_addresses" and self._lookupdNil and not value:
            return JSON_NULL
        return encode(value)

    def set(self, opt: str, body: bytes) -> None:
        """
        Set C{nsqlookupd_tcp_addresses} from a JSON list of strings (or
        C{null}), or C{log_level} from a level name, and say so.

        @raise HTTPError: 400 C{INVALID_VALUE} for a value Go refuses, 400
            C{INVALID_OPTION} for any other option.
        """
        config = self._config
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
            config.nsqlookupd_tcp_addresses = addresses
            self._lookupdNil = value is None
            if self._onLookupdAddresses is not None:
                self._onLookupdAddresses(list(addresses))
        elif opt == "log_level":
            level = body.decode("utf-8", "surrogateescape").lower()
            if level not in LOG_LEVELS:
                raise HTTPError(400, "INVALID_VALUE")
            config.log_level = level
            if self._onLogLevel is not None:
                self._onLogLevel(level)
        else:
            raise HTTPError(400, "INVALID_OPTION")


class NSQDHTTPAPI:
    """
    The routes of nsqd's HTTP API over a L{Broker}.

    @ivar broker: the topics and channels.
    @ivar config: the options (C{PUT /config} changes them).
    @ivar connections: the TCP connections, for C{/stats} clients and
        producers.
    @ivar clock: the time source.
    @ivar health: nsqd's health, shared with whatever writes to backends.
    @ivar startTime: when nsqd started (POSIX seconds).
    @ivar metrics: what C{/metrics} renders.
    """

    routes = Routes(log=_log)

    def __init__(
        self,
        broker: Broker,
        config: NSQDConfig,
        connections: Collection[ClientCounters],
        clock: IReactorTime,
        *,
        health: Health | None = None,
        gcPauses: GCPauseRecorder | None = None,
        tcpPort: Callable[[], int | None] = _noPort,
        httpsPort: Callable[[], int | None] = _noPort,
        startTime: float | None = None,
        onLookupdAddresses: Callable[[list[str]], object] | None = None,
        onLogLevel: Callable[[str], object] | None = None,
    ) -> None:
        """
        @param gcPauses: the garbage collection pauses C{/stats} reports
            (none without it).
        @param tcpPort: the port the TCP listener is bound to, L{None}
            until it listens (or on a unix socket), for C{/info}.
        @param httpsPort: the port the HTTPS listener is bound to, L{None}
            until it listens, for Go's C{403 TLS_REQUIRED} answer.
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
        self.startTime = clock.seconds() if startTime is None else startTime
        self._gcPauses = gcPauses
        self._tcpPort = tcpPort
        self._httpsPort = httpsPort
        self._options = _ConfigOptions(config, onLookupdAddresses, onLogLevel)
        self._metrics: NSQDMetrics | None = None

    @property
    def metrics(self) -> NSQDMetrics:
        """
        C{/metrics}' registries, made at the first scrape: prometheus_client
        (1.8 MB resident) is imported only by an nsqd that is scraped.
        """
        if self._metrics is None:
            from txnsq.metrics.prometheus import NSQDMetrics

            self._metrics = NSQDMetrics(
                self._gatherForMetrics, health=self.health, startTime=self.startTime
            )
        return self._metrics

    def resource(self, secure: bool = False) -> IResource:
        """
        The root resource to serve (with L{NSQDSite}), with Go's router
        behaviour; with C{--tls-required=true}, Go's C{403 TLS_REQUIRED}
        for every request on the plain-HTTP listener (C{secure} is for the
        HTTPS one).
        """
        if self.config.tls_required == TLS_REQUIRED and not secure:
            return _TLSRequired(self.config, self._httpsPort)
        return GoRouter.forRoutes(self.routes, self)

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

    def _gatherForMetrics(self, includeClients: bool) -> Stats:
        return gatherStats(
            self.broker,
            self.connections,
            includeClients=includeClients,
            now=self.clock.seconds(),
        )

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

    @routes.route("GET", "/ping", PLAIN_TEXT)
    def ping(self, request: IRequest) -> str:
        """
        C{GET /ping}: C{OK} (plain text), or 500 C{NOK - <error>} while a
        backend write is failing.
        """
        if not self.health.healthy:
            raise HTTPError(500, self.health.text())
        return "OK"

    @routes.route("GET", "/info")
    def info(self, request: IRequest) -> dict[str, Any]:
        """
        C{GET /info}: version, addresses and the limits clients negotiate
        (durations in nanoseconds).
        """
        config = self.config
        bound = ipPort(_untyped(request).getHost())
        tcpPort = self._tcpPort()
        return {
            "version": NSQ_VERSION,
            "broadcast_address": config.broadcast_address,
            "hostname": socket.gethostname(),
            "http_port": -1 if bound is None else bound,
            "tcp_port": -1 if tcpPort is None else tcpPort,
            "start_time": int(self.startTime),
            "max_heartbeat_interval": _nanoseconds(config.max_heartbeat_interval),
            "max_output_buffer_size": config.max_output_buffer_size,
            "max_output_buffer_timeout": _nanoseconds(config.max_output_buffer_timeout),
            "max_deflate_level": config.max_deflate_level,
        }

    @routes.route("GET", "/stats")
    def stats(self, request: IRequest) -> EncodedJSON | bytes:
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
        memory = memoryStats(self._gcPauses) if includeMem else None
        health = self.health.text()
        if params.get("format") == "json":
            # Written directly rather than as objects for encodeJSON: the
            # same bytes, several times faster at thousands of channels.
            try:
                document = statsJSON(
                    self.broker,
                    self.connections,
                    version=NSQ_VERSION,
                    health=health,
                    startTime=int(self.startTime),
                    memory=memory,
                    topic=topic,
                    channel=channel,
                    includeClients=includeClients,
                    now=now,
                )
            except UnsupportedValueError as error:
                # A NaN: the 500 encodeJSON's failure gives any V1 answer.
                raise HTTPError(500, str(error)) from None
            return EncodedJSON(document)
        text = statsText(
            self.broker,
            self.connections,
            memory=memory,
            health=health,
            startTime=self.startTime,
            now=now,
            topic=topic,
            channel=channel,
            includeClients=includeClients,
        )
        try:
            return text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return text.encode("utf-8", "replace")

    @routes.route("GET", "/metrics", RAW)
    def metricsPage(self, request: IRequest) -> RawResponse:
        """
        C{GET /metrics}: Prometheus' text format, gzipped when the
        scraper accepts it; each consumer connection too with
        C{include_clients=true} (any of Go's C{strconv.ParseBool} spellings;
        absent or empty is false, anything else 400).
        """
        value = RequestParams.fromRequest(request).get("include_clients") or ""
        try:
            includeClients = parseBool(value) if value else False
        except ValueError as e:
            raise HTTPError(400, f"invalid include_clients: {e}") from None
        acceptEncoding = request.getHeader(b"accept-encoding") or b""
        page = self.metrics.render(includeClients, acceptEncoding.decode("latin-1"))
        return RawResponse(page.body, page.headers())

    @routes.route("POST", "/pub", logged=False)
    def pub(self, request: IRequest) -> str | Deferred[str]:
        """
        C{POST /pub?topic=<t>[&defer=<ms>]}: publish the body as one
        message (deferred by C{defer} milliseconds, at most
        C{--max-req-timeout}).
        """
        maxMsgSize = self.config.max_msg_size
        if contentLength(request) > maxMsgSize:
            raise HTTPError(413, "MSG_TOO_BIG")
        body = readBody(request, maxMsgSize + 1)
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

    @routes.route("POST", "/mpub", logged=False)
    def mpub(self, request: IRequest) -> str | Deferred[str]:
        """
        C{POST /mpub?topic=<t>[&binary=true]}: publish several messages,
        one per line, or in the binary C{MPUB} format when C{binary} is
        C{true}, C{1} or (deprecated) any value but C{false} and C{0}.
        """
        config = self.config
        if contentLength(request) > config.max_body_size:
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
            data = readBody(request, max(config.max_body_size, config.max_msg_size) + 1)
            bodies = parseBinaryMPUB(data, config.max_msg_size, config.max_body_size)
        else:
            data = readBody(request, config.max_body_size + 1)
            bodies = parseTextMPUB(data, config.max_msg_size, config.max_body_size)
        self._publish(topic, bodies)
        return self._afterStart(topic, "OK")

    @routes.route("POST", "/topic/create")
    def topicCreate(self, request: IRequest) -> None:
        """
        C{POST /topic/create?topic=<t>}.
        """
        self._topicFromQuery(request)

    @routes.route("POST", "/topic/delete")
    def topicDelete(self, request: IRequest) -> None:
        """
        C{POST /topic/delete?topic=<t>}: the topic, its channels and their
        messages go (the name is not validated: a bad one is not found).
        """
        topic = RequestParams.fromRequest(request).topic()
        if not self.broker.deleteTopic(topic):
            raise HTTPError(404, "TOPIC_NOT_FOUND")

    @routes.route("POST", "/topic/empty")
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

    @routes.route("POST", "/topic/pause")
    def topicPause(self, request: IRequest) -> None:
        """
        C{POST /topic/pause?topic=<t>}: messages pile up in the topic.
        """
        self._pauseTopic(request, True)

    @routes.route("POST", "/topic/unpause")
    def topicUnpause(self, request: IRequest) -> None:
        """
        C{POST /topic/unpause?topic=<t>}: resume, delivering the pile.
        """
        self._pauseTopic(request, False)

    @routes.route("POST", "/channel/create")
    def channelCreate(self, request: IRequest) -> None:
        """
        C{POST /channel/create?topic=<t>&channel=<c>}: the topic must
        exist.
        """
        topic, channel = self._existingTopic(request)
        self.broker.getChannel(topic.name, channel, self.clock.seconds())

    @routes.route("POST", "/channel/delete")
    def channelDelete(self, request: IRequest) -> None:
        """
        C{POST /channel/delete?topic=<t>&channel=<c>}: its consumers are
        disconnected and its messages dropped.
        """
        topic, channel = self._existingTopic(request)
        if not self.broker.deleteChannel(topic.name, channel):
            raise HTTPError(404, "CHANNEL_NOT_FOUND")

    @routes.route("POST", "/channel/empty")
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

    @routes.route("POST", "/channel/pause")
    def channelPause(self, request: IRequest) -> None:
        """
        C{POST /channel/pause?topic=<t>&channel=<c>}: keep receiving,
        deliver nothing.
        """
        self._pauseChannel(request, True)

    @routes.route("POST", "/channel/unpause")
    def channelUnpause(self, request: IRequest) -> None:
        """
        C{POST /channel/unpause?topic=<t>&channel=<c>}: deliver again.
        """
        self._pauseChannel(request, False)

    @routes.route(("GET", "PUT"), "/config/:opt")
    def configOption(self, request: IRequest, opt: str) -> Any:
        """
        C{GET /config/<opt>}: an option by its config-file name (strings
        as plain text, durations in nanoseconds, the log level as 1-5).
        C{PUT} sets C{nsqlookupd_tcp_addresses} (a JSON list of strings)
        or C{log_level} (C{debug}, C{info}, C{warn}, C{error}, C{fatal})
        and answers the new value.
        """
        if request.method == b"PUT":
            limit = self.config.max_msg_size + 1
            body = readBody(request, limit)
            if len(body) == limit or not body:
                raise HTTPError(413, "INVALID_VALUE")
            self._options.set(opt, body)
        return self._options.get(opt)

    @routes.route("PUT", "/debug/setblockrate", PLAIN_TEXT)
    def setBlockRate(self, request: IRequest) -> None:
        """
        C{PUT /debug/setblockrate?rate=<n>}: Go's block profiler has no
        Python counterpart, so a valid rate changes nothing; like Go 1.3.0
        the answer is then 500 C{INTERNAL_ERROR}.
        """
        rate = formValue(request, "rate")
        try:
            parseInt(rate, base=10)
        except ValueError as e:
            quoted = goQuote(rate)
            message = f"invalid block rate : strconv.Atoi: parsing {quoted}: {e}"
            raise HTTPError(400, message) from None

    @routes.route("POST", "/debug/freememory", PLAIN_TEXT)
    def freeMemory(self, request: IRequest) -> None:
        """
        C{POST /debug/freememory}: a full garbage collection; like Go 1.3.0
        the answer is then 500 C{INTERNAL_ERROR}.
        """
        gc.collect()


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


class NSQDSite(GoSite):
    """
    The site for nsqd's HTTP API: Go's router behaviour (L{GoSite}),
    request bodies bounded by C{max(--max-msg-size, --max-body-size) + 1}
    bytes and never parsed as forms, and no access log (Go logs requests
    itself, see L{NSQDHTTPAPI}).
    """

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
        self.config = config
        super().__init__(resource, reactor, bodyLimit=self.bodyLimit)

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
