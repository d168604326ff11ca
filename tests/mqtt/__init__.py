"""Tests for harper.mqtt."""
