"""
Tests for L{txnsq.nsqd}.
"""
