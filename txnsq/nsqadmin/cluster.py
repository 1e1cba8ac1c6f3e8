# -*- test-case-name: tests.nsqadmin.test_integration -*-
"""
Go's C{internal/clusterinfo}, the I/O half: every nsqlookupd and nsqd is
asked at once over HTTP (a L{TreqClient}: treq on its own quiet
connection pool, which also reaches nodes given or broadcast as IPv6
literals, C{[::1]:4151}) and the answers go to the pure aggregation of
L{txnsq.nsqadmin._clusterinfo}.

Errors follow Go's: a failure of some of the nodes asked is a
L{PartialError} (the answer still carries what the others said, and
nsqadmin adds C{"WARNING: ..."} to its answer); a failure of all of them
is an L{UpstreamError} (502 C{UPSTREAM_ERROR}).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

import treq
from twisted.internet.defer import Deferred, DeferredSemaphore, gatherResults
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure
from twisted.web.client import URI
from twisted.web.http_headers import Headers
from twisted.web.iweb import IPolicyForHTTPS

from txnsq._http import QuietConnectionPool, TreqClient
from txnsq._logging import Logger
from txnsq.nsqadmin import _clusterinfo as ci

__all__ = ["Cluster", "PartialError", "UpstreamError"]

_log = Logger(namespace="txnsq.nsqadmin")

T = TypeVar("T")

# Go's GETV1 asks for the V1 envelope.
_JSON_TYPE: dict[bytes | str, bytes | str] = {"Content-Type": "application/json"}
_ACCEPT: dict[bytes | str, bytes | str] = {"Accept": "application/vnd.nsq; version=1.0"}


def _describe(error: Exception) -> str:
    # A failed TLS handshake is a list of OpenSSL errors inside
    # ResponseNeverReceived: say which.
    reasons = getattr(error, "reasons", None)
    if reasons:
        return "; ".join(
            reason.getErrorMessage() if isinstance(reason, Failure) else str(reason)
            for reason in reasons
        )
    return str(error)


def _withoutUserInfo(url: str) -> tuple[str, dict[bytes | str, bytes | str]]:
    """
    C{url} without its C{user:password@}, and the request headers: Go's
    client sends that user as HTTP Basic auth (Twisted's would refuse
    the URL).
    """
    headers = dict(_ACCEPT)
    parts = urlsplit(url)
    if parts.username is None:
        return url, headers
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    headers["Authorization"] = b"Basic " + base64.b64encode(credentials.encode("utf-8"))
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc)), headers


def _httpsURL(url: str, body: bytes) -> str:
    """
    Go's C{httpsEndpoint}: C{url} over HTTPS on the port a C{403} answer
    names.

    @raise UpstreamError: the answer names no port.
    """
    try:
        port = int(json.loads(body)["https_port"])
    except (ValueError, KeyError, TypeError):
        raise UpstreamError(
            f"got response 403 {json.dumps(body.decode('utf-8', 'replace'))}"
        ) from None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return urlunsplit(("https", f"{host}:{port}", parts.path, parts.query, ""))


#: Requests to one node at a time (and connections kept per node).
_PER_HOST = 8


class UpstreamError(Exception):
    """
    No node answered (Go's plain C{error} from clusterinfo).
    """


class PartialError(Exception):
    """
    Some nodes did not answer (Go's C{clusterinfo.PartialErr}).

    @ivar errors: one text per failure.
    """

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)


class Cluster:
    """
    Reads and changes a cluster over HTTP.

    @ivar lookupds: the nsqlookupd HTTP addresses (may be empty).
    @ivar nsqds: the nsqd HTTP addresses (used when there are no
        nsqlookupds).
    @ivar clock: the reactor, as a clock.
    """

    def __init__(
        self,
        reactor: IReactorTime,
        lookupds: Sequence[str],
        nsqds: Sequence[str],
        connectTimeout: float,
        requestTimeout: float,
        tlsPolicy: IPolicyForHTTPS | None = None,
    ) -> None:
        """
        @param tlsPolicy: how HTTPS connections to nsqds check them (see
            L{txnsq.nsqadmin._tls}); Twisted's browser-like default if
            omitted.
        """
        self.clock = reactor
        self.lookupds = list(lookupds)
        self.nsqds = list(nsqds)
        self._timeout = requestTimeout
        # Its own pool, never treq's global one (see txnsq._http._client).
        # Pages ask one node many things at once (a channel per topic):
        # at most _PER_HOST requests per node run together, on connections
        # kept for the next ones.
        self._pool = QuietConnectionPool(reactor)
        self._pool.maxPersistentPerHost = _PER_HOST
        self._limits: dict[tuple[bytes, int], DeferredSemaphore] = {}
        self._http = TreqClient(
            reactor, connectTimeout, tlsPolicy=tlsPolicy, pool=self._pool
        )
        # Go's graphite proxy: its own transport, the timeouts but not the
        # TLS options, and redirects passed to the browser.
        self._plain = TreqClient(reactor, connectTimeout, pool=self._pool)

    def _limit(self, url: str) -> DeferredSemaphore:
        parsed = URI.fromBytes(url.encode("utf-8"))
        key = (parsed.host, parsed.port)
        limit = self._limits.get(key)
        if limit is None:
            limit = self._limits[key] = DeferredSemaphore(_PER_HOST)
        return limit

    def close(self) -> Deferred[Any]:
        """
        Close the pooled connections.
        """
        d: Deferred[Any] = self._pool.closeCachedConnections()  # type: ignore[no-untyped-call]
        return d

    # -- HTTP ----------------------------------------------------------------

    async def _call(self, method: str, address: str, path: str, **query: str) -> Any:
        url = f"http://{address}{path}"
        if query:
            url += "?" + urlencode(query)
        return await self.requestV1(method, url)

    async def requestV1(self, method: str, url: str) -> Any:
        """
        Go's C{http_api.Client} C{GETV1}/C{POSTV1}: the decoded JSON
        answer; anything but 200 is an error carrying the status and body,
        except an nsqd's 403 with its C{https_port} (C{--tls-required}),
        which is asked again over HTTPS.

        @raise UpstreamError: the request failed.
        """
        while True:
            _log.debug("CI: querying {url}", url=url)
            try:
                plainURL, headers = _withoutUserInfo(url)
                limit = self._limit(plainURL)
                await limit.acquire()
                try:
                    response = await self._http.request(
                        method,
                        plainURL,
                        timeout=self._timeout,
                        headers=headers,
                    )
                    body = await treq.content(response)
                finally:
                    limit.release()
            except Exception as e:
                raise UpstreamError(
                    f'{method.capitalize()} "{url}": {_describe(e)}'
                ) from None
            if response.code == 403 and url.startswith("http:"):
                url = _httpsURL(url, body)
                continue
            if response.code != 200:
                raise UpstreamError(
                    f"got response {response.code} "
                    f"{json.dumps(body.decode('utf-8', 'replace'))}"
                )
            try:
                return json.loads(body) if body else None
            except ValueError as e:
                raise UpstreamError(f"invalid JSON from {url}: {e}") from None

    async def forward(
        self, url: str, headers: Mapping[bytes, Sequence[bytes]]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """
        C{GET url} as a reverse proxy does (C{--proxy-graphite}): the
        status, headers and body as received, whatever the status.

        @param headers: the request headers to send.
        @raise Exception: the request failed (no answer, timeout).
        """
        sent = Headers({name: list(values) for name, values in headers.items()})
        response = await self._plain.request(
            "GET", url, headers=sent, timeout=self._timeout, allow_redirects=False
        )
        body = await treq.content(response)
        received = [
            (name, value)
            for name, values in response.headers.getAllRawHeaders()
            for value in values
        ]
        return response.code, received, body

    async def _each(
        self, addresses: Sequence[str], call: Callable[[str], Awaitable[T]]
    ) -> tuple[list[tuple[str, T]], list[str]]:
        # Every node at once, as Go's goroutines per address.
        async def one(address: str) -> tuple[str, T | None, str | None]:
            try:
                return address, await call(address), None
            except UpstreamError as e:
                _log.error("CI: {address} - {error}", address=address, error=str(e))
                return address, None, str(e)

        results = await gatherResults(
            [Deferred.fromCoroutine(one(address)) for address in addresses]
        )
        answers = [(a, value) for a, value, error in results if error is None]
        errors = [error for _, _, error in results if error is not None]
        return answers, errors  # type: ignore[return-value]

    @staticmethod
    def _check(kind: str, errors: list[str], total: int) -> None:
        if errors and len(errors) == total:
            raise UpstreamError(f"Failed to query any {kind}: {'; '.join(errors)}")

    async def _lookupdAll(
        self, path: str, **query: str
    ) -> tuple[list[tuple[str, Any]], list[str]]:
        answers, errors = await self._each(
            self.lookupds, lambda a: self._call("GET", a, path, **query)
        )
        self._check("nsqlookupd", errors, len(self.lookupds))
        return answers, errors

    # -- reads ---------------------------------------------------------------

    async def topics(self) -> tuple[list[str], list[str]]:
        """
        Every topic (Go's C{GetLookupdTopics} / C{GetNSQDTopics}), and the
        partial errors.
        """
        if self.lookupds:
            answers, errors = await self._lookupdAll("/topics")
            return ci.lookupdTopics(a for _, a in answers), errors
        answers, errors = await self._each(
            self.nsqds, lambda a: self._call("GET", a, "/stats", format="json")
        )
        self._check("nsqd", errors, len(self.nsqds))
        return ci.nsqdTopics(a for _, a in answers), errors

    async def producers(self) -> tuple[list[dict[str, Any]], list[str]]:
        """
        Every nsqd (Go's C{GetProducers}), and the partial errors.
        """
        if self.lookupds:
            answers, errors = await self._lookupdAll("/nodes")
            return ci.lookupdProducers(answers), errors

        async def describe(address: str) -> dict[str, Any]:
            info = await self._call("GET", address, "/info")
            stats = await self._call(
                "GET", address, "/stats", format="json", include_clients="false"
            )
            return ci.nsqdProducer(info, stats)

        described, errors = await self._each(self.nsqds, describe)
        self._check("nsqd", errors, len(self.nsqds))
        return ci.markOutOfDate([p for _, p in described]), errors

    async def topicProducers(
        self, topic: str
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """
        The nsqds that have C{topic} (Go's C{GetTopicProducers}), and the
        partial errors.
        """
        if self.lookupds:
            answers, errors = await self._lookupdAll("/lookup", topic=topic)
            seen: dict[str, dict[str, Any]] = {}
            for _, answer in answers:
                for producer in answer.get("producers") or []:
                    seen.setdefault(ci.producerTCPAddress(producer), producer)
            return list(seen.values()), errors
        producers, errors = await self.producers()
        return [
            p for p in producers if any(t["topic"] == topic for t in p["topics"])
        ], errors

    async def nodeStats(
        self,
        producers: Sequence[dict[str, Any]],
        topic: str | None = None,
        clients: list[dict[str, Any]] | None = None,
        includeClients: bool = True,
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """
        The per-node topic records of each producer's C{/stats} (Go's
        C{GetNSQDStats}), sorted by hostname, and the partial errors.

        @param clients: if given, each nsqd's publishing connections (its
            C{/stats} C{producers}, with C{node}) are added to it.
        @param includeClients: ask for the channels' clients too (Go's
            C{includeClients}); without them nsqd's answer is smaller.
        """
        query = {"format": "json"}
        if topic is not None:
            query["topic"] = topic
        if not includeClients:
            query["include_clients"] = "false"

        async def stats(producer: dict[str, Any]) -> list[dict[str, Any]]:
            node = ci.producerHTTPAddress(producer)
            answer = await self._call("GET", node, "/stats", **query)
            if clients is not None:
                for client in answer.get("producers") or []:
                    clients.append({**client, "node": node})
            return ci.nodeTopicStats(
                node,
                str(producer.get("hostname", "")),
                answer,
                topic,
                self.clock.seconds(),
            )

        byNode = {ci.producerHTTPAddress(p): p for p in producers}
        answers, errors = await self._each(
            list(byNode), lambda node: stats(byNode[node])
        )
        self._check("nsqd", errors, len(byNode))
        records = [record for _, records in answers for record in records]
        records.sort(key=lambda r: str(r["hostname"]))
        return records, errors

    async def topicChannels(self, topic: str) -> list[str]:
        """
        Go's C{GetLookupdTopicChannels}: the channels every nsqlookupd
        knows for C{topic}, once each, sorted (errors ignored, as the
        caller, C{?inactive=true}, does in Go).
        """
        answers, _ = await self._each(
            self.lookupds, lambda a: self._call("GET", a, "/channels", topic=topic)
        )
        return sorted({c for _, a in answers for c in (a or {}).get("channels") or []})

    async def notify(self, endpoint: str, payload: dict[str, Any]) -> None:
        """
        POST an admin action to C{--notification-http-endpoint}, as Go's
        C{handleAdminActions}: failures are logged, never raised.
        """
        _log.info("POSTing notification to {endpoint}", endpoint=endpoint)
        try:
            response = await self._http.post(
                endpoint,
                data=json.dumps(payload, separators=(",", ":")).encode("utf-8"),
                headers=_JSON_TYPE,
                timeout=self._timeout,
            )
            await treq.content(response)
        except Exception as e:
            _log.error("failed to POST notification - {error}", error=str(e))

    # -- actions -------------------------------------------------------------

    async def _postEach(
        self, addresses: Sequence[str], path: str, **query: str
    ) -> list[str]:
        # Go's nsqlookupdPOST/producersPOST: every failure, even of all
        # the nodes, is a partial error (a WARNING, never a 502).
        _, errors = await self._each(
            addresses, lambda a: self._call("POST", a, path, **query)
        )
        return errors

    async def createTopicChannel(self, topic: str, channel: str) -> list[str]:
        """
        Go's C{CreateTopicChannel}: the topic (and channel) on every
        nsqlookupd, the channel on every nsqd that has the topic.
        """
        errors = await self._postEach(self.lookupds, "/topic/create", topic=topic)
        if channel:
            errors += await self._postEach(
                self.lookupds, "/channel/create", topic=topic, channel=channel
            )
            producers, more = await self.topicProducers(topic)
            errors += more
            errors += await self._postEach(
                [ci.producerHTTPAddress(p) for p in producers],
                "/channel/create",
                topic=topic,
                channel=channel,
            )
        return errors

    async def deleteTopic(self, topic: str, channel: str = "") -> list[str]:
        """
        Go's C{DeleteTopic}/C{DeleteChannel}: the producers are found
        first, then the topic (channel) is removed from every nsqlookupd and
        from each of them.
        """
        producers, errors = await self.topicProducers(topic)
        query = {"topic": topic}
        kind = "topic"
        if channel:
            query["channel"] = channel
            kind = "channel"
        errors += await self._postEach(self.lookupds, f"/{kind}/delete", **query)
        errors += await self._postEach(
            [ci.producerHTTPAddress(p) for p in producers], f"/{kind}/delete", **query
        )
        return errors

    async def topicAction(
        self, action: str, topic: str, channel: str = ""
    ) -> list[str]:
        """
        Go's C{PauseTopic}, C{UnPauseChannel}, C{EmptyTopic}...: C{POST
        /<topic|channel>/<action>} on every nsqd that has the topic.
        """
        producers, errors = await self.topicProducers(topic)
        query = {"topic": topic}
        kind = "topic"
        if channel:
            query["channel"] = channel
            kind = "channel"
        errors += await self._postEach(
            [ci.producerHTTPAddress(p) for p in producers], f"/{kind}/{action}", **query
        )
        return errors

    async def nodeAction(
        self, node: str, action: str, topic: str, channel: str = ""
    ) -> list[str]:
        """
        Beyond Go (NSQ #430): C{POST /<topic|channel>/<action>} on the one
        nsqd C{node} (its HTTP address), e.g. to pause a topic on one node.
        """
        query = {"topic": topic}
        kind = "topic"
        if channel:
            query["channel"] = channel
            kind = "channel"
        return await self._postEach([node], f"/{kind}/{action}", **query)

    async def tombstone(self, topic: str, node: str) -> list[str]:
        """
        Go's C{TombstoneNodeForTopic}: C{/topic/tombstone} on every
        nsqlookupd, then the topic deleted from that nsqd (C{node} is its
        HTTP address).
        """
        errors = await self._postEach(
            self.lookupds, "/topic/tombstone", topic=topic, node=node
        )

        async def describe(address: str) -> dict[str, Any]:
            info = await self._call("GET", address, "/info")
            return ci.nsqdProducer(info, {})

        # Go's GetNSQDProducers([node]): the node as it describes itself.
        described, more = await self._each([node], describe)
        self._check("nsqd", more, 1)
        errors += more
        errors += await self._postEach(
            [ci.producerHTTPAddress(p) for _, p in described],
            "/topic/delete",
            topic=topic,
        )
        return errors
