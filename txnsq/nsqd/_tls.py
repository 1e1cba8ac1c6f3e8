# -*- test-case-name: tests.nsqd.test_tls -*-
"""
TLS settings shared by nsqd's TCP upgrade and its HTTPS listener, built
from Go's flags with Twisted's TLS (pyOpenSSL).

pyOpenSSL and Twisted's TLS modules are imported only when a certificate
and key are configured (L{serverTLSOptions}), so that an nsqd without TLS
does not load them (see L{txnsq._tlsimport}).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from txnsq.nsqd.config import NSQDConfig

if TYPE_CHECKING:
    from twisted.internet.ssl import CertificateOptions

# --tls-min-version -> the name of Twisted's TLSVersion constant.
_VERSIONS = {
    "tls1.0": "TLSv1_0",
    "tls1.1": "TLSv1_1",
    "tls1.2": "TLSv1_2",
    "tls1.3": "TLSv1_3",
}

TLS_VERSION_NAMES = {
    "TLSv1": "TLS1.0",
    "TLSv1.1": "TLS1.1",
    "TLSv1.2": "TLS1.2",
    "TLSv1.3": "TLS1.3",
}


def serverTLSOptions(config: NSQDConfig) -> CertificateOptions | None:
    """
    The server side of nsqd's TLS, or L{None} without C{--tls-cert} and
    C{--tls-key}.

    C{--tls-client-auth-policy=require} asks for any client certificate;
    C{require-verify} also checks it against C{--tls-root-ca-file}.

    @raise ValueError: unreadable or mismatched files, unknown version.
    """
    if not config.tlsEnabled:
        return None
    from OpenSSL import SSL
    from twisted.internet.ssl import (
        Certificate,
        CertificateOptions,
        PrivateCertificate,
        TLSVersion,
    )

    with open(config.tls_cert, "rb") as f:
        certData = f.read()
    with open(config.tls_key, "rb") as f:
        keyData = f.read()
    identity = PrivateCertificate.loadPEM(certData + b"\n" + keyData)
    versionName = _VERSIONS.get(config.tls_min_version)
    if versionName is None:
        raise ValueError(f"unknown tls-min-version {config.tls_min_version!r}")
    minimum = TLSVersion.lookupByName(versionName)
    caCerts = None
    verify = False
    if config.tls_root_ca_file:
        with open(config.tls_root_ca_file, "rb") as f:
            caCerts = [Certificate.loadPEM(f.read()).original]
    policy = config.tls_client_auth_policy
    if policy == "require-verify":
        verify = True
    if minimum in (TLSVersion.TLSv1_0, TLSVersion.TLSv1_1):
        # Go's default accepts TLS 1.0 and 1.1; Twisted and OpenSSL 3 refuse
        # them unless asked explicitly (and at security level 0).
        versions: dict[str, Any] = {"insecurelyLowerMinimumTo": minimum}
    else:
        versions = {"raiseMinimumTo": minimum}
    options = CertificateOptions(
        privateKey=identity.privateKey.original,
        certificate=identity.original,
        verify=verify,
        caCerts=caCerts if verify else None,
        requireCertificate=verify,
        **versions,
    )
    if "insecurelyLowerMinimumTo" in versions:
        options.getContext().set_cipher_list(b"DEFAULT:@SECLEVEL=0")
    if policy == "require":
        # Any certificate will do: request one, accept whatever comes.
        context = options.getContext()
        context.set_verify(
            SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT,
            lambda connection, cert, errno, depth, ok: True,
        )
    return options
