# -*- test-case-name: tests.resources.test_table_resource -*-
"""
The Resource API of a table: validation against the schema, then the database write path.

Every method runs inside the transaction of its context (C{context.transaction}); the
transaction runner commits or aborts it around the whole call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Iterator, Optional

import attr
from zope.interface import implementer

from harper.auth import permissions
from harper.auth.roles import TableAccess
from harper.database.audit import AuditHistory
from harper.database.conditions import Query
from harper.database.events import MESSAGE, ChangeEvent, ChangeFeed
from harper.database.query import QueryExecutor, RelatedTables
from harper.database.table import Table
from harper.errors import Conflict, InvalidInput, NotFound
from harper.interfaces import IResource, ISubscription
from harper.resources import freshness
from harper.resources.base import Resource
from harper.resources.caching import SourceCache
from harper.resources.context import RequestContext
from harper.resources.select import Projector
from harper.resources.subscription import SubscriptionOptions
from harper.resources.target import RequestTarget
from harper.resources.typing import typed_query
from harper.schema.model import Schema
from harper.schema.validate import validate_record


@implementer(ISubscription)
class FeedSubscription:
    """
    A listener on the change feed, filtered to one table (and optionally one record).
    """

    def __init__(self, feed: ChangeFeed, accepts: Callable[[ChangeEvent], bool], listener: Callable[[ChangeEvent], None]) -> None:
        def deliver(event: ChangeEvent) -> None:
            if accepts(event):
                listener(event)

        self._stop = feed.listen(deliver)

    def close(self) -> None:
        """
        Stop delivering events.
        """
        self._stop()


@implementer(IResource)
class TableResource(Resource):
    """
    A table served through the Resource API.

    :param table: the table.
    :param schema: the schema the table belongs to (for validating nested types).
    :param related: finds other tables by type name (relationships).
    :param feed: the change feed, for subscriptions.
    :param history: the audit log's history, for subscriptions that replay it (C{None} when
        the audit log is off).
    """

    def __init__(self, table: Table, schema: Schema, related: RelatedTables, feed: ChangeFeed,
                 history: Optional[AuditHistory] = None) -> None:
        self.table = table
        self.history = history
        self.definition = table.definition
        self.schema = schema
        self.related = related
        self.feed = feed
        self.cache: Optional[SourceCache] = None
        self.export_name = table.definition.export_name
        self._may_expire = self.definition.expiration is not None or any(
            attribute.expires_at for attribute in self.definition.attributes
        )

    def allowed_methods(self) -> tuple[str, ...]:
        """
        Tables answer every method.
        """
        return ("GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS")

    def overrides(self, name: str) -> bool:
        """
        Tables implement the whole Resource API.
        """
        return True

    def lane(self, method: str) -> str:
        """
        Where calls run: reads on the reactor thread from the ZODB cache, writes in the group
        commit; a caching table calls its source, so everything runs on the worker pool.
        """
        if self.cache is not None:
            return "pool"
        if method in ("get", "search"):
            return "read"
        if method in ("put", "post", "patch", "delete", "publish"):
            return "write"
        return "pool"

    def sourced_from(self, cache: SourceCache) -> None:
        """
        Make this table a cache of C{cache.source}.
        """
        self.cache = cache

    # -- permissions (asked by L{harper.resources.calls.authorize}) ----------------------

    def allow_read(self, user: Any, target: RequestTarget, context: RequestContext) -> bool:
        """
        The role must grant C{read} on the table, on the attribute a target names and on
        the attributes its query filters or sorts on.
        """
        permissions.check_read(user, self.table, self.related, target.attribute, target.query)
        return True

    def allow_create(self, user: Any, target: RequestTarget, data: Any, context: RequestContext) -> bool:
        """
        The role must grant C{insert} on the table and on every attribute C{data} sets.
        """
        return self._allow_write(user, "insert", data)

    def allow_update(self, user: Any, target: RequestTarget, data: Any, context: RequestContext) -> bool:
        """
        The role must grant C{update} on the table and on every attribute C{data} sets.
        """
        return self._allow_write(user, "update", data)

    def allow_delete(self, user: Any, target: RequestTarget, context: RequestContext) -> bool:
        """
        The role must grant C{delete} on the table (and C{read} on the attributes the query
        of a collection target filters on).
        """
        permissions.access(user, "delete", self.table.database, self.table.name)
        permissions.check_filters(user, self.table, self.related, target.query)
        return True

    def _allow_write(self, user: Any, verb: str, data: Any) -> bool:
        table = self.table
        names = data.keys() if isinstance(data, Mapping) else ()
        permissions.check_attributes(user, verb, table.database, table.name, names, table.primary_key)
        return True

    def _restricted(self, context: RequestContext) -> Optional[TableAccess]:
        """
        The caller's access to this table when its role hides attributes, else C{None}.
        """
        role = getattr(context.user, "role", None)
        if role is None or not context.check_permission:
            return None
        granted = role.table_access(self.table.database, self.table.name)
        return granted if granted.attributes is not None else None

    def visible(self, record: Any, context: RequestContext) -> Any:
        """
        C{record} as the caller may see it: without the attributes its role may not read.
        """
        granted = self._restricted(context)
        return record if granted is None else granted.visible(record, self.table.primary_key)

    # -- reads ---------------------------------------------------------------------------

    def get(self, target: RequestTarget, context: RequestContext) -> Any:
        """
        The record at C{target.id} (L{NotFound} when absent), the collection's matches, or the
        table's description.
        """
        if target.is_collection:
            return self.iterate(target.query, context)
        if target.id is None:
            return self.describe(context)
        record = self.read(target.id, context)
        if record is None:
            raise NotFound(f"{self.table.name} record {target.id!r} not found")
        if self.cache is not None and not context.loaded_from_source:
            # Served from the cache: say how old it is.
            age = freshness.age(context.last_modified, context.transaction.timestamp)
            context.response_headers["age"] = str(age)
        if target.attribute is not None:
            return self.table.attribute_value(record, target.attribute)
        select = target.query.select
        if select is not None:
            record = self.projector(context).project(self.visible(record, context), select)
        return self.visible(record, context)

    def read(self, key: Any, context: RequestContext) -> Optional[Mapping[str, Any]]:
        """
        The record C{key}, reading through to the source of a caching table; sets
        C{context.last_modified} to its version.
        """
        txn = context.transaction
        entry = self.table.entry(txn, key)
        if self.cache is not None:
            return self._read_through(key, entry, context)
        if entry is None or self.table.is_expired(entry, txn.timestamp):
            return None
        context.last_modified = entry.version
        return entry.value

    def _read_through(
        self, key: Any, entry: Any, context: RequestContext
    ) -> Optional[Mapping[str, Any]]:
        """
        A caching table's read of C{key}, honouring the client's C{context.cache_control}
        (see L{harper.resources.freshness}).
        """
        txn, directives = context.transaction, context.cache_control
        now = txn.timestamp
        if entry is not None and freshness.is_fresh(entry, now, directives):
            return self._from_cache(entry, context)
        if directives.only_if_cached:
            raise freshness.NotCached(
                f"{self.table.name} record {key!r} is not cached (only-if-cached)"
            )
        try:
            fetched, leader = self.cache.fetch(key, txn)
        except Exception:
            stale_on_error = self.cache.policy.stale_on_error
            if entry is not None and freshness.may_serve_stale(entry, now, directives, stale_on_error):
                return self._from_cache(entry, context)
            raise
        context.loaded_from_source = True
        if fetched.record is None:
            return None
        record = dict(fetched.record)
        record[self.table.primary_key] = key
        context.last_modified = now
        if leader and not directives.no_store:
            return self.table.put(txn, record, expires_at=self._cache_expiry(fetched, now))
        return record

    def _from_cache(self, entry: Any, context: RequestContext) -> Mapping[str, Any]:
        context.last_modified = entry.version
        return entry.value

    def search(self, target: RequestTarget, context: RequestContext) -> list[Any]:
        """
        The records matching C{target.query}, shaped by its selection.
        """
        return list(self.iterate(target.query, context))

    def iterate(self, query: Query, context: RequestContext) -> Iterator[Any]:
        """
        Lazily yield the records matching C{query} (valid only inside the transaction).
        """
        txn = context.transaction
        projector = self.projector(context)
        executor = QueryExecutor(txn, self.table, self.related, release=context.streaming)
        restricted, primary_key = self._restricted(context), self.table.primary_key
        for record in executor.run(typed_query(query, self.definition)):
            if restricted is None:
                yield projector.project(record, query.select)
            else:
                projected = projector.project(restricted.visible(record, primary_key), query.select)
                yield restricted.visible(projected, primary_key)

    def count(self, target: RequestTarget, context: RequestContext, estimate: bool = False) -> int:
        """
        How many records match C{target.query}, ignoring its paging; with C{estimate}, an
        unconditional count is the table's size (expired records not yet swept included).
        """
        query = target.query
        if query.conditions is None and (estimate or not self._may_expire):
            return self.table.count(context.transaction)
        executor = QueryExecutor(context.transaction, self.table, self.related)
        return sum(1 for _ in executor.run(typed_query(Query(query.conditions), self.definition)))

    def describe(self, context: RequestContext) -> dict[str, Any]:
        """
        The table's metadata, with its record count (without the attributes the caller's
        role may neither read nor write).
        """
        definition = self.definition
        restricted, primary_key = self._restricted(context), self.table.primary_key
        return {
            "name": definition.name,
            "database": definition.database,
            "primaryKey": self.table.primary_key,
            "attributes": [
                {
                    "name": attribute.name,
                    "type": attribute.type.base_name,
                    "isList": attribute.type.is_list,
                    "nullable": attribute.type.nullable,
                    "indexed": attribute.indexed or attribute.primary_key,
                    **({"relationship": attribute.relationship.target} if attribute.relationship else {}),
                    **({"computed": True} if attribute.computed else {}),
                }
                for attribute in definition.attributes
                if restricted is None or restricted.may_know(attribute.name, primary_key)
            ],
            "recordCount": self.table.count(context.transaction),
        }

    def projector(self, context: RequestContext) -> Projector:
        """
        A projector over this table in the context's transaction.
        """
        access = permissions.reader(context.user) if context.check_permission else None
        return Projector(context.transaction, self.table, self.related, access)

    # -- writes --------------------------------------------------------------------------

    def put(self, target: RequestTarget, data: Any, context: RequestContext) -> Any:
        """
        Replace (or create) the record at C{target.id} with C{data}; the stored attributes
        the caller's role may not update are kept (they are not the caller's to remove).
        """
        key = self._require_id(target, "PUT")
        record = self._validated(data, key, partial=False)
        granted = self._restricted(context)
        if granted is not None:
            record.update(granted.locked(self.table.get(context.transaction, key), self.table.primary_key))
        if self.cache is not None:
            self.cache.write_through("put", key, record)
        return self.table.put(context.transaction, record, user=context.username)

    def post(self, target: RequestTarget, data: Any, context: RequestContext) -> Any:
        """
        Create a record in the collection; the key is generated unless C{data} gives one.
        """
        if target.id is not None and not target.is_collection:
            raise InvalidInput("POST creates records in a collection: use the table's path")
        txn = context.transaction
        record = self._validated(data, None, partial=False)
        key = record.get(self.table.primary_key)
        if key is None:
            record[self.table.primary_key] = key = self.table.generate_key(txn)
        elif self.table.get(txn, key) is not None:
            raise Conflict(f"{self.table.name} record {key!r} already exists")
        if self.cache is not None:
            self.cache.write_through("put", key, record)
        return self.table.put(txn, record, user=context.username)

    def patch(self, target: RequestTarget, data: Any, context: RequestContext) -> Any:
        """
        Merge C{data} into the record at C{target.id}.
        """
        key = self._require_id(target, "PATCH")
        changes = self._validated(data, key, partial=True)
        current = self.read(key, context)
        if current is None:
            raise NotFound(f"{self.table.name} record {key!r} not found")
        if self.cache is not None:
            self.cache.write_through("put", key, {**current, **changes})
        return self.table.patch(context.transaction, key, changes, user=context.username)

    def delete(self, target: RequestTarget, context: RequestContext) -> Any:
        """
        Delete the record at C{target.id}, or every record matching a collection's query;
        return how many records were deleted.
        """
        txn = context.transaction
        if target.is_collection:
            query = typed_query(Query(target.query.conditions), self.definition)
            keys = [r[self.table.primary_key] for r in QueryExecutor(txn, self.table, self.related).run(query)]
        else:
            keys = [self._require_id(target, "DELETE")]
        deleted = 0
        for key in keys:
            if self.cache is not None:
                self.cache.write_through("delete", key)
            deleted += self.table.delete(txn, key, user=context.username)
        return deleted

    # -- messages ------------------------------------------------------------------------

    def publish(self, target: RequestTarget, message: Any, context: RequestContext) -> None:
        """
        Deliver C{message} to the target's subscribers after the commit; nothing is stored.
        """
        txn = context.transaction
        txn.record_change(
            ChangeEvent(self.table.database, self.table.name, target.id, MESSAGE, message,
                        txn.timestamp, context.username)
        )

    def subscribe(self, target: RequestTarget, context: RequestContext, listener: Callable[[ChangeEvent], None]) -> FeedSubscription:
        """
        Deliver every committed change of the target to C{listener}: the record (and the
        records below it with C{includeDescendants}), the records below a prefix
        (C{Dog/a/}), or the whole table (a collection target).

        With C{startTime} or C{previousCount} in C{context.subscription}, the changes the
        audit log holds are delivered first (before this method returns), then the live ones:
        a change committed while the history is read arrives once, either way.

        :raises InvalidInput: the options ask for history and the audit log is off, or
            combine C{previousCount} with C{startTime} on a collection.
        """
        options = context.subscription
        restricted, primary_key = self._restricted(context), self.table.primary_key
        if restricted is not None:
            deliver = listener

            def listener(event: ChangeEvent) -> None:
                deliver(attr.evolve(event, value=restricted.visible(event.value, primary_key)))

        accepts = self._accepts(target, options.include_descendants)
        if not options.replays:
            return FeedSubscription(self.feed, accepts, listener)
        return self._replaying(target, options, accepts, listener)

    def _replaying(self, target: RequestTarget, options: SubscriptionOptions,
                   accepts: Callable[[ChangeEvent], bool], listener: Callable[[ChangeEvent], None]) -> FeedSubscription:
        """
        A subscription that delivers the audit log's history of the target, then the live
        changes.
        """
        if self.history is None:
            option = "startTime" if options.start_time is not None else "previousCount"
            raise InvalidInput(f"{option}: replaying history needs the audit log (logging.auditLog: true)")
        if options.start_time is not None and options.previous_count is not None and target.id is None:
            raise InvalidInput("previousCount: cannot be combined with startTime on a collection")
        replayed: set[tuple[Any, ...]] = set()

        def live(event: ChangeEvent) -> None:
            if not replayed or _seen(event) not in replayed:
                listener(event)

        # Listen first, then read the committed history in the same reactor turn: a change
        # is either in the history or delivered afterwards (and then dropped as a repeat).
        subscription = FeedSubscription(self.feed, accepts, live)
        try:
            events = self.history.events(self.table.database, self.table.name, accepts,
                                         options.start_time, options.previous_count)
        except BaseException:
            subscription.close()
            raise
        replayed.update(_seen(event) for event in events)
        for event in events:
            listener(event)
        return subscription

    def _accepts(self, target: RequestTarget, descendants: bool) -> Callable[[ChangeEvent], bool]:
        """
        Whether a change event belongs to C{target}.
        """
        database, name, key = self.table.database, self.table.name, target.id
        prefix: Optional[str] = None
        if target.is_collection and target.path.endswith("/"):
            prefix = target.path
        elif descendants and key is not None and not target.is_collection:
            prefix = f"{key}/"

        def accepts(event: ChangeEvent) -> bool:
            if event.table != name or event.database != database:
                return False
            if prefix is not None and isinstance(event.id, str) and event.id.startswith(prefix):
                return True
            if target.is_collection:
                return prefix is None
            return key is None or event.id == key

        return accepts

    def connect(self, target: RequestTarget, context: RequestContext, send: Callable[[Any], None]) -> FeedSubscription:
        """
        A subscription sending the target's changes to the client; tables take no messages
        from the client (the subscription has no C{receive}).
        """
        return self.subscribe(target, context, send)

    # -- helpers -------------------------------------------------------------------------

    def _require_id(self, target: RequestTarget, method: str) -> Any:
        if target.id is None or target.is_collection:
            raise InvalidInput(f"{method} needs a record id: use /{self.export_name or self.table.name}/<id>")
        return target.id

    def _validated(self, data: Any, key: Any, partial: bool) -> dict:
        if not isinstance(data, Mapping):
            raise InvalidInput(f"a {self.table.name} record must be an object, not {type(data).__name__}")
        primary_key = self.table.primary_key
        given = data.get(primary_key)
        if key is not None and given is not None and given != key:
            raise InvalidInput(f"{primary_key} {given!r} in the body does not match the id {key!r} in the path")
        record = validate_record(data, self.definition, self.schema, partial=partial)
        if key is not None:
            record[primary_key] = key
        return record

    def _cache_expiry(self, fetched: Any, now: float) -> Optional[float]:
        if fetched.expires_at is not None:
            return fetched.expires_at
        expiration = self.cache.policy.expiration if self.cache else None
        if expiration is None:
            expiration = self.definition.expiration
        return now + expiration * 1000.0 if expiration is not None else None


def _seen(event: ChangeEvent) -> tuple[Any, ...]:
    """
    What tells one replayed change from another: its time, record and type.
    """
    return (event.timestamp, repr(event.id), event.type)
