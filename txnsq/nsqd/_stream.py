# -*- test-case-name: tests.nsqd.test_compression,tests.nsqd.test_tls -*-
"""
The upgrades IDENTIFY negotiates for a connection's stream: TLS, then
snappy or deflate, switched exactly where Go switches them.

Go answers IDENTIFY in plaintext, then upgrades and answers C{OK} once per
upgrade on the upgraded stream: the TLS C{OK} after the handshake,
encrypted; the compression C{OK} compressed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from twisted.internet.interfaces import (
    ISSLTransport,
    ISystemHandle,
    ITLSTransport,
    ITransport,
)

from txnsq.nsqd._clientv2 import ClientV2, TLSConnection
from txnsq.nsqd._output import ClientOutput
from txnsq.wire.compression import StreamCodec, streamCodecs
from txnsq.wire.frames import RESPONSE_OK
from txnsq.wire.identify import IdentifyResult

if TYPE_CHECKING:
    # Only a type: the TLS stack is imported when TLS is configured
    # (txnsq._tlsimport).
    from twisted.internet.ssl import CertificateOptions

__all__ = ["peerCommonName", "upgradeStream"]


def upgradeStream(
    transport: ITransport,
    client: ClientV2,
    output: ClientOutput,
    result: IdentifyResult,
    tlsOptions: CertificateOptions | None,
) -> StreamCodec | None:
    """
    Switch the connection to what IDENTIFY negotiated (C{result}), noting
    it in the client's state, and answer each upgrade.

    @return: the decoder of what the client sends from now on, when the
        stream is compressed.
    """
    # What was answered so far (IDENTIFY's response) goes out as it is,
    # before the stream changes.
    output.flush()
    if result.tls:
        client.tls = True
        assert tlsOptions is not None
        ITLSTransport(transport).startTLS(tlsOptions)
        handle = ISystemHandle(transport, None)
        if handle is not None:
            # The TLS connection, whose cipher and version /stats shows.
            client.tlsConnection = cast(TLSConnection, handle.getHandle())
        output.writeFrame(RESPONSE_OK)
    codecs = streamCodecs(result.snappy, result.deflate, result.deflateLevel)
    if codecs is None:
        return None
    client.snappy = result.snappy
    client.deflate = result.deflate
    if result.deflate:
        client.deflateLevel = result.deflateLevel
    # The TLS OK is written before compression starts.
    output.flush()
    output.encode, decode = codecs
    output.writeFrame(RESPONSE_OK)
    return decode


def peerCommonName(transport: ITransport | None) -> str:
    """
    The common name of the client's certificate on a TLS connection (what
    AUTH tells the auth server), or C{""}.
    """
    secure = ISSLTransport(transport, None)
    # A pyOpenSSL X509, once the handshake is done.
    certificate: Any = secure.getPeerCertificate() if secure is not None else None
    if certificate is None:
        return ""
    return str(certificate.get_subject().CN or "")
