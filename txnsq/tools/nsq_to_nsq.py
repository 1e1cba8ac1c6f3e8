# -*- test-case-name: tests.tools.test_nsq_to_nsq -*-
"""
C{txnsq nsq_to_nsq}: Go NSQ 1.3.0's C{nsq_to_nsq}, republishing the
messages of topics to other nsqds.

  - One consumer per C{--topic} (on C{--channel}, from C{--nsqd-tcp-address}
    or C{--lookupd-http-address}); each message is published to
    C{--destination-topic} (by default its own topic) on one of the
    C{--destination-nsqd-tcp-address}es, B{and FINed only once that nsqd
    answered OK}; REQed (go-nsq's delay, with backoff) if it did not.
  - C{--mode}: C{hostpool} (the default) or C{epsilon-greedy} choose the
    destination with a port of go-hostpool (L{txnsq.tools._hostpool});
    C{round-robin}, and as in Go any other mode, takes them in turn
    starting with the second.
  - The JSON filters (C{--require-json-field}, C{--require-json-value},
    C{--whitelist-json-field}) are Go's: see L{txnsq.tools._jsonfilter}.
  - Every C{--status-every} publishes a status line per destination (when
    there are several) and in aggregate, as Go's timer_metrics prints it.
  - SIGINT or SIGTERM stops the consumers gracefully (every message in
    flight is published and answered first), then exits 0.

go-nsq's producer dials when a publish needs a connection, and a failed
dial fails that publish (the message is REQed, the host marked dead in
the pool).  txnsq's producer connects in the background and reconnects
with backoff; the tool gives each destination its first connection
attempt before consuming, and then fails a publish at once while its
destination has no connection, so the same happens.
"""

from __future__ import annotations

import random as _random
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from twisted.internet.defer import Deferred, DeferredList
from twisted.logger import Logger
from twisted.python.failure import Failure

from txnsq._go.flags import INT, STRING, STRING_LIST, Flag, FlagTable
from txnsq.client import Consumer, Message, Producer
from txnsq.tools._common import (
    channelFlag,
    checkAddressChoice,
    checkNSQDAddresses,
    consumerOptFlag,
    dialError,
    flagStrings,
    flagValue,
    lookupdHTTPAddressFlag,
    lookupdURLs,
    maxInFlightFlag,
    nsqConfig,
    nsqdTCPAddressFlag,
    producerOptFlag,
    topicsFlag,
    versionFlag,
    watchEndpoints,
)
from txnsq.tools._config import consumerOptions, producerOptions
from txnsq.tools._hostpool import HostPool, hostPoolFor
from txnsq.tools._jsonfilter import BACKOFF, DROP, JSONFilter
from txnsq.tools._runner import Fatal, Tool, ToolContext, runTool
from txnsq.tools._timermetrics import TimerMetrics, perAddressMetrics

__all__ = ["FLAGS", "TOOL", "PublishHandler", "isValidName", "main"]


FLAGS = FlagTable(
    "nsq_to_nsq",
    [
        versionFlag(),
        channelFlag("nsq_to_nsq", "nsq channel"),
        Flag(
            "destination-topic",
            STRING,
            "use this destination topic for all consumed topics (default is"
            " consumed topic name)",
            default="",
        ),
        maxInFlightFlag(200),
        Flag(
            "status-every",
            INT,
            "the # of requests between logging status (per destination), 0 disables",
            default=250,
        ),
        Flag(
            "mode",
            STRING,
            "the upstream request mode options: round-robin, hostpool (default),"
            " epsilon-greedy",
            default="hostpool",
        ),
        nsqdTCPAddressFlag(),
        nsqdTCPAddressFlag(
            "destination nsqd TCP address (may be given multiple times)",
            name="destination-nsqd-tcp-address",
        ),
        lookupdHTTPAddressFlag(),
        topicsFlag("nsq topic (may be given multiple times)"),
        Flag(
            "whitelist-json-field",
            STRING_LIST,
            "for JSON messages: pass this field (may be given multiple times)",
            default=[],
        ),
        Flag(
            "require-json-field",
            STRING,
            "for JSON messages: only pass messages that contain this field",
            default="",
        ),
        Flag(
            "require-json-value",
            STRING,
            "for JSON messages: only pass messages in which the required field has"
            " this value",
            default="",
        ),
        consumerOptFlag(),
        producerOptFlag(),
    ],
)
"""Go's C{nsq_to_nsq} flags."""

_NAME = re.compile(r"[.a-zA-Z0-9_-]+(#ephemeral)?\Z")


