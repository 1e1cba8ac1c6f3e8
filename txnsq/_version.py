# -*- test-case-name: tests.test_cli -*-
"""txnsq version: the txnsq release, distinct from the NSQ protocol version."""

__version__ = "0.1.0"
