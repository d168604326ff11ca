"""Tests for harper.database."""
