# -*- test-case-name: tests.tools.test_nsq_to_http -*-
"""
C{txnsq nsq_to_http}: Go NSQ 1.3.0's C{nsq_to_http}, making an HTTP
request for each message of a topic's channel.

  - C{--post URL} (repeatable) POSTs the body with C{--content-type} and
    Go's C{User-Agent: nsq_to_http v1.3.0}; a 2xx answer succeeds.
    C{--get URL} (repeatable) GETs the URL with its one C{%s} replaced by
    the body, query-escaped as Go's C{url.QueryEscape}; only 200 succeeds.
    One kind or the other, not both.  C{--header key:value} (repeatable)
    is set on every request, over the default headers.
  - With several URLs, C{--mode} chooses: C{round-robin} (starting with
    the second URL, as Go's counter does), C{hostpool} (the default) and
    C{epsilon-greedy} (see L{txnsq.tools._hostpool}, a port of
    go-hostpool); any other mode sends each message to every URL in
    turn, as Go's does.
  - A failed request (an error, a timeout, or a status that does not
    succeed) requeues the message with go-nsq's delay and backoff; a
    success FINs it.  C{--sample} publishes that fraction of the messages
    (the others are FINed unsent).  C{--n} requests run at once at most.
  - Every C{--status-every} requests a status line is logged per URL
    (when there are several) and in aggregate, as Go's timer_metrics
    prints it.
  - SIGINT or SIGTERM stops the consumer gracefully, then exits 0.

HTTP is treq over an C{Agent} with its own connection pool (not treq's
global one), C{--http-client-connect-timeout} for connecting and
C{--http-client-request-timeout} for the whole request.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote_plus

import attrs
import treq
from twisted.internet.defer import Deferred, DeferredSemaphore
from twisted.logger import Logger
from twisted.python.failure import Failure

from txnsq import NSQ_VERSION
from txnsq._go.flags import (
    DURATION,
    INT,
    STRING,
    STRING_LIST,
    Flag,
    FlagTable,
    FlagType,
    FlagValueError,
)
from txnsq._go.values import NumError, formatFloat, parseFloat
from txnsq._http import TreqClient
from txnsq.client import Consumer, Message
from txnsq.tools._common import (
    channelFlag,
    checkAddressChoice,
    checkNSQDAddresses,
    consumerNameError,
    consumerOptFlag,
    dialError,
    flagStrings,
    flagValue,
    lookupdHTTPAddressFlag,
    lookupdURLs,
    maxInFlightFlag,
    newConsumerError,
    nsqConfig,
    nsqdTCPAddressFlag,
    topicFlag,
    versionFlag,
    watchEndpoints,
)
from txnsq.tools._config import consumerOptions
from txnsq.tools._hostpool import HostPool, hostPoolFor
from txnsq.tools._runner import Fatal, Tool, ToolContext, runTool
from txnsq.tools._timermetrics import TimerMetrics, perAddressMetrics

__all__ = [
    "FLAGS",
    "TOOL",
    "PublishFailed",
    "PublishHandler",
    "getURL",
    "main",
    "parseCustomHeaders",
    "selectMode",
]


#: What the requests say they come from (Go's C{nsq_to_http v1.3.0}).
USER_AGENT = f"nsq_to_http v{NSQ_VERSION}"

DEFAULT_CONTENT_TYPE = "application/octet-stream"


def _setFloat(current: object, text: str) -> float:
    try:
        return parseFloat(text)
    except NumError:
        raise FlagValueError("parse error")


def _floatFromConfig(value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"invalid float64 value type {type(value).__name__}")


def _showFloat(value: object) -> str:
    assert isinstance(value, float)
    return formatFloat(value)


#: Go's C{flag.Float64}.
FLOAT = FlagType("float", _setFloat, _floatFromConfig, _showFloat, "0")

FLAGS = FlagTable(
    "nsq_to_http",
    [
        versionFlag(),
        topicFlag("nsq topic"),
        channelFlag("nsq_to_http", "nsq channel"),
        maxInFlightFlag(200),
        Flag("n", INT, "number of concurrent publishers", default=100),
        Flag(
            "mode",
            STRING,
            "the upstream request mode options: round-robin, hostpool (default),"
            " epsilon-greedy",
            default="hostpool",
        ),
        Flag(
            "sample",
            FLOAT,
            "% of messages to publish (float b/w 0 -> 1)",
            default=1.0,
        ),
        Flag(
            "http-client-connect-timeout",
            DURATION,
            "timeout for HTTP connect",
            default=2.0,
        ),
        Flag(
            "http-client-request-timeout",
            DURATION,
            "timeout for HTTP request",
            default=20.0,
        ),
        Flag(
            "status-every",
            INT,
            "the # of requests between logging status (per handler), 0 disables",
            default=250,
        ),
        Flag(
            "content-type",
            STRING,
            "the Content-Type used for POST requests",
            default=DEFAULT_CONTENT_TYPE,
        ),
        Flag(
            "post",
            STRING_LIST,
            "HTTP address to make a POST request to.  data will be in the body"
            " (may be given multiple times)",
            default=[],
        ),
        Flag(
            "header",
            STRING_LIST,
            "Custom header for HTTP requests (may be given multiple times)",
            default=[],
        ),
        Flag(
            "get",
            STRING_LIST,
            "HTTP address to make a GET request to. '%s' will be printf replaced"
            " with data (may be given multiple times)",
            default=[],
        ),
        nsqdTCPAddressFlag(),
        lookupdHTTPAddressFlag(),
        consumerOptFlag(),
    ],
)
"""Go's C{nsq_to_http} flags."""


