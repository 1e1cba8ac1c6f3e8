"""
nsqadmin over HTTPS to an nsqd that requires TLS (C{--tls-required}): the
C{--http-client-tls-*} options, as Go nsqadmin's, against a real txnsq
nsqd with the test certificates of L{tests._certs}.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import reactor
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests._certs import CertificateFiles, writeCertificates
from tests.nsqadmin.test_integration import _call, _startAdmin
from txnsq.nsqadmin._tls import clientTLSPolicy
from txnsq.nsqadmin.config import AdminConfig
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.tap import nsqdService


class HTTPSClusterTests(TestCase):
    """
    An nsqd answering plain HTTP with C{403 TLS_REQUIRED}: nsqadmin asks
    again over HTTPS, checking the certificate as told.
    """

    timeout = 60

    async def _nsqd(self, **changes: Any) -> tuple[str, CertificateFiles]:
        """
        A TLS-required nsqd with test certificates on ports 0, with topic
        C{t}; its plain HTTP address and the certificate files.
        """
        files = writeCertificates(self.mktemp())
        dataPath = self.mktemp()
        os.makedirs(dataPath)
        service = nsqdService(
            NSQDConfig(
                tcp_address="127.0.0.1:0",
                http_address="127.0.0.1:0",
                https_address="127.0.0.1:0",
                broadcast_address="127.0.0.1",
                data_path=dataPath,
                tls_cert=files.serverCert,
                tls_key=files.serverKey,
                tls_required=2,
                **changes,
            ),
            reactor,
        )
        service.startService()
        self.addCleanup(service.stopService)
        http = (await service.whenHTTPListening()).getHost().port  # type: ignore[attr-defined]
        await service.whenHTTPSListening()
        service.broker.getTopic("t")
        return f"127.0.0.1:{http}", files

    async def _nodes(self, nsqd: str, **config: Any) -> tuple[int, Any]:
        admin = await _startAdmin(self, nsqd_http_addresses=[nsqd], **config)
        return await _call(admin, "GET", "/api/nodes")

    async def test_trustedAuthority(self) -> None:
        """
        With C{--http-client-tls-root-ca-file} naming the authority that
        signed nsqd's certificate, nsqadmin reads nsqd over HTTPS.
        """
        nsqd, files = await self._nsqd()
        status, body = await self._nodes(
            nsqd, http_client_tls_root_ca_file=files.caCert
        )
        self.assertEqual((status, body["message"]), (200, ""), body)
        [node] = body["nodes"]
        self.assertEqual(node["topics"], [{"topic": "t", "tombstoned": False}])

    async def test_untrusted(self) -> None:
        """
        Without the authority (or with another one) the certificate is
        refused: no nsqd answered, 502 C{UPSTREAM_ERROR} saying why.
        """
        nsqd, files = await self._nsqd()
        for config in ({}, {"http_client_tls_root_ca_file": files.otherCACert}):
            status, body = await self._nodes(nsqd, **config)
            self.assertEqual(status, 502, body)
            self.assertIn("UPSTREAM_ERROR", body["message"])
            self.assertIn("https://", body["message"])
            self.assertIn("certificate verify failed", body["message"])

    async def test_insecureSkipVerify(self) -> None:
        """
        C{--http-client-tls-insecure-skip-verify} accepts any certificate.
        """
        nsqd, _ = await self._nsqd()
        status, body = await self._nodes(
            nsqd, http_client_tls_insecure_skip_verify=True
        )
        self.assertEqual((status, len(body["nodes"])), (200, 1), body)

    async def test_clientCertificate(self) -> None:
        """
        An nsqd that requires a verified client certificate
        (C{--tls-client-auth-policy=require-verify}) answers nsqadmin only
        with C{--http-client-tls-cert} and C{--http-client-tls-key}.
        """
        files = writeCertificates(self.mktemp())
        nsqd, _ = await self._nsqd(
            tls_client_auth_policy="require-verify", tls_root_ca_file=files.caCert
        )
        status, body = await self._nodes(
            nsqd, http_client_tls_root_ca_file=files.caCert
        )
        self.assertEqual(status, 502, body)
        for insecure in (False, True):
            status, body = await self._nodes(
                nsqd,
                http_client_tls_root_ca_file=files.caCert,
                http_client_tls_cert=files.clientCert,
                http_client_tls_key=files.clientKey,
                http_client_tls_insecure_skip_verify=insecure,
            )
            self.assertEqual((status, len(body["nodes"])), (200, 1), body)


class StartupTests(SynchronousTestCase):
    """
    Certificate files that cannot be loaded stop the start with Go's
    messages.
    """

    def test_missingAuthority(self) -> None:
        """
        A missing root CA file: Go's C{failed to read TLS root CA file}.
        """
        missing = os.path.abspath(self.mktemp())
        self.assertRaisesRegex(
            ValueError,
            rf"^failed to read TLS root CA file {missing} - open {missing}: "
            "no such file or directory$",
            clientTLSPolicy,
            AdminConfig(http_client_tls_root_ca_file=missing),
        )

    def test_notPEM(self) -> None:
        """
        A root CA file without a certificate: Go's
        C{failed to AppendCertsFromPEM}.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("not a certificate\n")
        self.assertRaisesRegex(
            ValueError,
            f"^failed to AppendCertsFromPEM {path}$",
            clientTLSPolicy,
            AdminConfig(http_client_tls_root_ca_file=path),
        )

    def test_badPair(self) -> None:
        """
        A certificate with a key that is not a key: Go's
        C{failed to LoadX509KeyPair CERT, KEY - ...}.
        """
        files = writeCertificates(self.mktemp())
        self.assertRaisesRegex(
            ValueError,
            f"^failed to LoadX509KeyPair {files.clientCert}, {files.caCert} - ",
            clientTLSPolicy,
            AdminConfig(
                http_client_tls_cert=files.clientCert,
                http_client_tls_key=files.caCert,
            ),
        )

    def test_policies(self) -> None:
        """
        The options become the policy's trust root, client certificate
        and verification switch.
        """
        files = writeCertificates(self.mktemp())
        self.assertIsNone(clientTLSPolicy(AdminConfig()).trustRoot)
        policy = clientTLSPolicy(
            AdminConfig(
                http_client_tls_root_ca_file=files.caCert,
                http_client_tls_cert=files.clientCert,
                http_client_tls_key=files.clientKey,
                http_client_tls_insecure_skip_verify=True,
            )
        )
        self.assertIsNotNone(policy.trustRoot)
        self.assertIsNotNone(policy.clientCertificate)
        self.assertTrue(policy.insecure)
