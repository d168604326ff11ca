"""
Replication between harper nodes: a durable change log per node, streamed over WebSocket to
peers that apply it with a last-writer-wins rule.
"""
