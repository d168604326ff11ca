# -*- test-case-name: tests.components.test_runtime -*-
"""
What the daemon serves, assembled from the configuration and the loaded applications: the
schema of every application, the open database, the tables as resources, and the registry of
exported paths.

L{plan_tables} runs before anything starts (schema problems stop the daemon with one message);
L{Runtime.start} opens the database, migrates the tables and runs the applications' start-up
work.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any, Iterable, Optional

import attr
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from harper.auth.access import AccessControl
from harper.auth.system import system_tables
from harper.components.application import Application
from harper.database.events import ChangeFeed
from harper.database.groupcommit import GroupCommitter
from harper.database.migrate import migrate
from harper.database.storage import open_database
from harper.database.table import Table
from harper.database.transaction import TransactionRunner
from harper.errors import SchemaError, StartupError
from harper.resources.caching import CachePolicy, SourceCache
from harper.resources.calls import Databases, ResourceCaller, TableHandle
from harper.resources.registry import ResourceRegistry
from harper.resources.table import TableResource
from harper.schema.computed import ComputedFunctions
from harper.schema.model import Schema, TableDefinition
from harper.schema.sdl import parse_schema


@attr.frozen
class ApplicationTables:
    """
    One application and the schema its SDL files declare.
    """

    application: Application
    schema: Schema


def plan_tables(applications: Iterable[Application]) -> list[ApplicationTables]:
    """
    Parse every application's schema; raise one L{SchemaError} with every problem, including
    a table declared by two applications.
    """
    planned, problems = [], []
    owners: dict[tuple[str, str], str] = {}
    for application in applications:
        try:
            schema = parse_schema(application.schema_sources)
        except SchemaError as error:
            problems.extend(error.problems)
            continue
        for table in schema.tables:
            key = (table.database, table.name)
            if key in owners:
                problems.append(f"{table.source}: table {table.database}.{table.name} is also declared in {owners[key]}")
            owners[key] = table.source
        planned.append(ApplicationTables(application, schema))
    if problems:
        raise SchemaError(problems)
    return planned


class Runtime:
    """
    The live state of a running daemon.

    :ivar databases: every table by database (C{databases.data.Dog}).
    :ivar tables: the same object; its attributes default to the C{data} database.
    :ivar registry: exported resources by path.
    :ivar http_registry: the exports of the applications that enable the C{rest} plugin.
    :ivar feed: committed change events.
    :ivar runner: the transaction runner.
    :ivar access: users, roles, tokens and the authenticator (once started).
    """

    _log = Logger()

    def __init__(self, config: Any, planned: list[ApplicationTables], reactor: Any) -> None:
        self.config = config
        self.planned = planned
        self.reactor = reactor
        self.feed = ChangeFeed()
        self.registry = ResourceRegistry()
        self.http_registry = ResourceRegistry()
        self.databases = Databases()
        self.tables = self.databases
        self.computed = ComputedFunctions()
        self.resources: dict[tuple[str, str], TableResource] = {}
        self.db: Any = None
        self.runner: Optional[TransactionRunner] = None
        self.caller: Optional[ResourceCaller] = None
        self.access: Optional[AccessControl] = None
        self.writer: Optional[GroupCommitter] = None
        self._pool: Optional[ThreadPool] = None
        self._source_executor = concurrent.futures.ThreadPoolExecutor(8, "harper-source")

    @property
    def applications(self) -> list[Application]:
        """
        The loaded applications.
        """
        return [entry.application for entry in self.planned]

    def start(self) -> None:
        """
        Open the database, create and migrate the tables, register the exports and run the
        applications' start-up callbacks (blocking: call before serving).
        """
        storage = self.config.storage
        # Besides one connection per pool thread: the writer's, and the reactor thread's
        # read snapshot and blocking connection.
        self.db = open_database(storage.uri, self.config.root_path, pool_size=storage.thread_pool_size + 4)
        self._pool = ThreadPool(minthreads=1, maxthreads=storage.thread_pool_size, name="harper-db")
        self._pool.start()
        self.runner = TransactionRunner(self.db, self.reactor, self._pool, self.feed, storage.transaction_retries)
        if storage.group_commit:
            self.writer = GroupCommitter(self.runner)
            self.writer.start()
        blocking_reads = getattr(self.db.storage, "blocking_reads", False)
        self.caller = ResourceCaller(self.runner, self.databases, self.writer, blocking_reads)
        tables = self._build_tables()
        system = system_tables()
        for line in self.runner.run_blocking(lambda txn: migrate(txn, tables + system)):
            self._log.info("schema: {change}", change=line)
        self.access = AccessControl.open(self.config, self.runner, system, self.reactor)
        self._register_exports()
        for application in self.applications:
            for callback in application.start_callbacks:
                callback(self)

    def stop(self) -> None:
        """
        Stop the worker threads and close the database.
        """
        self._source_executor.shutdown(wait=False, cancel_futures=True)
        if self.writer is not None:
            self.writer.stop()
            self.writer = None
        if self._pool is not None:
            self._pool.stop()
            self._pool = None
        if self.runner is not None:
            self.runner.close()
        if self.db is not None:
            self.db.close()
            self.db = None

    def cache_for(self, source: Any, policy: CachePolicy) -> SourceCache:
        """
        A read-through cache over C{source}, calling it on the runtime's source executor.
        """
        return SourceCache(source, policy, self._source_executor, self.reactor)

    def _related(self, database: str, schema: Schema) -> Any:
        def related(type_name: str) -> Table:
            definition = schema.table_for_type(type_name)
            if definition is None:
                raise StartupError([f"no table for type {type_name}"])
            return self.resources[(definition.database, definition.name)].table

        return related

    def _computed(self, definition: TableDefinition) -> dict[str, Any]:
        functions = {}
        for attribute in definition.attributes:
            function = self.computed.function_for(definition, attribute)
            if function is not None:
                functions[attribute.name] = function
        return functions

    def reload_schema(self, application: Application, sources: list[tuple[str, str]]) -> list[str]:
        """
        Replace C{application}'s tables with those the SDL C{sources} declare (dev mode):
        migrate them (new tables, new indexes over the stored records), then serve them in
        place of the previous definitions. Blocks the calling thread while migrating.

        :param sources: (file, SDL text) pairs, as the schema plugin reads them.
        :return: a line per change the migration made.
        :raises SchemaError: when the schema is invalid, declares a table of another
            application or exports a table at a path already served; the previous tables
            keep serving.
        """
        index = self.applications.index(application)
        schema = parse_schema(sources)
        self._check_ownership(application, schema)
        entry = ApplicationTables(application, schema)
        tables = [Table(definition, self._computed(definition)) for definition in schema.tables]
        changes = self.runner.run_blocking(lambda txn: migrate(txn, tables))
        previous = self.planned[index]
        self._unregister_application(previous)
        for definition in previous.schema.tables:
            self.resources.pop((definition.database, definition.name), None)
        self.planned[index] = entry
        self._add_tables(entry, tables)
        self._register_application(entry)
        application.schema_sources[:] = sources
        return changes

    def _check_ownership(self, application: Application, schema: Schema) -> None:
        others = {
            (definition.database, definition.name): definition.source
            for entry in self.planned
            if entry.application is not application
            for definition in entry.schema.tables
        }
        problems = [
            f"{table.source}: table {table.database}.{table.name} is also declared in {others[key]}"
            for table in schema.tables
            if (key := (table.database, table.name)) in others
        ]
        own = {path for path, _ in self._exports(self.planned[self.applications.index(application)])}
        taken = {path for path, _ in self.registry.items()} - own
        problems.extend(
            f"{table.source}: table {table.name} would be exported at /{path}, which is already served"
            for table in schema.tables
            if table.export_name is not None and (path := application.export_path(table.export_name)) in taken
        )
        if problems:
            raise SchemaError(problems)

    def _build_tables(self) -> list[Table]:
        tables = []
        for entry in self.planned:
            built = [Table(definition, self._computed(definition)) for definition in entry.schema.tables]
            self._add_tables(entry, built)
            tables.extend(built)
        return tables

    def _add_tables(self, entry: ApplicationTables, tables: list[Table]) -> None:
        """
        Serve C{tables} (built from C{entry}'s schema) as resources and table handles.
        """
        for table in tables:
            definition = table.definition
            resource = TableResource(table, entry.schema, self._related(definition.database, entry.schema), self.feed)
            self.resources[(definition.database, definition.name)] = resource
            handle = TableHandle(resource, self.caller, self)
            self.databases.namespace(definition.database).add(definition.name, handle)

    def _exports(self, entry: ApplicationTables) -> list[tuple[str, Any]]:
        """
        The (full path, resource) pairs C{entry}'s application exports.
        """
        application = entry.application
        exports = [
            (definition.export_name, self.resources[(definition.database, definition.name)])
            for definition in entry.schema.tables
            if definition.export_name is not None
        ]
        for name, resource in application.resources:
            resource.tables = self.databases
            exports.append((name, resource))
        return [(application.export_path(name), resource) for name, resource in exports]

    def _register_exports(self) -> None:
        for entry in self.planned:
            self._register_application(entry)

    def _register_application(self, entry: ApplicationTables) -> None:
        for path, resource in self._exports(entry):
            self.registry.register(path, resource)
            if entry.application.rest_options is not None:
                self.http_registry.register(path, resource)

    def _unregister_application(self, entry: ApplicationTables) -> None:
        for path, _ in self._exports(entry):
            self.registry.unregister(path)
            self.http_registry.unregister(path)
