"""
Tests for L{harper.schema.validate}.
"""

from __future__ import annotations

import datetime
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from harper.errors import InvalidInput, ValidationError
from harper.schema.model import TableDefinition
from harper.schema.sdl import parse_schema
from harper.schema.validate import coerce_key, validate_record

SCHEMA = parse_schema([("schema.graphql", """
type Dog @table {
  id: Int @primaryKey
  name: String!
  age: Int
  weight: Float
  big: BigInt
  long: Long
  good: Boolean
  born: Date
  photo: Bytes
  extra: Any
  code: ID
  tags: [String!]
  grid: [[Int]]
  home: Address
  homes: [Address!]
  ownerId: ID
  owner: Owner @relationship(from: ownerId)
  label: String @computed(from: "name")
  created: Long! @createdTime
  updated: Float! @updatedTime
  expires: Date! @expiresAt
}
type Address @sealed { city: String!, zip: String }
type Owner @table @sealed { name: String }
type Key @table { k: Float! @primaryKey }
""")])

UTC = datetime.timezone.utc
EST = datetime.timezone(datetime.timedelta(hours=-5))


def table(name: str) -> TableDefinition:
    """
    The table declared by type C{name} in L{SCHEMA}.
    """
    found = SCHEMA.table_for_type(name)
    assert found is not None
    return found


