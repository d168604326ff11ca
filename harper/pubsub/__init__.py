"""harper.pubsub."""
