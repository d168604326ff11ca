# -*- test-case-name: tests.http.test_targets -*-
"""
From a request URL to what it addresses: the resource, the L{RequestTarget} below it (record,
collection, id-prefix collection, single attribute) and the content-type suffix, if any.

C{/Dog} is the resource itself, C{/Dog/} its collection, C{/Dog/<id>} a record (the id is the
rest of the decoded path, slashes included, coerced to the primary key's type),
C{/Dog/<id>.<attribute>} one declared attribute, and C{/Dog/<prefix>/} the records whose id
starts with C{<prefix>/}. The query string narrows collections.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Optional
from urllib.parse import unquote

from harper.database.conditions import Condition, Group, Query
from harper.errors import InvalidInput, QuerySyntaxError
from harper.http.negotiation import split_suffix
from harper.resources.querystring import parse_query
from harper.resources.registry import ResourceRegistry
from harper.resources.target import RequestTarget
from harper.schema.validate import coerce_key

_EMPTY_QUERY = Query()
_TEXT_KEYS = frozenset({"ID", "String", "Any"})
#: Escapes that clients (browsers, URL libraries) apply to characters of the query language
#: which mean the same escaped or not (values may hold them): read unescaped, so that
#: C{price%3C20} is C{price<20} and C{select(brand%7Bname%7D)} is C{select(brand{name})}.
_READABLE_ESCAPES = re.compile("%(?:7[BbDd]|3[CcEe]|21)")


def _unescape(match: re.Match) -> str:
    return chr(int(match[0][1:], 16))


def decoded_path(raw_path: str) -> str:
    """
    The percent-decoded request path without its leading slash.

    :raises InvalidInput: when the escapes do not form UTF-8 text.
    """
    try:
        return unquote(raw_path[1:] if raw_path[:1] == "/" else raw_path, errors="strict")
    except UnicodeDecodeError:
        raise InvalidInput("the request path is not valid UTF-8") from None


def resolve(registry: ResourceRegistry, raw_path: str) -> tuple[Any, Optional[str], Optional[str]]:
    """
    The resource a request path names, the remainder below it (see
    L{ResourceRegistry.resolve}) and the content-type suffix the path ends with.

    :raises NotFound: when no resource is exported at the path.
    """
    path, suffix = split_suffix(decoded_path(raw_path))
    resource, remainder = registry.resolve(path)
    return resource, remainder, suffix


def parsed_query(text: str) -> Query:
    """
    The query of a URL query string.

    :raises QuerySyntaxError: with the reason, the position and the query in the message.
    """
    if not text:
        return _EMPTY_QUERY
    return _parsed(text)


@functools.lru_cache(maxsize=512)
def _parsed(text: str) -> Query:
    """
    L{parsed_query} of a non-empty query string, remembered: clients repeat their queries,
    and the parsed L{Query} is immutable.
    """
    if "%" in text:
        text = _READABLE_ESCAPES.sub(_unescape, text)
    try:
        return parse_query(text)
    except QuerySyntaxError as error:
        raise QuerySyntaxError(f"Unable to parse query {text!r}: {error.reason}", error.position) from None


def target_for(resource: Any, remainder: Optional[str], query_text: str) -> RequestTarget:
    """
    The target of a request below C{resource}.

    :param remainder: the path below the resource: C{None} for the resource itself, C{""}
        for its collection.
    :param query_text: the raw query string.
    :raises InvalidInput: for an id that is not valid for the primary key, or a bad query.
    """
    query = parsed_query(query_text)
    if remainder is None:
        return RequestTarget(is_collection=bool(query_text), query=query)
    if remainder == "":
        return RequestTarget(is_collection=True, query=query)
    definition = getattr(resource, "definition", None)
    if remainder.endswith("/"):
        return _prefix_collection(definition, remainder, query)
    if definition is None:
        return RequestTarget(id=remainder, query=query, path=remainder)
    text, attribute = remainder, None
    head, dot, tail = text.rpartition(".")
    if dot and definition.attribute(tail) is not None:
        text, attribute = head, tail
    return RequestTarget(id=coerce_key(text, definition), query=query, attribute=attribute, path=remainder)


def _prefix_collection(definition: Any, remainder: str, query: Query) -> RequestTarget:
    """
    C{/Table/<prefix>/}: the records whose id starts with C{<prefix>/}.
    """
    if definition is None:
        return RequestTarget(id=remainder[:-1], is_collection=True, query=query, path=remainder)
    key = definition.primary_key
    if key.type.base_name not in _TEXT_KEYS:
        raise InvalidInput(
            f"/{remainder} asks for the {definition.name} records whose id starts with"
            f" {remainder!r}, but {key.name} is a {key.type.base_name}, not text"
        )
    prefix = Condition((key.name,), "starts_with", remainder)
    conditions = prefix if query.conditions is None else Group("and", (prefix, query.conditions))
    narrowed = Query(conditions, query.select, query.sort, query.offset, query.limit)
    return RequestTarget(is_collection=True, query=narrowed, path=remainder)
