# -*- test-case-name: tests.database.test_storage -*-
"""
Open the ZODB database named by a storage URI.

Schemes are an extension point: L{register_storage_opener} adds one (ZEO and RelStorage come in
later); C{file:} (FileStorage, the embedded default) and C{memory:} (MappingStorage) are built in.
"""

from __future__ import annotations

import importlib
import os
from typing import Callable
from urllib.parse import urlsplit

import ZODB
from ZODB.FileStorage import FileStorage
from ZODB.MappingStorage import MappingStorage

StorageOpener = Callable[[str, str], object]

#: Objects each connection's cache keeps (C{storage.cacheSize}).
DEFAULT_CACHE_SIZE = 100_000

#: Estimated bytes of object state each connection's cache keeps (C{storage.cacheSizeBytes}):
#: the objects a commit writes stay in the writing connection's cache, so without a byte bound
#: the writer keeps every audit entry it wrote until the object count is reached.
DEFAULT_CACHE_SIZE_BYTES = 8 * 1024 * 1024

_openers: dict[str, StorageOpener] = {}

# Backends whose modules register their openers when imported, imported only when used.
_BACKEND_MODULES = {
    "zeo": "harper.database.zeo",
    "postgresql": "harper.database.relstorage",
    "postgres": "harper.database.relstorage",
}


def register_storage_opener(scheme: str, opener: StorageOpener) -> None:
    """
    Make C{scheme} URIs open with C{opener(uri, root_path)}, which returns a ZODB storage.
    """
    _openers[scheme] = opener


def default_file_path(root_path: str) -> str:
    """
    Where the embedded FileStorage lives under the data folder.
    """
    return os.path.join(root_path, "database", "harper.fs")


def _open_file(uri: str, root_path: str) -> FileStorage:
    path = uri[len("file:"):]
    if not path:
        path = default_file_path(root_path)
    elif not os.path.isabs(path):
        path = os.path.join(root_path, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return FileStorage(path)


def _open_memory(uri: str, root_path: str) -> MappingStorage:
    return MappingStorage(uri)


register_storage_opener("file", _open_file)
register_storage_opener("memory", _open_memory)


def open_database(
    uri: str,
    root_path: str,
    *,
    cache_size: int = DEFAULT_CACHE_SIZE,
    cache_size_bytes: int = DEFAULT_CACHE_SIZE_BYTES,
    pool_size: int = 10,
) -> ZODB.DB:
    """
    Open the storage named by C{uri} and return a ZODB database over it.

    :param uri: C{file:}, C{file:path.fs}, C{memory:} or a registered scheme.
    :param root_path: the data folder that relative paths are resolved against.
    :param cache_size: objects each connection keeps in its cache.
    :param cache_size_bytes: the estimated size (pickled state) of the objects each
        connection keeps in its cache; 0 for no bound but C{cache_size}. ZODB turns the least
        recently used objects back into ghosts after every transaction until both bounds hold.
    :param pool_size: connections expected to be open at once (one per worker thread).
    """
    scheme = urlsplit(uri).scheme or uri.rstrip(":")
    if scheme not in _openers and scheme in _BACKEND_MODULES:
        importlib.import_module(_BACKEND_MODULES[scheme])
    opener = _openers.get(scheme)
    if opener is None:
        raise ValueError(f"unsupported storage scheme {scheme!r}")
    return ZODB.DB(
        opener(uri, root_path), cache_size=cache_size, cache_size_bytes=cache_size_bytes,
        pool_size=pool_size,
    )
