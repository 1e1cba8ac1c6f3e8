"""
Tests for L{txnsq.nsqd.options}: nsqd's flag table, validation, and the
C{twistd nsqd} options.
"""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import attrs
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from txnsq import __version__
from txnsq._go.flags import FlagError
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.options import (
    NSQD_FLAGS,
    PENDING_CONFIG_FIELDS,
    TLS_NOT_REQUIRED,
    TLS_REQUIRED,
    TLS_REQUIRED_EXCEPT_HTTP,
    InvalidOptions,
    Options,
    configure,
    versionString,
)

# Every flag of Go nsqd 1.3.0 (apps/nsqd/options.go), plus the three that
# reference section 4.1 lists from master (auth method, topology).
GO_FLAGS = [
    "config",
    "version",
    "log-level",
    "log-prefix",
    "verbose",
    "node-id",
    "worker-id",
    "https-address",
    "http-address",
    "tcp-address",
    "auth-http-address",
    "auth-http-request-method",
    "broadcast-address",
    "broadcast-tcp-port",
    "broadcast-http-port",
    "lookupd-tcp-address",
    "http-client-connect-timeout",
    "http-client-request-timeout",
    "topology-region",
    "topology-zone",
    "data-path",
    "mem-queue-size",
    "max-bytes-per-file",
    "sync-every",
    "sync-timeout",
    "queue-scan-worker-pool-max",
    "queue-scan-selection-count",
    "msg-timeout",
    "max-msg-timeout",
    "max-msg-size",
    "max-req-timeout",
    "max-body-size",
    "max-heartbeat-interval",
    "max-rdy-count",
    "max-output-buffer-size",
    "max-output-buffer-timeout",
    "min-output-buffer-timeout",
    "output-buffer-timeout",
    "max-channel-consumers",
    "statsd-address",
    "statsd-interval",
    "statsd-mem-stats",
    "statsd-prefix",
    "statsd-udp-packet-size",
    "statsd-exclude-ephemeral",
    "e2e-processing-latency-percentile",
    "e2e-processing-latency-window-time",
    "tls-cert",
    "tls-key",
    "tls-client-auth-policy",
    "tls-root-ca-file",
    "tls-required",
    "tls-min-version",
    "deflate",
    "max-deflate-level",
    "snappy",
    "enable-experiment",
]


def _config(*argv: str) -> NSQDConfig:
    """
    Parse a Go command line into a validated config.
    """
    return configure(NSQD_FLAGS.resolveWithConfigFile(NSQD_FLAGS.parse(argv).values))


class TableTests(SynchronousTestCase):
    """
    The flag table matches Go nsqd's.
    """

    def test_everyGoFlag(self) -> None:
        """
        The table has exactly Go nsqd's flags.
        """
        self.assertEqual(
            sorted(flag.name for flag in NSQD_FLAGS.flags), sorted(GO_FLAGS)
        )

    def test_attributesAreConfigFields(self) -> None:
        """
        Every flag with an effect names an L{NSQDConfig} field, apart from
        the fields still to be added to the config.
        """
        fields = attrs.fields_dict(NSQDConfig)
        for flag in NSQD_FLAGS.flags:
            if flag.attribute is not None:
                self.assertTrue(
                    flag.attribute in fields or flag.attribute in PENDING_CONFIG_FIELDS,
                    flag.attribute,
                )

    def test_defaults(self) -> None:
        """
        With no flags the config is Go's default config.
        """
        config = _config()
        expected = NSQDConfig()
        self.assertEqual(config, expected)
        self.assertEqual(
            (config.tcp_address, config.msg_timeout, config.max_req_timeout),
            ("0.0.0.0:4150", 60.0, 3600.0),
        )

    def test_usage(self) -> None:
        """
        The usage shows Go's help texts and defaults as Go prints them.
        """
        text = NSQD_FLAGS.usage()
        self.assertTrue(text.startswith("Usage of nsqd:\n  -auth-http-address value\n"))
        for expected in (
            "  -msg-timeout duration\n"
            "    \tdefault duration to wait before auto-requeing a message "
            "(default 1m0s)\n",
            "  -tcp-address string\n"
            "    \taddress to listen on for TCP clients (<addr>:<port> for TCP/IP "
            'or <path> for unix socket) (default "0.0.0.0:4150")\n',
            "  -snappy\n"
            "    \tenable snappy feature negotiation (client compression) "
            "(default true)\n",
            "  -log-level value\n"
            "    \tset log verbosity: debug, info, warn, error, or fatal "
            "(default INFO)\n",
            "  -tls-required value\n"
            "    \trequire TLS for client connections (true, false, tcp-https)\n",
            "  -min-output-buffer-timeout duration\n"
            "    \tminimum client configurable duration of time between flushing "
            "to a client (default 25ms)\n",
        ):
            self.assertIn(expected, text)

    def test_version(self) -> None:
        """
        C{--version} prints Go's line with txnsq as the toolchain.
        """
        self.assertEqual(versionString(), f"nsqd v1.3.0 (built w/txnsq-{__version__})")
        self.assertEqual(NSQD_FLAGS.version, versionString())


