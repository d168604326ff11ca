"""
Tests for L{harper.schema.sdl} and L{harper.schema.directives}.
"""

from __future__ import annotations

from typing import Any, cast

from twisted.logger import ILogObserver, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from harper.errors import SchemaError, StartupError
from harper.schema.model import (
    SCALAR_TYPES,
    AttributeDefinition,
    Computed,
    Relationship,
    Schema,
    TableDefinition,
    TypeRef,
)
from harper.schema.sdl import parse_schema, type_text


def parse(sdl: str, path: str = "schema.graphql") -> Schema:
    """
    Parse one SDL source.
    """
    return parse_schema([(path, sdl)])


def table(sdl: str, name: str = "Dog") -> TableDefinition:
    """
    Parse one SDL source and return the table declared by type C{name}.
    """
    found = parse(sdl).table_for_type(name)
    assert found is not None
    return found


def field(definition: TableDefinition, name: str) -> AttributeDefinition:
    """
    The attribute C{name} of C{definition}, which must exist.
    """
    found = definition.attribute(name)
    assert found is not None, name
    return found


class SchemaTestCase(SynchronousTestCase):
    """
    Helpers to assert on the problems of a L{SchemaError}.
    """

    def problems(self, *sources: tuple[str, str]) -> tuple[str, ...]:
        """
        The problems reported for C{sources}, which must fail to parse.
        """
        return self.assertRaises(SchemaError, parse_schema, list(sources)).problems

    def assertProblem(self, sdl: str, *fragments: str) -> str:
        """
        Assert that parsing C{sdl} reports exactly one problem containing every fragment.
        """
        problems = self.problems(("schema.graphql", sdl))
        self.assertEqual(len(problems), 1, problems)
        for fragment in fragments:
            self.assertIn(fragment, problems[0])
        return problems[0]


