"""
Tests for the tools' shared infrastructure: go-nsq's C{Config} options
(L{txnsq.tools._config}), the common flags and checks
(L{txnsq.tools._common}) and the runner (L{txnsq.tools._runner}), the
last also as real C{python -m txnsq <tool>} processes.
"""

from __future__ import annotations

import io
import os
import signal
import sys
from datetime import datetime
from typing import Any

from twisted.internet import error, reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory, ProcessProtocol
from twisted.internet.ssl import CertificateOptions
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests._certs import writeCertificates
from tests.tools._helpers import logLines, publish, start, startNSQD
from txnsq import NSQ_VERSION
from txnsq._go.flags import FlagError, FlagTable
from txnsq._version import __version__
from txnsq.tools import ALIASES, TOOLS, nsq_tail, nsq_to_http, to_nsq
from txnsq.tools._common import (
    channelFlag,
    checkAddressChoice,
    checkNSQDAddresses,
    consumerOptFlag,
    dialError,
    lookupdHTTPAddressFlag,
    lookupdURLs,
    maxInFlightFlag,
    newConsumerError,
    nsqConfig,
    nsqdAddress,
    nsqdTCPAddressFlag,
    producerOptFlag,
    topicFlag,
    topicsFlag,
    userAgent,
    versionFlag,
    watchEndpoints,
)
from txnsq.tools._config import (
    GoNSQConfig,
    UnsupportedOption,
    consumerOptions,
    identifyOptions,
    parseOptionFlag,
    producerOptions,
)
from txnsq.tools._runner import (
    SIGPIPE_STATUS,
    ClientLogObserver,
    Exit,
    Fatal,
    StdoutClosed,
    Tool,
    ToolContext,
    goLogLine,
    startTool,
)