# -- the pure parts ---------------------------------------------------------------


def parseCustomHeaders(headers: Sequence[str]) -> dict[str, str]:
    """
    Go's C{parseCustomHeaders}: C{key:value}, both trimmed, neither empty.

    @raise ValueError: for the first that is not.
    """
    parsed: dict[str, str] = {}
    for header in headers:
        key, colon, value = header.partition(":")
        key, value = key.strip(), value.strip()
        if not colon or not key or not value:
            raise ValueError(f"invalid header: {header!r}")
        parsed[key] = value
    return parsed


def getURL(address: str, body: bytes) -> str:
    """
    The URL Go's C{GetPublisher} requests: C{fmt.Sprintf(address,
    url.QueryEscape(body))} for an address with one C{%s} (and C{%%} for
    a percent sign).
    """
    escaped = quote_plus(body, safe="-_.~")
    head, _, tail = address.partition("%s")
    return head.replace("%%", "%") + escaped + tail.replace("%%", "%")


#: C{--mode} values, as Go selects them.
MODE_ALL = "all"
MODE_ROUND_ROBIN = "round-robin"
MODE_HOSTPOOL = "hostpool"


def selectMode(mode: str) -> str:
    """
    What Go does for a C{--mode}: C{round-robin}; C{hostpool} for
    C{hostpool} and C{epsilon-greedy} (the pool differs); anything else
    leaves Go's mode at its zero value, every address in turn.
    """
    if mode == "round-robin":
        return MODE_ROUND_ROBIN
    if mode in ("hostpool", "epsilon-greedy"):
        return MODE_HOSTPOOL
    return MODE_ALL


class PublishFailed(Exception):
    """
    A request did not succeed (Go's C{got status code 500}).
    """


#: Makes one request: C{(address, body) -> Deferred} that fails with the
#: reason the request did not succeed.
Publish = Callable[[str, bytes], "Deferred[None]"]


class PublishHandler:
    """
    Go's C{PublishHandler}: send each message to the address(es) its mode
    chooses, timing each request.
    """

    _log = Logger(namespace="txnsq.tools.nsq_to_http")

    def __init__(
        self,
        addresses: Sequence[str],
        mode: str,
        publish: Publish,
        hostPool: HostPool,
        perAddressStatus: Mapping[str, TimerMetrics],
        aggregate: TimerMetrics,
        *,
        clock: Any,
        sample: float = 1.0,
        concurrency: int = 100,
        random: _random.Random | None = None,
    ) -> None:
        """
        @param mode: from L{selectMode}.
        @param publish: makes one request.
        @param clock: times the requests.
        @param sample: the fraction of messages to publish.
        @param concurrency: how many messages may be published at once
            (C{--n}); the others wait.
        """
        self.addresses = list(addresses)
        self.mode = mode
        self._publish = publish
        self.hostPool = hostPool
        self._perAddressStatus = perAddressStatus
        self._aggregate = aggregate
        self._clock = clock
        self._sample = sample
        self._random = random or _random.Random()
        self._semaphore = DeferredSemaphore(max(concurrency, 1))
        self._counter = 0

    def __call__(self, message: Message) -> Deferred[None]:
        """
        The consumer's handler: publish, then FIN; on failure log it and
        requeue the message with backoff, as go-nsq does when a handler
        returns an error.
        """
        return self._semaphore.run(self._handle, message)

    def _handle(self, message: Message) -> Deferred[None]:
        if self._sample < 1.0 and self._random.random() > self._sample:
            return Deferred.fromCoroutine(_nothing())
        done = Deferred.fromCoroutine(self.handleMessage(message.body))

        def failed(reason: Failure) -> None:
            self._log.error(
                "Handler returned error ({error}) for msg {id}",
                error=reason.getErrorMessage(),
                id=message.id.decode("ascii", "replace"),
            )
            message.requeue()

        return done.addErrback(failed)

    async def handleMessage(self, body: bytes) -> None:
        """
        Go's C{HandleMessage} after sampling.

        @raise Exception: why a request failed.
        """
        started = self._clock.seconds()
        if self.mode == MODE_ALL:
            for address in self.addresses:
                began = self._clock.seconds()
                await self._publish(address, body)
                self._status(address, began)
        elif self.mode == MODE_ROUND_ROBIN:
            self._counter += 1
            address = self.addresses[self._counter % len(self.addresses)]
            await self._publish(address, body)
            self._status(address, started)
        else:
            choice = self.hostPool.get()
            try:
                await self._publish(choice.host, body)
            except Exception:
                choice.mark(failed=True)
                raise
            choice.mark(failed=False)
            self._status(choice.host, started)
        self._aggregate.status(started, self._clock.seconds())

    def _status(self, address: str, started: float) -> None:
        self._perAddressStatus[address].status(started, self._clock.seconds())


