"""
Tests for L{txnsq.wire.lookup}: nsqlookupd's V1 TCP codec.
"""

from __future__ import annotations

import base64
import json
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from tests.golden import loadRecordings
from txnsq.wire.errors import ProtocolError
from txnsq.wire.lookup import (
    MAGIC_V1,
    REPLY_OK,
    Identify,
    LookupdCommandDecoder,
    LookupdRecord,
    LookupdResponseDecoder,
    PeerIdentity,
    Ping,
    Register,
    ReplyTooLarge,
    Unregister,
    decodeIdentifyBody,
    encodeErrorReply,
    encodeIdentify,
    encodePing,
    encodeRegister,
    encodeReply,
    encodeUnregister,
    identifyReplyBody,
    isErrorReply,
)

PEER = {
    "broadcast_address": "golden-nsqd.example",
    "hostname": "golden-nsqd-host",
    "tcp_port": 4150,
    "http_port": 4151,
    "version": "1.3.0",
}
IDENTITY = PeerIdentity("golden-nsqd.example", "golden-nsqd-host", 4150, 4151, "1.3.0")


def identifyCommand(body: bytes) -> bytes:
    """
    C{IDENTIFY\\n} with C{body} and its size.
    """
    return b"IDENTIFY\n" + struct.pack(">i", len(body)) + body


IDENTIFY = identifyCommand(json.dumps(PEER).encode())


def decodeAll(data: bytes, identified: bool = False) -> list[LookupdRecord]:
    """
    Feed C{data} (after the magic) to a fresh decoder in one go.
    """
    decoder = LookupdCommandDecoder()
    prefix = MAGIC_V1 + (IDENTIFY if identified else b"")
    records = decoder.feed(prefix + data)
    return records[1:] if identified else records


def errorText(records: list[LookupdRecord]) -> bytes:
    """
    The wire text of the last record, which must be an error.
    """
    last = records[-1]
    assert isinstance(last, ProtocolError), records
    return last.wireText()


