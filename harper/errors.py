# -*- test-case-name: tests.test_errors -*-
"""
Transport-neutral errors.

Every layer raises these; each transport (HTTP, MQTT, operations API) maps them to its own
status or reason code exactly once. None of them carries an HTTP status.
"""

from __future__ import annotations

from typing import Iterable, Sequence


class HarperError(Exception):
    """
    Base of every error that harper reports to a client or an operator.

    :ivar message: a sentence that can be shown to the client as it is.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(HarperError):
    """
    The client sent something that cannot be accepted (malformed body, bad query, bad id).
    """


class QuerySyntaxError(InvalidInput):
    """
    A query string could not be parsed.

    :ivar position: zero-based offset in the query text where parsing failed.
    """

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.reason = message
        self.position = position


class ValidationError(InvalidInput):
    """
    A record does not satisfy its table's schema.

    :ivar problems: one sentence per violated rule.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class NotFound(HarperError):
    """
    The addressed resource or record does not exist.
    """


class Unauthorized(HarperError):
    """
    No valid credentials were presented.
    """


class Forbidden(HarperError):
    """
    The authenticated user may not do this.
    """


class MethodNotAllowed(HarperError):
    """
    The resource does not support the requested method.

    :ivar allowed: the methods it does support.
    """

    def __init__(self, message: str, allowed: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.allowed = tuple(allowed)


class NotImplementedByResource(HarperError):
    """
    The resource does not implement this operation at all.
    """


class Conflict(HarperError):
    """
    The write conflicts with the current state (for example a record that already exists).
    """


class TransactionConflict(Conflict):
    """
    A transaction kept conflicting with concurrent writers after every retry.
    """


class SourceError(HarperError):
    """
    The source behind a caching table failed.
    """


class SourceTimeout(SourceError):
    """
    The source behind a caching table did not answer in time.
    """


class ReplicationTimeout(HarperError):
    """
    A write was committed here, but not enough peers confirmed it in time (C{X-Replicate-To}).
    """


class StartupError(HarperError):
    """
    The daemon cannot start; the message lists every problem found.

    :ivar problems: one line per problem, each naming the file and what is wrong.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"harper cannot start:\n{lines}")


class ConfigError(StartupError):
    """
    The configuration is malformed or has unknown keys or invalid values.
    """


class SchemaError(StartupError):
    """
    A GraphQL schema file does not describe valid tables.
    """


class ComponentError(StartupError):
    """
    An application or one of its plugins could not be loaded.
    """
