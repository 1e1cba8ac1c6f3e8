"""
Tests for L{txnsq.metrics}.
"""
