"""
Tests for L{txnsq.nsqd.diskqueue}.
"""
