# -*- test-case-name: tests.resources.test_querystring -*-
"""
Tests for L{harper.resources.querystring}: the URL query language parser.
"""

import random
from datetime import datetime, timezone
from typing import Any, Sequence

from twisted.trial.unittest import SynchronousTestCase

from harper.database.conditions import (
    Condition,
    Group,
    Not,
    Query,
    Select,
    SelectField,
    SortKey,
)
from harper.errors import QuerySyntaxError
from harper.resources.querystring import parse_query


def both(operator: str, *conditions: Any) -> Group:
    """
    A group, spelled compactly for the tables below.
    """
    return Group(operator, tuple(conditions))


def fields(*names: str) -> tuple[SelectField, ...]:
    """
    Plain selected fields, one per name.
    """
    return tuple(SelectField(name) for name in names)


class TableMixin:
    """
    Helpers checking tables of query strings against expected results.
    """

    def assert_conditions(self, table: Sequence[tuple[str, Any]]) -> None:
        """
        Assert that each query string parses to the paired condition tree.
        """
        for text, expected in table:
            self.assertEqual(parse_query(text).conditions, expected, text)

    def assert_error(self, text: str, position: int, reason: str) -> None:
        """
        Assert that C{text} is rejected at C{position} with a reason containing C{reason}.
        """
        error = self.assertRaises(QuerySyntaxError, parse_query, text)
        self.assertEqual(error.position, position, f"{text!r}: {error}")
        self.assertIn(reason, error.reason, text)
        self.assertIn(f"at position {position}", str(error))


class ComparatorTests(TableMixin, SynchronousTestCase):
    """
    Every comparator of the language maps to the model's comparators.
    """

    def test_empty(self) -> None:
        """
        An empty query string is a query without conditions.
        """
        self.assertEqual(parse_query(""), Query())

    def test_single_condition(self) -> None:
        """
        One comparison yields a bare L{Condition}, not a one-element group.
        """
        self.assertEqual(parse_query("name=Rex"), Query(Condition("name", "equals", "Rex")))

    def test_strict_forms(self) -> None:
        """
        C{=}, C{===} and C{!==} keep the value as the decoded text, without type conversion.
        """
        self.assert_conditions(
            [
                ("a=1", Condition("a", "equals", "1")),
                ("a===1", Condition("a", "equals", "1")),
                ("a!==true", Condition("a", "not_equal", "true")),
                ("a=null", Condition("a", "equals", "null")),
                ("a=number:5", Condition("a", "equals", "number:5")),
                ("a=", Condition("a", "equals", "")),
                ("url=http://x.org/a?b", Condition("url", "equals", "http://x.org/a?b")),
            ]
        )

    def test_coercing_equality(self) -> None:
        """
        C{==}, C{=eq=}, C{!=} and C{=ne=} convert the value.
        """
        self.assert_conditions(
            [
                ("a==1", Condition("a", "equals", 1)),
                ("a=eq=1", Condition("a", "equals", 1)),
                ("a!=1", Condition("a", "not_equal", 1)),
                ("a=ne=null", Condition("a", "not_equal", None)),
            ]
        )

    def test_fiql_ranges(self) -> None:
        """
        C{=lt=}, C{=le=}, C{=gt=} and C{=ge=} map to the range comparators.
        """
        self.assert_conditions(
            [
                ("price=lt=5", Condition("price", "less_than", 5)),
                ("price=le=5", Condition("price", "less_than_equal", 5)),
                ("price=gt=5", Condition("price", "greater_than", 5)),
                ("price=ge=5.5", Condition("price", "greater_than_equal", 5.5)),
            ]
        )

    def test_symbol_ranges(self) -> None:
        """
        Raw C{<}, C{<=}, C{>} and C{>=} are accepted as range comparators.
        """
        self.assert_conditions(
            [
                ("price<5", Condition("price", "less_than", 5)),
                ("price<=5", Condition("price", "less_than_equal", 5)),
                ("price>100", Condition("price", "greater_than", 100)),
                ("price>=-1", Condition("price", "greater_than_equal", -1)),
            ]
        )

    def test_string_matching(self) -> None:
        """
        C{=sw=}, C{=ew=} and C{=ct=} take their value as text.
        """
        self.assert_conditions(
            [
                ("name=sw=Jo", Condition("name", "starts_with", "Jo")),
                ("name=ew=son", Condition("name", "ends_with", "son")),
                ("name=ct=oh", Condition("name", "contains", "oh")),
                ("code=sw=12", Condition("code", "starts_with", "12")),
                ("code=ct=null", Condition("code", "contains", "null")),
                ("code=sw=string:x", Condition("code", "starts_with", "x")),
            ]
        )

    def test_trailing_wildcard(self) -> None:
        """
        With C{==} a trailing C{*} means starts-with; an encoded C{%2A} or another comparator
        keeps the asterisk literal.
        """
        self.assert_conditions(
            [
                ("name==Jo*", Condition("name", "starts_with", "Jo")),
                ("name=eq=Jo*", Condition("name", "starts_with", "Jo")),
                ("code==12*", Condition("code", "starts_with", "12")),
                ("name==Jo%2A", Condition("name", "equals", "Jo*")),
                ("name=Jo*", Condition("name", "equals", "Jo*")),
                ("name!=Jo*", Condition("name", "not_equal", "Jo*")),
            ]
        )

    def test_other_wildcards_rejected(self) -> None:
        """
        As in Harper, C{*} anywhere but at the end of a C{==} value is an error that points
        at the asterisk.
        """
        self.assert_error("name==*son", 6, "only allowed at the end")
        self.assert_error("name==*on*", 6, "only allowed at the end")
        self.assert_error("name==J*n", 7, "only allowed at the end")

    def test_unknown_fiql_operator(self) -> None:
        """
        An unknown C{=xx=} operator is reported at the operator.
        """
        self.assert_error("a=starts_with=J", 1, "unknown operator '=starts_with='")
        self.assert_error("a=b=c", 1, "unknown operator '=b='")


