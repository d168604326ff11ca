# -*- test-case-name: tests.resources.test_calls -*-
"""
Calling resources: each call from a transport runs in one transaction after the one
permission check (L{authorize}), and code reaches tables through the L{Tables} namespace
(C{tables.Dog.get(1, context)}), unchecked.
"""

from __future__ import annotations

import types
from typing import Any, Callable, Iterator, Mapping, Optional

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.python.threadable import isInIOThread

from harper.database.conditions import Query
from harper.database.groupcommit import GroupCommitter
from harper.database.transaction import Transaction, TransactionRunner
from harper.errors import Forbidden, Unauthorized
from harper.resources.caching import CachePolicy
from harper.resources.context import RequestContext
from harper.resources.subscription import NO_OPTIONS, SubscriptionOptions
from harper.resources.target import RequestTarget


#: The C{allow_*} method of a resource that decides each resource method, as in Harper.
_ALLOW = {
    "get": "allow_read", "search": "allow_read", "subscribe": "allow_read",
    "connect": "allow_read", "post": "allow_create", "publish": "allow_create",
    "put": "allow_update", "patch": "allow_update", "delete": "allow_delete",
}
#: The C{allow_*} methods that are not given the data of the call.
_WITHOUT_DATA = frozenset({"allow_read", "allow_delete"})


def authorize(
    method: str, resource: Any, target: RequestTarget, context: RequestContext, data: Any = None
) -> None:
    """
    The permission check before a transport calls C{resource.method}: the resource's
    C{allow_*} method for it decides (nothing is checked when C{context.check_permission}
    is off, or for methods outside the Resource API, such as a SQL statement's C{run}).

    :param data: the record or message the call writes, if any.
    :raises Unauthorized: refused and nobody is logged in.
    :raises Forbidden: refused to the logged-in user.
    """
    name = _ALLOW.get(method)
    if name is None or not context.check_permission:
        return
    allow = getattr(resource, name, None)
    if allow is None:
        return
    user = context.user
    if name in _WITHOUT_DATA:
        allowed = allow(user, target, context)
    else:
        allowed = allow(user, target, data, context)
    if allowed:
        return
    if user is None:
        raise Unauthorized("authentication is required")
    raise Forbidden(f"user {user.username!r} may not {method} {type(resource).__name__}")


def _settled(result: Any) -> Any:
    """
    Materialise lazy results while the transaction is still open.
    """
    if isinstance(result, (types.GeneratorType, Iterator)) and not isinstance(result, (str, bytes, dict, list)):
        return list(result)
    return result


class ResourceCaller:
    """
    Runs resource methods in transactions.

    Each call takes the lane its resource asks for (C{resource.lane(method)}): C{"read"} runs
    at once on the calling (reactor) thread on a read-only snapshot, C{"write"} joins the group
    commit of the writer thread, anything else runs on the worker pool.

    :param runner: the transaction runner.
    :param tables: the namespace given to every context.
    :param writer: the group committer, or C{None} to commit each write on the pool.
    :param blocking_reads: reads wait for a storage server, so the C{"read"} lane runs on the
        worker pool too.
    """

    def __init__(
        self,
        runner: TransactionRunner,
        tables: "Databases",
        writer: Optional[GroupCommitter] = None,
        blocking_reads: bool = False,
    ) -> None:
        self.runner = runner
        self.tables = tables
        self.writer = writer
        self.blocking_reads = blocking_reads

    def work(
        self,
        method: str,
        resource: Any,
        target: RequestTarget,
        context: RequestContext,
        *args: Any,
        inside: Optional[Callable[[Any], Any]] = None,
    ) -> Callable[[Transaction], Any]:
        """
        The unit of work that calls C{resource.method(target, *args, context)}.

        :param inside: called with the method's result while the transaction is still open
            (to consume a lazy result); the work returns what it returns. Without it, lazy
            results are turned into lists.
        """

        def call(txn: Transaction) -> Any:
            context.transaction = txn
            context.tables = self.tables
            result = self.invoke(method, resource, target, context, *args)
            return inside(result) if inside is not None else _settled(result)

        return call

    def invoke(
        self, method: str, resource: Any, target: RequestTarget, context: RequestContext, *args: Any
    ) -> Any:
        """
        Check the permission (L{authorize}) and call C{resource.method(target, *args,
        context)} in the context's open transaction (for transports that run several calls
        in one transaction, as the bulk operations do).
        """
        authorize(method, resource, target, context, args[0] if args else None)
        return getattr(resource, method)(target, *args, context)

    def open(
        self,
        method: str,
        resource: Any,
        target: RequestTarget,
        context: RequestContext,
        listener: Callable[[Any], None],
    ) -> Any:
        """
        Check the permission, then C{subscribe} or C{connect} (C{method}) C{listener} to
        C{target}; return the subscription.
        """
        authorize(method, resource, target, context)
        return getattr(resource, method)(target, context, listener)

    def call(
        self,
        method: str,
        resource: Any,
        target: RequestTarget,
        context: RequestContext,
        *args: Any,
        inside: Optional[Callable[[Any], Any]] = None,
    ) -> Deferred:
        """
        Call C{resource.method} in a new transaction in its lane; the Deferred fires with the
        result (or what C{inside} made of it, see L{work}) after the commit.
        """
        work = self.work(method, resource, target, context, *args, inside=inside)
        lane = resource.lane(method) if hasattr(resource, "lane") else "pool"
        if lane == "read" and not self.blocking_reads:
            return maybeDeferred(self.runner.read, work)
        if lane == "write" and self.writer is not None:
            return self.writer.submit(work)
        return self.runner.run(work)


