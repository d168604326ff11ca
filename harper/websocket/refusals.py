# -*- test-case-name: tests.websocket.test_resource -*-
"""
The one place where harper's errors become WebSocket close codes and event-stream HTTP
statuses (Harper's codes: 3000 for 401, 3003 for 403, 1011 for anything else).
"""

from __future__ import annotations

from typing import Any

import attr

from harper.errors import Forbidden, HarperError, InvalidInput, NotFound, Unauthorized


@attr.frozen
class Refusal:
    """
    How a real-time request is refused.

    :ivar close_code: the WebSocket close code.
    :ivar status: the HTTP status of an event-stream request.
    :ivar reason: a message for the client.
    """

    close_code: int
    status: int
    reason: str


_CODES: tuple[tuple[type, int, int], ...] = (
    (Unauthorized, 3000, 401),
    (Forbidden, 3003, 403),
    (NotFound, 1011, 404),
    (InvalidInput, 1011, 400),
)


def refusal_for(error: BaseException) -> Refusal:
    """
    The refusal for C{error}; errors that are not harper's get a generic message (the
    details belong in the log).
    """
    if isinstance(error, HarperError):
        for kind, close_code, status in _CODES:
            if isinstance(error, kind):
                return Refusal(close_code, status, error.message)
        return Refusal(1011, 500, error.message)
    return Refusal(1011, 500, "the server could not open the subscription")


def is_expected(failure: Any) -> bool:
    """
    Whether a failure is a refusal worth no traceback in the log.
    """
    return failure.check(HarperError) is not None