class DecoderTests(SynchronousTestCase):
    """
    L{LookupdCommandDecoder} turns bytes into records with Go's texts.
    """

    def test_magic(self) -> None:
        """
        Nothing is decoded until the magic has arrived; a wrong magic is a
        bare C{E_BAD_PROTOCOL}.
        """
        decoder = LookupdCommandDecoder()
        self.assertEqual(decoder.feed(b"  V"), [])
        self.assertEqual(decoder.feed(b"1PING\n"), [Ping()])
        records = LookupdCommandDecoder().feed(b"  V2PING\n")
        self.assertEqual(errorText(records), b"E_BAD_PROTOCOL")
        self.assertEqual(len(records), 1)

    def test_withoutMagic(self) -> None:
        """
        C{expectMagic=False} starts with commands.
        """
        decoder = LookupdCommandDecoder(expectMagic=False)
        self.assertEqual(decoder.feed(b"PING\n"), [Ping()])

    def test_ping(self) -> None:
        """
        PING is allowed before IDENTIFY; extra parameters are ignored.
        """
        self.assertEqual(decodeAll(b"PING\nPING x y\n"), [Ping(), Ping()])

    def test_identify(self) -> None:
        """
        A valid IDENTIFY yields the peer's details and marks the decoder
        identified.
        """
        decoder = LookupdCommandDecoder()
        self.assertFalse(decoder.identified)
        self.assertEqual(decoder.feed(MAGIC_V1 + IDENTIFY), [Identify(IDENTITY)])
        self.assertTrue(decoder.identified)

    def test_identifyTwice(self) -> None:
        """
        A second IDENTIFY fails at its line, before any body arrives.
        """
        records = decodeAll(b"IDENTIFY\n", identified=True)
        self.assertEqual(errorText(records), b"E_INVALID cannot IDENTIFY again")

    def test_registerBeforeIdentify(self) -> None:
        """
        REGISTER and UNREGISTER need IDENTIFY, checked before parameters.
        """
        for command in (b"REGISTER\n", b"UNREGISTER bad!\n"):
            self.assertEqual(
                errorText(decodeAll(command)), b"E_INVALID client must IDENTIFY"
            )

    def test_register(self) -> None:
        """
        REGISTER takes a topic and an optional channel; more parameters are
        ignored.
        """
        self.assertEqual(
            decodeAll(b"REGISTER t\nREGISTER t c\nREGISTER t c extra\n", True),
            [Register("t"), Register("t", "c"), Register("t", "c")],
        )

    def test_unregister(self) -> None:
        """
        UNREGISTER mirrors REGISTER.
        """
        self.assertEqual(
            decodeAll(b"UNREGISTER t\nUNREGISTER t#ephemeral c#ephemeral\n", True),
            [Unregister("t"), Unregister("t#ephemeral", "c#ephemeral")],
        )

    def test_parameterErrors(self) -> None:
        """
        Missing and invalid names give Go's texts, names in single quotes.
        """
        cases = {
            b"REGISTER\n": b"E_INVALID REGISTER insufficient number of params",
            b"UNREGISTER\n": b"E_INVALID UNREGISTER insufficient number of params",
            b"REGISTER bad!topic\n": (
                b"E_BAD_TOPIC REGISTER topic name 'bad!topic' is not valid"
            ),
            b"UNREGISTER t bad!chan\n": (
                b"E_BAD_CHANNEL UNREGISTER channel name 'bad!chan' is not valid"
            ),
            b"REGISTER " + b"t" * 65 + b"\n": (
                b"E_BAD_TOPIC REGISTER topic name '" + b"t" * 65 + b"' is not valid"
            ),
            # Split on single spaces: two spaces make an empty topic.
            b"REGISTER  t\n": b"E_BAD_TOPIC REGISTER topic name '' is not valid",
            b"REGISTER \xff\n": b"E_BAD_TOPIC REGISTER topic name '\xff' is not valid",
        }
        for line, text in cases.items():
            self.assertEqual(errorText(decodeAll(line, True)), text, line)

    def test_emptyChannelIgnored(self) -> None:
        """
        A trailing empty channel parameter means no channel, as in Go.
        """
        self.assertEqual(decodeAll(b"REGISTER t \n", True), [Register("t")])

    def test_invalidCommand(self) -> None:
        """
        Unknown, lowercase and empty commands are C{E_INVALID invalid
        command <name>}, the name's bytes echoed as sent.
        """
        cases = {
            b"FOO\n": b"E_INVALID invalid command FOO",
            b"ping\n": b"E_INVALID invalid command ping",
            b"\n": b"E_INVALID invalid command ",
            b"F\xffO bar\n": b"E_INVALID invalid command F\xffO",
        }
        for line, text in cases.items():
            self.assertEqual(errorText(decodeAll(line)), text, line)

    def test_whitespaceTrimmed(self) -> None:
        """
        Lines are trimmed of Go's white space (Unicode included) at both
        ends, not inside.
        """
        self.assertEqual(
            decodeAll(b"  PING  \r\n\tPING\x0b\n\xc2\xa0PING\xe3\x80\x80\n"),
            [Ping(), Ping(), Ping()],
        )
        # \x1c is white space to Python, not to Go.
        self.assertEqual(
            errorText(decodeAll(b"PING\x1c\n")), b"E_INVALID invalid command PING\x1c"
        )

    def test_errorStops(self) -> None:
        """
        Every error is fatal: it is the last record, and later input is
        ignored.
        """
        decoder = LookupdCommandDecoder()
        records = decoder.feed(MAGIC_V1 + b"PING\nFOO\nPING\n")
        self.assertEqual(records[0], Ping())
        self.assertIsInstance(records[1], ProtocolError)
        self.assertEqual(len(records), 2)
        self.assertTrue(decoder.stopped)
        self.assertEqual(decoder.feed(b"PING\n"), [])

    def test_negativeBodySize(self) -> None:
        """
        Go nsqlookupd panics on a negative IDENTIFY size; txnsq answers
        C{E_BAD_BODY}.
        """
        records = decodeAll(b"IDENTIFY\n\xff\xff\xff\xff{}")
        self.assertEqual(
            errorText(records), b"E_BAD_BODY IDENTIFY invalid body size -1"
        )

    def test_bodyLimit(self) -> None:
        """
        An optional limit refuses larger IDENTIFY bodies before buffering.
        """
        decoder = LookupdCommandDecoder(maxBodySize=10)
        records = decoder.feed(MAGIC_V1 + b"IDENTIFY\n\x00\x00\x00\x0b")
        self.assertEqual(
            errorText(records), b"E_BAD_BODY IDENTIFY invalid body size 11"
        )

    def test_finish(self) -> None:
        """
        At end of input, an IDENTIFY cut short in its size or body is
        reported as Go does; anything else ends silently.
        """
        cases = [
            (b"IDENTIFY\n", [b"E_BAD_BODY IDENTIFY failed to read body size"]),
            (b"IDENTIFY\n\x00\x00", [b"E_BAD_BODY IDENTIFY failed to read body size"]),
            (
                b"IDENTIFY\n\x00\x00\x00\x05{}",
                [b"E_BAD_BODY IDENTIFY failed to read body"],
            ),
            (b"PIN", []),
            (b"", []),
        ]
        for data, expected in cases:
            decoder = LookupdCommandDecoder()
            self.assertEqual(decoder.feed(MAGIC_V1 + data), [])
            records = decoder.finish()
            self.assertEqual(
                [r.wireText() for r in records if isinstance(r, ProtocolError)],
                expected,
            )
            self.assertTrue(decoder.stopped)
        decoder = LookupdCommandDecoder()
        decoder.feed(b"  ")
        self.assertEqual(decoder.finish(), [])

    @settings(derandomize=True, deadline=None, max_examples=100)
    @given(st.lists(st.integers(min_value=0, max_value=400), max_size=12))
    def test_chunking(self, cuts: list[int]) -> None:
        """
        The records do not depend on how the input is split.
        """
        stream = (
            MAGIC_V1
            + b"PING\n"
            + IDENTIFY
            + b"REGISTER t c\nPING\nUNREGISTER t\nREGISTER bad!\nPING\n"
        )
        expected = LookupdCommandDecoder().feed(stream)
        decoder = LookupdCommandDecoder()
        records: list[LookupdRecord] = []
        previous = 0
        for cut in sorted({min(c, len(stream)) for c in cuts}):
            records += decoder.feed(stream[previous:cut])
            previous = cut
        records += decoder.feed(stream[previous:])
        self.assertEqual([repr(r) for r in records], [repr(r) for r in expected])
        self.assertEqual(len(expected), 6)

    def test_goldenRequests(self) -> None:
        """
        The byte streams of the lookupd-tcp recordings decode to the records
        their recorded replies imply: no record where Go said nothing, an
        error where Go sent one.
        """
        for name, recording in loadRecordings("lookupd-tcp"):
            decoder = LookupdCommandDecoder()
            steps = recording["steps"]
            for index, step in enumerate(steps):
                if "send" not in step:
                    continue
                records = decoder.feed(base64.b64decode(step["send"]))
                following = steps[index + 1] if index + 1 < len(steps) else {}
                errors = [r for r in records if isinstance(r, ProtocolError)]
                if errors:
                    self.assertEqual(
                        encodeErrorReply(errors[0]),
                        base64.b64decode(following["recv"]),
                        name,
                    )
                else:
                    self.assertNotIn("expect_close", following, name)


