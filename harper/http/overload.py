# -*- test-case-name: tests.http.test_overload -*-
"""
Refusing writes while the server is behind on them: once the oldest write request still
unanswered has waited longer than C{http.requestQueueLimit} milliseconds, new writes (PUT,
POST, PATCH, DELETE) are answered at once with C{503 Service Unavailable} and a
C{Retry-After}, instead of joining a queue they would wait in for longer still. Reads are
never refused: they do not queue behind the writes.
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from typing import Any, Callable, Optional

from twisted.web import resource, server
from twisted.web.iweb import IRequest

from harper.http.codecs import JSON_CODEC
from harper.http.responses import send
from harper.http.wrapping import FrontResource

WRITES = frozenset({b"PUT", b"POST", b"PATCH", b"DELETE"})


class PendingWrites:
    """
    The write requests not yet answered, oldest first.

    :param limit: milliseconds the oldest may have waited before new writes are refused.
    :param clock: the current time in seconds (C{reactor.seconds}).
    """

    def __init__(self, limit: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._clock = clock
        self._started: OrderedDict[int, float] = OrderedDict()
        self._tokens = itertools.count()

    def __len__(self) -> int:
        return len(self._started)

    def waited(self) -> float:
        """
        Milliseconds the oldest pending write has waited (0 with none pending).
        """
        if not self._started:
            return 0.0
        return (self._clock() - next(iter(self._started.values()))) * 1000.0

    def overloaded(self) -> bool:
        """
        Whether new writes are refused now.
        """
        return self.waited() > self.limit

    def track(self, request: IRequest) -> None:
        """
        Count C{request} as pending until it is answered (or its client goes away).
        """
        token = next(self._tokens)
        self._started[token] = self._clock()
        request.notifyFinish().addBoth(lambda _: self._started.pop(token, None))


class _Refusal(resource.Resource):
    """
    The 503 answer to a write refused while the server is overloaded.
    """

    isLeaf = True

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self._retry_after = retry_after

    def render(self, request: IRequest) -> Any:
        request.setHeader(b"retry-after", b"%d" % self._retry_after)
        message = "the server is busy with earlier writes; retry later"
        send(request, 503, JSON_CODEC.encode({"error": message}), JSON_CODEC, 1 << 30)
        return server.NOT_DONE_YET


class WriteLimitResource(FrontResource):
    """
    C{wrapped} (the HTTP root) refusing writes while L{PendingWrites} says so.
    """

    def __init__(self, wrapped: resource.Resource, pending: PendingWrites) -> None:
        super().__init__(wrapped)
        self._pending = pending

    def intercept(self, request: IRequest) -> Optional[resource.Resource]:
        """
        The refusal of a write while overloaded; otherwise track writes until answered.
        """
        if request.method not in WRITES:
            return None
        if self._pending.overloaded():
            return _Refusal(max(1, math.ceil(self._pending.limit / 1000.0)))
        self._pending.track(request)
        return None


def with_write_limit(
    root: resource.Resource, limit: int, clock: Callable[[], float]
) -> resource.Resource:
    """
    C{root} refusing writes with 503 while the oldest pending write has waited more than
    C{limit} milliseconds (C{http.requestQueueLimit}; 0 switches the limit off).
    """
    if not limit:
        return root
    return WriteLimitResource(root, PendingWrites(limit, clock))