class ConfigTests(SynchronousTestCase):
    """
    Command lines and config files become the right L{NSQDConfig}.
    """

    def test_commandLine(self) -> None:
        """
        Go spellings of every kind of flag land in the config.
        """
        config = _config(
            "-tcp-address=127.0.0.1:0",
            "--http-address",
            "",
            "--msg-timeout=1m30s",
            "-snappy=false",
            "--deflate",
            "--lookupd-tcp-address=a:4160",
            "--lookupd-tcp-address=b:4160",
            "--e2e-processing-latency-percentile=0.5,0.99",
            "-node-id=1023",
            "-log-level=DEBUG",
            "-mem-queue-size=0",
            "--verbose",
            "--worker-id",
        )
        self.assertEqual(config.tcp_address, "127.0.0.1:0")
        self.assertEqual(config.http_address, "")
        self.assertEqual(config.msg_timeout, 90.0)
        self.assertEqual((config.snappy, config.deflate), (False, True))
        self.assertEqual(config.nsqlookupd_tcp_addresses, ["a:4160", "b:4160"])
        self.assertEqual(config.e2e_processing_latency_percentiles, [0.99, 0.5])
        self.assertEqual((config.node_id, config.log_level), (1023, "debug"))
        self.assertEqual(config.mem_queue_size, 0)

    def test_tlsRequired(self) -> None:
        """
        C{--tls-required} is a Go boolean that also takes C{tcp-https}.
        """
        tls = ("--tls-cert=c.pem", "--tls-key=k.pem")
        cases = {
            "--tls-required": TLS_REQUIRED,
            "--tls-required=true": TLS_REQUIRED,
            "--tls-required=TCP-HTTPS": TLS_REQUIRED_EXCEPT_HTTP,
            "--tls-required=false": TLS_NOT_REQUIRED,
        }
        for arg, value in cases.items():
            self.assertEqual(_config(*tls, arg).tls_required, value, arg)
        with self.assertRaises(FlagError) as raised:
            _config("--tls-required=maybe")
        self.assertEqual(
            str(raised.exception),
            'invalid boolean value "maybe" for -tls-required: '
            'strconv.ParseBool: parsing "maybe": invalid syntax',
        )

    def test_tlsMinVersion(self) -> None:
        """
        C{--tls-min-version} takes tls1.0 to tls1.3.
        """
        self.assertEqual(_config("--tls-min-version=TLS1.2").tls_min_version, "tls1.2")
        with self.assertRaises(FlagError) as raised:
            _config("--tls-min-version=ssl3.0")
        self.assertEqual(
            str(raised.exception),
            'invalid value "ssl3.0" for flag -tls-min-version: '
            'unknown tlsVersionOption "ssl3.0"',
        )

    def test_configFile(self) -> None:
        """
        The TOML file uses Go's config names (C{id},
        C{nsqlookupd_tcp_addresses}, ...), durations as strings, and loses
        to the command line.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(
                "id = 42\n"
                'nsqlookupd_tcp_addresses = ["l1:4160", "l2:4160"]\n'
                'auth_http_addresses = ["auth:4181"]\n'
                "e2e_processing_latency_percentiles = [1.0, 0.5]\n"
                'msg_timeout = "90s"\n'
                'tls_required = "tcp-https"\n'
                'tls_cert = "c.pem"\n'
                'tls_key = "k.pem"\n'
                'tls_min_version = ""\n'
                'log_level = "warn"\n'
                "mem_queue_size = 100\n"
                "snappy = false\n"
            )
        config = _config(f"--config={path}", "--mem-queue-size=5")
        self.assertEqual(config.node_id, 42)
        self.assertEqual(config.nsqlookupd_tcp_addresses, ["l1:4160", "l2:4160"])
        self.assertEqual(config.auth_http_addresses, ["auth:4181"])
        self.assertEqual(config.e2e_processing_latency_percentiles, [1.0, 0.5])
        self.assertEqual(config.msg_timeout, 90.0)
        self.assertEqual(config.tls_required, TLS_REQUIRED_EXCEPT_HTTP)
        self.assertEqual(config.tls_min_version, "tls1.0")
        self.assertEqual(config.log_level, "warn")
        self.assertEqual((config.mem_queue_size, config.snappy), (5, False))

    def test_configFileTLSRequiredBoolean(self) -> None:
        """
        A TOML boolean C{tls_required} means required or not.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write('tls_required = true\ntls_cert = "c"\ntls_key = "k"\n')
        self.assertEqual(_config(f"--config={path}").tls_required, TLS_REQUIRED)


