# -*- test-case-name: tests.components.test_config -*-
"""
Value checks for the root configuration.

Each check takes one value read from YAML (or from a C{--set} option) and returns it in normal
form (durations in seconds, log levels in lower case, applications as mappings), or raises
L{Invalid} saying what was expected. Checks know nothing about files or keys: the walker in
L{harper.components.config_schema} adds the key and the source to every problem.
"""

from __future__ import annotations

import difflib
import os
import re
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import urlsplit

#: A check: a value in, the normal form out, L{Invalid} on a bad value.
Check = Callable[[Any], Any]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class Invalid(Exception):
    """
    A value failed a check.

    :ivar problems: C{(suffix, reason)} pairs; C{suffix} locates the problem inside the value
        (C{"[2].path"} for a list entry's key, C{""} for the value itself).
    :ivar expectation: what the check expected, when the problem is the value's own type or
        range; L{optional} uses it to say that C{null} is accepted too.
    """

    def __init__(
        self, problems: Sequence[tuple[str, str]], expectation: str | None = None
    ) -> None:
        super().__init__(problems)
        self.problems = list(problems)
        self.expectation = expectation

    @classmethod
    def expected(cls, expectation: str, value: Any) -> "Invalid":
        """
        The value is not what the check expected.

        :param expectation: what was expected, like C{"an integer from 0 to 65535"}.
        :param value: the value that was found instead.
        """
        return cls([("", f"expected {expectation}, got {shown(value)}")], expectation)

    @classmethod
    def because(cls, reason: str) -> "Invalid":
        """
        The value is wrong for the given reason.
        """
        return cls([("", reason)])


