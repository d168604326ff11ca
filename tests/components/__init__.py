"""
Tests for L{harper.components}.
"""