class GoNSQConfigTests(SynchronousTestCase):
    """
    L{GoNSQConfig} sets options as go-nsq 1.1.0's C{Config.Set} does, with
    its error texts.
    """

    def assertSetError(self, name: str, value: str | bool, message: str) -> None:
        config = GoNSQConfig()
        with self.assertRaises(ValueError) as caught:
            config.set(name, value)
        self.assertEqual(str(caught.exception), message)

    def test_defaults(self) -> None:
        """
        go-nsq's defaults, durations in nanoseconds.
        """
        config = GoNSQConfig()
        self.assertEqual(config["max_in_flight"], 1)
        self.assertEqual(config["max_attempts"], 5)
        self.assertEqual(config["heartbeat_interval"], 30 * 10**9)
        self.assertEqual(config["lookupd_poll_jitter"], 0.3)
        self.assertEqual(config["backoff_strategy"], "exponential")
        self.assertEqual(config["deflate_level"], 6)
        self.assertEqual((config["snappy"], config["client_id"]), (False, ""))

    def test_set(self) -> None:
        """
        Values are coerced to the option's type; C{-} in a name is C{_}.
        """
        config = GoNSQConfig()
        config.set("max-in-flight", "20")
        config.set("msg_timeout", "1m30s")
        config.set("lookupd_poll_jitter", "0.5")
        config.set("snappy", True)
        config.set("deflate", "f")
        config.set("client_id", "me")
        config.set("backoff_strategy", "full_jitter")
        config.set("local_addr", "127.0.0.1:0")
        self.assertEqual(config["max_in_flight"], 20)
        self.assertEqual(config["msg_timeout"], 90 * 10**9)
        self.assertEqual(config["lookupd_poll_jitter"], 0.5)
        self.assertEqual((config["snappy"], config["deflate"]), (True, False))
        self.assertEqual(config["client_id"], "me")
        self.assertEqual(config["backoff_strategy"], "full_jitter")
        self.assertEqual(config["local_addr"], "127.0.0.1:0")

    def test_unknown(self) -> None:
        """
        An unknown option is C{invalid option NAME}.
        """
        self.assertSetError("max-flight", "1", "invalid option max_flight")

    def test_coercion(self) -> None:
        """
        A value that is not of the option's type: go-nsq's C{failed to
        coerce} with strconv's or time's reason.
        """
        self.assertSetError(
            "max_in_flight",
            "x",
            "failed to coerce option max_in_flight (x) - strconv.ParseInt:"
            ' parsing "x": invalid syntax',
        )
        self.assertSetError(
            "max_attempts",
            "-1",
            "failed to coerce option max_attempts (-1) - strconv.ParseUint:"
            ' parsing "-1": invalid syntax',
        )
        self.assertSetError(
            "snappy",
            "yes",
            'failed to coerce option snappy (yes) - strconv.ParseBool: parsing "yes":'
            " invalid syntax",
        )
        self.assertSetError(
            "lookupd_poll_jitter",
            "a",
            "failed to coerce option lookupd_poll_jitter (a) - strconv.ParseFloat:"
            ' parsing "a": invalid syntax',
        )
        self.assertSetError(
            "msg_timeout",
            "10",
            "failed to coerce option msg_timeout (10) - time: missing unit in"
            ' duration "10"',
        )
        # A key alone means true, which only booleans take.
        self.assertSetError(
            "max_in_flight",
            True,
            "failed to coerce option max_in_flight (true) - invalid value type",
        )
        self.assertSetError(
            "backoff_strategy",
            "linear",
            "failed to coerce option backoff_strategy (linear) - invalid value type",
        )

    def test_range(self) -> None:
        """
        A value outside the option's C{min}/C{max}: C{invalid NAME ! v < min}
        with Go's C{%v} of each (durations as Go prints them).
        """
        self.assertSetError("max_in_flight", "-1", "invalid max_in_flight ! -1 < 0")
        self.assertSetError("deflate_level", "10", "invalid deflate_level ! 10 > 9")
        self.assertSetError(
            "rdy_redistribute_interval",
            "6s",
            "invalid rdy_redistribute_interval ! 6s > 5s",
        )
        self.assertSetError(
            "low_rdy_idle_timeout", "500ms", "invalid low_rdy_idle_timeout ! 500ms < 1s"
        )
        self.assertSetError(
            "lookupd_poll_jitter", "1.5", "invalid lookupd_poll_jitter ! 1.5 > 1"
        )

    def test_truncation(self) -> None:
        """
        Go converts to the field's width silently, before the range check.
        """
        config = GoNSQConfig()
        config.set("max_attempts", "70000")
        self.assertEqual(config["max_attempts"], 70000 - 65536)

    def test_unsupported(self) -> None:
        """
        Options txnsq's client cannot honour are refused, saying so, not
        ignored.
        """
        for name, value in [
            ("read_timeout", "30s"),
            ("write_timeout", "1s"),
            ("lookupd_poll_timeout", "5s"),
            ("tls_config", "x"),
            ("skip_lookupd_authorization", "true"),
        ]:
            config = GoNSQConfig()
            with self.assertRaises(UnsupportedOption) as caught:
                config.set(name, value)
            self.assertIn(
                f"option {name} is not supported by txnsq", str(caught.exception)
            )
        GoNSQConfig().set("skip_lookupd_authorization", "false")

    def test_validate(self) -> None:
        """
        C{validate} checks the fields assigned directly, naming the Go
        field, and the heartbeat against the read timeout.
        """
        config = GoNSQConfig()
        config["max_in_flight"] = -5
        with self.assertRaises(ValueError) as caught:
            config.validate()
        self.assertEqual(str(caught.exception), "invalid MaxInFlight ! -5 < 0")
        config = GoNSQConfig.fromOptions([("heartbeat_interval", "90s")])
        with self.assertRaises(ValueError) as caught:
            config.validate()
        self.assertEqual(
            str(caught.exception),
            "HeartbeatInterval 1m30s must be less than ReadTimeout 1m0s",
        )

    def test_tls(self) -> None:
        """
        The C{tls_*} options: go-nsq's checks, and Twisted TLS options
        that verify against the given authority, or not at all.
        """
        self.assertSetError(
            "tls_min_version", "tls1.3", "ERROR: tls1.3 is not a tls version"
        )
        self.assertSetError("tls_cert", True, "ERROR: true is not a string")
        self.assertSetError(
            "tls_root_ca_file",
            "/nonexistent",
            "ERROR: failed to read custom Certificate Authority file open"
            " /nonexistent: no such file or directory",
        )
        self.assertIsNone(identifyOptions(GoNSQConfig()).tlsOptions)
        files = writeCertificates(self.mktemp())
        insecure = GoNSQConfig.fromOptions(
            [
                ("tls_v1", True),
                ("tls_insecure_skip_verify", True),
                ("tls_cert", files.clientCert),
                ("tls_key", files.clientKey),
            ]
        )
        options = identifyOptions(insecure)
        self.assertTrue(options.tls)
        self.assertIsInstance(options.tlsOptions, CertificateOptions)
        self.assertFalse(options.tlsOptions.verify)
        self.assertIsNotNone(options.tlsOptions.certificate)
        verifying = GoNSQConfig.fromOptions(
            [("tls_root_ca_file", files.caCert), ("tls_min_version", "tls1.2")]
        )
        self.assertTrue(
            hasattr(identifyOptions(verifying).tlsOptions, "clientConnectionForTLS")
        )

    def test_parseOptionFlag(self) -> None:
        """
        C{key,value} splits at the first comma; C{key} alone is true.
        """
        self.assertEqual(parseOptionFlag("snappy"), ("snappy", True))
        self.assertEqual(parseOptionFlag("client_id,a,b"), ("client_id", "a,b"))
        self.assertEqual(parseOptionFlag("user_agent,"), ("user_agent", ""))


