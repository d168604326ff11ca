"""harper.components."""
