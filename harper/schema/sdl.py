# -*- test-case-name: tests.schema.test_sdl -*-
"""
GraphQL SDL files in, frozen table and object type definitions out.

Only object C{type} definitions are read (a type named C{Query} is skipped, directive
declarations and other definitions are ignored). Types with C{@table} become
L{TableDefinition}s; every type, tables included, is also an L{ObjectTypeDefinition} describing
the shape of nested values. Every problem found in any file is collected and raised at the end
as one L{SchemaError} whose lines each start with C{file:line:column}.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import attr
from graphql.error import GraphQLSyntaxError
from graphql.language import (
    FieldDefinitionNode,
    ListTypeNode,
    NamedTypeNode,
    Node,
    NonNullTypeNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    Source,
    TypeNode,
    parse,
)
from twisted.logger import Logger

from harper.errors import InvalidInput, SchemaError
from harper.schema.computed import compile_expression
from harper.schema.directives import (
    FIELD_DIRECTIVES,
    TYPE_DIRECTIVES,
    attribute_from_directives,
    read_directives,
)
from harper.schema.model import (
    SCALAR_TYPES,
    AttributeDefinition,
    ObjectTypeDefinition,
    Schema,
    TableDefinition,
    TypeRef,
)

#: Scalar types a primary key may have.
KEY_TYPES = frozenset({"ID", "String", "Int", "Long", "Float", "BigInt", "Any", "Date"})

#: Scalar types that can hold an epoch-milliseconds timestamp.
TIMESTAMP_TYPES = frozenset({"Long", "Float", "BigInt", "Date", "Any"})

#: Field directives that each give the field a role of its own; one field takes one of them.
_EXCLUSIVE = ("primaryKey", "createdTime", "updatedTime", "expiresAt", "relationship", "computed")

#: Field directives that mean something only on a C{@table} type.
_TABLE_ONLY = _EXCLUSIVE + ("indexed",)

_TIMESTAMPS = ("createdTime", "updatedTime", "expiresAt")


def parse_schema(sources: Sequence[tuple[str, str]]) -> Schema:
    """
    Read the tables and object types declared by GraphQL SDL sources.

    :param sources: C{(file path, SDL text)} pairs; the path is used in messages and as each
        table's C{source}.
    :return: every table and object type the sources declare.
    :raises SchemaError: listing every problem found, each starting with C{file:line:column}.
    """
    return _SchemaReader().read(sources)


def type_text(ref: TypeRef) -> str:
    """
    A type as it is written in SDL, for example C{[String!]!}.
    """
    text = f"[{type_text(ref.item)}]" if ref.item is not None else str(ref.name)
    return text if ref.nullable else text + "!"


def _where(node: Node, with_column: bool = True) -> str:
    assert node.loc is not None
    token = node.loc.start_token
    place = f"{node.loc.source.name}:{token.line}"
    return f"{place}:{token.column}" if with_column else place


@attr.define
class _Field:
    attribute: AttributeDefinition
    node: FieldDefinitionNode


@attr.define
class _Type:
    name: str
    node: ObjectTypeDefinitionNode
    directives: dict[str, dict[str, Any]] = attr.Factory(dict)
    fields: list[_Field] = attr.Factory(list)

    @property
    def is_table(self) -> bool:
        return "table" in self.directives

    def field(self, name: str) -> Optional[AttributeDefinition]:
        for field in self.fields:
            if field.attribute.name == name:
                return field.attribute
        return None


class _SchemaReader:
    """
    Reads SDL sources in passes, collecting problems instead of stopping at the first.
    """

    _log = Logger()

    def __init__(self) -> None:
        self._problems: list[str] = []
        self._types: dict[str, _Type] = {}

    def read(self, sources: Sequence[tuple[str, str]]) -> Schema:
        for path, text in sources:
            self._read_file(path, text)
        for declared in self._types.values():
            self._read_type_directives(declared)
        for declared in self._types.values():
            fields = declared.node.fields or ()
            declared.fields = [self._read_field(declared, node) for node in fields]
        for declared in self._types.values():
            self._check_type(declared)
        tables = self._tables()
        if self._problems:
            raise SchemaError(self._problems)
        types = {
            name: ObjectTypeDefinition(
                name=name,
                attributes=tuple(field.attribute for field in declared.fields),
                sealed="sealed" in declared.directives,
            )
            for name, declared in self._types.items()
        }
        return Schema(tables=tables, types=types)

    def _report(self, node: Node, reason: str) -> None:
        self._problems.append(f"{_where(node)}: {reason}")

    def _warn(self, node: Node, reason: str) -> None:
        self._log.warn("{where}: {reason}", where=_where(node), reason=reason)

    def _read_file(self, path: str, text: str) -> None:
        if not text.strip():
            return
        try:
            document = parse(Source(text, path))
        except GraphQLSyntaxError as error:
            line, column = (error.locations[0] if error.locations else (1, 1))
            self._problems.append(f"{path}:{line}:{column}: {error.message}")
            return
        for node in document.definitions:
            if isinstance(node, ObjectTypeExtensionNode):
                self._warn(node, f"extend type {node.name.value} is not supported and is ignored")
            if not isinstance(node, ObjectTypeDefinitionNode) or node.name.value == "Query":
                continue
            name = node.name.value
            earlier = self._types.get(name)
            if earlier is not None:
                first, second = _where(earlier.node, False), _where(node, False)
                self._report(node, f"type {name} defined twice ({first} and {second})")
            else:
                self._types[name] = _Type(name, node)

    def _read_type_directives(self, declared: _Type) -> None:
        directives = read_directives(
            declared.node.directives or (), TYPE_DIRECTIVES, FIELD_DIRECTIVES, declared.name,
            self._report, self._warn,
        )
        if "table" not in directives:
            for name in ("export", "allow"):
                if directives.pop(name, None) is not None:
                    self._warn(declared.node, f"{declared.name}: @{name} needs @table; ignored")
        declared.directives = directives

    def _read_field(self, declared: _Type, node: FieldDefinitionNode) -> _Field:
        subject = f"{declared.name}.{node.name.value}"
        type_ref = self._type_ref(node.type, subject)
        directives = read_directives(
            node.directives or (), FIELD_DIRECTIVES, TYPE_DIRECTIVES, subject,
            self._report, self._warn,
        )
        if not declared.is_table:
            for name in _TABLE_ONLY:
                if directives.pop(name, None) is not None:
                    self._warn(node, f"{subject}: @{name} needs a @table type; ignored")
        attribute = attribute_from_directives(node.name.value, type_ref, directives)
        self._check_field(subject, attribute, directives, node)
        return _Field(attribute, node)

    def _type_ref(self, node: TypeNode, subject: str, nullable: bool = True) -> TypeRef:
        if isinstance(node, NonNullTypeNode):
            return self._type_ref(node.type, subject, nullable=False)
        if isinstance(node, ListTypeNode):
            return TypeRef(None, nullable, self._type_ref(node.type, subject))
        assert isinstance(node, NamedTypeNode)
        name = node.name.value
        if not self._is_known_type(name):
            self._report(node, f"{subject}: unknown type {name!r}")
        return TypeRef(name, nullable)

    def _is_known_type(self, name: str) -> bool:
        return name in SCALAR_TYPES or name in self._types

    def _check_field(
        self,
        subject: str,
        attribute: AttributeDefinition,
        directives: dict[str, dict[str, Any]],
        node: FieldDefinitionNode,
    ) -> None:
        roles = [f"@{name}" for name in _EXCLUSIVE if name in directives]
        if len(roles) > 1:
            self._report(node, f"{subject}: {' and '.join(roles)} cannot be combined")
        if attribute.primary_key:
            self._check_key_type(subject, attribute, node)
        for name in _TIMESTAMPS:
            if name in directives and (
                attribute.type.is_list or attribute.type.base_name not in TIMESTAMP_TYPES
            ):
                self._report(
                    node,
                    f"{subject}: @{name} needs a Long, Float, BigInt, Date or Any field, "
                    f"not {type_text(attribute.type)}",
                )
        if attribute.relationship is not None:
            self._check_relationship_shape(subject, attribute, node)
        if attribute.computed is not None and attribute.computed.expression is not None:
            try:
                compile_expression(attribute.computed.expression)
            except InvalidInput as error:
                self._report(node, f"{subject}: @computed: {error.message}")

    def _check_key_type(
        self, subject: str, attribute: AttributeDefinition, node: FieldDefinitionNode
    ) -> None:
        if attribute.type.is_list or attribute.type.base_name not in KEY_TYPES:
            allowed = ", ".join(sorted(KEY_TYPES))
            self._report(
                node,
                f"{subject}: a primary key cannot be of type {type_text(attribute.type)} "
                f"(allowed: {allowed})",
            )

    def _check_relationship_shape(
        self, subject: str, attribute: AttributeDefinition, node: FieldDefinitionNode
    ) -> None:
        relationship = attribute.relationship
        assert relationship is not None
        if relationship.from_attribute is None and relationship.to_attribute is None:
            self._report(node, f"{subject}: @relationship needs from: or to:")
        target = self._types.get(relationship.target)
        if self._is_known_type(relationship.target) and (target is None or not target.is_table):
            self._report(
                node, f"{subject}: @relationship target {relationship.target} is not a @table type"
            )
        if relationship.to_attribute is not None and not attribute.type.is_list:
            self._report(
                node,
                f"{subject}: @relationship(to:) is one-to-many and needs a list type "
                f"such as [{relationship.target}]",
            )
        if attribute.indexed:
            self._report(node, f"{subject}: a relationship cannot be @indexed")

    def _check_type(self, declared: _Type) -> None:
        seen: set[str] = set()
        for field in declared.fields:
            if field.attribute.name in seen:
                self._report(field.node, f"{declared.name}.{field.attribute.name}: defined twice")
            seen.add(field.attribute.name)
        if not declared.is_table:
            return
        self._check_single(declared, "primary_key", "@primaryKey")
        self._check_single(declared, "expires_at", "@expiresAt")
        self._mark_implicit_key(declared)
        for field in declared.fields:
            if field.attribute.relationship is not None:
                self._check_relationship_ends(declared, field)

    def _check_single(self, declared: _Type, flag: str, directive: str) -> None:
        fields = [field for field in declared.fields if getattr(field.attribute, flag)]
        if len(fields) > 1:
            names = ", ".join(field.attribute.name for field in fields)
            self._report(fields[1].node, f"{declared.name}: more than one {directive} ({names})")

    def _mark_implicit_key(self, declared: _Type) -> None:
        if any(field.attribute.primary_key for field in declared.fields):
            return
        for field in declared.fields:
            attribute = field.attribute
            roles = (attribute.created_time, attribute.updated_time, attribute.expires_at)
            if attribute.name == "id" and attribute.stored and not any(roles):
                self._check_key_type(f"{declared.name}.id", attribute, field.node)
                field.attribute = attr.evolve(attribute, primary_key=True)
                return

    def _check_relationship_ends(self, declared: _Type, field: _Field) -> None:
        subject = f"{declared.name}.{field.attribute.name}"
        relationship = field.attribute.relationship
        assert relationship is not None
        from_name, to_name = relationship.from_attribute, relationship.to_attribute
        if from_name is not None:
            source = declared.field(from_name)
            if source is None or not source.stored:
                self._report(
                    field.node,
                    f"{subject}: @relationship(from: {from_name!r}) names no stored field "
                    f"of {declared.name}",
                )
            elif to_name is None and source.type.is_list != field.attribute.type.is_list:
                shape = "list (many-to-many)" if source.type.is_list else "single key"
                self._report(
                    field.node,
                    f"{subject}: {declared.name}.{from_name} holds a {shape}, so this field "
                    f"must {'' if source.type.is_list else 'not '}be a list",
                )
        target = self._types.get(relationship.target)
        if to_name is not None and target is not None and target.is_table:
            if target.field(to_name) is None:
                self._report(
                    field.node,
                    f"{subject}: @relationship(to: {to_name!r}) names no field of "
                    f"{relationship.target}",
                )

    def _tables(self) -> tuple[TableDefinition, ...]:
        tables: list[TableDefinition] = []
        places: dict[tuple[str, str], ObjectTypeDefinitionNode] = {}
        for declared in self._types.values():
            if not declared.is_table:
                continue
            table = self._table(declared)
            earlier = places.setdefault((table.database, table.name), declared.node)
            if earlier is not declared.node:
                self._report(
                    declared.node,
                    f"{declared.name}: table {table.database}.{table.name} is already declared "
                    f"at {_where(earlier, False)}",
                )
            tables.append(table)
        return tuple(tables)

    def _table(self, declared: _Type) -> TableDefinition:
        arguments = declared.directives["table"]
        database = arguments.get("database", arguments.get("schema", "data"))
        if arguments.get("schema", database) != database:
            self._report(declared.node, f"{declared.name}: @table database and schema differ")
        name = arguments.get("table", declared.name)
        for label, value in (("table", name), ("database", database)):
            if not value:
                self._report(declared.node, f"{declared.name}: @table {label} name is empty")
        export = declared.directives.get("export")
        return TableDefinition(
            type_name=declared.name,
            name=name,
            attributes=tuple(field.attribute for field in declared.fields),
            database=database,
            export_name=None if export is None else export.get("name", declared.name),
            expiration=arguments.get("expiration"),
            eviction=arguments.get("eviction"),
            scan_interval=arguments.get("scanInterval"),
            audit=arguments.get("audit", False),
            replicate=arguments.get("replicate", True),
            sealed="sealed" in declared.directives,
            allow_roles=declared.directives.get("allow", {}).get("role", ()),
            source=declared.node.loc.source.name if declared.node.loc else "",
        )
