# -*- test-case-name: tests.tools.test_nsq_to_file -*-
"""
Which topics C{nsq_to_file} logs: Go NSQ 1.3.0's C{TopicDiscoverer}.

With C{--topic}, those topics (that match C{--topic-pattern}, if given);
without, every topic the nsqlookupds know (C{GET /topics} on each, the
union) that matches C{--topic-pattern}, asked again every
C{--topic-refresh}.  A topic, once logged, stays logged.

The pattern is matched as Go's C{regexp.MatchString} does: anywhere in
the name unless anchored.  Go's RE2 syntax and Python's agree on what
patterns of topic names use (classes, alternation, anchors, repetition);
as in Go, a pattern that does not compile matches nothing.

Two things differ from Go, on purpose:

  - the nsqlookupds are first asked at start, not one C{--topic-refresh}
    later (Go logs nothing for the first minute by default);
  - when some nsqlookupds answer and others fail, the topics of those
    that answered are used (Go logs the error and discards the answers,
    so one nsqlookupd down stops discovery everywhere).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, cast

import treq
from twisted.internet.defer import CancelledError, Deferred, DeferredList, succeed
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from txnsq._http import TreqClient

__all__ = [
    "LookupdTopics",
    "TopicDiscoverer",
    "TopicsFailed",
    "parseTopicsResponse",
    "topicPattern",
    "topicsURL",
]

_ACCEPT = {b"Accept": [b"application/vnd.nsq; version=1.0"]}


class TopicsFailed(Exception):
    """
    No nsqlookupd could say which topics it knows.
    """


def topicsURL(address: str) -> str:
    """
    The C{/topics} URL of an nsqlookupd given as C{host:port} or as a URL.
    """
    base = address if "://" in address else f"http://{address}"
    return f"{base.rstrip('/')}/topics"


def parseTopicsResponse(code: int, body: bytes) -> list[str]:
    """
    The topics in an nsqlookupd's C{/topics} reply (1.x's C{{"topics":
    [...]}} or the pre-1.0 envelope's C{data}).

    @raise ValueError: for any other reply, with what Go says of it.
    """
    if code != 200:
        raise ValueError(f"got response {code} {body[:100]!r}")
    data = json.loads(body)
    if isinstance(data, dict) and "topics" not in data:
        data = data.get("data")
    topics = data.get("topics") if isinstance(data, dict) else None
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise ValueError(f"no topics list: {body[:100]!r}")
    return cast("list[str]", topics)


def topicPattern(pattern: str) -> Callable[[str], bool]:
    """
    Go's C{isTopicAllowed}: everything when C{pattern} is empty, else the
    topics it matches somewhere; nothing if it does not compile.
    """
    if not pattern:
        return lambda topic: True
    try:
        compiled = re.compile(pattern)
    except re.error:
        return lambda topic: False
    return lambda topic: compiled.search(topic) is not None


class LookupdTopics:
    """
    Asks nsqlookupds for their topics over HTTP (a L{TreqClient}, with
    Go's C{--http-client-*-timeout}s).
    """

    def __init__(
        self,
        addresses: Sequence[str],
        *,
        reactor: Any,
        connectTimeout: float,
        requestTimeout: float,
        httpClient: Any = None,
    ) -> None:
        """
        @param addresses: C{--lookupd-http-address}es.
        @param httpClient: a treq C{HTTPClient} (tests pass a
            C{StubTreq}); by default a L{TreqClient}.
        """
        self.addresses = list(addresses)
        self._reactor = reactor
        self._requestTimeout = requestTimeout
        self._pool: Any = None
        if httpClient is None:
            # Reaches nsqlookupds given as IPv6 literals too.
            client = TreqClient(reactor, connectTimeout)
            self._pool = client.pool
            httpClient = client
        self._http = httpClient

    def close(self) -> Deferred[None]:
        """
        Close the kept-alive connections.
        """
        if self._pool is None:
            return succeed(None)
        closed: Deferred[None] = self._pool.closeCachedConnections()
        return closed

    def _query(self, address: str) -> Deferred[list[str]]:
        url = topicsURL(address)

        async def query() -> list[str]:
            response = await self._http.get(url, headers=_ACCEPT)
            body = await treq.content(response)
            return parseTopicsResponse(response.code, body)

        deferred = Deferred.fromCoroutine(query())
        deferred.addTimeout(self._requestTimeout, self._reactor)
        return deferred

    def get(self) -> Deferred[tuple[list[str], list[str]]]:
        """
        Ask every nsqlookupd at once.

        @return: fires with the topics (sorted, each once) and the errors
            of those that failed; fails with L{TopicsFailed} if all did.
        """
        queries = [self._query(address) for address in self.addresses]

        def combine(
            results: list[tuple[bool, Any]],
        ) -> tuple[list[str], list[str]]:
            topics: set[str] = set()
            errors: list[str] = []
            for address, (ok, result) in zip(self.addresses, results):
                if ok:
                    topics.update(result)
                else:
                    assert isinstance(result, Failure)
                    errors.append(f"{topicsURL(address)}: {result.getErrorMessage()}")
            if errors and len(errors) == len(self.addresses):
                raise TopicsFailed(
                    "failed to query any nsqlookupd: " + "; ".join(errors)
                )
            return sorted(topics), errors

        return DeferredList(queries, consumeErrors=True).addCallback(combine)


class TopicDiscoverer:
    """
    Starts a topic logger for each topic to log, once.

    @ivar topics: the topics being logged.
    """

    def __init__(
        self,
        topics: Sequence[str],
        pattern: str,
        *,
        lookupd: LookupdTopics | None,
        refreshInterval: float,
        clock: Any,
        startTopic: Callable[[str], bool],
        log: Callable[[str, str], None],
    ) -> None:
        """
        @param topics: C{--topic}s; discovery runs only without them.
        @param pattern: C{--topic-pattern}.
        @param lookupd: the nsqlookupds to ask (needed without C{topics}).
        @param refreshInterval: C{--topic-refresh}, in seconds.
        @param startTopic: starts logging a topic; C{False} if it could
            not (Go logs that and tries again at the next refresh).
        @param log: C{(level, text)}: a log line.
        """
        self._configured = list(topics)
        self._allowed = topicPattern(pattern)
        self._pattern = pattern
        self._lookupd = lookupd
        self._refreshInterval = refreshInterval
        self._clock = clock
        self._startTopic = startTopic
        self._log = log
        self.topics: list[str] = []
        self._loop: LoopingCall | None = None
        self._refreshing: Deferred[None] | None = None

    def start(self) -> None:
        """
        Log the configured topics, or start discovering.
        """
        self.updateTopics(self._configured)
        if not self._configured and self._lookupd is not None:
            self._loop = LoopingCall(self.refresh)
            self._loop.clock = self._clock
            self._loop.start(self._refreshInterval, now=True)

    def stop(self) -> Deferred[None]:
        """
        Stop discovering (a refresh under way is abandoned).
        """
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self._refreshing is not None:
            self._refreshing.cancel()
        if self._lookupd is not None:
            return self._lookupd.close()
        return succeed(None)

    def refresh(self) -> Deferred[None] | None:
        """
        Ask the nsqlookupds, and log the new topics they know.
        """
        if self._lookupd is None or self._refreshing is not None:
            return None

        def found(result: tuple[list[str], list[str]]) -> None:
            topics, errors = result
            if errors:
                self._log(
                    "error",
                    "could not retrieve topic list: " + "; ".join(errors),
                )
            self.updateTopics(topics)

        def failed(reason: Failure) -> None:
            if reason.check(CancelledError):
                # Stopped while asking.
                return
            self._log(
                "error", f"could not retrieve topic list: {reason.getErrorMessage()}"
            )

        def done(result: object) -> None:
            self._refreshing = None

        refreshing = self._refreshing = self._lookupd.get().addCallbacks(found, failed)
        refreshing.addBoth(done)
        # LoopingCall waits for nothing: a slow nsqlookupd only skips ticks.
        return None

    def updateTopics(self, topics: Sequence[str]) -> None:
        """
        Start logging each of C{topics} not logged yet that the pattern
        allows.
        """
        for topic in topics:
            if topic in self.topics:
                continue
            if not self._allowed(topic):
                self._log(
                    "warn",
                    f"skipping topic {topic} (doesn't match pattern {self._pattern})",
                )
                continue
            if self._startTopic(topic):
                self.topics.append(topic)
