"""
Integration tests: a real harper daemon under load, killed and restarted.
"""
