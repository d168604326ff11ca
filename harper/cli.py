# -*- test-case-name: tests.test_cli -*-
"""
The C{harper} command line: operations against a running daemon, and its status, stop and
restart.

    harper <operation> [key=value]... [json=true] [target=URL] [username=U password=P] [root=DIR]
    harper status|stop|restart [root=DIR]

Values are read as YAML scalars (C{limit=10} is a number, C{records=[{...}]} a list).
Credentials come from C{username=}/C{password=} or the environment (C{HARPER_CLI_USERNAME} /
C{HARPER_CLI_PASSWORD}, or Harper's C{CLI_TARGET_USERNAME} / C{CLI_TARGET_PASSWORD}). Without
C{target=}, the daemon whose data folder is C{root=} (default C{./var}) is asked, through the
run file it keeps there.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Mapping, Optional, Sequence, TextIO

import yaml

from harper.service.runfile import read_run_file, run_file_path

_OWN_KEYS = ("json", "target", "username", "password", "root")
_LIFECYCLE = ("status", "stop", "restart")


class CommandError(Exception):
    """
    The command cannot be carried out; the message says why.
    """


def parse_arguments(arguments: Sequence[str]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """
    Split C{harper <command> key=value...} into the command, the operation's fields and the
    command line's own settings (json, target, username, password, root).
    """
    if not arguments or arguments[0] in ("-h", "--help", "help"):
        raise CommandError(__doc__.strip())
    command, fields, own = arguments[0], {}, {}
    for argument in arguments[1:]:
        key, equals, text = argument.partition("=")
        if not equals or not key:
            raise CommandError(f"expected key=value, got {argument!r}")
        try:
            value = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            value = text
        (own if key in _OWN_KEYS else fields)[key] = value
    return command, fields, own


def _root(own: Mapping[str, Any]) -> str:
    return os.path.abspath(str(own.get("root") or os.environ.get("HARPER_ROOT") or "var"))


def _credentials(own: Mapping[str, Any], environ: Mapping[str, str]) -> Optional[str]:
    username = own.get("username") or environ.get("HARPER_CLI_USERNAME") or environ.get("CLI_TARGET_USERNAME")
    password = own.get("password") or environ.get("HARPER_CLI_PASSWORD") or environ.get("CLI_TARGET_PASSWORD")
    if username is None:
        return None
    token = base64.b64encode(f"{username}:{password or ''}".encode("utf-8")).decode("ascii")
    return f"Basic {token}"


def _target(own: Mapping[str, Any]) -> str:
    if own.get("target"):
        return str(own["target"])
    run = read_run_file(_root(own))
    if run is None:
        raise CommandError(f"no daemon runs with data in {_root(own)} (no {run_file_path(_root(own))}); pass target=URL or root=DIR")
    api = run["operationsApi"]
    if not api["port"]:
        raise CommandError("the daemon's operations API is switched off (operationsApi.port is 0)")
    return f"http://{api['host']}:{api['port']}/"


def run_operation(command: str, fields: Mapping[str, Any], own: Mapping[str, Any], environ: Mapping[str, str]) -> Any:
    """
    POST C{{"operation": command, **fields}} to the operations API and return the decoded
    answer; L{CommandError} with the server's message on an error status.
    """
    request = urllib.request.Request(
        _target(own), data=json.dumps({"operation": command, **fields}, default=str).encode("utf-8"),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    authorization = _credentials(own, environ)
    if authorization:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            message = json.loads(body).get("error", body.decode("utf-8", "replace"))
        except (ValueError, AttributeError):
            message = body.decode("utf-8", "replace")
        raise CommandError(f"{command}: {error.code} {message}") from None
    except urllib.error.URLError as error:
        raise CommandError(f"cannot reach {request.full_url}: {error.reason}") from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lifecycle(command: str, own: Mapping[str, Any], out: TextIO, wait: float = 30.0) -> int:
    """
    C{status}, C{stop} or C{restart} the daemon of C{root=}; return the exit status.
    """
    root = _root(own)
    run = read_run_file(root)
    running = run is not None and _alive(run["pid"])
    if command == "status":
        out.write(f"harper with data in {root}: " + (f"running, pid {run['pid']}\n" if running else "not running\n"))
        return 0 if running else 3
    if not running:
        raise CommandError(f"no daemon runs with data in {root}")
    os.kill(run["pid"], signal.SIGTERM)
    deadline = time.monotonic() + wait
    while _alive(run["pid"]):
        if time.monotonic() > deadline:
            raise CommandError(f"the daemon (pid {run['pid']}) did not stop within {wait:.0f} s")
        time.sleep(0.05)
    out.write(f"stopped pid {run['pid']}\n")
    if command == "restart":
        process = subprocess.Popen(run["argv"], cwd=run["cwd"], start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.write(f"started pid {process.pid}\n")
    return 0


def main(arguments: Optional[Sequence[str]] = None, out: TextIO = sys.stdout, environ: Mapping[str, str] = os.environ) -> int:
    """
    Run the command line; return the exit status (errors go to standard error).
    """
    try:
        command, fields, own = parse_arguments(sys.argv[1:] if arguments is None else arguments)
        if command in _LIFECYCLE:
            return lifecycle(command, own, out)
        answer = run_operation(command, fields, own, environ)
    except CommandError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    if own.get("json") is True:
        out.write(json.dumps(answer, indent=2, default=str) + "\n")
    else:
        out.write(yaml.safe_dump(answer, sort_keys=False, allow_unicode=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
