"""harper.admin."""
