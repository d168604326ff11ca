# -*- test-case-name: tests.resources.test_querystring -*-
"""
Parse Harper's URL query language into the query model.

L{parse_query} turns the raw, still percent-encoded text after C{?} in a collection URL into a
L{harper.database.conditions.Query}: comparisons joined by C{&} or C{|}, groups in C{( )} or
C{[ ]}, chained ranges, typed values, the C{select()}, C{limit()} and C{sort()} functions, and
two RQL 2.0 additions, C{attr=in=(a,b)} and C{not(...)}. A small tokenizer feeds a
recursive-descent parser; every malformed input raises L{QuerySyntaxError} carrying the 0-based
offset of the problem in the raw text. The query model has no strict/coercing flag, so
strictness travels in the value: the strict forms C{=}, C{===} and C{!==} yield the decoded
text unchanged (the executor casts it to the attribute's declared type), while the coercing
forms (C{==}, C{!=}, FIQL C{=xx=}, C{< <= > >=}, C{in}) also read C{null}, C{true}/C{false},
decimal numbers and the C{number:}, C{boolean:}, C{date:} and C{string:} prefixes.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import datetime, timezone
from typing import Any, Callable, NamedTuple, NoReturn, Optional, TypeVar
from urllib.parse import unquote

from harper.database.conditions import (
    Condition,
    Group,
    Node,
    Not,
    Query,
    Select,
    SelectField,
    SortKey,
)
from harper.errors import QuerySyntaxError

__all__ = ["parse_query"]

_T = TypeVar("_T")

# --- tokenizer --------------------------------------------------------------------------------


class _Token(NamedTuple):
    """
    One lexical unit: C{kind} is C{"name"}, C{"comparator"}, C{"value"}, C{"list"}, C{"end"}
    or the punctuation character itself; C{position} is its offset in the raw text.
    """

    kind: str
    text: str
    position: int


_SYNTAX = re.compile(
    r"(?P<comparator>=[A-Za-z_][A-Za-z0-9_]*=|===|!==|==|!=|<=|>=|[=<>])"
    r"|(?P<punctuation>[&|()\[\]{},])"
    r"|(?P<name>[^&|()\[\]{},=<>!]+)"
)
# A value runs to the next separator or bracket; it may contain = < > ! , { } * and :.
_VALUE = re.compile(r"[^&|()\[\]]*")
_LIST_COMPARATOR = "=in="


def _tokenize(text: str) -> list[_Token]:
    """
    Split C{text} into tokens; the text after a comparator is always one C{value} token (a
    C{list} token, the text between the parentheses, after C{=in=}).
    """
    tokens = []
    position = 0
    while position < len(text):
        match = _SYNTAX.match(text, position)
        if match is None:
            raise QuerySyntaxError(f"unexpected character {text[position]!r}", position)
        kind = match.lastgroup or ""
        tokens.append(_Token(match[0] if kind == "punctuation" else kind, match[0], position))
        position = match.end()
        if kind == "comparator":
            read = _list_token if match[0] == _LIST_COMPARATOR else _value_token
            token, position = read(text, position)
            tokens.append(token)
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _value_token(text: str, position: int) -> tuple[_Token, int]:
    match = _VALUE.match(text, position)
    assert match is not None  # the pattern matches the empty string
    return _Token("value", match[0], position), match.end()


def _list_token(text: str, position: int) -> tuple[_Token, int]:
    if not text.startswith("(", position):
        raise QuerySyntaxError(f"expected '(' after {_LIST_COMPARATOR!r}", position)
    inner, end = _value_token(text, position + 1)
    if not text.startswith(")", end):
        raise QuerySyntaxError(f"expected ')' to close '(' opened at position {position}", end)
    return inner._replace(kind="list"), end + 1


def _shown(text: str) -> str:
    """
    Quote C{text} for an error message, shortening it past 40 characters.
    """
    return repr(text if len(text) <= 40 else text[:37] + "...")


# --- values -----------------------------------------------------------------------------------

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_INTEGER = re.compile(r"[-+]?[0-9]+")
_DECIMAL = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_BASE36 = re.compile(r"[0-9A-Za-z]+")
_COUNT = re.compile(r"[0-9]{1,18}")
_PREFIX = re.compile(r"([A-Za-z]+):")
_CONSTANTS = {"null": None, "true": True, "false": False}


def _decode(raw: str, position: int) -> str:
    """
    Percent-decode C{raw} (C{+} stays a plus sign), rejecting malformed escapes.
    """
    bad = _BAD_ESCAPE.search(raw)
    if bad is not None:
        raise QuerySyntaxError("'%' must start an escape such as %20", position + bad.start())
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise QuerySyntaxError("percent-escapes do not form UTF-8 text", position) from None


def _decimal(text: str) -> Optional[float]:
    """
    Read a finite decimal number (an C{int} when it has no point or exponent), else C{None}.
    """
    try:
        if _INTEGER.fullmatch(text):
            return int(text)
        if _DECIMAL.fullmatch(text) and math.isfinite(float(text)):
            return float(text)
    except ValueError:  # more digits than int() converts
        pass
    return None


def _number(text: str, position: int) -> float:
    if text[:1] == "$" and _BASE36.fullmatch(text[1:]):
        try:
            return int(text[1:], 36)
        except ValueError:
            pass
    else:
        number = _decimal(text)
        if number is not None:
            return number
    raise QuerySyntaxError(f"invalid number {_shown(text)}", position)


def _boolean(text: str, position: int) -> bool:
    if text not in ("true", "false"):
        raise QuerySyntaxError(f"invalid boolean {_shown(text)} (expected true or false)", position)
    return text == "true"


def _date(text: str, position: int) -> datetime:
    try:
        if _DECIMAL.fullmatch(text):
            return datetime.fromtimestamp(float(text) / 1000, timezone.utc)
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        raise QuerySyntaxError(
            f"invalid date {_shown(text)} (expected ISO 8601 or epoch milliseconds)", position
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _string(text: str, position: int) -> str:
    return text


_TYPE_PREFIXES: dict[str, Callable[[str, int], Any]] = {
    "number": _number,
    "boolean": _boolean,
    "date": _date,
    "string": _string,
}


def _value(raw: str, position: int, mode: str) -> Any:
    """
    Decode one value: C{"strict"} keeps the text; C{"text"} honours type prefixes;
    C{"coercing"} also turns C{null}, C{true}, C{false} and numbers into Python values.
    """
    prefix = _PREFIX.match(raw) if mode != "strict" else None
    if prefix is None:
        text = _decode(raw, position)
        if mode != "coercing":
            return text
        if text in _CONSTANTS:
            return _CONSTANTS[text]
        number = _decimal(text)
        return text if number is None else number
    convert = _TYPE_PREFIXES.get(prefix[1])
    if convert is None:
        expected = ", ".join(f"{name}:" for name in _TYPE_PREFIXES)
        raise QuerySyntaxError(
            f"unknown type prefix {_shown(prefix[0])} (expected one of {expected})", position
        )
    rest = position + prefix.end()
    return convert(_decode(raw[prefix.end():], rest), rest)


def _list(token: _Token, mode: str) -> tuple[Any, ...]:
    if not token.text:
        return ()
    values, position = [], token.position
    for raw in token.text.split(","):
        values.append(_value(raw, position, mode))
        position += len(raw) + 1
    return tuple(values)


def _path(raw: str, position: int) -> tuple[str, ...]:
    """
    Split a dotted attribute path and decode each name (C{%2E} is a dot inside a name).
    """
    names = []
    for raw_name in raw.split("."):
        if not raw_name:
            raise QuerySyntaxError(f"missing attribute name in {_shown(raw)}", position)
        names.append(_decode(raw_name, position))
        position += len(raw_name) + 1
    return tuple(names)


# --- conditions -------------------------------------------------------------------------------

#: URL comparators -> (model comparator, value decoding mode).
_COMPARATORS = {
    symbol: (comparator, mode)
    for symbols, comparator, mode in [
        ("= === ", "equals", "strict"),
        ("!==", "not_equal", "strict"),
        ("== =eq=", "equals", "coercing"),
        ("!= =ne=", "not_equal", "coercing"),
        ("< =lt=", "less_than", "coercing"),
        ("<= =le=", "less_than_equal", "coercing"),
        ("> =gt=", "greater_than", "coercing"),
        (">= =ge=", "greater_than_equal", "coercing"),
        ("=sw=", "starts_with", "text"),
        ("=ew=", "ends_with", "text"),
        ("=ct=", "contains", "text"),
        (_LIST_COMPARATOR, "in", "coercing"),
    ]
    for symbol in symbols.split()
}
_WILDCARD_COMPARATORS = frozenset({"==", "=eq="})
_RANGES = frozenset({"less_than", "less_than_equal", "greater_than", "greater_than_equal"})
#: Chained-range legs may be written C{&lt=200} instead of C{&=lt=200}.
_RANGE_SHORTHANDS = {"lt": "=lt=", "le": "=le=", "gt": "=gt=", "ge": "=ge="}


def _condition(attribute: tuple[str, ...], operator: _Token, value: _Token) -> Condition:
    if operator.text not in _COMPARATORS:
        known = " ".join(name for name in _COMPARATORS if name.startswith("=") and len(name) > 3)
        reason = f"unknown operator {_shown(operator.text)} (expected one of {known})"
        raise QuerySyntaxError(reason, operator.position)
    comparator, mode = _COMPARATORS[operator.text]
    if value.kind == "list":
        return Condition(attribute, comparator, _list(value, mode))
    if operator.text in _WILDCARD_COMPARATORS and "*" in value.text:
        star = value.text.index("*")
        if star != len(value.text) - 1:
            raise QuerySyntaxError(
                "'*' is only allowed at the end of a value (use =ew= or =ct= instead)",
                value.position + star,
            )
        return Condition(attribute, "starts_with", _value(value.text[:-1], value.position, "text"))
    return Condition(attribute, comparator, _value(value.text, value.position, mode))


# --- parser -----------------------------------------------------------------------------------

_CLOSERS = {"(": ")", "[": "]", "{": "}"}
_SEPARATORS = frozenset({"&", "|"})
_MAX_DEPTH = 32


class _Call(NamedTuple):
    """
    A top-level function (C{select}, C{limit} or C{sort}) and what it parsed to.
    """

    token: _Token
    value: Any


_Part = tuple[Optional[_Token], Any]


def _join(parts: list[_Part]) -> tuple[Optional[Node], list[_Call]]:
    """
    Combine parsed items and their preceding separators into one condition tree, setting the
    function calls aside; functions must be joined with C{&} and conditions must not mix C{&}
    with C{|}.
    """
    nodes: list[Node] = []
    calls: list[_Call] = []
    operator = "&"
    for index, (separator, item) in enumerate(parts):
        if isinstance(item, _Call):
            following = parts[index + 1][0] if index + 1 < len(parts) else None
            for adjacent in (separator, following):
                if adjacent is not None and adjacent.kind == "|":
                    raise QuerySyntaxError(
                        f"{item.token.text}() must be joined with '&', not '|'", adjacent.position
                    )
            calls.append(item)
            continue
        if separator is not None and nodes:
            if len(nodes) > 1 and separator.kind != operator:
                raise QuerySyntaxError(
                    "cannot mix '&' and '|' in one group; wrap one side in ( ) or [ ]",
                    separator.position,
                )
            operator = separator.kind
        nodes.append(item)
    if len(nodes) < 2:
        return (nodes[0] if nodes else None), calls
    return Group("and" if operator == "&" else "or", tuple(nodes)), calls


class _Parser:
    """
    Recursive-descent parser over the tokens of one query string.
    """

    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._index = 0
        self._depth = 0

    def parse(self) -> Query:
        if self._peek().kind == "end":
            return Query()
        conditions, calls = _join(self._sequence(top=True))
        end = self._peek()
        if end.kind != "end":
            self._fail("expected '&', '|' or the end of the query", end)
        settings: dict[str, Any] = {}
        for call in calls:
            name = call.token.text
            if name in settings:
                raise QuerySyntaxError(f"{name}() given more than once", call.token.position)
            settings[name] = call.value
        offset, limit = settings.get("limit", (0, None))
        return Query(conditions, settings.get("select"), settings.get("sort", ()), offset, limit)

    def _peek(self, ahead: int = 0) -> _Token:
        return self._tokens[min(self._index + ahead, len(self._tokens) - 1)]

    def _advance(self) -> _Token:
        token = self._peek()
        self._index += 1
        return token

    def _fail(self, reason: str, token: _Token) -> NoReturn:
        found = "the end of the query" if token.kind == "end" else _shown(token.text)
        raise QuerySyntaxError(f"{reason}, found {found}", token.position)

    def _enclosed(self, opener: _Token, parse: Callable[[], _T]) -> _T:
        """
        Parse what follows the bracket C{opener}, then its matching closing bracket.
        """
        if self._depth >= _MAX_DEPTH:
            raise QuerySyntaxError(f"brackets nested deeper than {_MAX_DEPTH}", opener.position)
        self._depth += 1
        result = parse()
        self._depth -= 1
        closer = self._advance()
        if closer.kind != _CLOSERS[opener.kind]:
            self._fail(
                f"expected {_CLOSERS[opener.kind]!r} to close {opener.kind!r} opened at"
                f" position {opener.position}",
                closer,
            )
        return result

    def _sequence(self, top: bool) -> list[_Part]:
        parts: list[_Part] = [(None, self._item(None, top))]
        while self._peek().kind in _SEPARATORS:
            separator = self._advance()
            parts.append((separator, self._item(parts[-1][1], top)))
        return parts

    def _group(self) -> Node:
        node, _calls = _join(self._sequence(top=False))
        assert node is not None  # groups hold no calls, so at least one condition
        return node

    def _item(self, previous: Any, top: bool) -> Any:
        token = self._peek()
        if token.kind in ("(", "["):
            return self._enclosed(self._advance(), self._group)
        if token.kind == "comparator":
            if not isinstance(previous, Condition):
                self._fail("expected an attribute name before the comparison", token)
            return _condition(previous.attribute, self._advance(), self._advance())
        if token.kind != "name":
            self._fail("expected a condition, a group or a function", token)
        following = self._peek(1)
        if following.kind == "(":
            return self._call(top)
        if following.kind == "[":
            return self._array_equality()
        if following.kind != "comparator":
            self._fail(f"expected a comparison after {_shown(token.text)}", following)
        name, operator = self._advance(), self._advance()
        shorthand = _RANGE_SHORTHANDS.get(name.text)
        if (
            shorthand
            and operator.text == "="
            and isinstance(previous, Condition)
            and previous.comparator in _RANGES
        ):
            operator = operator._replace(text=shorthand, position=name.position)
            return _condition(previous.attribute, operator, self._advance())
        return _condition(_path(name.text, name.position), operator, self._advance())

    def _array_equality(self) -> Condition:
        """
        C{name[]=value}: strict equality on C{name}.
        """
        name, bracket = self._advance(), self._advance()
        if self._peek().kind != "]":
            raise QuerySyntaxError(
                "conditions inside an array property ('name[...]') are not supported",
                bracket.position,
            )
        self._advance()
        operator = self._peek()
        if operator.text != "=":
            self._fail(f"expected '=' after {_shown(name.text + '[]')}", operator)
        self._advance()
        return _condition(_path(name.text, name.position), operator, self._advance())

    def _call(self, top: bool) -> Any:
        name, opener = self._advance(), self._advance()
        if name.text == "not":
            return Not(self._enclosed(opener, self._group))
        if name.text == "group-by":
            raise QuerySyntaxError("group-by() is not implemented", name.position)
        parse = {"select": self._select, "limit": self._limit, "sort": self._sort}.get(name.text)
        if parse is None:
            raise QuerySyntaxError(
                f"unknown function {_shown(name.text)} (expected select, limit, sort or not)",
                name.position,
            )
        if not top:
            raise QuerySyntaxError(f"{name.text}() is not allowed inside a group", name.position)
        return _Call(name, self._enclosed(opener, parse))

    def _select(self) -> Select:
        if self._peek().kind == "[":
            fields, _trailing = self._enclosed(self._advance(), self._fields)
            return Select(fields, "array")
        fields, trailing = self._fields()
        return Select(fields, "value" if len(fields) == 1 and not trailing else "object")

    def _fields(self) -> tuple[tuple[SelectField, ...], bool]:
        """
        Parse C{field (, field)* [,]}; also say whether a trailing comma was present.
        """
        fields = [self._field()]
        while self._peek().kind == ",":
            self._advance()
            if self._peek().kind in _CLOSERS.values():
                return tuple(fields), True
            fields.append(self._field())
        return tuple(fields), False

    def _field(self) -> SelectField:
        name = self._peek()
        if name.kind != "name":
            self._fail("expected a property name", name)
        self._advance()
        if "." in name.text:
            raise QuerySyntaxError(
                "select nested properties as name{property}, not with a dotted path",
                name.position,
            )
        nested = None
        if self._peek().kind == "{":
            fields, _trailing = self._enclosed(self._advance(), self._fields)
            nested = Select(fields)
        return SelectField(_decode(name.text, name.position), nested)

    def _arguments(self) -> list[_Token]:
        arguments = []
        while not arguments or self._peek().kind == ",":
            if arguments:
                self._advance()
            argument = self._peek()
            if argument.kind != "name":
                self._fail("expected an argument", argument)
            arguments.append(self._advance())
        return arguments

    def _limit(self) -> tuple[int, Optional[int]]:
        arguments = self._arguments()
        if len(arguments) > 2:
            raise QuerySyntaxError("limit() takes one or two arguments", arguments[2].position)
        for argument in arguments:
            if not _COUNT.fullmatch(argument.text):
                self._fail("expected a whole number of records", argument)
        numbers = [int(argument.text) for argument in arguments]
        if len(numbers) == 1:
            return 0, numbers[0]
        if numbers[1] < numbers[0]:
            raise QuerySyntaxError("limit(start,end) needs end >= start", arguments[1].position)
        return numbers[0], numbers[1] - numbers[0]

    def _sort(self) -> tuple[SortKey, ...]:
        keys = []
        for argument in self._arguments():
            sign = 1 if argument.text[:1] in ("+", "-") else 0
            path = _path(argument.text[sign:], argument.position + sign)
            keys.append(SortKey(path, argument.text[:1] == "-"))
        return tuple(keys)


@functools.lru_cache(maxsize=4096)
def parse_query(text: str) -> Query:
    """
    Parse a URL query string in Harper's query language (memoised: queries are immutable and
    clients repeat them).

    :param text: the raw text after C{?}, still percent-encoded; each token is decoded on its
        own, so an encoded C{%26} inside a value is a literal C{&}.
    :return: the query; C{Query()} for an empty string, a single L{Condition} as the condition
        tree for one comparison, a L{Group} for several.
    :raises QuerySyntaxError: the text is malformed; C{position} is the 0-based offset of the
        problem in C{text}.
    """
    return _Parser(_tokenize(text)).parse()
