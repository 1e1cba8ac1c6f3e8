"""
Tests for L{txnsq.tools}: the Go NSQ utilities.
"""