class IdentifyBodyTests(SynchronousTestCase):
    """
    L{decodeIdentifyBody} decodes like Go's C{json.Unmarshal} into
    nsqlookupd's C{PeerInfo}.
    """

    def decode(self, body: bytes) -> PeerIdentity:
        """
        Decode C{body}.
        """
        return decodeIdentifyBody(body)

    def assertFails(
        self, body: bytes, text: str = "failed to decode JSON body"
    ) -> None:
        """
        C{body} is refused with C{E_BAD_BODY IDENTIFY <text>}.
        """
        error = self.assertRaises(ProtocolError, decodeIdentifyBody, body)
        self.assertEqual(error.wireText(), f"E_BAD_BODY IDENTIFY {text}".encode())

    def test_fields(self) -> None:
        """
        The five fields nsqd sends; unknown and topology fields are ignored.
        """
        body = dict(PEER, topology_zone="z", unknown={"a": [1, 2.5, None]})
        self.assertEqual(self.decode(json.dumps(body).encode()), IDENTITY)

    def test_caseInsensitiveKeys(self) -> None:
        """
        Keys match field names regardless of case (Go's fold, long S
        included); the last duplicate wins.
        """
        body = (
            b'{"BROADCAST_ADDRESS":"b","Hostname":"h","TCP_port":1,'
            b'"http_port":2,"http_port":3,"ver\xc5\xbfion":"v"}'
        )
        self.assertEqual(self.decode(body), PeerIdentity("b", "h", 1, 3, "v"))

    def test_nullKeepsZero(self) -> None:
        """
        C{null} leaves a field at its zero value.
        """
        body = dict(PEER, hostname=None)
        self.assertEqual(self.decode(json.dumps(body).encode()).hostname, "")

    def test_missingFields(self) -> None:
        """
        C{broadcast_address}, C{version} and non-zero ports are required; a
        JSON C{null} body decodes but misses them.
        """
        for field, value in (
            ("broadcast_address", ""),
            ("version", ""),
            ("tcp_port", 0),
            ("http_port", 0),
        ):
            body = dict(PEER, **{field: value})
            self.assertFails(json.dumps(body).encode(), "missing fields")
        self.assertFails(b"null", "missing fields")
        self.assertFails(b"{}", "missing fields")

    def test_notAnObject(self) -> None:
        """
        Arrays, scalars, syntax errors and empty bodies fail to decode.
        """
        for body in (b"[]", b"[1]", b'"x"', b"1", b"true", b"{nope", b"", b"{} x"):
            self.assertFails(body)

    def test_wrongTypes(self) -> None:
        """
        A value of the wrong JSON type fails the whole body, even for the
        ignored C{remote_address}; ports must be integer literals in range.
        """
        for field, value in (
            ("tcp_port", "4150"),
            ("tcp_port", 4150.0),
            ("http_port", True),
            ("hostname", 5),
            ("version", ["1.3.0"]),
            ("remote_address", 1),
        ):
            body = dict(PEER, **{field: value})
            self.assertFails(json.dumps(body).encode())
        for literal in (b"1e3", b"4150.5", b"9223372036854775808"):
            encoded = json.dumps(dict(PEER, tcp_port=0)).encode()
            self.assertFails(
                encoded.replace(b'"tcp_port": 0', b'"tcp_port": ' + literal)
            )

    def test_negativeAndLargePorts(self) -> None:
        """
        Go's C{int} accepts any int64, negative included.
        """
        body = dict(PEER, tcp_port=-1, http_port=2**63 - 1)
        identity = self.decode(json.dumps(body).encode())
        self.assertEqual((identity.tcpPort, identity.httpPort), (-1, 2**63 - 1))

    def test_nonStandardJSON(self) -> None:
        """
        Python's extensions (NaN, Infinity) and other encodings are refused
        as by Go.
        """
        self.assertFails(json.dumps(PEER).encode()[:-1] + b',"x":NaN}')
        self.assertFails(json.dumps(PEER).encode("utf-16"))
        self.assertFails(b"\xef\xbb\xbf" + json.dumps(PEER).encode())

    def test_invalidUTF8(self) -> None:
        """
        Invalid UTF-8 and unpaired surrogate escapes in strings become
        U+FFFD, one per bad byte.
        """
        body = json.dumps(dict(PEER, hostname="HOST")).encode()
        body = body.replace(b"HOST", b"a\xe2\x82b\\ud800")
        self.assertEqual(self.decode(body).hostname, "a\ufffd\ufffdb\ufffd")


