# -*- test-case-name: tests.nsqadmin.test_graphite -*-
"""
Graphite, as Go nsqadmin 1.3.0 uses it (C{--graphite-url},
C{--proxy-graphite}, the C{--statsd-*} key formats):

  - C{GET /api/graphite?metric=rate&target=...}: one rate from graphite's
    C{/render}, as C{{"rate": "12.34"}} per second (C{"N/A"} when graphite
    has a negative value);
  - C{GET /render?...} with C{--proxy-graphite}: graphite's C{/render}
    passed through, so browsers that cannot reach graphite still get the
    graphs;
  - L{uiSettings}: what the web UI needs to draw graphs (Go's index
    template values).
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from twisted.web.iweb import IRequest

from txnsq._http import HTTPError, respondV1
from txnsq._http._responses import untyped
from txnsq._logging import Logger
from txnsq.nsqadmin.cluster import Cluster, UpstreamError
from txnsq.nsqadmin.config import AdminConfig

__all__ = ["proxyRender", "rate", "uiSettings"]

_log = Logger(namespace="txnsq.nsqadmin")

# Hop-by-hop headers, which a proxy never passes on (RFC 7230 6.1, as Go's
# httputil.ReverseProxy drops them).
_HOP_BY_HOP = {
    b"connection",
    b"proxy-connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
}


def uiSettings(config: AdminConfig) -> dict[str, Any]:
    """
    The graph settings Go nsqadmin gives its web UI (the values of its
    index template), under Go's names: C{GraphEnabled} when a
    C{--graphite-url} is set, C{ProxyGraphite}, C{GraphiteURL} and the
    statsd key formats and interval (whole seconds) the graphs are built
    from.
    """
    return {
        "GraphEnabled": config.graphite_url != "",
        "GraphiteURL": config.graphite_url,
        "ProxyGraphite": config.proxy_graphite,
        "StatsdInterval": int(config.statsd_interval),
        "StatsdCounterFormat": config.statsd_counter_format,
        "StatsdGaugeFormat": config.statsd_gauge_format,
        "StatsdPrefix": config.statsd_prefix,
    }


def _argument(request: IRequest, name: str) -> str | None:
    values = untyped(request).args.get(name.encode("ascii"))
    if not values:
        return None
    value: bytes = values[0]
    return value.decode("utf-8", "replace")


async def rate(request: IRequest, config: AdminConfig, cluster: Cluster) -> bytes:
    """
    C{GET /api/graphite}: Go's C{graphiteHandler}.  The C{target}'s value
    between two and one statsd intervals ago, per second.
    """
    if _argument(request, "metric") != "rate":
        raise HTTPError(400, "INVALID_ARG_METRIC")
    target = _argument(request, "target")
    if target is None:
        raise HTTPError(400, "INVALID_ARG_TARGET")
    interval = int(config.statsd_interval)
    query = urlencode(
        sorted(
            {
                "from": f"-{interval * 2}sec",
                "until": f"-{interval}sec",
                "format": "json",
                "target": target,
            }.items()
        )
    )
    url = f"{config.graphite_url}/render?{query}"
    _log.info("GRAPHITE: {url}", url=url)
    try:
        answer = await cluster.requestV1("GET", url)
        value = answer[0]["datapoints"][0][0]
        value = float(value)
    except UpstreamError as e:
        _log.error("graphite request failed - {error}", error=str(e))
        raise HTTPError(500, "INTERNAL_ERROR") from None
    except (LookupError, TypeError, ValueError) as e:
        # Go reads the first datapoint unchecked: anything else panics
        # into a 500.
        _log.error("graphite answer unusable - {error!r}", error=e)
        raise HTTPError(500, "INTERNAL_ERROR") from None
    shown = "N/A" if value < 0 else f"{value / max(interval, 1):.2f}"
    return respondV1(request, 200, {"rate": shown})


async def proxyRender(
    request: IRequest, config: AdminConfig, cluster: Cluster
) -> bytes:
    """
    C{GET /render} with C{--proxy-graphite}: Go's reverse proxy, which
    sends the request (path and query unchanged) to C{--graphite-url}'s
    scheme and host, with the URL's user as HTTP Basic auth, and answers
    what graphite answered; C{502} with an empty body when graphite
    cannot be reached.
    """
    req = untyped(request)
    target = urlsplit(config.graphite_url)
    host = target.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if target.port is not None:
        host = f"{host}:{target.port}"
    url = f"{target.scheme}://{host}{req.uri.decode('latin-1')}"
    headers: dict[bytes, list[bytes]] = {}
    for name, values in req.requestHeaders.getAllRawHeaders():
        if name.lower() not in _HOP_BY_HOP and name.lower() != b"host":
            headers[name] = list(values)
    client = req.getClientAddress()
    remote = getattr(client, "host", "")
    if remote:
        forwarded = headers.get(b"X-Forwarded-For", [])
        chain = b", ".join([*forwarded, remote.encode("ascii")])
        headers[b"X-Forwarded-For"] = [chain]
    if target.username is not None:
        credentials = f"{unquote(target.username)}:{unquote(target.password or '')}"
        headers[b"Authorization"] = [
            b"Basic " + base64.b64encode(credentials.encode("utf-8"))
        ]
    try:
        code, received, body = await cluster.forward(url, headers)
    except Exception as e:
        _log.error("http: proxy error: {error}", error=str(e))
        req.setResponseCode(502)
        return b""
    req.setResponseCode(code)
    for name, value in received:
        if name.lower() not in _HOP_BY_HOP and name.lower() != b"content-length":
            req.responseHeaders.addRawHeader(name, value)
    return body
