"""
Tests for L{txnsq._http._params}: reading requests as Go does.
"""

from __future__ import annotations

from io import BytesIO
from typing import cast

from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import IRequest
from twisted.web.test.requesthelper import DummyRequest

from txnsq._http import (
    HTTPError,
    QueryError,
    RequestParams,
    contentLength,
    formValue,
    parseQuery,
    readBody,
)


def dummy(
    method: bytes = b"GET",
    uri: bytes = b"/",
    body: bytes | None = None,
    headers: dict[bytes, bytes] | None = None,
) -> IRequest:
    """
    A request with a method, a URI, a body and headers.
    """
    request = DummyRequest([b""])
    request.method = method
    request.uri = uri
    # DummyRequest has no body of its own.
    request.content = None if body is None else BytesIO(body)  # type: ignore[attr-defined]
    for name, value in (headers or {}).items():
        request.requestHeaders.setRawHeaders(name, [value])
    # DummyRequest provides what these functions read of IRequest.
    return cast(IRequest, request)


class QueryTests(SynchronousTestCase):
    """
    L{parseQuery} follows Go's C{url.ParseQuery}.
    """

    def test_parse(self) -> None:
        """
        Pairs split on C{&}, repeated keys, missing values, C{+} and
        escapes; empty pairs skipped; an empty key kept.
        """
        self.assertEqual(
            parseQuery(b"a=1&a=2&b&&c=x+y%21&=z&d=%ff"),
            {"a": ["1", "2"], "b": [""], "c": ["x y!"], "": ["z"], "d": ["\udcff"]},
        )
        self.assertEqual(parseQuery(b""), {})

    def test_errors(self) -> None:
        """
        Bad escapes and semicolons are errors.
        """
        for raw in (b"a=%zz", b"a=%f", b"%=1", b"a=1;b=2", b"a=1&b;"):
            self.assertRaises(QueryError, parseQuery, raw)


class RequestParamsTests(SynchronousTestCase):
    """
    L{RequestParams} is Go's C{http_api.ReqParams}.
    """

    def test_values(self) -> None:
        """
        C{get} gives the first value, C{getAll} every one; both L{None}
        when absent.
        """
        params = RequestParams.fromRequest(dummy(uri=b"/x?a=1&a=2&b="))
        self.assertEqual((params.get("a"), params.get("b")), ("1", ""))
        self.assertEqual(params.getAll("a"), ["1", "2"])
        self.assertIsNone(params.get("c"))
        self.assertIsNone(params.getAll("c"))

    def test_invalid(self) -> None:
        """
        A malformed query is 400 C{INVALID_REQUEST}.
        """
        error = self.assertRaises(
            HTTPError, RequestParams.fromRequest, dummy(uri=b"/x?a=%zz")
        )
        self.assertEqual((error.code, error.message), (400, "INVALID_REQUEST"))

    def test_topicAndChannel(self) -> None:
        """
        Topic and channel are checked in Go's order.
        """
        cases = {
            b"": "MISSING_ARG_TOPIC",
            b"topic=a!": "INVALID_ARG_TOPIC",
            b"topic=t": "MISSING_ARG_CHANNEL",
            b"topic=t&channel=c!": "INVALID_ARG_CHANNEL",
        }
        for query, message in cases.items():
            params = RequestParams.fromRequest(dummy(uri=b"/x?" + query))
            error = self.assertRaises(HTTPError, params.topicAndChannel)
            self.assertEqual((error.code, error.message), (400, message))
        params = RequestParams.fromRequest(dummy(uri=b"/x?topic=t&channel=c"))
        self.assertEqual(params.topicAndChannel(), ("t", "c"))


class BodyTests(SynchronousTestCase):
    """
    L{contentLength}, L{readBody} and L{formValue} read what Go's
    C{net/http} would.
    """

    def test_contentLength(self) -> None:
        """
        The declared length; -1 when chunked or unreadable; 0 without one.
        """
        self.assertEqual(contentLength(dummy(headers={b"content-length": b"12"})), 12)
        self.assertEqual(
            contentLength(dummy(headers={b"transfer-encoding": b"chunked"})), -1
        )
        self.assertEqual(contentLength(dummy(headers={b"content-length": b"x"})), -1)
        self.assertEqual(contentLength(dummy()), 0)

    def test_readBody(self) -> None:
        """
        At most the limit, from the start, however far it was read before.
        """
        request = dummy(body=b"abcdef")
        self.assertEqual(readBody(request, 4), b"abcd")
        self.assertEqual(readBody(request, 100), b"abcdef")
        self.assertEqual(readBody(dummy(), 10), b"")

    def test_formValue(self) -> None:
        """
        A form body's value comes first, then the query's, keeping the good
        pairs of malformed ones; only form-encoded POST, PUT and PATCH
        bodies count.
        """
        form = {b"content-type": b"application/x-www-form-urlencoded; charset=x"}
        request = dummy(b"PUT", b"/x?rate=2&rate=%zz", b"rate=1&bad=%", form)
        self.assertEqual(formValue(request, "rate"), "1")
        request = dummy(b"PUT", b"/x?rate=%zz&rate=2", b"other=1", form)
        self.assertEqual(formValue(request, "rate"), "2")
        request = dummy(b"GET", b"/x?rate=3", b"rate=1", form)
        self.assertEqual(formValue(request, "rate"), "3")
        request = dummy(b"PUT", b"/x", b"rate=1")
        self.assertEqual(formValue(request, "rate"), "")
