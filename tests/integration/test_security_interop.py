"""
pynsq and nsqjs against C{twistd -n nsqd} with TLS, snappy, deflate,
client certificates, C{--tls-required} and AUTH.

Certificates are made by the test (L{tests._certs}); the auth server is
the Klein one of L{tests.nsqd._authserver}, running in the test process
and asked by the nsqd child.  Each client prints what nsqd agreed to in
IDENTIFY (C{identified} lines), so a test knows the stream really was
upgraded rather than silently left plain.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.trial.unittest import TestCase

from tests._certs import CLIENT_COMMON_NAME, CertificateFiles, writeCertificates
from tests.integration._daemon import ChildProcess, Daemon, Event, startNSQD
from tests.integration._interop import ofKind, skipReason, startClient, subscribed
from tests.nsqd._authserver import allow, grant, startAuthServer

TOPIC = "secure"

#: Bodies published in every round trip: small ones, and one larger than
#: a snappy chunk (64 KiB) so compressed streams span several chunks.
BODIES = ["first", "second \u2603", "third", "x" * 70000 + "-large"]


def tlsArgs(files: CertificateFiles, certificate: bool = False) -> list[str]:
    """
    Client options for TLS verifying nsqd against the test CA, presenting
    the trusted client certificate if C{certificate}.
    """
    args = ["--tls", "--tls-ca", files.caCert]
    if certificate:
        args += ["--tls-cert", files.clientCert, "--tls-key", files.clientKey]
    return args


def serverTLSFlags(files: CertificateFiles) -> list[str]:
    """
    nsqd flags for TLS with the test's server certificate.
    """
    return [f"--tls-cert={files.serverCert}", f"--tls-key={files.serverKey}"]


class SecurityInteropTests(TestCase):
    """
    Messages round-trip between real clients through nsqd over every
    stream upgrade, and nsqd's certificate, TLS and AUTH policies apply to
    real clients.
    """

    timeout = 120

    def setUp(self) -> None:
        self.files = writeCertificates(self.mktemp())

    async def roundTrip(
        self,
        nsqdFlags: list[str],
        publisher: tuple[str, list[str]],
        consumer: tuple[str, list[str]],
    ) -> tuple[list[Event], list[Event], Daemon]:
        """
        Start nsqd with C{nsqdFlags}, a consumer and, once subscribed, a
        publisher (each a client kind and its options) sending
        L{BODIES}; check every body arrived once and nothing failed.

        @return: the consumer's and publisher's events, and nsqd.
        """
        nsqd = await startNSQD(self, *nsqdFlags)
        consumerKind, consumerArgs = consumer
        reader = startClient(
            self,
            consumerKind,
            "consume",
            nsqd,
            TOPIC,
            *("--channel", "c", "--count", str(len(BODIES))),
            *consumerArgs,
        )
        await reader.waitForEvents(subscribed)
        publisherKind, publisherArgs = publisher
        ops = [["pub", BODIES[0]], ["mpub", BODIES[1:]]]
        writer = startClient(
            self,
            publisherKind,
            "publish",
            nsqd,
            TOPIC,
            *("--ops", json.dumps(ops)),
            *publisherArgs,
        )
        self.assertEqual(await writer.whenEnded(), 0, writer.output())
        self.assertEqual(await reader.whenEnded(), 0, reader.output())
        self.assertEqual(
            [e["reply"] for e in ofKind(writer.events(), "published")],
            ["OK", "OK"],
            writer.output(),
        )
        events = reader.events()
        self.assertEqual(ofKind(events, "closed"), [], reader.output())
        self.assertEqual(ofKind(events, "error"), [], reader.output())
        self.assertEqual(
            sorted(m["body"] for m in ofKind(events, "message")), sorted(BODIES)
        )
        return events, writer.events(), nsqd

    def assertNegotiated(self, events: list[Event], **features: Any) -> None:
        """
        Every C{identified} line in C{events} shows C{features}.
        """
        identified = ofKind(events, "identified")
        self.assertTrue(identified, "no identified line")
        for event in identified:
            self.assertEqual({k: event[k] for k in features}, features, event)

    async def refusedPublisher(
        self, nsqd: Daemon, kind: str, args: list[str]
    ) -> ChildProcess:
        """
        Run a publisher that nsqd must refuse; return it once it exited
        with status 1.
        """
        writer = startClient(
            self, kind, "publish", nsqd, TOPIC, "--ops", '[["pub", "no"]]', *args
        )
        self.assertEqual(await writer.whenEnded(), 1, writer.output())
        return writer

    async def test_tlsPynsq(self) -> None:
        """
        pynsq to pynsq over TLS, both verifying nsqd's certificate.
        """
        consumed, published, _ = await self.roundTrip(
            serverTLSFlags(self.files),
            ("pynsq", tlsArgs(self.files)),
            ("pynsq", tlsArgs(self.files)),
        )
        for events in (consumed, published):
            self.assertNegotiated(events, tls_v1=True, snappy=False, deflate=False)

    test_tlsPynsq.skip = skipReason("pynsq")  # type: ignore[attr-defined]

    async def test_tlsSnappyNsqjs(self) -> None:
        """
        nsqjs to nsqjs over TLS with snappy inside it.
        """
        args = [*tlsArgs(self.files), "--snappy"]
        consumed, published, _ = await self.roundTrip(
            serverTLSFlags(self.files), ("nsqjs", args), ("nsqjs", args)
        )
        for events in (consumed, published):
            self.assertNegotiated(events, tls_v1=True, snappy=True, deflate=False)

    test_tlsSnappyNsqjs.skip = skipReason("nsqjs")  # type: ignore[attr-defined]

    async def test_tlsDeflate(self) -> None:
        """
        pynsq (deflate level 3) to nsqjs (level 6) over TLS with deflate
        inside it; each connection gets the level it asked for.
        """
        args = [*tlsArgs(self.files), "--deflate"]
        consumed, published, _ = await self.roundTrip(
            serverTLSFlags(self.files),
            ("pynsq", [*args, "--deflate-level", "3"]),
            ("nsqjs", args),
        )
        self.assertNegotiated(published, tls_v1=True, deflate=True, deflate_level=3)
        self.assertNegotiated(consumed, tls_v1=True, deflate=True, deflate_level=6)

    test_tlsDeflate.skip = skipReason("pynsq", "nsqjs")  # type: ignore[attr-defined]

    async def test_snappyNsqjs(self) -> None:
        """
        nsqjs to nsqjs with snappy alone (no TLS).
        """
        consumed, published, _ = await self.roundTrip(
            [], ("nsqjs", ["--snappy"]), ("nsqjs", ["--snappy"])
        )
        for events in (consumed, published):
            self.assertNegotiated(events, tls_v1=False, snappy=True, deflate=False)

    test_snappyNsqjs.skip = skipReason("nsqjs")  # type: ignore[attr-defined]

    async def test_deflatePynsq(self) -> None:
        """
        pynsq to pynsq with deflate alone (no TLS).
        """
        consumed, published, _ = await self.roundTrip(
            [], ("pynsq", ["--deflate"]), ("pynsq", ["--deflate"])
        )
        for events in (consumed, published):
            self.assertNegotiated(events, tls_v1=False, snappy=False, deflate=True)

    test_deflatePynsq.skip = skipReason("pynsq")  # type: ignore[attr-defined]

    async def test_deflateNsqjsToPynsq(self) -> None:
        """
        An nsqjs publisher with deflate to a pynsq consumer with deflate.
        """
        consumed, published, _ = await self.roundTrip(
            [], ("nsqjs", ["--deflate"]), ("pynsq", ["--deflate"])
        )
        for events in (consumed, published):
            self.assertNegotiated(events, tls_v1=False, deflate=True)

    test_deflateNsqjsToPynsq.skip = skipReason(  # type: ignore[attr-defined]
        "pynsq", "nsqjs"
    )

    async def test_clientCertificates(self) -> None:
        """
        With C{--tls-client-auth-policy=require-verify}, clients with a
        certificate from C{--tls-root-ca-file} round-trip messages; a
        pynsq publisher without a certificate and an nsqjs publisher with
        one from another CA are refused.
        """
        files = self.files
        _, _, nsqd = await self.roundTrip(
            [
                *serverTLSFlags(files),
                "--tls-client-auth-policy=require-verify",
                f"--tls-root-ca-file={files.caCert}",
            ],
            ("nsqjs", tlsArgs(files, certificate=True)),
            ("pynsq", tlsArgs(files, certificate=True)),
        )
        await self.refusedPublisher(nsqd, "pynsq", tlsArgs(files))
        stranger = [
            *tlsArgs(files),
            *("--tls-cert", files.strangerCert, "--tls-key", files.strangerKey),
        ]
        await self.refusedPublisher(nsqd, "nsqjs", stranger)

    test_clientCertificates.skip = skipReason(  # type: ignore[attr-defined]
        "pynsq", "nsqjs"
    )

    async def test_tlsRequired(self) -> None:
        """
        With C{--tls-required}, a plaintext pynsq publisher's PUB is
        refused with Go's error; an upgraded one publishes.
        """
        nsqd = await startNSQD(self, *serverTLSFlags(self.files), "--tls-required")
        plain = startClient(
            self, "pynsq", "publish", nsqd, TOPIC, "--ops", '[["pub", "no"]]'
        )
        self.assertEqual(await plain.whenEnded(), 1, plain.output())
        [refusal] = ofKind(plain.events(), "published")
        self.assertIn(
            "E_INVALID cannot PUB in current state (TLS required)",
            refusal["reply"],
            plain.output(),
        )
        secure = startClient(
            self,
            "pynsq",
            "publish",
            nsqd,
            TOPIC,
            *("--ops", '[["pub", "yes"]]', *tlsArgs(self.files)),
        )
        self.assertEqual(await secure.whenEnded(), 0, secure.output())

    test_tlsRequired.skip = skipReason("pynsq")  # type: ignore[attr-defined]

    async def test_auth(self) -> None:
        """
        With C{--auth-http-address}, a pynsq consumer and an nsqjs
        publisher authenticate with their own secrets and round-trip
        messages; nsqd asked the auth server with Go's GET for each; a
        publisher whose secret only grants subscribing is refused with
        C{E_UNAUTHORIZED}.
        """
        authServer = startAuthServer(self)
        authServer.answers["writer"] = grant(
            allow(f"^{TOPIC}$", [".*"], ["publish"]), identity="writer"
        )
        authServer.answers["reader"] = grant(
            allow(f"^{TOPIC}$", ["^c$"], ["subscribe"]), identity="reader"
        )
        consumed, published, nsqd = await self.roundTrip(
            [f"--auth-http-address={authServer.address()}"],
            ("nsqjs", ["--auth-secret", "writer"]),
            ("pynsq", ["--auth-secret", "reader"]),
        )
        self.assertNegotiated(consumed, auth_required=True)
        self.assertEqual(
            [e["reply"] for e in ofKind(consumed, "authed")],
            [{"identity": "reader", "identity_url": "", "permission_count": 1}],
        )
        self.assertEqual(
            [e["reply"]["identity"] for e in ofKind(published, "authed")], ["writer"]
        )
        self.assertEqual(
            sorted(r.uri for r in authServer.requests),
            [
                f"/auth?common_name=&remote_ip=127.0.0.1&secret={secret}&tls=false"
                for secret in ("reader", "writer")
            ],
        )
        denied = startClient(
            self,
            "pynsq",
            "publish",
            nsqd,
            TOPIC,
            *("--ops", '[["pub", "no"]]', "--auth-secret", "reader"),
        )
        self.assertEqual(await denied.whenEnded(), 1, denied.output())
        [refusal] = ofKind(denied.events(), "published")
        self.assertIn(
            f'E_UNAUTHORIZED AUTH failed for PUB on "{TOPIC}" ""',
            refusal["reply"],
            denied.output(),
        )

    test_auth.skip = skipReason("pynsq", "nsqjs")  # type: ignore[attr-defined]

    async def test_authWithClientCertificate(self) -> None:
        """
        Over TLS with C{require-verify}, nsqd tells the auth server
        C{tls=true} and the common name of each client's certificate.
        """
        files = self.files
        authServer = startAuthServer(self)
        authServer.answers["secret"] = grant(
            allow(f"^{TOPIC}$", [".*"], ["publish", "subscribe"])
        )
        args = [*tlsArgs(files, certificate=True), "--auth-secret", "secret"]
        await self.roundTrip(
            [
                *serverTLSFlags(files),
                "--tls-client-auth-policy=require-verify",
                f"--tls-root-ca-file={files.caCert}",
                f"--auth-http-address={authServer.address()}",
                "--auth-http-request-method=post",
            ],
            ("pynsq", args),
            ("nsqjs", args),
        )
        self.assertEqual(
            [json.loads(r.body) for r in authServer.requests],
            [
                {
                    "common_name": [CLIENT_COMMON_NAME],
                    "remote_ip": ["127.0.0.1"],
                    "secret": ["secret"],
                    "tls": ["true"],
                }
            ]
            * 2,
        )

    test_authWithClientCertificate.skip = skipReason(  # type: ignore[attr-defined]
        "pynsq", "nsqjs"
    )
