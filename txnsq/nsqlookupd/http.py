# -*- test-case-name: tests.nsqlookupd.test_http -*-
"""
nsqlookupd's HTTP API, as Go nsqlookupd 1.3.0 serves it.

Consumers ask C{/lookup?topic=} which nsqds have a topic; nsqd asks
C{/channels?topic=} when it creates a topic; nsqadmin uses the rest.  The
create/delete/tombstone endpoints only edit this nsqlookupd's registry:
they never contact an nsqd.  C{GET /metrics} is txnsq's own (Go nsqlookupd
has none): Prometheus metrics of the registrations
(L{txnsq.metrics.prometheus}).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from txnsq import NSQ_VERSION
from txnsq._http import (
    PLAIN_TEXT,
    RAW,
    GoRouter,
    HTTPError,
    RawResponse,
    RequestParams,
    Routes,
)
from txnsq._logging import Logger
from txnsq.metrics.prometheus import LookupdMetrics
from txnsq.nsqlookupd.registry import RegistrationDB
from txnsq.wire.names import isValidName

__all__ = ["LookupdHTTPAPI"]

_log = Logger(namespace="txnsq.nsqlookupd.http")


class LookupdHTTPAPI:
    """
    The routes of nsqlookupd's HTTP API over a L{RegistrationDB}.

    Go's C{/debug/pprof} routes are not served: they describe the Go
    runtime.  Every request is logged at INFO as Go's C{http_api.Log}
    does: C{200 GET /lookup?topic=t (127.0.0.1:51234) 61.2µs}.

    @ivar registry: the registrations.
    @ivar clock: the time source for expiry and tombstones.
    @ivar metrics: what C{/metrics} renders.
    """

    routes = Routes(log=_log)

    def __init__(
        self,
        registry: RegistrationDB,
        clock: IReactorTime,
        version: str = NSQ_VERSION,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.version = version
        self.metrics = LookupdMetrics(
            registry, clock.seconds, startTime=clock.seconds()
        )

    def resource(self) -> IResource:
        """
        The root resource to serve, with Go's router behaviour.
        """
        return GoRouter.forRoutes(self.routes, self)

    @routes.route("GET", "/ping", PLAIN_TEXT)
    def ping(self, request: IRequest) -> str:
        """
        C{GET /ping}: C{OK} (text/plain) while the daemon runs.
        """
        return "OK"

    @routes.route("GET", "/info")
    def info(self, request: IRequest) -> dict[str, Any]:
        """
        C{GET /info}: the version.
        """
        return {"version": self.version}

    @routes.route("GET", "/metrics", RAW)
    def metricsPage(self, request: IRequest) -> RawResponse:
        """
        C{GET /metrics}: Prometheus' text format, gzipped when the scraper
        accepts it.
        """
        acceptEncoding = request.getHeader(b"accept-encoding") or b""
        page = self.metrics.render(acceptEncoding.decode("latin-1"))
        return RawResponse(page.body, page.headers())

    @routes.route("GET", "/debug")
    def debug(self, request: IRequest) -> dict[str, Any]:
        """
        C{GET /debug}: every registration that has producers.
        """
        return self.registry.debug()

    @routes.route("GET", "/lookup")
    def lookup(self, request: IRequest) -> dict[str, Any]:
        """
        C{GET /lookup?topic=}: the topic's channels and active producers.
        """
        topic = RequestParams.fromRequest(request).topic()
        found = self.registry.lookup(topic, self.clock.seconds())
        if found is None:
            raise HTTPError(404, "TOPIC_NOT_FOUND")
        channels, peers = found
        return {
            "channels": channels,
            "producers": [peer.asJSON() for peer in peers],
        }

    @routes.route("GET", "/topics")
    def topics(self, request: IRequest) -> dict[str, Any]:
        """
        C{GET /topics}: every known topic.
        """
        return {"topics": self.registry.topics()}

    @routes.route("GET", "/channels")
    def channels(self, request: IRequest) -> dict[str, Any]:
        """
        C{GET /channels?topic=}: the topic's known channels.
        """
        topic = RequestParams.fromRequest(request).topic()
        return {"channels": self.registry.channels(topic)}

    @routes.route("GET", "/nodes")
    def nodes(self, request: IRequest) -> dict[str, Any]:
        """
        C{GET /nodes}: the active nsqds, their topics and tombstones.
        """
        return {"producers": self.registry.nodes(self.clock.seconds())}

    @routes.route("POST", "/topic/create")
    def topicCreate(self, request: IRequest) -> None:
        """
        C{POST /topic/create?topic=}.
        """
        topic = RequestParams.fromRequest(request).topic()
        if not isValidName(topic):
            raise HTTPError(400, "INVALID_ARG_TOPIC")
        self.registry.createTopic(topic)

    @routes.route("POST", "/topic/delete")
    def topicDelete(self, request: IRequest) -> None:
        """
        C{POST /topic/delete?topic=}: drops the topic and its channels;
        succeeds even if absent (the name is not validated).
        """
        topic = RequestParams.fromRequest(request).topic()
        self.registry.deleteTopic(topic)

    @routes.route("POST", "/topic/tombstone")
    def topicTombstone(self, request: IRequest) -> None:
        """
        C{POST /topic/tombstone?topic=&node=<broadcast_address>:<http_port>}.
        """
        params = RequestParams.fromRequest(request)
        topic = params.topic()
        node = params.get("node")
        if node is None:
            raise HTTPError(400, "MISSING_ARG_NODE")
        self.registry.tombstoneTopicProducer(topic, node, self.clock.seconds())

    @routes.route("POST", "/channel/create")
    def channelCreate(self, request: IRequest) -> None:
        """
        C{POST /channel/create?topic=&channel=}: adds the channel and topic.
        """
        topic, channel = RequestParams.fromRequest(request).topicAndChannel()
        self.registry.createChannel(topic, channel)

    @routes.route("POST", "/channel/delete")
    def channelDelete(self, request: IRequest) -> None:
        """
        C{POST /channel/delete?topic=&channel=}.
        """
        topic, channel = RequestParams.fromRequest(request).topicAndChannel()
        if not self.registry.deleteChannel(topic, channel):
            raise HTTPError(404, "CHANNEL_NOT_FOUND")
