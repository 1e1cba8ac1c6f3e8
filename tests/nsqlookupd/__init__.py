"""
Tests for L{txnsq.nsqlookupd}.
"""
