"""
Tests for L{txnsq.nsqd.state}.
"""
