"""
Tests for L{txnsq.nsqadmin.options}: Go nsqadmin 1.3.0's flags, defaults
and startup errors, on C{txnsq nsqadmin} and C{twistd nsqadmin}.
"""

from __future__ import annotations

import io

from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from txnsq._cli import run
from txnsq.nsqadmin.config import AdminConfig
from txnsq.nsqadmin.options import ADMIN_FLAGS, Options, configure


def _config(*argv: str) -> AdminConfig:
    """
    Parse a Go command line into a config.
    """
    table = ADMIN_FLAGS
    return configure(table.resolveWithConfigFile(table.parse(argv).values))


class FlagTests(SynchronousTestCase):
    """
    The flags are Go nsqadmin's.
    """

    def test_everyGoFlag(self) -> None:
        """
        The table has exactly Go nsqadmin 1.3.0's flags.
        """
        self.assertEqual(
            sorted(flag.name for flag in ADMIN_FLAGS.flags),
            sorted(
                [
                    "config",
                    "version",
                    "log-level",
                    "log-prefix",
                    "verbose",
                    "http-address",
                    "base-path",
                    "graphite-url",
                    "proxy-graphite",
                    "statsd-counter-format",
                    "statsd-gauge-format",
                    "statsd-prefix",
                    "statsd-interval",
                    "notification-http-endpoint",
                    "http-client-connect-timeout",
                    "http-client-request-timeout",
                    "http-client-tls-insecure-skip-verify",
                    "http-client-tls-root-ca-file",
                    "http-client-tls-cert",
                    "http-client-tls-key",
                    "allow-config-from-cidr",
                    "acl-http-header",
                    "lookupd-http-address",
                    "nsqd-http-address",
                    "skip-resolve-on-startup",
                    "admin-user",
                ]
            ),
        )

    def test_defaults(self) -> None:
        """
        Go's defaults: C{0.0.0.0:4171}, base path C{/}, header
        C{X-Forwarded-User}, config from C{127.0.0.1/8}, 2s/5s timeouts.
        """
        config = _config("--lookupd-http-address", "127.0.0.1:4161")
        self.assertEqual(config.http_address, "0.0.0.0:4171")
        self.assertEqual(config.base_path, "/")
        self.assertEqual(config.acl_http_header, "X-Forwarded-User")
        self.assertEqual(config.allow_config_from_cidr, "127.0.0.1/8")
        self.assertEqual(
            (config.http_client_connect_timeout, config.http_client_request_timeout),
            (2.0, 5.0),
        )
        self.assertEqual(config.log_prefix, "[nsqadmin] ")
        self.assertIn(
            '-http-address string\n    \t<addr>:<port> to listen on for HTTP clients (default "0.0.0.0:4171")',
            ADMIN_FLAGS.usage(),
        )

    def test_repeatable(self) -> None:
        """
        C{--lookupd-http-address} and C{--admin-user} may be repeated.
        """
        config = _config(
            "--lookupd-http-address=a:1",
            "--lookupd-http-address=b:2",
            "--admin-user=x",
            "--admin-user=y",
        )
        self.assertEqual(config.lookupd_http_addresses, ["a:1", "b:2"])
        self.assertEqual(config.admin_users, ["x", "y"])

    def test_basePath(self) -> None:
        """
        C{--base-path} is normalized as Go's C{normalizeBasePath}.
        """
        for given, expected in [
            ("", "/"),
            ("admin", "/admin"),
            ("/a//b/../c/", "/a/c"),
            ("//x", "/x"),
        ]:
            config = _config("--nsqd-http-address=a:1", f"--base-path={given}")
            self.assertEqual(config.base_path, expected)


