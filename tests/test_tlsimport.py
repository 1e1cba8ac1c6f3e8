"""
Tests for L{txnsq._tlsimport}: daemons with no TLS configured run without
pyOpenSSL and cryptography loaded, and TLS still works when configured.

The process tests look at what a real daemon has mapped
(C{/proc/PID/maps}): cryptography's compiled binding is there exactly when
the TLS stack was imported.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests._certs import clientTLSOptions, writeCertificates
from tests.integration.test_cli import _Child, _ProcessTestCase
from tests.nsqd.test_tls import OK, FeatureClient
from txnsq._tlsimport import TLS_MODULES, withoutTLS
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.options import TLS_REQUIRED, usesTLS
from txnsq.wire.commands import encodeIdentify
from txnsq.wire.frames import FRAME_TYPE_RESPONSE

_LISTENING = r"TCP: listening on 127\.0\.0\.1:(\d+)"


class WithoutTLSTests(SynchronousTestCase):
    """
    L{withoutTLS} marks pyOpenSSL unavailable only while nothing of the
    TLS stack is imported.
    """

    def test_marks(self) -> None:
        """
        With none of L{TLS_MODULES} imported, C{OpenSSL} is marked
        unavailable (L{None}, which makes importing it fail), and it says
        so.
        """
        modules: dict[str, Any] = {"json": json}
        self.assertTrue(withoutTLS(modules))
        self.assertEqual(modules, {"json": json, "OpenSSL": None})

    def test_again(self) -> None:
        """
        A second call finds the mark and reports it applied.
        """
        modules: dict[str, Any] = {}
        withoutTLS(modules)
        self.assertTrue(withoutTLS(modules))
        self.assertEqual(modules, {"OpenSSL": None})

    def test_tooLate(self) -> None:
        """
        Once any of Twisted's TCP or TLS modules, or pyOpenSSL, is imported,
        nothing changes and it says it did not apply.
        """
        for name in TLS_MODULES:
            modules: dict[str, Any] = {name: json}
            self.assertFalse(withoutTLS(modules), name)
            self.assertEqual(modules, {name: json})

    def test_underTrial(self) -> None:
        """
        In this process (trial imported the reactor), the real module table
        is left alone.
        """
        before = sys.modules.get("OpenSSL", "absent")
        self.assertFalse(withoutTLS())
        self.assertIs(sys.modules.get("OpenSSL", "absent"), before)


class UsesTLSTests(SynchronousTestCase):
    """
    L{usesTLS}: which nsqd configs keep the TLS stack.
    """

    def test_default(self) -> None:
        """
        Go's defaults use no TLS (the default C{--https-address} serves
        nothing without a certificate and key).
        """
        self.assertFalse(usesTLS(NSQDConfig()))

    def test_tlsFlags(self) -> None:
        """
        Any TLS flag, even one alone (which nsqd may then refuse), keeps it.
        """
        for fields in [
            {"tls_cert": "cert.pem"},
            {"tls_key": "key.pem"},
            {"tls_root_ca_file": "ca.pem"},
            {"tls_client_auth_policy": "require"},
            {"tls_required": TLS_REQUIRED},
        ]:
            self.assertTrue(usesTLS(NSQDConfig(**fields)), fields)  # type: ignore[arg-type]

    def test_authOverHTTPS(self) -> None:
        """
        An auth server given as an C{https://} URL keeps it; C{host:port} and
        C{http://} URLs do not.
        """
        self.assertTrue(
            usesTLS(NSQDConfig(auth_http_addresses=["a:1", "HTTPS://b/auth"]))
        )
        self.assertFalse(
            usesTLS(NSQDConfig(auth_http_addresses=["a:1", "http://b:2/auth"]))
        )


def _mapsCryptography(child: _Child) -> bool:
    """
    Whether the running child has cryptography's compiled binding (what
    pyOpenSSL is built on) mapped.
    """
    assert child.transport is not None
    pid = child.transport.pid
    with open(f"/proc/{pid}/maps") as maps:
        return any(f"{os.sep}cryptography{os.sep}" in line for line in maps)


async def _identifyTLS(
    testCase: TestCase, port: int, files: Any = None
) -> tuple[dict[str, Any], bool]:
    """
    Connect to nsqd on C{port}, send IDENTIFY asking for TLS; when nsqd
    agrees and C{files} are given, do the handshake with the test CA.

    @return: the IDENTIFY reply and whether nsqd's C{OK} came over TLS.
    """
    client = FeatureClient()
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), client)
    testCase.addCleanup(lambda: Deferred.fromCoroutine(client.close()))
    client.send(b"  V2")
    client.send(encodeIdentify({"feature_negotiation": True, "tls_v1": True}))
    frame = await client.frame()
    assert frame is not None
    testCase.assertEqual(frame[0], FRAME_TYPE_RESPONSE, frame)
    reply: dict[str, Any] = json.loads(frame[1])
    if not reply["tls_v1"] or files is None:
        return reply, False
    client.startTLS(clientTLSOptions(files))
    return reply, await client.frame() == OK


class DaemonProcessTests(_ProcessTestCase):
    """
    The daemons as operators start them: without TLS configured they do
    without the TLS stack; with it, TLS works.
    """

    def setUp(self) -> None:
        super().setUp()
        if not os.path.exists(f"/proc/{os.getpid()}/maps"):
            raise self.skipTest("needs /proc/PID/maps (Linux)")

    async def _noTLS(self, name: str, *argv: str) -> None:
        child = self.spawn(name, *argv)
        match = await child.waitFor(_LISTENING)
        if "nsqd" in argv:
            reply, _ = await _identifyTLS(self, int(match.group(1)))
            # Go's answer for an nsqd without TLS: no upgrade.
            self.assertFalse(reply["tls_v1"], reply)
        self.assertFalse(_mapsCryptography(child), child.output())

    def test_txnsqNSQD(self) -> Deferred[None]:
        """
        C{txnsq nsqd} without TLS flags has no cryptography loaded, and
        answers IDENTIFY's C{tls_v1} as Go's nsqd without TLS does.
        """
        return Deferred.fromCoroutine(
            self._noTLS(
                "txnsq nsqd",
                "-m",
                "txnsq._cli",
                "nsqd",
                "-tcp-address=127.0.0.1:0",
                "-http-address=127.0.0.1:0",
            )
        )

    def test_txnsqLookupd(self) -> Deferred[None]:
        """
        C{txnsq nsqlookupd} has no cryptography loaded.
        """
        return Deferred.fromCoroutine(
            self._noTLS(
                "txnsq nsqlookupd",
                "-m",
                "txnsq._cli",
                "nsqlookupd",
                "-tcp-address=127.0.0.1:0",
                "-http-address=127.0.0.1:0",
            )
        )

    def test_twistdNSQD(self) -> Deferred[None]:
        """
        C{twistd -n nsqd} without TLS flags has no cryptography loaded.
        """
        return Deferred.fromCoroutine(
            self._noTLS(
                "twistd nsqd",
                "-c",
                "from twisted.scripts.twistd import run; run()",
                "-n",
                "nsqd",
                "--tcp-address=127.0.0.1:0",
                "--http-address=127.0.0.1:0",
            )
        )

    def test_twistdLookupd(self) -> Deferred[None]:
        """
        C{twistd -n nsqlookupd} has no cryptography loaded.
        """
        return Deferred.fromCoroutine(
            self._noTLS(
                "twistd nsqlookupd",
                "-c",
                "from twisted.scripts.twistd import run; run()",
                "-n",
                "nsqlookupd",
                "--tcp-address=127.0.0.1:0",
                "--http-address=127.0.0.1:0",
            )
        )

    def test_txnsqNSQDWithTLS(self) -> Deferred[None]:
        """
        C{txnsq nsqd --tls-cert --tls-key} keeps the TLS stack and upgrades
        a connection that asks: nsqd's C{OK} arrives over TLS.
        """

        async def check() -> None:
            files = writeCertificates(self.mktemp())
            child = self.spawn(
                "txnsq nsqd",
                "-m",
                "txnsq._cli",
                "nsqd",
                "-tcp-address=127.0.0.1:0",
                "-http-address=127.0.0.1:0",
                f"-tls-cert={files.serverCert}",
                f"-tls-key={files.serverKey}",
                "-https-address=127.0.0.1:0",
            )
            match = await child.waitFor(_LISTENING)
            reply, upgraded = await _identifyTLS(self, int(match.group(1)), files)
            self.assertTrue(reply["tls_v1"], reply)
            self.assertTrue(upgraded)
            self.assertTrue(_mapsCryptography(child), child.output())

        return Deferred.fromCoroutine(check())
