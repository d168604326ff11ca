"""
Request metrics: what the transports record per request and the system table they are
aggregated into.
"""
