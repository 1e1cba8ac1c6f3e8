"""
Tests for nsqd's AUTH (L{txnsq.nsqd.auth} and the protocol's use of it).
The decision logic (L{parseAuthReply}, L{Authorization.allows}) is tested
in isolation in L{tests.nsqd.test_authorizations}.

  - The protocol against a scripted auth client on a L{Clock}: waiting for
    answers, TTL expiry and re-querying.
  - Real sockets on 127.0.0.1: an in-process nsqd asking a Klein auth
    server (L{tests.nsqd._authserver}) that grants and denies by topic and
    channel regex, fails in every way Go checks, is slow or is down.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests._certs import (
    CLIENT_COMMON_NAME,
    STRANGER_COMMON_NAME,
    clientTLSOptions,
    writeCertificates,
)
from tests.nsqd._authserver import (
    Answer,
    allow,
    deadAddress,
    grant,
    reply,
    startAuthServer,
)
from tests.nsqd._realserver import FrameClient, RealNSQD, connectClient, startServer
from tests.nsqd.test_tls import connectFeatureClient, upgradeToTLS
from txnsq.nsqd.auth import (
    AuthError,
    Authorizations,
    parseAuthReply,
)
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.protocol import NSQDFactory, NSQDProtocol
from txnsq.nsqd.state import Broker, Topic
from txnsq.wire.commands import encodeCommand, encodeIdentify, encodeMPub
from txnsq.wire.frames import (
    FRAME_TYPE_ERROR,
    FRAME_TYPE_MESSAGE,
    FRAME_TYPE_RESPONSE,
    FrameDecoder,
)

OK = (FRAME_TYPE_RESPONSE, b"OK")


def error(text: str) -> tuple[int, bytes]:
    """
    An error frame with C{text}.
    """
    return (FRAME_TYPE_ERROR, text.encode("utf-8"))


@attrs.define
class Query:
    """
    One question put to L{ScriptedAuthClient}, and its pending answer.
    """

    secret: bytes
    remoteIP: str
    tls: bool
    commonName: str
    answer: Deferred[Authorizations] = attrs.field(factory=Deferred)


class ScriptedAuthClient:
    """
    Stands in for L{txnsq.nsqd.auth.AuthClient}: every query waits until
    the test answers it.
    """

    def __init__(self) -> None:
        self.queries: list[Query] = []

    async def query(
        self, secret: bytes, remoteIP: str, tls: bool, commonName: str
    ) -> Authorizations:
        """
        Record the query and wait for the test's answer.
        """
        query = Query(secret, remoteIP, tls, commonName)
        self.queries.append(query)
        return await query.answer


class ClockedAuthTests(SynchronousTestCase):
    """
    The protocol's side of AUTH, on a L{Clock} with a scripted auth
    client: commands wait for answers, and an expired answer is asked for
    again before the next permission check.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        config = NSQDConfig(node_id=1, auth_http_addresses=["127.0.0.1:1"])
        self.factory = NSQDFactory(Broker(config), config, self.clock)
        self.auth = ScriptedAuthClient()
        self.factory.authClient = self.auth  # type: ignore[assignment]
        self.protocol: NSQDProtocol = self.factory.buildProtocol(None)  # type: ignore[arg-type]
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)
        self.protocol.dataReceived(b"  V2")
        self.decoder = FrameDecoder()

    def frames(self) -> list[tuple[int, bytes]]:
        """
        The frames written since last asked.
        """
        data = self.transport.value()
        self.transport.clear()
        return list(self.decoder.feed(data))

    def answer(self, body: bytes) -> None:
        """
        Answer the latest query with C{body} as an auth server reply.
        """
        self.auth.queries[-1].answer.callback(
            parseAuthReply(body, self.clock.seconds())
        )

    def authorize(self, ttl: int = 10) -> None:
        """
        AUTH, answered with publish rights on topic C{t} for C{ttl}
        seconds.
        """
        self.protocol.dataReceived(encodeCommand(b"AUTH", body=b"s3cret"))
        self.answer(reply([allow("^t$", [".*"], ["publish"])], ttl=ttl))
        self.assertEqual(
            self.frames(),
            [
                (
                    FRAME_TYPE_RESPONSE,
                    b'{"identity":"","identity_url":"","permission_count":1}',
                )
            ],
        )

    def test_query(self) -> None:
        """
        AUTH asks with the secret, the peer's IP, C{tls} false and no
        common name.
        """
        self.protocol.dataReceived(encodeCommand(b"AUTH", body=b"s3cret"))
        [query] = self.auth.queries
        self.assertEqual(
            (query.secret, query.remoteIP, query.tls, query.commonName),
            (b"s3cret", self.transport.getPeer().host, False, ""),
        )

    def test_commandsWaitForAnswer(self) -> None:
        """
        Commands sent right after AUTH are not run before the auth server
        answered; then they run in order, after AUTH's reply.
        """
        self.protocol.dataReceived(
            encodeCommand(b"AUTH", body=b"s3cret")
            + encodeCommand(b"PUB", b"t", body=b"a")
            + encodeCommand(b"PUB", b"t", body=b"b")
        )
        self.assertEqual(self.frames(), [])
        self.assertEqual(len(self.auth.queries), 1)
        self.answer(reply([allow("^t$", [".*"], ["publish"])]))
        frames = self.frames()
        self.assertEqual(frames[0][0], FRAME_TYPE_RESPONSE)
        self.assertIn(b"permission_count", frames[0][1])
        self.assertEqual(frames[1:], [OK, OK])
        self.assertEqual(self.factory.broker.getTopic("t").messageCount, 2)

    def test_cachedUntilExpiry(self) -> None:
        """
        Before the TTL has passed, permission checks use the cached answer
        without asking again.
        """
        self.authorize(ttl=10)
        self.clock.advance(9)
        self.protocol.dataReceived(encodeCommand(b"PUB", b"t", body=b"x"))
        self.assertEqual(self.frames(), [OK])
        self.assertEqual(len(self.auth.queries), 1)

    def test_reaskedAfterExpiry(self) -> None:
        """
        After the TTL, the next PUB waits for a new query with the same
        secret; a granting answer lets it through and is cached anew.
        """
        self.authorize(ttl=10)
        self.clock.advance(11)
        self.protocol.dataReceived(encodeCommand(b"PUB", b"t", body=b"x"))
        self.assertEqual(self.frames(), [])
        self.assertEqual([q.secret for q in self.auth.queries], [b"s3cret"] * 2)
        self.answer(reply([allow("^t$", [".*"], ["publish"])], ttl=10))
        self.assertEqual(self.frames(), [OK])
        self.clock.advance(5)
        self.protocol.dataReceived(encodeCommand(b"PUB", b"t", body=b"y"))
        self.assertEqual(self.frames(), [OK])
        self.assertEqual(len(self.auth.queries), 2)

    def test_expiredNowDenied(self) -> None:
        """
        If the new answer no longer grants the topic, the PUB is refused
        with C{E_UNAUTHORIZED} and the connection closed.
        """
        self.authorize(ttl=10)
        self.clock.advance(11)
        self.protocol.dataReceived(encodeCommand(b"PUB", b"t", body=b"x"))
        self.answer(reply([allow("^other$", [".*"], ["publish"])]))
        self.assertEqual(
            self.frames(), [error('E_UNAUTHORIZED AUTH failed for PUB on "t" ""')]
        )
        self.assertTrue(self.transport.disconnecting)

    def test_expiredNowEmpty(self) -> None:
        """
        A new answer with no authorizations refuses the command the same
        way (Go's C{IsAuthorized} is then false).
        """
        self.authorize(ttl=10)
        self.clock.advance(11)
        self.protocol.dataReceived(encodeCommand(b"PUB", b"t", body=b"x"))
        self.answer(reply([]))
        self.assertEqual(
            self.frames(), [error('E_UNAUTHORIZED AUTH failed for PUB on "t" ""')]
        )

    def test_expiredServerFails(self) -> None:
        """
        If asking again fails, the command gets C{E_AUTH_FAILED AUTH
        failed} (the cause is not told to the client).
        """
        self.authorize(ttl=10)
        self.clock.advance(11)
        self.protocol.dataReceived(encodeCommand(b"PUB", b"t", body=b"x"))
        self.auth.queries[-1].answer.errback(AuthError("got response 500"))
        self.assertEqual(self.frames(), [error("E_AUTH_FAILED AUTH failed")])
        self.assertTrue(self.transport.disconnecting)
        self.flushLoggedErrors(AuthError)

    def test_mpubCheckedOnExpiry(self) -> None:
        """
        MPUB is checked (and the auth server asked again) before its body
        is used; denied, it names MPUB.
        """
        self.authorize(ttl=10)
        self.clock.advance(11)
        self.protocol.dataReceived(encodeMPub(b"t", [b"a", b"b"]))
        self.assertEqual(self.frames(), [])
        self.answer(reply([allow("^nope$", [".*"], ["publish"])]))
        self.assertEqual(
            self.frames(), [error('E_UNAUTHORIZED AUTH failed for MPUB on "t" ""')]
        )

    def test_pipelinedDuringRequery(self) -> None:
        """
        Commands that arrive while the auth server is asked again wait and
        then run in order, with one query for all of them.
        """
        self.authorize(ttl=10)
        self.clock.advance(11)
        self.protocol.dataReceived(
            encodeCommand(b"PUB", b"t", body=b"x")
            + encodeCommand(b"NOP")
            + encodeCommand(b"PUB", b"t", body=b"y")
        )
        self.answer(reply([allow("^t$", [".*"], ["publish"])]))
        self.assertEqual(self.frames(), [OK, OK])
        self.assertEqual(len(self.auth.queries), 2)

    def test_checkedOnceAcrossTopicStart(self) -> None:
        """
        Go's C{CheckAuth} runs once, before the wait for a new topic to
        learn its channels: an answer that expires during that wait is not
        asked for again.
        """
        starting: list[Topic] = []
        self.factory.broker.topicStarter = starting.append
        self.authorize(ttl=10)
        self.protocol.dataReceived(encodeCommand(b"PUB", b"t", body=b"x"))
        self.assertEqual(self.frames(), [])
        self.clock.advance(20)
        [topic] = starting
        topic.started(self.clock.seconds())
        self.assertEqual(self.frames(), [OK])
        self.assertEqual(len(self.auth.queries), 1)

    def test_requeryThenTopicStart(self) -> None:
        """
        A command that waited for the auth server may then wait for its
        topic; it runs once, when both are done.
        """
        starting: list[Topic] = []
        self.factory.broker.topicStarter = starting.append
        self.authorize(ttl=10)
        self.clock.advance(11)
        self.protocol.dataReceived(
            encodeCommand(b"PUB", b"t", body=b"x") + encodeCommand(b"NOP")
        )
        self.answer(reply([allow("^t$", [".*"], ["publish"])]))
        self.assertEqual(self.frames(), [])
        [topic] = starting
        topic.started(self.clock.seconds())
        self.assertEqual(self.frames(), [OK])
        self.assertEqual(self.factory.broker.topics["t"].messageCount, 1)

    def test_closedWhileWaiting(self) -> None:
        """
        An answer for a connection that has gone is dropped: nothing is
        written.
        """
        self.protocol.dataReceived(encodeCommand(b"AUTH", body=b"s3cret"))
        self.protocol.connectionLost()
        self.answer(reply([allow("^t$", [".*"], ["publish"])]))
        self.assertEqual(self.transport.value(), b"")