def shown(value: Any) -> str:
    """
    Describe a configuration value the way the user wrote it, in YAML terms.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def unknown_key(key: Any, known: Iterable[str]) -> str:
    """
    The reason for rejecting an unknown key, with the closest known key when one is close.

    Keys are compared without case, underscores and dashes, so C{root_path} suggests
    C{rootPath}.
    """
    by_folded = {_folded(name): name for name in known}
    close = difflib.get_close_matches(_folded(str(key)), list(by_folded), n=1, cutoff=0.6)
    if close:
        return f"unknown key (did you mean {by_folded[close[0]]!r}?)"
    return "unknown key"


def _folded(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def integer(minimum: int, maximum: int | None = None) -> Check:
    """
    A check for integers in a range (booleans are not integers here).
    """
    if maximum is None:
        expectation = f"an integer of at least {minimum}"
    else:
        expectation = f"an integer from {minimum} to {maximum}"

    def check(value: Any) -> int:
        if not _is_integer(value) or value < minimum or (maximum is not None and value > maximum):
            raise Invalid.expected(expectation, value)
        return value

    return check


#: A TCP port number; 0 switches the listener off.
port = integer(0, 65535)


def boolean(value: Any) -> bool:
    """
    Check a boolean.
    """
    if not isinstance(value, bool):
        raise Invalid.expected("true or false", value)
    return value


def string(value: Any) -> str:
    """
    Check a string (possibly empty).
    """
    if not isinstance(value, str):
        raise Invalid.expected("a string", value)
    return value


def text(value: Any) -> str:
    """
    Check a non-empty string.
    """
    if not isinstance(value, str) or not value:
        raise Invalid.expected("a non-empty string", value)
    return value


def path(value: Any) -> str:
    """
    Check a file or folder path (relative paths are resolved later, see L{resolved_path}).
    """
    if not isinstance(value, str) or not value.strip():
        raise Invalid.expected("a non-empty path", value)
    return value


def optional(check: Check) -> Check:
    """
    Accept C{null} as well as whatever C{check} accepts.
    """

    def check_optional(value: Any) -> Any:
        if value is None:
            return None
        try:
            return check(value)
        except Invalid as invalid:
            if invalid.expectation is None:
                raise
            raise Invalid.expected(f"{invalid.expectation} or null", value) from None

    return check_optional


def one_of(*choices: str) -> Check:
    """
    A check for one of a few words, compared without case and returned in lower case.
    """
    expectation = "one of " + ", ".join(choices)

    def check(value: Any) -> str:
        if not isinstance(value, str) or value.lower() not in choices:
            raise Invalid.expected(expectation, value)
        return value.lower()

    return check


def duration(value: Any) -> float:
    """
    Check a duration: a number of seconds or a string such as C{30s}, C{15m}, C{1h}, C{1d};
    return it in seconds.
    """
    if _is_integer(value) or isinstance(value, float):
        seconds = float(value)
    else:
        match = _DURATION.match(value) if isinstance(value, str) else None
        if match is None:
            raise Invalid.expected("a duration such as 30s, 15m, 1h or 1d", value)
        unit = (match.group(2) or "s").lower()
        seconds = float(match.group(1)) * _UNIT_SECONDS[unit]
    if not seconds > 0:
        raise Invalid.expected("a positive duration", value)
    return seconds


def dotted_name(value: Any) -> str:
    """
    Check a dotted Python name such as C{twisted.plugins}.
    """
    if not isinstance(value, str) or not all(part.isidentifier() for part in value.split(".")):
        raise Invalid.expected("a dotted Python package name", value)
    return value


def list_of(item: Check) -> Check:
    """
    A check for a list whose entries all pass C{item}; every bad entry is reported.
    """

    def check(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise Invalid.expected("a list", value)
        result: list[Any] = []
        problems: list[tuple[str, str]] = []
        for index, entry in enumerate(value):
            try:
                result.append(item(entry))
            except Invalid as invalid:
                problems.extend((f"[{index}]{suffix}", why) for suffix, why in invalid.problems)
        if problems:
            raise Invalid(problems)
        return result

    return check


def fields(required: dict[str, Check], optional_keys: dict[str, Check], *, strict: bool) -> Check:
    """
    A check for a small mapping (a list entry such as an application or a route).

    :param required: keys that must be present, with their checks.
    :param optional_keys: keys that may be absent (they become C{None}), with their checks.
    :param strict: whether keys not named are rejected; when false they are kept as they are.
    """
    known = {**required, **optional_keys}

    def check(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise Invalid.expected("a mapping", value)
        result: dict[str, Any] = {} if strict else dict(value)
        problems = [(f".{key}", "required key is missing") for key in required if key not in value]
        for key, entry in value.items():
            if key not in known:
                if strict:
                    problems.append((f".{key}", unknown_key(key, known)))
                continue
            try:
                result[key] = known[key](entry)
            except Invalid as invalid:
                problems.extend((f".{key}{suffix}", why) for suffix, why in invalid.problems)
        if problems:
            raise Invalid(problems)
        return {**dict.fromkeys(optional_keys), **result}

    return check


def either(first: Check, second: Check, expectation: str) -> Check:
    """
    A check for values that are a string (checked by C{first}) or a mapping (by C{second}).
    """

    def check(value: Any) -> Any:
        if isinstance(value, str):
            return first(value)
        if isinstance(value, dict):
            return second(value)
        raise Invalid.expected(expectation, value)

    return check


_application_mapping = fields({"path": path}, {"urlPath": optional(string)}, strict=True)


def _application_folder(folder: str) -> dict[str, Any]:
    return _application_mapping({"path": path(folder)})


#: An application: a folder path, or C{{path, urlPath}}; always returned as a mapping.
application = either(
    _application_folder, _application_mapping, "a folder path or a mapping with 'path'"
)

_mtls_mapping = fields({}, {"user": optional(text), "required": boolean}, strict=True)


def mtls(value: Any) -> dict[str, Any] | bool:
    """
    Check a listener's mutual TLS setting: C{false} (off), C{true} (client certificates are
    verified and their common name is the user) or a mapping C{{user, required}}. Return
    C{False} when off, else a mapping with C{user} (C{"Common Name"}, a fixed user name, or
    C{None} for no user) and C{required} (whether clients without a certificate are refused).
    """
    if isinstance(value, bool):
        return {"user": "Common Name", "required": False} if value else False
    if not isinstance(value, dict):
        raise Invalid.expected("true, false or a mapping with 'user' and 'required'", value)
    checked = _mtls_mapping(value)
    user = checked["user"] if "user" in value else "Common Name"
    return {"user": "Common Name" if user == "CN" else user, "required": bool(checked["required"])}


def node_name(value: Any) -> str:
    """
    Check a replication node name (C{replication.hostname}): a host name, without spaces or
    slashes.
    """
    checked = text(value)
    if any(character.isspace() or character == "/" for character in checked):
        raise Invalid.because(f"expected a host name without spaces or slashes, got {shown(value)}")
    return checked


def websocket_url(value: Any) -> str:
    """
    Check a C{ws://} or C{wss://} URL with a host (C{replication.url}).
    """
    checked = text(value)
    parts = urlsplit(checked)
    try:
        parts.port
    except ValueError:
        raise Invalid.because(f"expected a valid port in {shown(value)}") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise Invalid.because(f"expected a ws:// or wss:// URL with a host, got {shown(value)}")
    return checked


#: A replication route: a URL string, or a mapping whose hostname and port are checked.
route = either(
    text,
    fields({}, {"hostname": optional(text), "port": optional(port)}, strict=False),
    "a URL or a mapping with 'hostname' and 'port'",
)


def databases(value: Any) -> str | list[str]:
    """
    Check the replicated databases: C{"*"} for all of them, or a list of names.
    """
    if value == "*":
        return value
    if not isinstance(value, list):
        raise Invalid.expected("'*' or a list of database names", value)
    return list_of(text)(value)


def resolved_path(value: str, base_dir: str) -> str:
    """
    Make a checked path absolute: C{~} is expanded, relative paths start at C{base_dir}.
    """
    return os.path.normpath(os.path.join(base_dir, os.path.expanduser(value)))


def resolved_optional_path(value: str | None, base_dir: str) -> str | None:
    """
    L{resolved_path} for a path that may be C{null}.
    """
    return None if value is None else resolved_path(value, base_dir)


def resolved_applications(value: list[dict[str, Any]], base_dir: str) -> list[dict[str, Any]]:
    """
    Make the folder of every checked application absolute.
    """
    return [{**entry, "path": resolved_path(entry["path"], base_dir)} for entry in value]
