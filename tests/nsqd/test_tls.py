"""
Tests for nsqd's TLS over real sockets on 127.0.0.1: the upgrade after
IDENTIFY, compression on top of it, client certificate policies,
C{--tls-required} and C{--tls-min-version}, with certificates made by
the test (L{tests._certs}).

The client here is raw (L{FeatureClient}): it switches its own stream at
the exact frame where nsqd does, so the tests see every byte's layer.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import tempfile
from typing import Any

from OpenSSL import SSL
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.interfaces import ITLSTransport
from twisted.internet.ssl import CertificateOptions, TLSVersion
from twisted.trial.unittest import TestCase

from tests._certs import CertificateFiles, clientTLSOptions, writeCertificates
from tests.nsqd._realserver import FrameClient, RealNSQD, reactor, startServer
from txnsq.nsqd.options import TLS_REQUIRED
from txnsq.nsqd.stats import clientStats
from txnsq.wire.commands import encodeCommand, encodeIdentify, encodeMPub
from txnsq.wire.compression import (
    DeflateDecoder,
    DeflateEncoder,
    SnappyDecoder,
    SnappyEncoder,
    StreamCodec,
)
from txnsq.wire.frames import (
    FRAME_TYPE_ERROR,
    FRAME_TYPE_MESSAGE,
    FRAME_TYPE_RESPONSE,
)

OK = (FRAME_TYPE_RESPONSE, b"OK")


class FeatureClient(FrameClient):
    """
    A raw client whose stream can be switched to a compression codec
    right after a given frame, as nsqd switches its own.
    """

    def __init__(self) -> None:
        super().__init__()
        self._stream = bytearray()
        self._decode: StreamCodec | None = None
        self._encode: StreamCodec | None = None
        self._seen = 0
        self._switches: dict[int, tuple[StreamCodec, StreamCodec]] = {}

    def switchAfter(
        self, frames: int, decode: StreamCodec, encode: StreamCodec
    ) -> None:
        """
        Read through C{decode} and write through C{encode} from the byte
        after the C{frames}th frame still to come.
        """
        self._switches[self._seen + frames] = (decode, encode)

    def dataReceived(self, data: bytes) -> None:
        if self._decode is not None:
            data = self._decode(data)
        stream = self._stream
        stream += data
        while len(stream) >= 4:
            size = int.from_bytes(stream[:4], "big")
            if len(stream) < 4 + size:
                break
            frame = bytes(stream[4 : 4 + size])
            del stream[: 4 + size]
            self._frames.append((int.from_bytes(frame[:4], "big"), frame[4:]))
            self._seen += 1
            switch = self._switches.pop(self._seen, None)
            if switch is not None:
                # What follows this frame belongs to the new stream.
                self._decode, self._encode = switch
                rest = bytes(stream)
                stream.clear()
                stream += self._decode(rest)
        self._wake()

    def send(self, data: bytes) -> None:
        if self._encode is not None:
            data = self._encode(data)
        super().send(data)

    def startTLS(self, options: CertificateOptions) -> None:
        """
        Start the client side of a TLS handshake on this connection.
        """
        ITLSTransport(self.transport).startTLS(options)


async def connectFeatureClient(testCase: TestCase, server: RealNSQD) -> FeatureClient:
    """
    A new L{FeatureClient} connection to C{server} that has sent the
    magic; closed when C{testCase} ends.
    """
    endpoint = TCP4ClientEndpoint(reactor, server.host, server.portNumber)
    client = FeatureClient()
    await connectProtocol(endpoint, client)
    testCase.addCleanup(lambda: Deferred.fromCoroutine(client.close()))
    client.send(b"  V2")
    return client


async def identify(
    testCase: TestCase, client: FeatureClient, **fields: Any
) -> dict[str, Any]:
    """
    Send IDENTIFY with feature negotiation and C{fields}; return nsqd's
    JSON reply (read in plaintext).
    """
    client.send(encodeIdentify({"feature_negotiation": True, **fields}))
    frame = await client.frame()
    testCase.assertIsNotNone(frame, "no IDENTIFY reply")
    assert frame is not None
    testCase.assertEqual(frame[0], FRAME_TYPE_RESPONSE, frame)
    reply: dict[str, Any] = json.loads(frame[1])
    return reply


async def upgradeToTLS(
    testCase: TestCase,
    client: FeatureClient,
    options: CertificateOptions,
    **fields: Any,
) -> tuple[dict[str, Any], bool]:
    """
    IDENTIFY asking for C{tls_v1} (and C{fields}), then the client side
    of the handshake.

    @return: the IDENTIFY reply, and whether nsqd's C{OK} came over TLS
        (false: the connection closed instead).
    """
    reply = await identify(testCase, client, tls_v1=True, **fields)
    testCase.assertTrue(reply["tls_v1"], reply)
    client.startTLS(options)
    frame = await client.frame()
    if frame is None:
        return reply, False
    testCase.assertEqual(frame, OK)
    return reply, True


def certificateFiles(testCase: TestCase) -> CertificateFiles:
    """
    The test certificates, written to a fresh directory of C{testCase}.
    """
    return writeCertificates(testCase.mktemp())


def startTLSServer(
    testCase: TestCase, files: CertificateFiles, **config: Any
) -> RealNSQD:
    """
    An in-process nsqd with C{files}' server certificate.
    """
    return startServer(
        testCase, tls_cert=files.serverCert, tls_key=files.serverKey, **config
    )


class TLSUpgradeTests(TestCase):
    """
    IDENTIFY with C{tls_v1} switches the connection to TLS at Go's moment:
    the JSON reply in plaintext, a handshake, then C{OK} over TLS.
    """

    async def test_noCertificate(self) -> None:
        """
        Without C{--tls-cert}/C{--tls-key}, C{tls_v1} is answered
        C{"tls_v1":false} and the connection stays plaintext: the next
        command is read and answered without any handshake.
        """
        server = startServer(self)
        client = await connectFeatureClient(self, server)
        reply = await identify(self, client, tls_v1=True)
        self.assertIs(reply["tls_v1"], False)
        client.send(encodeCommand(b"PUB", b"plain", body=b"x"))
        self.assertEqual(await client.frame(), OK)

    async def test_roundTrip(self) -> None:
        """
        Two TLS connections, verifying nsqd's certificate against the
        test CA: what one publishes, the other (subscribed) receives, and
        nsqd marks both connections as TLS.
        """
        files = certificateFiles(self)
        server = startTLSServer(self, files)
        options = clientTLSOptions(files)
        consumer = await connectFeatureClient(self, server)
        _, upgraded = await upgradeToTLS(self, consumer, options)
        self.assertTrue(upgraded)
        consumer.send(encodeCommand(b"SUB", b"secure", b"c"))
        self.assertEqual(await consumer.frame(), OK)
        consumer.send(encodeCommand(b"RDY", b"5"))
        publisher = await connectFeatureClient(self, server)
        _, upgraded = await upgradeToTLS(self, publisher, options)
        self.assertTrue(upgraded)
        publisher.send(encodeMPub(b"secure", [b"one", b"two"]))
        self.assertEqual(await publisher.frame(), OK)
        frames = await consumer.frames(2)
        self.assertEqual([f[0] for f in frames], [FRAME_TYPE_MESSAGE] * 2)
        self.assertEqual([f[1][26:] for f in frames], [b"one", b"two"])
        self.assertEqual({c.client.tls for c in server.factory.connections}, {True})

    async def test_statsShowNegotiatedTLS(self) -> None:
        """
        C{/stats} names the cipher suite and version of a TLS connection as
        Go does, read from the TLS connection the upgrade started.
        """
        files = certificateFiles(self)
        server = startTLSServer(self, files)
        client = await connectFeatureClient(self, server)
        _, upgraded = await upgradeToTLS(self, client, clientTLSOptions(files))
        self.assertTrue(upgraded)
        [connection] = server.factory.connections
        stats = clientStats(connection.client)
        self.assertIs(stats["tls"], True)
        self.assertIn(stats["tls_version"], ("TLS1.2", "TLS1.3"))
        self.assertNotIn(stats["tls_cipher_suite"], ("", "Unknown 0"))

    async def test_tlsThenSnappy(self) -> None:
        """
        With C{tls_v1} and C{snappy}, nsqd sends C{OK} over TLS, then
        C{OK} in a snappy stream inside TLS; commands are read through
        both.
        """
        files = certificateFiles(self)
        server = startTLSServer(self, files)
        client = await connectFeatureClient(self, server)
        client.switchAfter(2, SnappyDecoder(), SnappyEncoder())
        reply, upgraded = await upgradeToTLS(
            self, client, clientTLSOptions(files), snappy=True
        )
        self.assertTrue(upgraded)
        self.assertTrue(reply["snappy"], reply)
        self.assertEqual(await client.frame(), OK)
        client.send(encodeCommand(b"PUB", b"packed", body=b"x" * 5000))
        self.assertEqual(await client.frame(), OK)

    async def test_tlsThenDeflate(self) -> None:
        """
        With C{tls_v1} and C{deflate}, nsqd sends C{OK} over TLS, then
        C{OK} deflated inside TLS; commands are read through both.
        """
        files = certificateFiles(self)
        server = startTLSServer(self, files)
        client = await connectFeatureClient(self, server)
        client.switchAfter(2, DeflateDecoder(), DeflateEncoder(3))
        reply, upgraded = await upgradeToTLS(
            self, client, clientTLSOptions(files), deflate=True, deflate_level=3
        )
        self.assertTrue(upgraded)
        self.assertEqual((reply["deflate"], reply["deflate_level"]), (True, 3))
        self.assertEqual(await client.frame(), OK)
        client.send(encodeCommand(b"PUB", b"packed", body=b"y" * 5000))
        self.assertEqual(await client.frame(), OK)


class ClientCertificateTests(TestCase):
    """
    C{--tls-client-auth-policy}: C{require} wants any client certificate,
    C{require-verify} one signed by C{--tls-root-ca-file}.
    """

    async def handshake(
        self, policy: str, certificate: str | None, key: str | None
    ) -> bool:
        """
        Upgrade a connection to an nsqd with C{policy}, presenting
        C{certificate}; return whether nsqd's C{OK} came over TLS (and a
        publish then works) rather than the connection being closed.
        """
        files = certificateFiles(self)
        server = startTLSServer(
            self,
            files,
            tls_client_auth_policy=policy,
            tls_root_ca_file=files.caCert,
            tls_required=TLS_REQUIRED,
        )
        client = await connectFeatureClient(self, server)
        options = clientTLSOptions(
            files,
            getattr(files, certificate) if certificate else None,
            getattr(files, key) if key else None,
        )
        _, upgraded = await upgradeToTLS(self, client, options)
        if not upgraded:
            self.assertTrue(await client.whenClosed(), "refused but still open")
            return False
        client.send(encodeCommand(b"PUB", b"checked", body=b"x"))
        self.assertEqual(await client.frame(), OK)
        return True

    async def test_requireRefusesNoCertificate(self) -> None:
        """
        C{require}: a client that presents no certificate is refused
        during the handshake.
        """
        self.assertFalse(await self.handshake("require", None, None))

    async def test_requireAcceptsAnyCertificate(self) -> None:
        """
        C{require}: a certificate from an authority nsqd does not know is
        accepted.
        """
        self.assertTrue(await self.handshake("require", "strangerCert", "strangerKey"))

    async def test_requireAcceptsTrustedCertificate(self) -> None:
        """
        C{require}: a certificate from the configured authority is
        accepted too.
        """
        self.assertTrue(await self.handshake("require", "clientCert", "clientKey"))

    async def test_requireVerifyAcceptsTrusted(self) -> None:
        """
        C{require-verify}: a certificate signed by C{--tls-root-ca-file}
        is accepted.
        """
        self.assertTrue(
            await self.handshake("require-verify", "clientCert", "clientKey")
        )

    async def test_requireVerifyRefusesStranger(self) -> None:
        """
        C{require-verify}: a certificate from another authority is
        refused.
        """
        self.assertFalse(
            await self.handshake("require-verify", "strangerCert", "strangerKey")
        )

    async def test_requireVerifyRefusesNoCertificate(self) -> None:
        """
        C{require-verify}: no certificate at all is refused.
        """
        self.assertFalse(await self.handshake("require-verify", None, None))


class TLSRequiredTests(TestCase):
    """
    C{--tls-required}: every command but IDENTIFY is refused until the
    connection has upgraded, with Go's fatal C{E_INVALID} text.
    """

    async def refused(self, command: bytes, name: str, why: str = "") -> None:
        """
        Send C{command} in plaintext to a TLS-required nsqd: it answers
        Go's error naming C{name} and closes the connection.

        @param why: said when the answer differs.
        """
        files = certificateFiles(self)
        server = startTLSServer(self, files, tls_required=TLS_REQUIRED)
        client = await connectFeatureClient(self, server)
        client.send(command)
        expected = f"E_INVALID cannot {name} in current state (TLS required)"
        self.assertEqual(
            await client.frame(),
            (FRAME_TYPE_ERROR, expected.encode("ascii")),
            why or None,
        )
        self.assertTrue(await client.whenClosed())

    async def test_pubRefused(self) -> None:
        """
        A plaintext PUB gets C{E_INVALID cannot PUB in current state (TLS
        required)} and the connection is closed.
        """
        await self.refused(encodeCommand(b"PUB", b"t", body=b"x"), "PUB")

    async def test_otherCommandsRefused(self) -> None:
        """
        SUB, MPUB, NOP and AUTH are refused the same way, before their own
        checks (SUB's channel name is not even looked at).
        """
        await self.refused(encodeCommand(b"SUB", b"t", b"not valid!"), "SUB")
        await self.refused(encodeMPub(b"t", [b"x"]), "MPUB")
        await self.refused(encodeCommand(b"NOP"), "NOP")
        await self.refused(encodeCommand(b"AUTH", body=b"secret"), "AUTH")

    async def test_unknownCommandRefused(self) -> None:
        """
        Go checks the TLS policy before it looks the command up, so an
        unknown command is refused as TLS-required too, not as C{invalid
        command}.
        """
        await self.refused(
            encodeCommand(b"BOGUS"),
            "BOGUS",
            "Go's protocolV2.Exec runs enforceTLSPolicy before its command "
            "switch, so an unknown command on a connection that has not "
            "upgraded gets the TLS-required error, not 'invalid command'",
        )

    async def test_identifyThenPlaintextRefused(self) -> None:
        """
        IDENTIFY is answered before the upgrade; a PUB after an IDENTIFY
        that did not ask for TLS is still refused.
        """
        files = certificateFiles(self)
        server = startTLSServer(self, files, tls_required=TLS_REQUIRED)
        client = await connectFeatureClient(self, server)
        reply = await identify(self, client)
        self.assertIs(reply["tls_v1"], False)
        client.send(encodeCommand(b"PUB", b"t", body=b"x"))
        self.assertEqual(
            await client.frame(),
            (FRAME_TYPE_ERROR, b"E_INVALID cannot PUB in current state (TLS required)"),
        )

    async def test_upgradedAllowed(self) -> None:
        """
        Once upgraded, PUB is accepted.
        """
        files = certificateFiles(self)
        server = startTLSServer(self, files, tls_required=TLS_REQUIRED)
        client = await connectFeatureClient(self, server)
        _, upgraded = await upgradeToTLS(self, client, clientTLSOptions(files))
        self.assertTrue(upgraded)
        client.send(encodeCommand(b"PUB", b"t", body=b"x"))
        self.assertEqual(await client.frame(), OK)


_VERSION_CONSTANTS = {
    TLSVersion.TLSv1_1: "TLS1_1_VERSION",
    TLSVersion.TLSv1_2: "TLS1_2_VERSION",
}


@functools.cache
def openSSLSpeaks(version: TLSVersion) -> bool:
    """
    Whether this OpenSSL completes a handshake at exactly C{version} when
    both sides allow it (security level 0), in memory.
    """
    files = writeCertificates(tempfile.mkdtemp())
    number = getattr(SSL, _VERSION_CONSTANTS[version])

    def context(server: bool) -> SSL.Context:
        context = SSL.Context(SSL.TLS_METHOD)
        context.set_min_proto_version(number)
        context.set_max_proto_version(number)
        context.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
        if server:
            context.use_certificate_file(files.serverCert)
            context.use_privatekey_file(files.serverKey)
        return context

    server = SSL.Connection(context(True), None)
    server.set_accept_state()
    client = SSL.Connection(context(False), None)
    client.set_connect_state()
    try:
        for _ in range(10):
            for one, other in ((client, server), (server, client)):
                with contextlib.suppress(SSL.WantReadError):
                    one.do_handshake()
                with contextlib.suppress(SSL.WantReadError):
                    other.bio_write(one.bio_read(65536))
    except SSL.Error:
        return False
    finally:
        shutil.rmtree(files.directory, ignore_errors=True)
    return bool(server.get_protocol_version() == number)


class MinimumVersionTests(TestCase):
    """
    C{--tls-min-version} refuses clients that cannot speak that version.
    """

    async def upgradeWith(
        self, minimum: str, maximum: TLSVersion, insecure: bool = False
    ) -> bool:
        """
        Whether a client offering at most C{maximum} gets nsqd's C{OK}
        over TLS from an nsqd with C{--tls-min-version=minimum}.
        """
        files = certificateFiles(self)
        server = startTLSServer(self, files, tls_min_version=minimum)
        client = await connectFeatureClient(self, server)
        options = clientTLSOptions(
            files, maximumVersion=maximum, insecureCiphers=insecure
        )
        _, upgraded = await upgradeToTLS(self, client, options)
        return upgraded

    async def test_tls12RefusesTLS11(self) -> None:
        """
        C{tls1.2} refuses a client that offers at most TLS 1.1 (skipped
        where this OpenSSL cannot speak TLS 1.1 at all, even at security
        level 0).
        """
        if not openSSLSpeaks(TLSVersion.TLSv1_1):
            self.skipTest("this OpenSSL cannot negotiate TLS 1.1")
        self.assertFalse(
            await self.upgradeWith("tls1.2", TLSVersion.TLSv1_1, insecure=True)
        )

    async def test_defaultAcceptsTLS11(self) -> None:
        """
        The default C{--tls-min-version=tls1.0} accepts a TLS 1.1 client,
        as Go's nsqd (C{MinVersion: tls.VersionTLS10}) does, where this
        OpenSSL can speak TLS 1.1.
        """
        if not openSSLSpeaks(TLSVersion.TLSv1_1):
            self.skipTest("this OpenSSL cannot negotiate TLS 1.1")
        self.assertTrue(
            await self.upgradeWith("tls1.0", TLSVersion.TLSv1_1, insecure=True),
            "a TLS 1.1 client is refused with --tls-min-version=tls1.0: "
            "CertificateOptions(raiseMinimumTo=...) never goes below "
            "Twisted's default minimum (TLS 1.2); tls1.0/tls1.1 need "
            "insecurelyLowerMinimumTo, and OpenSSL 3 also security level 0",
        )

    async def test_tls13RefusesTLS12(self) -> None:
        """
        C{tls1.3} refuses a client that offers at most TLS 1.2, which an
        nsqd with C{tls1.2} accepts.
        """
        self.assertTrue(await self.upgradeWith("tls1.2", TLSVersion.TLSv1_2))
        self.assertFalse(await self.upgradeWith("tls1.3", TLSVersion.TLSv1_2))
