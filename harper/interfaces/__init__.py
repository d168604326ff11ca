"""
The zope.interface contracts of harper, re-exported from their modules.
"""

from harper.interfaces.plugins import IApplicationScope, IHarperPlugin
from harper.interfaces.resources import (
    IRequestContext,
    IResource,
    IResourceRegistry,
    ISubscription,
)

__all__ = [
    "IApplicationScope",
    "IHarperPlugin",
    "IRequestContext",
    "IResource",
    "IResourceRegistry",
    "ISubscription",
]