class ValueTests(TableMixin, SynchronousTestCase):
    """
    Typed values and the default typing of unprefixed values.
    """

    def test_prefixes(self) -> None:
        """
        C{number:}, C{boolean:}, C{date:} and C{string:} convert explicitly.
        """
        utc = timezone.utc
        self.assert_conditions(
            [
                ("a==number:123", Condition("a", "equals", 123)),
                ("a==number:-1.5", Condition("a", "equals", -1.5)),
                ("a==number:1e3", Condition("a", "equals", 1000.0)),
                ("a==number:$ff", Condition("a", "equals", 555)),
                ("a==boolean:true", Condition("a", "equals", True)),
                ("a==boolean:false", Condition("a", "equals", False)),
                ("a==string:123", Condition("a", "equals", "123")),
                ("a==string:null", Condition("a", "equals", "null")),
                ("a==string:a%20b", Condition("a", "equals", "a b")),
                (
                    "d=gt=date:2024-01-05T20%3A07%3A27.955Z",
                    Condition("d", "greater_than", datetime(2024, 1, 5, 20, 7, 27, 955000, utc)),
                ),
                ("d==date:0", Condition("d", "equals", datetime(1970, 1, 1, tzinfo=utc))),
                (
                    "d==date:1704485247955",
                    Condition("d", "equals", datetime(2024, 1, 5, 20, 7, 27, 955000, utc)),
                ),
                ("d==date:2024-01-05", Condition("d", "equals", datetime(2024, 1, 5, tzinfo=utc))),
            ]
        )

    def test_default_typing(self) -> None:
        """
        Unprefixed values of coercing comparators become C{None}, booleans or numbers when
        they read as such, and stay text otherwise.
        """
        self.assert_conditions(
            [
                ("a==null", Condition("a", "equals", None)),
                ("a==true", Condition("a", "equals", True)),
                ("a==false", Condition("a", "equals", False)),
                ("a==42", Condition("a", "equals", 42)),
                ("a==-0.25", Condition("a", "equals", -0.25)),
                ("a==abc", Condition("a", "equals", "abc")),
                ("a==1.2.3", Condition("a", "equals", "1.2.3")),
                ("a==NaN", Condition("a", "equals", "NaN")),
                ("a==1e999", Condition("a", "equals", "1e999")),
                ("a==%31", Condition("a", "equals", 1)),
                ("a==", Condition("a", "equals", "")),
            ]
        )

    def test_bad_typed_values(self) -> None:
        """
        Unknown prefixes and values a prefix cannot convert are errors at the value.
        """
        self.assert_error("a==colour:red", 3, "unknown type prefix 'colour:'")
        self.assert_error("a==number:abc", 10, "invalid number 'abc'")
        self.assert_error("a==number:1e999", 10, "invalid number")
        self.assert_error("a==boolean:yes", 11, "invalid boolean 'yes'")
        self.assert_error("a==date:someday", 8, "invalid date 'someday'")
        self.assert_error("a==date:1e300", 8, "invalid date")


