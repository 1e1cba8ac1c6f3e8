# -*- test-case-name: tests.tools.test_nsq_stat -*-
"""
C{txnsq nsq_stat}: Go NSQ 1.3.0's C{nsq_stat}, printing a channel's
stats, summed over every nsqd that has its topic, every C{--interval}.

The nsqds are those nsqlookupd lists for the topic
(C{--lookupd-http-address}), or those of C{--nsqd-http-address} that have
it; each is asked for C{/stats?format=json&topic=&channel=} over HTTP
(with treq), as Go's C{clusterinfo} does.  The first poll only sets the
baseline; every later one prints a row (and every 25th poll the header
again first)::

    ------rate------+----------------depth----------------+--------------metadata---------------
    ingress  egress |   total     mem    disk inflt   def |     req     t-o         msgs clients
         12      12 |       0       0       0     0     0 |       0       0          240       1

C{--count N} stops after N rows (and one more interval), with status 0;
so do SIGINT, SIGTERM and SIGHUP.  Any failure to query is Go's
C{log.Fatal} (status 1), as is a channel the nsqds do not have.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote_plus

import attrs
import treq
from twisted.internet import error as _errors
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    DeferredList,
    FirstError,
    gatherResults,
)
from twisted.internet.task import deferLater
from twisted.web.http import RESPONSES
from twisted.web.http_headers import Headers

from txnsq._endpoints import splitHostPort
from txnsq._go.flags import (
    DURATION,
    STRING_LIST,
    Flag,
    FlagTable,
    FlagType,
    FlagValueError,
)
from txnsq._go.values import NumError, goQuote, parseInt
from txnsq._http import TreqClient
from txnsq.tools._common import (
    channelFlag,
    checkAddressChoice,
    lookupdHTTPAddressFlag,
    topicFlag,
    versionFlag,
)
from txnsq.tools._runner import Fatal, Tool, ToolContext, runTool

__all__ = ["FLAGS", "TOOL", "ChannelStats", "StatLoop", "main"]

_ACCEPT = Headers({b"Accept": [b"application/vnd.nsq; version=1.0"]})


def _setCount(current: object, text: str) -> int:
    try:
        return parseInt(text, 10, 32)
    except NumError as e:
        # nsq_stat's numValue returns strconv's error as it is.
        raise FlagValueError(f"strconv.ParseInt: parsing {goQuote(text)}: {e}")


def _countFromConfig(value: object) -> int:
    raise TypeError("not read from a config file")


COUNT = FlagType("value", _setCount, _countFromConfig, lambda value: "N", "N")
"""nsq_stat's C{numValue}: an int32, unset (C{None}) unless given."""

FLAGS = FlagTable(
    "nsq_stat",
    [
        versionFlag("print version"),
        topicFlag(),
        channelFlag(),
        Flag(
            "interval",
            DURATION,
            "duration of time between polling/printing output",
            default=2.0,
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
            default=5.0,
        ),
        Flag("count", COUNT, "number of reports", default=None),
        Flag(
            "nsqd-http-address",
            STRING_LIST,
            "nsqd HTTP address (may be given multiple times)",
            default=[],
        ),
        lookupdHTTPAddressFlag(),
    ],
)
"""Go's C{nsq_stat} flags."""

# Go's Printf formats, verbatim (Python's % has the same verbs for these).
_COLUMNS = "%7s %7s | %7s %7s %7s %5s %5s | %7s %7s %12s %7s\n"
_ROW = "%7d %7d | %7d %7d %7d %5d %5d | %7d %7d %12d %7d\n"

HEADER = (
    "------rate------+----------------depth----------------"
    "+--------------metadata---------------\n"
) + _COLUMNS % (
    "ingress",
    "egress",
    "total",
    "mem",
    "disk",
    "inflt",
    "def",
    "req",
    "t-o",
    "msgs",
    "clients",
)
"""The two header lines, printed before the first poll and every 25th."""


