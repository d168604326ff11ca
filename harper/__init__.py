"""
Harper: database, REST, real-time messaging and replication in one Twisted process.
"""

from harper._version import __version__

__all__ = ["__version__"]
