"""
Tests for L{txnsq._http._responses}: Go's V1 and PlainText responses.
"""

from __future__ import annotations

from typing import cast

from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import IRequest
from twisted.web.test.requesthelper import DummyRequest

from txnsq._http import (
    JSON_NULL,
    PLAIN_TEXT,
    RAW,
    V1,
    HTTPError,
    RawResponse,
    respondPlainText,
    respondRaw,
    respondV1,
    sniffContentType,
)


def headers(request: DummyRequest) -> dict[bytes, list[bytes]]:
    """
    The response headers set so far.
    """
    return {
        name: list(values)
        for name, values in request.responseHeaders.getAllRawHeaders()
    }


def asRequest(request: DummyRequest) -> IRequest:
    """
    C{request}, which provides what the responders use of L{IRequest}.
    """
    return cast(IRequest, request)


class RespondTests(SynchronousTestCase):
    """
    L{respondV1} and L{respondPlainText} set Go's status and headers.
    """

    def test_v1JSON(self) -> None:
        """
        Data is JSON with its type, the V1 header and a length;
        L{JSON_NULL} is C{null}.
        """
        for data, body in (({"a": [1]}, b'{"a":[1]}'), (JSON_NULL, b"null")):
            request = DummyRequest([b""])
            self.assertEqual(respondV1(asRequest(request), 200, data), body)
            self.assertEqual(request.responseCode, 200)
            self.assertEqual(
                headers(request),
                {
                    b"X-Nsq-Content-Type": [b"nsq; version=1.0"],
                    b"Content-Type": [b"application/json; charset=utf-8"],
                    b"Content-Length": [b"%d" % (len(body),)],
                },
            )

    def test_v1Error(self) -> None:
        """
        An error status sends the text as C{{"message": ...}}.
        """
        request = DummyRequest([b""])
        self.assertEqual(
            respondV1(asRequest(request), 404, "TOPIC_NOT_FOUND"),
            b'{"message":"TOPIC_NOT_FOUND"}',
        )
        self.assertEqual(request.responseCode, 404)

    def test_v1Bytes(self) -> None:
        """
        Bytes are sent as they are, with a sniffed type.
        """
        request = DummyRequest([b""])
        self.assertEqual(respondV1(asRequest(request), 200, b"\x00\x01"), b"\x00\x01")
        self.assertEqual(
            headers(request)[b"Content-Type"], [b"application/octet-stream"]
        )

    def test_plainText(self) -> None:
        """
        Plain text has a sniffed type and no V1 header.
        """
        request = DummyRequest([b""])
        self.assertEqual(
            respondPlainText(asRequest(request), 500, "NOK - x"), b"NOK - x"
        )
        self.assertEqual(request.responseCode, 500)
        self.assertEqual(
            headers(request),
            {
                b"Content-Type": [b"text/plain; charset=utf-8"],
                b"Content-Length": [b"7"],
            },
        )


class AnswerTests(SynchronousTestCase):
    """
    L{V1} and L{PLAIN_TEXT} turn outcomes into bodies.
    """

    def test_answers(self) -> None:
        """
        Each answer sends data and errors its way; L{PLAIN_TEXT} refuses
        anything but text (Go's PlainText panics).
        """
        request = DummyRequest([b""])
        self.assertEqual(V1.data(asRequest(request), None), b"")
        self.assertEqual(
            V1.error(asRequest(request), HTTPError(400, "X")), b'{"message":"X"}'
        )
        self.assertEqual(PLAIN_TEXT.data(asRequest(request), "OK"), b"OK")
        self.assertEqual(
            PLAIN_TEXT.error(asRequest(request), HTTPError(400, "X")), b"X"
        )
        self.assertRaises(TypeError, PLAIN_TEXT.data, asRequest(request), None)