class ValidateRecordTests(SynchronousTestCase):
    """
    Tests for L{validate_record}.
    """

    def dog(self, **values: Any) -> dict[str, Any]:
        """
        Validate a dog with a name and C{values}.
        """
        return validate_record({"name": "Rex", **values}, table("Dog"), SCHEMA)

    def problems(self, record: Any, on: str = "Dog", partial: bool = False) -> tuple[str, ...]:
        """
        The problems found in C{record}, which must be invalid.
        """
        error = self.assertRaises(
            ValidationError, validate_record, record, table(on), SCHEMA, partial=partial
        )
        return error.problems

    def assertRejected(self, attribute: str, value: Any, problem: str) -> None:
        """
        Assert that a dog with C{attribute} set to C{value} has exactly C{problem}.
        """
        self.assertEqual(self.problems({"name": "Rex", attribute: value}), (problem,))

    def test_valid_record(self) -> None:
        """
        A valid record is returned as a new dict with its values, undeclared attributes kept.
        """
        record = {"id": 1, "name": "Rex", "age": 3, "tags": ["a"], "color": object}
        result = validate_record(record, table("Dog"), SCHEMA)
        self.assertEqual(result, record)
        self.assertIsNot(result, record)

    def test_int(self) -> None:
        """
        C{Int} takes 32-bit integers (integral floats become C{int}); not booleans, text or
        fractions.
        """
        self.assertEqual(self.dog(age=-(2**31))["age"], -(2**31))
        self.assertEqual(self.dog(age=2**31 - 1)["age"], 2**31 - 1)
        converted = self.dog(age=2.0)["age"]
        self.assertEqual((converted, type(converted)), (2, int))
        self.assertRejected("age", "x", "Dog.age: expected Int, got 'x'")
        self.assertRejected("age", True, "Dog.age: expected Int, got True")
        self.assertRejected("age", 1.5, "Dog.age: expected Int, got 1.5")
        self.assertRejected(
            "age", 2**31, "Dog.age: expected Int, got 2147483648 (out of range "
            "-2147483648..2147483647)",
        )
        self.assertRejected("age", float("nan"), "Dog.age: expected Int, got nan")

    def test_long_and_big_int(self) -> None:
        """
        C{Long} takes safe integers within +/-(2**53-1); C{BigInt} any integer, also as text.
        """
        self.assertEqual(self.dog(long=2**53 - 1)["long"], 2**53 - 1)
        self.assertEqual(self.dog(long=-(2**53 - 1))["long"], -(2**53 - 1))
        self.assertEqual(len(self.problems({"name": "R", "long": 2**53})), 1)
        self.assertEqual(self.dog(big=2**100)["big"], 2**100)
        self.assertEqual(self.dog(big="-123456789012345678901234")["big"],
                         -123456789012345678901234)
        self.assertRejected("big", "12a", "Dog.big: expected BigInt, got '12a'")
        self.assertRejected("big", False, "Dog.big: expected BigInt, got False")

    def test_float(self) -> None:
        """
        C{Float} takes integers and floats, stored as C{float}; not booleans or text.
        """
        converted = self.dog(weight=3)["weight"]
        self.assertEqual((converted, type(converted)), (3.0, float))
        self.assertEqual(self.dog(weight=2.5)["weight"], 2.5)
        self.assertRejected("weight", True, "Dog.weight: expected Float, got True")
        self.assertRejected("weight", "2.5", "Dog.weight: expected Float, got '2.5'")
        self.assertRejected("weight", 10**400, f"Dog.weight: expected Float, got "
                            f"{repr(10**400)[:57]}... (too large)")

    def test_string_id_boolean(self) -> None:
        """
        C{String} takes text only, C{ID} text or integers kept as given, C{Boolean} only
        booleans.
        """
        self.assertEqual(self.dog(code="a")["code"], "a")
        self.assertEqual(self.dog(code=7)["code"], 7)
        self.assertIs(self.dog(good=False)["good"], False)
        self.assertRejected("name", 5, "Dog.name: expected String, got 5")
        self.assertRejected("code", True, "Dog.code: expected ID, got True")
        self.assertRejected("code", 1.5, "Dog.code: expected ID, got 1.5")
        self.assertRejected("good", 1, "Dog.good: expected Boolean, got 1")
        self.assertRejected("good", "true", "Dog.good: expected Boolean, got 'true'")

    def test_date(self) -> None:
        """
        C{Date} takes ISO 8601 text (naive means UTC), epoch milliseconds and date objects,
        and stores a timezone-aware UTC datetime.
        """
        noon = datetime.datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
        for value in (
            "2024-05-06T12:00:00Z",
            "2024-05-06T12:00:00",
            "2024-05-06T14:00:00+02:00",
            "2024-05-06T12:00:00.000Z",
            1714996800000,
            1714996800000.0,
            datetime.datetime(2024, 5, 6, 12),
            datetime.datetime(2024, 5, 6, 7, tzinfo=EST),
        ):
            born = self.dog(born=value)["born"]
            self.assertEqual(born, noon, value)
            self.assertEqual(born.tzinfo, UTC, value)
        midnight = datetime.datetime(2024, 5, 6, tzinfo=UTC)
        self.assertEqual(self.dog(born="2024-05-06")["born"], midnight)
        self.assertEqual(self.dog(born=datetime.date(2024, 5, 6))["born"], midnight)
        self.assertRejected(
            "born", "yesterday", "Dog.born: expected Date, got 'yesterday' (not an ISO 8601 date)"
        )
        self.assertRejected("born", True, "Dog.born: expected Date, got True")
        self.assertRejected(
            "born", 10**20, "Dog.born: expected Date, got 100000000000000000000 (out of range "
            "of dates)",
        )

    def test_bytes(self) -> None:
        """
        C{Bytes} takes bytes-like values or base64 text and stores C{bytes}.
        """
        self.assertEqual(self.dog(photo=b"\x00\x01")["photo"], b"\x00\x01")
        self.assertEqual(self.dog(photo=bytearray(b"ab"))["photo"], b"ab")
        self.assertEqual(self.dog(photo="aGk=")["photo"], b"hi")
        self.assertRejected("photo", "not base64!", "Dog.photo: expected Bytes, got 'not "
                            "base64!' (not base64)")
        self.assertRejected("photo", 5, "Dog.photo: expected Bytes, got 5")

    def test_any(self) -> None:
        """
        C{Any} takes plain data of any shape, kept as given, and refuses other objects.
        """
        value = {"a": [1, 2.5, None, True, {"b": b"x"}], "when": datetime.date(2024, 1, 1)}
        self.assertIs(self.dog(extra=value)["extra"], value)
        self.assertEqual(self.dog(extra="x")["extra"], "x")
        self.assertEqual(len(self.problems({"name": "R", "extra": [object()]})), 1)
        self.assertEqual(
            self.problems({"name": "R", "extra": {"a": {1, 2}}}),
            ("Dog.extra: expected Any, got {'a': {1, 2}} (set is not plain data)",),
        )
        self.assertEqual(len(self.problems({"name": "R", "extra": {(1,): 2}})), 1)

    def test_lists(self) -> None:
        """
        List attributes take lists or tuples, stored as lists, and check each item.
        """
        self.assertEqual(self.dog(tags=("a", "b"))["tags"], ["a", "b"])
        self.assertEqual(self.dog(grid=[[1, None], []])["grid"], [[1, None], []])
        self.assertRejected("tags", "a", "Dog.tags: expected [String!], got 'a'")
        self.assertRejected("tags", ["a", None], "Dog.tags[1]: required (String!), got null")
        self.assertRejected("grid", [[1], [2, "x"]], "Dog.grid[1][1]: expected Int, got 'x'")

    def test_nested_objects(self) -> None:
        """
        Nested object values are checked against their type, with its own sealed rule.
        """
        self.assertEqual(self.dog(home={"city": "Oslo"})["home"], {"city": "Oslo"})
        self.assertEqual(
            self.problems({"name": "R", "home": {"zip": 5, "planet": "Mars"}}),
            (
                "Dog.home.zip: expected String, got 5",
                "Dog.home.planet: not declared and Address is @sealed",
                "Dog.home.city: required (String!)",
            ),
        )
        self.assertRejected("home", "Oslo", "Dog.home: expected an object (Address), got 'Oslo'")
        self.assertRejected("homes", [None], "Dog.homes[0]: required (Address!), got null")
        self.assertRejected("homes", [{}], "Dog.homes[0].city: required (String!)")

    def test_null(self) -> None:
        """
        C{None} is allowed for nullable attributes and refused for non-null ones.
        """
        self.assertIsNone(self.dog(age=None)["age"])
        self.assertEqual(self.problems({"name": None}), ("Dog.name: required (String!), got null",))

    def test_required(self) -> None:
        """
        A missing non-null attribute is a problem, except the key, managed timestamps,
        relationships and computed attributes.
        """
        self.assertEqual(self.problems({}), ("Dog.name: required (String!)",))
        self.assertEqual(validate_record({}, table("Key"), SCHEMA), {})

    def test_derived_attributes_cannot_be_written(self) -> None:
        """
        Supplying a relationship or computed attribute is a problem.
        """
        self.assertEqual(
            self.problems({"name": "R", "owner": {"name": "x"}, "label": "y"}),
            ("Dog.owner is a relationship and cannot be written",
             "Dog.label is computed and cannot be written"),
        )

    def test_sealed_table(self) -> None:
        """
        A sealed table refuses undeclared attributes but accepts its (implicit) key.
        """
        self.assertEqual(
            validate_record({"id": "o1", "name": "Ann"}, table("Owner"), SCHEMA),
            {"id": "o1", "name": "Ann"},
        )
        self.assertEqual(
            self.problems({"id": True, "age": 3}, on="Owner"),
            ("Owner.id: expected ID, got True", "Owner.age: not declared and Owner is @sealed"),
        )

    def test_every_problem_listed(self) -> None:
        """
        All problems of a record are reported together, in one message too.
        """
        error = self.assertRaises(
            ValidationError, validate_record,
            {"age": "x", "good": 1, "owner": 1}, table("Dog"), SCHEMA,
        )
        self.assertEqual(len(error.problems), 4, error.problems)
        self.assertIsInstance(error, InvalidInput)
        self.assertIn("Dog.age: expected Int, got 'x'; ", error.message)

    def test_not_a_mapping(self) -> None:
        """
        A record that is not an object is a problem, not a crash.
        """
        self.assertEqual(self.problems([1]), ("Dog: expected an object (Dog), got [1]",))

    def test_partial(self) -> None:
        """
        A partial record checks only the given attributes; C{None} (remove) is allowed for
        nullable attributes only.
        """
        result = validate_record({"age": None, "tags": ["a"]}, table("Dog"), SCHEMA, partial=True)
        self.assertEqual(result, {"age": None, "tags": ["a"]})
        self.assertEqual(
            self.problems({"name": None, "age": "x"}, partial=True),
            ("Dog.name: required (String!), got null", "Dog.age: expected Int, got 'x'"),
        )
        self.assertEqual(
            self.problems({"home": {}}, partial=True), ("Dog.home.city: required (String!)",)
        )


