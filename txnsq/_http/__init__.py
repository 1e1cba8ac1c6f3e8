# -*- test-case-name: tests._http -*-
"""
The HTTP layer every txnsq daemon shares: Go NSQ's router and response
conventions.

Go NSQ serves HTTP with C{julienschmidt/httprouter} v1.3.0 and the helpers
in C{internal/http_api}.  Clients see their quirks, so txnsq reproduces
them:

  - L{Routes} declares a daemon's routes on the class that handles them,
    in httprouter's syntax (C{/config/:opt}); L{GoRouter} serves them: it
    matches each request once, calls the handler and maps its outcome to
    a response in one place, and answers misses as httprouter does (301 or
    307 redirects for a wrong trailing slash, letter case or unclean path,
    C{OPTIONS} with C{Allow}, 405 C{METHOD_NOT_ALLOWED}, 404
    C{NOT_FOUND}).
  - L{V1} and L{PLAIN_TEXT} are Go's C{http_api.V1} and
    C{http_api.PlainText}: a handler returns data (or a L{Deferred} of
    it) or raises L{HTTPError}; any other exception is Go's recovered
    panic, 500 C{INTERNAL_ERROR}.  L{RAW} is txnsq's own, for endpoints
    Go lacks (C{/metrics}): the handler returns a L{RawResponse} with its
    own headers.
  - L{RequestParams} reads the query string with Go's C{url.ParseQuery}
    rules (a malformed query is 400 C{INVALID_REQUEST}; POST bodies are
    not parameters); L{formValue}, L{contentLength} and L{readBody} read
    the rest of a request as Go's C{net/http} does.
  - L{GoSite} serves a L{GoRouter}, C{*} request targets included, with
    optionally bounded request bodies; it keeps no access log of its own
    (requests are logged as Go's C{http_api.Log} does, by the router).
  - L{quietAgent} is an HTTP client whose connections leave no
    C{Starting factory} lines in the log (nsqd's calls to nsqlookupd and
    the auth server).
  - L{TreqClient} is the treq client of the rest (the client's
    nsqlookupd polling, the tools, nsqadmin): quiet too, and it reaches
    hosts given as IPv6 literals (C{[::1]:4161}), which treq alone
    refuses, and servers behind a client endpoint.

The V1 conventions (L{respondV1}): JSON data gets C{application/json;
charset=utf-8}; a string is sent as is with the type Go's
C{http.DetectContentType} would sniff (C{text/plain; charset=utf-8} for
C{OK}); no data is an empty 200 with no C{Content-Type}; errors are
C{{"message":"<TEXT>"}}; every V1 response carries C{X-NSQ-Content-Type:
nsq; version=1.0} (sent as C{X-Nsq-Content-Type}, Go's canonical case).

Usage::

    class API:
        routes = Routes()

        @routes.route("GET", "/ping", PLAIN_TEXT)
        def ping(self, request: IRequest) -> str:
            return "OK"

    site = GoSite(GoRouter.forRoutes(API.routes, API()))

Routing is txnsq's own rather than Klein's: werkzeug's map cannot give
httprouter's answers (case-insensitive and unclean-path redirects, C{HEAD}
never routed, its C{Allow} lists, C{*}) without a second matcher beside it,
and Klein's per-request Deferred plumbing halves the publishing rate; one
dictionary lookup per request keeps C{POST /pub} cheap.  Route tables are
still declared on the class that handles them, as Klein's are.

Known differences from Go's server: twisted.web refuses request lines with
non-ASCII bytes or absolute-form targets with its own bare 400, before any
resource runs.
"""

from __future__ import annotations

from txnsq._http._client import QuietConnectionPool, quietAgent
from txnsq._http._params import (
    QueryError,
    RequestParams,
    contentLength,
    formValue,
    parseQuery,
    readBody,
)
from txnsq._http._paths import cleanPath
from txnsq._http._responses import (
    JSON_CONTENT_TYPE,
    JSON_NULL,
    NSQ_CONTENT_TYPE,
    PLAIN_TEXT,
    RAW,
    V1,
    Answer,
    HTTPError,
    RawResponse,
    respondPlainText,
    respondRaw,
    respondV1,
    sniffContentType,
)
from txnsq._http._router import GoRouter
from txnsq._http._routes import BoundRoute, Route, Routes, RouteTable
from txnsq._http._site import GoSite
from txnsq._http._treq import TreqClient, literalHost

__all__ = [
    "JSON_CONTENT_TYPE",
    "JSON_NULL",
    "NSQ_CONTENT_TYPE",
    "PLAIN_TEXT",
    "RAW",
    "V1",
    "Answer",
    "BoundRoute",
    "GoRouter",
    "GoSite",
    "HTTPError",
    "QueryError",
    "QuietConnectionPool",
    "RawResponse",
    "RequestParams",
    "Route",
    "RouteTable",
    "Routes",
    "TreqClient",
    "cleanPath",
    "contentLength",
    "formValue",
    "literalHost",
    "parseQuery",
    "quietAgent",
    "readBody",
    "respondPlainText",
    "respondRaw",
    "respondV1",
    "sniffContentType",
]
