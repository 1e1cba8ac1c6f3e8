"""
Replay every nsqd TCP conversation recorded from Go nsqd 1.3.0
(C{tests/data/golden/tcp/}) against a real L{txnsq.nsqd.protocol.NSQDFactory} on 127.0.0.1.

One test method per recording, generated below.  The replay itself is
L{tests.golden}'s; this module adds what the nsqd recordings need on top of
it: per-step C{timing} (heartbeats and the idle close) and the check that
nothing unrecorded arrives shortly after the last step.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from tests.golden import TCPConversation, loadRecordings, sizePrefixed

from ._realserver import reactor, startServer

#: How long after the last step nothing more may arrive.  The recordings
#: guarantee 400 ms of silence; 200 ms keeps the module fast and still
#: catches any frame the server sends in reaction to the last step.
QUIET_SECONDS = 0.2

#: Added to each step's recorded C{tolerance_ms}: the replay shares one
#: loaded machine with the server and with other tests.
TIMING_SLACK_MS = 150

RECORDINGS = loadRecordings("tcp")


def _hasCrossReferences(steps: list[Mapping[str, Any]]) -> bool:
    return any("fill_from" in step or "same_as" in step for step in steps)


class GoldenTCPTests(TestCase):
    """
    Each recording, replayed on its own connection to a fresh nsqd.
    """

    timeout = 30

    def setUp(self) -> None:
        """
        Start a fresh nsqd (broker, listener, 100 ms queue scan).
        """
        self.server = startServer(self)

    async def replay(self, recording: Mapping[str, Any]) -> list[str]:
        """
        Run C{recording} on a new connection.

        @return: the mismatches.
        """
        steps = recording["steps"]
        conversation = await TCPConversation.connect(
            reactor, self.server.host, self.server.portNumber, frameLength=sizePrefixed
        )
        timed = any("timing" in step for step in steps)
        if timed:
            # Timed recordings carry no fill_from/same_as, so they can be
            # run one step at a time and each step timed.
            self.assertFalse(_hasCrossReferences(steps), recording["name"])
            problems = await self._runTimed(conversation, steps)
        else:
            problems = await conversation.run(steps)
        if problems:
            await conversation.close()
            return problems
        await deferLater(reactor, QUIET_SECONDS)
        return await conversation.finish("after the last step: ")

    async def _runTimed(
        self, conversation: TCPConversation, steps: list[Mapping[str, Any]]
    ) -> list[str]:
        lastSend = reactor.seconds()
        for index, step in enumerate(steps):
            problems = await conversation.run([step], f"step {index} ")
            if problems:
                return problems
            now = reactor.seconds()
            if "send" in step:
                lastSend = now
            timing = step.get("timing")
            if timing is not None:
                elapsed = (now - lastSend) * 1000
                allowed = timing["tolerance_ms"] + TIMING_SLACK_MS
                if abs(elapsed - timing["since_last_send_ms"]) > allowed:
                    return [
                        f"step {index}: arrived {elapsed:.0f} ms after the last "
                        f"send, recorded {timing['since_last_send_ms']} ms "
                        f"(allowed +/- {allowed} ms)"
                    ]
        return []


def _makeTest(
    name: str, recording: Mapping[str, Any]
) -> Callable[[GoldenTCPTests], Deferred[None]]:
    async def replay(self: GoldenTCPTests) -> None:
        problems = await self.replay(recording)
        self.assertEqual(problems, [], f"{name}: {recording['description']}")

    def test(self: GoldenTCPTests) -> Deferred[None]:
        coroutine: Coroutine[Any, Any, None] = replay(self)
        return Deferred.fromCoroutine(coroutine)

    test.__name__ = f"test_{name}"
    test.__doc__ = (
        f"Go nsqd 1.3.0's recorded conversation C{{{name}}} replays byte for "
        f"byte: {recording['description']}"
    )
    return test


for _name, _recording in RECORDINGS:
    setattr(GoldenTCPTests, f"test_{_name}", _makeTest(_name, _recording))
del _name, _recording