class TableDirectiveTests(SchemaTestCase):
    """
    Tests for the type-level directives C{@table}, C{@export}, C{@sealed} and C{@allow}.
    """

    def test_defaults(self) -> None:
        """
        A bare C{@table} declares a table named after its type in database C{data}, not
        exported, replicated, not audited, with no expiry and its file as C{source}.
        """
        dog = parse("type Dog @table { id: ID @primaryKey }", "app/schema.graphql").tables[0]
        self.assertEqual(
            (dog.type_name, dog.name, dog.database, dog.export_name, dog.replicate, dog.audit),
            ("Dog", "Dog", "data", None, True, False),
        )
        self.assertEqual((dog.expiration, dog.eviction, dog.scan_interval), (None, None, None))
        self.assertEqual(
            (dog.sealed, dog.allow_roles, dog.source), (False, (), "app/schema.graphql")
        )

    def test_table_arguments(self) -> None:
        """
        Every C{@table} argument is read from literals of its kind.
        """
        dog = table(
            'type Dog @table(table: "dogs", database: "dev", expiration: 60, eviction: 1.5,'
            " scanInterval: 30, audit: true, replicate: false) { id: ID }"
        )
        self.assertEqual((dog.name, dog.database), ("dogs", "dev"))
        self.assertEqual((dog.expiration, dog.eviction, dog.scan_interval), (60, 1.5, 30))
        self.assertEqual((dog.audit, dog.replicate), (True, False))

    def test_string_arguments_convert(self) -> None:
        """
        Arguments given as strings that convert are accepted, as Harper reads raw text; bare
        names are accepted for string arguments.
        """
        dog = table(
            'type Dog @table(table: dogs, expiration: "60", eviction: "0.5", audit: "true",'
            ' replicate: "false") { id: ID }'
        )
        self.assertEqual((dog.name, dog.expiration, dog.eviction), ("dogs", 60, 0.5))
        self.assertEqual((dog.audit, dog.replicate), (True, False))

    def test_schema_alias(self) -> None:
        """
        C{schema} is another name for C{database}; giving both with the same value is fine.
        """
        self.assertEqual(table('type Dog @table(schema: "dev") { id: ID }').database, "dev")
        both = table('type Dog @table(schema: "dev", database: "dev") { id: ID }')
        self.assertEqual(both.database, "dev")
        self.assertProblem(
            'type Dog @table(schema: "a", database: "b") { id: ID }', "schema.graphql:1:1:",
            "database and schema differ",
        )

    def test_bad_table_arguments(self) -> None:
        """
        Negative or non-numeric durations and non-boolean flags are reported with the
        argument's location.
        """
        self.assertProblem(
            "type Dog @table(expiration: -5) { id: ID }", "schema.graphql:1:17:",
            "expiration: -5", "zero or more",
        )
        self.assertProblem('type Dog @table(eviction: "soon") { id: ID }', "eviction", "seconds")
        self.assertProblem("type Dog @table(scanInterval: true) { id: ID }", "scanInterval")
        self.assertProblem("type Dog @table(expiration: [1]) { id: ID }", "expiration")
        self.assertProblem(
            "type Dog @table(audit: maybe) { id: ID }", "audit: maybe", "true or false"
        )
        self.assertProblem("type Dog @table(replicate: 1) { id: ID }", "replicate: 1")
        self.assertProblem("type Dog @table(table: 5) { id: ID }", "table: 5", "expected a string")
        self.assertProblem('type Dog @table(table: "") { id: ID }', "table name is empty")

    def test_unknown_argument(self) -> None:
        """
        An argument a known directive does not have is a problem naming the allowed ones.
        """
        self.assertProblem(
            "type Dog @table(expires: 5) { id: ID }", "schema.graphql:1:17:",
            "@table has no argument 'expires'", "expiration",
        )
        self.assertProblem("type Dog @table @sealed(strict: true) { id: ID }", "no arguments")

    def test_repeated_directive_and_argument(self) -> None:
        """
        A directive or an argument given twice is a problem.
        """
        self.assertProblem("type Dog @table @table { id: ID }", "@table is given twice")
        self.assertProblem(
            "type Dog @table(audit: true, audit: false) { id: ID }", "'audit' is given twice"
        )

    def test_export(self) -> None:
        """
        C{@export} without a name exports at the type name; a name, even empty, is used.
        """
        self.assertEqual(table("type Dog @table @export { id: ID }").export_name, "Dog")
        self.assertEqual(table('type Dog @table @export(name: "dogs") { id: ID }').export_name,
                         "dogs")
        self.assertEqual(table('type Dog @table @export(name: "") { id: ID }').export_name, "")
        self.assertProblem('type Dog @table @export(path: "x") { id: ID }', "no argument 'path'")

    def test_sealed_and_allow(self) -> None:
        """
        C{@sealed} seals the table and its shape; C{@allow} takes one role or a list.
        """
        schema = parse('type Dog @table @sealed @allow(role: "vet") { id: ID }')
        self.assertTrue(schema.tables[0].sealed)
        self.assertTrue(schema.types["Dog"].sealed)
        self.assertEqual(schema.tables[0].allow_roles, ("vet",))
        listed = table('type Dog @table @allow(role: ["vet", "owner"]) { id: ID }')
        self.assertEqual(listed.allow_roles, ("vet", "owner"))
        self.assertProblem("type Dog @table @allow { id: ID }", "@allow needs a role argument")
        self.assertProblem('type Dog @table @allow(role: "") { id: ID }', "role name")
        self.assertProblem("type Dog @table @allow(role: [1]) { id: ID }", "expected a string")

    def test_type_without_fields(self) -> None:
        """
        A table type may have no fields (a topic-only table); its key defaults to C{id: ID}.
        """
        topic = table("type Topic @table @export", "Topic")
        self.assertEqual(topic.attributes, ())
        self.assertEqual(topic.primary_key.name, "id")

    def test_same_table_twice(self) -> None:
        """
        Two types declaring the same table in the same database are a problem naming both;
        the same table name in different databases is fine.
        """
        problem = self.assertProblem(
            'type Dog @table { id: ID }\ntype Hound @table(table: "Dog") { id: ID }',
            "schema.graphql:2:1:", "table data.Dog is already declared at schema.graphql:1",
        )
        self.assertIn("Hound", problem)
        schema = parse("type Dog @table { id: ID }\n"
                       "type D2 @table(table: Dog, database: b) { a: ID }")
        self.assertEqual(len(schema.tables), 2)


