# -*- test-case-name: tests.database.test_table -*-
"""
Table operations inside a transaction: read, write, delete and scan records, keeping the
secondary indexes and the managed attributes (created, updated, expiry times) in step.

A L{Table} holds no state of its own; the records live in the L{TableStore} reached through
the transaction. Validation against the schema is the caller's job (the resource layer).
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Callable, Iterator, Mapping, Optional

from harper.database.events import DELETE, PATCH, PUT, ChangeEvent
from harper.database.keys import index_entries, sort_key
from harper.database.store import Entry, TableStore
from harper.database.transaction import Transaction
from harper.errors import InvalidInput, NotFound
from harper.schema.model import INTEGER_KEY_TYPES, AttributeDefinition, TableDefinition

ComputedFunction = Callable[[Mapping[str, Any]], Any]

_HOMOGENEOUS_KEY_TYPES = frozenset({"ID", "String", "Int", "Long", "BigInt", "Float"})


def _timestamp_value(attribute: AttributeDefinition, millis: float) -> Any:
    if attribute.type.base_name == "Date":
        return datetime.datetime.fromtimestamp(millis / 1000.0, tz=datetime.timezone.utc)
    if attribute.type.base_name == "Float":
        return millis
    return int(millis)


def _millis(value: Any) -> Optional[float]:
    if isinstance(value, datetime.datetime):
        return value.timestamp() * 1000.0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


class Table:
    """
    The operations on one table.

    :param definition: the table's definition.
    :param computed: attribute name to the function computing it, for computed attributes.
    """

    def __init__(
        self,
        definition: TableDefinition,
        computed: Optional[Mapping[str, ComputedFunction]] = None,
    ) -> None:
        self.definition = definition
        self.name = definition.name
        self.database = definition.database
        self.primary_key = definition.primary_key.name
        self.computed = dict(computed or {})
        key_type = definition.primary_key.type.base_name
        self._integer_keys = key_type in INTEGER_KEY_TYPES or key_type == "Any"
        self.raw_keys = key_type in _HOMOGENEOUS_KEY_TYPES
        self._indexed = tuple(a.name for a in definition.indexed_attributes)
        self._created = tuple(a for a in definition.attributes if a.created_time)
        self._updated = tuple(a for a in definition.attributes if a.updated_time)
        self._expires = next((a.name for a in definition.attributes if a.expires_at), None)

    # -- the persistent store ------------------------------------------------------------

    def store(self, txn: Transaction) -> TableStore:
        """
        The table's persistent store; L{NotFound} when the table was never created.
        """
        stores = txn.table_stores(self.database)
        store = stores.get(self.name) if stores is not None else None
        if store is None:
            raise NotFound(f"table {self.database}.{self.name} does not exist")
        return store

    def storage_key(self, key: Any) -> Any:
        """
        The BTree key for primary key C{key} (C{Any}-typed keys are wrapped so that mixed
        types compare).
        """
        if key is None:
            raise InvalidInput(f"{self.name}: a record needs a value for {self.primary_key}")
        return key if self.raw_keys else sort_key(key)

    # -- reads ---------------------------------------------------------------------------

    def entry(self, txn: Transaction, key: Any) -> Optional[Entry]:
        """
        The stored entry for C{key}, expired or not, or C{None}.
        """
        return self.store(txn).records.get(self.storage_key(key))

    def get(self, txn: Transaction, key: Any) -> Optional[dict]:
        """
        The record with primary key C{key}, or C{None}. Expired records of tables without a
        source count as absent. The returned dict is shared: do not mutate it.
        """
        entry = self.entry(txn, key)
        if entry is None or self.is_expired(entry, txn.timestamp):
            return None
        return entry.value

    def is_expired(self, entry: Entry, now: float) -> bool:
        """
        Whether C{entry} is past its expiry time at C{now} (epoch ms).
        """
        return entry.expires_at is not None and entry.expires_at <= now

    def scan(self, txn: Transaction) -> Iterator[Entry]:
        """
        Every entry, in primary-key order.
        """
        return iter(self.store(txn).records.values())

    def count(self, txn: Transaction) -> int:
        """
        How many records the table holds.
        """
        return self.store(txn).size()

    def computed_value(self, record: Mapping[str, Any], attribute: str) -> Any:
        """
        The value of computed attribute C{attribute} for C{record} (C{None} when it has no
        function yet).
        """
        function = self.computed.get(attribute)
        return function(record) if function is not None else None

    def attribute_value(self, record: Mapping[str, Any], attribute: str) -> Any:
        """
        The value of C{attribute} in C{record}, computing it when it is computed.
        """
        if attribute in self.computed:
            return self.computed_value(record, attribute)
        return record.get(attribute)

    # -- writes --------------------------------------------------------------------------

    def generate_key(self, txn: Transaction) -> Any:
        """
        A new primary key: the next integer for integer keys, else a random UUID.
        """
        if not self._integer_keys:
            return str(uuid.uuid4())
        store = self.store(txn)
        key = store.last_generated_key + 1
        while store.records.get(self.storage_key(key)) is not None:
            key += 1
        store.last_generated_key = key
        return key

    def put(
        self,
        txn: Transaction,
        record: Mapping[str, Any],
        *,
        event_type: str = PUT,
        expires_at: Optional[float] = None,
        user: Optional[str] = None,
        stamp: bool = True,
        patched: Optional[tuple[str, ...]] = None,
    ) -> dict:
        """
        Store C{record} as the whole new value of the record its primary key names; set the
        managed time attributes, update the indexes and queue a change event. Return the
        stored record.

        :param expires_at: epoch ms when the record becomes stale; by default the table's
            expiration (or the C{@expiresAt} attribute) decides.
        :param stamp: C{False} stores C{record} as given, managed time attributes included
            (a replicated write, already stamped by the node that made it).
        :param patched: for a L{PATCH}, the attributes the patch set (given to the event).
        """
        store = self.store(txn)
        key = record.get(self.primary_key)
        storage_key = self.storage_key(key)
        old_entry = store.records.get(storage_key)
        old = old_entry.value if old_entry is not None else None
        value = dict(record)
        if stamp:
            self._stamp(value, old, txn.timestamp)
        self._reindex(store, storage_key, old, value)
        entry_expiry = self._expiry(value, txn.timestamp, expires_at)
        if old_entry is None:
            store.records[storage_key] = Entry(value, txn.timestamp, entry_expiry)
            store.size.change(1)
        else:
            old_entry.value = value
            old_entry.version = txn.timestamp
            old_entry.expires_at = entry_expiry
        txn.record_change(
            ChangeEvent(self.database, self.name, key, event_type, value, txn.timestamp, user, patched, old)
        )
        return value

    def patch(
        self,
        txn: Transaction,
        key: Any,
        changes: Mapping[str, Any],
        *,
        user: Optional[str] = None,
    ) -> dict:
        """
        Merge C{changes} into the record C{key} (L{NotFound} if absent) and store it.
        """
        current = self.get(txn, key)
        if current is None:
            raise NotFound(f"{self.name} record {key!r} not found")
        merged = dict(current)
        merged.update(changes)
        merged[self.primary_key] = current[self.primary_key]
        return self.put(txn, merged, event_type=PATCH, user=user, patched=tuple(changes))

    def delete(self, txn: Transaction, key: Any, *, user: Optional[str] = None) -> bool:
        """
        Remove the record C{key}; return whether it existed.
        """
        entry = self.entry(txn, key)
        if entry is None or not self.evict(txn, key):
            return False
        txn.record_change(
            ChangeEvent(self.database, self.name, key, DELETE, None, txn.timestamp, user, original=entry.value)
        )
        return True

    def evict(self, txn: Transaction, key: Any) -> bool:
        """
        Remove the record C{key} silently (cache eviction: no change event); return whether it
        existed.
        """
        store = self.store(txn)
        storage_key = self.storage_key(key)
        entry = store.records.get(storage_key)
        if entry is None:
            return False
        self._reindex(store, storage_key, entry.value, None)
        del store.records[storage_key]
        store.size.change(-1)
        return True

    def index_keys(self, attribute: str, record: Optional[Mapping[str, Any]]) -> list[tuple]:
        """
        The keys C{record} contributes to the index of C{attribute}.
        """
        if record is None:
            return []
        return index_entries(self.attribute_value(record, attribute))

    # -- helpers -------------------------------------------------------------------------

    def _stamp(self, value: dict, old: Optional[Mapping[str, Any]], now: float) -> None:
        for attribute in self._created:
            if old is not None and old.get(attribute.name) is not None:
                value[attribute.name] = old[attribute.name]
            else:
                value[attribute.name] = _timestamp_value(attribute, now)
        for attribute in self._updated:
            value[attribute.name] = _timestamp_value(attribute, now)

    def _expiry(self, value: Mapping[str, Any], now: float, explicit: Optional[float]) -> Optional[float]:
        if explicit is not None:
            return explicit
        if self._expires is not None:
            stamped = _millis(value.get(self._expires))
            if stamped is not None:
                return stamped
        expiration = self.definition.expiration
        return now + expiration * 1000.0 if expiration is not None else None

    def _reindex(
        self,
        store: TableStore,
        storage_key: Any,
        old: Optional[Mapping[str, Any]],
        new: Optional[Mapping[str, Any]],
    ) -> None:
        for attribute in self._indexed:
            before = self.index_keys(attribute, old)
            after = self.index_keys(attribute, new)
            if before == after:
                # Most writes leave most indexed values alone: no index bucket is touched.
                continue
            before, after = set(before), set(after)
            for value_key in before - after:
                store.remove_from_index(attribute, value_key, storage_key)
            for value_key in after - before:
                store.add_to_index(attribute, value_key, storage_key)
