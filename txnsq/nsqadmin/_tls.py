# -*- test-case-name: tests.nsqadmin.test_tls -*-
"""
HTTPS to the cluster: the C{--http-client-tls-*} options as the TLS policy
of nsqadmin's HTTP client.

Go nsqadmin asks every node over plain HTTP; an nsqd run with
C{--tls-required} answers C{403} with its C{https_port}, and the request is
made again over HTTPS on that port (see L{txnsq.nsqadmin.cluster}).  This
module decides how those HTTPS connections check the nsqd and what
certificate they show it.
"""

from __future__ import annotations

import re
from typing import Any

from zope.interface import implementer

from twisted.internet import ssl
from twisted.web.client import BrowserLikePolicyForHTTPS
from twisted.web.iweb import IPolicyForHTTPS

from txnsq.nsqadmin.config import AdminConfig

__all__ = ["ClientTLSPolicy", "clientTLSPolicy"]

_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL
)


@implementer(IPolicyForHTTPS)
class ClientTLSPolicy:
    """
    Go's C{tls.Config} for nsqadmin's HTTP client: the server's certificate
    checked against the trusted authorities and the host connected to,
    unless verification is skipped; the client certificate shown when
    asked.

    @ivar trustRoot: the authorities (L{None}: the platform's).
    @ivar clientCertificate: a L{ssl.PrivateCertificate}, or L{None}.
    @ivar insecure: skip every check of the server's certificate.
    """

    def __init__(
        self,
        trustRoot: Any = None,
        clientCertificate: ssl.PrivateCertificate | None = None,
        insecure: bool = False,
    ) -> None:
        self.trustRoot = trustRoot
        self.clientCertificate = clientCertificate
        self.insecure = insecure

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        """
        The TLS settings for one connection to C{hostname:port}.
        """
        if self.insecure:
            extra: dict[str, Any] = {}
            if self.clientCertificate is not None:
                extra["privateKey"] = self.clientCertificate.privateKey.original
                extra["certificate"] = self.clientCertificate.original
            return ssl.CertificateOptions(verify=False, **extra)
        if self.trustRoot is None and self.clientCertificate is None:
            return BrowserLikePolicyForHTTPS().creatorForNetloc(hostname, port)
        return ssl.optionsForClientTLS(
            hostname.decode("ascii"),
            trustRoot=self.trustRoot,
            clientCertificate=self.clientCertificate,
        )


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def clientTLSPolicy(config: AdminConfig) -> ClientTLSPolicy:
    """
    The policy for C{config}'s C{--http-client-tls-*} options, checked as
    Go's C{nsqadmin.New} checks them.

    @raise ValueError: with Go's message for a certificate pair or
        authority file that cannot be loaded.
    """
    client = None
    if config.http_client_tls_cert and config.http_client_tls_key:
        cert, key = config.http_client_tls_cert, config.http_client_tls_key
        try:
            client = ssl.PrivateCertificate.loadPEM(_read(cert) + b"\n" + _read(key))
        except Exception as e:
            raise ValueError(
                f"failed to LoadX509KeyPair {cert}, {key} - {_describe(e)}"
            ) from None
    trustRoot = None
    if config.http_client_tls_root_ca_file:
        path = config.http_client_tls_root_ca_file
        try:
            pem = _read(path)
        except OSError as e:
            raise ValueError(
                f"failed to read TLS root CA file {path} - {_describe(e)}"
            ) from None
        try:
            authorities = [
                ssl.Certificate.loadPEM(block)
                for block in _PEM_CERTIFICATE.findall(pem)
            ]
        except Exception:
            authorities = []
        if not authorities:
            raise ValueError(f"failed to AppendCertsFromPEM {path}")
        trustRoot = ssl.trustRootFromCertificates(authorities)
    return ClientTLSPolicy(
        trustRoot, client, config.http_client_tls_insecure_skip_verify
    )


def _describe(error: Exception) -> str:
    # An OSError's own text, without Python's "[Errno 2]".
    if isinstance(error, OSError) and error.strerror:
        return f"open {error.filename}: {error.strerror.lower()}"
    return str(error) or type(error).__name__