class FieldDirectiveTests(SchemaTestCase):
    """
    Tests for the field-level directives.
    """

    def test_primary_key(self) -> None:
        """
        C{@primaryKey} marks the key attribute.
        """
        dog = table("type Dog @table { name: String, code: Int @primaryKey }")
        self.assertEqual(dog.primary_key.name, "code")
        self.assertFalse(field(dog, "name").primary_key)

    def test_primary_key_types(self) -> None:
        """
        Only scalar, non-list key types are allowed.
        """
        for allowed in ("ID", "String!", "Int", "Long", "Float", "BigInt", "Any", "Date"):
            dog = table(f"type Dog @table {{ key: {allowed} @primaryKey }}")
            self.assertEqual(dog.primary_key.name, "key")
        for refused in ("[ID]", "Boolean", "Bytes", "Owner"):
            self.assertProblem(
                f"type Owner {{ a: Int }} type Dog @table {{ key: {refused} @primaryKey }}",
                f"Dog.key: a primary key cannot be of type {refused}",
            )

    def test_two_primary_keys(self) -> None:
        """
        Two C{@primaryKey} fields are a problem naming both, at the second one.
        """
        self.assertProblem(
            "type Dog @table {\n  a: ID @primaryKey\n  b: ID @primaryKey\n}",
            "schema.graphql:3:3:", "more than one @primaryKey (a, b)",
        )

    def test_implicit_id_key(self) -> None:
        """
        Without C{@primaryKey}, a field named C{id} is the key; with no such field no attribute
        is marked and the key defaults to C{id: ID}.
        """
        dog = table("type Dog @table { id: Int, name: String }")
        self.assertTrue(field(dog, "id").primary_key)
        self.assertEqual(dog.primary_key.type, TypeRef("Int"))
        self.assertEqual(parse("type Dog @table { id: Int }").types["Dog"].attributes[0].name, "id")
        self.assertTrue(parse("type Dog @table { id: Int }").types["Dog"].attributes[0].primary_key)
        keyless = table("type Dog @table { name: String }")
        self.assertFalse(any(a.primary_key for a in keyless.attributes))
        self.assertEqual(keyless.primary_key.type, TypeRef("ID"))
        explicit = table("type Dog @table { id: ID, code: Int @primaryKey }")
        self.assertFalse(field(explicit, "id").primary_key)
        self.assertProblem("type Dog @table { id: [ID] }", "Dog.id: a primary key cannot be")

    def test_indexed(self) -> None:
        """
        C{@indexed} marks a secondary index and keeps any arguments for custom index types.
        """
        dog = table(
            'type Dog @table { id: ID, name: String @indexed, v: [Float] @indexed(type: "HNSW",'
            ' distance: "cosine", efConstruction: 100, M: 16, optimizeRouting: 0.5) }'
        )
        self.assertEqual(field(dog, "name").index_options, {})
        self.assertEqual(
            field(dog, "v").index_options,
            {"type": "HNSW", "distance": "cosine", "efConstruction": 100, "M": 16,
             "optimizeRouting": 0.5},
        )
        self.assertEqual([a.name for a in dog.indexed_attributes], ["name", "v"])

    def test_timestamps(self) -> None:
        """
        C{@createdTime}, C{@updatedTime} and C{@expiresAt} mark managed timestamp fields of a
        type that can hold epoch milliseconds.
        """
        dog = table(
            "type Dog @table { id: ID, c: Long @createdTime, u: Float @updatedTime,"
            " e: Date @expiresAt }"
        )
        self.assertTrue(field(dog, "c").created_time)
        self.assertTrue(field(dog, "u").updated_time)
        self.assertTrue(field(dog, "e").expires_at)
        self.assertProblem(
            "type Dog @table { id: ID, c: String @createdTime }",
            "Dog.c: @createdTime needs a Long, Float, BigInt, Date or Any field, not String",
        )
        self.assertProblem("type Dog @table { id: ID, c: [Long] @updatedTime }", "not [Long]")
        self.assertProblem(
            "type Dog @table { id: ID, a: Long @expiresAt, b: Long @expiresAt }",
            "more than one @expiresAt (a, b)",
        )

    def test_computed(self) -> None:
        """
        C{@computed} keeps its expression and version (default 0); without C{from} the function
        comes from code.
        """
        dog = table(
            'type Dog @table { id: ID, price: Float, total: Float @computed(from: "price * 2",'
            ' version: 3), label: String @computed, v: Int @computed(from: "1", version: "2") }'
        )
        self.assertEqual(field(dog, "total").computed, Computed("price * 2", 3))
        self.assertEqual(field(dog, "label").computed, Computed(None, 0))
        self.assertEqual(field(dog, "v").computed, Computed("1", 2))
        self.assertFalse(field(dog, "total").stored)

    def test_bad_computed(self) -> None:
        """
        An unsafe or invalid expression and a negative version are problems.
        """
        self.assertProblem(
            "type Dog @table { id: ID, t: Int @computed(from: \"__import__('os')\") }",
            "Dog.t: @computed:", "'__import__'",
        )
        self.assertProblem('type Dog @table { id: ID, t: Int @computed(from: "a +") }', "not valid")
        self.assertProblem(
            'type Dog @table { id: ID, t: Int @computed(from: "a", version: -1) }', "version"
        )
        self.assertProblem(
            'type Dog @table { id: ID, t: Int @computed(expr: "a") }', "no argument 'expr'"
        )

    def test_allow_and_enumerable(self) -> None:
        """
        C{@allow} on a field keeps its roles; C{@enumerable} marks the field.
        """
        dog = table(
            'type Dog @table { id: ID, secret: String @allow(role: ["a", "b"]) @enumerable,'
            ' note: String @allow(role: "a") }'
        )
        self.assertEqual(field(dog, "secret").allow_roles, ("a", "b"))
        self.assertEqual(field(dog, "note").allow_roles, ("a",))
        self.assertTrue(field(dog, "secret").enumerable)
        self.assertFalse(field(dog, "note").enumerable)
        self.assertProblem(
            "type Dog @table { id: ID, s: String @allow }", "Dog.s: @allow needs a role argument"
        )
        self.assertProblem("type Dog @table { id: ID @enumerable(x: 1) }", "no argument 'x'")

    def test_exclusive_roles(self) -> None:
        """
        One field cannot combine key, timestamp, relationship and computed roles.
        """
        self.assertProblem(
            'type Dog @table { id: ID @primaryKey @computed(from: "1") }',
            "@primaryKey and @computed cannot be combined",
        )

    def test_unknown_and_misplaced_directives(self) -> None:
        """
        Unknown directives are ignored; a known directive in the wrong place is ignored with a
        warning naming its location.
        """
        events: list[dict[str, Any]] = []
        observer = cast(ILogObserver, events.append)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        schema = parse(
            "type Dog @table @cache(ttl: 5) @primaryKey {\n"
            "  id: ID @deprecated(reason: \"x\") @table\n"
            "  tag: Tag\n}\n"
            "type Tag @export { name: String @indexed }"
        )
        dog = schema.tables[0]
        self.assertEqual(len(schema.tables), 1)
        self.assertFalse(schema.types["Tag"].attributes[0].indexed)
        self.assertTrue(field(dog, "id").primary_key)
        warnings = [event["reason"] for event in events if "reason" in event]
        self.assertEqual(len(warnings), 4, warnings)
        self.assertTrue(any("Dog.id: @table" in warning for warning in warnings))
        self.assertTrue(any("Tag.name: @indexed" in warning for warning in warnings))

    def test_field_directive_on_nested_type(self) -> None:
        """
        Table-only field directives on a type without C{@table} have no effect.
        """
        tag = parse("type Tag { key: ID @primaryKey, when: Long @createdTime }").types["Tag"]
        self.assertFalse(tag.attributes[0].primary_key)
        self.assertFalse(tag.attributes[1].created_time)