@attrs.frozen
class ChannelStats:
    """
    One channel's numbers, summed over nsqds (Go's
    C{clusterinfo.ChannelStats}).
    """

    depth: int = 0
    memoryDepth: int = 0
    backendDepth: int = 0
    inFlightCount: int = 0
    deferredCount: int = 0
    requeueCount: int = 0
    timeoutCount: int = 0
    messageCount: int = 0
    clientCount: int = 0

    @classmethod
    def fromJSON(cls, channel: dict[str, Any]) -> ChannelStats:
        """
        A channel of nsqd's C{/stats}.
        """

        def number(key: str) -> int:
            value = channel.get(key, 0)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(
                    f"json: cannot unmarshal {type(value).__name__} into Go struct"
                    f" field ChannelStats.{key}"
                )
            return value

        depth, backend = number("depth"), number("backend_depth")
        return cls(
            depth=depth,
            memoryDepth=depth - backend,
            backendDepth=backend,
            inFlightCount=number("in_flight_count"),
            deferredCount=number("deferred_count"),
            requeueCount=number("requeue_count"),
            timeoutCount=number("timeout_count"),
            messageCount=number("message_count"),
            clientCount=number("client_count"),
        )

    def __add__(self, other: ChannelStats) -> ChannelStats:
        return ChannelStats(
            *(a + b for a, b in zip(attrs.astuple(self), attrs.astuple(other)))
        )


def formatRow(previous: ChannelStats, current: ChannelStats, interval: float) -> str:
    """
    One row: the rates since C{previous}, then C{current}'s numbers.

    @param interval: seconds between the two polls (Go divides by the
        interval flag, not the time that really passed).
    """
    published = current.messageCount - previous.messageCount
    consumed = published - (current.depth - previous.depth)
    return _ROW % (
        # Go's int64(float64(...)) truncates toward zero, as int() does.
        int(published / interval),
        int(consumed / interval),
        current.depth,
        current.memoryDepth,
        current.backendDepth,
        current.inFlightCount,
        current.deferredCount,
        current.requeueCount,
        current.timeoutCount,
        current.messageCount,
        current.clientCount,
    )


class QueryError(Exception):
    """
    An HTTP query failed; the message is Go's C{http_api} error text.
    """