class EncoderTests(SynchronousTestCase):
    """
    Replies and client commands are encoded as Go does.
    """

    def test_reply(self) -> None:
        """
        Replies are C{[int32 size][data]}; errors the same.
        """
        self.assertEqual(encodeReply(b"OK"), b"\x00\x00\x00\x02OK")
        self.assertEqual(REPLY_OK, b"\x00\x00\x00\x02OK")
        self.assertEqual(
            encodeErrorReply(ProtocolError("E_BAD_PROTOCOL")),
            b"\x00\x00\x00\x0eE_BAD_PROTOCOL",
        )

    def test_identifyReply(self) -> None:
        """
        The IDENTIFY reply is a Go map: keys sorted.
        """
        self.assertEqual(
            identifyReplyBody(
                broadcastAddress="127.0.0.1",
                hostname="vm",
                httpPort=27161,
                tcpPort=27160,
                version="1.3.0",
            ),
            b'{"broadcast_address":"127.0.0.1","hostname":"vm","http_port":27161,'
            b'"tcp_port":27160,"version":"1.3.0"}',
        )

    def test_clientCommands(self) -> None:
        """
        What nsqd sends: PING, IDENTIFY with a sorted JSON body, REGISTER
        and UNREGISTER without an empty channel.
        """
        self.assertEqual(encodePing(), b"PING\n")
        self.assertEqual(encodeRegister("t"), b"REGISTER t\n")
        self.assertEqual(encodeRegister("t", "c"), b"REGISTER t c\n")
        self.assertEqual(encodeUnregister("t", "c"), b"UNREGISTER t c\n")
        self.assertEqual(encodeUnregister("t"), b"UNREGISTER t\n")
        body = b'{"a":1,"b":"<"}'
        self.assertEqual(
            encodeIdentify({"b": "<", "a": 1}),
            b"IDENTIFY\n"
            + struct.pack(">i", len(body.replace(b"<", b"\\u003c")))
            + body.replace(b"<", b"\\u003c"),
        )

    def test_roundTrip(self) -> None:
        """
        The server decoder accepts what the client encoders produce.
        """
        decoder = LookupdCommandDecoder()
        records = decoder.feed(
            MAGIC_V1
            + encodePing()
            + encodeIdentify(PEER)
            + encodeRegister("t", "c")
            + encodeUnregister("t")
        )
        self.assertEqual(
            records, [Ping(), Identify(IDENTITY), Register("t", "c"), Unregister("t")]
        )


class ResponseDecoderTests(SynchronousTestCase):
    """
    L{LookupdResponseDecoder} splits nsqlookupd's replies for a client.
    """

    def test_replies(self) -> None:
        """
        Replies come out whole, however the bytes arrive.
        """
        decoder = LookupdResponseDecoder()
        stream = REPLY_OK + encodeReply(b"") + encodeReply(b"E_INVALID x")
        replies: list[bytes] = []
        for byte in stream:
            replies += decoder.feed(bytes([byte]))
        self.assertEqual(replies, [b"OK", b"", b"E_INVALID x"])
        self.assertTrue(isErrorReply(replies[2]))
        self.assertFalse(isErrorReply(replies[0]))

    def test_limit(self) -> None:
        """
        A size over the limit fails with Go's message.
        """
        decoder = LookupdResponseDecoder(maxSize=1)
        error = self.assertRaises(ReplyTooLarge, decoder.feed, REPLY_OK)
        self.assertEqual(str(error), "response body size (2) is greater than limit (1)")
