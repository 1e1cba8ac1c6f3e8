"""
Tests for L{txnsq.nsqd._clientv2}: a client's state, and the state checks
Go makes before a command's parameters are parsed.
"""

from __future__ import annotations

import re

from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqd._authorizations import Authorization, Authorizations
from txnsq.nsqd._clientv2 import (
    IDENTIFIED,
    STATE_CLOSING,
    STATE_INIT,
    STATE_SUBSCRIBED,
    ClientV2,
)
from txnsq.nsqd.config import NSQDConfig
from txnsq.wire.errors import ProtocolError
from txnsq.wire.identify import IdentifyLimits, negotiateIdentify

#: Every command name the decoder knows, and one it does not.
NAMES = [
    b"IDENTIFY",
    b"AUTH",
    b"SUB",
    b"PUB",
    b"MPUB",
    b"DPUB",
    b"RDY",
    b"FIN",
    b"REQ",
    b"TOUCH",
    b"CLS",
    b"NOP",
    b"BOGUS",
]


def client(state: int = STATE_INIT, **config: object) -> ClientV2:
    """
    A client connected from 10.0.0.1:5000 in C{state}.
    """
    made = ClientV2.connected(NSQDConfig(**config), "10.0.0.1", 5000, 100.0)  # type: ignore[arg-type]
    made.state = state
    return made


def verdicts(made: ClientV2) -> dict[bytes, str | bool]:
    """
    The gate's answer for every name: C{True}, C{False} or the error's
    wire text.
    """
    out: dict[bytes, str | bool] = {}
    for name in NAMES:
        verdict = made.admitCommand(name)
        out[name] = (
            verdict.wireText().decode()
            if isinstance(verdict, ProtocolError)
            else verdict
        )
    return out


class ConnectedTests(SynchronousTestCase):
    """
    L{ClientV2.connected} is Go's C{newClientV2}.
    """

    def test_defaults(self) -> None:
        """
        A new client is named after its host, in the init state with
        nothing counted, and takes nsqd's defaults.
        """
        made = ClientV2.connected(
            NSQDConfig(client_timeout=20.0, msg_timeout=30.0), "10.0.0.1", 5000, 12.5
        )
        self.assertEqual(
            (made.clientID, made.hostname, made.remoteAddress, made.connectTime),
            ("10.0.0.1", "10.0.0.1", "10.0.0.1:5000", 12.5),
        )
        self.assertEqual((made.state, made.readyCount, made.inFlightCount), (0, 0, 0))
        self.assertEqual((made.heartbeatInterval, made.msgTimeout), (10.0, 30.0))
        self.assertEqual(
            (made.outputBufferSize, made.outputBufferTimeout), (16384, 0.25)
        )
        self.assertEqual((made.tls, made.snappy, made.deflate), (False, False, False))
        self.assertIsNone(made.authorizations)
        self.assertFalse(made.tlsRequired)

    def test_ipv6(self) -> None:
        """
        An IPv6 host is bracketed in the remote address, as Go shows it.
        """
        made = ClientV2.connected(NSQDConfig(), "::1", 5000, 0)
        self.assertEqual(made.remoteAddress, "[::1]:5000")
        self.assertEqual(made.clientID, "::1")


