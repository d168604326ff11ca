# -*- test-case-name: tests.admin.test_manhole -*-
"""
The names an operator finds in the admin console.

L{build_namespace} puts whatever the caller hands it under fixed names (C{config},
C{databases}, C{tables}, C{service}) next to a C{show} helper that pretty-prints a value, so the
console works with any daemon layout.
"""

from __future__ import annotations

import pprint


def show(obj: object) -> None:
    """
    Pretty-print C{obj} to the console (to C{sys.stdout}, which the console captures).
    """
    pprint.pprint(obj, sort_dicts=False)


def build_namespace(*, config: object, databases: object, tables: object, service: object) -> dict:
    """
    Build the global names of one console session.

    :param config: the daemon's configuration.
    :param databases: the open databases.
    :param tables: the tables, typically by name.
    :param service: the daemon's root service.
    :return: a fresh dictionary, which the console may change freely.
    """
    return {
        "__name__": "__console__",
        "__doc__": None,
        "config": config,
        "databases": databases,
        "tables": tables,
        "service": service,
        "show": show,
    }