class GroupingTests(TableMixin, SynchronousTestCase):
    """
    C{&}, C{|}, C{( )}, C{[ ]} and C{not()}.
    """

    def test_and_or(self) -> None:
        """
        C{&} joins with C{and}, C{|} with C{or}, in order.
        """
        a, b, c = (Condition(name, "equals", "1") for name in "abc")
        self.assert_conditions(
            [
                ("a=1&b=1", both("and", a, b)),
                ("a=1|b=1|c=1", both("or", a, b, c)),
            ]
        )

    def test_groups(self) -> None:
        """
        Parentheses and brackets group, nest, and a group of one condition is that condition.
        """
        rating = Condition("rating", "equals", "5")
        fast, scalable = Condition("tag", "equals", "fast"), Condition("tag", "equals", "scalable")
        in_stock = Condition("inStock", "equals", "true")
        self.assert_conditions(
            [
                (
                    "rating=5|(price=gt=100&price=lt=200)",
                    both(
                        "or",
                        rating,
                        both(
                            "and",
                            Condition("price", "greater_than", 100),
                            Condition("price", "less_than", 200),
                        ),
                    ),
                ),
                (
                    "rating=5&[tag=fast|tag=scalable]",
                    both("and", rating, both("or", fast, scalable)),
                ),
                (
                    "price=lt=100|[rating=5&[tag=fast|tag=scalable]&inStock=true]",
                    both(
                        "or",
                        Condition("price", "less_than", 100),
                        both("and", rating, both("or", fast, scalable), in_stock),
                    ),
                ),
                ("(rating=5)", rating),
                ("[[(rating=5)]]", rating),
            ]
        )

    def test_mixing_rejected(self) -> None:
        """
        C{&} and C{|} at one level without grouping is an error at the first separator that
        differs, also inside groups and across an intervening function.
        """
        self.assert_error("a=1&b=2|c=3", 7, "cannot mix '&' and '|'")
        self.assert_error("a=1|b=2&c=3", 7, "cannot mix '&' and '|'")
        self.assert_error("x=1&(a=1|b=2&c=3)", 12, "cannot mix '&' and '|'")
        self.assert_error("a=1|b=2&limit(1)&c=3", 16, "cannot mix '&' and '|'")

    def test_not(self) -> None:
        """
        C{not(...)} negates the condition tree it encloses, at any level.
        """
        a, b, c = (Condition(name, "equals", "1") for name in "abc")
        self.assert_conditions(
            [
                ("not(a=1)", Not(a)),
                ("not(a=1|b=1)&c=1", both("and", Not(both("or", a, b)), c)),
                ("[a=1|not(b=1)]", both("or", a, Not(b))),
                ("not(not(a=1))", Not(Not(a))),
            ]
        )

    def test_in(self) -> None:
        """
        C{attr=in=(a,b,c)} gives the C{in} comparator with a tuple of typed values, each
        decoded on its own.
        """
        self.assert_conditions(
            [
                ("a=in=(1,x,null)", Condition("a", "in", (1, "x", None))),
                ("a=in=(x%2Cy,string:2)", Condition("a", "in", ("x,y", "2"))),
                ("a=in=(x)", Condition("a", "in", ("x",))),
                ("a=in=()", Condition("a", "in", ())),
                (
                    "a=in=(1,2)&b=1",
                    both("and", Condition("a", "in", (1, 2)), Condition("b", "equals", "1")),
                ),
            ]
        )


