# -*- test-case-name: tests.database.test_query -*-
"""
Run a L{Query} against a table, using its indexes.

Conditions through relationships (C{brand.name=X}) are first answered on the related table,
with its indexes, and turned into an C{in} condition on the local key. Then one indexed
condition of the top-level C{and} (or every branch of an C{or}) chooses the candidate records,
so an equality or range test on an indexed attribute never visits the whole table; the rest of
the tree filters those candidates.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

import attr

from harper.database.conditions import Condition, Group, Node, Not, Query, SortKey
from harper.database.keys import sort_key
from harper.database.matching import KeySet, matches
from harper.database.table import Table
from harper.database.transaction import Transaction
from harper.errors import InvalidInput

RelatedTables = Callable[[str], Table]

_RANGE = frozenset(
    {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "between", "starts_with"}
)
_STRING_END = "\U0010ffff"


@attr.define
class QueryStats:
    """
    What running a query cost: C{visited} counts records loaded to be tested.
    """

    visited: int = 0


def _range_bounds(condition: Condition) -> Optional[tuple[tuple, tuple, bool, bool]]:
    """
    Index key bounds (low, high, exclude low, exclude high) covering C{condition}, restricted
    to the operand's type rank; C{None} when the condition is not a range.
    """
    comparator, operand = condition.comparator, condition.value
    if comparator == "between":
        low, high = sort_key(operand[0]), sort_key(operand[1])
        return low, high, False, False
    if comparator == "starts_with":
        if not isinstance(operand, str):
            return None
        return (3, operand), (3, operand + _STRING_END), False, False
    bound = sort_key(operand)
    rank_low, rank_high = (bound[0],), (bound[0] + 1,)
    if comparator == "greater_than":
        return bound, rank_high, True, True
    if comparator == "greater_than_equal":
        return bound, rank_high, False, True
    if comparator == "less_than":
        return rank_low, bound, False, True
    if comparator == "less_than_equal":
        return rank_low, bound, False, False
    return None


def _released_values(tree: Any) -> Iterator[Any]:
    """
    The values of a BTree, bucket by bucket, ghosting again each bucket this scan loaded once
    its values are used (the bucket chain is how BTrees themselves iterate).
    """
    bucket = tree._firstbucket
    while bucket is not None:
        loaded = bucket._p_changed is None
        values = list(bucket.values())
        following = bucket._next
        yield from values
        del values
        if loaded:
            bucket._p_deactivate()
        bucket = following


class QueryExecutor:
    """
    Runs queries against one table in one transaction.

    :param txn: the transaction to read in.
    :param table: the table queried.
    :param related: finds another table by its GraphQL type name (for relationships).
    :param stats: incremented as records are visited.
    :param release: ghost again the records this query had to load, once each is used (for
        streaming very large answers).
    """

    def __init__(
        self,
        txn: Transaction,
        table: Table,
        related: RelatedTables,
        stats: Optional[QueryStats] = None,
        release: bool = False,
    ) -> None:
        self._txn = txn
        self._table = table
        self._related = related
        self.stats = stats if stats is not None else QueryStats()
        self._store = table.store(txn)
        self._release = release

    # -- public --------------------------------------------------------------------------

    def run(self, query: Query) -> Iterator[dict]:
        """
        The records matching C{query}, sorted and paged (selection is not applied).
        """
        conditions = self._prepare(query.conditions)
        records: Iterable[dict]
        if query.sort and conditions is None and self._sortable_by_index(query.sort):
            records = self._index_order(query.sort[0])
        else:
            records = self._filter(conditions)
            if query.sort:
                records = self._sorted(records, query.sort)
        stop = None if query.limit is None else query.offset + query.limit
        return itertools.islice(records, query.offset, stop)

    def value_of(self, record: Mapping[str, Any], path: tuple[str, ...]) -> Any:
        """
        The value at attribute C{path} of C{record}: through nested objects, computed
        attributes and (for sorting) relationships.
        """
        head, rest = path[0], path[1:]
        definition = self._table.definition.attribute(head)
        if definition is not None and definition.relationship is not None:
            return self._related_value(record, definition.relationship, rest)
        value: Any = self._table.attribute_value(record, head)
        for name in rest:
            value = value.get(name) if isinstance(value, Mapping) else None
        return value

    # -- relationships -------------------------------------------------------------------

    def _related_value(self, record: Mapping[str, Any], relationship: Any, rest: tuple) -> Any:
        target = self._related(relationship.target)
        related = QueryExecutor(self._txn, target, self._related, self.stats)
        if relationship.from_attribute is not None:
            key = record.get(relationship.from_attribute)
            if isinstance(key, list):
                key = key[0] if key else None
            if key is None:
                return None
            other = target.get(self._txn, key) if relationship.to_attribute is None else next(
                related.run(Query(Condition((relationship.to_attribute,), "equals", key), limit=1)),
                None,
            )
        else:
            other = next(
                related.run(
                    Query(
                        Condition((relationship.to_attribute,), "equals", record.get(self._table.primary_key)),
                        limit=1,
                    )
                ),
                None,
            )
        if other is None or not rest:
            return other
        return related.value_of(other, rest)

    def _prepare(self, node: Optional[Node]) -> Optional[Node]:
        if node is None:
            return None
        if isinstance(node, Group):
            return Group(node.operator, tuple(self._prepare(child) for child in node.conditions))
        if isinstance(node, Not):
            return Not(self._prepare(node.condition))
        if node.comparator == "between" and (
            not isinstance(node.value, (list, tuple)) or len(node.value) != 2
        ):
            raise InvalidInput(f"between on {'.'.join(node.attribute)} needs two values")
        definition = self._table.definition.attribute(node.attribute[0])
        if definition is not None and definition.relationship is not None and len(node.attribute) > 1:
            return self._through_relationship(node, definition.relationship)
        if node.comparator == "in":
            return Condition(node.attribute, "in", KeySet.of(node.value))
        return node

    def _through_relationship(self, condition: Condition, relationship: Any) -> Condition:
        target = self._related(relationship.target)
        inner = Condition(condition.attribute[1:], condition.comparator, condition.value)
        related = QueryExecutor(self._txn, target, self._related, self.stats)
        found = list(related.run(Query(inner)))
        if relationship.from_attribute is not None:
            remote = relationship.to_attribute or target.primary_key
            values = [record.get(remote) for record in found]
            return Condition((relationship.from_attribute,), "in", KeySet.of(values))
        values = [record.get(relationship.to_attribute) for record in found]
        return Condition((self._table.primary_key,), "in", KeySet.of(values))

    # -- candidates ----------------------------------------------------------------------

    def _filter(self, conditions: Optional[Node]) -> Iterator[dict]:
        candidates = self._candidates(conditions) if conditions is not None else None
        records = self._store.records
        now = self._txn.timestamp
        if candidates is None:
            entries: Iterable[Any] = _released_values(records) if self._release else records.values()
        else:
            entries = (records.get(key) for key in candidates)
        for entry in entries:
            if entry is None:
                continue
            self.stats.visited += 1
            loaded = self._release and entry._p_changed is None
            if self._table.is_expired(entry, now):
                continue
            value = entry.value
            if conditions is None or matches(conditions, value, self.value_of):
                yield value
            if loaded:
                # A long scan: give back what this query loaded once it has been used, so
                # memory stays flat instead of growing up to the connection's cache size.
                entry._p_deactivate()

    def _candidates(self, node: Node) -> Optional[list]:
        """
        Storage keys that include every record satisfying C{node}, or C{None} for all.
        """
        if isinstance(node, Condition):
            return self._indexed_keys(node)
        if isinstance(node, Group) and node.operator == "and":
            best = None
            for child in node.conditions:
                keys = self._candidates(child)
                if keys is not None and (best is None or len(keys) < len(best)):
                    best = keys
            return best
        if isinstance(node, Group):
            union: set = set()
            for child in node.conditions:
                keys = self._candidates(child)
                if keys is None:
                    return None
                union.update(keys)
            return sorted(union)
        return None

    def _indexed_keys(self, condition: Condition) -> Optional[list]:
        if len(condition.attribute) != 1:
            return None
        name = condition.attribute[0]
        if name == self._table.primary_key:
            return self._primary_keys(condition)
        index = self._store.indexes.get(name)
        if index is None:
            return None
        if condition.comparator == "equals" and not isinstance(condition.value, (list, tuple)):
            keys = index.get(sort_key(condition.value))
            return list(keys) if keys is not None else []
        if condition.comparator == "in":
            if len(condition.value) == 1:
                # One value (a relationship to one record, typically): the index's key set
                # is already in key order.
                [value_key] = condition.value
                return list(index.get(value_key, ()))
            found: set = set()
            for value_key in condition.value:
                found.update(index.get(value_key, ()))
            return sorted(found)
        if condition.comparator in _RANGE:
            bounds = _range_bounds(condition)
            if bounds is None:
                return None
            low, high, exclude_low, exclude_high = bounds
            found = set()
            for keys in index.values(low, high, excludemin=exclude_low, excludemax=exclude_high):
                found.update(keys)
            return sorted(found)
        return None

    def _primary_keys(self, condition: Condition) -> Optional[list]:
        table = self._table
        if condition.comparator == "equals":
            try:
                storage_key = table.storage_key(condition.value)
                return [storage_key] if storage_key in self._store.records else []
            except (InvalidInput, TypeError):
                return []
        if condition.comparator == "in":
            wrapped = condition.value if not table.raw_keys else (k[1] for k in condition.value if len(k) > 1)
            found = []
            for storage_key in wrapped:
                try:
                    if storage_key in self._store.records:
                        found.append(storage_key)
                except TypeError:
                    continue  # a key of another type than the table's keys: no such record
            return sorted(found)
        return None

    # -- ordering ------------------------------------------------------------------------

    def _sortable_by_index(self, sort: tuple[SortKey, ...]) -> bool:
        first = sort[0]
        return len(sort) == 1 and len(first.attribute) == 1 and first.attribute[0] in self._store.indexes

    def _index_order(self, key: SortKey) -> Iterator[dict]:
        index = self._store.indexes[key.attribute[0]]
        value_keys = index.keys()
        if key.descending:
            value_keys = reversed(list(value_keys))
        records = self._store.records
        seen: set = set()
        now = self._txn.timestamp
        for value_key in value_keys:
            for storage_key in index[value_key]:
                if storage_key in seen:
                    continue
                seen.add(storage_key)
                entry = records.get(storage_key)
                self.stats.visited += 1
                if entry is not None and not self._table.is_expired(entry, now):
                    yield entry.value

    def _sorted(self, records: Iterable[dict], sort: tuple[SortKey, ...]) -> list[dict]:
        result = list(records)
        for key in reversed(sort):
            result.sort(key=lambda r: sort_key(self.value_of(r, key.attribute)), reverse=key.descending)
        return result
