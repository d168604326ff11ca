"""
Tests for L{harper.schema.computed}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from harper.errors import InvalidInput
from harper.schema.computed import ComputedFunctions, compile_expression
from harper.schema.model import AttributeDefinition, Computed, TableDefinition, TypeRef


def evaluate(expression: str, /, **record: object) -> object:
    """
    Compile C{expression} and evaluate it over C{record}.
    """
    return compile_expression(expression)(record)


class CompileExpressionTests(SynchronousTestCase):
    """
    Tests for L{compile_expression}.
    """

    def test_arithmetic(self) -> None:
        """
        Arithmetic over record attributes follows Python's rules and precedence.
        """
        self.assertEqual(evaluate("price + (price * taxRate)", price=10, taxRate=0.5), 15.0)
        self.assertEqual(evaluate("a - b * c / d", a=10, b=2, c=3, d=4), 8.5)
        self.assertEqual(evaluate("a // b + a % b", a=7, b=2), 4)
        self.assertEqual(evaluate("2 ** n", n=10), 1024)
        self.assertEqual(evaluate("-a + +b", a=1, b=3), 2)
        self.assertEqual(evaluate("first + ' ' + last", first="Ada", last="L"), "Ada L")

    def test_missing_name_is_none(self) -> None:
        """
        A name that is not an attribute of the record evaluates to C{None}.
        """
        self.assertIsNone(evaluate("missing"))
        self.assertTrue(evaluate("missing is None"))

    def test_evaluation_errors_give_none(self) -> None:
        """
        C{None + 1}, a division by zero, a missing index or key and a bad conversion yield
        C{None} instead of raising.
        """
        self.assertIsNone(evaluate("missing + 1"))
        self.assertIsNone(evaluate("a / b", a=1, b=0))
        self.assertIsNone(evaluate("items[5]", items=[1]))
        self.assertIsNone(evaluate("things['nope']", things={}))
        self.assertIsNone(evaluate("int(text)", text="abc"))

    def test_comparisons(self) -> None:
        """
        Comparisons, chained comparisons, C{in}, C{not in}, C{is} and C{is not} work.
        """
        self.assertTrue(evaluate("1 < a <= 3", a=3))
        self.assertFalse(evaluate("1 < a <= 3", a=4))
        self.assertTrue(evaluate("a == 'x' and b != 2", a="x", b=3))
        self.assertTrue(evaluate("color in ('red', 'blue')", color="red"))
        self.assertTrue(evaluate("color not in ['red']", color="green"))
        self.assertTrue(evaluate("a is not None", a=0))
        self.assertTrue(evaluate("a >= 2 and a > 1", a=2))

    def test_boolean_operators_return_operands(self) -> None:
        """
        C{and} and C{or} short-circuit and return an operand, as in Python.
        """
        self.assertEqual(evaluate("nickname or name", name="Rex"), "Rex")
        self.assertEqual(evaluate("nickname or name", nickname="R", name="Rex"), "R")
        self.assertEqual(evaluate("a and b", a=0, b=1), 0)
        self.assertEqual(evaluate("a and b", a=2, b=3), 3)
        self.assertEqual(evaluate("a or b", a=0, b=""), "")
        self.assertTrue(evaluate("not a", a=""))

    def test_conditional_and_subscripts(self) -> None:
        """
        Conditional expressions, indexing, mapping lookups and slices are evaluated.
        """
        self.assertEqual(evaluate("'old' if age > 10 else 'young'", age=12), "old")
        self.assertEqual(evaluate("'old' if age > 10 else 'young'", age=2), "young")
        self.assertEqual(evaluate("tags[0]", tags=["a", "b"]), "a")
        self.assertEqual(evaluate("address['city']", address={"city": "Oslo"}), "Oslo")
        self.assertEqual(evaluate("name[1:3]", name="abcdef"), "bc")
        self.assertEqual(evaluate("name[::-1]", name="abc"), "cba")

    def test_allowed_functions(self) -> None:
        """
        The whitelisted built-in functions can be called with positional arguments.
        """
        self.assertEqual(evaluate("len(tags)", tags=[1, 2, 3]), 3)
        self.assertEqual(evaluate("max(a, b) - min(a, b)", a=3, b=8), 5)
        self.assertEqual(evaluate("abs(a)", a=-2), 2)
        self.assertEqual(evaluate("round(a, 1)", a=2.345), 2.3)
        self.assertEqual(evaluate("str(a) + '!'", a=5), "5!")
        self.assertEqual(evaluate("int(a) + float(b)", a="4", b="0.5"), 4.5)
        self.assertIs(evaluate("bool(a)", a=[]), False)

    def test_rejected_constructs(self) -> None:
        """
        Anything outside the allowed constructs is refused with L{InvalidInput} naming it.
        """
        cases = {
            "__import__('os')": "'__import__'",
            "open('/etc/passwd')": "'open'",
            "name.upper()": "calls other than",
            "record.__class__": "attribute access",
            "(lambda: 1)()": "calls other than",
            "lambda: 1": "lambda",
            "[x for x in items]": "comprehensions",
            "{x for x in items}": "comprehensions",
            "sum(x for x in items)": "'sum'",
            "(y := 3)": "assignment",
            "a | b": "BitOr",
            "~a": "Invert",
            "{'a': 1}": "Dict",
            "f'{a}'": "JoinedStr",
            "len(*items)": "unpacking",
            "round(a, ndigits=2)": "keyword arguments",
        }
        for text, reason in cases.items():
            error = self.assertRaises(InvalidInput, compile_expression, text)
            self.assertIn(reason, error.message, text)

    def test_syntax_errors(self) -> None:
        """
        Text that is not a single expression is refused with L{InvalidInput}.
        """
        for text in ("a +", "x = 1", "import os", "a; b", "", "   "):
            self.assertRaises(InvalidInput, compile_expression, text)
        self.assertRaises(InvalidInput, compile_expression, None)

    def test_too_long_or_deep(self) -> None:
        """
        Overly long or deeply nested text is refused rather than exhausting the interpreter.
        """
        self.assertRaises(InvalidInput, compile_expression, "a + " * 1000 + "a")
        self.assertRaises(InvalidInput, compile_expression, "(" * 600 + "a" + ")" * 600)

    def test_resource_guards(self) -> None:
        """
        Huge repetitions and powers evaluate to C{None} instead of exhausting memory or time.
        """
        self.assertIsNone(evaluate("name * 1000000000", name="ab"))
        self.assertIsNone(evaluate("1000000000 * tags", tags=[1]))
        self.assertIsNone(evaluate("2 ** 100000"))
        self.assertIsNone(evaluate("(10 ** 1000) ** 1000"))
        self.assertEqual(evaluate("'ab' * 2"), "abab")


class ComputedFunctionsTests(SynchronousTestCase):
    """
    Tests for L{ComputedFunctions}.
    """

    def setUp(self) -> None:
        self.functions = ComputedFunctions()
        self.total = AttributeDefinition(
            name="total", type=TypeRef("Float"), computed=Computed("price * 2")
        )
        self.label = AttributeDefinition(name="label", type=TypeRef("String"), computed=Computed())
        self.table = TableDefinition(
            type_name="Product", name="Product", attributes=(self.total, self.label)
        )

    def test_register_and_lookup(self) -> None:
        """
        A registered function is found by table and attribute name; others are C{None}.
        """

        def label(record: object) -> str:
            return "x"

        self.functions.register("Product", "label", label)
        self.assertIs(self.functions.lookup("Product", "label"), label)
        self.assertIsNone(self.functions.lookup("Product", "other"))
        self.assertIsNone(self.functions.lookup("Other", "label"))

    def test_register_replaces(self) -> None:
        """
        Registering again for the same attribute replaces the earlier function.
        """
        self.functions.register("Product", "label", lambda record: 1)
        self.functions.register("Product", "label", lambda record: 2)
        label = self.functions.lookup("Product", "label")
        assert label is not None
        self.assertEqual(label({}), 2)

    def test_register_not_callable(self) -> None:
        """
        Registering something that is not callable raises L{TypeError}.
        """
        self.assertRaises(TypeError, self.functions.register, "Product", "label", "nope")

    def test_function_for(self) -> None:
        """
        C{function_for} compiles an attribute's expression, prefers a registered function and
        returns C{None} for a computed attribute with neither.
        """
        compute = self.functions.function_for(self.table, self.total)
        assert compute is not None
        self.assertEqual(compute({"price": 4}), 8)
        self.assertIsNone(self.functions.function_for(self.table, self.label))
        self.functions.register("Product", "total", lambda record: "registered")
        compute = self.functions.function_for(self.table, self.total)
        assert compute is not None
        self.assertEqual(compute({}), "registered")
