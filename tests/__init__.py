"""harper tests."""