class CoerceKeyTests(SynchronousTestCase):
    """
    Tests for L{coerce_key}.
    """

    def test_integer_keys(self) -> None:
        """
        Text keys of integer tables become C{int}; anything else is L{InvalidInput}.
        """
        self.assertEqual(coerce_key("42", table("Dog")), 42)
        self.assertEqual(coerce_key("-7", table("Dog")), -7)
        self.assertEqual(coerce_key(42, table("Dog")), 42)
        for bad in ("abc", "", " 1", "+1", "1.0", "1_000", str(2**31), True):
            error = self.assertRaises(InvalidInput, coerce_key, bad, table("Dog"))
            self.assertIn("is not a valid Int primary key", error.message)
        self.assertIn("'abc'", self.assertRaises(InvalidInput, coerce_key, "abc",
                                                 table("Dog")).message)

    def test_float_keys(self) -> None:
        """
        Text keys of C{Float} tables become C{float}; non-finite values are refused.
        """
        self.assertEqual(coerce_key("1.5", table("Key")), 1.5)
        self.assertEqual(coerce_key("-1e3", table("Key")), -1000.0)
        for bad in ("nan", "inf", "1.5x", ""):
            self.assertRaises(InvalidInput, coerce_key, bad, table("Key"))

    def test_text_keys(self) -> None:
        """
        Keys of other types stay text; the implicit C{id: ID} key also takes integers.
        """
        self.assertEqual(coerce_key("abc", table("Owner")), "abc")
        self.assertEqual(coerce_key("42", table("Owner")), "42")
        self.assertEqual(coerce_key(42, table("Owner")), 42)
        self.assertRaises(InvalidInput, coerce_key, 4.5, table("Owner"))
