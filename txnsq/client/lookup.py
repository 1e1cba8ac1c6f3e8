# -*- test-case-name: tests.client.test_lookup -*-
"""
Discovering the nsqds that carry a topic by polling nsqlookupd's HTTP
C{/lookup?topic=} endpoint.

Every poll queries all configured nsqlookupds at once and takes the union
of the producers they list, keyed by C{broadcast_address:tcp_port} (the
nsqlookupds do not coordinate, so any one of them may know an nsqd the
others do not).  The first poll happens at once; later ones follow a
jittered interval so that many consumers started together do not poll in
step.

HTTP goes through treq: an injectable L{HTTPClient} (by default
txnsq's L{TreqClient<txnsq._http.TreqClient>} on the given reactor, with
its own quiet connection pool, which also reaches nsqlookupds given as
IPv6 literals such as C{[::1]:4161}), so tests pass
C{treq.testing.StubTreq}.

An nsqlookupd may also be given as a Twisted client endpoint description
(C{tcp:host=h:port=4161}, C{unix:path=/run/nsqlookupd-http.sock}) or an
L{IStreamClientEndpoint}: the default client then sends its requests
for that nsqlookupd over that endpoint, to a made-up host name.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from typing import Any
from typing import Protocol as TypingProtocol
from urllib.parse import quote

import treq
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import (
    IDelayedCall,
    IReactorTime,
    IStreamClientEndpoint,
)
from twisted.logger import Logger
from twisted.python.failure import Failure

from txnsq._endpoints import splitHostPort
from txnsq._http import TreqClient
from txnsq.client._connection import clientEndpoint

__all__ = [
    "HTTPClient",
    "LookupFailed",
    "LookupdPoller",
    "lookupURL",
    "parseLookupResponse",
    "producerAddress",
]

#: go-nsq's C{lookupd_poll_interval}.
DEFAULT_POLL_INTERVAL = 60.0

#: go-nsq's C{lookupd_poll_jitter}: a fraction of the interval.
DEFAULT_POLL_JITTER = 0.3

#: Seconds one lookup request may take.
DEFAULT_REQUEST_TIMEOUT = 10.0

_ACCEPT = {b"Accept": [b"application/vnd.nsq; version=1.0"]}


class HTTPClient(TypingProtocol):
    """
    The part of C{treq.client.HTTPClient} (and of
    C{treq.testing.StubTreq}) the poller uses.
    """

    def get(self, url: str, **kwargs: Any) -> Deferred[Any]:
        """
        GET C{url}; fires with a treq response.
        """


class LookupFailed(Exception):
    """
    An nsqlookupd answered something other than a lookup result.
    """


def lookupURL(address: str, topic: str) -> str:
    """
    The C{/lookup} URL for an nsqlookupd given as C{host:port} or as a URL
    (C{http://host:port} or C{https://host:port/prefix}).
    """
    base = address if "://" in address else f"http://{address}"
    return f"{base.rstrip('/')}/lookup?topic={quote(topic, safe='')}"


def producerAddress(producer: dict[str, Any]) -> str:
    """
    C{broadcast_address:tcp_port} for one entry of C{producers}, with an
    IPv6 address in brackets.

    @raise LookupFailed: if the entry lacks either field.
    """
    host = producer.get("broadcast_address")
    port = producer.get("tcp_port")
    if not isinstance(host, str) or not host or type(port) is not int:
        raise LookupFailed(f"producer without broadcast_address/tcp_port: {producer!r}")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def parseLookupResponse(code: int, body: bytes) -> set[str]:
    """
    The nsqd addresses in a C{/lookup} reply.

    nsqlookupd 1.x answers C{{"channels": [...], "producers": [...]}}; the
    pre-1.0 format wrapped that in C{{"status_code", "status_txt",
    "data"}}, and both are accepted.  An unknown topic (404
    C{TOPIC_NOT_FOUND}) has no producers.

    @raise LookupFailed: for any other reply.
    """
    try:
        data = json.loads(body)
    except ValueError:
        raise LookupFailed(f"HTTP {code}, not JSON: {body[:100]!r}") from None
    if (
        code == 404
        and isinstance(data, dict)
        and "TOPIC_NOT_FOUND" in (data.get("message"), data.get("status_txt"))
    ):
        return set()
    if code != 200 or not isinstance(data, dict):
        raise LookupFailed(f"HTTP {code}: {body[:100]!r}")
    if "data" in data and "producers" not in data:
        data = data["data"]
        if not isinstance(data, dict):
            raise LookupFailed(f"HTTP {code}: {body[:100]!r}")
    producers = data.get("producers")
    if not isinstance(producers, list):
        raise LookupFailed(f"no producers list: {body[:100]!r}")
    return {producerAddress(p) for p in producers if isinstance(p, dict)}


def _isURLOrHostPort(address: str) -> bool:
    if "://" in address:
        return True
    try:
        _, port = splitHostPort(address)
    except ValueError:
        return False
    return port.isdigit()


class LookupdPoller:
    """
    Polls nsqlookupds for the nsqds that have a topic.

    @ivar producers: the union of the last successful answers (an
        nsqlookupd that failed this round keeps its previous answer).
    """

    _log = Logger()

    def __init__(
        self,
        addresses: Sequence[str | IStreamClientEndpoint],
        topic: str,
        found: Callable[[set[str]], object],
        *,
        clock: IReactorTime,
        httpClient: HTTPClient | None = None,
        interval: float = DEFAULT_POLL_INTERVAL,
        jitter: float = DEFAULT_POLL_JITTER,
        requestTimeout: float = DEFAULT_REQUEST_TIMEOUT,
        random: Callable[[], float] = random.random,
    ) -> None:
        """
        @param addresses: nsqlookupd HTTP addresses: C{host:port}, URLs,
            client endpoint descriptions or endpoints (the last two only
            with the default C{httpClient}).
        @param found: called after every poll with all producers known.
        @param clock: schedules polls and request timeouts; also the reactor
            of the default HTTP client, which must then be a full reactor.
        @param httpClient: what makes the requests.
        @param interval: seconds between polls.
        @param jitter: each wait is C{interval} plus up to C{jitter} times
            C{interval} more, chosen at random.
        @param random: a source of floats in [0, 1), for the jitter.
        """
        if not addresses:
            raise ValueError("no nsqlookupd addresses")
        if not 0 <= jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1: {jitter}")
        # The default client, closed by stop(); it reaches IPv6 literals
        # (which treq alone refuses) and sends the requests for an
        # nsqlookupd given as an endpoint to a made-up host it maps back.
        # A pool of its own (treq's global pool is not for libraries),
        # quiet: polling leaves no "Starting factory" lines in the log.
        self._default: TreqClient | None = None
        if httpClient is None:
            self._default = TreqClient(clock)
            httpClient = self._default
        self.addresses: list[str] = []
        for address in addresses:
            if isinstance(address, str) and _isURLOrHostPort(address):
                self.addresses.append(address)
                continue
            if self._default is None:
                raise ValueError("nsqlookupd endpoints need the default httpClient")
            if isinstance(address, str):
                endpoint = clientEndpoint(clock, address)
            else:
                endpoint = address
            self.addresses.append(self._default.endpointURL(endpoint))
        self.topic = topic
        self.producers: set[str] = set()
        self._answers: dict[str, set[str]] = {}
        self._found = found
        self._clock = clock
        self._http = httpClient
        self._interval = interval
        self._jitter = jitter
        self._requestTimeout = requestTimeout
        self._random = random
        self._call: IDelayedCall | None = None
        self._polling: Deferred[set[str]] | None = None
        self._running = False

    def start(self) -> None:
        """
        Poll now, then periodically.
        """
        if self._running:
            return
        self._running = True
        self._poll()

    def stop(self) -> Deferred[None]:
        """
        Stop polling: a request in progress is cancelled, and the default
        HTTP client's kept-alive connections are closed.

        @return: fires once those connections are closed.
        """
        self._running = False
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        if self._polling is not None:
            self._polling.cancel()
        if self._default is not None:
            return self._default.close()
        return succeed(None)

    def nextDelay(self) -> float:
        """
        Seconds until the next poll.
        """
        return self._interval * (1 + self._jitter * self._random())

    def _poll(self) -> None:
        self._call = None
        polling = self._polling = self.poll()

        def schedule(_: object) -> None:
            self._polling = None
            if self._running:
                self._call = self._clock.callLater(self.nextDelay(), self._poll)

        polling.addBoth(schedule)

    def poll(self) -> Deferred[set[str]]:
        """
        Query every nsqlookupd once and report the union of their answers.

        @return: fires with that union (never fails: an nsqlookupd that
            cannot be reached is logged and keeps its previous answer).
        """
        queries = [self._query(address) for address in self.addresses]

        def done(_: object) -> set[str]:
            producers: set[str] = set()
            for answer in self._answers.values():
                producers |= answer
            self.producers = producers
            self._found(set(producers))
            return producers

        return DeferredList(queries, consumeErrors=True).addCallback(done)

    def _query(self, address: str) -> Deferred[None]:
        url = lookupURL(address, self.topic)

        async def query() -> None:
            response = await self._http.get(url, headers=_ACCEPT)
            body = await treq.content(response)
            self._answers[address] = parseLookupResponse(response.code, body)

        def failed(reason: Failure) -> None:
            self._log.warn(
                "lookup of topic {topic} at {url} failed: {why}",
                topic=self.topic,
                url=url,
                why=reason.getErrorMessage(),
            )

        deferred = Deferred.fromCoroutine(query())
        deferred.addTimeout(self._requestTimeout, self._clock)
        return deferred.addErrback(failed)