class RelationshipTests(SchemaTestCase):
    """
    Tests for C{@relationship}.
    """

    owner = "type Owner @table { id: ID, name: String, dogIds: [ID], dogs: [Dog] "

    def test_many_to_one(self) -> None:
        """
        C{from:} names a field of this type holding the target's key.
        """
        schema = parse(
            "type Dog @table { id: ID, ownerId: ID, owner: Owner @relationship(from: ownerId) }"
            + self.owner + "@relationship(to: ownerId) }"
        )
        dog, owner = schema.tables
        self.assertEqual(field(dog, "owner").relationship, Relationship("Owner", "ownerId"))
        self.assertEqual(
            field(owner, "dogs").relationship, Relationship("Dog", None, "ownerId")
        )
        self.assertFalse(field(dog, "owner").stored)

    def test_many_to_many_and_key_to_key(self) -> None:
        """
        A list C{from:} field makes a many-to-many relationship, which needs a list type;
        C{from:} and C{to:} together join key to key.
        """
        schema = parse(
            "type Dog @table { id: ID, ownerId: ID }"
            + self.owner + '@relationship(from: "dogIds") '
            "others: [Dog] @relationship(from: name, to: ownerId) }"
        )
        owner = schema.tables[1]
        self.assertEqual(field(owner, "dogs").relationship, Relationship("Dog", "dogIds"))
        self.assertEqual(
            field(owner, "others").relationship, Relationship("Dog", "name", "ownerId")
        )

    def test_problems(self) -> None:
        """
        Each malformed relationship is reported.
        """
        dog = "type Dog @table { id: ID, ownerId: ID, tags: [ID] "
        cases = {
            "o: Owner @relationship }": "@relationship needs from: or to:",
            "o: Tag @relationship(from: ownerId) }": "target Tag is not a @table type",
            "o: String @relationship(from: ownerId) }": "target String is not a @table type",
            "o: Owner @relationship(to: ownerId) }": "needs a list type such as [Owner]",
            "o: Owner @relationship(from: nope) }": "(from: 'nope') names no stored field of Dog",
            "o: Owner @relationship(from: tags) }": "holds a list (many-to-many), so this field",
            "o: [Owner] @relationship(from: ownerId) }": "must not be a list",
            "o: [Owner] @relationship(to: nope) }": "(to: 'nope') names no field of Owner",
            "o: Owner @relationship(from: ownerId) @indexed }": "cannot be @indexed",
            "o: Owner @relationship(form: ownerId) }": "no argument 'form'",
        }
        for field, reason in cases.items():
            problems = self.problems(
                ("schema.graphql", dog + field + " type Owner @table { id: ID } type Tag { a: ID }")
            )
            self.assertTrue(any(reason in problem for problem in problems), (field, problems))

    def test_from_names_relationship(self) -> None:
        """
        C{from:} may not name another relationship or computed field.
        """
        self.assertProblem(
            'type Dog @table { id: ID, c: ID @computed(from: "id"),'
            " o: Dog @relationship(from: c) }",
            "names no stored field",
        )