async def authClient(
    testCase: TestCase, server: RealNSQD, secret: str = "good"
) -> tuple[FrameClient, tuple[int, bytes] | None]:
    """
    A connection that has sent AUTH with C{secret}, and nsqd's answer.
    """
    client = await connectClient(testCase, server)
    client.send(encodeCommand(b"AUTH", body=secret.encode("utf-8")))
    return client, await client.frame()


class AuthServerTests(TestCase):
    """
    An in-process nsqd asking a Klein auth server over real sockets.
    """

    def setUp(self) -> None:
        self.authServer = startAuthServer(self)
        self.authServer.answers["good"] = grant(
            allow("^open", [".*"], ["publish", "subscribe"]),
            allow("^readonly$", ["^reader$"], ["subscribe"]),
            identity="alice",
            identityURL="https://auth.example/alice",
        )

    def nsqd(self, *addresses: str, **config: Any) -> RealNSQD:
        """
        An nsqd asking this test's auth server (or C{addresses}).
        """
        config.setdefault("http_client_request_timeout", 0.5)
        return startServer(
            self,
            auth_http_addresses=list(addresses or [self.authServer.address()]),
            **config,
        )

    async def refused(
        self, server: RealNSQD, commands: bytes, expected: str, secret: str = "good"
    ) -> None:
        """
        After AUTH with C{secret} succeeded, C{commands} get the fatal
        error C{expected} and the connection is closed.
        """
        client, answer = await authClient(self, server, secret)
        self.assertEqual(answer and answer[0], FRAME_TYPE_RESPONSE, answer)
        client.send(commands)
        self.assertEqual(await client.frame(), error(expected))
        self.assertTrue(await client.whenClosed())

    async def test_authDisabled(self) -> None:
        """
        Without C{--auth-http-address}, IDENTIFY says C{auth_required}
        false and AUTH is a fatal C{E_AUTH_DISABLED AUTH disabled}.
        """
        server = startServer(self)
        client = await connectClient(self, server)
        client.send(encodeIdentify({"feature_negotiation": True}))
        frame = await client.frame()
        assert frame is not None
        self.assertIs(json.loads(frame[1])["auth_required"], False)
        client.send(encodeCommand(b"AUTH", body=b"good"))
        self.assertEqual(await client.frame(), error("E_AUTH_DISABLED AUTH disabled"))
        self.assertTrue(await client.whenClosed())

    async def test_authRequired(self) -> None:
        """
        With an auth server configured, IDENTIFY answers
        C{"auth_required":true}.
        """
        client = await connectClient(self, self.nsqd())
        client.send(encodeIdentify({"feature_negotiation": True}))
        frame = await client.frame()
        assert frame is not None
        self.assertIs(json.loads(frame[1])["auth_required"], True)

    async def test_authFirst(self) -> None:
        """
        SUB, PUB, MPUB and DPUB before AUTH are fatal C{E_AUTH_FIRST AUTH
        required before <command>}; the auth server is not asked.
        """
        server = self.nsqd()
        for command, name in [
            (encodeCommand(b"SUB", b"open", b"c"), "SUB"),
            (encodeCommand(b"PUB", b"open", body=b"x"), "PUB"),
            (encodeMPub(b"open", [b"x"]), "MPUB"),
            (encodeCommand(b"DPUB", b"open", b"100", body=b"x"), "DPUB"),
        ]:
            client = await connectClient(self, server)
            client.send(command)
            self.assertEqual(
                await client.frame(), error(f"E_AUTH_FIRST AUTH required before {name}")
            )
            self.assertTrue(await client.whenClosed())
        self.assertEqual(self.authServer.requests, [])

    async def test_granted(self) -> None:
        """
        AUTH is answered with Go's JSON (identity, URL, number of
        authorizations); the auth server got Go's GET, with the query's
        keys sorted and the NSQ V1 C{Accept} header.
        """
        _, answer = await authClient(self, self.nsqd())
        self.assertEqual(
            answer,
            (
                FRAME_TYPE_RESPONSE,
                b'{"identity":"alice","identity_url":"https://auth.example/alice",'
                b'"permission_count":2}',
            ),
        )
        [request] = self.authServer.requests
        self.assertEqual(
            (request.method, request.uri),
            ("GET", "/auth?common_name=&remote_ip=127.0.0.1&secret=good&tls=false"),
        )
        self.assertEqual(
            request.headers["accept"], ["application/vnd.nsq; version=1.0"]
        )

    async def test_secretEncoding(self) -> None:
        """
        The secret is URL-encoded as Go's C{url.Values.Encode} does
        (space as C{+}, reserved characters and UTF-8 as C{%XX}).
        """
        secret = "a b/c&d=\u00e9+"
        self.authServer.answers[secret] = self.authServer.answers["good"]
        _, answer = await authClient(self, self.nsqd(), secret)
        self.assertEqual(answer and answer[0], FRAME_TYPE_RESPONSE, answer)
        [request] = self.authServer.requests
        self.assertEqual(
            request.uri,
            "/auth?common_name=&remote_ip=127.0.0.1"
            "&secret=a+b%2Fc%26d%3D%C3%A9%2B&tls=false",
        )

    async def test_permissions(self) -> None:
        """
        Publishing and subscribing where the regexes grant it works end to
        end: a subscriber gets what a publisher sent.
        """
        server = self.nsqd()
        consumer, _ = await authClient(self, server)
        consumer.send(encodeCommand(b"SUB", b"open.topic", b"any"))
        self.assertEqual(await consumer.frame(), OK)
        consumer.send(encodeCommand(b"RDY", b"10"))
        reader, _ = await authClient(self, server)
        reader.send(encodeCommand(b"SUB", b"readonly", b"reader"))
        self.assertEqual(await reader.frame(), OK)
        publisher, _ = await authClient(self, server)
        publisher.send(
            encodeCommand(b"PUB", b"open.topic", body=b"one")
            + encodeMPub(b"open.topic", [b"two"])
            + encodeCommand(b"DPUB", b"open.topic", b"0", body=b"three")
        )
        self.assertEqual(await publisher.frames(3), [OK, OK, OK])
        frames = await consumer.frames(3)
        self.assertEqual({f[0] for f in frames}, {FRAME_TYPE_MESSAGE})
        self.assertEqual(sorted(f[1][26:] for f in frames), [b"one", b"three", b"two"])

    async def test_publishDenied(self) -> None:
        """
        PUB, MPUB and DPUB on a topic no authorization grants publishing
        on are fatal C{E_UNAUTHORIZED AUTH failed for <command> on
        "<topic>" ""}.
        """
        server = self.nsqd()
        await self.refused(
            server,
            encodeCommand(b"PUB", b"topic", body=b"x"),
            'E_UNAUTHORIZED AUTH failed for PUB on "topic" ""',
        )
        await self.refused(
            server,
            encodeMPub(b"readonly", [b"x"]),
            'E_UNAUTHORIZED AUTH failed for MPUB on "readonly" ""',
        )
        await self.refused(
            server,
            encodeCommand(b"DPUB", b"closed", b"10", body=b"x"),
            'E_UNAUTHORIZED AUTH failed for DPUB on "closed" ""',
        )

    async def test_subscribeDenied(self) -> None:
        """
        SUB on a channel no regex of the topic's authorization matches is
        fatal C{E_UNAUTHORIZED AUTH failed for SUB on "<topic>"
        "<channel>"}.
        """
        await self.refused(
            self.nsqd(),
            encodeCommand(b"SUB", b"readonly", b"writer"),
            'E_UNAUTHORIZED AUTH failed for SUB on "readonly" "writer"',
        )

    async def test_authFailed(self) -> None:
        """
        Every answer Go rejects is a fatal C{E_AUTH_FAILED AUTH failed}:
        a non-200 status (even with a valid body), JSON that does not
        parse, an unknown permission, a topic or channel regex that does
        not compile, a TTL of 0, a negative or a missing TTL.
        """
        good = allow(".*", [".*"], ["publish"])
        self.authServer.answers.update(
            {
                "status": Answer(500, grant(good).body),
                "forbidden": Answer(403, b'{"message":"FORBIDDEN"}'),
                "garbage": Answer(200, b"<html>not json"),
                "permission": grant(allow(".*", [".*"], ["publish", "delete"])),
                "topicRegex": grant(allow("(", [".*"], ["publish"])),
                "channelRegex": grant(allow(".*", ["a[b"], ["publish"])),
                "ttlZero": grant(good, ttl=0),
                "ttlNegative": grant(good, ttl=-1),
                "ttlMissing": Answer(200, b'{"authorizations":[]}'),
            }
        )
        server = self.nsqd()
        for secret in list(self.authServer.answers):
            if secret == "good":
                continue
            client, answer = await authClient(self, server, secret)
            self.assertEqual(answer, error("E_AUTH_FAILED AUTH failed"), secret)
            self.assertTrue(await client.whenClosed(), secret)

    async def test_noAuthorizations(self) -> None:
        """
        A valid answer with no authorizations is fatal C{E_UNAUTHORIZED
        AUTH no authorizations found}.
        """
        self.authServer.answers["nobody"] = grant()
        client, answer = await authClient(self, self.nsqd(), "nobody")
        self.assertEqual(answer, error("E_UNAUTHORIZED AUTH no authorizations found"))
        self.assertTrue(await client.whenClosed())

    async def test_authAlreadySet(self) -> None:
        """
        A second AUTH after a successful one is fatal C{E_INVALID AUTH
        already set}, without asking the auth server again.
        """
        await self.refused(
            self.nsqd(),
            encodeCommand(b"AUTH", body=b"good"),
            "E_INVALID AUTH already set",
        )
        self.assertEqual(len(self.authServer.requests), 1)

    async def test_post(self) -> None:
        """
        With C{--auth-http-request-method=post} the same fields go to
        C{/auth} as a JSON body of one-element lists, with
        C{Content-Type: application/json}.
        """
        _, answer = await authClient(self, self.nsqd(auth_http_request_method="post"))
        self.assertEqual(answer and answer[0], FRAME_TYPE_RESPONSE, answer)
        [request] = self.authServer.requests
        self.assertEqual((request.method, request.uri), ("POST", "/auth"))
        self.assertEqual(request.headers["content-type"], ["application/json"])
        self.assertEqual(
            request.headers["accept"], ["application/vnd.nsq; version=1.0"]
        )
        self.assertEqual(
            json.loads(request.body),
            {
                "common_name": [""],
                "remote_ip": ["127.0.0.1"],
                "secret": ["good"],
                "tls": ["false"],
            },
        )

    async def test_postBodyBytes(self) -> None:
        """
        The POST body is Go's C{json.Marshal} of C{url.Values}: sorted
        keys and no spaces.
        """
        await authClient(self, self.nsqd(auth_http_request_method="post"))
        [request] = self.authServer.requests
        self.assertEqual(
            request.body,
            b'{"common_name":[""],"remote_ip":["127.0.0.1"],'
            b'"secret":["good"],"tls":["false"]}',
            "Go's POSTV1 sends json.Marshal(url.Values): compact, no spaces",
        )

    async def test_fullURL(self) -> None:
        """
        An address containing C{://} is used as the whole URL, the query
        appended to it.
        """
        url = f"http://{self.authServer.address()}/v2/check"
        _, answer = await authClient(self, self.nsqd(url))
        self.assertEqual(answer and answer[0], FRAME_TYPE_RESPONSE, answer)
        [request] = self.authServer.requests
        self.assertEqual(
            request.uri,
            "/v2/check?common_name=&remote_ip=127.0.0.1&secret=good&tls=false",
        )

    async def test_tlsCommonName(self) -> None:
        """
        Over TLS, the auth server is told C{tls=true} and the common name
        of the client's certificate when nsqd asked for one (a client auth
        policy is set); without a policy no certificate is asked for, as
        in Go, and the common name is empty.
        """
        files = writeCertificates(self.mktemp())
        tls = {
            "tls_cert": files.serverCert,
            "tls_key": files.serverKey,
            "tls_root_ca_file": files.caCert,
        }
        cases = [
            ("require-verify", files.clientCert, files.clientKey, CLIENT_COMMON_NAME),
            ("require", files.strangerCert, files.strangerKey, STRANGER_COMMON_NAME),
            ("", files.clientCert, files.clientKey, ""),
        ]
        for policy, certificate, key, _ in cases:
            server = self.nsqd(tls_client_auth_policy=policy, **tls)
            client = await connectFeatureClient(self, server)
            options = clientTLSOptions(files, certificate, key)
            _, upgraded = await upgradeToTLS(self, client, options)
            self.assertTrue(upgraded, policy)
            client.send(encodeCommand(b"AUTH", body=b"good"))
            answer = await client.frame()
            self.assertEqual(answer and answer[0], FRAME_TYPE_RESPONSE, answer)
            client.send(encodeCommand(b"PUB", b"open", body=b"x"))
            self.assertEqual(await client.frame(), OK)
        self.assertEqual(
            [r.uri for r in self.authServer.requests],
            [
                f"/auth?common_name={commonName}&remote_ip=127.0.0.1"
                "&secret=good&tls=true"
                for _, _, _, commonName in cases
            ],
        )

    async def test_oneAddressDead(self) -> None:
        """
        With several auth addresses, one of which refuses connections,
        AUTH still succeeds every time (nsqd starts at a random one and
        moves on to the next).
        """
        server = self.nsqd(await deadAddress(), self.authServer.address())
        for _ in range(6):
            client, answer = await authClient(self, server)
            self.assertEqual(answer and answer[0], FRAME_TYPE_RESPONSE, answer)
            client.send(encodeCommand(b"PUB", b"open", body=b"x"))
            self.assertEqual(await client.frame(), OK)
            await client.close()
        self.assertEqual(len(self.authServer.requests), 6)

    async def test_serverDown(self) -> None:
        """
        With no auth server reachable, AUTH is a fatal C{E_AUTH_FAILED
        AUTH failed}.
        """
        server = self.nsqd(await deadAddress())
        client, answer = await authClient(self, server)
        self.assertEqual(answer, error("E_AUTH_FAILED AUTH failed"))
        self.assertTrue(await client.whenClosed())

    async def test_slowServerDoesNotBlock(self) -> None:
        """
        An auth server that does not answer within
        C{--http-client-request-timeout} gives C{E_AUTH_FAILED AUTH
        failed}; while nsqd waits for it, another connection
        authenticates and publishes.
        """
        self.authServer.answers["slow"] = Answer(slow=True)
        server = self.nsqd(http_client_request_timeout=2.0)
        slow = await connectClient(self, server)
        slow.send(encodeCommand(b"AUTH", body=b"slow"))
        await self.authServer.whenRequested("slow")
        other, answer = await authClient(self, server)
        self.assertEqual(answer and answer[0], FRAME_TYPE_RESPONSE, answer)
        other.send(encodeCommand(b"PUB", b"open", body=b"meanwhile"))
        self.assertEqual(await other.frame(), OK)
        self.assertEqual(await slow.quiet(0), [], "the slow AUTH was answered early")
        self.assertFalse(slow.closed)
        self.assertEqual(await slow.frame(), error("E_AUTH_FAILED AUTH failed"))
        self.assertTrue(await slow.whenClosed())

    async def test_ttlExpiry(self) -> None:
        """
        Once a 1-second TTL has passed, the next PUB makes nsqd ask the
        auth server again; the auth server now denies the topic, so that
        PUB is refused (PUBs are repeated until then, at most 5 s).
        """
        self.authServer.answers["brief"] = grant(
            allow("^open$", [".*"], ["publish"]), ttl=1
        )
        client, answer = await authClient(self, self.nsqd(), "brief")
        self.assertEqual(answer and answer[0], FRAME_TYPE_RESPONSE, answer)
        client.send(encodeCommand(b"PUB", b"open", body=b"x"))
        self.assertEqual(await client.frame(), OK)
        self.authServer.answers["brief"] = grant(
            allow("^other$", [".*"], ["publish"]), ttl=1
        )
        frame = OK
        for _ in range(50):
            client.send(encodeCommand(b"PUB", b"open", body=b"x"))
            frame = await client.frame()  # type: ignore[assignment]
            if frame != OK:
                break
            await client.quiet(0.1)
        self.assertEqual(
            frame, error('E_UNAUTHORIZED AUTH failed for PUB on "open" ""')
        )
        self.assertEqual([r.secret for r in self.authServer.requests], ["brief"] * 2)
