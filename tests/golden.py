"""
Replaying the golden recordings (C{tests/data/golden/}) against a running
server, for the nsqd and nsqlookupd golden tests.

C{tests/data/golden/README.md} describes the format.  Two entry points:

  - L{TCPConversation}: one TCP connection running recorded steps (send,
    recv with masks, C{expect_close}, C{sleep_ms}); L{runTCPRecording} runs
    a whole C{tcp/} or C{lookupd-tcp/} file.
  - L{runHTTPCase}: one C{http/} file: its setup actions (HTTP requests and
    TCP steps on named connections), then the recorded request, compared
    by status, listed headers and body.

Both return a list of human-readable mismatches (empty when the server
matched).  Framing is a parameter: nsqd frames are C{[size][type][data]}
and nsqlookupd replies C{[size][data]}; either way the size prefix says
how many bytes follow, which is all the reader needs (L{sizePrefixed}).

The recorded daemons listened on fixed ports (27150/27151 for nsqd,
27160/27161 for nsqlookupd).  Pass C{portMap} (recorded -> actual) and
those numbers are substituted in the expected data before comparing:
JSON integers under keys ending in C{_port}, and C{:<port>} in text.

Only the real reactor makes sense here: these helpers talk to real sockets
on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, cast

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.interfaces import IListeningPort, IReactorTCP, ITCPTransport
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath
from twisted.web.server import Site

__all__ = [
    "GOLDEN",
    "FrameLength",
    "TCPConversation",
    "compareJSON",
    "httpRequest",
    "listenSite",
    "loadRecordings",
    "runHTTPCase",
    "runTCPRecording",
    "sizePrefixed",
]

#: The golden recordings, next to the tests.
GOLDEN = FilePath(__file__).sibling("data").child("golden")

FrameLength = Callable[[bytes], "int | None"]
"""
Given the bytes received so far, the length of the first complete frame,
or L{None} if more bytes are needed.
"""

Sleep = Callable[[int], Awaitable[object]]
"""
Carries out a C{sleep_ms} step (given the milliseconds).
"""

_INT32 = struct.Struct(">i")
_MASK = object()


def sizePrefixed(buffer: bytes) -> int | None:
    """
    L{FrameLength} for C{[int32 size][size bytes]}: nsqd frames (where the
    size covers the frame type and data) and nsqlookupd replies alike.
    """
    if len(buffer) < 4:
        return None
    (size,) = _INT32.unpack_from(buffer)
    length = 4 + max(size, 0)
    return length if len(buffer) >= length else None


def loadRecordings(*path: str) -> list[tuple[str, dict[str, Any]]]:
    """
    The recordings in C{GOLDEN/<path>}, as C{(name, recording)}, by name.
    """
    folder = GOLDEN.descendant(list(path))
    return [
        (child.basename()[: -len(".json")], json.loads(child.getContent()))
        for child in sorted(folder.globChildren("*.json"), key=FilePath.basename)
    ]


def _portText(text: str, portMap: Mapping[int, int]) -> str:
    for recorded, actual in portMap.items():
        text = re.sub(rf":{recorded}\b", f":{actual}", text)
    return text


class _Object(list[tuple[str, Any]]):
    """
    A decoded JSON object, as its pairs in order.
    """


def _normalise(
    value: Any,
    masked: Sequence[str],
    unordered: Sequence[str],
    portMap: Mapping[int, int],
    key: str | None = None,
) -> Any:
    """
    A comparable form of decoded JSON: objects become tagged lists of pairs
    (so key order counts and C{{}} differs from C{[]}), masked keys' values
    become a placeholder, arrays under unordered keys are sorted, recorded
    ports are replaced.
    """
    if isinstance(value, _Object):
        return (
            "object",
            [
                (
                    k,
                    "<masked>"
                    if k in masked
                    else _normalise(v, masked, unordered, portMap, k),
                )
                for k, v in value
            ],
        )
    if isinstance(value, list):
        items = [_normalise(v, masked, unordered, portMap) for v in value]
        if key in unordered:
            items.sort(key=repr)
        return ("array", items)
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and key is not None
        and key.endswith("_port")
    ):
        return portMap.get(value, value)
    if isinstance(value, str):
        return _portText(value, portMap)
    return value


def _loadJSON(data: bytes) -> Any:
    return json.loads(data, object_pairs_hook=_Object)


def compareJSON(
    expected: bytes,
    actual: bytes,
    *,
    masked: Sequence[str] = (),
    unordered: Sequence[str] = (),
    portMap: Mapping[int, int] | None = None,
) -> str | None:
    """
    Compare two JSON documents as the golden README says: masked keys (at
    any depth) ignored, arrays under C{unordered} keys as multisets, key
    order included; recorded ports substituted in C{expected}.

    @return: a description of the difference, or L{None}.
    """
    try:
        got = _loadJSON(actual)
    except ValueError as error:
        return f"not JSON ({error}): {actual!r}"
    want = _normalise(_loadJSON(expected), masked, unordered, portMap or {})
    got = _normalise(got, masked, unordered, {})
    if want != got:
        return f"JSON differs:\n  expected {expected!r}\n  actual   {actual!r}"
    return None


class _Client(Protocol):
    """
    Collects what the server sends, and notices when it closes.
    """

    def __init__(self) -> None:
        self.buffer = b""
        self.closed = False
        self.reason: Failure | None = None
        self._waiters: list[Deferred[None]] = []

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.closed = True
        self.reason = reason
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)

    async def changed(self, reactor: Any, timeout: float) -> bool:
        """
        Wait until more data arrives or the connection closes.

        @return: C{False} on timeout.
        """
        waiter: Deferred[None] = Deferred()
        self._waiters.append(waiter)
        waiter.addTimeout(timeout, reactor)
        try:
            await waiter
        except Exception:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            return False
        return True


def _maskBytes(data: bytes, masks: Sequence[Sequence[Any]]) -> bytes:
    buffer = bytearray(data)
    for offset, length, *_ in masks:
        for index in range(offset, min(offset + length, len(buffer))):
            buffer[index] = 0
    return bytes(buffer)


class TCPConversation:
    """
    One TCP connection replaying recorded steps.

    @ivar received: the frames received by each recv step, by step index,
        for the C{fill_from} and C{same_as} references.
    """

    def __init__(
        self,
        reactor: Any,
        client: _Client,
        *,
        frameLength: FrameLength = sizePrefixed,
        portMap: Mapping[int, int] | None = None,
        sleep: Sleep | None = None,
        timeout: float = 5.0,
    ) -> None:
        self._reactor = reactor
        self._client = client
        self._frameLength = frameLength
        self._portMap = portMap or {}
        self._sleep = sleep
        self._timeout = timeout
        self.received: dict[int, bytes] = {}

    @classmethod
    async def connect(
        cls,
        reactor: Any,
        host: str,
        port: int,
        *,
        frameLength: FrameLength = sizePrefixed,
        portMap: Mapping[int, int] | None = None,
        sleep: Sleep | None = None,
        timeout: float = 5.0,
    ) -> TCPConversation:
        """
        Connect to C{host:port}.

        @param sleep: carries out C{sleep_ms} steps; by default, waits that
            long on C{reactor}.
        @param timeout: how long to wait for any one frame or close.
        """
        endpoint = TCP4ClientEndpoint(reactor, host, port)
        client = await connectProtocol(endpoint, _Client())
        return cls(
            reactor,
            client,
            frameLength=frameLength,
            portMap=portMap,
            sleep=sleep,
            timeout=timeout,
        )

    @property
    def closed(self) -> bool:
        """
        Whether the server closed the connection.
        """
        return self._client.closed

    async def run(
        self, steps: Sequence[Mapping[str, Any]], label: str = ""
    ) -> list[str]:
        """
        Run C{steps}; stop at the first mismatch.

        @param label: prefixed to mismatch descriptions.
        @return: the mismatches.
        """
        self.received = {}
        for index, step in enumerate(steps):
            where = f"{label}step {index}"
            problem = await self._step(index, step, where)
            if problem is not None:
                return [f"{where}: {problem}"]
        return []

    async def finish(self, label: str = "") -> list[str]:
        """
        Check nothing unrecorded arrived, then close the connection.
        """
        problems = []
        if self._client.buffer:
            problems.append(f"{label}unexpected bytes {self._client.buffer!r}")
        await self.close()
        return problems

    async def close(self) -> None:
        """
        Close the connection and wait until it is closed.
        """
        if not self._client.closed:
            assert self._client.transport is not None
            self._client.transport.loseConnection()
            while not self._client.closed:
                if not await self._client.changed(self._reactor, self._timeout):
                    self._client.transport.abortConnection()  # type: ignore[attr-defined]
                    break

    async def _step(
        self, index: int, step: Mapping[str, Any], where: str
    ) -> str | None:
        if "send" in step:
            data = bytearray(base64.b64decode(step["send"]))
            for sendOffset, length, recvIndex, recvOffset in step.get("fill_from", ()):
                source = self.received[recvIndex][recvOffset : recvOffset + length]
                data[sendOffset : sendOffset + length] = source
            if self._client.closed:
                return "connection closed before send"
            assert self._client.transport is not None
            self._client.transport.write(bytes(data))
            return None
        if "recv" in step:
            frame = await self._readFrame()
            if frame is None:
                return f"expected {step.get('recv_text')!r}, connection closed or timed out"
            self.received[index] = frame
            return self._compareFrame(frame, step)
        if step.get("expect_close"):
            while not self._client.closed:
                if self._client.buffer:
                    return f"expected close, got {self._client.buffer!r}"
                if not await self._client.changed(self._reactor, self._timeout):
                    return "expected close, connection still open"
            if self._client.buffer:
                return f"expected close, got {self._client.buffer!r}"
            return None
        if "sleep_ms" in step:
            if self._sleep is not None:
                await self._sleep(step["sleep_ms"])
            else:
                from twisted.internet.task import deferLater

                await deferLater(self._reactor, step["sleep_ms"] / 1000)
            return None
        return f"unknown step {step!r}"

    async def _readFrame(self) -> bytes | None:
        client = self._client
        while True:
            length = self._frameLength(client.buffer)
            if length is not None:
                frame, client.buffer = client.buffer[:length], client.buffer[length:]
                return frame
            if client.closed or not await client.changed(self._reactor, self._timeout):
                return None

    def _compareFrame(self, frame: bytes, step: Mapping[str, Any]) -> str | None:
        expected = base64.b64decode(step["recv"])
        masks = step.get("masked", ())
        jsonOffset = step.get("json_offset")
        if jsonOffset is None:
            if len(frame) != len(expected) or _maskBytes(frame, masks) != _maskBytes(
                expected, masks
            ):
                return f"expected {expected!r}, got {frame!r}"
        else:
            head, expectedHead = frame[:jsonOffset], expected[:jsonOffset]
            if len(head) != len(expectedHead) or _maskBytes(head, masks) != _maskBytes(
                expectedHead, masks
            ):
                return f"expected {expected!r}, got {frame!r}"
            problem = compareJSON(
                expected[jsonOffset:],
                frame[jsonOffset:],
                masked=step.get("masked_json_keys", ()),
                portMap=self._portMap,
            )
            if problem is not None:
                return problem
        for offset, length, earlierIndex, earlierOffset in step.get("same_as", ()):
            earlier = self.received.get(earlierIndex, b"")
            if (
                frame[offset : offset + length]
                != earlier[earlierOffset : earlierOffset + length]
            ):
                return f"bytes {offset}+{length} differ from step {earlierIndex}"
        return None


async def runTCPRecording(
    reactor: Any,
    host: str,
    port: int,
    recording: Mapping[str, Any],
    *,
    frameLength: FrameLength = sizePrefixed,
    portMap: Mapping[int, int] | None = None,
    sleep: Sleep | None = None,
    timeout: float = 5.0,
) -> list[str]:
    """
    Replay one C{tcp/} or C{lookupd-tcp/} recording on a new connection.

    @return: the mismatches.
    """
    conversation = await TCPConversation.connect(
        reactor,
        host,
        port,
        frameLength=frameLength,
        portMap=portMap,
        sleep=sleep,
        timeout=timeout,
    )
    problems = await conversation.run(recording["steps"])
    if problems:
        await conversation.close()
        return problems
    return await conversation.finish()


# HTTP.


class _HTTPResponse:
    """
    A parsed HTTP/1.1 response.
    """

    def __init__(self, raw: bytes, method: str) -> None:
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        self.status = int(lines[0].split(b" ")[1])
        self.headers: dict[str, list[str]] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            self.headers.setdefault(name.decode("latin-1").lower(), []).append(
                value.strip().decode("latin-1")
            )
        if method == "HEAD":
            self.body = b""
        elif "chunked" in self.headers.get("transfer-encoding", [""])[0]:
            self.body = _dechunk(body)
        elif "content-length" in self.headers:
            self.body = body[: int(self.headers["content-length"][0])]
        else:
            self.body = body


def _dechunk(data: bytes) -> bytes:
    out = []
    while data:
        line, _, data = data.partition(b"\r\n")
        size = int(line.split(b";")[0], 16)
        if size == 0:
            break
        out.append(data[:size])
        data = data[size + 2 :]
    return b"".join(out)


def listenSite(reactor: IReactorTCP, site: Site) -> tuple[IListeningPort, int]:
    """
    Serve C{site} on 127.0.0.1, on a free port.

    @return: the listening port (to stop) and its number.
    """
    # listenTCP is annotated to take a ServerFactory[_ProtoWithFactory], and
    # Factory is invariant in its protocol type, so no Site (a factory of
    # HTTP channels) fits; at run time it takes any protocol factory.
    port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[arg-type]
    address = port.getHost()
    assert isinstance(address, IPv4Address)
    return port, address.port


async def httpRequest(
    reactor: Any,
    host: str,
    port: int,
    method: str,
    pathAndQuery: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> _HTTPResponse:
    """
    Send one HTTP/1.1 request as the recorder did (C{Host}, C{Content-Length}
    for POST and PUT or with a body, C{Connection: close}) and read the
    response until the server closes.
    """
    lines = [f"{method} {pathAndQuery} HTTP/1.1", f"Host: {host}:{port}"]
    if method in ("POST", "PUT") or body:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    client: _Client = await connectProtocol(
        TCP4ClientEndpoint(reactor, host, port), _Client()
    )
    assert client.transport is not None
    client.transport.write(request)
    while not client.closed:
        if not await client.changed(reactor, timeout):
            # A TCP4ClientEndpoint connection: the transport is a TCP one.
            cast(ITCPTransport, client.transport).abortConnection()
            raise TimeoutError(f"no complete response to {method} {pathAndQuery}")
    return _HTTPResponse(client.buffer, method)


#: The response headers the recordings keep (README: "headers").
_RECORDED_HEADERS = ("content-type", "allow", "location")


#: Go's version line (the text /stats page's first): its build part names
#: Go's toolchain in the recordings and txnsq in txnsq's answers; the
#: daemon and the NSQ version must still match.
_VERSION_LINE = re.compile(r"(?m)^(nsqd|nsqlookupd) v(\S+) \(built w/[^)\n]*\)$")


def _sameBuild(text: str) -> str:
    return _VERSION_LINE.sub(r"\1 v\2 (built w/<build>)", text)


def _compareHTTP(
    case: Mapping[str, Any], response: _HTTPResponse, portMap: Mapping[int, int]
) -> list[str]:
    problems = []
    if response.status != case["status"]:
        problems.append(f"status {response.status}, expected {case['status']}")
    expectedHeaders = {name.lower(): value for name, value in case["headers"].items()}
    for name in response.headers:
        if name not in expectedHeaders and (
            name in _RECORDED_HEADERS or name.startswith("x-nsq-")
        ):
            problems.append(f"unexpected header {name}: {response.headers[name]}")
    for name, value in expectedHeaders.items():
        actual = response.headers.get(name)
        if actual != [_portText(value, portMap)]:
            problems.append(f"header {name}: {actual}, expected {value!r}")
    expected = base64.b64decode(case["body_base64"])
    patterns = case.get("masked_text_patterns")
    contentType = expectedHeaders.get("content-type", "")
    if patterns:
        want = _sameBuild(_portText(expected.decode("utf-8"), portMap))
        got = _sameBuild(response.body.decode("utf-8", "replace"))
        for pattern in patterns:
            want = re.sub(pattern, "<masked>", want)
            got = re.sub(pattern, "<masked>", got)
        if want != got:
            problems.append(f"body:\n  expected {want!r}\n  actual   {got!r}")
    elif contentType.startswith("application/json") and expected:
        problem = compareJSON(
            expected,
            response.body,
            masked=case.get("masked_json_keys", ()),
            unordered=case.get("unordered_json_keys", ()),
            portMap=portMap,
        )
        if problem is not None:
            problems.append(f"body: {problem}")
    else:
        wantBody = _portText(expected.decode("latin-1"), portMap).encode("latin-1")
        if response.body != wantBody:
            problems.append(f"body {response.body!r}, expected {wantBody!r}")
    return problems


async def runHTTPCase(
    reactor: Any,
    case: Mapping[str, Any],
    *,
    host: str,
    httpPort: int,
    tcpPort: int | None = None,
    frameLength: FrameLength = sizePrefixed,
    portMap: Mapping[int, int] | None = None,
    sleep: Sleep | None = None,
    timeout: float = 5.0,
) -> list[str]:
    """
    Replay one C{http/} recording: its setup (HTTP requests, TCP steps on
    named connections to C{tcpPort}, closes, sleeps), then its request.

    @return: the mismatches (setup mismatches included).
    """
    portMap = portMap or {}
    conversations: dict[str, TCPConversation] = {}
    problems: list[str] = []
    try:
        for number, action in enumerate(case.get("setup", ())):
            label = f"setup {number}: "
            if "http" in action:
                request = action["http"]
                response = await httpRequest(
                    reactor,
                    host,
                    httpPort,
                    request["method"],
                    request["path_and_query"],
                    base64.b64decode(request.get("body_base64", "")),
                    timeout=timeout,
                )
                if response.status != action.get("expect_status", response.status):
                    problems.append(
                        f"{label}status {response.status}, expected "
                        f"{action['expect_status']}: {response.body!r}"
                    )
            elif "tcp" in action:
                name = action["tcp"]["conn"]
                if name not in conversations:
                    assert tcpPort is not None, "a TCP setup needs tcpPort"
                    conversations[name] = await TCPConversation.connect(
                        reactor,
                        host,
                        tcpPort,
                        frameLength=frameLength,
                        portMap=portMap,
                        sleep=sleep,
                        timeout=timeout,
                    )
                problems += await conversations[name].run(
                    action["tcp"]["steps"], f"{label}{name} "
                )
            elif "tcp_close" in action:
                await conversations.pop(action["tcp_close"]).close()
            elif "sleep_ms" in action:
                if sleep is not None:
                    await sleep(action["sleep_ms"])
                else:
                    from twisted.internet.task import deferLater

                    await deferLater(reactor, action["sleep_ms"] / 1000)
            else:
                problems.append(f"{label}unknown action {action!r}")
            if problems:
                return problems
        response = await httpRequest(
            reactor,
            host,
            httpPort,
            case["method"],
            case["path_and_query"],
            base64.b64decode(case.get("request_body_base64", "")),
            case.get("request_headers"),
            timeout=timeout,
        )
        return _compareHTTP(case, response, portMap)
    finally:
        await DeferredList(
            [
                Deferred.fromCoroutine(conversation.close())
                for conversation in conversations.values()
            ]
        )
