# -*- test-case-name: tests.operations.test_system_ops -*-
"""
The daemon itself: C{system_information} and C{get_configuration} (super users only).
"""

from __future__ import annotations

import os
import platform
import resource
import socket
import sys
import threading
from typing import Any, Callable, Mapping

from harper import __version__
from harper.auth.permissions import require_super_user
from harper.errors import InvalidInput
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
