"""
Tests for L{txnsq.nsqadmin}.
"""
