"""harper.database."""
