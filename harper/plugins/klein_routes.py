# -*- test-case-name: tests.plugins.test_klein_routes -*-
"""
The C{kleinRoutes} plugin: C{kleinRoutes: {files: routes.py, urlPath: api}} mounts the
L{klein.Klein} application C{app} of each module at C{urlPath}, our analogue of Harper's
C{fastifyRoutes}.

Every request is authenticated before it reaches a route (bad credentials are answered 401;
no credentials leave the user C{None}), and a route gets its L{RouteContext} with
C{route_context(request)}: the user, the tables, and C{run(work)} for a transaction.
"""

from __future__ import annotations

from typing import Any, Callable

import attr
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import server
from twisted.web.iweb import IRequest
from zope.interface import implementer

from harper.errors import ComponentError, HarperError
from harper.interfaces import IApplicationScope, IHarperPlugin
from harper.plugins.base import OptionsPlugin, import_module
from harper.plugins.web import StartedResource, authenticate, send_error, send_json
from harper.resources.context import RequestContext

_CONTEXT = "harper_route_context"


@attr.frozen
class RouteContext:
    """
    What a Klein route of an application may use.

    :ivar user: the authenticated user, C{None} when the request had no credentials.
    :ivar tables: the tables namespace; from a route (the reactor thread) each call returns
        a Deferred.
    """

    user: Any
    tables: Any
    _runtime: Any

    def run(self, work: Callable[[RequestContext], Any]) -> Deferred:
        """
        Run C{work(context)} in one transaction on a worker thread, as this user; fire with
        its result after the commit.
        """
        runtime = self._runtime
        return runtime.runner.run(
            lambda txn: work(
                RequestContext(user=self.user, transaction=txn, tables=runtime.databases)
            )
        )


def route_context(request: IRequest) -> RouteContext:
    """
    The L{RouteContext} of a request served by a C{kleinRoutes} module.
    """
    return getattr(request, _CONTEXT)


class KleinMount(StartedResource):
    """
    A Klein application behind harper's authentication.

    :param app: the L{klein.Klein} application.
    """

    _log = Logger()

    def __init__(self, app: Any) -> None:
        super().__init__()
        self._resource = app.resource()

    def serve(self, request: IRequest) -> Any:
        d = authenticate(self.runtime, request)
        d.addCallback(self._route, request)
        d.addErrback(self._refused, request)
        return server.NOT_DONE_YET

    def _route(self, user: Any, request: IRequest) -> None:
        setattr(request, _CONTEXT, RouteContext(user, self.runtime.databases, self.runtime))
        body = self._resource.render(request)
        if body is not server.NOT_DONE_YET:
            request.write(body)
            request.finish()

    def _refused(self, failure: Failure, request: IRequest) -> None:
        if failure.check(HarperError):
            send_error(request, failure.value)
            return
        self._log.failure("{uri} failed", failure, uri=request.uri)
        send_json(request, 500, {"error": "internal error; see the server log"})


@implementer(IHarperPlugin)
class KleinRoutesPlugin(OptionsPlugin):
    """
    C{kleinRoutes}: mount the Klein application C{app} of the Python file C{files} (default
    C{routes.py}) at C{urlPath} (default C{api}; not the root, which belongs to REST).
    """

    name = "kleinRoutes"
    known = {"files": str, "urlPath": str}
    mounted = True

    def handle_application(self, application: IApplicationScope, options: Any) -> None:
        if options is False:
            return
        settings = self.options(options)
        pattern = settings.get("files", "routes.py")
        found = application.files(pattern)
        if len(found) != 1:
            raise ComponentError([f"kleinRoutes.files: {pattern!r} matches {len(found)} files; "
                                  "give one module per urlPath"])
        module = import_module(found[0].path, application)
        app = getattr(module, "app", None)
        if not callable(getattr(app, "resource", None)):
            raise ComponentError(
                [f"{found[0].path}: kleinRoutes: the module has no Klein application 'app'"]
            )
        mount = KleinMount(app)
        application.add_http_resource(settings.get("urlPath", "api"), mount)
        application.on_start(mount.start)
