"""harper.mqtt."""
