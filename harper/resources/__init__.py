"""harper.resources."""
