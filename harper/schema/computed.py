# -*- test-case-name: tests.schema.test_computed -*-
"""
Values computed from a record on read, declared with C{@computed}.

An expression from the schema (C{@computed(from: "price * (1 + taxRate)")}) is parsed with
L{ast} and checked against a short list of allowed constructs: record attribute names,
constants, arithmetic, comparisons, boolean logic, conditional expressions, subscripts and calls
to a few harmless built-in functions. The checked tree is turned into nested Python closures, so
nothing is ever handed to C{eval}. Fields declared without an expression get their function
from code through L{ComputedFunctions}.
"""

from __future__ import annotations

import ast
import operator
from typing import Any, Callable, Mapping, Optional

from twisted.logger import Logger

from harper.errors import InvalidInput
from harper.schema.model import AttributeDefinition, TableDefinition

#: A compiled expression or registered function: record in, computed value out.
ComputedFunction = Callable[[Mapping[str, Any]], Any]

#: Longest expression text accepted.
MAX_EXPRESSION_LENGTH = 2000

#: Longest string, bytes or list that a repetition (C{"ab" * n}) may build.
MAX_SEQUENCE_LENGTH = 1_000_000

#: Largest exponent C{a ** b} may use.
MAX_EXPONENT = 1000

#: Largest integer, in bits, that a power may produce.
MAX_POWER_BITS = 100_000

_Evaluator = Callable[[Mapping[str, Any]], Any]

#: Errors that make an expression evaluate to C{None} rather than fail the read.
_EVALUATION_ERRORS = (ArithmeticError, LookupError, TypeError, ValueError)


def _multiply(left: Any, right: Any) -> Any:
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, (str, bytes, list, tuple)) and isinstance(count, int):
            if len(sequence) * count > MAX_SEQUENCE_LENGTH:
                raise ValueError("repetition too long")
    return left * right


def _power(base: Any, exponent: Any) -> Any:
    if isinstance(exponent, (int, float)) and abs(exponent) > MAX_EXPONENT:
        raise ValueError("exponent too large")
    if isinstance(base, int) and isinstance(exponent, int):
        if base.bit_length() * exponent > MAX_POWER_BITS:
            raise ValueError("power too large")
    return base**exponent


_BINARY_OPERATORS: Mapping[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: _multiply,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: _power,
}

_UNARY_OPERATORS: Mapping[type, Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
    ast.Not: operator.not_,
}

_COMPARISONS: Mapping[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda item, container: operator.contains(container, item),
    ast.NotIn: lambda item, container: not operator.contains(container, item),
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}

#: Functions an expression may call, by name.
ALLOWED_FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
}


