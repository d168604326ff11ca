# -*- test-case-name: tests.database.test_migrate -*-
"""
Bring the stored tables in line with the schema on start-up: create missing tables, build
indexes declared since the last start over the records already stored, drop indexes no
longer declared, and rebuild indexes of computed attributes whose version changed.
"""

from __future__ import annotations

from typing import Iterable

from BTrees.OOBTree import OOBTree

from harper.database.store import TableStore
from harper.database.table import Table
from harper.database.transaction import Transaction


def _index_version(table: Table, attribute: str) -> int:
    definition = table.definition.attribute(attribute)
    if definition is not None and definition.computed is not None:
        return definition.computed.version
    return 0


def _build_index(store: TableStore, table: Table, attribute: str) -> None:
    store.indexes[attribute] = OOBTree()
    for storage_key, entry in store.records.items():
        for value_key in table.index_keys(attribute, entry.value):
            store.add_to_index(attribute, value_key, storage_key)
    store.index_versions[attribute] = _index_version(table, attribute)


def migrate(txn: Transaction, tables: Iterable[Table]) -> list[str]:
    """
    Create and re-index C{tables} as their definitions require; return a line per change.
    """
    changes: list[str] = []
    for table in tables:
        stores = txn.table_stores(table.database, create=True)
        store = stores.get(table.name)
        if store is None:
            store = stores[table.name] = TableStore()
            changes.append(f"created table {table.database}.{table.name}")
        wanted = {a.name for a in table.definition.indexed_attributes}
        for attribute in sorted(set(store.indexes.keys()) - wanted):
            del store.indexes[attribute]
            store.index_versions.pop(attribute, None)
            changes.append(f"dropped index {table.name}.{attribute}")
        for attribute in sorted(wanted):
            current = store.index_versions.get(attribute)
            if attribute not in store.indexes or current != _index_version(table, attribute):
                _build_index(store, table, attribute)
                changes.append(f"built index {table.name}.{attribute}")
    return changes
