# -*- test-case-name: tests.tools.test_common -*-
"""
What Go NSQ's tools share: their common flags, as each declares them
(usage texts differ slightly between tools, so each constructor takes the
tool's), go-nsq's C{--consumer-opt}/C{--producer-opt} turned into a
checked L{GoNSQConfig}, the address checks they all make, and Go's
C{dial tcp ...} errors for an nsqd that cannot be reached.
"""

from __future__ import annotations

import socket as _socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from zope.interface import implementer

from twisted.internet import error as _errors
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IProtocolFactory, IStreamClientEndpoint
from twisted.python.failure import Failure

from txnsq import NSQ_VERSION
from txnsq._endpoints import splitHostPort
from txnsq._go.flags import BOOL, INT, STRING, STRING_LIST, Flag
from txnsq._go.urls import parseURLHost, urlPort
from txnsq._version import __version__
from txnsq.tools._config import CONFIG_OPTION, GoNSQConfig, configFromFlag
from txnsq.tools._runner import Fatal, ToolContext
from txnsq.wire.names import isValidName

__all__ = [
    "OPTION_DOC",
    "WatchedEndpoint",
    "channelFlag",
    "checkAddressChoice",
    "checkNSQDAddresses",
    "consumerNameError",
    "consumerOptFlag",
    "dialError",
    "flagStrings",
    "flagValue",
    "lookupdHTTPAddressFlag",
    "lookupdURLs",
    "maxInFlightFlag",
    "newConsumerError",
    "nsqConfig",
    "nsqdAddress",
    "nsqdAddresses",
    "nsqdTCPAddressFlag",
    "producerOptFlag",
    "topicFlag",
    "topicsFlag",
    "userAgent",
    "versionFlag",
    "watchEndpoints",
]

OPTION_DOC = "http://godoc.org/github.com/nsqio/go-nsq#Config"
"""Where Go's usage of C{--consumer-opt} sends the reader."""


# -- flags -----------------------------------------------------------------------


def versionFlag(usage: str = "print version string") -> Flag:
    """
    C{--version} (C{nsq_stat}'s usage says C{print version}).
    """
    return Flag("version", BOOL, usage, default=False)


def topicFlag(usage: str = "NSQ topic", default: str = "") -> Flag:
    """
    A single C{--topic}.
    """
    return Flag("topic", STRING, usage, default=default)


def topicsFlag(usage: str = "NSQ topic (may be given multiple times)") -> Flag:
    """
    A repeatable C{--topic} (C{nsq_tail}, C{nsq_to_file}, C{nsq_to_nsq}).
    """
    return Flag("topic", STRING_LIST, usage, default=[])


def channelFlag(default: str = "", usage: str = "NSQ channel") -> Flag:
    """
    C{--channel}.
    """
    return Flag("channel", STRING, usage, default=default)


def maxInFlightFlag(
    default: int = 200, usage: str = "max number of messages to allow in flight"
) -> Flag:
    """
    C{--max-in-flight}, which the tools assign to go-nsq's C{MaxInFlight}
    after C{--consumer-opt}, so it wins over C{max_in_flight}.
    """
    return Flag("max-in-flight", INT, usage, default=default)


def nsqdTCPAddressFlag(
    usage: str = "nsqd TCP address (may be given multiple times)",
    name: str = "nsqd-tcp-address",
) -> Flag:
    """
    A repeatable C{--nsqd-tcp-address} (or C{--destination-nsqd-tcp-address}
    with C{name}).
    """
    return Flag(name, STRING_LIST, usage, default=[])


def lookupdHTTPAddressFlag(
    usage: str = "lookupd HTTP address (may be given multiple times)",
) -> Flag:
    """
    A repeatable C{--lookupd-http-address}.
    """
    return Flag("lookupd-http-address", STRING_LIST, usage, default=[])


def consumerOptFlag() -> Flag:
    """
    C{--consumer-opt key,value}, go-nsq's C{nsq.ConfigFlag}.
    """
    return Flag(
        "consumer-opt",
        CONFIG_OPTION,
        "option to passthrough to nsq.Consumer (may be given multiple times,"
        f" {OPTION_DOC})",
        default=[],
    )


def producerOptFlag() -> Flag:
    """
    C{--producer-opt key,value}, go-nsq's C{nsq.ConfigFlag}.
    """
    return Flag(
        "producer-opt",
        CONFIG_OPTION,
        "option to passthrough to nsq.Producer (may be given multiple times,"
        f" {OPTION_DOC})",
        default=[],
    )


