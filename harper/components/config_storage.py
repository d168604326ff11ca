# -*- test-case-name: tests.components.test_config -*-
"""
The storage URI schemes that C{storage.uri} may use.

A scheme is an extension point: whoever can open a kind of storage registers its scheme with
a check that lists what is wrong with a URI (see L{register_storage_scheme}). The configuration
only checks URIs and resolves the file of C{file:} URIs; opening the storage happens elsewhere.
C{file:} (a FileStorage; C{file:} alone means C{<rootPath>/database/harper.fs}),
C{memory:} (a MappingStorage, for tests), C{zeo:} (L{harper.database.zeo}) and C{postgresql:}
or C{postgres:} (L{harper.database.relstorage}) are registered here; the checks of the last two
come from their storage modules, imported (with ZEO or RelStorage) only when such a URI is
checked, which also registers their openers.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable

from harper.components.config_checks import Invalid, resolved_path

#: A scheme's check: a whole URI in, a list of problems (empty when the URI is good) out.
SchemeCheck = Callable[[str], "list[str]"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")

#: Where C{file:} with no path puts the database, relative to the root path.
DEFAULT_DATABASE_FILE = os.path.join("database", "harper.fs")


class StorageSchemes:
    """
    The registry of storage URI schemes and their checks.
    """

    def __init__(self) -> None:
        self._checks: dict[str, SchemeCheck] = {}

    def register(self, scheme: str, check: SchemeCheck) -> None:
        """
        Accept URIs with C{scheme} from now on; a second registration replaces the first.

        :param scheme: the scheme name, without the colon (compared without case).
        :param check: lists the problems of a URI with this scheme.
        :raises ValueError: if C{scheme} is not a valid URI scheme name.
        """
        if not _SCHEME.match(scheme + ":") or ":" in scheme:
            raise ValueError(f"not a URI scheme name: {scheme!r}")
        self._checks[scheme.lower()] = check

    @property
    def names(self) -> list[str]:
        """
        The registered scheme names, sorted.
        """
        return sorted(self._checks)

    def check(self, uri: str) -> list[str]:
        """
        List what is wrong with a storage URI.
        """
        scheme = uri_scheme(uri)
        supported = ", ".join(self.names)
        if scheme is None:
            return [f"expected a storage URI such as 'file:' (supported: {supported}), got {uri!r}"]
        check = self._checks.get(scheme)
        if check is None:
            return [f"unsupported storage scheme {scheme!r} (supported: {supported})"]
        return check(uri)


def uri_scheme(uri: str) -> str | None:
    """
    The scheme of a URI, in lower case, or C{None} when it has none.
    """
    match = _SCHEME.match(uri)
    return match.group(1).lower() if match else None


def _file_part(uri: str) -> str:
    rest = uri[len("file:"):]
    return rest[2:] if rest.startswith("///") else rest


def check_file_uri(uri: str) -> list[str]:
    """
    Check a C{file:} URI: C{file:}, C{file:relative/path.fs}, C{file:/absolute/path.fs} or
    C{file:///absolute/path.fs}.
    """
    part = _file_part(uri)
    if part.startswith("//"):
        return [f"a file: URI cannot name a host, got {uri!r} (write file:/absolute/path.fs)"]
    if part.endswith(("/", os.sep)):
        return [f"a file: URI must name a file, not a folder, got {uri!r}"]
    return []


def check_memory_uri(uri: str) -> list[str]:
    """
    Check a C{memory:} URI, which takes nothing after the colon.
    """
    if uri.lower() != "memory:":
        return [f"expected 'memory:' with nothing after the colon, got {uri!r}"]
    return []


def check_zeo_uri(uri: str) -> list[str]:
    """
    Check a C{zeo:} URI: C{zeo:}, C{zeo://host:port} or C{zeo:///path/to/zeo.sock}.
    """
    from harper.database import zeo

    return zeo.uri_problems(uri)


def check_postgresql_uri(uri: str) -> list[str]:
    """
    Check a C{postgresql://user:password@host:port/database} URI.
    """
    from harper.database import relstorage

    return relstorage.uri_problems(uri)


#: The registry that the configuration uses.
STORAGE_SCHEMES = StorageSchemes()
STORAGE_SCHEMES.register("file", check_file_uri)
STORAGE_SCHEMES.register("memory", check_memory_uri)
STORAGE_SCHEMES.register("zeo", check_zeo_uri)
STORAGE_SCHEMES.register("postgresql", check_postgresql_uri)
STORAGE_SCHEMES.register("postgres", check_postgresql_uri)


def register_storage_scheme(scheme: str, check: SchemeCheck) -> None:
    """
    Let C{storage.uri} use C{scheme}; see L{StorageSchemes.register}.
    """
    STORAGE_SCHEMES.register(scheme, check)


def storage_uri(value: Any) -> str:
    """
    Check C{storage.uri} against the registered schemes.
    """
    if not isinstance(value, str):
        raise Invalid.expected("a storage URI string", value)
    problems = STORAGE_SCHEMES.check(value)
    if problems:
        raise Invalid([("", problem) for problem in problems])
    return value


def resolved_storage_uri(uri: str, base_dir: str) -> str:
    """
    Make the file of a C{file:relative/path} URI absolute; other URIs are returned as they are.
    """
    if uri_scheme(uri) != "file" or not _file_part(uri):
        return uri
    return "file:" + resolved_path(_file_part(uri), base_dir)


def storage_file_path(uri: str, root_path: str) -> str | None:
    """
    The database file of a resolved C{file:} URI (C{None} for other schemes).

    :param root_path: the absolute root path, for C{file:} with no path.
    """
    if uri_scheme(uri) != "file":
        return None
    return _file_part(uri) or os.path.join(root_path, DEFAULT_DATABASE_FILE)
