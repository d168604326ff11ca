# -*- test-case-name: tests.operations.test_system_ops -*-
"""
The daemon itself: C{system_information}, C{get_configuration} and C{set_configuration}
(super users only).
"""

from __future__ import annotations

import os
import platform
import re
import resource
import socket
import sys
import threading
from typing import Any, Callable, Mapping

import yaml

from harper import __version__
from harper.auth.permissions import require_super_user
from harper.components.config import config_from_string
from harper.errors import ConfigError, InvalidInput
from harper.operations.registry import OperationCall, OperationRegistry

operations = OperationRegistry()

#: Configuration keys whose values are never shown.
SECRET_KEYS = frozenset({"password"})

_REDACTED = "<redacted>"


def _system(call: OperationCall) -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.system(),
        "release": platform.release(),
        "architecture": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def _time(call: OperationCall) -> dict[str, Any]:
    now = call.scope.clock.seconds()
    return {"current": int(now * 1000), "uptime": now - call.scope.started_at}


def _memory(call: OperationCall) -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    scale = 1 if sys.platform == "darwin" else 1024
    return {"max_resident": usage.ru_maxrss * scale}


def _harper(call: OperationCall) -> dict[str, Any]:
    return {"version": __version__, "pid": os.getpid(), "threads": threading.active_count()}


#: The sections of C{system_information}, by the names C{attributes} selects.
SECTIONS: Mapping[str, Callable[[OperationCall], dict[str, Any]]] = {
    "system": _system,
    "time": _time,
    "memory": _memory,
    "harper": _harper,
}


@operations.register("system_information")
def system_information(call: OperationCall) -> dict[str, Any]:
    """
    Facts about the machine and the process; C{attributes} selects sections.
    """
    require_super_user(call.user, "read system information")
    wanted = call.fields.names("attributes", sorted(SECTIONS))
    unknown = [name for name in wanted if name not in SECTIONS]
    if unknown:
        known = ", ".join(sorted(SECTIONS))
        raise InvalidInput(f"attributes: {unknown[0]!r} is not one of {known}")
    return {name: SECTIONS[name](call) for name in wanted}


def redacted(value: Any) -> Any:
    """
    C{value} (a configuration mapping) with the values of L{SECRET_KEYS} hidden.
    """
    if isinstance(value, Mapping):
        return {
            key: _REDACTED if key in SECRET_KEYS and item is not None else redacted(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redacted(item) for item in value]
    return value


@operations.register("get_configuration")
def get_configuration(call: OperationCall) -> dict[str, Any]:
    """
    The effective configuration (defaults filled in), secrets hidden.
    """
    require_super_user(call.user, "read the configuration")
    return redacted(call.scope.config.raw)


#: What separates the levels of a flattened key (C{logging_level}, C{http.port}).
_KEY_SEPARATOR = re.compile(r"[_.]")


def _key_path(name: str, known: Mapping[str, Any]) -> list[str]:
    """
    The path of configuration keys (as the file spells them) that the flattened C{name}
    names, matched level by level without regard to case (C{operationsapi_port} is
    C{operationsApi.port}).

    :raises InvalidInput: when there is no such key.
    """
    path: list[str] = []
    level: Any = known
    for part in _KEY_SEPARATOR.split(name):
        if not isinstance(level, Mapping):
            break
        key = next((key for key in level if key.lower() == part.lower()), None)
        if key is None:
            break
        path.append(key)
        level = level[key]
    else:
        return path
    raise InvalidInput(f"{name}: not a configuration key (see get_configuration for the keys)")


def _with_settings(
    document: dict[str, Any], settings: Mapping[str, Any], known: Mapping[str, Any]
) -> dict[str, Any]:
    """
    C{document} (the configuration file's mapping) with each flattened key of C{settings} set.
    """
    for name, value in settings.items():
        *parents, last = _key_path(name, known)
        level = document
        for key in parents:
            if not isinstance(level.get(key), dict):
                level[key] = {}
            level = level[key]
        level[last] = value
    return document


def _write_atomically(path: str, text: str) -> None:
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(temporary, path)


@operations.register("set_configuration")
def set_configuration(call: OperationCall) -> dict[str, str]:
    """
    Write the request's flattened keys (C{logging_level: debug}, C{http_port: 9930}) into the
    configuration file the daemon was started with, after checking the resulting file as a
    start would; the new values apply after a restart.
    """
    require_super_user(call.user, "change the configuration")
    settings = {name: value for name, value in call.fields.body.items() if name != "operation"}
    if not settings:
        raise InvalidInput("give at least one configuration key to set, such as logging_level")
    config = call.scope.config
    path = config.source
    if not os.path.isfile(path):
        raise InvalidInput(
            "the daemon was started without a configuration file (--config): "
            "there is no file to change"
        )
    try:
        with open(path, encoding="utf-8") as stream:
            document = yaml.safe_load(stream) or {}
    except (OSError, yaml.YAMLError) as error:
        raise InvalidInput(f"the configuration file {path} cannot be read: {error}") from None
    text = yaml.safe_dump(_with_settings(document, settings, config.raw), sort_keys=False)
    try:
        config_from_string(text, path, base_dir=os.path.dirname(path), environ={})
    except ConfigError as error:
        problems = [line.removeprefix(f"{path}: ") for line in error.problems]
        raise InvalidInput("; ".join(problems)) from None
    _write_atomically(path, text)
    return {"message": f"configuration saved in {path}; restart harper for it to take effect"}
