"""
Certificates made by the tests, for nsqd's TLS: a certificate authority,
a server certificate for 127.0.0.1 signed by it, a client certificate
signed by it, and a client certificate from another, unrelated authority.

Keys are ECDSA P-256 (quick to generate).  They are made once per process
and written, as PEM files, to whatever directory a test asks for.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import os

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from OpenSSL import SSL
from twisted.internet.ssl import (
    Certificate,
    CertificateOptions,
    PrivateCertificate,
    TLSVersion,
)

#: The common name of the client certificate signed by the trusted CA.
CLIENT_COMMON_NAME = "txnsq-client"

#: The common name of the client certificate signed by the other CA.
STRANGER_COMMON_NAME = "stranger"

_Key = ec.EllipticCurvePrivateKey


@attrs.frozen
class CertificateFiles:
    """
    Paths of the PEM files written by L{writeCertificates}.

    @ivar caCert: the authority nsqd trusts (C{--tls-root-ca-file}).
    @ivar serverCert: nsqd's certificate, for C{127.0.0.1} and
        C{localhost}, signed by C{caCert} (C{--tls-cert}).
    @ivar serverKey: its key (C{--tls-key}).
    @ivar clientCert: a client certificate signed by C{caCert}, common
        name L{CLIENT_COMMON_NAME}.
    @ivar otherCACert: an unrelated authority.
    @ivar strangerCert: a client certificate signed by C{otherCACert},
        common name L{STRANGER_COMMON_NAME}.
    """

    directory: str
    caCert: str
    serverCert: str
    serverKey: str
    clientCert: str
    clientKey: str
    otherCACert: str
    strangerCert: str
    strangerKey: str


def _name(commonName: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "txnsq tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, commonName),
        ]
    )


def _sign(
    subject: str,
    key: _Key,
    issuer: x509.Name | None,
    issuerKey: _Key | None,
    authority: bool,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer if issuer is not None else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # A day of slack either way: clocks of test machines drift.
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.BasicConstraints(ca=authority, path_length=None), critical=True
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
            critical=False,
        )
    )
    if authority:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        usage = (
            ExtendedKeyUsageOID.SERVER_AUTH
            if server
            else (ExtendedKeyUsageOID.CLIENT_AUTH)
        )
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
    signer = issuerKey if issuerKey is not None else key
    return builder.sign(signer, hashes.SHA256())


def _keyPEM(key: _Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _certPEM(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@functools.cache
def _material() -> dict[str, bytes]:
    """
    Every certificate and key, as PEM, made once per process.
    """
    caKey = ec.generate_private_key(ec.SECP256R1())
    ca = _sign("txnsq test CA", caKey, None, None, authority=True)
    serverKey = ec.generate_private_key(ec.SECP256R1())
    server = _sign(
        "127.0.0.1", serverKey, ca.subject, caKey, authority=False, server=True
    )
    clientKey = ec.generate_private_key(ec.SECP256R1())
    client = _sign(CLIENT_COMMON_NAME, clientKey, ca.subject, caKey, authority=False)
    otherKey = ec.generate_private_key(ec.SECP256R1())
    other = _sign("another CA", otherKey, None, None, authority=True)
    strangerKey = ec.generate_private_key(ec.SECP256R1())
    stranger = _sign(
        STRANGER_COMMON_NAME, strangerKey, other.subject, otherKey, authority=False
    )
    return {
        "ca.pem": _certPEM(ca),
        "server.pem": _certPEM(server),
        "server.key": _keyPEM(serverKey),
        "client.pem": _certPEM(client),
        "client.key": _keyPEM(clientKey),
        "other-ca.pem": _certPEM(other),
        "stranger.pem": _certPEM(stranger),
        "stranger.key": _keyPEM(strangerKey),
    }


def writeCertificates(directory: str) -> CertificateFiles:
    """
    Write every certificate and key into C{directory} (created if
    missing); the paths returned are absolute, for child processes.
    """
    directory = os.path.abspath(directory)
    os.makedirs(directory, exist_ok=True)
    paths = {}
    for fileName, data in _material().items():
        path = os.path.join(directory, fileName)
        with open(path, "wb") as f:
            f.write(data)
        paths[fileName] = path
    return CertificateFiles(
        directory=directory,
        caCert=paths["ca.pem"],
        serverCert=paths["server.pem"],
        serverKey=paths["server.key"],
        clientCert=paths["client.pem"],
        clientKey=paths["client.key"],
        otherCACert=paths["other-ca.pem"],
        strangerCert=paths["stranger.pem"],
        strangerKey=paths["stranger.key"],
    )


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


#: OpenSSL's protocol version numbers.
_PROTOCOL = {
    TLSVersion.TLSv1_0: SSL.TLS1_VERSION,
    TLSVersion.TLSv1_1: SSL.TLS1_1_VERSION,
    TLSVersion.TLSv1_2: SSL.TLS1_2_VERSION,
    TLSVersion.TLSv1_3: SSL.TLS1_3_VERSION,
}


def clientTLSOptions(
    files: CertificateFiles,
    certificate: str | None = None,
    key: str | None = None,
    maximumVersion: TLSVersion | None = None,
    insecureCiphers: bool = False,
) -> CertificateOptions:
    """
    Client-side TLS for Twisted's C{startTLS}, verifying nsqd's certificate
    against the test CA.

    @param certificate: the client certificate to present (with C{key}),
        or L{None} to present none.
    @param maximumVersion: the newest protocol version to offer.
    @param insecureCiphers: lower OpenSSL's security level to 0, which
        OpenSSL 3 needs to speak TLS 1.0 or 1.1 at all.
    """
    identity: dict[str, object] = {}
    if certificate is not None:
        assert key is not None
        private = PrivateCertificate.loadPEM(_read(certificate) + b"\n" + _read(key))
        identity = {
            "privateKey": private.privateKey.original,
            "certificate": private.original,
        }
    ca = Certificate.loadPEM(_read(files.caCert))
    versions: dict[str, object] = {}
    if maximumVersion is not None:
        versions = {"insecurelyLowerMinimumTo": TLSVersion.TLSv1_0}
    options = CertificateOptions(
        verify=True,
        caCerts=[ca.original],
        **identity,  # type: ignore[arg-type]
        **versions,  # type: ignore[arg-type]
    )
    if maximumVersion is not None:
        # Set on the context rather than with lowerMaximumSecurityTo:
        # Twisted 25.5's option flags leave OpenSSL 3.3 no protocol at all
        # for a TLS 1.2 maximum.  getContext() caches the context.
        options.getContext().set_max_proto_version(_PROTOCOL[maximumVersion])
    if insecureCiphers:
        context = options.getContext()
        context.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
        # getContext() caches the context, so the change sticks.
        assert options.getContext() is context
    return options
