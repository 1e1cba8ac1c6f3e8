# -*- test-case-name: tests.nsqd.test_auth -*-
"""
nsqd's AUTH: asking an auth server (C{--auth-http-address}) what a client
secret may do, and checking topics and channels against the answer.

The decision logic (L{Authorizations}, in L{txnsq.nsqd._authorizations})
is plain Python; L{AuthClient} asks the servers with treq, never blocking
the reactor: a slow or dead auth server only delays the connection that is
waiting for it.
"""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import urlencode

from twisted.internet.defer import Deferred
from twisted.web.http_headers import Headers

from txnsq._go.json import encodeJSON
from txnsq._http import quietAgent
from txnsq._logging import Logger
from txnsq.nsqd._authorizations import (
    AuthError,
    Authorization,
    Authorizations,
    parseAuthReply,
)
from txnsq.nsqd.config import NSQDConfig

__all__ = [
    "AuthClient",
    "AuthError",
    "Authorization",
    "Authorizations",
    "authURL",
    "parseAuthReply",
]

_log = Logger(namespace="txnsq.nsqd")


def authURL(address: str) -> str:
    """
    C{host:port} means C{http://host:port/auth}; a full URL is used as is.
    """
    return address if "://" in address else f"http://{address}/auth"


class AuthClient:
    """
    Queries the configured auth servers, starting with a random one and
    trying the others until one answers.
    """

    def __init__(self, config: NSQDConfig, reactor: Any) -> None:
        self._config = config
        self._reactor = reactor
        # Quiet: no "Starting factory" log lines per connection.
        self._agent = quietAgent(
            reactor, config.http_client_connect_timeout, persistent=True
        )

    async def query(
        self, secret: bytes, remoteIP: str, tls: bool, commonName: str
    ) -> Authorizations:
        """
        Ask the auth servers about C{secret}.

        @raise AuthError: none gave a valid answer.
        """
        import treq

        config = self._config
        fields = {
            "common_name": commonName,
            "remote_ip": remoteIP,
            "secret": secret.decode("utf-8", "surrogateescape"),
            "tls": "true" if tls else "false",
        }
        addresses = list(config.auth_http_addresses)
        start = random.randrange(len(addresses))
        client = treq.client.HTTPClient(self._agent)
        accept = ("Accept", ["application/vnd.nsq; version=1.0"])
        lastError: Exception = AuthError("no auth server")
        for address in addresses[start:] + addresses[:start]:
            url = authURL(address)
            try:
                if config.auth_http_request_method == "post":
                    body = encodeJSON({k: [v] for k, v in sorted(fields.items())})
                    request = client.post(
                        url,
                        data=body,
                        headers=Headers(
                            dict([accept, ("Content-Type", ["application/json"])])
                        ),
                    )
                else:
                    query = urlencode(sorted(fields.items()))
                    request = client.get(
                        f"{url}?{query}", headers=Headers(dict([accept]))
                    )
                request.addTimeout(config.http_client_request_timeout, self._reactor)
                response = await request
                content = await _readBody(response, self._reactor, config)
                if response.code != 200:
                    raise AuthError(f"got response {response.code} from {url}")
                return parseAuthReply(content, self._reactor.seconds())
            except Exception as e:
                _log.warn("auth request to {url} failed: {error}", url=url, error=e)
                lastError = e
        raise AuthError(str(lastError))


def _readBody(response: Any, reactor: Any, config: NSQDConfig) -> Deferred[bytes]:
    import treq

    reading: Deferred[bytes] = treq.content(response)
    reading.addTimeout(config.http_client_request_timeout, reactor)
    return reading
