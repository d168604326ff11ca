# -*- test-case-name: tests.test_cli -*-
"""
The run file: what a running daemon tells the C{harper} command line about itself.

It lives at C{<rootPath>/harper.run.json} while the daemon runs: its pid, the command that
started it (to restart it) and where its operations API listens.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Optional

RUN_FILE = "harper.run.json"


def run_file_path(root_path: str) -> str:
    """
    The run file of the daemon whose data folder is C{root_path}.
    """
    return os.path.join(root_path, RUN_FILE)


def write_run_file(root_path: str, operations_host: str, operations_port: int) -> None:
    """
    Record this process as the daemon of C{root_path}.
    """
    os.makedirs(root_path, exist_ok=True)
    document = {
        "pid": os.getpid(),
        "argv": [sys.executable, *sys.argv] if not sys.argv[0].endswith("twistd") else sys.argv,
        "cwd": os.getcwd(),
        "operationsApi": {"host": operations_host or "127.0.0.1", "port": operations_port},
    }
    path = run_file_path(root_path)
    with open(path + ".tmp", "w", encoding="utf-8") as stream:
        json.dump(document, stream)
    os.replace(path + ".tmp", path)


def remove_run_file(root_path: str) -> None:
    """
    Forget the daemon of C{root_path} (when it stops).
    """
    try:
        os.remove(run_file_path(root_path))
    except FileNotFoundError:
        pass


def read_run_file(root_path: str) -> Optional[dict[str, Any]]:
    """
    The run file of C{root_path}, or C{None} when no daemon recorded itself there.
    """
    try:
        with open(run_file_path(root_path), encoding="utf-8") as stream:
            return json.load(stream)
    except FileNotFoundError:
        return None
