# -*- test-case-name: tests.components.test_builtin -*-
"""
The plugins every application can use without installing anything: C{rest},
C{graphqlSchema}, C{pyResource}, C{static} and C{dataLoader}.

They use only L{IApplicationScope}, the same interface a third-party plugin gets.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import os
import re
import sys
from typing import Any

import yaml
from twisted.web import static
from zope.interface import implementer

from harper.components.options import as_mapping, check_keys
from harper.errors import ComponentError, HarperError
from harper.interfaces import IApplicationScope, IHarperPlugin
from harper.plugins.graphql import GraphQLPlugin
from harper.plugins.klein_routes import KleinRoutesPlugin
from harper.plugins.load_env import LoadEnvPlugin
from harper.plugins.roles import RolesPlugin
from harper.plugins.wsgi import WSGIPlugin
from harper.resources.base import Resource
from harper.resources.context import RequestContext
from harper.resources.target import RequestTarget

_FILES = (str, list)


class _Plugin:
    """
    Common option handling: C{options} may be C{true} or a mapping of known keys.
    """

    name = ""
    known: dict[str, Any] = {}

    def check(self, options: Any) -> list[str]:
        if options is False:
            return []
        mapping, problems = as_mapping(options, self.name)
        return problems + check_keys(mapping, self.name, self.known)

    def options(self, options: Any) -> dict[str, Any]:
        mapping, _ = as_mapping(options, self.name)
        return mapping


@implementer(IHarperPlugin)
class RestPlugin(_Plugin):
    """
    C{rest}: serve the application's exported tables and resources over HTTP.
    """

    name = "rest"
    known = {"lastModified": bool, "webSocket": bool}

    def handle_application(self, application: IApplicationScope, options: Any) -> None:
        if options is not False:
            application.enable_rest(self.options(options))


@implementer(IHarperPlugin)
class GraphQLSchemaPlugin(_Plugin):
    """
    C{graphqlSchema}: tables from GraphQL SDL files (C{files}, default C{*.graphql}).
    """

    name = "graphqlSchema"
    known = {"files": _FILES}

    def handle_application(self, application: IApplicationScope, options: Any) -> None:
        if options is False:
            return
        pattern = self.options(options).get("files", "*.graphql")
        for path in application.files(pattern):
            application.add_schema(path.path, path.getContent().decode("utf-8"))


def _import_module(path: str, application: IApplicationScope) -> Any:
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.relpath(path, application.path.path))[0])
    # The folder's full path keeps modules of same-named applications apart in sys.modules.
    prefix = hashlib.sha1(application.path.path.encode("utf-8")).hexdigest()[:12]
    name = f"harper_app_{prefix}_{stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        line = ""
        tb = error.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == path:
                line = f", line {tb.tb_lineno}"
            tb = tb.tb_next
        if isinstance(error, SyntaxError) and error.lineno:
            line = f", line {error.lineno}"
        raise ComponentError([f"{path}{line}: importing the module raised {type(error).__name__}: {error}"]) from error
    return module


def _exported_classes(module: Any) -> list[type]:
    names = getattr(module, "__all__", None)
    candidates = [getattr(module, name) for name in names] if names is not None else [
        value for name, value in vars(module).items() if not name.startswith("_")
    ]
    return [
        value
        for value in candidates
        if inspect.isclass(value)
        and issubclass(value, Resource)
        and value.__module__ == module.__name__
    ]


@implementer(IHarperPlugin)
class PyResourcePlugin(_Plugin):
    """
    C{pyResource}: Python modules whose L{Resource} subclasses are served at their names
    (or their C{export_name}). A module-level C{setup(tables)} function runs at start, for
    example to call C{tables.X.sourced_from(...)}.
    """

    name = "pyResource"
    known = {"files": _FILES}

    def handle_application(self, application: IApplicationScope, options: Any) -> None:
        if options is False:
            return
        for path in application.files(self.options(options).get("files", "resources.py")):
            module = _import_module(path.path, application)
            for cls in _exported_classes(module):
                name = cls.export_name if cls.export_name is not None else cls.__name__
                application.export_resource(name, cls())
            setup = getattr(module, "setup", None)
            if callable(setup):
                application.on_start(lambda runtime, setup=setup: setup(runtime.tables))


class _Files(static.File):
    """
    Static files without directory listings (a folder without an index is 404).
    """

    def directoryListing(self) -> Any:
        return self.childNotFound


def _base_folder(pattern: str) -> str:
    parts = []
    for part in pattern.split("/"):
        if any(char in part for char in "*?["):
            break
        parts.append(part)
    return "/".join(parts)


@implementer(IHarperPlugin)
class StaticPlugin(_Plugin):
    """
    C{static}: serve files (C{files}, default C{web/**}) at C{urlPath}; C{index} (default
    true) serves C{index.html} for folders.
    """

    name = "static"
    known = {"files": str, "urlPath": str, "index": bool}

    def check(self, options: Any) -> list[str]:
        problems = super().check(options)
        files = self.options(options).get("files") if isinstance(options, dict) else None
        if isinstance(files, str) and (files.startswith("/") or ".." in files.split("/")):
            problems.append(f"static.files: {files!r} must stay inside the application folder")
        return problems

    def handle_application(self, application: IApplicationScope, options: Any) -> None:
        if options is False:
            return
        settings = self.options(options)
        folder = application.path.preauthChild(_base_folder(settings.get("files", "web/**")))
        if not folder.isdir():
            return
        resource = _Files(folder.path)
        if not settings.get("index", True):
            resource.indexNames = []
        application.add_http_resource(settings.get("urlPath", ""), resource)


def _read_records(path: str) -> Any:
    with open(path, "rb") as stream:
        if path.endswith(".json"):
            return json.load(stream)
        return yaml.safe_load(stream)


@implementer(IHarperPlugin)
class DataLoaderPlugin(_Plugin):
    """
    C{dataLoader}: seed records from JSON or YAML files (C{{table, database?, records}}) on
    start; records whose key already exists are left as they are.
    """

    name = "dataLoader"
    known = {"files": _FILES}

    def handle_application(self, application: IApplicationScope, options: Any) -> None:
        if options is False:
            return
        for path in application.files(self.options(options).get("files", "data/*")):
            try:
                document = _read_records(path.path)
            except (OSError, ValueError, yaml.YAMLError) as error:
                raise ComponentError([f"{path.path}: cannot read seed data: {error}"]) from error
            if not isinstance(document, dict) or not isinstance(document.get("table"), str) \
                    or not isinstance(document.get("records"), list):
                raise ComponentError([f"{path.path}: seed data needs 'table' and a list of 'records'"])
            application.on_start(lambda runtime, p=path.path, d=document: _seed(runtime, p, d))


def _seed(runtime: Any, source: str, document: dict) -> None:
    database = document.get("database", "data")
    try:
        table = runtime.databases.namespace(database)[document["table"]]
    except KeyError:
        raise ComponentError([f"{source}: no table {database}.{document['table']}"]) from None

    def load(txn: Any) -> None:
        context = RequestContext(transaction=txn, tables=runtime.databases)
        key_name = table.primary_key
        for record in document["records"]:
            key = record.get(key_name) if isinstance(record, dict) else None
            if key is None:
                raise ComponentError([f"{source}: every seed record needs its {key_name}, so that it is loaded once"])
            if table.resource.table.get(txn, key) is not None:
                continue
            table.resource.post(RequestTarget.collection(), record, context)

    try:
        runtime.runner.run_blocking(load)
    except HarperError as error:
        raise ComponentError([f"{source}: {error.message}"]) from error


BUILTIN_PLUGINS = (
    RestPlugin(),
    GraphQLSchemaPlugin(),
    PyResourcePlugin(),
    StaticPlugin(),
    DataLoaderPlugin(),
    GraphQLPlugin(),
    WSGIPlugin(),
    KleinRoutesPlugin(),
    LoadEnvPlugin(),
    RolesPlugin(),
)

#: The plugins an application folder without config.yaml uses, as in Harper.
DEFAULT_APPLICATION_CONFIG = {
    "rest": True,
    "graphqlSchema": {"files": "*.graphql"},
    "pyResource": {"files": "resources.py"},
    "static": {"files": "web/**"},
}