class ClientOptionsTests(SynchronousTestCase):
    """
    A go-nsq config becomes the client's Consumer and Producer arguments.
    """

    def test_consumer(self) -> None:
        """
        Each consumer option reaches its client argument, in the client's
        units.
        """
        config = GoNSQConfig.fromOptions(
            [
                ("max_in_flight", "7"),
                ("max_attempts", "3"),
                ("default_requeue_delay", "10s"),
                ("max_requeue_delay", "1m"),
                ("max_backoff_duration", "30s"),
                ("backoff_multiplier", "500ms"),
                ("lookupd_poll_interval", "15s"),
                ("lookupd_poll_jitter", "0.1"),
                ("rdy_redistribute_interval", "2s"),
                ("low_rdy_idle_timeout", "3s"),
                ("low_rdy_timeout", "4s"),
                ("auth_secret", "s3cret"),
            ]
        )
        clock = MemoryReactorClock()
        options = consumerOptions(config, clock)
        self.assertEqual(options["reactor"], clock)
        self.assertEqual(options["maxInFlight"], 7)
        self.assertEqual(options["maxAttempts"], 3)
        self.assertEqual(options["requeueDelay"], 10.0)
        self.assertEqual(options["maxRequeueDelay"], 60.0)
        self.assertEqual(options["maxBackoffDuration"], 30.0)
        self.assertEqual(options["backoff"](2), 2.0)
        self.assertEqual(options["lookupdPollInterval"], 15.0)
        self.assertEqual(options["lookupdPollJitter"], 0.1)
        self.assertEqual(options["rdyRedistributeInterval"], 2.0)
        self.assertEqual(options["lowRdyIdleTimeout"], 3.0)
        self.assertEqual(options["lowRdyTimeout"], 4.0)
        self.assertEqual(options["authSecret"], b"s3cret")
        self.assertIsNone(consumerOptions(GoNSQConfig(), clock)["authSecret"])

    def test_fullJitter(self) -> None:
        """
        C{backoff_strategy,full_jitter} draws up to the exponential
        backoff.
        """
        config = GoNSQConfig.fromOptions([("backoff_strategy", "full_jitter")])
        backoff = consumerOptions(config, MemoryReactorClock())["backoff"]
        self.assertTrue(all(0 <= backoff(3) <= 8 for _ in range(50)))

    def test_identify(self) -> None:
        """
        The IDENTIFY options, durations in milliseconds; C{msg_timeout} 0
        leaves nsqd's default.
        """
        config = GoNSQConfig.fromOptions(
            [
                ("client_id", "c"),
                ("hostname", "h"),
                ("user_agent", "ua"),
                ("heartbeat_interval", "5s"),
                ("output_buffer_size", "100"),
                ("output_buffer_timeout", "10ms"),
                ("sample_rate", "20"),
                ("snappy", True),
                ("deflate_level", "3"),
            ]
        )
        identify = identifyOptions(config)
        self.assertEqual(
            (identify.clientID, identify.hostname, identify.userAgent), ("c", "h", "ua")
        )
        self.assertEqual(identify.heartbeatIntervalMs, 5000)
        self.assertEqual(identify.outputBufferSize, 100)
        self.assertEqual(identify.outputBufferTimeoutMs, 10)
        self.assertEqual(identify.sampleRate, 20)
        self.assertEqual((identify.snappy, identify.deflateLevel), (True, 3))
        self.assertIsNone(identify.msgTimeoutMs)
        timed = GoNSQConfig.fromOptions([("msg_timeout", "2500ms")])
        self.assertEqual(identifyOptions(timed).msgTimeoutMs, 2500)
        # Without client_id, the client's default (the short hostname).
        self.assertTrue(identifyOptions(GoNSQConfig()).clientID)

    def test_dialing(self) -> None:
        """
        C{dial_timeout} and C{local_addr} shape the endpoints of both
        clients.
        """
        config = GoNSQConfig.fromOptions(
            [("dial_timeout", "3s"), ("local_addr", "127.0.0.1:0")]
        )
        clock = MemoryReactorClock()
        for options in (consumerOptions(config, clock), producerOptions(config, clock)):
            endpoint = options["endpointFactory"]("127.0.0.1:4150")
            self.assertIsInstance(endpoint, HostnameEndpoint)
            endpoint.connect(Factory())
        clock.advance(1)
        self.assertEqual(
            [
                (host, port, timeout, bind)
                for host, port, _, timeout, bind in clock.tcpClients
            ],
            [("127.0.0.1", 4150, 3.0, ("127.0.0.1", 0))] * 2,
        )


