# -*- test-case-name: tests.plugins.test_wsgi -*-
"""
The C{wsgi} plugin: C{wsgi: {module: app.py, callable: app, urlPath: web, threads: 10}}
(these are the defaults)
serves a WSGI application (Flask, Django, ...) of the application folder at C{urlPath}
through twisted.web's WSGI container, on a thread pool of at most C{threads} threads.

Inside a request, the WSGI application reaches harper through the WSGI environment:

 - C{environ["harper.tables"]} is the tables namespace: each call (C{tables.Dog.get("rex")},
   C{tables.Dog.search(query)}, C{tables.Dog.put(...)}) runs in its own transaction and
   returns its result (it blocks the request's thread, never the reactor);
 - C{environ["harper.transaction"](work)} runs C{work(context)} in one transaction and
   returns its result: C{context.tables.Dog.get("rex", context)} joins that transaction.

L{tables} and L{transaction} read them from an environment.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.python.threadpool import ThreadPool
from twisted.web.iweb import IRequest
from twisted.web.wsgi import WSGIResource
from zope.interface import implementer

from harper.errors import ComponentError
from harper.interfaces import IApplicationScope, IHarperPlugin
from harper.plugins.base import OptionsPlugin, import_module
from harper.plugins.web import StartedResource
from harper.resources.context import RequestContext

TABLES_KEY = "harper.tables"
TRANSACTION_KEY = "harper.transaction"


def tables(environ: dict) -> Any:
    """
    The tables namespace of a WSGI request (C{tables(environ).Dog.get("rex")}).
    """
    return environ[TABLES_KEY]


def transaction(environ: dict, work: Callable[[RequestContext], Any]) -> Any:
    """
    Run C{work(context)} in one transaction for a WSGI request; return its result.
    """
    return environ[TRANSACTION_KEY](work)


class WSGIMount(StartedResource):
    """
    A WSGI application served on its own bounded thread pool once the runtime starts.

    :param application: the WSGI callable.
    :param threads: the most requests served at once.
    :param name: names the pool's threads.
    """

    def __init__(self, application: Callable, threads: int, name: str) -> None:
        super().__init__()
        self._application = application
        self._threads = threads
        self._name = name
        self._pool: Optional[ThreadPool] = None
        self._resource: Optional[WSGIResource] = None

    def start(self, runtime: Any) -> None:
        """
        Start the thread pool (stopped by L{stop}, when the application stops) and serve.
        """
        name = f"harper-wsgi-{self._name}"
        self._pool = ThreadPool(minthreads=0, maxthreads=self._threads, name=name)
        self._pool.start()
        self._resource = WSGIResource(runtime.reactor, self._pool, self._with_harper(runtime))
        super().start(runtime)

    def stop(self) -> None:
        """
        Stop serving and stop the thread pool once the requests it serves have finished.

        The pool is stopped from the reactor's thread pool: joining its threads on the reactor
        thread would wait forever for a request that is writing its response through the
        reactor.
        """
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        self.runtime.reactor.callInThread(pool.stop)
        self.runtime = None

    def _with_harper(self, runtime: Any) -> Callable:
        def run(work: Callable[[RequestContext], Any]) -> Any:
            return runtime.runner.run_blocking(
                lambda txn: work(RequestContext(transaction=txn, tables=runtime.databases))
            )

        def application(environ: dict, start_response: Callable) -> Any:
            environ[TABLES_KEY] = runtime.databases
            environ[TRANSACTION_KEY] = run
            return self._application(environ, start_response)

        return application

    def serve(self, request: IRequest) -> Any:
        return self._resource.render(request)


@implementer(IHarperPlugin)
class WSGIPlugin(OptionsPlugin):
    """
    C{wsgi}: serve the WSGI callable C{callable} (default C{app}) of the Python file
    C{module} (default C{app.py}) at C{urlPath} (default C{web}, under the application's
    URL path), C{threads} (default 10) requests at a time.
    """

    name = "wsgi"
    known = {"module": str, "callable": str, "urlPath": str, "threads": int}
    mounted = True

    def check(self, options: Any) -> list[str]:
        problems = super().check(options)
        threads = options.get("threads", 1) if isinstance(options, dict) else 1
        if isinstance(threads, int) and threads < 1:
            problems.append(f"wsgi.threads: must be at least 1, got {threads}")
        return problems

    def handle_application(self, application: IApplicationScope, options: Any) -> None:
        if options is False:
            return
        settings = self.options(options)
        module_file = settings.get("module", "app.py")
        found = application.files(module_file)
        if len(found) != 1:
            folder = application.path.path
            raise ComponentError([f"wsgi.module: {module_file!r} is not a file of {folder}"])
        module = import_module(found[0].path, application)
        name = settings.get("callable", "app")
        wsgi_app = getattr(module, name, None)
        if not callable(wsgi_app):
            problem = f"{found[0].path}: wsgi.callable: the module has no callable {name!r}"
            raise ComponentError([problem])
        mount = WSGIMount(wsgi_app, settings.get("threads", 10), application.name)
        application.add_http_resource(settings.get("urlPath", "web"), mount)
        application.on_start(mount.start)
        application.on_stop(mount.stop)
