# -*- test-case-name: tests.nsqadmin.test_integration,tests.nsqadmin.test_ui -*-
"""
nsqadmin's JSON API, Go nsqadmin 1.3.0's routes and answers
(C{nsqadmin/http.go}), served by Klein; the web UI's routes too, which
L{txnsq.nsqadmin.ui} answers with the same gatherers and actions.

Every answer is Go's C{http_api.V1}: JSON data, or C{{"message": ...}} with
the error status; L{HTTPError} raised by a route becomes that envelope in
one place (Klein's C{handle_errors}).  Reads that some nodes failed to
answer still succeed, with C{"message": "WARNING: ..."}; reads no node
answered are 502 C{UPSTREAM_ERROR: ...}.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections.abc import Coroutine
from typing import Any

from klein import Klein
from twisted.internet.defer import Deferred, gatherResults
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from txnsq._go.flags import parseLogLevel
from txnsq._go.values import formatDurationNanoseconds
from txnsq._http import HTTPError, respondV1
from txnsq._http._responses import untyped
from txnsq._logging import Logger, setLogLevel
from txnsq.nsqadmin import _clusterinfo as ci
from txnsq.nsqadmin import graphite
from txnsq.nsqadmin._rates import RateTracker
from txnsq.nsqadmin.cluster import Cluster, UpstreamError
from txnsq.nsqadmin.config import AdminConfig
from txnsq.nsqadmin.ui import WebUI, sameOrigin
from txnsq.wire.names import isValidChannelName, isValidTopicName

__all__ = ["LOG_NAMESPACE", "AdminHTTPAPI"]

LOG_NAMESPACE = "txnsq.nsqadmin"

_log = Logger(namespace=LOG_NAMESPACE)

# lg.LogLevel's values, which GET /config/log_level answers (Go encodes the
# integer).
_LOG_LEVEL_NUMBERS = {"debug": 1, "info": 2, "warn": 3, "error": 4, "fatal": 5}

# The largest PUT /config body Go reads.
_CONFIG_BODY_MAX = 1024 * 1024


def _deferred(coroutine: Coroutine[Any, Any, Any]) -> Deferred[Any]:
    return Deferred.fromCoroutine(coroutine)


def _upstream(error: UpstreamError) -> HTTPError:
    _log.error("{error}", error=str(error))
    return HTTPError(502, f"UPSTREAM_ERROR: {error}")


class _LoggedResource(Resource):
    """
    A leaf resource that logs each request once answered, as Go's
    C{http_api.Log} does: C{200 GET /api/topics (127.0.0.1:51234) 2.1ms}.
    """

    isLeaf = True

    def __init__(self, wrapped: IResource) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._wrapped = wrapped

    def render(self, request: IRequest) -> Any:
        start = time.perf_counter_ns()
        req = untyped(request)

        def log(_: object) -> None:
            client = req.getClientAddress()
            _log.info(
                "{status} {method} {uri} ({remote}) {elapsed}",
                status=req.code,
                method=req.method.decode("latin-1"),
                uri=req.uri.decode("latin-1"),
                remote=f"{getattr(client, 'host', '')}:{getattr(client, 'port', '')}",
                elapsed=formatDurationNanoseconds(time.perf_counter_ns() - start),
            )

        req.notifyFinish().addBoth(log)
        return self._wrapped.render(request)


class AdminHTTPAPI:
    """
    The routes of Go nsqadmin's JSON API over a L{Cluster}.

    @ivar config: the options (C{PUT /config} changes them).
    @ivar cluster: the cluster's nodes.
    @ivar rates: the message rates, fed by every read of the stats.
    @ivar ui: the web UI, whose routes are here too.
    """

    app = Klein()

    def __init__(self, config: AdminConfig, cluster: Cluster) -> None:
        self.config = config
        self.cluster = cluster
        # Each read of the nsqds' stats feeds it; the UI shows its rates.
        self.rates = RateTracker()
        self.ui = WebUI(self)

    def resource(self) -> IResource:
        """
        The root resource: the routes under C{--base-path}.
        """
        leaf: IResource = _LoggedResource(self.app.resource())
        segments = [s for s in self.config.base_path.split("/") if s]
        if not segments:
            return leaf
        root = Resource()
        parent = root
        for segment in segments[:-1]:
            child = Resource()
            parent.putChild(segment.encode("utf-8"), child)
            parent = child
        parent.putChild(segments[-1].encode("utf-8"), leaf)
        return root

    # -- conventions ---------------------------------------------------------

    @app.handle_errors(HTTPError)
    def _httpError(self, request: IRequest, failure: Failure) -> bytes:
        error = failure.value
        assert isinstance(error, HTTPError)
        return respondV1(request, error.code, error.message)

    @app.handle_errors(NotFound)
    def _notFound(self, request: IRequest, failure: Failure) -> bytes:
        # Go's LogNotFoundHandler.
        return respondV1(request, 404, "NOT_FOUND")

    @app.handle_errors(MethodNotAllowed)
    def _methodNotAllowed(self, request: IRequest, failure: Failure) -> bytes:
        # Go's LogMethodNotAllowedHandler.
        return respondV1(request, 405, "METHOD_NOT_ALLOWED")

    @app.handle_errors(Exception)
    def _internalError(self, request: IRequest, failure: Failure) -> bytes:
        req = untyped(request)
        error = failure.value
        if isinstance(error, RequestRedirect):
            # A wrong trailing slash: httprouter's redirect, 301 for GET
            # and 307 otherwise (so that the body is sent again).
            req.setResponseCode(301 if req.method == b"GET" else 307)
            req.setHeader(b"Location", error.new_url.encode("utf-8"))
            return b""
        if isinstance(error, HTTPException):
            return respondV1(request, error.code or 500, error.name.upper())
        # Go's recovered panic.
        _log.failure("request failed", failure)
        return respondV1(request, 500, "INTERNAL_ERROR")

    def _isAdmin(self, request: IRequest) -> bool:
        # Go's isAuthorizedAdminRequest: without --admin-user everyone is.
        if not self.config.admin_users:
            return True
        user = untyped(request).getHeader(self.config.acl_http_header)
        return user in self.config.admin_users

    def _requireAdmin(self, request: IRequest) -> None:
        # Every call that changes the cluster.  Go checks the ACL only; a
        # browser can also be made to POST a JSON body (as text/plain) by
        # another site, so such cross-origin requests are refused too
        # (nsqadmin's pages, curl and scripts are not cross-origin).
        if not self._isAdmin(request):
            raise HTTPError(403, "FORBIDDEN")
        if not sameOrigin(request):
            raise HTTPError(403, "FORBIDDEN: cross-origin request")

    @staticmethod
    def _body(request: IRequest) -> dict[str, Any]:
        try:
            body = json.loads(untyped(request).content.read())
        except ValueError:
            raise HTTPError(400, "INVALID_BODY") from None
        if not isinstance(body, dict):
            raise HTTPError(400, "INVALID_BODY")
        return body

    @staticmethod
    def _string(body: dict[str, Any], key: str) -> str:
        # Go decodes into a string field: another JSON type is a bad body.
        value = body.get(key, "")
        if not isinstance(value, str):
            raise HTTPError(400, "INVALID_BODY")
        return value

    # -- routes --------------------------------------------------------------

    @app.route("/ping", methods=["GET"])
    def ping(self, request: IRequest) -> bytes:
        """
        C{GET /ping}: C{OK} while the daemon runs.
        """
        return respondV1(request, 200, "OK")

    @app.route("/api/topics", methods=["GET"])
    def topics(self, request: IRequest) -> Deferred[Any]:
        """
        C{GET /api/topics}: C{{"topics": [...], "message": ...}}.  With
        C{?inactive=true}, C{{"topics": {topic: [channel...]}}} for the
        topics that no nsqd has (registered with nsqlookupd only).
        """
        inactive = untyped(request).args.get(b"inactive", [b""])[0] == b"true"
        return _deferred(self._topics(request, inactive))

    async def _topics(self, request: IRequest, inactive: bool) -> bytes:
        try:
            if inactive:
                topics, errors = await self._inactiveTopics()
                # Go's nil slice for a topic without channels: null.
                answer = {topic: names or None for topic, names in topics.items()}
                return respondV1(
                    request,
                    200,
                    {"topics": answer, "message": ci.warningMessage(errors)},
                )
            names, errors = await self.cluster.topics()
        except UpstreamError as e:
            raise _upstream(e) from None
        return respondV1(
            request, 200, {"topics": names, "message": ci.warningMessage(errors)}
        )

    async def _inactiveTopics(self) -> tuple[dict[str, list[str]], list[str]]:
        """
        Go's C{?inactive=true}: the topics nsqlookupd knows that no nsqd
        produces, with the channels nsqlookupd knows for them.
        """
        topics, errors = await self.cluster.topics()
        inactive: dict[str, list[str]] = {}
        if not self.cluster.lookupds:
            return inactive, errors
        # Go asks each nsqlookupd for each topic's producers (/lookup);
        # the nsqds and their topics (/nodes, one request per nsqlookupd)
        # say the same for every topic at once: 500 topics, 1 request.
        try:
            producers, _ = await self.cluster.producers()
        except UpstreamError:
            # Go ignores these errors: no producer, every topic inactive.
            producers = []
        producing = {
            t["topic"] for p in producers for t in p["topics"] if not t["tombstoned"]
        }
        idle = [topic for topic in topics if topic not in producing]
        channels = await gatherResults(
            [_deferred(self.cluster.topicChannels(topic)) for topic in idle]
        )
        inactive = dict(zip(idle, channels))
        return inactive, errors

    @app.route("/api/topics", methods=["POST"])
    def createTopicChannel(self, request: IRequest) -> Deferred[Any]:
        """
        C{POST /api/topics} C{{"topic": ..., "channel": ...}}: create the
        topic (and channel) on every nsqlookupd, the channel on the nsqds
        that have the topic.
        """
        self._requireAdmin(request)
        body = self._body(request)
        topic = self._string(body, "topic")
        channel = self._string(body, "channel")
        if not isValidTopicName(topic):
            raise HTTPError(400, "INVALID_TOPIC")
        if channel and not isValidChannelName(channel):
            raise HTTPError(400, "INVALID_CHANNEL")
        notifications = [("create_topic", topic, "", "")]
        if channel:
            notifications.append(("create_channel", topic, channel, ""))
        return _deferred(
            self._message(
                request,
                self.cluster.createTopicChannel(topic, channel),
                *notifications,
            )
        )

    async def _message(
        self,
        request: IRequest,
        action: Coroutine[Any, Any, list[str]],
        *notifications: tuple[str, str, str, str],
    ) -> bytes:
        try:
            errors = await self._perform(request, action, *notifications)
        except UpstreamError as e:
            raise _upstream(e) from None
        return respondV1(request, 200, {"message": ci.warningMessage(errors)})

    async def _perform(
        self,
        request: IRequest,
        action: Coroutine[Any, Any, list[str]],
        *notifications: tuple[str, str, str, str],
    ) -> list[str]:
        """
        Run an admin action (the JSON API's or the UI's), then send its
        notifications; the partial errors.

        @raise UpstreamError: no node answered.
        """
        errors = await action
        # Go notifies once the action went through, even partly.
        for notification in notifications:
            self._notify(request, *notification)
        return errors

    def _notify(
        self, request: IRequest, action: str, topic: str, channel: str, node: str
    ) -> None:
        """
        Go's C{notifyAdminAction}: POST the action to
        C{--notification-http-endpoint}, if set, without waiting for it.
        """
        endpoint = self.config.notification_http_endpoint
        if not endpoint:
            return
        req = untyped(request)

        def header(name: str) -> str:
            value = req.getHeader(name)
            return "" if value is None else str(value)

        scheme = "https" if req.isSecure() or header("X-Scheme") == "https" else "http"
        client = req.getClientAddress()
        payload = ci.adminAction(
            action,
            topic,
            channel,
            node,
            int(self.cluster.clock.seconds()),
            ci.basicAuthUser(header("Authorization")),
            f"{getattr(client, 'host', '')}:{getattr(client, 'port', '')}",
            header("User-Agent"),
            f"{scheme}://{header('Host')}{req.uri.decode('utf-8', 'replace')}",
            socket.gethostname(),
        )
        # Fire and forget, as Go's goroutine: notify never fails.
        _deferred(self.cluster.notify(endpoint, payload))

    @app.route("/api/topics/<string:topic>", methods=["GET"])
    def topic(self, request: IRequest, topic: str) -> Deferred[Any]:
        """
        C{GET /api/topics/:topic}: the topic's stats summed over its nsqds
        (C{node} is C{*}), each nsqd's in C{nodes}, its channels'.
        """
        return _deferred(self._topic(request, topic))

    async def _topic(self, request: IRequest, topic: str) -> bytes:
        try:
            total, errors = await self._topicStats(topic)
        except UpstreamError as e:
            raise _upstream(e) from None
        total["message"] = ci.warningMessage(errors)
        return respondV1(request, 200, ci.goTopicAnswer(total))

    async def _topicStats(
        self, topic: str, clients: list[dict[str, Any]] | None = None
    ) -> tuple[dict[str, Any], list[str]]:
        # The topic summed over its nsqds (and their publishing
        # connections into clients, if given); the partial errors.
        producers, errors = await self.cluster.topicProducers(topic)
        records, more = await self.cluster.nodeStats(producers, topic, clients)
        self._sample(records)
        return ci.aggregateTopic(topic, records), errors + more

    @app.route("/api/topics/<string:topic>/<string:channel>", methods=["GET"])
    def channel(self, request: IRequest, topic: str, channel: str) -> Deferred[Any]:
        """
        C{GET /api/topics/:topic/:channel}: the channel's stats summed over
        the nsqds that have it, each nsqd's in C{nodes}, with its clients.
        """
        return _deferred(self._channel(request, topic, channel))

    async def _channel(self, request: IRequest, topic: str, channel: str) -> bytes:
        try:
            total, errors = await self._channelStats(topic, channel)
        except UpstreamError as e:
            raise _upstream(e) from None
        return respondV1(
            request, 200, ci.goChannelAnswer(total, ci.warningMessage(errors))
        )

    async def _channelStats(
        self, topic: str, channel: str
    ) -> tuple[dict[str, Any], list[str]]:
        producers, errors = await self.cluster.topicProducers(topic)
        records, more = await self.cluster.nodeStats(producers, topic)
        self._sample(records)
        nodes = [
            c
            for record in records
            for c in record["channels"]
            if c["channel_name"] == channel
        ]
        return ci.aggregateChannel(topic, channel, nodes), errors + more

    async def _allStats(self) -> tuple[list[dict[str, Any]], list[str]]:
        # Every nsqd's every topic record, without the clients (as Go's
        # counter asks: the answers of a large cluster are much smaller);
        # the partial errors.
        producers, errors = await self.cluster.producers()
        records, more = await self.cluster.nodeStats(producers, includeClients=False)
        self._sample(records)
        return records, errors + more

    def _sample(self, records: list[dict[str, Any]]) -> None:
        # Every read of the stats feeds the rates (beyond Go: rates
        # without graphite).
        now = self.cluster.clock.seconds()
        record = self.rates.record
        for r in records:
            topic, node = r["topic_name"], r["node"]
            record(("topic", topic, node), r["message_count"], now)
            for c in r["channels"]:
                record(
                    ("channel", topic, c["channel_name"], node), c["message_count"], now
                )

    @app.route("/api/topics/<string:topic>", methods=["POST"])
    def topicAction(self, request: IRequest, topic: str) -> Deferred[Any]:
        """
        C{POST /api/topics/:topic} C{{"action": "pause|unpause|empty"}}.
        """
        return self._action(request, topic, "")

    @app.route("/api/topics/<string:topic>/<string:channel>", methods=["POST"])
    def channelAction(
        self, request: IRequest, topic: str, channel: str
    ) -> Deferred[Any]:
        """
        C{POST /api/topics/:topic/:channel} C{{"action":
        "pause|unpause|empty"}}.
        """
        return self._action(request, topic, channel)

    def _action(self, request: IRequest, topic: str, channel: str) -> Deferred[Any]:
        self._requireAdmin(request)
        action = self._string(self._body(request), "action")
        if action not in ("pause", "unpause", "empty"):
            raise HTTPError(400, "INVALID_ACTION")
        kind = "channel" if channel else "topic"
        return _deferred(
            self._message(
                request,
                self.cluster.topicAction(action, topic, channel),
                (f"{action}_{kind}", topic, channel, ""),
            )
        )

    @app.route("/api/topics/<string:topic>", methods=["DELETE"])
    def deleteTopic(self, request: IRequest, topic: str) -> Deferred[Any]:
        """
        C{DELETE /api/topics/:topic}: from every nsqlookupd and every nsqd
        that has it.
        """
        self._requireAdmin(request)
        return _deferred(
            self._message(
                request,
                self.cluster.deleteTopic(topic),
                ("delete_topic", topic, "", ""),
            )
        )

    @app.route("/api/topics/<string:topic>/<string:channel>", methods=["DELETE"])
    def deleteChannel(
        self, request: IRequest, topic: str, channel: str
    ) -> Deferred[Any]:
        """
        C{DELETE /api/topics/:topic/:channel}: from every nsqlookupd and
        every nsqd that has the topic.
        """
        self._requireAdmin(request)
        return _deferred(
            self._message(
                request,
                self.cluster.deleteTopic(topic, channel),
                ("delete_channel", topic, channel, ""),
            )
        )

    @app.route("/api/nodes", methods=["GET"])
    def nodes(self, request: IRequest) -> Deferred[Any]:
        """
        C{GET /api/nodes}: C{{"nodes": [producer...], "message": ...}}.
        """
        return _deferred(self._nodes(request))

    async def _nodes(self, request: IRequest) -> bytes:
        try:
            producers, errors = await self.cluster.producers()
        except UpstreamError as e:
            raise _upstream(e) from None
        return respondV1(
            request, 200, {"nodes": producers, "message": ci.warningMessage(errors)}
        )

    @app.route("/api/nodes/<string:node>", methods=["GET"])
    def node(self, request: IRequest, node: str) -> Deferred[Any]:
        """
        C{GET /api/nodes/:node}: one nsqd's topics (C{node} is its
        C{broadcast_address:http_port}), C{total_messages},
        C{total_clients}; 404 C{NODE_NOT_FOUND} for an unknown node.
        """
        return _deferred(self._node(request, node))

    async def _node(self, request: IRequest, node: str) -> bytes:
        try:
            _, records, errors = await self._nodeStats(node)
        except UpstreamError as e:
            raise _upstream(e) from None
        return respondV1(
            request,
            200,
            {
                "node": node,
                "topics": records,
                "total_messages": sum(r["message_count"] for r in records),
                "total_clients": sum(
                    len(c["clients"]) for r in records for c in r["channels"]
                ),
                "message": ci.warningMessage(errors),
            },
        )

    async def _nodeStats(
        self, node: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
        """
        One nsqd (its HTTP address): its producer entry, its topic records
        with the channels' clients (the JSON API and the UI's node page
        both list them, as Go's), the partial errors.

        @raise HTTPError: 404 C{NODE_NOT_FOUND}.
        """
        producers, errors = await self.cluster.producers()
        found = [p for p in producers if ci.producerHTTPAddress(p) == node]
        if not found:
            raise HTTPError(404, "NODE_NOT_FOUND")
        records, more = await self.cluster.nodeStats(found)
        self._sample(records)
        return found[0], records, errors + more

    @app.route("/api/nodes/<string:node>", methods=["DELETE"])
    def tombstone(self, request: IRequest, node: str) -> Deferred[Any]:
        """
        C{DELETE /api/nodes/:node} C{{"topic": ...}}: tombstone the node's
        registration of the topic on every nsqlookupd.
        """
        self._requireAdmin(request)
        topic = self._string(self._body(request), "topic")
        if not isValidTopicName(topic):
            raise HTTPError(400, "INVALID_TOPIC")
        return _deferred(
            self._message(
                request,
                self.cluster.tombstone(topic, node),
                ("tombstone_topic_producer", topic, "", node),
            )
        )

    @app.route("/api/counter", methods=["GET"])
    def counter(self, request: IRequest) -> Deferred[Any]:
        """
        C{GET /api/counter}: C{{"stats": {"topic:channel:node": {...}}}},
        each channel's C{message_count} per nsqd.
        """
        return _deferred(self._counter(request))

    async def _counter(self, request: IRequest) -> bytes:
        try:
            records, errors = await self._allStats()
        except UpstreamError as e:
            raise _upstream(e) from None
        # Go's counterStats: four fields per topic:channel:node, in a map
        # (which Go writes with its keys sorted).
        stats: dict[str, dict[str, Any]] = {}
        for record in records:
            topic = record["topic_name"]
            for channel in record["channels"]:
                name, node = channel["channel_name"], channel["node"]
                entry = stats.setdefault(
                    f"{topic}:{name}:{node}",
                    {
                        "node": node,
                        "topic_name": topic,
                        "channel_name": name,
                        "message_count": 0,
                    },
                )
                entry["message_count"] += channel["message_count"]
        return respondV1(
            request,
            200,
            {
                "stats": dict(sorted(stats.items())),
                "message": ci.warningMessage(errors),
            },
        )

    @app.route("/api/graphite", methods=["GET"])
    def graphiteRate(self, request: IRequest) -> Deferred[Any]:
        """
        C{GET /api/graphite?metric=rate&target=...}: see L{graphite.rate}.
        """
        return _deferred(graphite.rate(request, self.config, self.cluster))

    @app.route("/render", methods=["GET"])
    def graphiteRender(self, request: IRequest) -> Deferred[Any]:
        """
        C{GET /render}: graphite's, with C{--proxy-graphite} (see
        L{graphite.proxyRender}); 404 otherwise, as in Go.
        """
        if not self.config.proxy_graphite:
            raise NotFound()
        return _deferred(graphite.proxyRender(request, self.config, self.cluster))

    # -- the web UI (txnsq.nsqadmin.ui) --------------------------------------

    @app.route("/", methods=["GET"])
    def uiStreams(self, request: IRequest) -> Deferred[Any]:
        """
        C{GET /}: the streams page (every topic).
        """
        return _deferred(self.ui.streams(request))

    @app.route("/topics", methods=["GET"])
    def uiTopics(self, request: IRequest) -> Deferred[Any]:
        """
        C{GET /topics}: the streams page too, as in Go.
        """
        return _deferred(self.ui.streams(request))

    @app.route("/topics/<string:topic>", methods=["GET"])
    def uiTopic(self, request: IRequest, topic: str) -> Deferred[Any]:
        """
        C{GET /topics/:topic}: a topic's page.
        """
        return _deferred(self.ui.topic(request, topic))

    @app.route("/topics/<string:topic>/<string:channel>", methods=["GET"])
    def uiChannel(self, request: IRequest, topic: str, channel: str) -> Deferred[Any]:
        """
        C{GET /topics/:topic/:channel}: a channel's page.
        """
        return _deferred(self.ui.channel(request, topic, channel))

    @app.route("/nodes", methods=["GET"])
    def uiNodes(self, request: IRequest) -> Deferred[Any]:
        """
        C{GET /nodes}: every nsqd.
        """
        return _deferred(self.ui.nodes(request))

    @app.route("/nodes/<string:node>", methods=["GET"])
    def uiNode(self, request: IRequest, node: str) -> Deferred[Any]:
        """
        C{GET /nodes/:node}: one nsqd's page.
        """
        return _deferred(self.ui.node(request, node))

    @app.route("/counter", methods=["GET"])
    def uiCounter(self, request: IRequest) -> Deferred[Any]:
        """
        C{GET /counter}: the live message counter.
        """
        return _deferred(self.ui.counter(request))

    @app.route("/lookup", methods=["GET"])
    def uiLookup(self, request: IRequest) -> Deferred[Any]:
        """
        C{GET /lookup}: inactive topics; creating a topic or channel.
        """
        return _deferred(self.ui.lookup(request))

    @app.route("/actions/topics/<string:topic>", methods=["GET", "POST"])
    def uiTopicAction(self, request: IRequest, topic: str) -> Deferred[Any]:
        """
        The UI's topic actions (see L{WebUI.topicAction}).
        """
        return _deferred(self.ui.topicAction(request, topic, ""))

    @app.route(
        "/actions/topics/<string:topic>/<string:channel>", methods=["GET", "POST"]
    )
    def uiChannelAction(
        self, request: IRequest, topic: str, channel: str
    ) -> Deferred[Any]:
        """
        The UI's channel actions (see L{WebUI.topicAction}).
        """
        return _deferred(self.ui.topicAction(request, topic, channel))

    @app.route("/actions/nodes/<string:node>", methods=["GET", "POST"])
    def uiNodeAction(self, request: IRequest, node: str) -> Deferred[Any]:
        """
        The UI's tombstone action (see L{WebUI.nodeAction}).
        """
        return _deferred(self.ui.nodeAction(request, node))

    @app.route("/actions/create", methods=["POST"])
    def uiCreate(self, request: IRequest) -> Deferred[Any]:
        """
        The UI's create form (see L{WebUI.create}).
        """
        return _deferred(self.ui.create(request))

    @app.route("/static/<string:name>", methods=["GET"])
    def uiStatic(self, request: IRequest, name: str) -> bytes:
        """
        C{GET /static/:name}: the UI's stylesheet and script.
        """
        return self.ui.static(request, name)

    @app.route("/config/<string:opt>", methods=["GET", "PUT"])
    def config_(self, request: IRequest, opt: str) -> bytes:
        """
        C{GET /config/:opt}, C{PUT /config/:opt}: from
        C{--allow-config-from-cidr} only; C{PUT} sets
        C{nsqlookupd_http_addresses} (a JSON list) or C{log_level}.
        """
        self._checkConfigClient(request)
        if untyped(request).method == b"PUT":
            self._putConfig(request, opt)
        return respondV1(request, 200, self._configValue(opt))

    def _checkConfigClient(self, request: IRequest) -> None:
        cidr = self.config.allow_config_from_cidr
        if not cidr:
            return
        network = ipaddress.ip_network(cidr, strict=False)
        host = getattr(untyped(request).getClientAddress(), "host", None)
        try:
            address = ipaddress.ip_address(str(host))
        except ValueError:
            raise HTTPError(400, "INVALID_CLIENT_IP") from None
        if address not in network:
            raise HTTPError(403, "FORBIDDEN")

    def _putConfig(self, request: IRequest, opt: str) -> None:
        body = untyped(request).content.read(_CONFIG_BODY_MAX + 1)
        if not body or len(body) > _CONFIG_BODY_MAX:
            raise HTTPError(413, "INVALID_VALUE")
        if opt == "nsqlookupd_http_addresses":
            try:
                value = json.loads(body)
            except ValueError:
                raise HTTPError(400, "INVALID_VALUE") from None
            if not isinstance(value, list) or not all(
                isinstance(v, str) for v in value
            ):
                raise HTTPError(400, "INVALID_VALUE")
            self.config.lookupd_http_addresses = value
            self.cluster.lookupds = list(value)
        elif opt == "log_level":
            try:
                level = parseLogLevel(body.decode("utf-8", "replace"))
            except ValueError:
                raise HTTPError(400, "INVALID_VALUE") from None
            self.config.log_level = level
            setLogLevel(LOG_NAMESPACE, level)
        else:
            raise HTTPError(400, "INVALID_OPTION")

    def _configValue(self, opt: str) -> Any:
        # Go's getOptByCfgName: any option, by its config-file name.
        if opt == "log_level":
            return _LOG_LEVEL_NUMBERS[self.config.log_level]
        if opt == "nsqlookupd_http_addresses":
            return self.config.lookupd_http_addresses
        # Go's config name for the lookupds is nsqlookupd_http_addresses.
        if opt == "lookupd_http_addresses" or not hasattr(self.config, opt):
            raise HTTPError(400, "INVALID_OPTION")
        value = getattr(self.config, opt)
        if opt.endswith("_timeout") or opt == "statsd_interval":
            # time.Duration encodes as nanoseconds.
            return round(value * 1e9)
        return value