class ChainedRangeTests(TableMixin, SynchronousTestCase):
    """
    A leg without an attribute name applies to the previous condition's attribute.
    """

    def test_shorthand(self) -> None:
        """
        C{price=gt=100&lt=200} compares C{price} twice.
        """
        self.assert_conditions(
            [
                (
                    "price=gt=100&lt=200",
                    both(
                        "and",
                        Condition("price", "greater_than", 100),
                        Condition("price", "less_than", 200),
                    ),
                ),
                (
                    "brand.rank>=1&le=9",
                    both(
                        "and",
                        Condition("brand.rank", "greater_than_equal", 1),
                        Condition("brand.rank", "less_than_equal", 9),
                    ),
                ),
            ]
        )

    def test_explicit_comparator(self) -> None:
        """
        A leg may start with the comparator itself (C{&=lt=200}), as in Harper's code.
        """
        self.assert_conditions(
            [
                (
                    "price=gt=100&=lt=200",
                    both(
                        "and",
                        Condition("price", "greater_than", 100),
                        Condition("price", "less_than", 200),
                    ),
                ),
                (
                    "price<10|>90",
                    both(
                        "or",
                        Condition("price", "less_than", 10),
                        Condition("price", "greater_than", 90),
                    ),
                ),
            ]
        )

    def test_range_names_after_equality(self) -> None:
        """
        After a non-range condition, C{gt=5} is an ordinary condition on attribute C{gt}.
        """
        self.assert_conditions(
            [
                ("gt=5", Condition("gt", "equals", "5")),
                (
                    "a=1&gt=5",
                    both("and", Condition("a", "equals", "1"), Condition("gt", "equals", "5")),
                ),
            ]
        )

    def test_nothing_to_chain_to(self) -> None:
        """
        A leg without attribute must follow a condition.
        """
        self.assert_error("=gt=5", 0, "expected an attribute name")
        self.assert_error("(a=1|b=2)&=lt=5", 10, "expected an attribute name")


class AttributeTests(TableMixin, SynchronousTestCase):
    """
    Attribute names and paths.
    """

    def test_paths(self) -> None:
        """
        Dots separate path elements; an encoded dot belongs to the name; C{name[]=v} is
        strict equality on C{name}.
        """
        self.assert_conditions(
            [
                ("brand.name=Microsoft", Condition(("brand", "name"), "equals", "Microsoft")),
                ("a%2Eb=1", Condition(("a.b",), "equals", "1")),
                ("first%20name=Al", Condition(("first name",), "equals", "Al")),
                ("tags[]=fast", Condition("tags", "equals", "fast")),
            ]
        )

    def test_bad_paths(self) -> None:
        """
        Empty path elements and sub-queries on array properties are errors.
        """
        self.assert_error("a..b=1", 2, "missing attribute name")
        self.assert_error("tags[name=x]", 4, "not supported")
        self.assert_error("tags[]==x", 6, "expected '='")


class SelectTests(TableMixin, SynchronousTestCase):
    """
    Every form of C{select()}.
    """

    def assert_select(self, text: str, expected: Select) -> None:
        """
        Assert that C{text} parses to the selection C{expected}.
        """
        self.assertEqual(parse_query(text).select, expected, text)

    def test_shapes(self) -> None:
        """
        One name gives values, several (or a trailing comma) objects, brackets arrays.
        """
        self.assert_select("select(name)", Select(fields("name"), "value"))
        self.assert_select("select(name,age)", Select(fields("name", "age"), "object"))
        self.assert_select("select(name,)", Select(fields("name"), "object"))
        self.assert_select("select([name,age])", Select(fields("name", "age"), "array"))
        self.assert_select("select($id,%24x)", Select(fields("$id", "$x"), "object"))

    def test_nested(self) -> None:
        """
        C{name{a,b}} selects properties of a related or nested record, at any depth.
        """
        brand = SelectField("brand", Select(fields("name", "id")))
        self.assert_select("select(name,brand{name,id})", Select((SelectField("name"), brand)))
        self.assert_select("select(brand{name,id})", Select((brand,), "value"))
        deep = SelectField("a", Select((SelectField("b", Select(fields("c"))),)))
        self.assert_select("select(a{b{c}})", Select((deep,), "value"))

    def test_with_conditions(self) -> None:
        """
        Functions and conditions combine with C{&} in any order.
        """
        query = parse_query("select(name)&a=1&b=2")
        self.assertEqual(
            query,
            Query(
                both("and", Condition("a", "equals", "1"), Condition("b", "equals", "2")),
                Select(fields("name"), "value"),
            ),
        )

    def test_bad_select(self) -> None:
        """
        Empty selections, braces without a parent name and dotted names are errors.
        """
        self.assert_error("select()", 7, "expected a property name")
        self.assert_error("select({name,age})", 7, "expected a property name, found '{'")
        self.assert_error("select(brand.name)", 7, "name{property}")
        self.assert_error("select(a{})", 9, "expected a property name")
        self.assert_error("select([a],b)", 10, "expected ')' to close '('")
        self.assert_error("select(a)&select(b)", 10, "select() given more than once")


