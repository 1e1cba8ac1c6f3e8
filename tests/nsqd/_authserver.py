"""
An nsqd auth server for tests (C{--auth-http-address}), written with Klein:
it answers each secret as the test configured, records every request it
gets, and can hold a request unanswered to play a slow server.

Only for tests that use the real reactor (C{twisted.trial.unittest.TestCase}).
"""

from __future__ import annotations

import json
from typing import Any

import attrs
from klein import Klein
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IListeningPort
from twisted.internet.task import deferLater
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from twisted.web.http import HTTPChannel
from twisted.web.server import Request, Site

from tests.nsqd._realserver import reactor


@attrs.define
class AuthRequest:
    """
    One request the auth server received.

    @ivar uri: the path and query string, exactly as sent.
    @ivar headers: lower-cased header name to its values.
    """

    method: str
    uri: str
    headers: dict[str, list[str]]
    body: bytes
    secret: str


@attrs.define
class Answer:
    """
    How to answer one secret.

    @ivar slow: never answer (until the test ends).
    """

    code: int = 200
    body: bytes = b""
    slow: bool = False


def grant(
    *authorizations: dict[str, Any],
    ttl: int = 3600,
    identity: str = "",
    identityURL: str = "",
) -> Answer:
    """
    A 200 answer with these C{authorizations} (each a dict with C{topic},
    C{channels}, C{permissions}).
    """
    reply = {
        "ttl": ttl,
        "identity": identity,
        "identity_url": identityURL,
        "authorizations": list(authorizations),
    }
    return Answer(200, json.dumps(reply).encode("utf-8"))


def allow(topic: str, channels: list[str], permissions: list[str]) -> dict[str, Any]:
    """
    One entry of an auth reply's C{authorizations}.
    """
    return {"topic": topic, "channels": channels, "permissions": permissions}


def reply(
    authorizations: list[dict[str, Any]] | None = None, ttl: Any = 60, **more: Any
) -> bytes:
    """
    An auth server reply body.
    """
    data: dict[str, Any] = {"ttl": ttl, **more}
    if authorizations is not None:
        data["authorizations"] = authorizations
    return json.dumps(data).encode("utf-8")


class _TrackedChannel(HTTPChannel):
    """
    An HTTP connection that its L{_TrackingSite} knows about, so the test
    can close every one of them when it ends.
    """

    site: _TrackingSite

    def connectionMade(self) -> None:
        super().connectionMade()
        self.site.live.add(self)

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        super().connectionLost(reason)
        self.site.live.discard(self)


class _TrackingSite(Site):
    protocol = _TrackedChannel  # type: ignore[assignment]

    def __init__(self, resource: Any) -> None:
        super().__init__(resource)
        self.live: set[_TrackedChannel] = set()


class AuthServer:
    """
    The Klein application and what it was asked.

    @ivar answers: secret to its L{Answer}; unknown secrets get
        C{default}.
    @ivar requests: every request received, in order.
    """

    app = Klein()

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.default = Answer(403, b'{"message":"FORBIDDEN"}')
        self.requests: list[AuthRequest] = []
        self._held: list[Deferred[bytes]] = []
        self._waiting: list[tuple[str, Deferred[AuthRequest]]] = []
        self.port: IListeningPort | None = None
        self._site: _TrackingSite | None = None

    def address(self) -> str:
        """
        C{host:port} to give nsqd as C{--auth-http-address}.
        """
        assert self.port is not None
        host = self.port.getHost()
        return f"{host.host}:{host.port}"  # type: ignore[attr-defined]

    def whenRequested(self, secret: str) -> Deferred[AuthRequest]:
        """
        Fire with the first request (received or to come) for C{secret}.
        """
        for request in self.requests:
            if request.secret == secret:
                return succeed(request)
        d: Deferred[AuthRequest] = Deferred()
        self._waiting.append((secret, d))
        return d

    @app.route("/", branch=True, methods=["GET", "POST"])
    def auth(self, request: Request) -> Any:
        """
        Record the request and answer it as configured for its secret.
        """
        body = request.content.read() if request.content is not None else b""
        if request.method == b"POST":
            try:
                secret = json.loads(body)["secret"][0]
            except (ValueError, KeyError, IndexError, TypeError):
                secret = ""
        else:
            secret = request.args.get(b"secret", [b""])[0].decode("utf-8")
        headers = {
            name.decode("ascii").lower(): [v.decode("latin-1") for v in values]
            for name, values in request.requestHeaders.getAllRawHeaders()
        }
        record = AuthRequest(
            request.method.decode("ascii"),
            request.uri.decode("latin-1"),
            headers,
            body,
            secret,
        )
        self.requests.append(record)
        waiting, self._waiting = self._waiting, []
        for wanted, d in waiting:
            if wanted == secret:
                d.callback(record)
            else:
                self._waiting.append((wanted, d))
        answer = self.answers.get(secret, self.default)
        # nsqd's HTTP client must not keep idle connections (and their
        # timers) past the test.
        request.setHeader(b"connection", b"close")
        if answer.slow:
            held: Deferred[bytes] = Deferred()
            self._held.append(held)
            return held
        request.setResponseCode(answer.code)
        request.setHeader(b"content-type", b"application/json")
        return answer.body

    async def stop(self) -> None:
        """
        Stop listening, give up held requests and close every connection.
        """
        if self.port is not None:
            stopped = self.port.stopListening()
            if stopped is not None:
                await stopped
        held, self._held = self._held, []
        for d in held:
            d.cancel()
        site = self._site
        if site is None:
            return
        for channel in list(site.live):
            if channel.transport is not None:
                channel.transport.abortConnection()  # type: ignore[attr-defined]
        for _ in range(300):
            if not site.live:
                break
            await deferLater(reactor, 0.01)


def startAuthServer(testCase: TestCase) -> AuthServer:
    """
    An L{AuthServer} on 127.0.0.1 (a free port), stopped when C{testCase}
    ends.
    """
    server = AuthServer()
    site = _TrackingSite(server.app.resource())
    site.noisy = False
    server._site = site
    server.port = reactor.listenTCP(0, site, interface="127.0.0.1")
    testCase.addCleanup(lambda: Deferred.fromCoroutine(server.stop()))
    return server


async def deadAddress() -> str:
    """
    C{127.0.0.1:port} where nothing listens (a port just released).
    """
    port = reactor.listenTCP(0, Site(Klein().resource()), interface="127.0.0.1")
    host = port.getHost()
    await port.stopListening()
    return f"{host.host}:{host.port}"
