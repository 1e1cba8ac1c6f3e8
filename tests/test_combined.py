"""
Tests for L{txnsq.combined}: nsqlookupd, nsqd and nsqadmin in one process.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from txnsq.combined import (
    COMBINED_FLAGS,
    CombinedConfig,
    CombinedService,
    Options,
    colocatedAddress,
    combinedService,
)
from txnsq.nsqadmin.options import ADMIN_FLAGS as ADMIN_FLAGS_TABLE


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
        self.assertEqual(len(COMBINED_FLAGS.version.splitlines()), 3)

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


class NSQAdminFlagTests(SynchronousTestCase):
    """
    nsqadmin's flags, all prefixed C{nsqadmin-}.
    """

    def test_names(self) -> None:
        """
        Every nsqadmin flag but C{--config}, C{--version} and
        C{--verbose} is there, prefixed.
        """
        for name in ADMIN_FLAGS_TABLE.flags:
            if name.name in ("config", "version", "verbose"):
                self.assertNotIn("nsqadmin-" + name.name, COMBINED_FLAGS)
            else:
                self.assertIn("nsqadmin-" + name.name, COMBINED_FLAGS)
        self.assertIn(
            "-nsqadmin-http-address string\n    \t<addr>:<port> to listen on for "
            'HTTP clients (default "0.0.0.0:4171")',
            COMBINED_FLAGS.usage(),
        )

    def test_defaults(self) -> None:
        """
        nsqadmin listens on Go's C{0.0.0.0:4171} and, given no cluster,
        will read the co-located daemons (addresses filled in once they
        listen); its log level follows C{--log-level}.
        """
        config = _parse()
        assert config.nsqadmin is not None
        self.assertEqual(config.nsqadmin.http_address, "0.0.0.0:4171")
        self.assertEqual(config.nsqadmin.lookupd_http_addresses, [])
        self.assertEqual(config.nsqadmin.nsqd_http_addresses, [])
        self.assertEqual(config.nsqadmin.log_prefix, "[nsqadmin] ")
        self.assertEqual(config.nsqadmin.log_level, "info")
        config = _parse("--log-level=warn")
        assert config.nsqadmin is not None
        self.assertEqual(config.nsqadmin.log_level, "warn")
        config = _parse("--log-level=warn", "--nsqadmin-log-level=debug")
        assert config.nsqadmin is not None
        self.assertEqual(config.nsqadmin.log_level, "debug")

    def test_off(self) -> None:
        """
        An empty C{--nsqadmin-http-address} turns nsqadmin off.
        """
        self.assertIsNone(_parse("--nsqadmin-http-address=").nsqadmin)

    def test_options(self) -> None:
        """
        nsqadmin's options reach its config.
        """
        config = _parse(
            "--nsqadmin-http-address=127.0.0.1:0",
            "--nsqadmin-base-path=admin",
            "--nsqadmin-admin-user=ann",
            "--nsqadmin-lookupd-http-address=10.0.0.1:4161",
            "--nsqadmin-graphite-url=http://g:80",
        )
        assert config.nsqadmin is not None
        self.assertEqual(config.nsqadmin.http_address, "127.0.0.1:0")
        self.assertEqual(config.nsqadmin.base_path, "/admin")
        self.assertEqual(config.nsqadmin.admin_users, ["ann"])
        self.assertEqual(config.nsqadmin.lookupd_http_addresses, ["10.0.0.1:4161"])
        self.assertEqual(config.nsqadmin.graphite_url, "http://g:80")

    def test_errorsNameCombinedFlags(self) -> None:
        """
        nsqadmin's startup errors are Go's, naming the flags as this
        command spells them.
        """
        self.assertRaisesRegex(
            UsageError,
            "^--nsqadmin-http-client-tls-key must be specified with "
            "--nsqadmin-http-client-tls-cert$",
            _parse,
            "--nsqadmin-http-client-tls-cert=c.pem",
        )
        self.assertRaisesRegex(
            UsageError,
            "^use --nsqadmin-nsqd-http-address or --nsqadmin-lookupd-http-address "
            "not both$",
            _parse,
            "--nsqadmin-nsqd-http-address=a:1",
            "--nsqadmin-lookupd-http-address=b:2",
        )

    def test_configFileSection(self) -> None:
        """
        nsqadmin's settings come from the C{[nsqadmin]} table under its
        own names.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(
                "[nsqadmin]\n"
                'http_address = "127.0.0.1:5171"\n'
                'nsqlookupd_http_addresses = ["10.0.0.1:4161"]\n'
            )
        config = _parse(f"--config={path}")
        assert config.nsqadmin is not None
        self.assertEqual(config.nsqadmin.http_address, "127.0.0.1:5171")
        self.assertEqual(config.nsqadmin.lookupd_http_addresses, ["10.0.0.1:4161"])


class ColocatedTests(SynchronousTestCase):
    """
    With ports 0, nsqd and nsqadmin find the co-located nsqlookupd on the
    ports it bound.
    """

    def test_portZero(self) -> None:
        """
        nsqd registers with nsqlookupd's bound TCP port; nsqadmin reads
        its bound HTTP port, and listens last.
        """
        config = _parse(
            "--tcp-address=127.0.0.1:0",
            "--http-address=127.0.0.1:0",
            "--nsqlookupd-tcp-address=127.0.0.1:0",
            "--nsqlookupd-http-address=0.0.0.0:0",
            "--nsqadmin-http-address=127.0.0.1:0",
            f"--data-path={self.mktemp()}",
        )
        os.makedirs(config.nsqd.data_path)
        reactor = MemoryReactorClock()
        service = combinedService(config, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        assert service.nsqadmin is not None
        admin: Any = service.nsqadmin
        nsqd: Any = service.nsqd
        # MemoryReactor's ports are bound where asked: 0.
        self.assertEqual(admin.cluster.lookupds, ["127.0.0.1:0"])
        self.assertEqual(admin.config.lookupd_http_addresses, ["127.0.0.1:0"])
        self.assertEqual(list(nsqd.lookupPeers.peers), ["127.0.0.1:0"])
        self.assertEqual(len(reactor.tcpServers), 5)

    def test_lookupdAddressesGiven(self) -> None:
        """
        Given its cluster, nsqadmin reads that, not the co-located one.
        """
        config = _parse(
            "--nsqadmin-lookupd-http-address=10.0.0.1:4161",
            f"--data-path={self.mktemp()}",
        )
        os.makedirs(config.nsqd.data_path)
        reactor = MemoryReactorClock()
        service = combinedService(config, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        admin: Any = service.nsqadmin
        self.assertEqual(admin.cluster.lookupds, ["10.0.0.1:4161"])


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

    def test_orderWithNSQAdmin(self) -> None:
        """
        nsqadmin starts last and stops first.
        """
        log: list[str] = []
        lookupd, nsqd = _Recorder("nsqlookupd", log), _Recorder("nsqd", log)
        admin = _Recorder("nsqadmin", log)
        service = CombinedService(lookupd, nsqd, admin)
        service.startService()
        self.assertEqual(log, ["start nsqlookupd", "start nsqd", "start nsqadmin"])
        del log[:]
        stopped: Any = service.stopService()
        self.assertEqual(log, ["stop nsqadmin"])
        admin.stopping.callback(None)
        self.assertEqual(log, ["stop nsqadmin", "stop nsqd"])
        nsqd.stopping.callback(None)
        lookupd.stopping.callback(None)
        self.successResultOf(stopped)
