"""
Runs the examples of docs/operations.md against the operations API: each request, in order,
must get the answer the page shows.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from harper.operations import cluster_ops
from harper.operations.api import default_operations
from tests.operations.helpers import OperationsCase

DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "operations.md")

_BLOCK = re.compile(r"```json\n(.*?)```", re.DOTALL)
_PLACEHOLDER = re.compile(r"^<(\w+)>$")


def examples() -> list[tuple[Any, Any]]:
    """
    The (request, answer) pairs of the page's "Operations" section, in order.
    """
    with open(DOCS, encoding="utf-8") as stream:
        text = stream.read()
    section = text.split("\n## Operations\n", 1)[1].split("\n## ", 1)[0]
    blocks = [json.loads(block) for block in _BLOCK.findall(section)]
    return list(zip(blocks[::2], blocks[1::2]))


def matches(expected: Any, actual: Any) -> bool:
    """
    Whether C{actual} is what C{expected} shows: C{"..."} matches anything, a C{"..."} key
    allows more keys, a trailing C{"..."} item allows more items.
    """
    if expected == "...":
        return True
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False
        keys = set(expected) - {"..."}
        if "..." not in expected and set(actual) != keys or not keys <= set(actual):
            return False
        return all(matches(expected[key], actual[key]) for key in keys)
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return False
        if expected and expected[-1] == "...":
            expected, actual = expected[:-1], actual[: len(expected) - 1]
        return len(expected) == len(actual) and all(map(matches, expected, actual))
    return expected == actual


def _filled(request: Any, seen: dict[str, Any]) -> Any:
    if isinstance(request, dict):
        return {key: _filled(value, seen) for key, value in request.items()}
    found = _PLACEHOLDER.match(request) if isinstance(request, str) else None
    return seen[found.group(1)] if found else request


class DocumentedExamplesTests(OperationsCase):
    """
    docs/operations.md.
    """

    def test_every_operation_documented(self) -> None:
        """
        Every operation of the registry has an example (aliases apart; the cluster operations
        need a cluster: docs/clustering.md documents them, see tests.replication.test_cluster_ops).
        """
        documented = {request["operation"] for request, _ in examples()}
        aliases = {"describe_schema", "search_by_hash", "create_schema", "drop_schema", "restart_service"}
        clustered = set(cluster_ops.operations.names())
        self.assertEqual(set(default_operations().names()) - aliases - clustered, documented)

    async def test_examples(self) -> None:
        """
        Each documented request gets the documented answer.
        """
        seen: dict[str, Any] = {}
        for request, expected in examples():
            answer = await self.ok(_filled(request, seen))
            self.assertTrue(matches(expected, answer), f"{request['operation']}: got {answer!r}")
            if isinstance(answer, dict):
                seen.update(answer)
