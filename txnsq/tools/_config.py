# -*- test-case-name: tests.tools.test_common -*-
"""
go-nsq's C{Config}, as the tools' C{--consumer-opt} and C{--producer-opt}
set it, mapped onto L{txnsq.client.Consumer} and L{txnsq.client.Producer}.

Go's tools pass each C{key,value} to go-nsq's C{Config.Set} (through
C{nsq.ConfigFlag}): the key is an C{opt} name of go-nsq 1.1.0's
C{Config} (C{-} read as C{_}), the value is coerced to the option's Go
type and checked against its C{min}/C{max}; C{key} alone means
C{key,true}.  L{GoNSQConfig} does the same with the same error texts, so
a bad option fails the command line as Go's does (flag error, status 2).

Options txnsq's client has no equivalent for (C{read_timeout},
C{write_timeout}, C{lookupd_poll_timeout}, C{tls_config}, and
C{skip_lookupd_authorization} set to true) are refused with an error
saying so, rather than accepted and ignored.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from zope.interface import implementer

import attrs
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IStreamClientEndpoint,
)

from txnsq._endpoints import splitHostPort
from txnsq._go.flags import FlagType, FlagValueError
from txnsq._go.values import (
    NumError,
    formatDurationNanoseconds,
    formatFloat,
    goQuote,
    parseBool,
    parseDurationNanoseconds,
    parseFloat,
    parseInt,
)
from txnsq.client import IdentifyOptions, exponentialBackoff, fullJitterBackoff

__all__ = [
    "CONFIG_OPTION",
    "GoNSQConfig",
    "UnsupportedOption",
    "configFromFlag",
    "consumerOptions",
    "identifyOptions",
    "parseOptionFlag",
    "producerOptions",
]

_NS = 1_000_000_000  # nanoseconds per second


class UnsupportedOption(ValueError):
    """
    A go-nsq option txnsq's client cannot honour.
    """


@attrs.frozen
class _Option:
    """
    One field of go-nsq's C{Config}.

    @ivar name: the C{opt} tag.
    @ivar field: the Go field name (Go's C{Validate} errors use it).
    @ivar kind: C{int}, C{uint}, C{float}, C{bool}, C{string},
        C{duration}, C{addr}, C{backoff} or C{pointer}.
    @ivar bits: the integer width, for Go's silent truncation.
    @ivar min: the C{min} tag, as text.
    @ivar max: the C{max} tag, as text.
    @ivar default: the C{default} tag, as text (or C{None}).
    """

    name: str
    field: str
    kind: str
    bits: int = 64
    min: str | None = None
    max: str | None = None
    default: str | None = None


# go-nsq 1.1.0's Config (the version Go NSQ 1.3.0 builds with), in order.
_OPTIONS = [
    _Option("dial_timeout", "DialTimeout", "duration", default="1s"),
    _Option(
        "read_timeout", "ReadTimeout", "duration", min="100ms", max="5m", default="60s"
    ),
    _Option(
        "write_timeout", "WriteTimeout", "duration", min="100ms", max="5m", default="1s"
    ),
    _Option("local_addr", "LocalAddr", "addr"),
    _Option(
        "lookupd_poll_interval",
        "LookupdPollInterval",
        "duration",
        min="10ms",
        max="5m",
        default="60s",
    ),
    _Option(
        "lookupd_poll_jitter",
        "LookupdPollJitter",
        "float",
        min="0",
        max="1",
        default="0.3",
    ),
    _Option("lookupd_poll_timeout", "LookupdPollTimeout", "duration", default="1m"),
    _Option(
        "max_requeue_delay",
        "MaxRequeueDelay",
        "duration",
        min="0",
        max="60m",
        default="15m",
    ),
    _Option(
        "default_requeue_delay",
        "DefaultRequeueDelay",
        "duration",
        min="0",
        max="60m",
        default="90s",
    ),
    _Option("backoff_strategy", "BackoffStrategy", "backoff", default="exponential"),
    _Option(
        "max_backoff_duration",
        "MaxBackoffDuration",
        "duration",
        min="0",
        max="60m",
        default="2m",
    ),
    _Option(
        "backoff_multiplier",
        "BackoffMultiplier",
        "duration",
        min="0",
        max="60m",
        default="1s",
    ),
    _Option(
        "max_attempts", "MaxAttempts", "uint", 16, min="0", max="65535", default="5"
    ),
    _Option(
        "low_rdy_idle_timeout",
        "LowRdyIdleTimeout",
        "duration",
        min="1s",
        max="5m",
        default="10s",
    ),
    _Option(
        "low_rdy_timeout",
        "LowRdyTimeout",
        "duration",
        min="1s",
        max="5m",
        default="30s",
    ),
    _Option(
        "rdy_redistribute_interval",
        "RDYRedistributeInterval",
        "duration",
        min="1ms",
        max="5s",
        default="5s",
    ),
    _Option("client_id", "ClientID", "string"),
    _Option("hostname", "Hostname", "string"),
    _Option("user_agent", "UserAgent", "string"),
    _Option("heartbeat_interval", "HeartbeatInterval", "duration", default="30s"),
    _Option("sample_rate", "SampleRate", "int", 32, min="0", max="99"),
    _Option("tls_v1", "TlsV1", "bool"),
    _Option("tls_config", "TlsConfig", "pointer"),
    _Option("deflate", "Deflate", "bool"),
    _Option("deflate_level", "DeflateLevel", "int", min="1", max="9", default="6"),
    _Option("snappy", "Snappy", "bool"),
    _Option("output_buffer_size", "OutputBufferSize", "int", default="16384"),
    _Option(
        "output_buffer_timeout", "OutputBufferTimeout", "duration", default="250ms"
    ),
    _Option("max_in_flight", "MaxInFlight", "int", min="0", default="1"),
    _Option("msg_timeout", "MsgTimeout", "duration", min="0"),
    _Option("auth_secret", "AuthSecret", "string"),
    _Option(
        "skip_lookupd_authorization", "LookupdAuthorization", "bool", default="true"
    ),
]
_BY_NAME = {option.name: option for option in _OPTIONS}

# go-nsq's tlsConfig handler: options that build the TLS settings.
_TLS_OPTIONS = (
    "tls_root_ca_file",
    "tls_insecure_skip_verify",
    "tls_cert",
    "tls_key",
    "tls_min_version",
)
_TLS_VERSIONS = ("ssl3.0", "tls1.0", "tls1.1", "tls1.2")

# Options go-nsq accepts whose effect txnsq's client cannot give; why, for
# the error.
_UNSUPPORTED = {
    "read_timeout": "txnsq.client times a connection out after two"
    " heartbeat_interval without data",
    "write_timeout": "txnsq.client has no write deadline",
    "lookupd_poll_timeout": "txnsq.client times nsqlookupd requests out after 10s",
    "tls_config": "a Go *tls.Config cannot be given on the command line;"
    " use the tls_* options",
}


def _goValue(value: object) -> str:
    """
    Go's C{%v} of a value given to C{Config.Set} or coerced by it.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return formatFloat(value)
    return str(value)


def _numError(function: str, text: str, error: NumError) -> ValueError:
    return ValueError(f"strconv.{function}: parsing {goQuote(text)}: {error}")


def _wrap(value: int, bits: int, signed: bool) -> int:
    """
    Go's conversion of an int64 or uint64 to a narrower integer type.
    """
    if bits >= 64 and signed:
        return value
    value &= (1 << bits) - 1
    if signed and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def _coerce(option: _Option, value: str | bool) -> object:
    """
    go-nsq's C{coerce}: C{value} in the option's Go type.

    @raise ValueError: with the reason Go gives (after C{failed to coerce
        option ... - }).
    """
    kind = option.kind
    if kind == "string":
        if isinstance(value, bool):
            # Go's fmt.Sprintf("%s", true).
            return f"%!s(bool={_goValue(value)})"
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        return parseBool(value)
    if isinstance(value, bool):
        raise ValueError("invalid value type")
    if kind == "int":
        try:
            number = parseInt(value, 10, 64)
        except NumError as e:
            raise _numError("ParseInt", value, e)
        return _wrap(number, option.bits, signed=True)
    if kind == "uint":
        if value.startswith(("-", "+")):
            raise _numError("ParseUint", value, NumError("invalid syntax"))
        try:
            number = parseInt(value, 10, 65)
        except NumError as e:
            raise _numError("ParseUint", value, e)
        if number >= 1 << 64:
            raise _numError("ParseUint", value, NumError("value out of range"))
        return _wrap(number, option.bits, signed=False)
    if kind == "float":
        try:
            return parseFloat(value)
        except NumError as e:
            raise _numError("ParseFloat", value, e)
    if kind == "duration":
        return parseDurationNanoseconds(value)
    if kind == "addr":
        port = splitHostPort(value)[1]
        if not port.isdigit():
            raise ValueError(f"lookup tcp/{port}: unknown port")
        return value
    if kind == "backoff":
        if value in ("", "exponential"):
            return "exponential"
        if value == "full_jitter":
            return "full_jitter"
        raise ValueError("invalid value type")
    raise AssertionError(kind)


def _show(option: _Option, value: object) -> str:
    """
    Go's C{%v} of a coerced value (durations print as Go durations).
    """
    if option.kind == "duration":
        assert isinstance(value, int)
        return formatDurationNanoseconds(value)
    return _goValue(value)


def _compare(option: _Option, value: object, bound: str) -> int:
    limit = _coerce(option, bound)
    assert isinstance(value, (int, float)) and isinstance(limit, (int, float))
    return (value > limit) - (value < limit)


class GoNSQConfig:
    """
    The values of go-nsq's C{Config} (durations in nanoseconds), with its
    defaults, its C{Set} and its C{Validate}.

    @ivar values: option name to value.
    @ivar tls: the C{tls_*} options set, by name.
    """

    def __init__(self) -> None:
        self.values: dict[str, object] = {}
        for option in _OPTIONS:
            if option.default is not None:
                self.values[option.name] = _coerce(option, option.default)
            elif option.kind == "string":
                self.values[option.name] = ""
            elif option.kind == "bool":
                self.values[option.name] = False
            elif option.kind in ("int", "uint", "duration"):
                self.values[option.name] = 0
            else:
                self.values[option.name] = None
        self.tls: dict[str, object] = {}

    @classmethod
    def fromOptions(cls, options: Iterable[tuple[str, str | bool]]) -> GoNSQConfig:
        """
        A config with C{options} set in order.

        @raise ValueError: as L{set} does.
        """
        config = cls()
        for name, value in options:
            config.set(name, value)
        return config

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def __setitem__(self, name: str, value: object) -> None:
        """
        Assign a field directly, as Go's tools do (C{cfg.MaxInFlight = n}):
        no coercion, no range check until L{validate}.
        """
        if name not in self.values:
            raise KeyError(name)
        self.values[name] = value

    def set(self, name: str, value: str | bool) -> None:
        """
        go-nsq's C{Config.Set(name, value)}.

        @raise UnsupportedOption: for an option txnsq cannot honour.
        @raise ValueError: with go-nsq's text for an unknown option, a value
            that cannot be coerced, or one out of range.
        """
        name = name.replace("-", "_")
        if name in _TLS_OPTIONS:
            self._setTLS(name, value)
            return
        option = _BY_NAME.get(name)
        if option is None:
            raise ValueError(f"invalid option {name}")
        if name in _UNSUPPORTED:
            raise UnsupportedOption(
                f"option {name} is not supported by txnsq ({_UNSUPPORTED[name]})"
            )
        try:
            coerced = _coerce(option, value)
        except ValueError as e:
            raise ValueError(
                f"failed to coerce option {name} ({_goValue(value)}) - {e}"
            )
        if option.min is not None and _compare(option, coerced, option.min) < 0:
            raise ValueError(
                f"invalid {name} ! {_show(option, coerced)}"
                f" < {_show(option, _coerce(option, option.min))}"
            )
        if option.max is not None and _compare(option, coerced, option.max) > 0:
            raise ValueError(
                f"invalid {name} ! {_show(option, coerced)}"
                f" > {_show(option, _coerce(option, option.max))}"
            )
        if name == "skip_lookupd_authorization" and coerced:
            raise UnsupportedOption(
                "option skip_lookupd_authorization is not supported by txnsq"
                " (txnsq.client sends no Authorization to nsqlookupd)"
            )
        self.values[name] = coerced

    def _setTLS(self, name: str, value: str | bool) -> None:
        """
        go-nsq's C{tlsConfig.Set}.
        """
        if name == "tls_insecure_skip_verify":
            try:
                self.tls[name] = _coerce(_Option(name, "", "bool"), value)
            except ValueError as e:
                raise ValueError(
                    f"failed to coerce option {name} ({_goValue(value)}) - {e}"
                )
            return
        if not isinstance(value, str):
            raise ValueError(f"ERROR: {_goValue(value)} is not a string")
        if name == "tls_root_ca_file":
            try:
                with open(value, "rb") as f:
                    pem = f.read()
            except OSError as e:
                raise ValueError(
                    "ERROR: failed to read custom Certificate Authority file"
                    f" open {value}: {(e.strerror or str(e)).lower()}"
                )
            if b"-----BEGIN CERTIFICATE-----" not in pem:
                raise ValueError(
                    "ERROR: failed to append certificates from Certificate"
                    " Authority file"
                )
            self.tls[name] = pem
            return
        if name == "tls_min_version":
            if value not in _TLS_VERSIONS:
                raise ValueError(f"ERROR: {value} is not a tls version")
            self.tls[name] = value
            return
        # tls_cert, tls_key: the pair is loaded once both are known.
        self.tls[name] = value
        cert, key = self.tls.get("tls_cert"), self.tls.get("tls_key")
        if isinstance(cert, str) and isinstance(key, str) and cert and key:
            try:
                with open(cert, "rb") as f:
                    certPEM = f.read()
                with open(key, "rb") as f:
                    keyPEM = f.read()
            except OSError as e:
                raise ValueError(f"open {e.filename}: {(e.strerror or '').lower()}")
            self.tls["pem"] = certPEM + b"\n" + keyPEM

    def validate(self) -> None:
        """
        go-nsq's C{Config.Validate}, which C{NewConsumer} and C{NewProducer}
        run (a tool reports its error with C{log.Fatal}).

        @raise ValueError: with Go's text (which names the Go field).
        """
        for option in _OPTIONS:
            if option.min is None and option.max is None:
                continue
            value = self.values[option.name]
            if option.min is not None and _compare(option, value, option.min) < 0:
                raise ValueError(
                    f"invalid {option.field} ! {_show(option, value)}"
                    f" < {_show(option, _coerce(option, option.min))}"
                )
            if option.max is not None and _compare(option, value, option.max) > 0:
                raise ValueError(
                    f"invalid {option.field} ! {_show(option, value)}"
                    f" > {_show(option, _coerce(option, option.max))}"
                )
        heartbeat = self.values["heartbeat_interval"]
        readTimeout = self.values["read_timeout"]
        assert isinstance(heartbeat, int) and isinstance(readTimeout, int)
        if heartbeat > readTimeout:
            raise ValueError(
                f"HeartbeatInterval {formatDurationNanoseconds(heartbeat)} must be"
                f" less than ReadTimeout {formatDurationNanoseconds(readTimeout)}"
            )


def parseOptionFlag(text: str) -> tuple[str, str | bool]:
    """
    go-nsq's C{ConfigFlag.Set}: C{key,value}, or C{key} alone for
    C{key,true}.
    """
    key, comma, value = text.partition(",")
    return (key, value) if comma else (key, True)


def _seconds(nanoseconds: object) -> float:
    assert isinstance(nanoseconds, int)
    return nanoseconds / _NS


def _milliseconds(nanoseconds: object) -> int:
    assert isinstance(nanoseconds, int)
    # Go sends int64(duration / time.Millisecond), which truncates.
    whole = abs(nanoseconds) // 1_000_000
    return whole if nanoseconds >= 0 else -whole


def identifyOptions(config: GoNSQConfig) -> IdentifyOptions:
    """
    The IDENTIFY a go-nsq connection with C{config} sends.
    """
    overrides: dict[str, Any] = {}
    if config["client_id"]:
        overrides["clientID"] = config["client_id"]
    if config["hostname"]:
        overrides["hostname"] = config["hostname"]
    if config["user_agent"]:
        overrides["userAgent"] = config["user_agent"]
    msgTimeout = _milliseconds(config["msg_timeout"])
    return IdentifyOptions(
        heartbeatIntervalMs=_milliseconds(config["heartbeat_interval"]),
        outputBufferSize=config["output_buffer_size"],
        outputBufferTimeoutMs=_milliseconds(config["output_buffer_timeout"]),
        sampleRate=config["sample_rate"],
        # 0 is "nsqd's default", which leaving it out says too.
        msgTimeoutMs=msgTimeout or None,
        tls=config["tls_v1"],
        snappy=config["snappy"],
        deflate=config["deflate"],
        deflateLevel=config["deflate_level"],
        tlsOptions=_tlsOptions(config),
        **overrides,
    )


def _tlsOptions(config: GoNSQConfig) -> Any:
    """
    Twisted TLS options for the C{tls_*} options; C{None} (verify the
    certificate against the address connected to) when none is set.
    """
    tls = config.tls
    if not tls:
        return None
    from twisted.internet import ssl

    extra: dict[str, Any] = {}
    minimum = tls.get("tls_min_version")
    if isinstance(minimum, str):
        version = {
            "ssl3.0": ssl.TLSVersion.SSLv3,
            "tls1.0": ssl.TLSVersion.TLSv1_0,
            "tls1.1": ssl.TLSVersion.TLSv1_1,
            "tls1.2": ssl.TLSVersion.TLSv1_2,
        }[minimum]
        if minimum in ("ssl3.0", "tls1.0", "tls1.1"):
            extra["insecurelyLowerMinimumTo"] = version
        else:
            extra["raiseMinimumTo"] = version
    pem = tls.get("pem")
    client = ssl.PrivateCertificate.loadPEM(pem) if isinstance(pem, bytes) else None
    if tls.get("tls_insecure_skip_verify"):
        if client is not None:
            extra["privateKey"] = client.privateKey.original
            extra["certificate"] = client.original
        return ssl.CertificateOptions(verify=False, **extra)
    root = tls.get("tls_root_ca_file")
    trustRoot = ssl.Certificate.loadPEM(root) if isinstance(root, bytes) else None
    return _PeerVerifyingTLS(trustRoot, client, extra)


@implementer(IOpenSSLClientConnectionCreator)
class _PeerVerifyingTLS:
    """
    Client TLS that checks the certificate against the host connected to,
    as go-nsq does (its C{ServerName} is the host of the nsqd address), with
    the trust root and client certificate of the C{tls_*} options.  The
    host is only known per connection, so the options are made then.
    """

    def __init__(
        self, trustRoot: Any, clientCertificate: Any, extra: Mapping[str, Any]
    ) -> None:
        self._trustRoot = trustRoot
        self._clientCertificate = clientCertificate
        self._extra = dict(extra)

    def clientConnectionForTLS(self, tlsProtocol: Any) -> Any:
        """
        The OpenSSL connection for one nsqd connection.
        """
        from twisted.internet.ssl import optionsForClientTLS

        # startTLS wraps the client protocol, whose transport is the TCP
        # connection being upgraded.
        peer = tlsProtocol.wrappedProtocol.transport.getPeer()
        options = optionsForClientTLS(
            str(peer.host),
            trustRoot=self._trustRoot,
            clientCertificate=self._clientCertificate,
            extraCertificateOptions=self._extra,
        )
        return options.clientConnectionForTLS(tlsProtocol)


def _endpointFactory(
    config: GoNSQConfig, reactor: Any
) -> Callable[[str], IStreamClientEndpoint]:
    """
    Endpoints dialing with go-nsq's C{dial_timeout} and C{local_addr}.
    """
    timeout = _seconds(config["dial_timeout"])
    local = config["local_addr"]
    bindAddress: tuple[str, int] | None = None
    if isinstance(local, str):
        host, port = splitHostPort(local)
        bindAddress = (host, int(port))

    def endpoint(address: str) -> IStreamClientEndpoint:
        host, port = splitHostPort(address)
        if not port.isdigit():
            raise ValueError(f"address {address}: invalid port")
        return HostnameEndpoint(
            reactor,
            host or "127.0.0.1",
            int(port),
            timeout=timeout,
            bindAddress=bindAddress,
        )

    return endpoint


def _authSecret(config: GoNSQConfig) -> bytes | None:
    secret = config["auth_secret"]
    assert isinstance(secret, str)
    return secret.encode("utf-8", "surrogateescape") if secret else None


def consumerOptions(
    config: GoNSQConfig,
    reactor: Any,
    random: _random.Random | None = None,
) -> dict[str, Any]:
    """
    The keyword arguments of L{txnsq.client.Consumer} for C{config}
    (topic, channel, handler and addresses are the tool's).

    @param random: randomness for full-jitter backoff and RDY.
    """
    rng = random or _random.Random()
    multiplier = _seconds(config["backoff_multiplier"])
    backoff = (
        fullJitterBackoff(multiplier, rng.random)
        if config["backoff_strategy"] == "full_jitter"
        else exponentialBackoff(multiplier)
    )
    return {
        "reactor": reactor,
        "maxInFlight": config["max_in_flight"],
        "maxAttempts": config["max_attempts"],
        "requeueDelay": _seconds(config["default_requeue_delay"]),
        "maxRequeueDelay": _seconds(config["max_requeue_delay"]),
        "backoff": backoff,
        "maxBackoffDuration": _seconds(config["max_backoff_duration"]),
        "lookupdPollInterval": _seconds(config["lookupd_poll_interval"]),
        "lookupdPollJitter": config["lookupd_poll_jitter"],
        "rdyRedistributeInterval": _seconds(config["rdy_redistribute_interval"]),
        "lowRdyIdleTimeout": _seconds(config["low_rdy_idle_timeout"]),
        "lowRdyTimeout": _seconds(config["low_rdy_timeout"]),
        "identify": identifyOptions(config),
        "authSecret": _authSecret(config),
        "endpointFactory": _endpointFactory(config, reactor),
        "random": rng,
    }


def producerOptions(config: GoNSQConfig, reactor: Any) -> dict[str, Any]:
    """
    The keyword arguments of L{txnsq.client.Producer} for C{config} (the
    addresses are the tool's).  The consumer-only options are validated
    and unused, as in go-nsq.
    """
    return {
        "reactor": reactor,
        "identify": identifyOptions(config),
        "authSecret": _authSecret(config),
        "endpointFactory": _endpointFactory(config, reactor),
    }


# -- the flag type -------------------------------------------------------------


def _setOption(current: object, text: str) -> list[tuple[str, str | bool]]:
    assert isinstance(current, list)
    options = [*current, parseOptionFlag(text)]
    try:
        # Replayed on a fresh config so that errors depending on earlier
        # options (a tls_cert/tls_key pair) show where Go shows them.
        GoNSQConfig.fromOptions(options)
    except ValueError as e:
        raise FlagValueError(str(e))
    return options


def _optionsFromConfig(value: object) -> list[tuple[str, str | bool]]:
    raise TypeError("not read from a config file")


def _showOptions(value: object) -> str:
    # go-nsq's ConfigFlag.String is always empty.
    return ""


CONFIG_OPTION = FlagType(
    "value",
    _setOption,
    _optionsFromConfig,
    _showOptions,
    "",
    repeatable=True,
)
"""go-nsq's C{nsq.ConfigFlag}: repeatable C{key,value}, checked as go-nsq's
C{Config.Set} checks it; the value is the list of C{(key, value)}."""


def configFromFlag(options: Sequence[tuple[str, str | bool]]) -> GoNSQConfig:
    """
    The config a tool's C{--consumer-opt}/C{--producer-opt} values give
    (already checked by the flag parser).
    """
    return GoNSQConfig.fromOptions(options)