_T = TypeVar("_T")


def flagValue(values: Mapping[str, object], name: str, kind: type[_T]) -> _T:
    """
    A resolved flag's value, checked to be of the type its table gives it
    (for the typed C{Options} the tools build from C{context.values}).
    """
    value = values[name]
    assert isinstance(value, kind), (name, value)
    return value


def flagStrings(values: Mapping[str, object], name: str) -> list[str]:
    """
    A repeatable string flag's values.
    """
    return [str(item) for item in flagValue(values, name, list)]


# -- checks and config ---------------------------------------------------------


def checkAddressChoice(
    context: ToolContext,
    nsqdFlag: str = "nsqd-tcp-address",
    lookupdFlag: str = "lookupd-http-address",
) -> None:
    """
    Go's checks that exactly one kind of address is given.

    @raise Fatal: C{--nsqd-tcp-address or --lookupd-http-address required}
        or C{use --nsqd-tcp-address or --lookupd-http-address not both}.
    """
    nsqd = context.values[nsqdFlag]
    lookupd = context.values[lookupdFlag]
    if not nsqd and not lookupd:
        raise Fatal(f"--{nsqdFlag} or --{lookupdFlag} required")
    if nsqd and lookupd:
        raise Fatal(f"use --{nsqdFlag} or --{lookupdFlag} not both")


def userAgent(tool: str) -> str:
    """
    The C{user_agent} a tool identifies with: Go's C{nsq_tail/1.3.0
    go-nsq/1.1.0}, with txnsq in place of go-nsq.
    """
    return f"{tool}/{NSQ_VERSION} txnsq/{__version__}"


def nsqConfig(
    context: ToolContext,
    optionFlag: str,
    maxInFlight: int | None = None,
    errorPrefix: str = "",
) -> GoNSQConfig:
    """
    The go-nsq config a Go tool builds: the C{--consumer-opt} (or
    C{--producer-opt}) options, then the tool's own C{UserAgent} and
    C{MaxInFlight} assigned over them, then C{Validate} (which go-nsq's
    C{NewConsumer}/C{NewProducer} run, and the tool reports with
    C{log.Fatal}).

    @param errorPrefix: what the tool's C{log.Fatalf} puts before the
        error (C{to_nsq}: C{failed to create nsq.Producer - }).
    @raise Fatal: with go-nsq's validation error.
    """
    options = context.values[optionFlag]
    assert isinstance(options, list)
    config = configFromFlag(options)
    config["user_agent"] = userAgent(context.tool.name)
    if maxInFlight is not None:
        config["max_in_flight"] = maxInFlight
    try:
        config.validate()
    except ValueError as e:
        raise Fatal(f"{errorPrefix}{e}")
    return config


def lookupdURLs(addresses: Sequence[str]) -> list[str]:
    """
    The check go-nsq's C{ConnectToNSQLookupd} makes of each
    C{--lookupd-http-address}: a URL, C{http://} put before one without a
    scheme (C{127.0.0.1:4161}, C{[::1]:4161}), that Go's C{url.Parse} takes
    and that has a port.  Go accepts some that no request will reach
    (C{::1:4161}); those fail at each lookup, as in Go.

    @return: the URLs, for the client's C{lookupdHTTPAddresses}.
    @raise ValueError: with Go's error (C{missing port}, C{parse
        "http://h:x": invalid port ":x" after host}).
    """
    urls = []
    for address in addresses:
        url = address if "://" in address else f"http://{address}"
        if not urlPort(parseURLHost(url)):
            raise ValueError("missing port")
        urls.append(url)
    return urls


def consumerNameError(topic: str, channel: str) -> str | None:
    """
    go-nsq's C{NewConsumer} checks of the names, which Go's tools meet
    before any address is checked (C{ConnectToNSQDs} and
    C{ConnectToNSQLookupds} come after it).

    @return: C{invalid topic name}, C{invalid channel name}, or C{None}.
    """
    if not isValidName(topic):
        return "invalid topic name"
    if not isValidName(channel):
        return "invalid channel name"
    return None


def newConsumerError(text: str) -> str:
    """
    go-nsq's C{NewConsumer} error for the client's C{ValueError}: the
    client says which characters a name may have, Go only
    C{invalid topic name} or C{invalid channel name}.
    """
    for name in ("invalid topic name", "invalid channel name"):
        if text.startswith(name):
            return name
    return text


# -- reaching nsqd -------------------------------------------------------------


