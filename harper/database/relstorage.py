# -*- test-case-name: tests.storage.test_postgresql -*-
"""
RelStorage on PostgreSQL: C{postgresql://user:password@host:port/database} (or C{postgres://}).

The storage is history-free: a record's old revisions are dropped when it is written, as with
every other write path of harper, which never undoes transactions or reads past states (the
replication change log is our own). History-free tables stay the size of the live data without
packing, and commits write one row per object instead of two. Every process that opens the
same database shares it, and each transaction starts by polling for the commits of the others.
Every call goes to the database server: the storage says so with C{blocking_reads}. The
connection uses psycopg2.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

import psycopg2
from relstorage.adapters.postgresql import PostgreSQLAdapter
from relstorage.options import Options
from relstorage.storage import RelStorage

from harper.database.storage import register_storage_opener
from harper.errors import StartupError

#: The URI schemes libpq accepts.
SCHEMES = ("postgresql", "postgres")


class PostgreSQLStorage(RelStorage):
    """
    A history-free RelStorage.

    :cvar blocking_reads: reads wait for the database server, so never run them on the
        reactor thread.
    """

    blocking_reads = True


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def postgresql_dsn(uri: str) -> str:
    """
    The libpq C{key=value} connection string of a C{postgresql://} URI (RelStorage appends its
    own settings to it, which a URI would not allow).

    :raises ValueError: saying what is wrong with C{uri}.
    """
    parts = urlsplit(uri)
    if parts.scheme.lower() not in SCHEMES or not uri[len(parts.scheme) + 1:].startswith("//"):
        raise ValueError(f"expected postgresql://user@host:port/database, got {uri!r}")
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise ValueError(
            f"a postgresql: URI must name one database, as in postgresql://user@host/harper, got {uri!r}"
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"the port of {uri!r} is not a number from 1 to 65535") from None
    settings = {
        "host": unquote(parts.hostname or ""),
        "port": str(port) if port else "",
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "dbname": database,
    }
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise ValueError(f"the query of {uri!r} must be key=value settings joined by '&'") from None
    settings.update(query)
    return " ".join(f"{key}={_quoted(value)}" for key, value in settings.items() if value)


def uri_problems(uri: str) -> list[str]:
    """
    List what is wrong with a C{postgresql:} URI (the configuration's check).
    """
    try:
        postgresql_dsn(uri)
    except ValueError as error:
        return [str(error)]
    return []


def _shown(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def open_postgresql_storage(uri: str, root_path: str) -> PostgreSQLStorage:
    """
    Open the history-free RelStorage of a C{postgresql:} URI, creating its tables in an empty
    database (the opener of the C{postgresql} and C{postgres} schemes).

    :raises StartupError: when the database cannot be reached.
    """
    options = Options(keep_history=False, driver="psycopg2", create_schema=True)
    adapter = PostgreSQLAdapter(dsn=postgresql_dsn(uri), options=options)
    try:
        return PostgreSQLStorage(adapter, name=_shown(uri), options=options)
    except psycopg2.Error as error:
        reason = " ".join(str(error).split())
        problem = f"storage.uri: cannot open PostgreSQL database {_shown(uri)}: {reason}"
        raise StartupError([problem]) from None


for _scheme in SCHEMES:
    register_storage_opener(_scheme, open_postgresql_storage)