class TableHandle:
    """
    Static-style access to one table from code: C{tables.Dog.get(1, context)}.

    With a C{context} that has a transaction, the call joins it and returns the result. Without
    one, it opens a transaction: from the reactor thread it returns a Deferred, from another
    thread it blocks and returns the result.
    """

    def __init__(self, resource: Any, caller: ResourceCaller, runtime: Any) -> None:
        self.resource = resource
        self._caller = caller
        self._runtime = runtime

    @property
    def primary_key(self) -> str:
        """
        The table's primary key attribute.
        """
        return self.resource.table.primary_key

    def _invoke(self, method: str, target: RequestTarget, context: Optional[RequestContext], *args: Any) -> Any:
        if context is not None and context.transaction is not None:
            return _settled(getattr(self.resource, method)(target, *args, context))
        context = context or RequestContext()
        if isInIOThread():
            return self._caller.call(method, self.resource, target, context, *args)
        return self._caller.runner.run_blocking(self._caller.work(method, self.resource, target, context, *args))

    def get(self, id: Any, context: Optional[RequestContext] = None) -> Any:
        """
        The record C{id} (or the matches of a L{Query}).
        """
        if isinstance(id, Query):
            return self.search(id, context)
        return self._invoke("get", RequestTarget.record(id), context)

    def search(self, query: Query, context: Optional[RequestContext] = None) -> Any:
        """
        The records matching C{query}.
        """
        return self._invoke("search", RequestTarget.collection(query), context)

    def put(self, id: Any, record: Mapping[str, Any], context: Optional[RequestContext] = None) -> Any:
        """
        Replace the record C{id}.
        """
        return self._invoke("put", RequestTarget.record(id), context, record)

    def create(self, record: Mapping[str, Any], context: Optional[RequestContext] = None) -> Any:
        """
        Create a record, generating its key when it has none; return the stored record.
        """
        return self._invoke("post", RequestTarget.collection(), context, record)

    def patch(self, id: Any, changes: Mapping[str, Any], context: Optional[RequestContext] = None) -> Any:
        """
        Merge C{changes} into the record C{id}.
        """
        return self._invoke("patch", RequestTarget.record(id), context, changes)

    def delete(self, id: Any, context: Optional[RequestContext] = None) -> Any:
        """
        Delete the record C{id}.
        """
        return self._invoke("delete", RequestTarget.record(id), context)

    def publish(self, id: Any, message: Any, context: Optional[RequestContext] = None) -> Any:
        """
        Send C{message} to subscribers of the record C{id} without storing it.
        """
        return self._invoke("publish", RequestTarget.record(id), context, message)

    def sourced_from(
        self,
        source: Any,
        *,
        expiration: Optional[float] = None,
        eviction: float = 0.0,
        scan_interval: Optional[float] = None,
        timeout: float = 30.0,
        stale_on_error: bool = False,
    ) -> None:
        """
        Make this table a read-through (and, when C{source} has C{put}/C{delete},
        write-through) cache of C{source}, a L{harper.resources.base.Resource}.

        :param expiration: seconds until a fetched record is stale (default: the table's).
        :param eviction: seconds a stale record is kept before the sweep removes it.
        :param scan_interval: seconds between sweeps (default: a quarter of the expiration).
        :param timeout: seconds to wait for the source before failing the read.
        :param stale_on_error: serve the stale record when the source fails.
        """
        policy = CachePolicy(expiration, eviction, scan_interval, timeout, stale_on_error)
        self.resource.sourced_from(self._runtime.cache_for(source, policy))

    def set_computed_attribute(self, name: str, function: Callable[[Mapping[str, Any]], Any]) -> None:
        """
        Compute attribute C{name} (declared C{@computed} without C{from}) with C{function}.
        """
        table = self.resource.table
        self._runtime.computed.register(table.name, name, function)
        table.computed[name] = function

    def subscribe(self, listener: Callable[[Any], None], id: Any = None,
                  options: SubscriptionOptions = NO_OPTIONS) -> Any:
        """
        Call C{listener(event)} for each committed change of the record C{id} (the whole table
        when C{id} is C{None}), after the history C{options} ask for; return the subscription.
        """
        target = RequestTarget.record(id) if id is not None else RequestTarget.collection()
        return self.resource.subscribe(target, RequestContext(subscription=options), listener)


class TableNamespace:
    """
    The tables of one database as attributes (C{tables.Dog}) and items (C{tables["Dog"]}).
    """

    def __init__(self) -> None:
        self._handles: dict[str, TableHandle] = {}

    def add(self, name: str, handle: TableHandle) -> None:
        self._handles[name] = handle

    def remove(self, name: str) -> None:
        """
        Forget the table C{name} (nothing happens when there is none).
        """
        self._handles.pop(name, None)

    def __getattr__(self, name: str) -> TableHandle:
        try:
            return self._handles[name]
        except KeyError:
            raise AttributeError(f"no table named {name!r}") from None

    def __getitem__(self, name: str) -> TableHandle:
        return self._handles[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._handles))

    def __contains__(self, name: object) -> bool:
        return name in self._handles


class Databases:
    """
    Every database's tables: C{databases.data.Dog}; the C{data} database's tables are also
    reachable directly (C{tables.Dog}), as in Harper.
    """

    def __init__(self) -> None:
        self._databases: dict[str, TableNamespace] = {}

    def namespace(self, database: str) -> TableNamespace:
        """
        The tables of C{database}, created empty when new.
        """
        return self._databases.setdefault(database, TableNamespace())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._databases:
            return self._databases[name]
        return getattr(self.namespace("data"), name)

    def __getitem__(self, name: str) -> TableNamespace:
        return self._databases[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._databases))
