"""Tests for harper.resources."""
