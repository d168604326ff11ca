# -*- test-case-name: tests.resources.test_table_resource -*-
"""
Shape records for output: apply a selection, resolving computed attributes and relationships.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

from harper.auth.roles import TableAccess
from harper.database.conditions import Condition, Query, Select
from harper.database.query import QueryExecutor, RelatedTables
from harper.database.table import Table
from harper.database.transaction import Transaction
from harper.schema.model import Relationship


class Projector:
    """
    Applies selections to records of one table within one transaction. Related records
    found by primary key are remembered for the projector's life (the records of a query
    often share them: the dogs of one breed).

    :param access: for a caller whose permissions are checked, what it may do with a related
        table (raising L{harper.errors.Forbidden} when it may not read it); related records
        are shown without the attributes it may not read. C{None}: unchecked.
    """

    def __init__(self, txn: Transaction, table: Table, related: RelatedTables,
                 access: Optional[Callable[[Table], TableAccess]] = None) -> None:
        self._txn = txn
        self._table = table
        self._related = related
        self._access = access
        self._inner: dict[tuple[str, str], Projector] = {}
        self._by_key: dict[tuple[str, str, Any], Any] = {}

    def project(self, record: Mapping[str, Any], select: Optional[Select]) -> Any:
        """
        C{record} shaped by C{select}: the stored record itself when there is no selection.
        """
        if select is None:
            return record
        values = [self._field(record, field.name, field.select) for field in select.fields]
        if select.shape == "value":
            return values[0] if values else None
        if select.shape == "array":
            return values
        return {field.name: value for field, value in zip(select.fields, values)}

    def _field(self, record: Mapping[str, Any], name: str, nested: Optional[Select]) -> Any:
        table = self._table
        if name == "$id":
            return record.get(table.primary_key)
        definition = table.definition.attribute(name)
        if definition is not None and definition.relationship is not None:
            return self._relation(record, definition.relationship, definition.type.is_list, nested)
        value = table.attribute_value(record, name)
        if nested is not None and isinstance(value, Mapping):
            return Projector(self._txn, table, self._related, self._access).project(value, nested)
        return value

    def _relation(
        self, record: Mapping[str, Any], relationship: Relationship, many: bool, nested: Optional[Select]
    ) -> Any:
        target = self._related(relationship.target)
        granted = self._access(target) if self._access is not None else None
        if granted is not None and granted.attributes is None:
            granted = None  # nothing of the related records is hidden
        if relationship.from_attribute is not None:
            keys = record.get(relationship.from_attribute)
            key_list = keys if isinstance(keys, list) else [keys]
            remote = relationship.to_attribute
            found = []
            for key in key_list:
                if key is None:
                    continue
                if remote is None:
                    other = self._by_primary_key(target, key)
                    found.extend([other] if other is not None else [])
                else:
                    found.extend(self._matching(target, remote, key))
        else:
            local = record.get(self._table.primary_key)
            found = list(self._matching(target, relationship.to_attribute, local))
        name = (target.database, target.name)
        inner = self._inner.get(name)
        if inner is None:
            inner = self._inner[name] = Projector(self._txn, target, self._related, self._access)
        shaped = [inner.project(other, nested) if granted is None
                  else granted.visible(inner.project(granted.visible(other, target.primary_key), nested),
                                       target.primary_key)
                  for other in found]
        if many or isinstance(record.get(relationship.from_attribute or ""), list):
            return shaped
        return shaped[0] if shaped else None

    def _by_primary_key(self, target: Table, key: Any) -> Any:
        memo = (target.database, target.name, key)
        try:
            return self._by_key[memo]
        except KeyError:
            other = self._by_key[memo] = target.get(self._txn, key)
            return other
        except TypeError:  # an unhashable key (a malformed reference): not remembered
            return target.get(self._txn, key)

    def _matching(self, target: Table, attribute: str, value: Any) -> Any:
        """
        The records of C{target} whose C{attribute} equals C{value}.
        """
        executor = QueryExecutor(self._txn, target, self._related)
        return executor.run(Query(Condition((attribute,), "equals", value)))