class AdmitCommandTests(SynchronousTestCase):
    """
    L{ClientV2.admitCommand} answers for each command in each state, with
    Go's texts.
    """

    def test_init(self) -> None:
        """
        Before SUB: IDENTIFY, AUTH, SUB and publishing are allowed; the
        consuming commands and CLS are refused.
        """
        self.assertEqual(
            verdicts(client(STATE_INIT)),
            {
                b"IDENTIFY": True,
                b"AUTH": True,
                b"SUB": True,
                b"PUB": True,
                b"MPUB": True,
                b"DPUB": True,
                b"RDY": "E_INVALID cannot RDY in current state",
                b"FIN": "E_INVALID cannot FIN in current state",
                b"REQ": "E_INVALID cannot REQ in current state",
                b"TOUCH": "E_INVALID cannot TOUCH in current state",
                b"CLS": "E_INVALID cannot CLS in current state",
                b"NOP": True,
                b"BOGUS": True,
            },
        )

    def test_callable(self) -> None:
        """
        A client is its decoder's gate: calling it admits as
        L{ClientV2.admitCommand} does (so the decoder keeps no bound
        method).
        """
        made = client(STATE_INIT)
        self.assertIs(made(b"SUB"), True)
        error = made(b"FIN")
        assert isinstance(error, ProtocolError)
        self.assertEqual(error.wireText(), b"E_INVALID cannot FIN in current state")

    def test_subscribed(self) -> None:
        """
        After SUB: IDENTIFY, AUTH and SUB are refused, everything else is
        allowed.
        """
        self.assertEqual(
            verdicts(client(STATE_SUBSCRIBED)),
            {
                b"IDENTIFY": "E_INVALID cannot IDENTIFY in current state",
                b"AUTH": "E_INVALID cannot AUTH in current state",
                b"SUB": "E_INVALID cannot SUB in current state",
                b"PUB": True,
                b"MPUB": True,
                b"DPUB": True,
                b"RDY": True,
                b"FIN": True,
                b"REQ": True,
                b"TOUCH": True,
                b"CLS": True,
                b"NOP": True,
                b"BOGUS": True,
            },
        )

    def test_closing(self) -> None:
        """
        After CLS: RDY is ignored (C{False}), CLS refused, and FIN, REQ and
        TOUCH still allowed.
        """
        answers = verdicts(client(STATE_CLOSING))
        self.assertIs(answers[b"RDY"], False)
        self.assertEqual(answers[b"CLS"], "E_INVALID cannot CLS in current state")
        self.assertEqual(
            [answers[name] for name in (b"FIN", b"REQ", b"TOUCH", b"PUB")],
            [True] * 4,
        )

    def test_subHeartbeatsDisabled(self) -> None:
        """
        SUB is refused while heartbeats are disabled.
        """
        made = client()
        made.heartbeatInterval = 0
        self.assertEqual(
            verdicts(made)[b"SUB"], "E_INVALID cannot SUB with heartbeats disabled"
        )

    def test_tlsRequired(self) -> None:
        """
        With C{--tls-required}, every command but IDENTIFY (known or not)
        is refused until TLS has started, before any state check.
        """
        made = client(STATE_SUBSCRIBED, tls_required=1)
        answers = verdicts(made)
        self.assertEqual(
            answers[b"IDENTIFY"], "E_INVALID cannot IDENTIFY in current state"
        )
        for name in NAMES[1:]:
            self.assertEqual(
                answers[name],
                f"E_INVALID cannot {name.decode()} in current state (TLS required)",
            )
        made.tls = True
        self.assertEqual(verdicts(made), verdicts(client(STATE_SUBSCRIBED)))