class _Endpoint:
    def __init__(self, results: list[Deferred[Any]]) -> None:
        self.results = results

    def connect(self, factory: object) -> Deferred[Any]:
        return self.results.pop(0)


class CommonTests(SynchronousTestCase):
    """
    The common flags, checks and errors.
    """

    def table(self) -> FlagTable:
        return FlagTable(
            "tool",
            [
                versionFlag(),
                topicFlag(),
                channelFlag("dflt"),
                maxInFlightFlag(),
                nsqdTCPAddressFlag(),
                lookupdHTTPAddressFlag(),
                consumerOptFlag(),
            ],
        )

    def test_usage(self) -> None:
        """
        The flags print as Go's tools declare them.
        """
        usage = self.table().usage()
        self.assertIn(
            "  -consumer-opt value\n    \toption to passthrough to nsq.Consumer (may"
            " be given multiple times, http://godoc.org/github.com/nsqio/go-nsq#Config)\n",
            usage,
        )
        self.assertIn(
            "  -nsqd-tcp-address value\n"
            "    \tnsqd TCP address (may be given multiple times)\n",
            usage,
        )
        self.assertIn('  -channel string\n    \tNSQ channel (default "dflt")\n', usage)
        self.assertIn("  -version\n    \tprint version string\n", usage)
        self.assertIn("option to passthrough to nsq.Producer", producerOptFlag().usage)
        self.assertEqual(topicsFlag().default, [])

    def test_spellings(self) -> None:
        """
        Every Go spelling: C{-f v}, C{--f=v}, bare booleans, repeats.
        """
        parsed = self.table().parse(
            [
                "-topic",
                "t",
                "--channel=c",
                "-version",
                "--nsqd-tcp-address",
                "a:1",
                "-nsqd-tcp-address=b:2",
                "--consumer-opt=snappy",
                "-consumer-opt",
                "max_in_flight,3",
                "rest",
            ]
        )
        self.assertEqual(
            parsed.values,
            {
                "topic": "t",
                "channel": "c",
                "version": True,
                "nsqd-tcp-address": ["a:1", "b:2"],
                "consumer-opt": [("snappy", True), ("max_in_flight", "3")],
            },
        )
        self.assertEqual(parsed.arguments, ["rest"])

    def test_optionFlagError(self) -> None:
        """
        A bad option is Go's flag error naming the flag and the option.
        """
        with self.assertRaises(FlagError) as caught:
            self.table().parse(["--consumer-opt", "nope,1"])
        self.assertEqual(
            str(caught.exception),
            'invalid value "nope,1" for flag -consumer-opt: invalid option nope',
        )

    def context(self, *argv: str) -> ToolContext:
        tool = Tool("tool", self.table(), _never)
        values = tool.flags.resolve(tool.flags.parse(argv).values)
        return ToolContext(
            tool, values, frozenset(), [], None, None, io.BytesIO(), io.StringIO()
        )

    def test_addressChoice(self) -> None:
        """
        Exactly one kind of address.
        """
        checkAddressChoice(self.context("--nsqd-tcp-address=a:1"))
        checkAddressChoice(self.context("--lookupd-http-address=a:1"))
        with self.assertRaises(Fatal):
            checkAddressChoice(self.context())
        with self.assertRaises(Fatal):
            checkAddressChoice(
                self.context("--nsqd-tcp-address=a:1", "--lookupd-http-address=b:1")
            )

    def test_nsqConfig(self) -> None:
        """
        The tool's own C{--max-in-flight} and user agent win over
        C{--consumer-opt}, as Go assigns them after parsing.
        """
        context = self.context(
            "--consumer-opt=max_in_flight,9", "--consumer-opt=user_agent,x"
        )
        config = nsqConfig(context, "consumer-opt", 4)
        self.assertEqual(config["max_in_flight"], 4)
        self.assertEqual(
            config["user_agent"], f"tool/{NSQ_VERSION} txnsq/{__version__}"
        )
        self.assertEqual(userAgent("to_nsq"), f"to_nsq/1.3.0 txnsq/{__version__}")
        with self.assertRaises(Fatal) as caught:
            nsqConfig(context, "consumer-opt", -1, "prefix - ")
        self.assertEqual(str(caught.exception), "prefix - invalid MaxInFlight ! -1 < 0")

    def test_newConsumerError(self) -> None:
        """
        The client's name errors shrink to go-nsq's; other errors pass as
        they are.
        """
        self.assertEqual(
            newConsumerError("invalid topic name 'a b': use [.a-zA-Z0-9_-]"),
            "invalid topic name",
        )
        self.assertEqual(
            newConsumerError("invalid channel name '': 1 to 64 characters"),
            "invalid channel name",
        )
        self.assertEqual(newConsumerError("missing port"), "missing port")

    def test_nsqdAddress(self) -> None:
        """
        An nsqd address is checked as Go's C{net.Dial} checks it, with
        Go's errors; the port Go dials is given as a number.
        """
        good = {
            "127.0.0.1:4150": "127.0.0.1:4150",
            "[::1]:4150": "[::1]:4150",
            ":4150": ":4150",
            "h:+1": "h:1",
            "h:": "h:0",
            "h:-0": "h:0",
            "h:http": "h:80",
            "h:HTTP": "h:80",
        }
        for address, dialed in good.items():
            self.assertEqual(nsqdAddress(address), dialed, address)
        # Go's nsq_tail and to_nsq 1.3.0, after "dial tcp: ".
        bad = {
            "localhost": "address localhost: missing port in address",
            "[::1]": "address [::1]: missing port in address",
            "::1:4150": "address ::1:4150: too many colons in address",
            "[::1:4150": "address [::1:4150: missing ']' in address",
            "h:abc": "address tcp/abc: unknown port",
            "[::1]:abc": "address tcp/abc: unknown port",
            "h:65536": "address 65536: invalid port",
            "h:-1": "address -1: invalid port",
        }
        for address, expected in bad.items():
            with self.assertRaises(ValueError) as caught:
                nsqdAddress(address)
            self.assertEqual(str(caught.exception), expected, address)
        with self.assertRaises(Fatal) as fatal:
            checkNSQDAddresses(["127.0.0.1:4150", "h:abc"])
        self.assertEqual(
            str(fatal.exception), "dial tcp: address tcp/abc: unknown port"
        )

    def test_lookupdURLs(self) -> None:
        """
        An nsqlookupd address is a URL (C{http://} put first when it has no
        scheme) that Go's C{url.Parse} takes, with a port: IPv6 in
        brackets, paths and C{https} too.  Otherwise go-nsq's error.
        """
        self.assertEqual(
            lookupdURLs(
                ["127.0.0.1:4161", "[::1]:4161", "https://h:4161/x", "::1:4161"]
            ),
            [
                "http://127.0.0.1:4161",
                "http://[::1]:4161",
                "https://h:4161/x",
                "http://::1:4161",
            ],
        )
        bad = {
            "localhost": "missing port",
            "[::1]": "missing port",
            "h:": "missing port",
            "http://h": "missing port",
            "/run/nsqlookupd.sock": "missing port",
            "h:abc": 'parse "http://h:abc": invalid port ":abc" after host',
            "[::1": "parse \"http://[::1\": missing ']' in host",
        }
        for address, expected in bad.items():
            with self.assertRaises(ValueError) as caught:
                lookupdURLs(["h:1", address])
            self.assertEqual(str(caught.exception), expected, address)

    def test_toolsCheckAddresses(self) -> None:
        """
        The tools end with Go's error for an address Go refuses before
        connecting (to_nsq used to fail with a traceback for a port that
        is not a number; as Go's, it dials at its first publish).
        """
        cases = [
            (
                nsq_tail.TOOL,
                ["--topic=t", "--lookupd-http-address=h:x"],
                'parse "http://h:x": invalid port ":x" after host',
            ),
            (
                nsq_to_http.TOOL,
                ["--topic=t", "--get=http://h:1/?%s", "--lookupd-http-address=h"],
                "missing port",
            ),
            (
                to_nsq.TOOL,
                ["--topic=t", "--nsqd-tcp-address=127.0.0.1:abc"],
                "dial tcp: address tcp/abc: unknown port",
            ),
            (
                nsq_tail.TOOL,
                ["--topic=t", "--nsqd-tcp-address=h:99999"],
                "dial tcp: address 99999: invalid port",
            ),
        ]
        for tool, argv, expected in cases:
            running = start(tool, argv, io.BytesIO(b"x\n"))
            self.assertEqual(self.successResultOf(running.result), 1, argv)
            self.assertEqual(logLines(running.stderr.getvalue())[-1:], [expected])

    def test_dialError(self) -> None:
        """
        Connection failures read as Go's C{net.Dial} errors.
        """
        cases = [
            (
                error.ConnectionRefusedError(),
                "dial tcp a:1: connect: connection refused",
            ),
            (error.TimeoutError(), "dial tcp a:1: i/o timeout"),
            (error.DNSLookupError(), "dial tcp: lookup a: no such host"),
            (
                error.ConnectError("boom"),
                "dial tcp a:1: An error occurred while connecting: boom.",
            ),
        ]
        for exception, text in cases:
            self.assertEqual(dialError("a:1", Failure(exception)), text)

    def test_watchedEndpoints(self) -> None:
        """
        A watched endpoint reports failed attempts: all of them, or with
        C{firstOnly} only its first.
        """
        for firstOnly, expected in ((False, ["a:1", "a:1"]), (True, ["a:1"])):
            reported: list[str] = []
            fail: Deferred[Any] = Deferred()
            stub = _Endpoint([fail, succeed("ok"), Deferred()])
            factory = watchEndpoints(
                lambda address, stub=stub: _asEndpoint(stub),  # type: ignore[misc]
                lambda address, reason, reported=reported: reported.append(address),  # type: ignore[misc]
                firstOnly=firstOnly,
            )
            endpoint = factory("a:1")
            self.failureResultOf(_fired(endpoint.connect(Factory()), fail))
            self.assertEqual(self.successResultOf(endpoint.connect(Factory())), "ok")
            last = endpoint.connect(Factory())
            last.errback(error.ConnectionRefusedError())
            self.failureResultOf(last)
            self.assertEqual(reported, expected)


