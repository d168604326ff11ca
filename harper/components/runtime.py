# -*- test-case-name: tests.components.test_runtime -*-
"""
What the daemon serves, assembled from the configuration and the loaded applications: the
schema of every application, the open database, the tables as resources, and the registry of
exported paths.

L{plan_tables} runs before anything starts (schema problems stop the daemon with one message);
L{Runtime.start} opens the database, migrates the tables and runs the applications' start-up
work; L{Runtime.install_application} and L{Runtime.remove_application} change the
applications while it serves (see L{harper.components.lifecycle}).
"""

from __future__ import annotations

import concurrent.futures
from typing import Any, Callable, Iterable, Optional

import attr
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from harper.auth.access import AccessControl
from harper.auth.system import SYSTEM_DATABASE, system_tables
from harper.components.application import Application
from harper.analytics.recorder import Analytics, analytics_tables
from harper.components.catalog import Catalog, catalog_tables
from harper.database.audit import AuditHistory, AuditLog, AuditPruner
from harper.database.events import ChangeFeed
from harper.database.groupcommit import GroupCommitter
from harper.database.migrate import migrate
from harper.database.storage import open_database
from harper.database.table import Table
from harper.database.transaction import TransactionRunner
from harper.errors import ComponentError, SchemaError, StartupError
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
    :ivar history: the audit log read back for subscriptions (once started; C{None} when
        C{logging.auditLog} is off).
    :ivar catalog: the databases and tables made by the operations API (once started).
    :ivar analytics: the request metrics transports record (once started).
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
        self.history: Optional[AuditHistory] = None
        self._pruner: Optional[AuditPruner] = None
        self.catalog: Optional[Catalog] = None
        self.analytics: Optional[Analytics] = None
        self._pool: Optional[ThreadPool] = None
        self._source_executor = concurrent.futures.ThreadPoolExecutor(8, "harper-source")
        self._observers: list[Callable[[], Any]] = []

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
        self.db = open_database(
            storage.uri, self.config.root_path, cache_size=storage.cache_size,
            cache_size_bytes=storage.cache_size_bytes, pool_size=storage.thread_pool_size + 4,
        )
        self._pool = ThreadPool(minthreads=1, maxthreads=storage.thread_pool_size, name="harper-db")
        self._pool.start()
        self.runner = TransactionRunner(self.db, self.reactor, self._pool, self.feed, storage.transaction_retries)
        if storage.group_commit:
            self.writer = GroupCommitter(self.runner)
            self.writer.start()
        self._start_audit()
        blocking_reads = getattr(self.db.storage, "blocking_reads", False)
        self.caller = ResourceCaller(self.runner, self.databases, self.writer, blocking_reads)
        tables = self._build_tables()
        system = system_tables()
        own = system + catalog_tables() + analytics_tables()
        for line in self.runner.run_blocking(lambda txn: migrate(txn, tables + own)):
            self._log.info("schema: {change}", change=line)
        self.analytics = Analytics(self.runner, self.reactor, self.feed)
        self.analytics.start()
        self.catalog = Catalog(self)
        for line in self.catalog.load():
            self._log.info("schema: {change}", change=line)
        self.access = AccessControl.open(self.config, self.runner, system, self.reactor)
        self._register_exports()
        for application in self.applications:
            for callback in application.start_callbacks:
                callback(self)

    def stop(self) -> None:
        """
        Stop the applications (their L{Application.on_stop} callbacks), the worker threads
        and close the database.
        """
        for application in self.applications:
            self._stop_application(application)
        if self.analytics is not None:
            self.analytics.stop()
        self._source_executor.shutdown(wait=False, cancel_futures=True)
        if self._pruner is not None:
            self._pruner.stop()
            self._pruner = None
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

    def _start_audit(self) -> None:
        """
        With C{logging.auditLog}: log every commit's changes (harper's own C{system} tables
        apart) and prune what is older than C{logging.auditRetention}.
        """
        settings = self.config.logging
        if not settings.audit_log:
            return
        log = AuditLog(excluded=(SYSTEM_DATABASE,))
        self.runner.add_commit_step(log)
        self.history = AuditHistory(self.runner, log)
        self._pruner = AuditPruner(self.runner, log, self.reactor, settings.audit_retention)
        self._pruner.start()

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

    def observe_applications(self, callback: Callable[[], Any]) -> None:
        """
        Call C{callback()} each time an application is installed, replaced or removed while
        the runtime serves (for example to re-mount the applications' web resources).
        """
        self._observers.append(callback)

    def http_mounts(self) -> list[tuple[str, Any]]:
        """
        The (full URL path, twisted.web resource) pairs of every application's web resources.
        """
        return [
            (application.export_path(url_path), resource)
            for application in self.applications
            for url_path, resource in application.http_resources
        ]

    def install_application(self, application: Application, previous: Optional[Application] = None) -> list[str]:
        """
        Serve C{application} (loaded by L{harper.components.loader.load_application}) in the
        started runtime, in place of C{previous} when given.

        Its schema is parsed and its tables migrated (new tables, new indexes over the stored
        records) while C{previous} keeps serving; then, on the reactor thread and without
        serving anything in between, C{previous}'s tables and exports are withdrawn,
        C{application}'s served and its start callbacks run. When a start callback fails,
        C{previous} is restored as it was and C{application} stopped; otherwise C{previous}
        is stopped (its L{Application.on_stop} callbacks run). Blocks the calling thread while
        migrating.

        :return: a line per change the migration made.
        :raises SchemaError: when the schema is invalid, declares a table of another
            application or exports at a path another application serves.
        :raises ComponentError: when a start callback failed.
        """
        schema = parse_schema(application.schema_sources)
        old = None if previous is None else self._entry(previous)
        self._check_ownership(application, schema, old)
        entry = ApplicationTables(application, schema)
        tables = [Table(definition, self._computed(definition)) for definition in schema.tables]
        changes = self.runner.run_blocking(lambda txn: migrate(txn, tables))
        withdrawn = {}
        if old is None:
            self.planned.append(entry)
        else:
            withdrawn = self._withdraw(old)
            self.planned[self.planned.index(old)] = entry
        try:
            self._add_tables(entry, tables)
            self._register_application(entry)
            for callback in application.start_callbacks:
                callback(self)
        except Exception as error:
            self._withdraw(entry)
            if old is None:
                self.planned.remove(entry)
            else:
                self.planned[self.planned.index(entry)] = old
                self._restore(old, withdrawn)
            self._stop_application(application)
            raise ComponentError(
                [f"{application.path.path}: starting the application failed: {type(error).__name__}: {error}"]
            ) from error
        if previous is not None:
            self._stop_application(previous)
        self._changed()
        return changes

    def remove_application(self, application: Application) -> None:
        """
        Stop serving C{application}: its exports, tables and web resources are withdrawn and
        its L{Application.on_stop} callbacks run. The records of its tables stay stored.
        """
        entry = self._entry(application)
        self._withdraw(entry)
        self.planned.remove(entry)
        self._stop_application(application)
        self._changed()

    def _entry(self, application: Application) -> ApplicationTables:
        for entry in self.planned:
            if entry.application is application:
                return entry
        raise ValueError(f"{application.name} is not an application of this runtime")

    def _withdraw(self, entry: ApplicationTables) -> dict[tuple[str, str], TableResource]:
        """
        Stop serving C{entry}'s exports and tables; return the withdrawn table resources.
        """
        self._unregister_application(entry)
        withdrawn = {}
        for definition in entry.schema.tables:
            key = (definition.database, definition.name)
            if key in self.resources:
                withdrawn[key] = self.resources.pop(key)
            self.databases.namespace(definition.database).remove(definition.name)
        return withdrawn

    def _restore(self, entry: ApplicationTables, withdrawn: dict[tuple[str, str], TableResource]) -> None:
        """
        Serve again the tables and exports L{_withdraw} took from C{entry}.
        """
        for (database, name), resource in withdrawn.items():
            self.resources[(database, name)] = resource
            self.databases.namespace(database).add(name, TableHandle(resource, self.caller, self))
        self._register_application(entry)

    def _stop_application(self, application: Application) -> None:
        for callback in application.stop_callbacks:
            try:
                callback()
            except Exception:
                self._log.failure("stopping {application} failed", application=application.name)

    def _changed(self) -> None:
        for callback in self._observers:
            callback()

    def _check_ownership(
        self, application: Application, schema: Schema, previous: Optional[ApplicationTables]
    ) -> None:
        """
        Raise L{SchemaError} when C{application}, replacing C{previous}, would declare a table
        of another application or export at a path another application serves.
        """
        declared = {
            (definition.database, definition.name): (entry, definition.source)
            for entry in self.planned
            for definition in entry.schema.tables
        }
        others = {key: source for key, (entry, source) in declared.items() if entry is not previous}
        problems = [
            f"{table.source}: table {table.database}.{table.name} is also declared in {others[key]}"
            if key in others else
            f"{table.source}: table {table.database}.{table.name} already exists (created at run time)"
            for table in schema.tables
            # A table served that no application declares was created at run time.
            if (key := (table.database, table.name)) in others or (key in self.resources and key not in declared)
        ]
        own = set() if previous is None else set(self._export_paths(previous))
        taken = {path for path, _ in self.registry.items()} - own
        exports = [(table.source, table.export_name) for table in schema.tables if table.export_name is not None]
        exports += [(application.path.path, name) for name, _ in application.resources]
        problems.extend(
            f"{source}: {name} would be exported at /{path}, which is already served"
            for source, name in exports
            if (path := application.export_path(name)) in taken
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
            resource = TableResource(table, entry.schema, self._related(definition.database, entry.schema), self.feed,
                                     self.history)
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
        for path in self._export_paths(entry):
            self.registry.unregister(path)
            self.http_registry.unregister(path)

    @staticmethod
    def _export_paths(entry: ApplicationTables) -> list[str]:
        """
        The full paths C{entry}'s application exports at (whether it serves or not).
        """
        application = entry.application
        names = [definition.export_name for definition in entry.schema.tables if definition.export_name is not None]
        names += [name for name, _ in application.resources]
        return [application.export_path(name) for name in names]

    # -- tables made by the operations API (L{harper.components.catalog}) ----------------

    def table_owner(self, database: str, name: str) -> Optional[Application]:
        """
        The application whose schema declares table C{database.name}, or C{None}.
        """
        for entry in self.planned:
            for definition in entry.schema.tables:
                if (definition.database, definition.name) == (database, name):
                    return entry.application
        return None

    def serve_table(self, definition: TableDefinition) -> None:
        """
        Serve (or serve anew, after a change of C{definition}) a table that no application
        declares, as a resource and a table handle; it is not exported.
        """
        schema = Schema(tables=(definition,))
        resource = TableResource(Table(definition), schema, self._related(definition.database, schema), self.feed,
                                 self.history)
        self.resources[(definition.database, definition.name)] = resource
        self.databases.namespace(definition.database).add(definition.name, TableHandle(resource, self.caller, self))

    def withdraw_table(self, database: str, name: str) -> None:
        """
        Stop serving the table C{database.name} that L{serve_table} served.
        """
        self.resources.pop((database, name), None)
        self.databases.namespace(database).remove(name)
