# -*- test-case-name: tests.http.test_cors -*-
"""
A resource in front of the HTTP root that looks at every request first and may answer it
itself (a CORS preflight, a write refused under load) before the root sees it.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.web import resource
from twisted.web.iweb import IRequest


class FrontResource(resource.Resource):
    """
    C{wrapped}, with L{intercept} called once per request before it.

    :param wrapped: the resource serving the requests not intercepted.
    """

    def __init__(self, wrapped: resource.Resource) -> None:
        super().__init__()
        self._wrapped = wrapped
        self.isLeaf = wrapped.isLeaf

    def intercept(self, request: IRequest) -> Optional[resource.Resource]:
        """
        The leaf resource answering C{request} instead of the wrapped one, or C{None}.
        """
        raise NotImplementedError

    def getChildWithDefault(self, name: bytes, request: IRequest) -> Any:
        answer = self.intercept(request)
        if answer is not None:
            return answer
        return self._wrapped.getChildWithDefault(name, request)

    def render(self, request: IRequest) -> Any:
        answer = self.intercept(request)
        if answer is not None:
            return answer.render(request)
        return self._wrapped.render(request)


def intercepted(front: Any, request: IRequest) -> Optional[resource.Resource]:
    """
    The answer to C{request} of the first of the L{FrontResource}s from C{front} inwards
    that intercepts it, or C{None}: what traversing C{front} would do before reaching the
    resources behind the front ones.
    """
    while isinstance(front, FrontResource):
        answer = front.intercept(request)
        if answer is not None:
            return answer
        front = front._wrapped
    return None
