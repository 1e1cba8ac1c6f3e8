# -*- test-case-name: tests._http.test_client -*-
"""
HTTP clients that log nothing per connection.

Every connection an L{Agent} opens gets a new factory from its
L{HTTPConnectionPool}, and Twisted's factories log C{Starting factory
<...>} and C{Stopping factory <...>} at INFO unless they are told not to;
nsqd asks nsqlookupd for a new topic's channels and the auth server for
each AUTH, so the log would get two lines of noise per topic and per
client, which Go's daemons never print.  Twisted has no public switch for
it (twisted/twisted#9330), so L{QuietConnectionPool} makes its factories
quiet.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime

# Private, but the one class the pool builds its factories from: the
# subclass below changes only its class attribute noisy.
from twisted.web.client import Agent, HTTPConnectionPool, _HTTP11ClientFactory

__all__ = ["QuietConnectionPool", "quietAgent"]


class _QuietHTTP11ClientFactory(_HTTP11ClientFactory):
    """
    Twisted's per-connection HTTP client factory, without its start and
    stop log lines.
    """

    noisy = False


class QuietConnectionPool(HTTPConnectionPool):
    """
    An L{HTTPConnectionPool} whose connections log no C{Starting factory}
    / C{Stopping factory} lines.
    """

    _factory = _QuietHTTP11ClientFactory

    def __init__(self, reactor: IReactorTime, persistent: bool = True) -> None:
        """
        @param reactor: the reactor to connect with.
        @param persistent: whether connections are kept for later requests.
        """
        super().__init__(reactor, persistent)  # type: ignore[no-untyped-call]


def quietAgent(
    reactor: IReactorTime, connectTimeout: float | None = None, persistent: bool = True
) -> Agent:
    """
    An L{Agent} over its own L{QuietConnectionPool} (never treq's global
    pool, which is not for libraries).

    @param reactor: the reactor to connect with (it must also provide
        C{IReactorTCP}).
    @param connectTimeout: seconds to wait for a connection, or L{None}
        for Twisted's default.
    @param persistent: whether connections are kept for later requests.
    """
    pool = QuietConnectionPool(reactor, persistent=persistent)
    return Agent(reactor, connectTimeout=connectTimeout, pool=pool)
