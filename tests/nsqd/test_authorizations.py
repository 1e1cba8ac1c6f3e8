"""
Tests for L{txnsq.nsqd._authorizations}: reading an auth server's reply
(L{parseAuthReply}) and deciding by it (L{Authorization.allows}), in
isolation.  nsqd's use of them is tested in L{tests.nsqd.test_auth}.
"""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from tests.nsqd._authserver import allow, reply
from txnsq.nsqd._authorizations import AuthError, Authorization, parseAuthReply


def entry(topic: str, channels: list[str], *permissions: str) -> Authorization:
    """
    One parsed authorization.
    """
    body = reply([allow(topic, channels, list(permissions))])
    [parsed] = parseAuthReply(body, 0).entries
    return parsed


class AllowsTests(SynchronousTestCase):
    """
    L{Authorization.allows} is Go's C{IsAllowed}.
    """

    def test_unanchored(self) -> None:
        """
        Topic and channel regexes match anywhere in the name, as Go's
        C{MatchString} does.
        """
        authorization = entry("foo", ["bar"], "subscribe")
        self.assertTrue(authorization.allows("xfoox", "xbarx"))
        self.assertTrue(authorization.allows("foo", "bar"))
        self.assertFalse(authorization.allows("fo", "bar"))
        self.assertFalse(authorization.allows("foo", "ba"))

    def test_anchored(self) -> None:
        """
        C{^...$} makes a regex match the whole name only.
        """
        authorization = entry("^foo$", ["^bar$"], "subscribe")
        self.assertTrue(authorization.allows("foo", "bar"))
        self.assertFalse(authorization.allows("xfoo", "bar"))
        self.assertFalse(authorization.allows("foo", "barx"))

    def test_publishNeedsEmptyChannelMatch(self) -> None:
        """
        Publishing is checked with channel C{""}: an authorization whose
        channel regexes are all concrete names does not grant it; one that
        matches C{""} (C{.*}, or the empty regex) does.
        """
        self.assertFalse(entry(".*", ["^c$"], "publish").allows("t", ""))
        self.assertFalse(entry(".*", ["c"], "publish").allows("t", ""))
        self.assertTrue(entry(".*", [".*"], "publish").allows("t", ""))
        self.assertTrue(entry(".*", [""], "publish").allows("t", ""))
        self.assertTrue(entry(".*", ["^c$", "^$"], "publish").allows("t", ""))

    def test_noChannels(self) -> None:
        """
        An authorization without channel regexes grants nothing.
        """
        self.assertFalse(entry(".*", [], "publish", "subscribe").allows("t", ""))
        self.assertFalse(entry(".*", [], "publish", "subscribe").allows("t", "c"))

    def test_permissionByChannel(self) -> None:
        """
        A channel means subscribing (needs C{subscribe}); no channel means
        publishing (needs C{publish}).
        """
        subscriber = entry(".*", [".*"], "subscribe")
        publisher = entry(".*", [".*"], "publish")
        self.assertEqual(
            [subscriber.allows("t", "c"), subscriber.allows("t", "")], [True, False]
        )
        self.assertEqual(
            [publisher.allows("t", "c"), publisher.allows("t", "")], [False, True]
        )

    def test_anyEntry(self) -> None:
        """
        L{Authorizations.allows} is true when any one entry allows.
        """
        body = reply(
            [
                allow("^a$", [".*"], ["publish"]),
                allow("^b$", ["^c$"], ["subscribe"]),
            ]
        )
        authorizations = parseAuthReply(body, 0)
        self.assertTrue(authorizations.allows("a", ""))
        self.assertTrue(authorizations.allows("b", "c"))
        self.assertFalse(authorizations.allows("b", ""))
        self.assertFalse(authorizations.allows("a", "c"))