def _asEndpoint(endpoint: _Endpoint) -> IStreamClientEndpoint:
    return endpoint  # type: ignore[return-value]


def _fired(result: Deferred[Any], source: Deferred[Any]) -> Deferred[Any]:
    source.errback(error.ConnectionRefusedError())
    return result


async def _never(context: ToolContext) -> int:
    await Deferred()
    return 0


def _tool(body: Any, **kwargs: Any) -> Tool:
    return Tool("tool", FlagTable("tool", [versionFlag()]), body, **kwargs)


class RunnerTests(SynchronousTestCase):
    """
    L{startTool} ends a tool with Go's statuses and stderr.
    """

    def runTool(self, body: Any, *argv: str) -> tuple[int, bytes, str]:
        stdout, stderr = io.BytesIO(), io.StringIO()
        run = startTool(
            _tool(body),
            argv,
            reactor=MemoryReactorClock(),
            stdout=stdout,
            stderr=stderr,
        )
        return self.successResultOf(run.result), stdout.getvalue(), stderr.getvalue()

    def test_goLogLine(self) -> None:
        """
        Go's standard logger: date, time to the second, text, one newline.
        """
        when = datetime(2024, 1, 2, 3, 4, 5, 678).timestamp()
        self.assertEqual(goLogLine("hello", when), "2024/01/02 03:04:05 hello\n")
        self.assertEqual(goLogLine("hi\n", when), "2024/01/02 03:04:05 hi\n")

    def test_statuses(self) -> None:
        """
        A return value is the status; L{Fatal} logs and exits 1; L{Exit}
        is C{os.Exit}; a closed stdout dies of SIGPIPE; a bug is Go's
        panic (status 2).
        """

        async def returns(context: ToolContext) -> int:
            context.write(b"out")
            return 3

        async def fatal(context: ToolContext) -> int:
            context.fatal("--topic required")

        async def exits(context: ToolContext) -> int:
            raise Exit(4)

        async def closed(context: ToolContext) -> int:
            raise StdoutClosed()

        async def bug(context: ToolContext) -> int:
            raise KeyError("oops")

        self.assertEqual(self.runTool(returns), (3, b"out", ""))
        status, _, err = self.runTool(fatal)
        self.assertEqual((status, logLines(err)), (1, ["--topic required"]))
        self.assertEqual(self.runTool(exits), (4, b"", ""))
        self.assertEqual(self.runTool(closed)[0], SIGPIPE_STATUS)
        status, _, err = self.runTool(bug)
        self.assertEqual(status, 2)
        self.assertTrue(err.startswith("panic: 'oops'\n"), err)
        self.assertIn("KeyError", err)

    def test_commandLine(self) -> None:
        """
        The runner handles C{-h}, bad flags and C{--version} itself.
        """
        self.assertEqual(self.runTool(_never, "-version"), (0, b"tool v1.3.0\n", ""))
        self.assertEqual(
            self.runTool(_never, "-h"),
            (0, b"", "Usage of tool:\n  -version\n    \tprint version string\n"),
        )
        status, _, err = self.runTool(_never, "-x")
        self.assertEqual(
            (status, err.splitlines()[0]), (2, "flag provided but not defined: -x")
        )

    def test_endFromCallback(self) -> None:
        """
        L{ToolContext.end} ends the tool from outside its body: the body is
        cancelled, its cleanup runs first, then the status is given.
        """
        cleanup: list[str] = []
        contexts: list[ToolContext] = []
        release: Deferred[None] = Deferred()

        async def body(context: ToolContext) -> int:
            contexts.append(context)
            try:
                await Deferred()
            finally:
                cleanup.append("started")
                await release
                cleanup.append("done")
            return 0

        run = startTool(
            _tool(body),
            [],
            reactor=MemoryReactorClock(),
            stdout=io.BytesIO(),
            stderr=io.StringIO(),
        )
        contexts[0].end(Fatal("gone"))
        self.assertEqual(cleanup, ["started"])
        self.assertNoResult(run.result)
        release.callback(None)
        self.assertEqual(self.successResultOf(run.result), 1)
        self.assertEqual(cleanup, ["started", "done"])
        contexts[0].end(5)

    def test_endWithinBody(self) -> None:
        """
        L{ToolContext.end} called by the body itself (a callback that fired
        at once), which then returns or raises without waiting: the end is
        the outcome.
        """

        async def returns(context: ToolContext) -> int:
            context.end(Fatal("gone"))
            return 0

        async def raises(context: ToolContext) -> int:
            context.end(7)
            raise Fatal("later")

        status, _, err = self.runTool(returns)
        self.assertEqual((status, logLines(err)), (1, ["gone"]))
        self.assertEqual(self.runTool(raises), (7, b"", ""))

    def test_interrupt(self) -> None:
        """
        The first signal fires C{interrupted}; later ones are dropped.
        """

        async def body(context: ToolContext) -> int:
            await context.interrupted
            return 0

        run = startTool(
            _tool(body),
            [],
            reactor=MemoryReactorClock(),
            stdout=io.BytesIO(),
            stderr=io.StringIO(),
        )
        self.assertNoResult(run.result)
        run.interrupt()
        run.interrupt()
        self.assertEqual(self.successResultOf(run.result), 0)

    def test_brokenPipe(self) -> None:
        """
        Writing to a pipe nobody reads is L{StdoutClosed}.
        """

        class Broken(io.BytesIO):
            def write(self, data: Any) -> int:
                raise BrokenPipeError()

        async def body(context: ToolContext) -> int:
            context.write(b"x")
            return 0

        run = startTool(
            _tool(body),
            [],
            reactor=MemoryReactorClock(),
            stdout=Broken(),
            stderr=io.StringIO(),
        )
        self.assertEqual(self.successResultOf(run.result), SIGPIPE_STATUS)

    def test_clientLog(self) -> None:
        """
        The client's events are go-nsq-like log lines from info up; other
        namespaces only from error up.
        """
        err = io.StringIO()
        observer = ClientLogObserver(err)
        client = Logger(namespace="txnsq.client.Consumer", observer=observer)
        other = Logger(namespace="twisted.internet", observer=observer)
        client.info("connected to {address}", address="a:1")
        client.debug("noise")
        client.warn("careful")
        other.info("startup")
        other.error("broken")
        self.assertEqual(
            logLines(
                err.getvalue()
                .replace(" INF ", " x ")
                .replace(" WRN ", " y ")
                .replace(" ERR ", " z ")
            ),
            ["x connected to a:1", "y careful", "z broken"],
        )
        self.assertEqual(observer.level, LogLevel.info)

    def test_toolList(self) -> None:
        """
        Every tool is listed, and every alias names one.
        """
        self.assertEqual(
            set(TOOLS),
            {
                "nsq_tail",
                "to_nsq",
                "nsq_stat",
                "nsq_to_file",
                "nsq_to_http",
                "nsq_to_nsq",
            },
        )
        self.assertTrue(set(ALIASES.values()) <= set(TOOLS))


