"""
Tests for L{txnsq.combined}: nsqlookupd and nsqd in one process.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from txnsq.combined import (
    COMBINED_FLAGS,
    CombinedConfig,
    CombinedService,
    Options,
    colocatedAddress,
)


def _parse(*argv: str) -> CombinedConfig:
    options = Options()
    options.parseOptions(list(argv))
    return options.config


class FlagTests(SynchronousTestCase):
    """
    nsqd's flags unchanged, nsqlookupd's prefixed where they clash.
    """

    def test_names(self) -> None:
        """
        nsqd's flags keep their names; nsqlookupd's clashing ones are
        prefixed C{nsqlookupd-}; the others keep theirs.
        """
        for name in (
            "tcp-address",
            "lookupd-tcp-address",
            "log-level",
            "nsqlookupd-tcp-address",
            "nsqlookupd-http-address",
            "nsqlookupd-broadcast-address",
            "nsqlookupd-log-level",
            "nsqlookupd-log-prefix",
            "inactive-producer-timeout",
            "tombstone-lifetime",
        ):
            self.assertIn(name, COMBINED_FLAGS)
        self.assertNotIn("nsqlookupd-config", COMBINED_FLAGS)
        assert COMBINED_FLAGS.version is not None
        self.assertEqual(len(COMBINED_FLAGS.version.splitlines()), 2)

    def test_split(self) -> None:
        """
        Each daemon gets its own values.
        """
        config = _parse(
            "--tcp-address=127.0.0.1:4150",
            "--nsqlookupd-tcp-address=127.0.0.1:4160",
            "--log-level=warn",
            "--nsqlookupd-log-level=debug",
            "--tombstone-lifetime=1m",
            "--msg-timeout=5s",
        )
        self.assertEqual(config.nsqd.tcp_address, "127.0.0.1:4150")
        self.assertEqual(config.nsqlookupd.tcp_address, "127.0.0.1:4160")
        self.assertEqual(
            (config.nsqd.log_level, config.nsqlookupd.log_level), ("warn", "debug")
        )
        self.assertEqual(config.nsqlookupd.tombstone_lifetime, 60.0)
        self.assertEqual(config.nsqd.msg_timeout, 5.0)
        self.assertEqual(config.nsqlookupd.log_prefix, "[nsqlookupd] ")

    def test_oneLogLevel(self) -> None:
        """
        Without C{--nsqlookupd-log-level}, nsqlookupd follows C{--log-level},
        so one flag quiets the whole process.
        """
        config = _parse("--log-level=warn")
        self.assertEqual(
            (config.nsqd.log_level, config.nsqlookupd.log_level), ("warn", "warn")
        )
        config = _parse()
        self.assertEqual(
            (config.nsqd.log_level, config.nsqlookupd.log_level), ("info", "info")
        )

    def test_registersWithColocatedLookupd(self) -> None:
        """
        Without C{--lookupd-tcp-address}, nsqd registers with the co-located
        nsqlookupd; with it, only where it is told.
        """
        self.assertEqual(_parse().nsqd.nsqlookupd_tcp_addresses, ["127.0.0.1:4160"])
        self.assertEqual(
            _parse("--lookupd-tcp-address=other:4160").nsqd.nsqlookupd_tcp_addresses,
            ["other:4160"],
        )
        self.assertEqual(
            _parse(
                "--nsqlookupd-tcp-address=127.0.0.1:0"
            ).nsqd.nsqlookupd_tcp_addresses,
            [],
        )

    def test_colocatedAddress(self) -> None:
        """
        Wildcard hosts become loopback; unknowable ports give L{None}.
        """
        cases = {
            "0.0.0.0:4160": "127.0.0.1:4160",
            ":4160": "127.0.0.1:4160",
            "[::]:4160": "[::1]:4160",
            "[::1]:4160": "[::1]:4160",
            "10.0.0.1:4160": "10.0.0.1:4160",
            "127.0.0.1:0": None,
            "lookupd.sock": None,
        }
        for listen, connect in cases.items():
            self.assertEqual(colocatedAddress(listen), connect, listen)

    def test_configFileSection(self) -> None:
        """
        nsqlookupd's settings come from the C{[nsqlookupd]} table under
        their own names; nsqd's from the top level.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(
                'tcp_address = "127.0.0.1:5150"\n'
                "[nsqlookupd]\n"
                'tcp_address = "127.0.0.1:5160"\n'
                'inactive_producer_timeout = "10s"\n'
            )
        config = _parse(f"--config={path}")
        self.assertEqual(config.nsqd.tcp_address, "127.0.0.1:5150")
        self.assertEqual(config.nsqlookupd.tcp_address, "127.0.0.1:5160")
        self.assertEqual(config.nsqlookupd.inactive_producer_timeout, 10.0)
        self.assertEqual(config.nsqd.nsqlookupd_tcp_addresses, ["127.0.0.1:5160"])

    def test_invalid(self) -> None:
        """
        nsqd's validation applies.
        """
        self.assertRaises(UsageError, _parse, "--max-deflate-level=0")


class _Recorder(Service):
    """
    A child service whose stop is held until the test fires it.
    """

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log
        self.stopping: Deferred[None] = Deferred()

    def startService(self) -> None:
        """
        Note the start.
        """
        self.log.append(f"start {self.name}")
        Service.startService(self)

    def stopService(self) -> Deferred[None]:
        """
        Note the stop; finish when C{stopping} fires.
        """
        self.log.append(f"stop {self.name}")
        Service.stopService(self)
        return self.stopping


class CombinedServiceTests(SynchronousTestCase):
    """
    L{CombinedService} starts nsqlookupd first and stops nsqd completely
    before nsqlookupd.
    """

    def test_order(self) -> None:
        """
        nsqlookupd starts first; on stop nsqd stops, and only once it has
        finished does nsqlookupd stop.
        """
        log: list[str] = []
        lookupd, nsqd = _Recorder("nsqlookupd", log), _Recorder("nsqd", log)
        service = CombinedService(lookupd, nsqd)
        service.startService()
        self.assertEqual(log, ["start nsqlookupd", "start nsqd"])
        del log[:]
        stopped: Any = service.stopService()
        self.assertEqual(log, ["stop nsqd"])
        nsqd.stopping.callback(None)
        self.assertEqual(log, ["stop nsqd", "stop nsqlookupd"])
        self.assertNoResult(stopped)
        lookupd.stopping.callback(None)
        self.successResultOf(stopped)
        self.assertFalse(service.running)
