# -*- test-case-name: tests.components.test_builtin -*-
"""
Small checks for plugin options in an application's config.yaml, each returning problems.
"""

from __future__ import annotations

from typing import Any, Mapping


def as_mapping(options: Any, plugin: str) -> tuple[dict[str, Any], list[str]]:
    """
    Normalise C{true} to C{{}} and check that the options are a mapping.
    """
    if options is True:
        return {}, []
    if isinstance(options, Mapping):
        return dict(options), []
    return {}, [f"{plugin}: expected true or a mapping of options, got {options!r}"]


def check_keys(options: Mapping[str, Any], plugin: str, known: Mapping[str, type | tuple]) -> list[str]:
    """
    Problems for unknown keys and values of the wrong type.
    """
    problems = []
    for key, value in options.items():
        if key not in known:
            problems.append(f"{plugin}.{key}: unknown option (known: {', '.join(sorted(known))})")
        elif not isinstance(value, known[key]) or (known[key] is int and isinstance(value, bool)):
            problems.append(f"{plugin}.{key}: invalid value {value!r}")
    files = options.get("files")
    if isinstance(files, list) and not all(isinstance(item, str) for item in files):
        problems.append(f"{plugin}.files: every entry must be a glob pattern string")
    return problems
