# -*- test-case-name: tests.nsqadmin.test_ui -*-
"""
nsqadmin's web UI, the requests: Go nsqadmin's pages (streams, a topic, a
channel, nodes, a node, the counter, lookup) at Go's paths under
C{--base-path}, their admin actions, and the static files.

The routes are L{txnsq.nsqadmin.http.AdminHTTPAPI}'s (one Klein app); this
module reads the cluster through the same gatherers as the JSON API, runs
the actions through the same L{Cluster} operations, ACL and notifications,
and renders HTML with L{txnsq.nsqadmin._views}.

Actions: a form GETs a confirmation page, whose button POSTs; with htmx
the form POSTs directly after C{confirm()}.  A POST answers C{303 See
Other} back to the page (htmx: C{HX-Redirect}), with the outcome in a
flash cookie that the next page shows once.
"""

from __future__ import annotations

from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlencode, urlsplit

from twisted.web.iweb import IRequest
from twisted.web.template import Tag

from txnsq._http import HTTPError
from txnsq._http._responses import untyped
from txnsq._logging import Logger
from txnsq.nsqadmin import _clusterinfo as ci
from txnsq.nsqadmin import _views as views
from txnsq.nsqadmin import graphite
from txnsq.nsqadmin._graphs import Graphs
from txnsq.nsqadmin._rates import RateTracker
from txnsq.nsqadmin.cluster import Cluster, UpstreamError
from txnsq.nsqadmin.config import AdminConfig
from txnsq.wire.names import isValidChannelName, isValidTopicName

__all__ = ["FLASH_COOKIE", "WebUI", "basePrefix", "sameOrigin"]

_log = Logger(namespace="txnsq.nsqadmin")

FLASH_COOKIE = b"nsqadmin_flash"

_STATIC_DIR = Path(__file__).parent / "static"

# The only files served from static/ (never a path from the request).
_STATIC_TYPES = {
    "htmx.min.js": b"text/javascript; charset=utf-8",
    "nsqadmin.css": b"text/css; charset=utf-8",
    "htmx-LICENSE": b"text/plain; charset=utf-8",
}

_HTML = b"text/html; charset=utf-8"

_TOPIC_ACTIONS = ("pause", "unpause", "empty", "delete")
_NODE_ACTIONS = ("pause", "unpause", "empty")

_DONE = {
    "pause": "Paused",
    "unpause": "Unpaused",
    "empty": "Emptied",
    "delete": "Deleted",
    "tombstone": "Tombstoned",
}


def basePrefix(basePath: str) -> str:
    """
    C{--base-path} as a URL prefix: C{""} for C{/}, C{"/admin"} for
    C{/admin/}.
    """
    return "".join("/" + s for s in basePath.split("/") if s)


class _API(Protocol):
    # What the UI uses of AdminHTTPAPI (txnsq.nsqadmin.http).
    config: AdminConfig
    cluster: Cluster
    rates: RateTracker

    def _isAdmin(self, request: IRequest) -> bool: ...

    async def _perform(
        self,
        request: IRequest,
        action: Coroutine[Any, Any, list[str]],
        *notifications: tuple[str, str, str, str],
    ) -> list[str]: ...

    async def _topicStats(
        self, topic: str, clients: list[dict[str, Any]] | None = None
    ) -> tuple[dict[str, Any], list[str]]: ...

    async def _channelStats(
        self, topic: str, channel: str
    ) -> tuple[dict[str, Any], list[str]]: ...

    async def _allStats(self) -> tuple[list[dict[str, Any]], list[str]]: ...

    async def _nodeStats(
        self, node: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]: ...

    async def _inactiveTopics(self) -> tuple[dict[str, list[str]], list[str]]: ...


def _isHTMX(request: IRequest) -> bool:
    return bool(untyped(request).getHeader("HX-Request") == "true")