def dialError(address: str, reason: Failure) -> str:
    """
    Go's C{net.Dial} error text for a connection to C{address} that
    failed (C{dial tcp 127.0.0.1:4150: connect: connection refused}).
    """
    error = reason.value
    if isinstance(error, _errors.ConnectionRefusedError):
        return f"dial tcp {address}: connect: connection refused"
    if isinstance(error, (_errors.TimeoutError, _errors.TCPTimedOutError)):
        return f"dial tcp {address}: i/o timeout"
    if isinstance(error, _errors.DNSLookupError):
        try:
            host = splitHostPort(address)[0]
        except ValueError:
            host = address
        return f"dial tcp: lookup {host}: no such host"
    return f"dial tcp {address}: {reason.getErrorMessage()}"


@implementer(IStreamClientEndpoint)
class WatchedEndpoint:
    """
    An endpoint that reports its failed connection attempts: the client
    retries nsqds quietly, where go-nsq's C{ConnectToNSQD} (for a first
    connection) and C{Publish} return the dial error, which Go's tools
    end with through C{log.Fatal}.
    """

    def __init__(
        self,
        endpoint: IStreamClientEndpoint,
        address: str,
        failed: Callable[[str, Failure], object],
        firstOnly: bool = False,
    ) -> None:
        """
        @param failed: called with the address and the reason.
        @param firstOnly: report only the failure of the first attempt
            (go-nsq's consumer fails only its first connection; later ones
            are retried).
        """
        self._endpoint = endpoint
        self._address = address
        self._failed = failed
        self._firstOnly = firstOnly
        self._attempts = 0

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[Any]:
        """
        Connect, telling the watcher if it fails.
        """
        self._attempts += 1
        attempt = self._attempts

        def failed(reason: Failure) -> Failure:
            if attempt == 1 or not self._firstOnly:
                self._failed(self._address, reason)
            return reason

        return self._endpoint.connect(protocolFactory).addErrback(failed)


def watchEndpoints(
    factory: Callable[[str], IStreamClientEndpoint],
    failed: Callable[[str, Failure], object],
    firstOnly: bool = False,
) -> Callable[[str], IStreamClientEndpoint]:
    """
    Wrap a client's C{endpointFactory} so that failed connection attempts
    are reported to C{failed(address, reason)}: every one, or with
    C{firstOnly} the first attempt of each endpoint.
    """

    def endpoint(address: str) -> IStreamClientEndpoint:
        return WatchedEndpoint(factory(address), address, failed, firstOnly)

    return endpoint


def nsqdAddress(address: str) -> str:
    """
    The address Go's C{net.Dial("tcp", address)} dials: C{host:port} split
    as Go splits it, the port a number (C{+1} is 1, an empty one 0) or a
    service name from C{/etc/services} (C{http}), from 0 to 65535.

    @return: C{host:port} with the port's number (C{[::1]:80}).
    @raise ValueError: with Go's error after its C{dial tcp: } prefix
        (C{address foo: missing port in address}, C{address tcp/abc:
        unknown port}, C{address 99999: invalid port}).
    """
    host, service = splitHostPort(address)
    digits = service[1:] if service[:1] in ("+", "-") else service
    if digits == "" and service != "":
        # "+" or "-" alone: Go's parsePort reads no digits, so 0.
        port = 0
    elif digits.isascii() and (digits.isdigit() or digits == ""):
        port = int(digits or "0")
        if service.startswith("-"):
            port = -port
    else:
        try:
            port = _socket.getservbyname(service.lower(), "tcp")
        except (OSError, UnicodeError):
            raise ValueError(f"address tcp/{service}: unknown port") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"address {service}: invalid port")
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}"


def nsqdAddresses(addresses: Sequence[str]) -> list[str]:
    """
    The check Go's C{net.Dial} makes of each address before dialing.

    @return: the addresses as L{nsqdAddress} gives them.
    @raise ValueError: C{dial tcp: address foo: missing port in address}.
    """
    checked = []
    for address in addresses:
        try:
            checked.append(nsqdAddress(address))
        except ValueError as e:
            raise ValueError(f"dial tcp: {e}") from None
    return checked


def checkNSQDAddresses(addresses: Sequence[str]) -> list[str]:
    """
    L{nsqdAddresses} for a tool that C{log.Fatal}s its error.

    @raise Fatal: C{dial tcp: address foo: missing port in address}.
    """
    try:
        return nsqdAddresses(addresses)
    except ValueError as e:
        raise Fatal(str(e))
