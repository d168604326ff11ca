# -*- test-case-name: tests.resources.test_registry -*-
"""
Exported resources by path, and the resolution of request paths to (resource, target).
"""

from __future__ import annotations

from typing import Any, Optional

from zope.interface import implementer

from harper.errors import Conflict, NotFound
from harper.interfaces import IResourceRegistry


@implementer(IResourceRegistry)
class ResourceRegistry:
    """
    Maps export paths (C{"Dog"}, C{"api/Breed"}, C{""}) to resources.
    """

    def __init__(self) -> None:
        self._resources: dict[str, Any] = {}

    def register(self, path: str, resource: Any) -> None:
        """
        Serve C{resource} at C{path} (without leading or trailing slashes).
        """
        path = path.strip("/")
        if path in self._resources:
            raise Conflict(f"two resources are exported at /{path}")
        self._resources[path] = resource

    def unregister(self, path: str) -> None:
        """
        Stop serving whatever is at C{path}.
        """
        self._resources.pop(path.strip("/"), None)

    def resolve(self, path: str) -> tuple[Any, Optional[str]]:
        """
        Find the resource for a request path (without the leading slash).

        :return: C{(resource, remainder)}: C{remainder} is C{None} for the resource itself
            (C{/Dog}), C{""} for its collection (C{/Dog/}), or the text after the slash
            (C{/Dog/12} gives C{"12"}).
        :raises NotFound: when no exported path is a prefix of C{path}.
        """
        resources = self._resources
        resource = resources.get(path)
        if resource is not None:
            return resource, None
        cut = path.rfind("/")
        while cut != -1:
            resource = resources.get(path[:cut])
            if resource is not None:
                return resource, path[cut + 1:]
            cut = path.rfind("/", 0, cut)
        if "" in resources:
            return resources[""], path
        raise NotFound(f"no resource at /{path}")

    def items(self) -> list[tuple[str, Any]]:
        """
        The registered paths and resources, sorted by path.
        """
        return sorted(self._resources.items(), key=lambda item: item[0])
