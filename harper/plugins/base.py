# -*- test-case-name: tests.plugins.test_wsgi -*-
"""
What the plugins of this package share: option checking (C{true}, C{false} or a mapping of
known keys) and importing an application's Python module.
"""

from __future__ import annotations

from typing import Any, Mapping

from harper.components.options import as_mapping, check_keys
from harper.interfaces import IApplicationScope


class OptionsPlugin:
    """
    An L{IHarperPlugin} base: C{known} maps option names to their types; with
    C{mounted}, the plugin serves a web application at C{urlPath}, which may not be the
    root (it belongs to REST).
    """

    name = ""
    known: Mapping[str, Any] = {}
    mounted = False

    def check(self, options: Any) -> list[str]:
        """
        The problems with the plugin's value in a config.yaml.
        """
        if options is False:
            return []
        mapping, problems = as_mapping(options, self.name)
        problems += check_keys(mapping, self.name, self.known)
        url_path = mapping.get("urlPath")
        if self.mounted and isinstance(url_path, str) and not url_path.strip("/"):
            problems.append(
                f"{self.name}.urlPath: must name a path such as /web (the root belongs to REST)"
            )
        return problems

    def options(self, options: Any) -> dict[str, Any]:
        """
        The options as a mapping (C{true} is C{{}}).
        """
        return as_mapping(options, self.name)[0]


def import_module(path: str, application: IApplicationScope) -> Any:
    """
    Import the application's Python file C{path} the way C{pyResource} does; a failure is a
    L{harper.errors.ComponentError} naming the file and the line.
    """
    # Imported here: harper.components.builtin lists this package's plugins.
    from harper.components.builtin import _import_module

    return _import_module(path, application)