class ValidationTests(SynchronousTestCase):
    """
    L{configure} checks what Go's C{nsqd.New} checks, with Go's messages.
    """

    def assertInvalid(self, message: str, *argv: str) -> None:
        """
        The command line parses but is rejected with C{message}.
        """
        with self.assertRaises(InvalidOptions) as raised:
            _config(*argv)
        self.assertEqual(str(raised.exception), message)

    def test_maxDeflateLevel(self) -> None:
        """
        C{--max-deflate-level} must be 1 to 9.
        """
        self.assertEqual(_config("--max-deflate-level=9").max_deflate_level, 9)
        self.assertInvalid("--max-deflate-level must be [1,9]", "--max-deflate-level=0")
        self.assertInvalid(
            "--max-deflate-level must be [1,9]", "--max-deflate-level=10"
        )

    def test_nodeID(self) -> None:
        """
        C{--node-id} must be 0 to 1023.
        """
        self.assertEqual(_config("--node-id=0").node_id, 0)
        self.assertInvalid("--node-id must be [0,1024)", "--node-id=1024")
        self.assertInvalid("--node-id must be [0,1024)", "--node-id=-1")

    def test_tlsNeedsCertificate(self) -> None:
        """
        Requiring TLS needs a certificate and key; a client auth policy
        alone implies C{--tls-required}, as in Go.
        """
        message = "cannot require TLS client connections without TLS key and cert"
        self.assertInvalid(message, "--tls-required")
        self.assertInvalid(message, "--tls-client-auth-policy=require")
        config = _config(
            "--tls-client-auth-policy=require", "--tls-cert=c", "--tls-key=k"
        )
        self.assertEqual(config.tls_required, TLS_REQUIRED)

    def test_authMethod(self) -> None:
        """
        C{--auth-http-request-method} is get or post.
        """
        self.assertEqual(
            _config("--auth-http-request-method=post").auth_http_request_method, "post"
        )
        self.assertInvalid(
            "--auth-http-request-method must be post or get",
            "--auth-http-request-method=put",
        )

    def test_percentiles(self) -> None:
        """
        Latency percentiles must be in (0, 1].
        """
        self.assertEqual(
            _config(
                "--e2e-processing-latency-percentile=1"
            ).e2e_processing_latency_percentiles,
            [1.0],
        )
        self.assertInvalid(
            "invalid E2E processing latency percentile: 1.5",
            "--e2e-processing-latency-percentile=1.5",
        )
        self.assertInvalid(
            "invalid E2E processing latency percentile: 0",
            "--e2e-processing-latency-percentile=0",
        )


class OptionsTests(SynchronousTestCase):
    """
    L{Options}, the C{twistd nsqd} front end of the same table.
    """

    def _parse(self, *argv: str) -> NSQDConfig:
        options = Options()
        options.parseOptions(list(argv))
        return options.config

    def test_twistdCommandLine(self) -> None:
        """
        The brief's example command line works under twistd.
        """
        directory = self.mktemp()
        config = self._parse(
            "--tcp-address=127.0.0.1:0",
            f"--data-path={directory}",
            "--msg-timeout=1m30s",
            "--snappy=false",
        )
        self.assertEqual(config.tcp_address, "127.0.0.1:0")
        self.assertEqual(config.data_path, directory)
        self.assertEqual(config.msg_timeout, 90.0)
        self.assertFalse(config.snappy)

    def test_bareBooleans(self) -> None:
        """
        Go booleans accept the bare form under twistd.
        """
        config = self._parse(
            "--snappy", "--tls-required", "--tls-cert=c", "--tls-key=k"
        )
        self.assertEqual((config.snappy, config.tls_required), (True, TLS_REQUIRED))

    def test_repeatable(self) -> None:
        """
        List flags repeat under twistd.
        """
        config = self._parse(
            "--lookupd-tcp-address=a:1",
            "--lookupd-tcp-address=b:2",
            "--e2e-processing-latency-percentile=0.5",
            "--e2e-processing-latency-percentile=0.99,1.0",
        )
        self.assertEqual(config.nsqlookupd_tcp_addresses, ["a:1", "b:2"])
        self.assertEqual(config.e2e_processing_latency_percentiles, [1.0, 0.99, 0.5])

    def test_invalid(self) -> None:
        """
        Invalid options are usage errors with Go's message.
        """
        with self.assertRaises(UsageError) as raised:
            self._parse("--node-id=5000")
        self.assertEqual(str(raised.exception), "--node-id must be [0,1024)")
        self.assertRaises(UsageError, self._parse, "--msg-timeout=60")

    def test_version(self) -> None:
        """
        C{--version} prints nsqd's version line and exits.
        """
        output = io.StringIO()
        with redirect_stdout(output), self.assertRaises(SystemExit):
            self._parse("--version")
        self.assertEqual(output.getvalue(), versionString() + "\n")
