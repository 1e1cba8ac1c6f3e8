# -*- test-case-name: tests._http.test_site -*-
"""
L{GoSite}: a L{Site} whose requests reach the resource as Go's server
hands them to its router (C{*} included), optionally with bounded bodies.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from io import BytesIO
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure
from twisted.web.resource import IResource
from twisted.web.server import Request, Site

__all__ = ["GoSite"]


#: Go's net/http answer to an HTTP/1.1 request without C{Host}, byte for
#: byte (its server writes it itself and closes the connection).
MISSING_HOST = (
    b"HTTP/1.1 400 Bad Request\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n"
    b"\r\n"
    b"400 Bad Request: missing required Host header"
)


class _GoRequest(Request):
    """
    A request that lets the resource answer C{OPTIONS *} and C{GET *}, and
    refuses an HTTP/1.1 request without C{Host} as Go's server does.
    """

    def process(self) -> None:
        """
        Refuse an HTTP/1.1 request without C{Host} (RFC 9112 section 3.2,
        and Go), else process it as usual.
        """
        if self.clientproto == b"HTTP/1.1" and not self.requestHeaders.hasHeader(
            b"host"
        ):
            transport: Any = self.channel.transport
            transport.write(MISSING_HOST)
            transport.loseConnection()
            return
        super().process()  # type: ignore[no-untyped-call]

    def _handleStar(self) -> None:
        # twisted.web answers requests for "*" itself (200 for OPTIONS,
        # 405 otherwise, never with the routes' Allow list); Go's router
        # treats "*" as a path, so hand it to the resource as usual.
        try:
            site: Any = self.site
            self.render(site.getResourceFor(self))  # type: ignore[no-untyped-call]
        except BaseException:
            self.processingFailed(Failure())  # type: ignore[no-untyped-call]


class _BoundedRequest(_GoRequest):
    """
    A L{_GoRequest} that keeps at most C{bodyLimit()} bytes of body (in
    memory) and discards the rest, noting it in L{bodyTruncated}.  Bodies
    are never parsed as forms: Go's handlers read only the query string.
    """

    def __init__(self, *args: Any, bodyLimit: Callable[[], int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._parsePOSTFormSubmission = False
        self._bodyLimit = bodyLimit
        self._bodyRoom = 0
        self.bodyTruncated = False

    def gotLength(self, length: int | None) -> None:
        """
        Prepare an in-memory body bounded by the limit, and watch the body
        as it arrives, so that one that will not fit is answered at once.
        """
        self._bodyRoom = self._bodyLimit()
        self.content = BytesIO()
        if length is not None and length >= self._bodyRoom:
            # Go refuses on the declared Content-Length before reading.
            self.bodyTruncated = True
        channel: Any = self.channel
        decoder = getattr(channel, "_transferDecoder", None)
        if decoder is not None:
            channel._transferDecoder = _WatchedDecoder(decoder, self)

    def answerNow(self) -> None:
        """
        The body is over the limit: hand the request to the resource now
        with what was kept (its handler answers 413, as Go's does after
        reading one byte too many) and close the connection once it has
        answered, instead of reading an endless or huge body to its end.
        """
        channel: Any = self.channel
        channel.persistent = False
        # From here the channel buffers what still arrives (pausing the
        # peer past a few kilobytes) until the answer is written and the
        # connection closes: the rest of the body is never read.
        channel.allContentReceived()

    def handleContentChunk(self, data: bytes) -> None:
        """
        Keep what fits; drop the rest.
        """
        room = self._bodyRoom
        if len(data) > room:
            data = data[:room]
            self.bodyTruncated = True
        if data:
            self._bodyRoom = room - len(data)
            content: Any = self.content
            content.write(data)


class _WatchedDecoder:
    """
    The channel's body decoder, watched: once the request's body is over
    its limit (declared or received), the request is answered at once.
    """

    def __init__(self, decoder: Any, request: _BoundedRequest) -> None:
        self._decoder = decoder
        self._request = request
        # The request forgets its channel once it has answered.
        self._channel: Any = request.channel

    def dataReceived(self, data: bytes) -> None:
        """
        Decode C{data}, unless the body is already known to be too big.
        """
        request = self._request
        if not request.bodyTruncated:
            self._decoder.dataReceived(data)
        # Unless the body ended with this data (the request is then handled
        # as usual, its handler seeing the truncation).
        if request.bodyTruncated and self._channel._transferDecoder is self:
            request.answerNow()

    def noMoreData(self) -> None:
        """
        The connection ended: as the decoder says.
        """
        self._decoder.noMoreData()


class GoSite(Site):
    """
    A L{Site} for a L{GoRouter<txnsq._http.GoRouter>}: C{*} request
    targets reach the resource, so C{OPTIONS *} lists every routed method
    as Go's router does.

    It writes no access log: Go's daemons log requests in their own words
    (C{http_api.Log}: C{200 GET /ping (127.0.0.1:51234) 41.2µs}), which the
    router does, so twisted.web's Apache-style lines would only repeat
    them in another format.  Nor does it log C{Starting factory} when it
    starts listening.
    """

    noisy = False

    def __init__(
        self,
        resource: IResource,
        reactor: IReactorTime | None = None,
        *,
        bodyLimit: Callable[[], int] | None = None,
    ) -> None:
        """
        @param reactor: the clock for idle-connection timeouts (the global
            reactor if omitted).
        @param bodyLimit: if given, how many body bytes a request keeps (the
            rest is discarded as it arrives, so a huge body costs no
            memory), asked as each request's body starts; bodies are then
            never parsed as forms.
        """
        requestFactory: Callable[..., Request] = _GoRequest
        if bodyLimit is not None:
            requestFactory = functools.partial(_BoundedRequest, bodyLimit=bodyLimit)
        super().__init__(  # type: ignore[no-untyped-call]
            resource, requestFactory=requestFactory, reactor=reactor
        )

    def log(self, request: object) -> None:
        """
        No access log (see the class docstring).
        """
