"""harper.websocket."""