class TypeTests(SchemaTestCase):
    """
    Tests for field types and object types.
    """

    def test_scalars(self) -> None:
        """
        Every scalar type is accepted, nullable or not.
        """
        fields = " ".join(f"f{name}: {name} g{name}: {name}!" for name in sorted(SCALAR_TYPES))
        dog = table(f"type Dog @table {{ {fields} }}")
        for name in SCALAR_TYPES:
            self.assertEqual(field(dog, f"f{name}").type, TypeRef(name))
            self.assertEqual(field(dog, f"g{name}").type, TypeRef(name, nullable=False))

    def test_lists_and_nested_objects(self) -> None:
        """
        Lists (nested too) and references to other object types become L{TypeRef}s; every type
        is in C{types}, tables included, and C{Query} is skipped.
        """
        schema = parse(
            "type Query { dogs: [Dog] }\n"
            "directive @table(table: String) on OBJECT\n"
            "scalar Unused\n"
            "type Dog @table { id: ID, tags: [String!]!, grid: [[Int]], home: Address }\n"
            "type Address @sealed { city: String!, geo: [Float] }"
        )
        dog = schema.tables[0]
        self.assertEqual(
            field(dog, "tags").type, TypeRef(None, False, TypeRef("String", False))
        )
        self.assertEqual(field(dog, "grid").type.base_name, "Int")
        self.assertEqual(type_text(field(dog, "grid").type), "[[Int]]")
        self.assertEqual(type_text(field(dog, "tags").type), "[String!]!")
        self.assertEqual(field(dog, "home").type, TypeRef("Address"))
        self.assertEqual(set(schema.types), {"Dog", "Address"})
        self.assertTrue(schema.types["Address"].sealed)
        self.assertIsNone(schema.table_for_type("Address"))

    def test_unknown_type(self) -> None:
        """
        An unknown type name is reported at its position, even inside a list.
        """
        self.assertProblem(
            "type Dog @table {\n  id: ID\n  age: Integer\n}", "schema.graphql:3:8:",
            "Dog.age: unknown type 'Integer'",
        )
        self.assertProblem("type Dog @table { tags: [[Strin!]] }", "unknown type 'Strin'")
        self.assertProblem("type Dog @table { q: Query }", "unknown type 'Query'")

    def test_field_defined_twice(self) -> None:
        """
        A field declared twice in one type is a problem.
        """
        self.assertProblem("type Dog @table { id: ID, id: ID }", "Dog.id: defined twice")


