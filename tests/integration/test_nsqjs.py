"""
nsqjs, the NodeJS client (C{tests/js}, from npm), against
C{twistd -n nsqd}; and nsqjs and pynsq talking to each other through it.

Each nsqjs Writer or Reader runs in C{node tests/js/publish.js} or
C{node tests/js/consume.js}, which print JSON lines; the scenarios
(L{tests.integration._interop}) assert on them.  These tests are skipped,
saying why, when C{node} or C{tests/js/node_modules} is missing.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tests.integration._interop import (
    ConsumeScenarios,
    HeartbeatScenarios,
    PublishScenarios,
    skipReason,
)


class NsqjsPublishTests(PublishScenarios, TestCase):
    """
    nsqjs's Writer publishes with PUB, MPUB and DPUB; an nsqjs Reader gets
    the messages.
    """

    publisherKind = consumerKind = "nsqjs"
    skip = skipReason("nsqjs")


class NsqjsConsumeTests(ConsumeScenarios, TestCase):
    """
    nsqjs Readers requeue with a delay, see timed-out messages again, get
    a copy per channel and share a channel.
    """

    publisherKind = consumerKind = "nsqjs"
    skip = skipReason("nsqjs")


class NsqjsHeartbeatTests(HeartbeatScenarios, TestCase):
    """
    An idle nsqjs Reader answers heartbeats and stays connected.
    """

    publisherKind = consumerKind = "nsqjs"
    skip = skipReason("nsqjs")


class PynsqToNsqjsTests(PublishScenarios, TestCase):
    """
    What pynsq's Writer publishes, an nsqjs Reader receives.
    """

    publisherKind = "pynsq"
    consumerKind = "nsqjs"
    skip = skipReason("nsqjs", "pynsq")


class NsqjsToPynsqTests(PublishScenarios, TestCase):
    """
    What nsqjs's Writer publishes, a pynsq Reader receives.
    """

    publisherKind = "nsqjs"
    consumerKind = "pynsq"
    skip = skipReason("nsqjs", "pynsq")
