"""
Tests for L{harper.service}: the command line, the daemon and its installation.
"""