def isValidName(name: str) -> bool:
    """
    Go's C{protocol.IsValidTopicName} (and C{IsValidChannelName}): 1 to 64
    characters of C{[.a-zA-Z0-9_-]}, optionally ending in C{#ephemeral}.
    """
    return 0 < len(name.encode("utf-8", "surrogateescape")) <= 64 and bool(
        _NAME.match(name)
    )


#: C{--mode} values, as Go selects them.
MODE_ROUND_ROBIN = "round-robin"
MODE_HOSTPOOL = "hostpool"


def selectMode(mode: str) -> str:
    """
    What Go does for a C{--mode}: C{hostpool} for C{hostpool} and
    C{epsilon-greedy}; round robin for anything else (Go's zero value).
    """
    if mode in ("hostpool", "epsilon-greedy"):
        return MODE_HOSTPOOL
    return MODE_ROUND_ROBIN


class PublishHandler:
    """
    Go's C{PublishHandler} and C{responder}: filter, choose a destination,
    publish, and answer the message by the destination's answer.
    """

    _log = Logger(namespace="txnsq.tools.nsq_to_nsq")

    def __init__(
        self,
        addresses: Sequence[str],
        producers: Mapping[str, Producer],
        mode: str,
        hostPool: HostPool,
        jsonFilter: JSONFilter,
        perAddressStatus: Mapping[str, TimerMetrics],
        aggregate: TimerMetrics,
        *,
        clock: Any,
        log: Any,
    ) -> None:
        """
        @param producers: a started producer per destination address.
        @param mode: from L{selectMode}.
        @param clock: times the publishes.
        @param log: Go's C{log.Printf}.
        """
        self.addresses = list(addresses)
        self.producers = producers
        self.mode = mode
        self.hostPool = hostPool
        self.filter = jsonFilter
        self._perAddressStatus = perAddressStatus
        self._aggregate = aggregate
        self._clock = clock
        self._printf = log
        self._counter = 0

    def handler(self, destinationTopic: str) -> Any:
        """
        The message handler of one consumer (Go's C{TopicHandler}).
        """

        def handle(message: Message) -> Deferred[None] | None:
            return self.handleMessage(message, destinationTopic)

        return handle

    def handleMessage(
        self, message: Message, destinationTopic: str
    ) -> Deferred[None] | None:
        """
        Filter, then publish C{message}; it is FINed when the returned
        Deferred fires (or at once when it is dropped), REQed if the
        publish fails.
        """
        result = self.filter.apply(message.body)
        if result.error is not None:
            self._printf(result.error)
        if result.action == DROP:
            return None
        if result.action == BACKOFF:
            self._handlerError(message, "backoff")
            return None
        started = self._clock.seconds()
        response = None
        if self.mode == MODE_ROUND_ROBIN:
            self._counter += 1
            address = self.addresses[self._counter % len(self.addresses)]
        else:
            response = self.hostPool.get()
            address = response.host
        producer = self.producers[address]
        if not producer.connectionCount:
            # go-nsq's publish dials here, and fails with the dial's error.
            if response is not None:
                response.mark(failed=True)
            self._handlerError(message, f"not connected to nsqd {address}")
            return None
        published = producer.publish(destinationTopic, result.body)

        def answered(outcome: object) -> None:
            failed = isinstance(outcome, Failure)
            if response is not None:
                response.mark(failed=failed)
            if failed:
                message.requeue()
            now = self._clock.seconds()
            self._perAddressStatus[address].status(started, now)
            self._aggregate.status(started, now)

        return published.addBoth(answered)

    def _handlerError(self, message: Message, error: str) -> None:
        """
        What go-nsq does when a handler returns an error: log it, REQ with
        backoff.
        """
        self._log.error(
            "Handler returned error ({error}) for msg {id}",
            error=error,
            id=message.id.decode("ascii", "replace"),
        )
        message.requeue()


@attrs.frozen
class Options:
    """
    Go's C{nsq_to_nsq} flags, typed.
    """

    topics: list[str]
    channel: str
    destinationTopic: str
    maxInFlight: int
    statusEvery: int
    mode: str
    nsqdTCPAddresses: list[str]
    destinationAddresses: list[str]
    lookupdHTTPAddresses: list[str]
    whitelistJSONFields: list[str]
    requireJSONField: str
    requireJSONValue: str

    @classmethod
    def fromValues(cls, values: Mapping[str, object]) -> Options:
        """
        The options of a command line.
        """
        return cls(
            topics=flagStrings(values, "topic"),
            channel=flagValue(values, "channel", str),
            destinationTopic=flagValue(values, "destination-topic", str),
            maxInFlight=flagValue(values, "max-in-flight", int),
            statusEvery=flagValue(values, "status-every", int),
            mode=flagValue(values, "mode", str),
            nsqdTCPAddresses=flagStrings(values, "nsqd-tcp-address"),
            destinationAddresses=flagStrings(values, "destination-nsqd-tcp-address"),
            lookupdHTTPAddresses=flagStrings(values, "lookupd-http-address"),
            whitelistJSONFields=flagStrings(values, "whitelist-json-field"),
            requireJSONField=flagValue(values, "require-json-field", str),
            requireJSONValue=flagValue(values, "require-json-value", str),
        )