def sameOrigin(request: IRequest) -> bool:
    """
    Whether a request that changes the cluster (a form, a JSON API call)
    came from a page of nsqadmin itself, not from another web site or
    another application on the same host (which would make an admin's
    browser act): browsers say so in C{Sec-Fetch-Site}; older ones send
    C{Origin}, compared with the host asked (or the proxy's
    C{X-Forwarded-Host}).  Clients that send neither (scripts, curl) are
    not browsers and pass.
    """
    req = untyped(request)
    site = req.getHeader("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = req.getHeader("Origin")
    if origin is None:
        return True
    hosts = {req.getHeader("Host"), req.getHeader("X-Forwarded-Host")}
    return urlsplit(origin).netloc in hosts


def _field(request: IRequest, name: str) -> str:
    # A form field (query or urlencoded body), "" when absent.
    values = untyped(request).args.get(name.encode("utf-8")) or [b""]
    value: bytes = values[0]
    return value.decode("utf-8", "replace").strip()


class WebUI:
    """
    The web UI's pages and actions over an L{AdminHTTPAPI}'s gatherers.

    @ivar paths: the UI's URLs under the base path.
    """

    def __init__(self, api: _API) -> None:
        self.api = api
        self.paths = views.Paths(basePrefix(api.config.base_path))

    @property
    def graphs(self) -> Graphs | None:
        """
        The graphite graphs of the pages, with C{--graphite-url}.
        """
        return Graphs.fromSettings(
            graphite.uiSettings(self.api.config), self.paths.base
        )

    # -- conventions ---------------------------------------------------------

    def _takeFlash(self, request: IRequest) -> views.Flash:
        # The outcome of the last action, shown once: the live refreshes
        # (htmx) leave it for the page itself.
        req = untyped(request)
        raw = req.getCookie(FLASH_COOKIE)
        if not raw or _isHTMX(request):
            return None
        self._setCookie(request, b"", maxAge=0)
        level, _, text = unquote(raw.decode("ascii", "replace")).partition(":")
        if level not in ("ok", "warning", "error"):
            return None
        return level, text

    def _setCookie(
        self, request: IRequest, value: bytes, maxAge: int | None = None
    ) -> None:
        untyped(request).addCookie(
            FLASH_COOKIE,
            value,
            path=(self.paths.base or "/").encode("utf-8"),
            max_age=None if maxAge is None else str(maxAge).encode("ascii"),
            httpOnly=True,
            sameSite="lax",
        )

    def _redirect(
        self, request: IRequest, location: str, level: str, text: str
    ) -> bytes:
        self._setCookie(request, quote(f"{level}:{text}", safe="").encode("ascii"))
        req = untyped(request)
        if _isHTMX(request):
            # htmx follows a 303 itself and would swap the page into the
            # form; this makes the browser load it instead.
            req.setHeader(b"HX-Redirect", location.encode("utf-8"))
            return b""
        req.setResponseCode(303)
        req.setHeader(b"Location", location.encode("utf-8"))
        return b""

    async def _html(self, request: IRequest, tag: Tag, status: int = 200) -> bytes:
        req = untyped(request)
        req.setResponseCode(status)
        req.setHeader(b"Content-Type", _HTML)
        req.setHeader(b"Cache-Control", b"no-store")
        return await views.render(tag)

    async def _error(
        self, request: IRequest, status: int, message: str, back: str = ""
    ) -> bytes:
        return await self._html(
            request, views.errorPage(self.paths, status, message, back), status
        )

    async def _page(
        self, request: IRequest, build: Coroutine[Any, Any, Tag], url: str
    ) -> bytes:
        # Reads that no node answered, or a 404, as HTML pages that keep
        # polling the page's URL.
        whole = not _isHTMX(request)
        try:
            tag = await build
        except UpstreamError as e:
            _log.error("{error}", error=str(e))
            tag = views.errorPage(
                self.paths, 502, f"UPSTREAM_ERROR: {e}", liveURL=url, whole=whole
            )
            return await self._html(request, tag, 502)
        except HTTPError as e:
            tag = views.errorPage(
                self.paths, e.code, e.message, liveURL=url, whole=whole
            )
            return await self._html(request, tag, e.code)
        req = untyped(request)
        if _isHTMX(request) and req.getHeader(views.RECOVERING_HEADER) == "true":
            # An error page polling: reload it whole (see RECOVERING_HEADER).
            req.setHeader(b"HX-Refresh", b"true")
        return await self._html(request, tag)

    def _refusal(self, request: IRequest) -> str:
        """
        Why an action may not run (C{""} when it may): the ACL of the JSON
        API, and forms posted from another site.
        """
        if not self.api._isAdmin(request):
            return "FORBIDDEN"
        if untyped(request).method == b"POST" and not sameOrigin(request):
            return "FORBIDDEN: form posted from another origin"
        return ""

    async def _refuse(self, request: IRequest, message: str, back: str) -> bytes:
        if _isHTMX(request):
            untyped(request).setResponseCode(403)
            return self._redirect(request, back, "error", message)
        return await self._error(request, 403, message, back)

    async def _act(
        self,
        request: IRequest,
        work: Coroutine[Any, Any, list[str]],
        done: str,
        after: str,
        *notifications: tuple[str, str, str, str],
    ) -> bytes:
        try:
            errors = await self.api._perform(request, work, *notifications)
        except UpstreamError as e:
            _log.error("{error}", error=str(e))
            return self._redirect(request, after, "error", f"UPSTREAM_ERROR: {e}")
        if errors:
            return self._redirect(request, after, "warning", ci.warningMessage(errors))
        return self._redirect(request, after, "ok", done)

    # -- pages ---------------------------------------------------------------

    async def streams(self, request: IRequest) -> bytes:
        """
        C{/}: every topic.
        """
        return await self._page(request, self._streams(request), self.paths.url())

    async def _streams(self, request: IRequest) -> Tag:
        flash = self._takeFlash(request)
        topics, errors = await self.api.cluster.topics()
        records, more = await self.api._allStats()
        return views.streamsPage(
            self.paths,
            flash,
            topics,
            records,
            self.api.rates,
            ci.warningMessage(errors + more),
            graphs=self.graphs,
        )

    async def topic(self, request: IRequest, topic: str) -> bytes:
        """
        C{/topics/:topic}.
        """
        return await self._page(
            request, self._topic(request, topic), self.paths.topic(topic)
        )

    async def _topic(self, request: IRequest, topic: str) -> Tag:
        flash = self._takeFlash(request)
        clients: list[dict[str, Any]] = []
        total, errors = await self.api._topicStats(topic, clients)
        return views.topicPage(
            self.paths,
            flash,
            topic,
            total,
            clients,
            self.api.rates,
            ci.warningMessage(errors),
            graphs=self.graphs,
            admin=self.api._isAdmin(request),
        )

    async def channel(self, request: IRequest, topic: str, channel: str) -> bytes:
        """
        C{/topics/:topic/:channel}.
        """
        return await self._page(
            request,
            self._channel(request, topic, channel),
            self.paths.channel(topic, channel),
        )

    async def _channel(self, request: IRequest, topic: str, channel: str) -> Tag:
        flash = self._takeFlash(request)
        total, errors = await self.api._channelStats(topic, channel)
        return views.channelPage(
            self.paths,
            flash,
            topic,
            channel,
            total,
            self.api.rates,
            ci.warningMessage(errors),
            graphs=self.graphs,
            admin=self.api._isAdmin(request),
            now=self.api.cluster.clock.seconds(),
        )

    async def nodes(self, request: IRequest) -> bytes:
        """
        C{/nodes}.
        """
        return await self._page(request, self._nodes(request), self.paths.url("nodes"))

    async def _nodes(self, request: IRequest) -> Tag:
        flash = self._takeFlash(request)
        producers, errors = await self.api.cluster.producers()
        return views.nodesPage(self.paths, flash, producers, ci.warningMessage(errors))

    async def node(self, request: IRequest, node: str) -> bytes:
        """
        C{/nodes/:node}.
        """
        page = _field(request, "page")
        url = self.paths.node(node)
        if page:
            url += "?" + urlencode({"page": page})
        return await self._page(request, self._node(request, node, page), url)

    async def _node(self, request: IRequest, node: str, page: str) -> Tag:
        flash = self._takeFlash(request)
        # With the clients, as Go's node page: each channel lists them.
        producer, records, errors = await self.api._nodeStats(node)
        return views.nodePage(
            self.paths,
            flash,
            node,
            producer,
            records,
            self.api.rates,
            ci.warningMessage(errors),
            canTombstone=bool(self.api.cluster.lookupds),
            admin=self.api._isAdmin(request),
            page=page,
            now=self.api.cluster.clock.seconds(),
        )

    async def counter(self, request: IRequest) -> bytes:
        """
        C{/counter}.
        """
        return await self._page(
            request, self._counter(request), self.paths.url("counter")
        )

    async def _counter(self, request: IRequest) -> Tag:
        flash = self._takeFlash(request)
        records, errors = await self.api._allStats()
        total = 0
        keys = []
        for r in records:
            for c in r["channels"]:
                total += c["message_count"]
                keys.append(("channel", r["topic_name"], c["channel_name"], r["node"]))
        return views.counterPage(
            self.paths,
            flash,
            total,
            self.api.rates.total(keys),
            ci.warningMessage(errors),
        )

    async def lookup(self, request: IRequest) -> bytes:
        """
        C{/lookup}.
        """
        return await self._page(
            request, self._lookup(request), self.paths.url("lookup")
        )

    async def _lookup(self, request: IRequest) -> Tag:
        flash = self._takeFlash(request)
        inactive, errors = await self.api._inactiveTopics()
        return views.lookupPage(
            self.paths,
            flash,
            inactive,
            bool(self.api.cluster.lookupds),
            ci.warningMessage(errors),
            admin=self.api._isAdmin(request),
        )

    # -- actions -------------------------------------------------------------

    async def topicAction(self, request: IRequest, topic: str, channel: str) -> bytes:
        """
        C{/actions/topics/:topic[/:channel]}: C{action} pause, unpause,
        empty or delete, with C{node} (one nsqd's HTTP address) for the
        first three on that nsqd only.  GET: the confirmation; POST: do it.
        """
        paths = self.paths
        action = _field(request, "action")
        node = _field(request, "node")
        kind = "channel" if channel else "topic"
        back = paths.channel(topic, channel) if channel else paths.topic(topic)
        if action not in (_NODE_ACTIONS if node else _TOPIC_ACTIONS):
            return await self._error(request, 400, "INVALID_ACTION", back)
        refusal = self._refusal(request)
        if refusal:
            return await self._refuse(request, refusal, back)
        thing = f"channel {topic}/{channel}" if channel else f"topic {topic}"
        where = f" on {node}" if node else ""
        fields = {"action": action}
        if node:
            fields["node"] = node
        actionURL = paths.topicAction(topic, channel)
        if untyped(request).method != b"POST":
            return await self._html(
                request,
                views.confirmPage(
                    paths, f"Really {action} {thing}{where}?", actionURL, fields, back
                ),
            )
        after = back
        if action == "delete":
            after = paths.topic(topic) if channel else paths.url()
        work: Coroutine[Any, Any, list[str]]
        if node:
            try:
                producers, _ = await self.api.cluster.topicProducers(topic)
            except UpstreamError as e:
                return self._redirect(request, back, "error", f"UPSTREAM_ERROR: {e}")
            if node not in {ci.producerHTTPAddress(p) for p in producers}:
                return self._redirect(
                    request, back, "error", f"NODE_NOT_FOUND: {node} has no {thing}"
                )
            work = self.api.cluster.nodeAction(node, action, topic, channel)
        elif action == "delete":
            work = self.api.cluster.deleteTopic(topic, channel)
        else:
            work = self.api.cluster.topicAction(action, topic, channel)
        return await self._act(
            request,
            work,
            f"{_DONE[action]} {thing}{where}.",
            after,
            (f"{action}_{kind}", topic, channel, node),
        )

    async def nodeAction(self, request: IRequest, node: str) -> bytes:
        """
        C{/actions/nodes/:node}: C{action=tombstone} of C{topic}.  GET: the
        confirmation; POST: do it.
        """
        paths = self.paths
        back = paths.node(node)
        action = _field(request, "action")
        topic = _field(request, "topic")
        if action != "tombstone":
            return await self._error(request, 400, "INVALID_ACTION", back)
        if not isValidTopicName(topic):
            return await self._error(request, 400, "INVALID_TOPIC", back)
        refusal = self._refusal(request)
        if refusal:
            return await self._refuse(request, refusal, back)
        fields = {"action": action, "topic": topic}
        if untyped(request).method != b"POST":
            return await self._html(
                request,
                views.confirmPage(
                    paths,
                    f"Really tombstone topic {topic} on {node}?",
                    paths.nodeAction(node),
                    fields,
                    back,
                ),
            )
        try:
            producers, _ = await self.api.cluster.producers()
        except UpstreamError as e:
            return self._redirect(request, back, "error", f"UPSTREAM_ERROR: {e}")
        if node not in {ci.producerHTTPAddress(p) for p in producers}:
            return self._redirect(request, back, "error", "NODE_NOT_FOUND")
        return await self._act(
            request,
            self.api.cluster.tombstone(topic, node),
            f"Tombstoned topic {topic} on {node}.",
            back,
            ("tombstone_topic_producer", topic, "", node),
        )

    async def create(self, request: IRequest) -> bytes:
        """
        C{POST /actions/create}: C{topic} and optional C{channel}, as C{POST
        /api/topics}.
        """
        back = self.paths.url("lookup")
        refusal = self._refusal(request)
        if refusal:
            return await self._refuse(request, refusal, back)
        topic = _field(request, "topic")
        channel = _field(request, "channel")
        if not isValidTopicName(topic):
            return self._redirect(request, back, "error", "INVALID_TOPIC")
        if channel and not isValidChannelName(channel):
            return self._redirect(request, back, "error", "INVALID_CHANNEL")
        notifications = [("create_topic", topic, "", "")]
        done = f"Created topic {topic}."
        if channel:
            notifications.append(("create_channel", topic, channel, ""))
            done = f"Created topic {topic} and channel {channel}."
        return await self._act(
            request,
            self.api.cluster.createTopicChannel(topic, channel),
            done,
            back,
            *notifications,
        )

    # -- static files --------------------------------------------------------

    def static(self, request: IRequest, name: str) -> bytes:
        """
        C{/static/:name}: the stylesheet, htmx and its licence.
        """
        contentType = _STATIC_TYPES.get(name)
        if contentType is None:
            raise HTTPError(404, "NOT_FOUND")
        req = untyped(request)
        req.setHeader(b"Content-Type", contentType)
        req.setHeader(b"Cache-Control", b"public, max-age=3600")
        return (_STATIC_DIR / name).read_bytes()