class IdentifyTests(SynchronousTestCase):
    """
    L{ClientV2.applyIdentify} applies IDENTIFY as Go does.
    """

    def identify(self, made: ClientV2, body: bytes) -> bool:
        """
        Negotiate C{body} against default limits and apply it.
        """
        result = negotiateIdentify(body, IdentifyLimits(), made.lastIdentify())
        return made.applyIdentify(result)

    def test_first(self) -> None:
        """
        The first IDENTIFY sets the names, the heartbeat and the message
        pump's settings, and says it was the first.
        """
        made = client()
        first = self.identify(
            made,
            b'{"client_id":"c","hostname":"h","user_agent":"u",'
            b'"heartbeat_interval":5000,"output_buffer_size":128,'
            b'"output_buffer_timeout":100,"sample_rate":10,"msg_timeout":2000}',
        )
        self.assertTrue(first)
        self.assertEqual(
            (made.clientID, made.hostname, made.userAgent, made.heartbeatInterval),
            ("c", "h", "u", 5.0),
        )
        self.assertEqual(
            (
                made.outputBufferSize,
                made.outputBufferTimeout,
                made.sampleRate,
                made.msgTimeout,
            ),
            (128, 0.1, 10, 2.0),
        )

    def test_later(self) -> None:
        """
        A later IDENTIFY changes the names and the heartbeat interval only
        (Go's message pump keeps the first one's settings).
        """
        made = client()
        self.identify(made, b'{"sample_rate":10,"msg_timeout":2000}')
        first = self.identify(
            made,
            b'{"client_id":"again","heartbeat_interval":7000,'
            b'"sample_rate":20,"msg_timeout":3000}',
        )
        self.assertFalse(first)
        self.assertEqual((made.clientID, made.heartbeatInterval), ("again", 7.0))
        self.assertEqual((made.sampleRate, made.msgTimeout), (10, 2.0))

    def test_lastIdentify(self) -> None:
        """
        What a later IDENTIFY keeps of the latest one (where it sends a
        zero): nothing before IDENTIFY; after the first, its settings,
        rebuilt from the client's own fields (no result is kept); after
        more, the latest one's.
        """
        made = client()
        self.assertIsNone(made.lastIdentify())
        self.identify(
            made,
            b'{"heartbeat_interval":5000,"output_buffer_size":128,'
            b'"output_buffer_timeout":100,"msg_timeout":2000}',
        )
        self.assertIs(made._identity, IDENTIFIED)
        last = made.lastIdentify()
        assert last is not None
        self.assertEqual(
            (
                last.heartbeatInterval,
                last.outputBufferSize,
                last.outputBufferTimeout,
                last.msgTimeout,
            ),
            (5000, 128, 100, 2000),
        )
        self.identify(made, b'{"msg_timeout":3000}')
        self.identify(made, b"{}")
        last = made.lastIdentify()
        assert last is not None
        self.assertEqual(
            (
                last.heartbeatInterval,
                last.outputBufferSize,
                last.outputBufferTimeout,
                last.msgTimeout,
            ),
            (5000, 128, 100, 3000),
        )
        # The message pump's settings stay the first IDENTIFY's.
        self.assertEqual((made.msgTimeout, made.heartbeatInterval), (2.0, 5.0))

    def test_sharedSeconds(self) -> None:
        """
        Clients with the same settings share their float objects (each
        would otherwise cost 24 bytes a connection).
        """
        one, two = client(), client()
        self.assertIs(one.heartbeatInterval, two.heartbeatInterval)
        for made in (one, two):
            self.identify(made, b'{"heartbeat_interval":5000,"msg_timeout":2000}')
        self.assertIs(one.heartbeatInterval, two.heartbeatInterval)
        self.assertIs(one.msgTimeout, two.msgTimeout)
        self.assertIs(one.outputBufferTimeout, two.outputBufferTimeout)


class CountersTests(SynchronousTestCase):
    """
    Publishing counts and authorizations.
    """

    def test_published(self) -> None:
        """
        Published messages are counted by topic, in publishing order.
        """
        made = client()
        made.published("b", 2)
        made.published("a", 1)
        made.published("b", 3)
        self.assertEqual(list(made.pubCounts.items()), [("b", 5), ("a", 1)])

    def test_upgradesShared(self) -> None:
        """
        A client's stream upgrades and auth answer read as its own
        attributes; until one is set (to anything but its default) the
        client shares one object of defaults with every other client.
        """
        one, two = client(), client()
        one.tls = False
        one.authorizations = None
        self.assertIs(one._upgrades, two._upgrades)
        one.deflate = True
        one.deflateLevel = 3
        one.authSecret = b"s"
        self.assertIsNot(one._upgrades, two._upgrades)
        self.assertEqual(
            (one.deflate, one.deflateLevel, one.authSecret), (True, 3, b"s")
        )
        self.assertEqual(
            (two.deflate, two.deflateLevel, two.authSecret), (False, 0, b"")
        )
        one.deflate = False
        self.assertFalse(one.deflate)

    def test_authorized(self) -> None:
        """
        A client is authorized once the auth server granted anything.
        """
        made = client()
        self.assertFalse(made.authorized())
        made.authorizations = Authorizations("", "", 0, ())
        self.assertFalse(made.authorized())
        grant = Authorization(re.compile(""), (re.compile(""),), frozenset({"publish"}))
        made.authorizations = Authorizations("", "", 0, (grant,))
        self.assertTrue(made.authorized())
