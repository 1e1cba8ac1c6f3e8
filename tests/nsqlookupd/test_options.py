"""
Tests for L{txnsq.nsqlookupd.options}: nsqlookupd's flag table and the
C{twistd nsqlookupd} options.
"""

from __future__ import annotations

import io
from contextlib import redirect_stdout

from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from txnsq import __version__
from txnsq.nsqlookupd.config import LookupdConfig
from txnsq.nsqlookupd.options import LOOKUPD_FLAGS, Options, configure, versionString


def _config(*argv: str) -> LookupdConfig:
    """
    Parse a Go command line into a config.
    """
    table = LOOKUPD_FLAGS
    return configure(table.resolveWithConfigFile(table.parse(argv).values))


class LookupdOptionsTests(SynchronousTestCase):
    """
    nsqlookupd's flags are Go nsqlookupd 1.3.0's.
    """

    def test_everyGoFlag(self) -> None:
        """
        The table has exactly Go nsqlookupd's flags.
        """
        self.assertEqual(
            sorted(flag.name for flag in LOOKUPD_FLAGS.flags),
            sorted(
                [
                    "config",
                    "version",
                    "log-level",
                    "log-prefix",
                    "verbose",
                    "tcp-address",
                    "http-address",
                    "broadcast-address",
                    "inactive-producer-timeout",
                    "tombstone-lifetime",
                ]
            ),
        )

    def test_defaults(self) -> None:
        """
        With no flags the config is Go's default, and the usage prints Go's
        defaults.
        """
        self.assertEqual(_config(), LookupdConfig())
        usage = LOOKUPD_FLAGS.usage()
        self.assertTrue(usage.startswith("Usage of nsqlookupd:\n"))
        self.assertIn(
            "  -inactive-producer-timeout duration\n"
            "    \tduration of time a producer will remain in the active list "
            "since its last ping (default 5m0s)\n",
            usage,
        )
        self.assertIn('(default "[nsqlookupd] ")', usage)

    def test_commandLineAndConfig(self) -> None:
        """
        Go spellings and the TOML file set every option, the command line
        winning.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write('tombstone_lifetime = "1m"\nbroadcast_address = "from-file"\n')
        config = _config(
            f"-config={path}",
            "-tcp-address=127.0.0.1:0",
            "--http-address",
            "127.0.0.1:0",
            "--inactive-producer-timeout=30s",
            "--broadcast-address=cli",
            "-log-level=error",
            "-verbose",
        )
        self.assertEqual(config.tcp_address, "127.0.0.1:0")
        self.assertEqual(config.http_address, "127.0.0.1:0")
        self.assertEqual(config.inactive_producer_timeout, 30.0)
        self.assertEqual(config.tombstone_lifetime, 60.0)
        self.assertEqual(config.broadcast_address, "cli")
        self.assertEqual(config.log_level, "error")

    def test_twistdOptions(self) -> None:
        """
        C{twistd nsqlookupd} takes the same flags.
        """
        options = Options()
        options.parseOptions(["--tcp-address=127.0.0.1:0", "--tombstone-lifetime=10s"])
        self.assertEqual(options.config.tcp_address, "127.0.0.1:0")
        self.assertEqual(options.config.tombstone_lifetime, 10.0)
        self.assertRaises(
            UsageError, Options().parseOptions, ["--tombstone-lifetime=10"]
        )

    def test_version(self) -> None:
        """
        C{--version} prints Go's line with txnsq as the toolchain.
        """
        self.assertEqual(
            versionString(), f"nsqlookupd v1.3.0 (built w/txnsq-{__version__})"
        )
        output = io.StringIO()
        with redirect_stdout(output), self.assertRaises(SystemExit):
            Options().parseOptions(["--version"])
        self.assertEqual(output.getvalue(), versionString() + "\n")
