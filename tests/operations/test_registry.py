"""
Tests for L{harper.operations.registry}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from harper.errors import InvalidInput
from harper.operations.registry import OperationRegistry


class RegistryTests(SynchronousTestCase):
    """
    Registering, combining and looking up operations.
    """

    def test_register_with_aliases(self) -> None:
        """
        An operation is found under its name and its aliases, with its public flag.
        """
        registry = OperationRegistry()

        @registry.register("describe_database", "describe_schema", public=True)
        def describe(call: object) -> str:
            return "described"

        for name in ("describe_database", "describe_schema"):
            operation = registry.get(name)
            self.assertEqual((operation.name, operation.function(None), operation.public),
                             ("describe_database", "described", True))

    def test_unknown(self) -> None:
        """
        An unknown name is L{InvalidInput} naming the C{operation} field.
        """
        error = self.assertRaises(InvalidInput, OperationRegistry().get, "nope")
        self.assertEqual(error.message, "operation: 'nope' is not an operation this server knows")

    def test_combined(self) -> None:
        """
        Combining registries keeps every name and refuses a name registered twice.
        """
        first, second = OperationRegistry(), OperationRegistry()
        first.register("a")(lambda call: 1)
        second.register("b", "c")(lambda call: 2)
        self.assertEqual(OperationRegistry.combined([first, second]).names(), ["a", "b", "c"])
        second.register("a")(lambda call: 3)
        self.assertRaises(ValueError, OperationRegistry.combined, [first, second])