class LimitSortTests(TableMixin, SynchronousTestCase):
    """
    C{limit()} and C{sort()}.
    """

    def test_limit(self) -> None:
        """
        C{limit(n)} limits; C{limit(start,end)} sets the offset and the count end - start.
        """
        self.assertEqual(parse_query("limit(20)"), Query(limit=20))
        self.assertEqual(parse_query("limit(10,30)"), Query(offset=10, limit=20))
        self.assertEqual(parse_query("limit(0)"), Query(limit=0))

    def test_sort(self) -> None:
        """
        C{+} or no sign sorts ascending, C{-} descending, dotted paths allowed, in order.
        """
        table = [
            ("sort(name)", (SortKey("name"),)),
            ("sort(+name)", (SortKey("name"),)),
            ("sort(-price)", (SortKey("price", descending=True),)),
            ("sort(+rating,-price)", (SortKey("rating"), SortKey("price", True))),
            ("sort(-brand.name)", (SortKey(("brand", "name"), True),)),
        ]
        for text, expected in table:
            self.assertEqual(parse_query(text).sort, expected, text)

    def test_full_example(self) -> None:
        """
        The reference's combined example parses into every part of the query.
        """
        self.assertEqual(
            parse_query("rating=gt=3&inStock=true&select(rating,name)&limit(20)&sort(-rating)"),
            Query(
                both(
                    "and",
                    Condition("rating", "greater_than", 3),
                    Condition("inStock", "equals", "true"),
                ),
                Select(fields("rating", "name")),
                (SortKey("rating", True),),
                0,
                20,
            ),
        )

    def test_bad_functions(self) -> None:
        """
        Bad arguments, unknown or unimplemented functions and functions inside groups or
        joined with C{|} are errors.
        """
        self.assert_error("limit(x)", 6, "expected a whole number")
        self.assert_error("limit(-1)", 6, "expected a whole number")
        self.assert_error("limit(1,2,3)", 10, "one or two arguments")
        self.assert_error("limit(5,2)", 8, "end >= start")
        self.assert_error("limit()", 6, "expected an argument")
        self.assert_error("sort()", 5, "expected an argument")
        self.assert_error("sort(-)", 6, "missing attribute name")
        self.assert_error("group-by(a)", 0, "not implemented")
        self.assert_error("a=1&count(a)", 4, "unknown function 'count'")
        self.assert_error("(a=1&limit(5))", 5, "not allowed inside a group")
        self.assert_error("a=1|sort(a)", 3, "joined with '&'")
        self.assert_error("limit(5)|a=1", 8, "joined with '&'")


class EncodingTests(TableMixin, SynchronousTestCase):
    """
    Each token is percent-decoded on its own, after the structure is known.
    """

    def test_encoded_delimiters(self) -> None:
        """
        Encoded delimiters are literal characters of names and values; C{+} stays a plus.
        """
        self.assert_conditions(
            [
                ("name=Tom%26Jerry", Condition("name", "equals", "Tom&Jerry")),
                ("name=a%7Cb", Condition("name", "equals", "a|b")),
                ("name=%28x%29%5By%5D", Condition("name", "equals", "(x)[y]")),
                ("name=1+2", Condition("name", "equals", "1+2")),
                ("name=caf%C3%A9", Condition("name", "equals", "café")),
                ("name=a,b<c!{}:=", Condition("name", "equals", "a,b<c!{}:=")),
                ("a%3Db=1", Condition("a=b", "equals", "1")),
            ]
        )

    def test_bad_escapes(self) -> None:
        """
        A C{%} not followed by two hex digits, or escapes that are not UTF-8, are errors.
        """
        self.assert_error("name=ab%zz", 7, "'%' must start an escape")
        self.assert_error("name=ab%2", 7, "'%' must start an escape")
        self.assert_error("name=%FF", 5, "UTF-8")