class RawTests(SynchronousTestCase):
    """
    L{RAW} and L{respondRaw} send the headers the handler chose.
    """

    def test_headersAsGiven(self) -> None:
        """
        The handler's headers are sent unchanged, a repeated name with
        every value, with the body's length and no C{X-NSQ-Content-Type};
        a C{Content-Type} set by the handler is not sniffed over (a gzip
        body stays C{text/plain}).
        """
        request = DummyRequest([b""])
        body = b"\x1f\x8b\x08\x00"
        response = RawResponse(
            body,
            [
                (b"Content-Type", b"text/plain; version=0.0.4; charset=utf-8"),
                (b"Content-Encoding", b"gzip"),
                (b"Vary", b"Accept-Encoding"),
                (b"Vary", b"Origin"),
            ],
        )
        self.assertEqual(RAW.data(asRequest(request), response), body)
        self.assertEqual(request.responseCode, 200)
        self.assertEqual(
            headers(request),
            {
                b"Content-Type": [b"text/plain; version=0.0.4; charset=utf-8"],
                b"Content-Encoding": [b"gzip"],
                b"Vary": [b"Accept-Encoding", b"Origin"],
                b"Content-Length": [b"4"],
            },
        )

    def test_sniffedWithoutContentType(self) -> None:
        """
        Without a C{Content-Type} from the handler, Go's server's sniffed
        one is sent, as for any body written without one; an empty body
        gets none.
        """
        request = DummyRequest([b""])
        self.assertEqual(respondRaw(asRequest(request), 202, RawResponse(b"hi")), b"hi")
        self.assertEqual(request.responseCode, 202)
        self.assertEqual(
            headers(request)[b"Content-Type"], [b"text/plain; charset=utf-8"]
        )
        request = DummyRequest([b""])
        self.assertEqual(respondRaw(asRequest(request), 200, RawResponse(b"")), b"")
        self.assertEqual(headers(request), {b"Content-Length": [b"0"]})

    def test_errorsAndMistakes(self) -> None:
        """
        Errors are plain text with their status; a handler that returns
        anything but a L{RawResponse} is a programming error (the router
        answers 500).
        """
        request = DummyRequest([b""])
        self.assertEqual(RAW.error(asRequest(request), HTTPError(400, "X")), b"X")
        self.assertEqual(request.responseCode, 400)
        self.assertEqual(
            headers(request),
            {
                b"Content-Type": [b"text/plain; charset=utf-8"],
                b"Content-Length": [b"1"],
            },
        )
        self.assertRaises(TypeError, RAW.data, asRequest(request), b"body")


class SniffTests(SynchronousTestCase):
    """
    L{sniffContentType} gives Go's C{http.DetectContentType} answers.
    """

    def test_sniff(self) -> None:
        """
        Text, HTML, XML, a few binary signatures and binary data.
        """
        cases = {
            b"OK": b"text/plain; charset=utf-8",
            b"127.0.0.1:4150": b"text/plain; charset=utf-8",
            b" \n<!DOCTYPE html>": b"text/html; charset=utf-8",
            b"<html>": b"text/html; charset=utf-8",
            b"<a href": b"text/html; charset=utf-8",
            b"<ab>": b"text/plain; charset=utf-8",
            b"<!-- x": b"text/html; charset=utf-8",
            b"<?xml version": b"text/xml; charset=utf-8",
            b"%PDF-1.4": b"application/pdf",
            b"\xef\xbb\xbfx": b"text/plain; charset=utf-8",
            b"\xfe\xffx": b"text/plain; charset=utf-16be",
            b"\x89PNG\r\n\x1a\n": b"image/png",
            b"\x1f\x8b\x08": b"application/x-gzip",
            b"a\x00b": b"application/octet-stream",
            b"\xff\xfe\xfd": b"text/plain; charset=utf-16le",
            b"caf\xc3\xa9\t\n": b"text/plain; charset=utf-8",
            b"RIFF\x00\x00\x00\x00WEBPVP": b"image/webp",
        }
        for data, contentType in cases.items():
            self.assertEqual(sniffContentType(data), contentType, data)