class StartupErrorTests(SynchronousTestCase):
    """
    Invalid options fail as Go's C{nsqadmin.New} does.
    """

    def test_neither(self) -> None:
        """
        Without an address, Go's error.
        """
        self.assertRaisesRegex(
            ValueError,
            "^--nsqd-http-address or --lookupd-http-address required$",
            _config,
        )

    def test_both(self) -> None:
        """
        With both kinds of address, Go's error.
        """
        self.assertRaisesRegex(
            ValueError,
            "^use --nsqd-http-address or --lookupd-http-address not both$",
            _config,
            "--nsqd-http-address=a:1",
            "--lookupd-http-address=b:2",
        )

    def test_graphiteAndTLSAccepted(self) -> None:
        """
        The graphite and client TLS options are taken as given.
        """
        config = _config(
            "--nsqd-http-address=a:1",
            "--graphite-url=http://graphite:8080",
            "--proxy-graphite",
            "--http-client-tls-insecure-skip-verify",
        )
        self.assertEqual(config.graphite_url, "http://graphite:8080")
        self.assertTrue(config.proxy_graphite)
        self.assertTrue(config.http_client_tls_insecure_skip_verify)
        self.assertEqual(config.statsd_prefix, "nsq.%s")

    def test_badGraphiteURL(self) -> None:
        """
        With C{--proxy-graphite}, a C{--graphite-url} that could never be
        proxied to stops the start, saying what is wanted.
        """
        self.assertRaisesRegex(
            ValueError,
            r"^failed to parse --graphite-url \(graphite:8080\) - "
            "--proxy-graphite needs an http:// or https:// URL with a host$",
            _config,
            "--nsqd-http-address=a:1",
            "--graphite-url=graphite:8080",
            "--proxy-graphite",
        )
        _config("--nsqd-http-address=a:1", "--graphite-url=graphite:8080")

    def test_tlsPair(self) -> None:
        """
        A client certificate needs its key and the other way round (Go's
        messages); files that cannot be read stop the start.
        """
        self.assertRaisesRegex(
            ValueError,
            "^--http-client-tls-key must be specified with --http-client-tls-cert$",
            _config,
            "--nsqd-http-address=a:1",
            "--http-client-tls-cert=c.pem",
        )
        self.assertRaisesRegex(
            ValueError,
            "^--http-client-tls-cert must be specified with --http-client-tls-key$",
            _config,
            "--nsqd-http-address=a:1",
            "--http-client-tls-key=c.key",
        )
        self.assertRaisesRegex(
            ValueError,
            "^failed to read TLS root CA file nope.pem - ",
            _config,
            "--nsqd-http-address=a:1",
            "--http-client-tls-root-ca-file=nope.pem",
        )

    def test_badCIDR(self) -> None:
        """
        An invalid C{--allow-config-from-cidr} is Go's error.
        """
        self.assertRaisesRegex(
            ValueError,
            r"^failed to parse --allow-config-from-cidr \(nope\) - invalid CIDR address: nope$",
            _config,
            "--nsqd-http-address=a:1",
            "--allow-config-from-cidr=nope",
        )

    def test_commandLineFatal(self) -> None:
        """
        C{txnsq nsqadmin} without an address prints Go's C{FATAL} line and
        exits 1.
        """
        err = io.StringIO()
        self.assertEqual(run(["nsqadmin"], io.StringIO(), err), 1)
        self.assertRegex(
            err.getvalue(),
            r"^\[nsqadmin\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} FATAL: failed to "
            r"instantiate nsqadmin - --nsqd-http-address or --lookupd-http-address "
            r"required\n$",
        )

    def test_version(self) -> None:
        """
        C{--version} prints Go's version line.
        """
        out = io.StringIO()
        self.assertEqual(run(["nsqadmin", "--version"], out, io.StringIO()), 0)
        self.assertTrue(out.getvalue().startswith("nsqadmin v1.3.0 (built w/txnsq-"))

    def test_twistdOptions(self) -> None:
        """
        C{twistd nsqadmin} parses Go's flags and refuses invalid options
        with Go's message.
        """
        options = Options()
        options.parseOptions(["--nsqd-http-address", "a:1", "--admin-user", "x"])
        self.assertEqual(options.config.admin_users, ["x"])
        self.assertRaisesRegex(
            UsageError,
            "^--nsqd-http-address or --lookupd-http-address required$",
            Options().parseOptions,
            [],
        )