class ErrorPositionTests(TableMixin, SynchronousTestCase):
    """
    Malformed queries raise L{QuerySyntaxError} at the offset of the problem.
    """

    def test_positions(self) -> None:
        """
        Each malformed input reports what was expected and where.
        """
        table = [
            ("(a=1", 4, "expected ')' to close '(' opened at position 0, found the end"),
            ("a=1&(b=2|c=3", 12, "expected ')' to close '(' opened at position 4"),
            ("(a=1]", 4, "expected ')' to close '(' opened at position 0, found ']'"),
            ("[a=1", 4, "expected ']' to close '['"),
            ("a=1)", 3, "expected '&', '|' or the end of the query, found ')'"),
            ("a=1&", 4, "expected a condition, a group or a function, found the end"),
            ("a=1&&b=2", 4, "expected a condition"),
            ("|a=1", 0, "expected a condition"),
            ("()", 1, "expected a condition"),
            ("name", 4, "expected a comparison after 'name'"),
            ("a!b=1", 1, "unexpected character '!'"),
            ("a=in=1", 5, "expected '(' after '=in='"),
            ("a=in=(1,2", 9, "expected ')' to close '(' opened at position 5"),
            ("not(a=1)b=2", 8, "expected '&', '|' or the end of the query, found 'b'"),
        ]
        for text, position, reason in table:
            self.assert_error(text, position, reason)

    def test_nesting_limit(self) -> None:
        """
        Absurdly deep nesting is a syntax error, not a recursion crash.
        """
        self.assert_error("(" * 40 + "a=1" + ")" * 40, 32, "nested deeper than 32")
        self.assert_error("not(" * 100 + "a=1" + ")" * 100, 131, "nested deeper")
        parse_query("(" * 32 + "a=1" + ")" * 32)


class FuzzTests(SynchronousTestCase):
    """
    Random strings from the language's characters never crash the parser.
    """

    PIECES = (
        "a", "b.c", "1", "-2.5", "=", "==", "===", "!", "!=", "<", ">", "=gt=", "=in=", "=x=",
        "&", "|", "(", ")", "[", "]", "{", "}", ",", "*", ":", "%", "%2", "%26", "%FF", "$",
        "+", "-", "select", "limit", "sort", "not", "in", "lt", "number:", "date:", "boolean:",
        "null", "true", "é", " ",
    )
    VALID = (
        "rating=5|(price=gt=100&price=lt=200)",
        "price=gt=100&lt=200&select(name,brand{name,id})&limit(10,30)&sort(+a,-b.c)",
        "a=in=(1,x,null)&not(b==Jo*|c!=number:$ff)&select([a,b])",
        "d=ge=date:2024-01-05T20%3A07%3A27.955Z&[tag=fast|tag=sca%20lable]&e===x",
    )

    def random_text(self, generator: random.Random) -> str:
        """
        Either a string of random pieces or a valid query with a few random edits.
        """
        if generator.random() < 0.5:
            return "".join(generator.choices(self.PIECES, k=generator.randint(0, 14)))
        text = generator.choice(self.VALID)
        for _ in range(generator.randint(1, 3)):
            start = generator.randrange(len(text) + 1)
            end = min(len(text), start + generator.randint(0, 3))
            piece = generator.choice(self.PIECES) * generator.randint(0, 1)
            text = text[:start] + piece + text[end:]
        return text

    def test_random_strings(self) -> None:
        """
        The parser returns a L{Query} or raises L{QuerySyntaxError} with a position inside
        the text, for thousands of seeded random strings; both outcomes occur.
        """
        generator = random.Random(20261110)
        parsed = rejected = 0
        for _ in range(4000):
            text = self.random_text(generator)
            try:
                result = parse_query(text)
            except QuerySyntaxError as error:
                self.assertTrue(0 <= error.position <= len(text), (text, error.position))
                rejected += 1
            else:
                self.assertIsInstance(result, Query, text)
                parsed += 1
        self.assertGreater(parsed, 400)
        self.assertGreater(rejected, 400)
