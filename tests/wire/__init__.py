"""
Tests for L{txnsq.wire}.
"""
