# -*- test-case-name: tests.resources.test_base -*-
"""
The base class of custom Python resources.

Subclass L{Resource} and override the methods the resource supports; the others answer
L{harper.errors.MethodNotAllowed}. Before a transport's call, the caller asks the matching
C{allow_*} method (L{harper.resources.calls.authorize}): by default only super users may call
(as in Harper); override them to let other users in. Methods run inside the caller's transaction
(C{context.transaction}); use C{self.tables} (or C{context.tables}) to reach tables, passing
C{context} so the work shares that transaction.
"""

from __future__ import annotations

from typing import Any, Callable

from zope.interface import implementer

from harper.errors import MethodNotAllowed
from harper.interfaces import IResource
from harper.resources.context import RequestContext
from harper.resources.target import RequestTarget

#: Resource methods and the HTTP methods they serve.
METHODS = {
    "get": ("GET", "HEAD"),
    "search": (),
    "put": ("PUT",),
    "post": ("POST",),
    "patch": ("PATCH",),
    "delete": ("DELETE",),
    "publish": (),
    "subscribe": (),
    "connect": (),
}


def _is_super_user(user: Any) -> bool:
    """
    Whether C{user} (C{None}: nobody logged in) is an active super user.
    """
    return user is not None and user.active and user.super_user


@implementer(IResource)
class Resource:
    """
    A resource that supports nothing until a subclass overrides methods.

    :cvar export_name: the path the resource is served at; the class name when C{None}.
    :ivar tables: the tables namespace, set when the resource is registered.
    """

    export_name: str | None = None
    tables: Any = None

    def _refuse(self, method: str) -> Any:
        raise MethodNotAllowed(
            f"{type(self).__name__} does not support {method}", allowed=self.allowed_methods()
        )

    def allowed_methods(self) -> tuple[str, ...]:
        """
        The HTTP methods this resource answers, from the methods its class overrides.
        """
        allowed = ["OPTIONS"]
        for name, http_methods in METHODS.items():
            if name == "search" and self.overrides("search"):
                allowed.extend(("GET", "HEAD"))
            elif self.overrides(name):
                allowed.extend(http_methods)
        return tuple(dict.fromkeys(allowed))

    def overrides(self, name: str) -> bool:
        """
        Whether this resource's class implements C{name} itself.
        """
        return getattr(type(self), name) is not getattr(Resource, name)

    # -- permissions: super users only, unless a subclass says otherwise -----------------

    def allow_read(self, user: Any, target: RequestTarget, context: RequestContext) -> bool:
        """
        Whether C{user} (C{None}: nobody logged in) may C{get}, C{search}, C{subscribe}
        to or C{connect} to C{target}; a refusal is L{harper.errors.Unauthorized} without a
        user, L{harper.errors.Forbidden} with one (or raise either with a message). By
        default, super users only.
        """
        return _is_super_user(user)

    def allow_create(
        self, user: Any, target: RequestTarget, data: Any, context: RequestContext
    ) -> bool:
        """
        Whether C{user} may C{post} or C{publish} C{data} to C{target} (by default, super
        users only).
        """
        return _is_super_user(user)

    def allow_update(
        self, user: Any, target: RequestTarget, data: Any, context: RequestContext
    ) -> bool:
        """
        Whether C{user} may C{put} or C{patch} C{target} with C{data} (by default, super
        users only).
        """
        return _is_super_user(user)

    def allow_delete(self, user: Any, target: RequestTarget, context: RequestContext) -> bool:
        """
        Whether C{user} may C{delete} C{target} (by default, super users only).
        """
        return _is_super_user(user)

    def get(self, target: RequestTarget, context: RequestContext) -> Any:
        """
        Return the target (see L{IResource.get}).
        """
        if target.is_collection and self.overrides("search"):
            return self.search(target, context)
        return self._refuse("GET")

    def search(self, target: RequestTarget, context: RequestContext) -> Any:
        """
        Return the records of a collection target.
        """
        return self._refuse("GET")

    def put(self, target: RequestTarget, data: Any, context: RequestContext) -> Any:
        """
        Replace the target with C{data}.
        """
        return self._refuse("PUT")

    def post(self, target: RequestTarget, data: Any, context: RequestContext) -> Any:
        """
        Create or act on C{data}.
        """
        return self._refuse("POST")

    def patch(self, target: RequestTarget, data: Any, context: RequestContext) -> Any:
        """
        Merge C{data} into the target.
        """
        return self._refuse("PATCH")

    def delete(self, target: RequestTarget, context: RequestContext) -> Any:
        """
        Delete the target.
        """
        return self._refuse("DELETE")

    def publish(self, target: RequestTarget, message: Any, context: RequestContext) -> Any:
        """
        Deliver C{message} to subscribers of the target.
        """
        return self._refuse("publish")

    def subscribe(
        self, target: RequestTarget, context: RequestContext, listener: Callable[[Any], None]
    ) -> Any:
        """
        Subscribe C{listener} to changes of the target.
        """
        return self._refuse("subscribe")

    def connect(
        self, target: RequestTarget, context: RequestContext, send: Callable[[Any], None]
    ) -> Any:
        """
        Open a channel to the target; C{send(message)} delivers to the client (see
        L{IResource.connect}).
        """
        return self._refuse("connect")
