"""harper.service."""