def compile_expression(text: str) -> ComputedFunction:
    """
    Check and compile a computed-attribute expression.

    Names in the expression are the record's attributes; a missing attribute is C{None}. When
    evaluation fails (C{None + 1}, division by zero, a missing index) the value is C{None}.

    :param text: a Python expression, for example C{"price * (1 + taxRate)"}.
    :return: a function of the record returning the computed value.
    :raises InvalidInput: when the text is not an expression or uses anything outside the
        allowed constructs; the message says what.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("computed expression must be a non-empty string")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise InvalidInput(
            f"computed expression is longer than {MAX_EXPRESSION_LENGTH} characters"
        )
    try:
        tree = ast.parse(text.strip(), mode="eval")
        evaluator = _compile(tree.body)
    except SyntaxError as error:
        raise InvalidInput(f"computed expression {text!r} is not valid: {error.msg}") from None
    except RecursionError:
        raise InvalidInput(f"computed expression {text!r} is nested too deeply") from None

    def evaluate(record: Mapping[str, Any]) -> Any:
        try:
            return evaluator(record)
        except _EVALUATION_ERRORS:
            return None

    return evaluate


def _reject(node: ast.AST, what: str) -> InvalidInput:
    return InvalidInput(
        f"computed expression may not use {what} (column {getattr(node, 'col_offset', 0) + 1})"
    )


def _compile(node: ast.AST) -> _Evaluator:
    compiler = _COMPILERS.get(type(node))
    if compiler is None:
        raise _reject(node, _describe(node))
    return compiler(node)


def _describe(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access",
        ast.Lambda: "lambda",
        ast.ListComp: "comprehensions",
        ast.SetComp: "comprehensions",
        ast.DictComp: "comprehensions",
        ast.GeneratorExp: "comprehensions",
        ast.NamedExpr: "assignment",
        ast.Starred: "unpacking",
    }
    return names.get(type(node), f"{type(node).__name__} expressions")


def _compile_constant(node: ast.Constant) -> _Evaluator:
    value = node.value
    return lambda record: value


def _compile_name(node: ast.Name) -> _Evaluator:
    name = node.id
    return lambda record: record.get(name)


def _compile_binary(node: ast.BinOp) -> _Evaluator:
    function = _BINARY_OPERATORS.get(type(node.op))
    if function is None:
        raise _reject(node, f"the operator {type(node.op).__name__}")
    left, right = _compile(node.left), _compile(node.right)
    return lambda record: function(left(record), right(record))


def _compile_unary(node: ast.UnaryOp) -> _Evaluator:
    function = _UNARY_OPERATORS.get(type(node.op))
    if function is None:
        raise _reject(node, f"the operator {type(node.op).__name__}")
    operand = _compile(node.operand)
    return lambda record: function(operand(record))


def _compile_boolean(node: ast.BoolOp) -> _Evaluator:
    operands = [_compile(value) for value in node.values]
    stop_when = isinstance(node.op, ast.Or)

    def evaluate(record: Mapping[str, Any]) -> Any:
        result = None
        for operand in operands:
            result = operand(record)
            if bool(result) is stop_when:
                break
        return result

    return evaluate


def _compile_comparison(node: ast.Compare) -> _Evaluator:
    left = _compile(node.left)
    steps = []
    for op, comparator in zip(node.ops, node.comparators):
        steps.append((_COMPARISONS[type(op)], _compile(comparator)))

    def evaluate(record: Mapping[str, Any]) -> Any:
        current = left(record)
        for function, operand in steps:
            following = operand(record)
            if not function(current, following):
                return False
            current = following
        return True

    return evaluate


def _compile_conditional(node: ast.IfExp) -> _Evaluator:
    test, body, orelse = _compile(node.test), _compile(node.body), _compile(node.orelse)
    return lambda record: body(record) if test(record) else orelse(record)


def _compile_subscript(node: ast.Subscript) -> _Evaluator:
    container, index = _compile(node.value), _compile(node.slice)
    return lambda record: container(record)[index(record)]


def _compile_slice(node: ast.Slice) -> _Evaluator:
    parts = [_compile(part) if part is not None else None for part in
             (node.lower, node.upper, node.step)]
    return lambda record: slice(*(part(record) if part else None for part in parts))


def _compile_sequence(node: ast.Tuple | ast.List) -> _Evaluator:
    items = [_compile(item) for item in node.elts]
    build = tuple if isinstance(node, ast.Tuple) else list
    return lambda record: build(item(record) for item in items)


def _compile_call(node: ast.Call) -> _Evaluator:
    if not isinstance(node.func, ast.Name):
        raise _reject(node, "calls other than to " + ", ".join(ALLOWED_FUNCTIONS))
    function = ALLOWED_FUNCTIONS.get(node.func.id)
    if function is None:
        raise _reject(node, f"the function {node.func.id!r}")
    if node.keywords:
        raise _reject(node, "keyword arguments")
    arguments = [_compile(argument) for argument in node.args]
    return lambda record: function(*(argument(record) for argument in arguments))


_COMPILERS: Mapping[type, Callable[[Any], _Evaluator]] = {
    ast.Constant: _compile_constant,
    ast.Name: _compile_name,
    ast.BinOp: _compile_binary,
    ast.UnaryOp: _compile_unary,
    ast.BoolOp: _compile_boolean,
    ast.Compare: _compile_comparison,
    ast.IfExp: _compile_conditional,
    ast.Subscript: _compile_subscript,
    ast.Slice: _compile_slice,
    ast.Tuple: _compile_sequence,
    ast.List: _compile_sequence,
    ast.Call: _compile_call,
}


class ComputedFunctions:
    """
    The functions behind computed attributes, by table and attribute name.

    Code registers a function for a C{@computed} field declared without C{from}; fields with an
    expression get theirs compiled on first use.
    """

    _log = Logger()

    def __init__(self) -> None:
        self._functions: dict[tuple[str, str], ComputedFunction] = {}
        self._compiled: dict[str, ComputedFunction] = {}

    def register(self, table_name: str, attribute_name: str, fn: ComputedFunction) -> None:
        """
        Use C{fn} to compute C{attribute_name} of the records of C{table_name}, replacing any
        function registered before.

        :param fn: called with the record (a mapping), returns the value.
        :raises TypeError: when C{fn} is not callable.
        """
        if not callable(fn):
            raise TypeError(f"computed function for {table_name}.{attribute_name} is not callable")
        self._functions[(table_name, attribute_name)] = fn
        self._log.debug(
            "computed function registered for {table}.{attribute}",
            table=table_name,
            attribute=attribute_name,
        )

    def lookup(self, table_name: str, attribute_name: str) -> Optional[ComputedFunction]:
        """
        The function registered for C{table_name}.C{attribute_name}, or C{None}.
        """
        return self._functions.get((table_name, attribute_name))

    def function_for(
        self, table: TableDefinition, attribute: AttributeDefinition
    ) -> Optional[ComputedFunction]:
        """
        The function computing C{attribute}: a registered one first, else its compiled
        expression; C{None} when it has neither (or is not computed).
        """
        registered = self.lookup(table.name, attribute.name)
        if registered is not None or attribute.computed is None:
            return registered
        expression = attribute.computed.expression
        if expression is None:
            return None
        if expression not in self._compiled:
            self._compiled[expression] = compile_expression(expression)
        return self._compiled[expression]