class _Collect(ProcessProtocol):
    """
    Feed a child's stdin, collect its output and how it ended.
    """

    def __init__(self, stdin: bytes) -> None:
        self.stdin = stdin
        self.out = b""
        self.err = b""
        self.ended: Deferred[tuple[int | None, int | None]] = Deferred()

    def connectionMade(self) -> None:
        assert self.transport is not None
        if self.stdin:
            self.transport.write(self.stdin)
        self.transport.closeStdin()

    def outReceived(self, data: bytes) -> None:
        self.out += data

    def errReceived(self, data: bytes) -> None:
        self.err += data

    def processEnded(self, reason: Failure) -> None:
        value = reason.value
        self.ended.callback(
            (getattr(value, "exitCode", None), getattr(value, "signal", None))
        )


def _spawn(argv: list[str], stdin: bytes = b"") -> _Collect:
    """
    Run C{python -m txnsq ARGV} as a child process.
    """
    protocol = _Collect(stdin)
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    reactor.spawnProcess(
        protocol, sys.executable, [sys.executable, "-m", "txnsq", *argv], env=env
    )
    return protocol


class ProcessTests(TestCase):
    """
    The tools as C{python -m txnsq <tool>}: real stdin, stdout, signals
    and exit statuses.
    """

    timeout = 60

    async def test_version(self) -> None:
        """
        C{txnsq tail --version} runs C{nsq_tail} by its short name.
        """
        child = _spawn(["tail", "--version"])
        self.assertEqual(await child.ended, (0, None))
        self.assertEqual(child.out, b"nsq_tail v1.3.0\n")

    async def test_badFlag(self) -> None:
        """
        A bad flag exits 2 with Go's error and usage on stderr.
        """
        child = _spawn(["to_nsq", "--nope"])
        self.assertEqual(await child.ended, (2, None))
        self.assertTrue(
            child.err.startswith(
                b"flag provided but not defined: -nope\nUsage of to_nsq:\n"
            )
        )

    async def test_pipeline(self) -> None:
        """
        C{to_nsq} reads its real stdin to the end, publishes, exits 0;
        C{nsq_tail --n} prints what it consumed and exits 0.
        """
        nsqd = await startNSQD(self)
        child = _spawn(
            ["to_nsq", "--topic=t", f"--nsqd-tcp-address={nsqd.tcp}"],
            b"alpha\nbeta\n\xff\x01",
        )
        self.assertEqual(await child.ended, (0, None), child.err)
        child = _spawn(
            ["nsq_tail", "--topic=t", f"--nsqd-tcp-address={nsqd.tcp}", "--n=3"]
        )
        self.assertEqual(await child.ended, (0, None), child.err)
        self.assertEqual(child.out, b"alpha\nbeta\n\xff\x01\n")

    async def test_sigterm(self) -> None:
        """
        SIGTERM stops C{nsq_tail} gracefully: exit status 0, and what it
        printed is complete.
        """
        nsqd = await startNSQD(self)
        await publish(nsqd, "t", [b"one"])
        child = _spawn(["nsq_tail", "--topic=t", f"--nsqd-tcp-address={nsqd.tcp}"])
        while child.out != b"one\n":
            await _later(0.05)
        assert child.transport is not None
        child.transport.signalProcess("TERM")
        self.assertEqual(await child.ended, (0, None), child.err)

    async def test_fatal(self) -> None:
        """
        Go's C{log.Fatal}: the log line on stderr, exit status 1.
        """
        child = _spawn(["stat", "--topic=t"])
        self.assertEqual(await child.ended, (1, None))
        self.assertEqual(
            logLines(child.err.decode()), ["--topic and --channel are required"]
        )

    async def test_sigpipe(self) -> None:
        """
        When stdout's reader goes, C{nsq_tail} dies of SIGPIPE, as a Go
        program writing to a broken pipe does.
        """
        nsqd = await startNSQD(self)
        await publish(nsqd, "t", [b"one"])
        child = _spawn(["nsq_tail", "--topic=t", f"--nsqd-tcp-address={nsqd.tcp}"])
        while not child.out:
            await _later(0.05)
        assert child.transport is not None
        child.transport.closeChildFD(1)
        await publish(nsqd, "t", [b"two"])
        self.assertEqual(await child.ended, (None, signal.SIGPIPE))


def _later(seconds: float) -> Deferred[None]:
    from twisted.internet.task import deferLater

    return deferLater(reactor, seconds)
