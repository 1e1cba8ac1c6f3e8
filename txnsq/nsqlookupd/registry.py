# -*- test-case-name: tests.nsqlookupd.test_registry -*-
"""
nsqlookupd's registration database, sans I/O.

Everything nsqlookupd knows is a map from L{Registration} keys to the
producers (nsqd connections) registered under them:

  - C{("client", "", "")}: every identified nsqd;
  - C{("topic", <topic>, "")}: the nsqds that have the topic;
  - C{("channel", <topic>, <channel>)}: the nsqds that have the channel.

A key may exist with no producers: topics and channels created over HTTP,
and non-ephemeral ones whose last producer unregistered, stay listed.
Producers are keyed by their id, the nsqd connection's remote C{ip:port}.

Time is passed in as numbers (seconds, as from C{IReactorTime.seconds}), so
expiry and tombstones are plain arithmetic.  This module imports nothing
from Twisted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import attrs

from txnsq.wire.names import isEphemeral

#: Go's C{time.Time{}.UnixNano()}, which C{/debug} prints as C{tombstoned_at}
#: for a producer never tombstoned (the zero time overflows int64).
GO_ZERO_TIME_UNIX_NANO = -6795364578871345152

CLIENT = "client"
TOPIC = "topic"
CHANNEL = "channel"

#: In L{RegistrationDB.findRegistrations} and friends, a key or subkey of
#: C{"*"} matches anything, exactly as in Go (so C{/lookup?topic=*} really
#: does look at every topic).
WILDCARD = "*"


class Registration(NamedTuple):
    """
    A registration key: C{(category, key, subkey)}.
    """

    category: str
    key: str
    subkey: str

    def isMatch(self, category: str, key: str, subkey: str) -> bool:
        """
        Whether this key matches a pattern where C{key} and C{subkey} may be
        L{WILDCARD}.
        """
        return (
            self.category == category
            and (key == WILDCARD or self.key == key)
            and (subkey == WILDCARD or self.subkey == subkey)
        )


def _nanoseconds(seconds: float) -> int:
    return round(seconds * 1e9)


@attrs.define(eq=False)
class PeerInfo:
    """
    An identified nsqd, shared by all of its L{Producer} entries (so a PING
    refreshes all of them at once).

    @ivar id: the connection's remote address; the producer key.
    @ivar remoteAddress: the same address, as reported in JSON.
    @ivar lastUpdate: when it last IDENTIFYed or PINGed, in seconds.
    """

    id: str
    remoteAddress: str
    hostname: str
    broadcastAddress: str
    tcpPort: int
    httpPort: int
    version: str
    lastUpdate: float

    def asJSON(self) -> dict[str, Any]:
        """
        Go's C{PeerInfo} JSON, in struct field order (as in C{/lookup}).
        """
        return {
            "remote_address": self.remoteAddress,
            "hostname": self.hostname,
            "broadcast_address": self.broadcastAddress,
            "tcp_port": self.tcpPort,
            "http_port": self.httpPort,
            "version": self.version,
        }


@attrs.define(eq=False)
class Producer:
    """
    One nsqd under one registration key.  Tombstones are per key: a
    producer tombstoned for a topic stays visible for its other topics.

    @ivar tombstonedAt: when it was tombstoned, in seconds, or C{None}.
    """

    peerInfo: PeerInfo
    tombstoned: bool = False
    tombstonedAt: float | None = None

    def tombstone(self, now: float) -> None:
        """
        Hide this producer from C{/lookup} for the tombstone lifetime.
        """
        self.tombstoned = True
        self.tombstonedAt = now

    def isTombstoned(self, now: float, lifetime: float) -> bool:
        """
        Whether the tombstone is still in force.
        """
        return (
            self.tombstoned
            and self.tombstonedAt is not None
            and now - self.tombstonedAt < lifetime
        )


def filterByActive(
    producers: Iterable[Producer],
    now: float,
    inactivityTimeout: float,
    tombstoneLifetime: float,
) -> list[Producer]:
    """
    The producers heard from within C{inactivityTimeout} and not under a
    tombstone younger than C{tombstoneLifetime} (Go's C{FilterByActive}).
    """
    return [
        producer
        for producer in producers
        if not (
            now - producer.peerInfo.lastUpdate > inactivityTimeout
            or producer.isTombstoned(now, tombstoneLifetime)
        )
    ]


class RegistrationDB:
    """
    The registrations, plus the operations nsqlookupd's TCP protocol and
    HTTP API perform on them, with Go nsqlookupd 1.3.0's semantics.

    @ivar inactiveProducerTimeout: C{--inactive-producer-timeout}, seconds.
    @ivar tombstoneLifetime: C{--tombstone-lifetime}, seconds.
    """

    def __init__(
        self, inactiveProducerTimeout: float = 300.0, tombstoneLifetime: float = 45.0
    ) -> None:
        self.inactiveProducerTimeout = inactiveProducerTimeout
        self.tombstoneLifetime = tombstoneLifetime
        self._registrations: dict[Registration, dict[str, Producer]] = {}

    # Go's RegistrationDB primitives.

    def addRegistration(self, key: Registration) -> None:
        """
        Make sure C{key} exists (with no producers if it is new).
        """
        self._registrations.setdefault(key, {})

    def addProducer(self, key: Registration, producer: Producer) -> bool:
        """
        Add C{producer} under C{key} unless one with its id is already
        there (then the existing one, and its tombstone, stay).

        @return: whether it was added.
        """
        producers = self._registrations.setdefault(key, {})
        if producer.peerInfo.id in producers:
            return False
        producers[producer.peerInfo.id] = producer
        return True

    def removeProducer(self, key: Registration, id: str) -> tuple[bool, int]:
        """
        Remove the producer C{id} from C{key}; the key stays, even empty.

        @return: whether it was there, and how many producers are left.
        """
        producers = self._registrations.get(key)
        if producers is None:
            return False, 0
        removed = producers.pop(id, None) is not None
        return removed, len(producers)

    def removeRegistration(self, key: Registration) -> None:
        """
        Forget C{key} and its producers.
        """
        self._registrations.pop(key, None)

    def findRegistrations(
        self, category: str, key: str, subkey: str
    ) -> list[Registration]:
        """
        The existing keys matching the pattern (L{WILDCARD} allowed).
        """
        if key != WILDCARD and subkey != WILDCARD:
            exact = Registration(category, key, subkey)
            return [exact] if exact in self._registrations else []
        return [r for r in self._registrations if r.isMatch(category, key, subkey)]

    def findProducers(self, category: str, key: str, subkey: str) -> list[Producer]:
        """
        The producers under the keys matching the pattern, one per id.
        """
        if key != WILDCARD and subkey != WILDCARD:
            exact = Registration(category, key, subkey)
            return list(self._registrations.get(exact, {}).values())
        seen: dict[str, Producer] = {}
        for registration, producers in self._registrations.items():
            if registration.isMatch(category, key, subkey):
                for id, producer in producers.items():
                    seen.setdefault(id, producer)
        return list(seen.values())

    def lookupRegistrations(self, id: str) -> list[Registration]:
        """
        Every key the producer C{id} is registered under.
        """
        return [r for r, producers in self._registrations.items() if id in producers]

    # What the TCP protocol does.

    def identify(self, peer: PeerInfo) -> bool:
        """
        Register a freshly identified nsqd under the C{client} key.

        @return: whether it was added (the id was not already there).
        """
        return self.addProducer(Registration(CLIENT, "", ""), Producer(peer))

    def register(
        self, peer: PeerInfo, topic: str, channel: str = ""
    ) -> list[Registration]:
        """
        C{REGISTER}: the channel (if any) and its topic.

        @return: the keys the producer was newly added to.
        """
        keys = []
        if channel:
            keys.append(Registration(CHANNEL, topic, channel))
        keys.append(Registration(TOPIC, topic, ""))
        return [key for key in keys if self.addProducer(key, Producer(peer))]

    def unregister(
        self, peer: PeerInfo, topic: str, channel: str = ""
    ) -> list[Registration]:
        """
        C{UNREGISTER}.  With a channel: leave that channel, deleting the key
        if the channel is ephemeral and nobody is left.  Without: leave every
        channel of the topic and the topic itself, deleting the topic key if
        it is ephemeral and nobody is left.  Other keys stay, even empty.

        @return: the keys the producer was removed from.
        """
        removed = []
        if channel:
            key = Registration(CHANNEL, topic, channel)
            wasThere, left = self.removeProducer(key, peer.id)
            if wasThere:
                removed.append(key)
            if left == 0 and isEphemeral(channel):
                self.removeRegistration(key)
            return removed
        for key in self.findRegistrations(CHANNEL, topic, WILDCARD):
            if self.removeProducer(key, peer.id)[0]:
                removed.append(key)
        key = Registration(TOPIC, topic, "")
        wasThere, left = self.removeProducer(key, peer.id)
        if wasThere:
            removed.append(key)
        if left == 0 and isEphemeral(topic):
            self.removeRegistration(key)
        return removed

    def removePeer(self, id: str) -> list[Registration]:
        """
        An nsqd disconnected: remove it from every key (which all stay,
        ephemeral ones included, as in Go).

        @return: the keys it was removed from.
        """
        removed = []
        for key in self.lookupRegistrations(id):
            if self.removeProducer(key, id)[0]:
                removed.append(key)
        return removed

    # What the HTTP API does.

    def topics(self) -> list[str]:
        """
        C{/topics}: every topic key, with or without producers.
        """
        return [r.key for r in self.findRegistrations(TOPIC, WILDCARD, "")]

    def channels(self, topic: str) -> list[str]:
        """
        C{/channels}: the channel keys of C{topic}.
        """
        return [r.subkey for r in self.findRegistrations(CHANNEL, topic, WILDCARD)]

    def lookup(self, topic: str, now: float) -> tuple[list[str], list[PeerInfo]] | None:
        """
        C{/lookup}: the topic's channels and its active, untombstoned
        producers, or C{None} if the topic key does not exist.
        """
        if not self.findRegistrations(TOPIC, topic, ""):
            return None
        producers = filterByActive(
            self.findProducers(TOPIC, topic, ""),
            now,
            self.inactiveProducerTimeout,
            self.tombstoneLifetime,
        )
        return self.channels(topic), [p.peerInfo for p in producers]

    def nodes(self, now: float) -> list[dict[str, Any]]:
        """
        C{/nodes}: every active identified nsqd (tombstoned ones included),
        with the topics it registered and whether each is tombstoned.
        """
        clients = filterByActive(
            self.findProducers(CLIENT, "", ""), now, self.inactiveProducerTimeout, 0
        )
        nodes = []
        for client in clients:
            peer = client.peerInfo
            topics = [
                r.key
                for r in self.lookupRegistrations(peer.id)
                if r.isMatch(TOPIC, WILDCARD, "")
            ]
            tombstones = []
            for topic in topics:
                tombstoned = False
                for producer in self.findProducers(TOPIC, topic, ""):
                    if producer.peerInfo is peer:
                        tombstoned = producer.isTombstoned(now, self.tombstoneLifetime)
                        break
                tombstones.append(tombstoned)
            node = peer.asJSON()
            node["tombstones"] = tombstones
            node["topics"] = topics
            nodes.append(node)
        return nodes

    def createTopic(self, topic: str) -> None:
        """
        C{/topic/create}: add the topic key.
        """
        self.addRegistration(Registration(TOPIC, topic, ""))

    def deleteTopic(self, topic: str) -> None:
        """
        C{/topic/delete}: drop the topic key and all its channel keys.
        """
        for key in self.findRegistrations(CHANNEL, topic, WILDCARD):
            self.removeRegistration(key)
        for key in self.findRegistrations(TOPIC, topic, ""):
            self.removeRegistration(key)

    def createChannel(self, topic: str, channel: str) -> None:
        """
        C{/channel/create}: add the channel key and its topic key.
        """
        self.addRegistration(Registration(CHANNEL, topic, channel))
        self.addRegistration(Registration(TOPIC, topic, ""))

    def deleteChannel(self, topic: str, channel: str) -> bool:
        """
        C{/channel/delete}: drop the channel key.

        @return: whether it existed.
        """
        keys = self.findRegistrations(CHANNEL, topic, channel)
        for key in keys:
            self.removeRegistration(key)
        return bool(keys)

    def tombstoneTopicProducer(self, topic: str, node: str, now: float) -> int:
        """
        C{/topic/tombstone}: tombstone the topic's producers whose
        C{<broadcast_address>:<http_port>} is C{node}.

        @return: how many were tombstoned.
        """
        count = 0
        for producer in self.findProducers(TOPIC, topic, ""):
            peer = producer.peerInfo
            if f"{peer.broadcastAddress}:{peer.httpPort}" == node:
                producer.tombstone(now)
                count += 1
        return count

    def debug(self) -> dict[str, list[dict[str, Any]]]:
        """
        C{/debug}: every key that has producers, as C{category:key:subkey},
        with each producer's details.  Go marshals maps, so keys are sorted.
        """
        data: dict[str, list[dict[str, Any]]] = {}
        for registration, producers in self._registrations.items():
            if not producers:
                continue
            name = ":".join(registration)
            data[name] = [
                {
                    "broadcast_address": p.peerInfo.broadcastAddress,
                    "hostname": p.peerInfo.hostname,
                    "http_port": p.peerInfo.httpPort,
                    "id": p.peerInfo.id,
                    "last_update": _nanoseconds(p.peerInfo.lastUpdate),
                    "tcp_port": p.peerInfo.tcpPort,
                    "tombstoned": p.tombstoned,
                    "tombstoned_at": (
                        GO_ZERO_TIME_UNIX_NANO
                        if p.tombstonedAt is None
                        else _nanoseconds(p.tombstonedAt)
                    ),
                    "version": p.peerInfo.version,
                }
                for p in producers.values()
            ]
        return dict(sorted(data.items()))
