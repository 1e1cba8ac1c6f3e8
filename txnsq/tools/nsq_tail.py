# -*- test-case-name: tests.tools.test_nsq_tail -*-
"""
C{txnsq nsq_tail}: Go NSQ 1.3.0's C{nsq_tail}, printing the messages of
one or more topics to stdout.

Each message body is written to stdout followed by a newline, at once
(Go's stdout is unbuffered); with C{--print-topic} it is preceded by
C{<topic> | }.  The channel defaults to a fresh ephemeral
C{tail<6 digits>#ephemeral}.  C{--n} ends the tool once one topic has
shown that many messages (Go counts per topic), and caps C{--max-in-flight}
at it.  SIGINT or SIGTERM stops the consumers gracefully, then the tool
exits 0.

Differences from Go's, all in what no script reads:
  - with C{--n}, Go calls C{os.Exit} from its handler, before the last
    message is FINished; txnsq FINishes the messages it printed, requeues
    any delivered after the last one (without printing them) and closes
    its connections before exiting 0;
  - the client's log lines on stderr are txnsq's, not go-nsq's.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred, DeferredList
from twisted.python.failure import Failure

from txnsq._go.flags import BOOL, INT, Flag, FlagTable
from txnsq.client import Consumer, Message
from txnsq.tools._common import (
    channelFlag,
    checkAddressChoice,
    checkNSQDAddresses,
    consumerNameError,
    consumerOptFlag,
    dialError,
    lookupdHTTPAddressFlag,
    lookupdURLs,
    maxInFlightFlag,
    newConsumerError,
    nsqConfig,
    nsqdTCPAddressFlag,
    topicsFlag,
    versionFlag,
    watchEndpoints,
)
from txnsq.tools._config import consumerOptions
from txnsq.tools._runner import Fatal, StdoutClosed, Tool, ToolContext, runTool

__all__ = ["TOOL", "main"]

FLAGS = FlagTable(
    "nsq_tail",
    [
        versionFlag(),
        channelFlag(),
        maxInFlightFlag(200),
        Flag("n", INT, "total messages to show (will wait if starved)", default=0),
        Flag(
            "print-topic",
            BOOL,
            "print topic name where message was received",
            default=False,
        ),
        nsqdTCPAddressFlag(),
        lookupdHTTPAddressFlag(),
        topicsFlag(),
        consumerOptFlag(),
    ],
)
"""Go's C{nsq_tail} flags."""


def ephemeralChannel(rng: random.Random | None = None) -> str:
    """
    The channel Go's C{nsq_tail} makes up when C{--channel} is not given:
    C{fmt.Sprintf("tail%06d#ephemeral", rand.Int()%999999)}.
    """
    return f"tail{(rng or random).randrange(999999):06d}#ephemeral"


class _Tail:
    """
    The handlers of every topic's consumer: print, count, and say when
    a topic has shown C{--n} messages.

    @ivar done: fires when the tool should stop.
    """

    def __init__(self, context: ToolContext, total: int, printTopic: bool) -> None:
        self._context = context
        self._total = total
        self._printTopic = printTopic
        self._shown: dict[str, int] = {}
        self.done: Deferred[None] = Deferred()

    def handler(self, topic: str) -> Any:
        """
        The message handler of C{topic}'s consumer.
        """
        prefix = topic.encode("utf-8", "surrogateescape") + b" | "
        self._shown[topic] = 0

        def handle(message: Message) -> None:
            if self.done.called:
                # Delivered after the last one to show: back to nsqd, for
                # the channel's other consumers (Go's os.Exit leaves it to
                # nsqd's timeout).
                message.requeue(0, backoff=False)
                return
            self._shown[topic] += 1
            line = prefix + message.body if self._printTopic else message.body
            try:
                self._context.write(line + b"\n")
            except StdoutClosed as e:
                self._context.end(e)
                return
            except OSError as e:
                self._context.end(
                    Fatal(f"ERROR: failed to write to os.Stdout - {e.strerror or e}")
                )
                return
            if self._total > 0 and self._shown[topic] >= self._total:
                self.done.callback(None)

        return handle


async def run(context: ToolContext) -> int:
    """
    Go's C{nsq_tail} C{main} after C{flag.Parse}.
    """
    values = context.values
    channel = values["channel"] or ephemeralChannel()
    assert isinstance(channel, str)
    checkAddressChoice(context)
    topics = values["topic"]
    nsqdAddresses = values["nsqd-tcp-address"]
    lookupdAddresses = values["lookupd-http-address"]
    assert isinstance(topics, list)
    assert isinstance(nsqdAddresses, list) and isinstance(lookupdAddresses, list)
    if not topics:
        raise Fatal("--topic required")
    total = values["n"]
    maxInFlight = values["max-in-flight"]
    assert isinstance(total, int) and isinstance(maxInFlight, int)
    # Don't ask for more messages than we want.
    if 0 < total < maxInFlight:
        maxInFlight = total

    tail = _Tail(context, total, bool(values["print-topic"]))

    def unreachable(address: str, reason: Failure) -> None:
        # go-nsq's ConnectToNSQD dials before returning, and nsq_tail
        # log.Fatal()s its error.
        context.end(Fatal(dialError(address, reason)))

    consumers: list[Consumer] = []
    try:
        for topic in topics:
            context.log(f"Adding consumer for topic: {topic}\n")
            # Go's order for each topic: NewConsumer checks the config,
            # then the names; ConnectToNSQDs and ConnectToNSQLookupds
            # check the addresses after.
            config = nsqConfig(context, "consumer-opt", maxInFlight)
            nameError = consumerNameError(topic, channel)
            if nameError is not None:
                raise Fatal(nameError)
            nsqds = checkNSQDAddresses(nsqdAddresses)
            try:
                lookupds = lookupdURLs(lookupdAddresses)
            except ValueError as e:
                raise Fatal(str(e))
            options = consumerOptions(config, context.reactor)
            options["endpointFactory"] = watchEndpoints(
                options["endpointFactory"], unreachable, firstOnly=True
            )
            try:
                consumer = Consumer(
                    topic,
                    channel,
                    tail.handler(topic),
                    nsqdAddresses=nsqds,
                    lookupdHTTPAddresses=lookupds,
                    **options,
                )
            except ValueError as e:
                raise Fatal(newConsumerError(str(e)))
            consumers.append(consumer)
            consumer.start()
        await DeferredList(
            [context.interrupted, tail.done],
            fireOnOneCallback=True,
            consumeErrors=True,
        )
    finally:
        await DeferredList([consumer.stop() for consumer in consumers])
    return 0


TOOL = Tool("nsq_tail", FLAGS, run)
"""C{nsq_tail}."""


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run C{nsq_tail} as the process.
    """
    return runTool(TOOL, argv)
