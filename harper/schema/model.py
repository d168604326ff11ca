# -*- test-case-name: tests.schema.test_sdl -*-
"""
Frozen definitions of tables, attributes and nested object types.

These are plain values built from GraphQL SDL by L{harper.schema.sdl}; the database and the
resource layer read them and never change them.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import attr

#: Scalar type names a schema may use.
SCALAR_TYPES = frozenset(
    {"ID", "String", "Int", "Long", "Float", "BigInt", "Boolean", "Date", "Bytes", "Any"}
)

#: Scalar types whose generated primary keys are increasing integers (others get UUIDs).
INTEGER_KEY_TYPES = frozenset({"Int", "Long", "BigInt"})


@attr.frozen
class TypeRef:
    """
    The declared type of an attribute.

    :ivar name: a scalar name from L{SCALAR_TYPES} or the name of an object type; C{None} when
        this is a list, in which case C{item} describes the elements.
    :ivar nullable: C{False} when the SDL type ends with C{!}.
    :ivar item: the element type of a list type.
    """

    name: Optional[str]
    nullable: bool = True
    item: Optional["TypeRef"] = None

    @property
    def is_list(self) -> bool:
        """
        Whether this is a list type.
        """
        return self.item is not None

    @property
    def base_name(self) -> str:
        """
        The scalar or object type name at the bottom of any list nesting.
        """
        ref: TypeRef = self
        while ref.item is not None:
            ref = ref.item
        assert ref.name is not None
        return ref.name


@attr.frozen
class Relationship:
    """
    A join to another table, declared with C{@relationship}.

    :ivar from_attribute: attribute of this record holding the other record's key (or keys:
        many-to-many); C{None} means join on this record's primary key.
    :ivar to_attribute: attribute of the other table that holds a key matching; C{None} means
        join on the other table's primary key.
    :ivar target: type name of the other table.
    """

    target: str
    from_attribute: Optional[str] = None
    to_attribute: Optional[str] = None


@attr.frozen
class Computed:
    """
    A value computed from the record on read, declared with C{@computed}.

    :ivar expression: a safe Python expression over the record's attributes, or C{None} when
        the function is registered from code.
    :ivar version: bumped when the function changes, so an index over it is rebuilt.
    """

    expression: Optional[str] = None
    version: int = 0


@attr.frozen
class AttributeDefinition:
    """
    One field of a table or object type.
    """

    name: str
    type: TypeRef
    primary_key: bool = False
    indexed: bool = False
    index_options: Mapping[str, Any] = attr.field(factory=dict)
    created_time: bool = False
    updated_time: bool = False
    expires_at: bool = False
    relationship: Optional[Relationship] = None
    computed: Optional[Computed] = None
    allow_roles: tuple[str, ...] = ()
    enumerable: bool = False

    @property
    def stored(self) -> bool:
        """
        Whether the attribute's value is kept in the record (relationships and computed
        attributes are derived on read).
        """
        return self.relationship is None and self.computed is None


@attr.frozen
class ObjectTypeDefinition:
    """
    A GraphQL object type without C{@table}: the shape of nested values.
    """

    name: str
    attributes: tuple[AttributeDefinition, ...]
    sealed: bool = False

    def attribute(self, name: str) -> Optional[AttributeDefinition]:
        """
        The attribute called C{name}, or C{None}.
        """
        for attribute in self.attributes:
            if attribute.name == name:
                return attribute
        return None


@attr.frozen
class TableDefinition:
    """
    A table declared by a GraphQL type with C{@table}.

    :ivar type_name: the GraphQL type name.
    :ivar name: the table name (C{@table(table:)} or the type name).
    :ivar database: the database holding the table (default C{data}).
    :ivar export_name: path the table is served at, C{None} when not exported, C{""} for the
        application's base path.
    :ivar expiration: seconds until a record is stale, or C{None}.
    :ivar eviction: seconds after expiration until a stale record is removed, or C{None}.
    :ivar scan_interval: seconds between sweeps for expired records, or C{None}.
    :ivar source: the file the definition came from, for error messages.
    """

    type_name: str
    name: str
    attributes: tuple[AttributeDefinition, ...]
    database: str = "data"
    export_name: Optional[str] = None
    expiration: Optional[float] = None
    eviction: Optional[float] = None
    scan_interval: Optional[float] = None
    audit: bool = False
    replicate: bool = True
    sealed: bool = False
    allow_roles: tuple[str, ...] = ()
    source: str = ""

    def attribute(self, name: str) -> Optional[AttributeDefinition]:
        """
        The attribute called C{name}, or C{None}.
        """
        for attribute in self.attributes:
            if attribute.name == name:
                return attribute
        return None

    @property
    def primary_key(self) -> AttributeDefinition:
        """
        The primary key attribute; a table without a declared one gets C{id: ID}.
        """
        for attribute in self.attributes:
            if attribute.primary_key:
                return attribute
        return AttributeDefinition(name="id", type=TypeRef("ID"), primary_key=True)

    @property
    def indexed_attributes(self) -> tuple[AttributeDefinition, ...]:
        """
        The attributes with a secondary index, primary key excluded.
        """
        return tuple(a for a in self.attributes if a.indexed and not a.primary_key)


@attr.frozen
class Schema:
    """
    Everything one or more SDL files declare.

    :ivar tables: the table definitions, in declaration order.
    :ivar types: object types by name (tables included, as their nested shape).
    """

    tables: tuple[TableDefinition, ...] = ()
    types: Mapping[str, ObjectTypeDefinition] = attr.field(factory=dict)

    def table_for_type(self, type_name: str) -> Optional[TableDefinition]:
        """
        The table declared by the GraphQL type C{type_name}, or C{None}.
        """
        for table in self.tables:
            if table.type_name == type_name:
                return table
        return None
