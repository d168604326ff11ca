"""
The PostgreSQL server of the RelStorage tests.

CI sets C{HARPER_TEST_POSTGRES_DSN} to the DSN that C{.ci/postgres.sh start} printed. Without
it, the first test that needs PostgreSQL starts a private cluster with the same script (when
PostgreSQL's programs are installed) and the cluster is stopped when the test run ends.
Without either, the tests fail and say what to do: they never skip.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import subprocess
import tempfile
from typing import Optional

#: The environment variable holding the DSN of a running server.
ENVIRONMENT = "HARPER_TEST_POSTGRES_DSN"

#: The script that starts and stops a private cluster.
SCRIPT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), ".ci", "postgres.sh"
)

_HELP = (
    f"set {ENVIRONMENT} to the DSN of a PostgreSQL database (`.ci/postgres.sh start` prints"
    " one), or install PostgreSQL (apt-get install postgresql) so that the tests can start"
    " a private cluster"
)


class NoPostgreSQL(Exception):
    """
    No PostgreSQL server can be had for the tests; the message says why and what to do.
    """


_outcome: dict[str, str] = {}


def _have_initdb() -> bool:
    return shutil.which("initdb") is not None or bool(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


def _start_private_cluster() -> str:
    folder = tempfile.mkdtemp(prefix="harper-pg-")
    done = subprocess.run(["sh", SCRIPT, "start", folder], capture_output=True, text=True, timeout=120)
    atexit.register(subprocess.run, ["sh", SCRIPT, "stop", folder], capture_output=True, timeout=60)
    if done.returncode != 0:
        raise NoPostgreSQL(f"`{SCRIPT} start` failed: {done.stderr.strip()}")
    return done.stdout.strip().splitlines()[-1]


def postgres_uri() -> str:
    """
    The DSN (a C{postgresql://} URI) of the tests' database, starting a private cluster the
    first time it is needed.

    :raises NoPostgreSQL: when there is no server and none can be started.
    """
    if "uri" not in _outcome and "error" not in _outcome:
        configured: Optional[str] = os.environ.get(ENVIRONMENT)
        try:
            if configured:
                _outcome["uri"] = configured
            elif not _have_initdb():
                raise NoPostgreSQL(f"{ENVIRONMENT} is not set and initdb is not installed: {_HELP}")
            else:
                _outcome["uri"] = _start_private_cluster()
        except (NoPostgreSQL, OSError, subprocess.SubprocessError) as error:
            _outcome["error"] = f"no PostgreSQL server for the RelStorage tests: {error}"
    if "error" in _outcome:
        raise NoPostgreSQL(_outcome["error"])
    return _outcome["uri"]