def check(context: ToolContext, options: Options) -> None:
    """
    Go's checks of the command line, in Go's order, each a C{log.Fatal}.

    @raise Fatal: for the first check that fails.
    """
    if not options.topics or options.channel == "":
        raise Fatal("--topic and --channel are required")
    for topic in options.topics:
        if not isValidName(topic):
            raise Fatal("--topic is invalid")
    if options.destinationTopic and not isValidName(options.destinationTopic):
        raise Fatal("--destination-topic is invalid")
    if not isValidName(options.channel):
        raise Fatal("--channel is invalid")
    checkAddressChoice(context)
    if not options.destinationAddresses:
        raise Fatal("--destination-nsqd-tcp-address required")


async def run(context: ToolContext) -> int:
    """
    Go's C{nsq_to_nsq} C{main} after C{flag.Parse}.
    """
    options = Options.fromValues(context.values)
    check(context, options)
    reactor = context.reactor
    destinations = options.destinationAddresses
    # Go makes the producers (NewProducer checks their config) before the
    # consumers (NewConsumer checks theirs).
    producerConfig = nsqConfig(
        context, "producer-opt", errorPrefix="failed creating producer "
    )
    consumerConfig = nsqConfig(context, "consumer-opt", options.maxInFlight)
    destinations = checkNSQDAddresses(destinations)

    # Each destination's first connection attempt, before consuming (Go's
    # producer dials on the first publish).
    attempted: dict[str, Deferred[None]] = {
        address: Deferred() for address in destinations
    }

    def attemptDone(address: str) -> None:
        first = attempted[address]
        if not first.called:
            first.callback(None)

    def destinationFailed(address: str, reason: Failure) -> None:
        attemptDone(address)

    producers: dict[str, Producer] = {}
    for address in destinations:
        kwargs = producerOptions(producerConfig, reactor)
        kwargs["endpointFactory"] = watchEndpoints(
            kwargs["endpointFactory"], destinationFailed, firstOnly=True
        )
        producer = producers[address] = Producer([address], **kwargs)
        producer.start()
        connected = producer.whenConnected()
        connected.addCallbacks(
            lambda _, address=address: attemptDone(address), lambda _: None
        )

    perAddressStatus = perAddressMetrics(destinations, options.statusEvery, context.log)
    clock = reactor.seconds
    hostPool = hostPoolFor(options.mode, destinations, clock)
    publisher = PublishHandler(
        destinations,
        producers,
        selectMode(options.mode),
        hostPool,
        JSONFilter(
            options.requireJSONField,
            options.requireJSONValue,
            options.whitelistJSONFields,
        ),
        perAddressStatus,
        TimerMetrics(options.statusEvery, "[aggregate]:", context.log),
        clock=reactor,
        log=context.log,
    )

    def unreachable(address: str, reason: Failure) -> None:
        # go-nsq's ConnectToNSQD dials before returning; Go log.Fatal()s.
        context.end(Fatal(dialError(address, reason)))

    consumers: list[Consumer] = []
    try:
        await DeferredList(list(attempted.values()))
        # go-nsq's ConnectToNSQDs and ConnectToNSQLookupds errors, which
        # Go log.Fatal()s.
        sources = checkNSQDAddresses(options.nsqdTCPAddresses)
        try:
            lookupds = lookupdURLs(options.lookupdHTTPAddresses)
        except ValueError as e:
            raise Fatal(str(e))
        for topic in options.topics:
            kwargs = consumerOptions(consumerConfig, reactor, _random.Random())
            kwargs["endpointFactory"] = watchEndpoints(
                kwargs["endpointFactory"], unreachable, firstOnly=True
            )
            consumer = Consumer(
                topic,
                options.channel,
                publisher.handler(options.destinationTopic or topic),
                nsqdAddresses=sources,
                lookupdHTTPAddresses=lookupds,
                **kwargs,
            )
            consumers.append(consumer)
        for consumer in consumers:
            consumer.start()
        await context.interrupted
    finally:
        await DeferredList([consumer.stop() for consumer in consumers])
        await DeferredList([producer.stop() for producer in producers.values()])
    return 0


TOOL = Tool("nsq_to_nsq", FLAGS, run)
"""C{nsq_to_nsq}."""


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run C{nsq_to_nsq} as the process.
    """
    return runTool(TOOL, argv)
