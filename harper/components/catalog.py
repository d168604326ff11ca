# -*- test-case-name: tests.operations.test_structure_ops -*-
"""
The databases and tables created through the operations API (C{create_database},
C{create_table}, ...), as opposed to those an application's schema declares.

Their definitions live in two tables of the C{system} database, C{hdb_database} and
C{hdb_table}, written in the same transaction as the table's records and indexes, so a
definition and its data appear and disappear together and survive a restart:
L{Catalog.load} serves them again when the runtime starts. Such a table is dynamic, as in
Harper: its primary key is an C{ID} (a string or an integer; a UUID when a record has none),
any other attribute is accepted, the attributes it was created with (or given later with
C{create_attribute}) are indexed, and C{__createdtime__}/C{__updatedtime__} are kept. It is
reachable through the operations API, SQL and code (C{databases.<db>.<table>}); REST serves
only the tables an application exports.

The catalog follows the committed changes of its two tables on the change feed, whether made
in this process or relayed from another worker process, so every process serves the same
tables.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Optional, Sequence

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from harper.auth.system import SYSTEM_DATABASE, system_table
from harper.database.events import DELETE, ChangeEvent
from harper.database.migrate import migrate
from harper.database.table import Table
from harper.database.transaction import Transaction
from harper.errors import InvalidInput, NotFound
from harper.schema.model import AttributeDefinition, Schema, TableDefinition, TypeRef
from harper.schema.validate import validate_record

#: What a database, table or attribute name may look like.
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,127}$")

#: The attributes every dynamic table keeps, as Harper's do.
CREATED_TIME = "__createdtime__"
UPDATED_TIME = "__updatedtime__"

_TIME = TypeRef("Float")

#: The C{source} of the definitions made here, shown where a schema file would be.
SOURCE = "operations API"

DATABASE_TABLE = system_table("hdb_database", AttributeDefinition("name", TypeRef("String"), primary_key=True))

TABLE_TABLE = system_table(
    "hdb_table",
    AttributeDefinition("id", TypeRef("String"), primary_key=True),
    AttributeDefinition("database", TypeRef("String", nullable=False), indexed=True),
    AttributeDefinition("table", TypeRef("String", nullable=False)),
    AttributeDefinition("primary_key", TypeRef("String", nullable=False)),
    AttributeDefinition("attributes", TypeRef(None, item=TypeRef("String", nullable=False))),
    AttributeDefinition("expiration", TypeRef("Float")),
)


def catalog_tables() -> list[Table]:
    """
    New L{Table} objects for C{system.hdb_database} and C{system.hdb_table} (migrate them
    with the other system tables before L{Catalog.load}).
    """
    return [Table(DATABASE_TABLE), Table(TABLE_TABLE)]


def checked_name(kind: str, value: str) -> str:
    """
    C{value} when it is a valid database, table or attribute name.

    :param kind: the request field that held it, for the message.
    :raises InvalidInput: otherwise.
    """
    if not NAME.match(value):
        raise InvalidInput(
            f"{kind}: {value!r} is not a valid name (letters, digits, '_' and '-', "
            "starting with a letter or '_', at most 128 characters)"
        )
    return value


def dynamic_definition(
    database: str,
    table: str,
    primary_key: str,
    attributes: Sequence[str] = (),
    expiration: Optional[float] = None,
) -> TableDefinition:
    """
    The definition of a table created by the operations API.
    """
    declared = [AttributeDefinition(primary_key, TypeRef("ID"), primary_key=True)]
    declared.extend(AttributeDefinition(name, TypeRef("Any"), indexed=True) for name in attributes)
    declared.append(AttributeDefinition(CREATED_TIME, _TIME, indexed=True, created_time=True))
    declared.append(AttributeDefinition(UPDATED_TIME, _TIME, indexed=True, updated_time=True))
    return TableDefinition(
        type_name=table,
        name=table,
        database=database,
        attributes=tuple(declared),
        expiration=expiration,
        source=SOURCE,
    )


def _definition_of(record: dict[str, Any]) -> TableDefinition:
    return dynamic_definition(
        record["database"], record["table"], record["primary_key"],
        record.get("attributes") or (), record.get("expiration"),
    )


def _record_of(definition: TableDefinition) -> dict[str, Any]:
    record = {
        "id": f"{definition.database}.{definition.name}",
        "database": definition.database,
        "table": definition.name,
        "primary_key": definition.primary_key.name,
        "attributes": list(own_attributes(definition)),
        "expiration": definition.expiration,
    }
    return validate_record(record, TABLE_TABLE, Schema())


def own_attributes(definition: TableDefinition) -> tuple[str, ...]:
    """
    The attributes a dynamic table was given (primary key and managed times excluded).
    """
    return tuple(
        attribute.name
        for attribute in definition.attributes
        if not attribute.primary_key and attribute.name not in (CREATED_TIME, UPDATED_TIME)
    )


class Catalog:
    """
    The databases and tables made through the operations API, kept in the C{system} tables
    and served by the runtime.

    :param runtime: the started L{harper.components.runtime.Runtime}; the catalog uses its
        runner and its C{serve_table}, C{withdraw_table} and C{table_owner}.
    """

    _log = Logger()

    def __init__(self, runtime: Any) -> None:
        self._runtime = runtime
        self._databases = Table(DATABASE_TABLE)
        self._tables = Table(TABLE_TABLE)
        #: The dynamic tables' definitions by (database, table).
        self.definitions: dict[tuple[str, str], TableDefinition] = {}
        #: Databases created with C{create_database} (or C{create_table}).
        self.databases: set[str] = set()
        runtime.feed.listen(self._committed)

    def load(self) -> list[str]:
        """
        Serve the stored definitions (blocking: at start-up); return a line per migration
        change. A table an application now declares keeps the application's definition.
        """
        def read(txn: Transaction) -> tuple[list[str], list[TableDefinition]]:
            names = [entry.value["name"] for entry in self._databases.scan(txn)]
            return names, [_definition_of(entry.value) for entry in self._tables.scan(txn)]

        names, definitions = self._runtime.runner.run_blocking(read)
        self.databases.update(names)
        served = []
        for definition in definitions:
            owner = self._runtime.table_owner(definition.database, definition.name)
            if owner is not None:
                self._log.warn(
                    "table {database}.{table} made by the operations API is now declared by "
                    "application {application}; its schema applies",
                    database=definition.database, table=definition.name, application=owner.name,
                )
                continue
            served.append(definition)
        changes = self._runtime.runner.run_blocking(
            lambda txn: migrate(txn, [Table(definition) for definition in served])
        )
        for definition in served:
            self._serve(definition)
        return changes

    # -- queries -------------------------------------------------------------------------

    def database_names(self) -> set[str]:
        """
        Every database with a table or made by C{create_database}.
        """
        return self.databases | {database for database, _ in self._runtime.resources}

    def dynamic(self, database: str, table: str) -> TableDefinition:
        """
        The definition of the dynamic table C{database.table}.

        :raises InvalidInput: when an application's schema defines it.
        :raises NotFound: when there is no such table.
        """
        self._refuse_application_table(database, table)
        definition = self.definitions.get((database, table))
        if definition is None:
            raise NotFound(f"table {database}.{table} does not exist")
        return definition

    # -- changes -------------------------------------------------------------------------

    def create_database(self, database: str) -> Deferred[None]:
        """
        Create the empty database C{database}.

        :raises InvalidInput: when it exists already.
        """
        self._refuse_system(database)
        if database in self.database_names():
            raise InvalidInput(f"database {database!r} already exists")

        def work(txn: Transaction) -> None:
            if self._databases.get(txn, database) is not None:
                raise InvalidInput(f"database {database!r} already exists")
            self._add_database(txn, database)

        return self._runtime.runner.run(work)

    def drop_database(self, database: str) -> Deferred[None]:
        """
        Drop C{database} with all its tables and their records.

        :raises InvalidInput: when an application's schema defines one of its tables.
        :raises NotFound: when there is no such database.
        """
        self._refuse_system(database)
        if database not in self.database_names():
            raise NotFound(f"database {database!r} does not exist")
        for key in self._runtime.resources:
            if key[0] == database:
                self._refuse_application_table(*key)
        names = sorted(table for db, table in self.definitions if db == database)

        def work(txn: Transaction) -> None:
            for name in names:
                self._tables.delete(txn, f"{database}.{name}")
            self._databases.delete(txn, database)
            txn.databases().pop(database, None)

        return self._runtime.runner.run(work)

    def create_table(self, definition: TableDefinition) -> Deferred[None]:
        """
        Create the dynamic table C{definition} describes (and its database if new).

        :raises InvalidInput: when the table exists already.
        """
        database, name = definition.database, definition.name
        self._refuse_system(database)
        if (database, name) in self._runtime.resources:
            raise InvalidInput(f"table {database}.{name} already exists")

        def work(txn: Transaction) -> None:
            if self._tables.get(txn, f"{database}.{name}") is not None:
                raise InvalidInput(f"table {database}.{name} already exists")
            if self._databases.get(txn, database) is None:
                self._add_database(txn, database)
            self._tables.put(txn, _record_of(definition))
            migrate(txn, [Table(definition)])

        return self._runtime.runner.run(work)

    def drop_table(self, database: str, table: str) -> Deferred[None]:
        """
        Drop the dynamic table C{database.table} and its records.

        :raises InvalidInput: when an application's schema defines it.
        :raises NotFound: when there is no such table.
        """
        self.dynamic(database, table)

        def work(txn: Transaction) -> None:
            self._tables.delete(txn, f"{database}.{table}")
            stores = txn.table_stores(database)
            if stores is not None:
                stores.pop(table, None)

        return self._runtime.runner.run(work)

    def create_attribute(self, database: str, table: str, attribute: str) -> Deferred[None]:
        """
        Declare (and index) C{attribute} of the dynamic table C{database.table}.

        :raises InvalidInput: when the table has it already.
        """
        definition = self.dynamic(database, table)
        if definition.attribute(attribute) is not None:
            raise InvalidInput(f"attribute {attribute!r} already exists in {database}.{table}")
        changed = dynamic_definition(
            database, table, definition.primary_key.name,
            (*own_attributes(definition), attribute), definition.expiration,
        )
        return self._redefine(changed, lambda txn: None)

    def drop_attribute(self, database: str, table: str, attribute: str) -> Deferred[None]:
        """
        Forget C{attribute} of the dynamic table C{database.table}: its index and its value
        in every record.

        :raises InvalidInput: for the primary key or a managed time attribute.
        :raises NotFound: when the table has no such attribute.
        """
        definition = self.dynamic(database, table)
        if definition.attribute(attribute) is None:
            raise NotFound(f"attribute {attribute!r} does not exist in {database}.{table}")
        if attribute not in own_attributes(definition):
            raise InvalidInput(f"attribute {attribute!r} of {database}.{table} cannot be dropped")
        changed = dynamic_definition(
            database, table, definition.primary_key.name,
            [name for name in own_attributes(definition) if name != attribute],
            definition.expiration,
        )

        def strip(txn: Transaction) -> None:
            for entry in Table(changed).store(txn).records.values():
                if attribute in entry.value:
                    entry.value = {k: v for k, v in entry.value.items() if k != attribute}

        return self._redefine(changed, strip)

    # -- helpers -------------------------------------------------------------------------

    def _redefine(
        self, definition: TableDefinition, step: Callable[[Transaction], None]
    ) -> Deferred[None]:
        def work(txn: Transaction) -> None:
            self._tables.put(txn, _record_of(definition))
            step(txn)
            migrate(txn, [Table(definition)])

        return self._runtime.runner.run(work)

    def _add_database(self, txn: Transaction, database: str) -> None:
        self._databases.put(txn, {"name": database})
        txn.table_stores(database, create=True)

    def _committed(self, event: ChangeEvent) -> None:
        """
        Follow a committed change of the catalog's tables, made here or (relayed) by another
        worker process: serve, serve anew or withdraw the table it concerns.
        """
        if event.database != SYSTEM_DATABASE:
            return
        if event.table == DATABASE_TABLE.name:
            if event.type == DELETE:
                self.databases.discard(event.id)
            else:
                self.databases.add(event.id)
        elif event.table == TABLE_TABLE.name:
            if event.type == DELETE:
                database, _, table = event.id.partition(".")
                if (database, table) in self.definitions:
                    del self.definitions[(database, table)]
                    self._runtime.withdraw_table(database, table)
            else:
                definition = _definition_of(event.value)
                if self.definitions.get((definition.database, definition.name)) != definition:
                    self._serve(definition)

    def _serve(self, definition: TableDefinition) -> None:
        self.definitions[(definition.database, definition.name)] = definition
        self._runtime.serve_table(definition)

    def _refuse_system(self, database: str) -> None:
        if database == SYSTEM_DATABASE:
            raise InvalidInput(
                f"database {SYSTEM_DATABASE!r} is harper's own and cannot be changed"
            )

    def _refuse_application_table(self, database: str, table: str) -> None:
        owner = self._runtime.table_owner(database, table)
        if owner is not None:
            raise InvalidInput(
                f"table {database}.{table} is defined by the schema of application "
                f"{owner.name!r}: change that schema instead"
            )