class SourcesTests(SchemaTestCase):
    """
    Tests for reading several sources and for reporting.
    """

    def test_multiple_files(self) -> None:
        """
        Types in one file may refer to types in another; each table's C{source} is its file.
        """
        schema = parse_schema([
            ("a.graphql", "type Dog @table { id: ID, ownerId: ID, owner: Owner "
                          "@relationship(from: ownerId), home: Address }"),
            ("b.graphql", "type Owner @table { id: ID }\ntype Address { city: String }"),
            ("empty.graphql", "  \n"),
        ])
        self.assertEqual([t.name for t in schema.tables], ["Dog", "Owner"])
        self.assertEqual([t.source for t in schema.tables], ["a.graphql", "b.graphql"])

    def test_type_defined_twice(self) -> None:
        """
        The same type in two files is a problem naming both places.
        """
        problems = self.problems(
            ("a.graphql", "\n\ntype Dog @table { id: ID }"),
            ("b.graphql", "type Cat @table { id: ID }\n\ntype Dog { id: ID }"),
        )
        self.assertEqual(
            problems, ("b.graphql:3:1: type Dog defined twice (a.graphql:3 and b.graphql:3)",)
        )

    def test_syntax_error(self) -> None:
        """
        A GraphQL syntax error is reported with its file, line and column, and other files
        are still checked.
        """
        problems = self.problems(
            ("bad.graphql", "type Dog @table {\n  id: ID\n  name String\n}"),
            ("other.graphql", "type Cat @table { age: Nope }"),
        )
        self.assertEqual(len(problems), 2, problems)
        self.assertTrue(problems[0].startswith("bad.graphql:3:8: Syntax Error"), problems)
        self.assertIn("other.graphql:1:24: Cat.age: unknown type 'Nope'", problems)

    def test_all_problems_reported(self) -> None:
        """
        Every problem is reported together in one L{SchemaError}, which stops startup.
        """
        error = self.assertRaises(
            StartupError, parse,
            "type Dog @table(expiration: -1, audit: 3) {\n"
            "  a: ID @primaryKey\n  b: ID @primaryKey\n  c: Nope\n}",
        )
        self.assertIsInstance(error, SchemaError)
        self.assertEqual(len(error.problems), 4, error.problems)
        for problem in error.problems:
            self.assertIn(problem, error.message)
