# -*- test-case-name: tests.http.test_rest -*-
"""
The one place that maps harper errors to HTTP statuses.
"""

from __future__ import annotations

from harper import errors
from harper.auth.throttle import TooManyFailures
from harper.resources.freshness import NotCached


class UnsupportedMediaType(errors.InvalidInput):
    """
    The request body's content type is not one harper decodes (HTTP 415).
    """


class NotAcceptable(errors.HarperError):
    """
    No representation the client accepts can be produced (HTTP 406).
    """


class PayloadTooLarge(errors.InvalidInput):
    """
    The request body is larger than C{http.maxBodySize} (HTTP 413).
    """


class UnknownMethod(errors.HarperError):
    """
    The HTTP method is not one harper knows (HTTP 501).
    """


class ServiceUnavailable(errors.HarperError):
    """
    The server is too busy to take the request now (HTTP 503): writes have been waiting
    longer than C{http.requestQueueLimit}.
    """


_STATUSES: tuple[tuple[type, int], ...] = (
    (UnsupportedMediaType, 415),
    (PayloadTooLarge, 413),
    (NotAcceptable, 406),
    (UnknownMethod, 501),
    (errors.InvalidInput, 400),
    (TooManyFailures, 429),
    (errors.Unauthorized, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.MethodNotAllowed, 405),
    (errors.NotImplementedByResource, 501),
    (errors.TransactionConflict, 503),
    (ServiceUnavailable, 503),
    (NotCached, 504),
    (errors.Conflict, 409),
    (errors.SourceTimeout, 504),
    (errors.ReplicationTimeout, 504),
    (errors.SourceError, 502),
)


def status_for(error: errors.HarperError) -> int:
    """
    The HTTP status for a harper error (500 for anything unexpected).
    """
    for kind, status in _STATUSES:
        if isinstance(error, kind):
            return status
    return 500