class ParseAuthReplyTests(SynchronousTestCase):
    """
    L{parseAuthReply} accepts what Go accepts and rejects what it rejects
    (every rejection becomes C{E_AUTH_FAILED AUTH failed}).
    """

    def test_parsed(self) -> None:
        """
        Identity, URL, entries and the expiry (now + TTL seconds) are
        kept; the AUTH reply is Go's JSON with the entry count.
        """
        body = reply(
            [allow("t", [".*"], ["publish"]), allow("u", ["c"], ["subscribe"])],
            ttl=30,
            identity="alice",
            identity_url="https://auth.example/alice",
        )
        parsed = parseAuthReply(body, 1000.0)
        self.assertEqual(
            (parsed.identity, parsed.identityURL, parsed.expires, len(parsed.entries)),
            ("alice", "https://auth.example/alice", 1030.0, 2),
        )
        self.assertEqual(
            parsed.reply(),
            b'{"identity":"alice","identity_url":"https://auth.example/alice",'
            b'"permission_count":2}',
        )

    def test_noAuthorizations(self) -> None:
        """
        A missing, null or empty C{authorizations} list is a valid reply
        with no entries (nsqd then answers C{E_UNAUTHORIZED}).
        """
        for body in (reply(), reply([]), b'{"ttl":60,"authorizations":null}'):
            self.assertEqual(parseAuthReply(body, 0).entries, ())

    def test_rejected(self) -> None:
        """
        Invalid JSON, a TTL that is missing, not an integer or not
        positive, an unknown permission and a regex that does not compile
        are all errors.
        """
        good = allow("t", [".*"], ["publish"])
        bodies = [
            b"not json",
            b"[]",
            json.dumps({"authorizations": [good]}).encode(),
            reply([good], ttl=0),
            reply([good], ttl=-5),
            reply([good], ttl=1.5),
            reply([good], ttl="60"),
            reply([good], ttl=True),
            reply([good], ttl=None),
            reply([allow("t", [".*"], ["publish", "admin"])]),
            reply([allow("(", [".*"], ["publish"])]),
            reply([allow("t", ["["], ["subscribe"])]),
        ]
        for body in bodies:
            self.assertRaises(AuthError, parseAuthReply, body, 0)


class GoDecodingTests(SynchronousTestCase):
    """
    Where Go's C{encoding/json} and C{regexp} decide, txnsq must decide
    the same: a reply Go rejects must fail AUTH, one Go accepts must be
    read as Go reads it, and nsqd's own JSON must be Go's bytes.
    """

    def test_nullStringsAreEmpty(self) -> None:
        """
        JSON C{null} for a string field leaves Go's zero value C{""}: a
        null identity is answered as C{""} and a null topic regex matches
        every topic.
        """
        body = reply([allow(None, [".*"], ["publish"])], identity=None)  # type: ignore[arg-type]
        try:
            parsed = parseAuthReply(body, 0)
        except AuthError as e:
            self.fail(f'Go accepts {body!r} (null topic is the regex ""); got {e}')
        self.assertEqual(
            parsed.reply(),
            b'{"identity":"","identity_url":"","permission_count":1}',
            'Go leaves a null identity as ""',
        )
        self.assertTrue(parsed.allows("any", ""))

    def assertRejected(self, body: bytes, why: str) -> None:
        """
        C{body} must fail like Go's C{QueryAuthd} fails on it.
        """
        try:
            parsed = parseAuthReply(body, 0)
        except AuthError:
            return
        self.fail(f"{why}: {body!r} was accepted as {parsed!r}")

    def test_wrongTypesRejected(self) -> None:
        """
        A field of the wrong JSON type fails Go's decoding (so AUTH
        fails): a number for C{identity}, a string for C{channels}.
        """
        self.assertRejected(
            reply([allow("t", [".*"], ["publish"])], identity=5),
            "Go's json.Unmarshal cannot put a number in a string field",
        )
        self.assertRejected(
            reply([{"topic": "t", "channels": "abc", "permissions": ["subscribe"]}]),
            "Go's json.Unmarshal cannot put a string in a []string field",
        )

    def test_perlOnlySyntaxRejected(self) -> None:
        """
        Go's RE2 has no lookaround: a reply using C{(?!...)} fails AUTH in
        Go (C{invalid or unsupported Perl syntax}), so txnsq must not
        grant by it.
        """
        self.assertRejected(
            reply([allow("^(?!secret)", [".*"], ["publish"])]),
            "Go's regexp.Compile rejects (?!",
        )

    def test_replyIsGoJSON(self) -> None:
        """
        The AUTH reply is C{json.Marshal} output: non-ASCII kept as UTF-8,
        C{<}, C{>} and C{&} escaped as C{\\u003c}, C{\\u003e}, C{\\u0026}.
        """
        body = reply(
            [allow("t", [".*"], ["publish"])],
            identity="Zo\u00eb <ops>",
            identity_url="https://auth.example/?u=zoe&v=1",
        )
        self.assertEqual(
            parseAuthReply(body, 0).reply(),
            b'{"identity":"Zo\xc3\xab \\u003cops\\u003e",'
            b'"identity_url":"https://auth.example/?u=zoe\\u0026v=1",'
            b'"permission_count":1}',
            "Go's json.Marshal keeps UTF-8 and escapes <, >, & "
            "(txnsq._go.json.encodeJSON does the same)",
        )
