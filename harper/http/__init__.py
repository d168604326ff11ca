"""harper.http."""
