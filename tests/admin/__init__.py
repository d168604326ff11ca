"""Tests for harper.admin."""
