# -*- test-case-name: tests.wire.test_lookup -*-
"""
nsqlookupd's TCP protocol ("V1"), sans I/O.

nsqd opens a connection to nsqlookupd, sends the magic (two spaces, C{V1}), then text
command lines::

    PING\\n
    IDENTIFY\\n<int32 size><JSON body>
    REGISTER <topic> [<channel>]\\n
    UNREGISTER <topic> [<channel>]\\n

nsqlookupd answers every command with C{[int32 size][data]}: unlike nsqd,
there is no frame type, and errors travel the same way with the data
C{"<CODE> <description>"}.  Every error is fatal: the server closes the
connection after sending it.

L{LookupdCommandDecoder} is the server side: bytes in, L{LookupdCommand}
records and at most one L{ProtocolError} out, with Go nsqlookupd 1.3.0's
exact error texts and check order.  The encoders and
L{LookupdResponseDecoder} are the client side, for nsqd's lookupd peer.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Mapping
from typing import Any, Union

import attrs

from txnsq._go.json import encodeJSON
from txnsq.wire.errors import (
    E_BAD_BODY,
    E_BAD_CHANNEL,
    E_BAD_PROTOCOL,
    E_BAD_TOPIC,
    E_INVALID,
    ProtocolError,
)
from txnsq.wire.names import isValidName

#: The four bytes an nsqlookupd client sends first.
MAGIC_V1 = b"  V1"

_INT32 = struct.Struct(">i")

#: C{strings.TrimSpace} removes Unicode white space (Go's C{unicode.IsSpace}),
#: which is not the same set as Python's C{str.strip()}.
_GO_SPACE = "".join(
    map(
        chr,
        (
            *range(0x09, 0x0E),
            0x20,
            0x85,
            0xA0,
            0x1680,
            *range(0x2000, 0x200B),
            0x2028,
            0x2029,
            0x202F,
            0x205F,
            0x3000,
        ),
    )
)


# Records produced by the decoder.


@attrs.frozen
class Ping:
    """
    C{PING}: nsqd's 15-second heartbeat.  Allowed before IDENTIFY.
    """


@attrs.frozen
class PeerIdentity:
    """
    What an nsqd told nsqlookupd about itself in IDENTIFY.

    @ivar broadcastAddress: where clients should reach that nsqd.
    @ivar hostname: its OS hostname (informational).
    @ivar tcpPort: its TCP port (broadcast).
    @ivar httpPort: its HTTP port (broadcast).
    @ivar version: its NSQ version string.
    """

    broadcastAddress: str
    hostname: str
    tcpPort: int
    httpPort: int
    version: str


@attrs.frozen
class Identify:
    """
    A valid C{IDENTIFY}: the decoder checked the JSON and the required fields.
    """

    peer: PeerIdentity


@attrs.frozen
class Register:
    """
    C{REGISTER <topic> [<channel>]}, names validated.  C{channel} is C{""}
    when absent, as in Go.
    """

    topic: str
    channel: str = ""


@attrs.frozen
class Unregister:
    """
    C{UNREGISTER <topic> [<channel>]}, names validated.  C{channel} is C{""}
    when absent.
    """

    topic: str
    channel: str = ""


LookupdCommand = Union[Ping, Identify, Register, Unregister]
LookupdRecord = Union[LookupdCommand, ProtocolError]


# Go's JSON decoding of the IDENTIFY body into its PeerInfo struct.


class _Pairs(list[tuple[str, Any]]):
    """
    A decoded JSON object, as its key/value pairs in order (so duplicate
    keys can be resolved the way Go does: the last one wins).
    """


class _GoInt(str):
    """
    A JSON integer literal, kept as text: Go checks it against C{int64}, and
    Python would refuse to convert very long ones.
    """


class _GoFloat(str):
    """
    A JSON number written with a fraction or exponent: Go refuses to store
    it in an C{int} field, whatever its value.
    """


def _rejectConstant(name: str) -> Any:
    # Python accepts NaN and Infinity; Go's JSON parser does not.
    raise ValueError(name)


_SURROGATES = re.compile("[\ud800-\udfff]")

#: PeerInfo's JSON fields in Go 1.3.0 and the Python type each accepts.
#: C{remote_address} is decoded (so its type is checked) and then ignored:
#: nsqlookupd uses the connection's address instead.
_PEER_FIELDS: dict[str, type] = {
    "remote_address": str,
    "hostname": str,
    "broadcast_address": str,
    "tcp_port": int,
    "http_port": int,
    "version": str,
}


def _foldKey(key: str) -> str:
    """
    Fold a JSON object key the way Go's C{encoding/json} compares it with
    PeerInfo's field names: ASCII letters case-insensitively, plus the two
    non-ASCII runes whose simple case folding reaches an ASCII letter
    (U+017F LONG S and U+212A KELVIN SIGN).
    """
    if key.isascii():
        return key.lower()
    return key.replace("\u017f", "s").replace("\u212a", "k").lower()


def _goString(value: str) -> str:
    # Go replaces invalid UTF-8 and unpaired surrogate escapes with U+FFFD.
    return _SURROGATES.sub("\ufffd", value)


def decodeIdentifyBody(body: bytes) -> PeerIdentity:
    """
    Decode an IDENTIFY body as Go nsqlookupd does (C{json.Unmarshal} into
    its C{PeerInfo} struct, then the required-field check).

    Keys match field names case-insensitively, the last duplicate wins,
    C{null} leaves a field at its zero value, unknown keys are ignored and a
    value of the wrong JSON type fails the whole body.

    @raise ProtocolError: C{E_BAD_BODY IDENTIFY failed to decode JSON body}
        or C{E_BAD_BODY IDENTIFY missing fields}.
    """
    failed = ProtocolError(E_BAD_BODY, "IDENTIFY failed to decode JSON body")
    # Decode UTF-8 ourselves: json.loads(bytes) would also accept UTF-16
    # and UTF-32, which Go does not.  Each invalid byte becomes a lone
    # surrogate, a syntax error outside strings and U+FFFD inside, like Go.
    text = body.decode("utf-8", "surrogateescape")
    try:
        data = json.loads(
            text,
            object_pairs_hook=_Pairs,
            parse_int=_GoInt,
            parse_float=_GoFloat,
            parse_constant=_rejectConstant,
        )
    except (ValueError, RecursionError):
        raise failed from None
    values: dict[str, Any] = {
        "hostname": "",
        "broadcast_address": "",
        "tcp_port": 0,
        "http_port": 0,
        "version": "",
    }
    if data is None:
        pairs: list[tuple[str, Any]] = []
    elif isinstance(data, _Pairs):
        pairs = data
    else:
        # A JSON array, string, number or boolean cannot fill a struct.
        raise failed
    for key, value in pairs:
        field = _foldKey(key)
        kind = _PEER_FIELDS.get(field)
        if kind is None or value is None:
            continue
        if kind is int:
            if not isinstance(value, _GoInt):
                raise failed
            number = int(value)
            if not -(2**63) <= number < 2**63:
                raise failed
            values[field] = number
        else:
            if type(value) is not str:
                raise failed
            values[field] = _goString(value)
    if (
        not values["broadcast_address"]
        or values["tcp_port"] == 0
        or values["http_port"] == 0
        or not values["version"]
    ):
        raise ProtocolError(E_BAD_BODY, "IDENTIFY missing fields")
    return PeerIdentity(
        broadcastAddress=values["broadcast_address"],
        hostname=values["hostname"],
        tcpPort=values["tcp_port"],
        httpPort=values["http_port"],
        version=values["version"],
    )


def _topicChannel(command: str, params: list[str]) -> tuple[str, str]:
    """
    Go's C{getTopicChan}: the topic and optional channel of
    REGISTER/UNREGISTER, with its error texts (names in single quotes).
    """
    if not params:
        raise ProtocolError(E_INVALID, f"{command} insufficient number of params")
    topic = params[0]
    channel = params[1] if len(params) >= 2 else ""
    if not isValidName(topic):
        raise ProtocolError(E_BAD_TOPIC, f"{command} topic name '{topic}' is not valid")
    if channel and not isValidName(channel):
        raise ProtocolError(
            E_BAD_CHANNEL, f"{command} channel name '{channel}' is not valid"
        )
    return topic, channel


# Decoder states.
_MAGIC, _LINE, _SIZE, _BODY, _DONE = range(5)


class LookupdCommandDecoder:
    """
    Incremental decoder of what an nsqd sends to nsqlookupd, magic included.

    Call L{feed} with bytes as they arrive; it returns the complete records
    they finish, in order.  The decoder tracks whether the peer has
    identified, so it reports C{E_INVALID client must IDENTIFY} and
    C{E_INVALID cannot IDENTIFY again} itself, in Go's order (before looking
    at parameters or reading a body).  The first L{ProtocolError} is the
    last record: the connection must be closed after reporting it, and the
    decoder ignores everything after it.

    Lines may be any length and IDENTIFY bodies any size, as in Go, unless
    a body limit is given.

    @ivar identified: whether an L{Identify} record has been produced.
    """

    def __init__(
        self,
        *,
        expectMagic: bool = True,
        maxBodySize: int | None = None,
    ) -> None:
        """
        @param expectMagic: whether the stream starts with the 4-byte magic.
        @param maxBodySize: refuse larger IDENTIFY bodies with C{E_BAD_BODY}.
        """
        self._buffer = bytearray()
        self._state = _MAGIC if expectMagic else _LINE
        self._bodySize = 0
        self._scanned = 0
        self._maxBodySize = maxBodySize
        self.identified = False

    @property
    def stopped(self) -> bool:
        """
        Whether an error (or L{finish}) ended decoding.
        """
        return self._state == _DONE

    def feed(self, data: bytes) -> list[LookupdRecord]:
        """
        Add bytes; return the records they complete.
        """
        if self._state == _DONE:
            return []
        buf = self._buffer
        buf += data
        records: list[LookupdRecord] = []
        pos = 0
        while self._state != _DONE:
            if self._state == _MAGIC:
                if len(buf) - pos < 4:
                    break
                magic = bytes(buf[pos : pos + 4])
                pos += 4
                if magic != MAGIC_V1:
                    self._fail(records, ProtocolError(E_BAD_PROTOCOL))
                    break
                self._state = _LINE
            elif self._state == _LINE:
                # Resume the newline search where the last feed stopped, so
                # a long line arriving in pieces is scanned once.
                end = buf.find(b"\n", max(pos, self._scanned))
                if end < 0:
                    self._scanned = len(buf)
                    break
                line = bytes(buf[pos:end])
                pos = end + 1
                self._line(line, records)
            elif self._state == _SIZE:
                if len(buf) - pos < 4:
                    break
                (size,) = _INT32.unpack_from(buf, pos)
                pos += 4
                # Go nsqlookupd allocates the body without checking the
                # size and panics when it is negative; refuse it instead.
                if size < 0 or (
                    self._maxBodySize is not None and size > self._maxBodySize
                ):
                    self._fail(
                        records,
                        ProtocolError(E_BAD_BODY, f"IDENTIFY invalid body size {size}"),
                    )
                    break
                self._bodySize = size
                self._state = _BODY
            else:  # _BODY
                if len(buf) - pos < self._bodySize:
                    break
                body = bytes(buf[pos : pos + self._bodySize])
                pos += self._bodySize
                try:
                    peer = decodeIdentifyBody(body)
                except ProtocolError as error:
                    self._fail(records, error)
                    break
                self.identified = True
                self._state = _LINE
                records.append(Identify(peer))
        if self._state == _DONE:
            self._buffer = bytearray()
        else:
            del buf[:pos]
            self._scanned = max(0, self._scanned - pos)
        return records

    def finish(self) -> list[LookupdRecord]:
        """
        The peer will send nothing more (it shut down its side, or the
        connection is gone).  Go reports an IDENTIFY whose size or body was
        cut short; a partial line or magic is dropped silently.
        """
        records: list[LookupdRecord] = []
        if self._state == _SIZE:
            self._fail(
                records, ProtocolError(E_BAD_BODY, "IDENTIFY failed to read body size")
            )
        elif self._state == _BODY:
            self._fail(
                records, ProtocolError(E_BAD_BODY, "IDENTIFY failed to read body")
            )
        self._state = _DONE
        self._buffer = bytearray()
        return records

    def _fail(self, records: list[LookupdRecord], error: ProtocolError) -> None:
        records.append(error)
        self._state = _DONE

    def _line(self, raw: bytes, records: list[LookupdRecord]) -> None:
        # Work on text that round-trips to the original bytes, so names
        # echoed in error texts come back exactly as sent.
        text = raw.decode("utf-8", "surrogateescape").strip(_GO_SPACE)
        params = text.split(" ")
        name = params[0]
        try:
            if name == "PING":
                records.append(Ping())
            elif name == "IDENTIFY":
                if self.identified:
                    raise ProtocolError(E_INVALID, "cannot IDENTIFY again")
                self._state = _SIZE
            elif name in ("REGISTER", "UNREGISTER"):
                if not self.identified:
                    raise ProtocolError(E_INVALID, "client must IDENTIFY")
                topic, channel = _topicChannel(name, params[1:])
                if name == "REGISTER":
                    records.append(Register(topic, channel))
                else:
                    records.append(Unregister(topic, channel))
            else:
                raise ProtocolError(E_INVALID, f"invalid command {name}")
        except ProtocolError as error:
            self._fail(records, error)


# Server replies.


def encodeReply(data: bytes) -> bytes:
    """
    One nsqlookupd reply: C{[int32 size][data]}, no frame type.
    """
    return _INT32.pack(len(data)) + data


#: The reply to PING, REGISTER and UNREGISTER.
REPLY_OK = encodeReply(b"OK")


def encodeErrorReply(error: ProtocolError) -> bytes:
    """
    An error reply: the same framing as any reply, data C{"<CODE> <text>"}.
    """
    return encodeReply(error.wireText())


def identifyReplyBody(
    *, broadcastAddress: str, hostname: str, httpPort: int, tcpPort: int, version: str
) -> bytes:
    """
    The JSON nsqlookupd answers a valid IDENTIFY with.  Go marshals a map,
    so the keys are sorted.
    """
    return encodeJSON(
        {
            "broadcast_address": broadcastAddress,
            "hostname": hostname,
            "http_port": httpPort,
            "tcp_port": tcpPort,
            "version": version,
        }
    )


# Client side (nsqd's lookupd peer).


def encodePing() -> bytes:
    """
    C{PING\\n}.
    """
    return b"PING\n"


def encodeIdentify(info: Mapping[str, Any]) -> bytes:
    """
    C{IDENTIFY} with a JSON body.  Go nsqd marshals a map, so keys are
    sorted, as here.
    """
    body = encodeJSON(dict(sorted(info.items())))
    return b"IDENTIFY\n" + _INT32.pack(len(body)) + body


def _registration(command: bytes, topic: str, channel: str) -> bytes:
    params = [command, topic.encode("utf-8", "surrogateescape")]
    if channel:
        params.append(channel.encode("utf-8", "surrogateescape"))
    return b" ".join(params) + b"\n"


def encodeRegister(topic: str, channel: str = "") -> bytes:
    """
    C{REGISTER <topic> [<channel>]\\n} (go-nsq omits an empty channel).
    """
    return _registration(b"REGISTER", topic, channel)


def encodeUnregister(topic: str, channel: str = "") -> bytes:
    """
    C{UNREGISTER <topic> [<channel>]\\n}.
    """
    return _registration(b"UNREGISTER", topic, channel)


class ReplyTooLarge(ValueError):
    """
    A reply's size exceeded the decoder's limit (Go nsqd's
    C{readResponseBounded} fails the exchange and closes the peer).
    """


class LookupdResponseDecoder:
    """
    Incremental decoder of nsqlookupd's C{[int32 size][data]} replies, for
    the client side.
    """

    def __init__(self, maxSize: int | None = None) -> None:
        """
        @param maxSize: largest acceptable reply (nsqd uses its
            C{--max-body-size}).
        """
        self._buffer = bytearray()
        self._maxSize = maxSize

    def feed(self, data: bytes) -> list[bytes]:
        """
        Add bytes; return the complete replies' data.

        @raise ReplyTooLarge: a size over the limit; stop using the decoder.
        """
        buf = self._buffer
        buf += data
        replies: list[bytes] = []
        pos = 0
        while len(buf) - pos >= 4:
            (size,) = _INT32.unpack_from(buf, pos)
            if self._maxSize is not None and size > self._maxSize:
                raise ReplyTooLarge(
                    f"response body size ({size}) is greater than limit "
                    f"({self._maxSize})"
                )
            # Go's make([]byte, size) panics on a negative size; treat it as
            # an empty reply rather than crash the client.
            size = max(size, 0)
            if len(buf) - pos - 4 < size:
                break
            replies.append(bytes(buf[pos + 4 : pos + 4 + size]))
            pos += 4 + size
        del buf[:pos]
        return replies


def isErrorReply(data: bytes) -> bool:
    """
    Whether a reply is an error (Go nsqd only looks for C{E_INVALID}; every
    nsqlookupd error starts with C{E_}).
    """
    return data.startswith(b"E_")
