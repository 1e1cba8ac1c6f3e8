# -*- test-case-name: tests.nsqd.test_auth -*-
"""
nsqd's AUTH: asking an auth server (C{--auth-http-address}) what a client
secret may do, and checking topics and channels against the answer.

The decision logic (L{Authorizations}) is plain Python; L{AuthClient} asks
the servers with treq, never blocking the reactor: a slow or dead auth
server only delays the connection that is waiting for it.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any
from urllib.parse import urlencode

import attrs
from twisted.internet.defer import Deferred
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers

from txnsq._go.json import encodeJSON
from txnsq._logging import Logger
from txnsq.nsqd.config import NSQDConfig

_log = Logger(namespace="txnsq.nsqd")

_PERMISSIONS = frozenset({"subscribe", "publish"})


class AuthError(Exception):
    """
    The auth servers could not give a valid answer.
    """


@attrs.frozen
class Authorization:
    """
    One entry of the auth server's C{authorizations} list.
    """

    topic: re.Pattern[str]
    channels: tuple[re.Pattern[str], ...]
    permissions: frozenset[str]

    def allows(self, topic: str, channel: str) -> bool:
        """
        Go's C{IsAllowed}: a channel means subscribing, none publishing;
        regexes match anywhere in the name unless anchored.
        """
        needed = "subscribe" if channel else "publish"
        if needed not in self.permissions:
            return False
        if self.topic.search(topic) is None:
            return False
        return any(pattern.search(channel) is not None for pattern in self.channels)


@attrs.frozen
class Authorizations:
    """
    A parsed auth server reply.

    @ivar expires: when to ask again (the clock's seconds).
    """

    identity: str
    identityURL: str
    expires: float
    entries: tuple[Authorization, ...]

    def allows(self, topic: str, channel: str) -> bool:
        """
        Whether any entry grants this topic and channel.
        """
        return any(entry.allows(topic, channel) for entry in self.entries)

    def reply(self) -> bytes:
        """
        What nsqd answers AUTH with (Go's JSON encoding).
        """
        return encodeJSON(
            {
                "identity": self.identity,
                "identity_url": self.identityURL,
                "permission_count": len(self.entries),
            }
        )


def _string(value: object, what: str) -> str:
    # Go decodes into string fields: null leaves "", anything else fails.
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AuthError(f"{what} is not a string")
    return value


def _strings(value: object, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise AuthError(f"{what} is not a list")
    return [_string(item, what) for item in value]


# RE2 (Go's regexp) has no lookaround and no backreferences; Python's re
# would accept them and grant what Go refuses.
_NOT_RE2 = re.compile(r"\(\?[=!]|\(\?<[=!]|\\[1-9]|\(\?P=")


def _compile(pattern: str) -> re.Pattern[str]:
    if _NOT_RE2.search(pattern):
        raise AuthError(f"regex {pattern!r} is not RE2 syntax")
    # RE2's \z (end of text) is Python's \Z.
    return re.compile(pattern.replace("\\z", "\\Z"))


def parseAuthReply(body: bytes, now: float) -> Authorizations:
    """
    Validate an auth server's JSON as Go does: its field types, known
    permissions only, regexes that compile, a positive TTL.

    @raise AuthError: anything else.
    """
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise AuthError("auth reply is not an object")
        ttl = data.get("ttl")
        if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0:
            raise AuthError(f"invalid TTL {ttl!r}")
        items = data.get("authorizations")
        if items is not None and not isinstance(items, list):
            raise AuthError("authorizations is not a list")
        entries = []
        for item in items or ():
            if not isinstance(item, dict):
                raise AuthError("authorization is not an object")
            permissions = frozenset(_strings(item.get("permissions"), "permissions"))
            unknown = permissions - _PERMISSIONS
            if unknown:
                raise AuthError(f"unknown permission {sorted(unknown)[0]!r}")
            entries.append(
                Authorization(
                    _compile(_string(item.get("topic"), "topic")),
                    tuple(
                        _compile(c) for c in _strings(item.get("channels"), "channels")
                    ),
                    permissions,
                )
            )
        return Authorizations(
            _string(data.get("identity"), "identity"),
            _string(data.get("identity_url"), "identity_url"),
            now + ttl,
            tuple(entries),
        )
    except AuthError:
        raise
    except (ValueError, re.error) as e:
        raise AuthError(f"invalid auth reply: {e}") from None


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
        pool = HTTPConnectionPool(reactor, persistent=True)
        self._agent = Agent(
            reactor, connectTimeout=config.http_client_connect_timeout, pool=pool
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