async def _nothing() -> None:
    return None


class HTTPPublisher:
    """
    Makes Go's POST or GET requests with a L{TreqClient} (treq, on a
    connection pool of its own).
    """

    def __init__(
        self,
        method: str,
        *,
        reactor: Any,
        headers: Mapping[str, str],
        contentType: str,
        connectTimeout: float,
        requestTimeout: float,
        concurrency: int,
        httpClient: Any = None,
    ) -> None:
        """
        @param method: C{POST} or C{GET}.
        @param headers: the C{--header}s.
        @param concurrency: connections kept alive per host.
        @param httpClient: a treq C{HTTPClient}; by default a
            L{TreqClient}.
        """
        self.method = method
        self._reactor = reactor
        self._requestTimeout = requestTimeout
        # Go sets User-Agent (and Content-Type), then the custom headers
        # over them.
        combined = {"User-Agent": USER_AGENT}
        if method == "POST":
            combined["Content-Type"] = contentType
        combined.update(headers)
        self._headers = {
            key.encode("utf-8"): [value.encode("utf-8")]
            for key, value in combined.items()
        }
        self._pool: Any = None
        if httpClient is None:
            # Reaches addresses given as IPv6 literals too.
            client = TreqClient(
                reactor, connectTimeout, persistentPerHost=max(concurrency, 2)
            )
            self._pool = client.pool
            httpClient = client
        self._http = httpClient

    def close(self) -> Deferred[None]:
        """
        Close the kept-alive connections.
        """
        if self._pool is None:
            return Deferred.fromCoroutine(_nothing())
        closed: Deferred[None] = self._pool.closeCachedConnections()
        return closed

    def __call__(self, address: str, body: bytes) -> Deferred[None]:
        """
        Make the request for one message to one address.
        """
        done = Deferred.fromCoroutine(self._request(address, body))
        return done.addTimeout(self._requestTimeout, self._reactor)

    async def _request(self, address: str, body: bytes) -> None:
        if self.method == "POST":
            response = await self._http.post(address, data=body, headers=self._headers)
            succeeded = 200 <= response.code < 300
        else:
            response = await self._http.get(
                getURL(address, body), headers=self._headers
            )
            succeeded = response.code == 200
        # Read the body to the end, so the connection can be reused.
        await treq.content(response)
        if not succeeded:
            raise PublishFailed(f"got status code {response.code}")


# -- the tool -----------------------------------------------------------------------


@attrs.frozen
class Options:
    """
    Go's C{nsq_to_http} flags, typed.
    """

    topic: str
    channel: str
    maxInFlight: int
    n: int
    mode: str
    sample: float
    connectTimeout: float
    requestTimeout: float
    statusEvery: int
    contentType: str
    posts: list[str]
    headers: list[str]
    gets: list[str]
    nsqdTCPAddresses: list[str]
    lookupdHTTPAddresses: list[str]

    @classmethod
    def fromValues(cls, values: Mapping[str, object]) -> Options:
        """
        The options of a command line.
        """
        return cls(
            topic=flagValue(values, "topic", str),
            channel=flagValue(values, "channel", str),
            maxInFlight=flagValue(values, "max-in-flight", int),
            n=flagValue(values, "n", int),
            mode=flagValue(values, "mode", str),
            sample=flagValue(values, "sample", float),
            connectTimeout=flagValue(values, "http-client-connect-timeout", float),
            requestTimeout=flagValue(values, "http-client-request-timeout", float),
            statusEvery=flagValue(values, "status-every", int),
            contentType=flagValue(values, "content-type", str),
            posts=flagStrings(values, "post"),
            headers=flagStrings(values, "header"),
            gets=flagStrings(values, "get"),
            nsqdTCPAddresses=flagStrings(values, "nsqd-tcp-address"),
            lookupdHTTPAddresses=flagStrings(values, "lookupd-http-address"),
        )


