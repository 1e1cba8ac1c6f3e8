"""
nsqd's HTTPS listener (C{--https-address} with C{--tls-cert}/C{--tls-key})
serves the same API as plain HTTP, and C{--tls-required=true} turns plain
HTTP into Go's C{403 TLS_REQUIRED}.
"""

from __future__ import annotations

import json
import os
import subprocess

from twisted.internet import reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from tests._certs import writeCertificates
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.service import NSQDService
from txnsq.nsqd.tap import nsqdService


def _curl() -> str | None:
    try:
        subprocess.run(["curl", "--version"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "curl is not installed"
    return None


class HTTPSTests(TestCase):
    """
    A real nsqd with test certificates, asked with curl.
    """

    timeout = 30
    skip = _curl()

    async def start(self, **changes: object) -> tuple[NSQDService, int, int, str]:
        """
        nsqd with TLS on ports 0: the service, its HTTP and HTTPS ports, and
        the CA file that signed its certificate.
        """
        files = writeCertificates(self.mktemp())
        dataPath = self.mktemp()
        os.makedirs(dataPath)
        config = NSQDConfig(
            tcp_address="127.0.0.1:0",
            http_address="127.0.0.1:0",
            https_address="127.0.0.1:0",
            broadcast_address="127.0.0.1",
            data_path=dataPath,
            tls_cert=files.serverCert,
            tls_key=files.serverKey,
            **changes,  # type: ignore[arg-type]
        )
        service = nsqdService(config, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        http = (await service.whenHTTPListening()).getHost().port  # type: ignore[attr-defined]
        https = (await service.whenHTTPSListening()).getHost().port  # type: ignore[attr-defined]
        return service, http, https, files.caCert

    async def curl(self, *args: str) -> tuple[int, bytes]:
        """
        Run curl; its HTTP status and body.
        """
        out, err, code = await getProcessOutputAndValue(
            "curl", ("-s", "-w", "\n%{http_code}", *args), env=os.environ
        )
        self.assertEqual(code, 0, err)
        body, _, status = out.rpartition(b"\n")
        return int(status), body

    async def test_publishOverHTTPS(self) -> None:
        """
        C{POST /pub} over HTTPS publishes, and C{/stats} shows the message,
        with nsqd's certificate verified against the test CA.
        """
        _, _, https, ca = await self.start()
        status, body = await self.curl(
            "--cacert", ca, "-d", "hello", f"https://127.0.0.1:{https}/pub?topic=t"
        )
        self.assertEqual((status, body), (200, b"OK"))
        status, body = await self.curl(
            "--cacert", ca, f"https://127.0.0.1:{https}/stats?format=json"
        )
        self.assertEqual(status, 200)
        [topic] = json.loads(body)["topics"]
        self.assertEqual((topic["topic_name"], topic["depth"]), ("t", 1))

    async def test_tlsRequired(self) -> None:
        """
        With C{--tls-required=true} plain HTTP answers 403 C{TLS_REQUIRED},
        naming the HTTPS port really bound, while HTTPS serves the API.
        """
        _, http, https, ca = await self.start(tls_required=2)
        status, body = await self.curl(f"http://127.0.0.1:{http}/ping")
        self.assertEqual(
            (status, body),
            (403, b'{"message": "TLS_REQUIRED", "https_port": %d}' % (https,)),
        )
        status, body = await self.curl(
            "--cacert", ca, f"https://127.0.0.1:{https}/ping"
        )
        self.assertEqual((status, body), (200, b"OK"))

    def test_noCertificateNoHTTPS(self) -> None:
        """
        Without a certificate there is no HTTPS listener, as in Go.
        """
        dataPath = self.mktemp()
        os.makedirs(dataPath)
        service = nsqdService(
            NSQDConfig(
                tcp_address="127.0.0.1:0",
                http_address="127.0.0.1:0",
                data_path=dataPath,
            ),
            reactor,
        )
        self.assertIsNone(service.httpsService)
