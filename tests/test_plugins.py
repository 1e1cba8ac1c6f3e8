"""
Tests for the twistd plugins (C{twisted/plugins/txnsq_plugins.py}) and
their tap modules.
"""

from __future__ import annotations

import ast
import json
import os
from typing import Any

from zope.interface.verify import verifyObject

from twisted.application.service import IServiceMaker
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.plugin import IPlugin, getPlugins
from twisted.python.filepath import FilePath
from twisted.scripts.twistd import (  # type: ignore[attr-defined]  # not in __all__
    ServerOptions,
)
from twisted.trial.unittest import SynchronousTestCase

from txnsq import combined
from txnsq.nsqadmin.service import NSQAdminService
from txnsq.nsqd import tap as nsqdTap
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.http import NSQDSite
from txnsq.nsqd.service import NSQDService
from txnsq.nsqlookupd import tap as lookupdTap
from txnsq.nsqlookupd.service import NSQLookupdService

_ROOT = FilePath(__file__).parent().parent()


def _plugins() -> dict[str, Any]:
    """
    txnsq's service makers, by tap name, as twistd finds them.
    """
    return {
        maker.tapname: maker
        for maker in getPlugins(IServiceMaker)
        if maker.tapname in ("nsqd", "nsqlookupd", "nsq")
    }


class PluginTests(SynchronousTestCase):
    """
    twistd finds three service makers that build txnsq's services.
    """

    def test_allThreeFound(self) -> None:
        """
        C{getPlugins} finds C{nsqd}, C{nsqlookupd} and C{nsq}, each a valid
        L{IServiceMaker} and L{IPlugin} naming txnsq's tap modules.
        """
        plugins = _plugins()
        self.assertEqual(sorted(plugins), ["nsq", "nsqd", "nsqlookupd"])
        for maker in plugins.values():
            self.assertTrue(verifyObject(IServiceMaker, maker))
            self.assertTrue(verifyObject(IPlugin, maker))
        self.assertIdentical(plugins["nsqd"].options, nsqdTap.Options)
        self.assertIdentical(plugins["nsqlookupd"].options, lookupdTap.Options)
        self.assertIdentical(plugins["nsq"].options, combined.Options)

    def test_pluginModuleIsTiny(self) -> None:
        """
        The plugin module imports only L{ServiceMaker} (twistd imports every
        plugin to list them, before installing its reactor), and neither
        C{twisted/} nor C{twisted/plugins/} is a package (Twisted would skip
        the folder, or txnsq would shadow Twisted).
        """
        plugins = _ROOT.child("twisted").child("plugins")
        tree = ast.parse(plugins.child("txnsq_plugins.py").getContent())
        imported = [
            node.module if isinstance(node, ast.ImportFrom) else "import"
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
        ]
        self.assertEqual(imported, ["twisted.application.service"])
        self.assertFalse(plugins.child("__init__.py").exists())
        self.assertFalse(plugins.parent().child("__init__.py").exists())

    def test_serverOptions(self) -> None:
        """
        twistd's own command line, with C{--pidfile} before the plugin name,
        reaches the nsqd options.
        """
        config = ServerOptions()
        config.parseOptions(
            [
                "--pidfile=x.pid",
                "-n",
                "nsqd",
                "--tcp-address=127.0.0.1:0",
                "--msg-timeout=1m30s",
                "--snappy=false",
            ]
        )
        self.assertTrue(config["pidfile"].endswith("x.pid"))
        self.assertEqual(config.subCommand, "nsqd")
        self.assertEqual(config.subOptions.config.msg_timeout, 90.0)
        self.assertFalse(config.subOptions.config.snappy)

    def test_defaultPidfiles(self) -> None:
        """
        Without C{--pidfile}, each daemon gets its own pidfile, so nsqd and
        nsqlookupd can run from one folder.
        """
        for tapname in ("nsqd", "nsqlookupd", "nsq"):
            config = ServerOptions()
            config.parseOptions(["-n", tapname])
            self.assertTrue(config["pidfile"].endswith(f"/{tapname}.pid"), tapname)