def check(context: ToolContext, options: Options) -> dict[str, str]:
    """
    Go's checks of the command line, in Go's order, each a C{log.Fatal}.

    @return: the custom headers.
    @raise Fatal: for the first check that fails.
    """
    try:
        headers = parseCustomHeaders(options.headers)
    except ValueError:
        # Go's message says '=' although the separator is ':'.
        raise Fatal("--header value format should be 'key=value'")
    if options.topic == "" or options.channel == "":
        raise Fatal("--topic and --channel are required")
    if options.contentType != DEFAULT_CONTENT_TYPE:
        if not options.posts:
            raise Fatal("--content-type only used with --post")
        if options.contentType == "":
            raise Fatal("--content-type requires a value when used")
    checkAddressChoice(context)
    if not options.gets and not options.posts:
        raise Fatal("--get or --post required")
    if options.gets and options.posts:
        raise Fatal("use --get or --post not both")
    for address in options.gets:
        if address.count("%s") != 1:
            raise Fatal("invalid GET address - must be a printf string")
    if options.sample > 1.0 or options.sample < 0.0:
        raise Fatal("ERROR: --sample must be between 0.0 and 1.0")
    return headers


async def run(context: ToolContext) -> int:
    """
    Go's C{nsq_to_http} C{main} after C{flag.Parse}.
    """
    options = Options.fromValues(context.values)
    headers = check(context, options)
    reactor = context.reactor
    mode = selectMode(options.mode)
    if options.posts:
        method, addresses = "POST", options.posts
    else:
        method, addresses = "GET", options.gets
    # Go's order: NewConsumer checks the config, then the names;
    # ConnectToNSQDs and ConnectToNSQLookupds check the addresses after.
    config = nsqConfig(context, "consumer-opt", options.maxInFlight)
    nameError = consumerNameError(options.topic, options.channel)
    if nameError is not None:
        raise Fatal(nameError)
    nsqds = checkNSQDAddresses(options.nsqdTCPAddresses)
    try:
        lookupds = lookupdURLs(options.lookupdHTTPAddresses)
    except ValueError as e:
        raise Fatal(str(e))

    perAddressStatus = perAddressMetrics(addresses, options.statusEvery, context.log)
    clock = reactor.seconds
    hostPool = hostPoolFor(options.mode, addresses, clock)
    publisher = HTTPPublisher(
        method,
        reactor=reactor,
        headers=headers,
        contentType=options.contentType,
        connectTimeout=options.connectTimeout,
        requestTimeout=options.requestTimeout,
        concurrency=options.n,
    )
    handler = PublishHandler(
        addresses,
        mode,
        publisher,
        hostPool,
        perAddressStatus,
        TimerMetrics(options.statusEvery, "[aggregate]:", context.log),
        clock=reactor,
        sample=options.sample,
        concurrency=options.n,
    )

    def unreachable(address: str, reason: Failure) -> None:
        # go-nsq's ConnectToNSQD dials before returning; Go log.Fatal()s.
        context.end(Fatal(dialError(address, reason)))

    consumerKwargs = consumerOptions(config, reactor)
    consumerKwargs["endpointFactory"] = watchEndpoints(
        consumerKwargs["endpointFactory"], unreachable, firstOnly=True
    )
    try:
        consumer = Consumer(
            options.topic,
            options.channel,
            handler,
            nsqdAddresses=nsqds,
            lookupdHTTPAddresses=lookupds,
            **consumerKwargs,
        )
    except ValueError as e:
        raise Fatal(newConsumerError(str(e)))
    consumer.start()
    try:
        await context.interrupted
    finally:
        await consumer.stop()
        await publisher.close()
    return 0


TOOL = Tool("nsq_to_http", FLAGS, run)
"""C{nsq_to_http}."""


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run C{nsq_to_http} as the process.
    """
    return runTool(TOOL, argv)