def _joinHostPort(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ClusterInfo:
    """
    The part of Go's C{internal/clusterinfo} C{nsq_stat} uses, over a
    L{TreqClient}.
    """

    def __init__(
        self, reactor: Any, connectTimeout: float, requestTimeout: float
    ) -> None:
        self._reactor = reactor
        self._requestTimeout = requestTimeout
        # Reaches nsqlookupds and nsqds given as IPv6 literals too.
        self._http = TreqClient(reactor, connectTimeout)
        self.pool = self._http.pool

    async def getV1(self, url: str) -> Any:
        """
        Go's C{http_api.Client.GETV1}: GET, expect 200, decode JSON.

        @raise QueryError: with Go's text.
        """
        try:
            response = await self._http.get(url, headers=_ACCEPT).addTimeout(
                self._requestTimeout, self._reactor
            )
            body = await treq.content(response).addTimeout(
                self._requestTimeout, self._reactor
            )
        except Exception as e:
            raise QueryError(f"Get {goQuote(url)}: {_netError(url, e)}")
        if response.code != 200:
            # Go's 403-to-HTTPS redirection needs nsqd's HTTPS port;
            # txnsq's nsqd answers 403 only to what needs TLS.
            status = f"{response.code} {RESPONSES.get(response.code, b'').decode()}"
            raise QueryError(f"got response {status} {goQuote(body)}")
        try:
            return json.loads(body)
        except ValueError as e:
            raise QueryError(f"invalid character in JSON: {e}")

    async def lookupdTopicProducers(
        self, topic: str, addresses: Sequence[str]
    ) -> list[str]:
        """
        Go's C{GetLookupdTopicProducers}: the HTTP addresses of the nsqds
        the nsqlookupds list for C{topic}.

        @raise QueryError: if any nsqlookupd failed.
        """
        producers: list[str] = []

        async def query(address: str) -> None:
            url = f"http://{address}/lookup?topic={quote_plus(topic)}"
            answer = await self.getV1(url)
            for producer in _list(answer, "producers"):
                http = _joinHostPort(
                    str(producer.get("broadcast_address", "")),
                    int(producer.get("http_port", 0)),
                )
                if http not in producers:
                    producers.append(http)

        errors = await _each(query, addresses)
        if errors and len(errors) == len(addresses):
            raise QueryError(f"failed to query any nsqlookupd: {_joined(errors)}")
        if errors:
            raise QueryError(_joined(errors))
        return producers

    async def nsqdTopicProducers(
        self, topic: str, addresses: Sequence[str]
    ) -> list[str]:
        """
        Go's C{GetNSQDTopicProducers}: the HTTP addresses (from C{/info})
        of the nsqds among C{addresses} that have C{topic}.

        @raise QueryError: if any nsqd failed.
        """
        producers: list[str] = []

        async def query(address: str) -> None:
            url = (
                f"http://{address}/stats?format=json&topic={quote_plus(topic)}"
                "&include_clients=false"
            )
            stats = await self.getV1(url)
            if not any(t.get("topic_name") == topic for t in _list(stats, "topics")):
                return
            info = await self.getV1(f"http://{address}/info")
            if not isinstance(info, dict):
                info = {}
            host = info.get("broadcast_address") or ""
            port = info.get("http_port") or 0
            if not host:
                # Go falls back on the address queried.
                host, text = splitHostPort(address)
                port = int(text) if text.isdigit() else 0
            producers.append(_joinHostPort(str(host), int(port)))

        errors = await _each(query, addresses)
        if errors and len(errors) == len(addresses):
            raise QueryError(f"failed to query any nsqd: {_joined(errors)}")
        if errors:
            raise QueryError(_joined(errors))
        return producers

    async def channelStats(
        self, producers: Sequence[str], topic: str, channel: str
    ) -> dict[str, ChannelStats]:
        """
        Go's C{GetNSQDStats} for one topic and channel: each channel's
        numbers summed over C{producers}, by channel name.

        @raise QueryError: if any nsqd failed, or there are no producers
            (Go's "failed to query any nsqd" with nothing after it).
        """
        channels: dict[str, ChannelStats] = {}

        async def query(address: str) -> None:
            url = (
                f"http://{address}/stats?format=json&topic={quote_plus(topic)}"
                f"&channel={quote_plus(channel)}&include_clients=false"
            )
            stats = await self.getV1(url)
            for t in _list(stats, "topics"):
                if t.get("topic_name") != topic:
                    continue
                for c in _list(t, "channels"):
                    name = str(c.get("channel_name", ""))
                    try:
                        found = ChannelStats.fromJSON(c)
                    except ValueError as e:
                        raise QueryError(str(e))
                    channels[name] = channels.get(name, ChannelStats()) + found

        errors = await _each(query, producers)
        if len(errors) == len(producers):
            raise QueryError(f"failed to query any nsqd: {_joined(errors)}")
        if errors:
            raise QueryError(_joined(errors))
        return channels


def _list(container: object, key: str) -> list[dict[str, Any]]:
    value = container.get(key) if isinstance(container, dict) else None
    return [item for item in value or () if isinstance(item, dict)]


async def _each(
    query: Callable[[str], Awaitable[None]], addresses: Sequence[str]
) -> list[str]:
    """
    Run C{query} on every address at once; the errors, in address order.
    """

    async def one(address: str) -> str | None:
        try:
            await query(address)
        except QueryError as e:
            return str(e)
        return None

    results = await gatherResults(
        [Deferred.fromCoroutine(one(address)) for address in addresses]
    )
    return [error for error in results if error is not None]


def _joined(errors: Sequence[str]) -> str:
    # Go's ErrList.Error.
    return "\n".join(errors)


def _netError(url: str, error: BaseException) -> str:
    """
    Go's C{net/http} reason for a request that failed.
    """
    address = url.split("/")[2] if url.count("/") >= 2 else url
    if isinstance(error, _errors.ConnectionRefusedError):
        return f"dial tcp {address}: connect: connection refused"
    if isinstance(error, (_errors.TimeoutError, CancelledError)):
        return (
            "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )
    if isinstance(error, _errors.DNSLookupError):
        return f"dial tcp: lookup {address.rsplit(':', 1)[0]}: no such host"
    return str(error) or error.__class__.__name__


@attrs.define
class StatLoop:
    """
    Go's C{statLoop}: poll, print, sleep, C{count} times after the
    baseline (forever when C{None}).

    @ivar poll: fetches the channel's current stats (raises L{Fatal}).
    @ivar write: prints text.
    @ivar clock: for the sleeps.
    @ivar interval: seconds between polls.
    @ivar count: how many rows, or C{None}.
    """

    poll: Callable[[], Awaitable[ChannelStats]]
    write: Callable[[str], object]
    clock: Any
    interval: float
    count: int | None

    async def run(self) -> None:
        """
        Poll and print until C{count} rows are printed.
        """
        previous: ChannelStats | None = None
        i = 0
        while self.count is None or self.count >= i:
            current = await self.poll()
            if i % 25 == 0:
                self.write(HEADER)
            if previous is not None:
                # TODO in Go too: paused channels are not shown.
                self.write(formatRow(previous, current, self.interval))
            previous = current
            await deferLater(self.clock, self.interval)
            i += 1


async def run(context: ToolContext) -> int:
    """
    Go's C{nsq_stat} C{main} after C{flag.Parse}.
    """
    values = context.values
    topic, channel = values["topic"], values["channel"]
    assert isinstance(topic, str) and isinstance(channel, str)
    if not topic or not channel:
        raise Fatal("--topic and --channel are required")
    interval = values["interval"]
    connectTimeout = values["http-client-connect-timeout"]
    requestTimeout = values["http-client-request-timeout"]
    assert isinstance(interval, float) and isinstance(connectTimeout, float)
    assert isinstance(requestTimeout, float)
    if interval <= 0:
        raise Fatal("--interval should be positive")
    if connectTimeout <= 0:
        raise Fatal("--http-client-connect-timeout should be positive")
    if requestTimeout <= 0:
        raise Fatal("--http-client-request-timeout should be positive")
    count = values["count"]
    assert count is None or isinstance(count, int)
    if count is not None and count <= 0:
        raise Fatal("--count should be positive")
    checkAddressChoice(context, "nsqd-http-address", "lookupd-http-address")
    nsqdAddresses = values["nsqd-http-address"]
    lookupdAddresses = values["lookupd-http-address"]
    assert isinstance(nsqdAddresses, list) and isinstance(lookupdAddresses, list)
    for flag, addresses in (
        ("nsqd-http-address", nsqdAddresses),
        ("lookupd-http-address", lookupdAddresses),
    ):
        if any(address.startswith("http") for address in addresses):
            raise Fatal(f"--{flag} error - address should not contain scheme")

    cluster = ClusterInfo(context.reactor, connectTimeout, requestTimeout)

    async def poll() -> ChannelStats:
        try:
            if lookupdAddresses:
                producers = await cluster.lookupdTopicProducers(topic, lookupdAddresses)
            else:
                producers = await cluster.nsqdTopicProducers(topic, nsqdAddresses)
        except QueryError as e:
            raise Fatal(f"ERROR: failed to get topic producers - {e}")
        try:
            channels = await cluster.channelStats(producers, topic, channel)
        except QueryError as e:
            raise Fatal(f"ERROR: failed to get nsqd stats - {e}")
        if channel not in channels:
            raise Fatal(
                f"ERROR: failed to find channel({channel}) in stats metadata"
                f" for topic({topic})"
            )
        return channels[channel]

    loop = StatLoop(
        poll,
        lambda text: context.write(text.encode()),
        context.reactor,
        interval,
        count,
    )
    done = Deferred.fromCoroutine(loop.run())
    try:
        await DeferredList(
            [done, context.interrupted],
            fireOnOneCallback=True,
            fireOnOneErrback=True,
            consumeErrors=True,
        )
    except FirstError as e:
        e.subFailure.raiseException()
    finally:
        if not done.called:
            # Interrupted: Go's main returns while statLoop sleeps or polls.
            done.cancel()
        await cluster.pool.closeCachedConnections()
    return 0


TOOL = Tool("nsq_stat", FLAGS, run, signals=("SIGHUP", "SIGINT", "SIGTERM"))
"""C{nsq_stat}."""


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run C{nsq_stat} as the process.
    """
    return runTool(TOOL, argv)
