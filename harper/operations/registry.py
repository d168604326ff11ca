# -*- test-case-name: tests.operations.test_registry -*-
"""
Operation names to the functions that carry them out.

Each module of operations keeps its own L{OperationRegistry} and registers its functions with
the L{OperationRegistry.register} decorator; the API combines them with
L{OperationRegistry.combined}. An operation function receives one L{OperationCall} and returns
a JSON-encodable value or a Deferred of one.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

import attr

from harper.errors import InvalidInput
from harper.operations.fields import Fields

OperationFunction = Callable[["OperationCall"], Any]


@attr.define
class OperationCall:
    """
    One request to the operations API.

    :ivar fields: the request body.
    :ivar user: the authenticated user; C{None} for public operations.
    :ivar scope: what operations act on.
    :ivar authorization: the request's C{Authorization} header, or C{None}.
    :ivar client_address: the IP address the request came from.
    :ivar secure: whether the request came over TLS.
    :ivar response_headers: headers the operation adds to its answer (C{Set-Cookie}).
    """

    fields: Fields
    user: Any
    scope: Any
    authorization: Optional[str] = None
    client_address: str = ""
    secure: bool = False
    response_headers: dict[str, str] = attr.field(factory=dict)


@attr.frozen
class Operation:
    """
    A registered operation.

    :ivar name: its name (what the request's C{operation} field says).
    :ivar function: what carries it out.
    :ivar public: whether it runs without credentials (it then authenticates by itself, as
        C{create_authentication_tokens} does).
    """

    name: str
    function: OperationFunction
    public: bool = False


class OperationRegistry:
    """
    Operations by name.
    """

    def __init__(self) -> None:
        self._operations: dict[str, Operation] = {}

    @classmethod
    def combined(cls, registries: Iterable["OperationRegistry"]) -> "OperationRegistry":
        """
        One registry with the operations of all of C{registries}.

        :raises ValueError: when two of them register the same name.
        """
        result = cls()
        for registry in registries:
            for name, operation in registry._operations.items():
                result._add(name, operation)
        return result

    def register(
        self, name: str, *aliases: str, public: bool = False
    ) -> Callable[[OperationFunction], OperationFunction]:
        """
        A decorator registering a function as operation C{name} (and its C{aliases}).
        """

        def decorate(function: OperationFunction) -> OperationFunction:
            operation = Operation(name, function, public)
            for each in (name, *aliases):
                self._add(each, operation)
            return function

        return decorate

    def get(self, name: str) -> Operation:
        """
        The operation called C{name}.

        :raises InvalidInput: when there is none.
        """
        operation = self._operations.get(name)
        if operation is None:
            raise InvalidInput(f"operation: {name!r} is not an operation this server knows")
        return operation

    def names(self) -> list[str]:
        """
        Every registered name, aliases included, sorted.
        """
        return sorted(self._operations)

    def _add(self, name: str, operation: Operation) -> None:
        if name in self._operations:
            raise ValueError(f"operation {name!r} is registered twice")
        self._operations[name] = operation