class MakeServiceTests(SynchronousTestCase):
    """
    Each tap's C{makeService} builds its service on the given reactor.
    """

    def test_nsqd(self) -> None:
        """
        C{twistd nsqd} builds an L{NSQDService} listening on
        C{--tcp-address}.
        """
        options = nsqdTap.Options()
        dataPath = self.mktemp()
        os.makedirs(dataPath)
        options.parseOptions(
            [
                "--tcp-address=127.0.0.1:4150",
                "--queue-scan-worker-pool-max=2",
                f"--data-path={dataPath}",
            ]
        )
        reactor = MemoryReactorClock()
        service = nsqdTap.makeService(options, reactor)
        self.assertIsInstance(service, NSQDService)
        assert isinstance(service, NSQDService)
        self.assertEqual(service.config.queue_scan_worker_pool_max, 2)
        service.startService()
        self.assertEqual(reactor.tcpServers[0][0::3], (4150, "127.0.0.1"))
        self.successResultOf(service.stopService())

    def test_nsqlookupd(self) -> None:
        """
        C{twistd nsqlookupd} builds an L{NSQLookupdService} listening on
        its TCP and HTTP addresses.
        """
        options = lookupdTap.Options()
        options.parseOptions(
            ["--tcp-address=127.0.0.1:4160", "--http-address=127.0.0.1:4161"]
        )
        reactor = MemoryReactorClock()
        service = lookupdTap.makeService(options, reactor)
        self.assertIsInstance(service, NSQLookupdService)
        service.startService()
        self.assertEqual(
            [(port, interface) for port, _, _, interface in reactor.tcpServers],
            [(4160, "127.0.0.1"), (4161, "127.0.0.1")],
        )

    def test_nsq(self) -> None:
        """
        C{twistd nsq} builds nsqlookupd, nsqd and nsqadmin in one service,
        nsqlookupd listening first and nsqadmin last.
        """
        options = combined.Options()
        options.parseOptions(
            [
                "--tcp-address=127.0.0.1:4150",
                "--http-address=127.0.0.1:4151",
                "--nsqlookupd-tcp-address=127.0.0.1:4160",
                "--nsqlookupd-http-address=127.0.0.1:4161",
            ]
        )
        reactor = MemoryReactorClock()
        service = combined.makeService(options, reactor)
        assert isinstance(service, combined.CombinedService)
        self.assertIsInstance(service.nsqd, NSQDService)
        self.assertIsInstance(service.nsqlookupd, NSQLookupdService)
        service.startService()
        # A memory reactor: nsqadmin's default port 4171 is not bound.
        self.assertEqual(
            [port for port, _, _, _ in reactor.tcpServers],
            [4160, 4161, 4150, 4151, 4171],
        )
        self.assertIsInstance(service.nsqadmin, NSQAdminService)


class NSQDWiringTests(SynchronousTestCase):
    """
    L{nsqdTap.nsqdService} wires nsqd's HTTP API to its service, which know
    nothing of each other.
    """

    def ask(self, site: Any, raw: bytes) -> bytes:
        """
        Send one raw request to C{site}; its response body.
        """
        channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5000))
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(raw)
        body: bytes = transport.value().partition(b"\r\n\r\n")[2]
        return body

    def test_apiOverService(self) -> None:
        """
        The service's HTTP listener serves an L{NSQDSite} whose API reports
        the bound TCP port, publishes to the service's broker and hands new
        lookupd addresses to the service's lookupd peers.
        """
        dataPath = self.mktemp()
        os.makedirs(dataPath)
        config = NSQDConfig(
            tcp_address="127.0.0.1:0",
            http_address="127.0.0.1:4151",
            data_path=dataPath,
        )
        reactor = MemoryReactorClock()
        service = nsqdTap.nsqdService(config, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        [(_, _, _, _), (_, site, _, _)] = reactor.tcpServers
        self.assertIsInstance(site, NSQDSite)
        request = b"%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
        info = json.loads(self.ask(site, request % (b"GET /info", 0, b"")))
        self.assertEqual(info["tcp_port"], service.boundTCPPort)
        self.assertIsNotNone(service.boundTCPPort)
        self.assertEqual(
            self.ask(site, request % (b"POST /pub?topic=t", 1, b"x")), b"OK"
        )
        self.assertEqual(service.broker.topics["t"].messageCount, 1)
        addresses = b'["127.0.0.1:1"]'
        self.ask(
            site,
            request
            % (b"PUT /config/nsqlookupd_tcp_addresses", len(addresses), addresses),
        )
        self.assertEqual(list(service.lookupPeers.peers), ["127.0.0.1:1"])
