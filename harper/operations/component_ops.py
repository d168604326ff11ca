# -*- test-case-name: tests.operations.test_component_ops -*-
"""
Components (applications) while the daemon serves: C{get_components},
C{get_component_file}, C{set_component_file}, C{add_component}, C{deploy_component},
C{drop_component} and C{restart} (alias C{restart_service}); super users only.

Components are the folders under C{<rootPath>/components}; a change is loaded at once, and
undone when the application does not load (L{harper.components.folders}).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from harper.auth.permissions import require_super_user
from harper.components.folders import ComponentFolders
from harper.errors import InvalidInput
from harper.operations.registry import OperationCall, OperationRegistry

operations = OperationRegistry()

#: The encodings C{get_component_file} and C{set_component_file} take.
ENCODINGS = ("utf8", "utf-8", "base64")


def _folders(call: OperationCall, action: str) -> ComponentFolders:
    require_super_user(call.user, action)
    return ComponentFolders(call.scope.applications)


def _encoding(call: OperationCall) -> str:
    encoding = call.fields.text("encoding", "utf8").lower()
    if encoding not in ENCODINGS:
        raise InvalidInput(f"encoding: {encoding!r} is not one of {', '.join(ENCODINGS)}")
    return encoding


def _base64(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidInput(f"{field}: not valid base64: {error}") from error


@operations.register("get_components")
def get_components(call: OperationCall) -> dict[str, Any]:
    """
    Every component folder with its files, nested.
    """
    return _folders(call, "list components").tree()


@operations.register("get_component_file")
def get_component_file(call: OperationCall) -> dict[str, Any]:
    """
    The content of one file of a component (C{encoding} C{utf8} or C{base64}).
    """
    folders = _folders(call, "read component files")
    project, path = call.fields.text("project"), call.fields.text("file")
    encoding = _encoding(call)
    content = folders.read(project, path)
    if encoding == "base64":
        return {"message": base64.b64encode(content).decode("ascii")}
    try:
        return {"message": content.decode("utf-8")}
    except UnicodeDecodeError:
        raise InvalidInput(f"file: {path!r} is not UTF-8 text; ask with encoding base64") from None


@operations.register("set_component_file")
def set_component_file(call: OperationCall) -> dict[str, Any]:
    """
    Create or replace one file of a component and reload it.
    """
    folders = _folders(call, "change component files")
    fields = call.fields
    project, path = fields.text("project"), fields.text("file")
    encoding = _encoding(call)
    payload = fields.value("payload")
    if not isinstance(payload, str):
        raise InvalidInput("payload: expected a string")
    content = _base64(payload, "payload") if encoding == "base64" else payload.encode("utf-8")
    folders.write(project, path, content)
    return {"message": f"Successfully set component: {path}"}


@operations.register("add_component")
def add_component(call: OperationCall) -> dict[str, Any]:
    """
    Create a component from the template (C{config.yaml} and an empty C{schema.graphql}).
    """
    folders = _folders(call, "add components")
    project = call.fields.text("project")
    folders.add(project)
    return {"message": f"Successfully added project: {project}"}


@operations.register("deploy_component")
def deploy_component(call: OperationCall) -> dict[str, Any]:
    """
    Replace (or create) a component with a base64 tar C{payload} or a local C{package}
    (a folder or tar file of this server) and load it.
    """
    folders = _folders(call, "deploy components")
    fields = call.fields
    project = fields.text("project")
    if fields.has("payload") == fields.has("package"):
        raise InvalidInput("payload: required (a base64 tar archive), unless package names a local folder")
    if fields.has("payload"):
        folders.deploy(project, archive=_base64(fields.text("payload"), "payload"))
    else:
        folders.deploy(project, package=fields.text("package"))
    return {"message": f"Successfully deployed: {project}"}


@operations.register("drop_component")
def drop_component(call: OperationCall) -> dict[str, Any]:
    """
    Delete one file of a component (and reload it), or the whole component.
    """
    folders = _folders(call, "drop components")
    project, path = call.fields.text("project"), call.fields.text("file", None)
    folders.delete(project, path)
    return {"message": f"Successfully dropped: {project if path is None else f'{project}/{path}'}"}


@operations.register("restart", "restart_service")
def restart(call: OperationCall) -> dict[str, Any]:
    """
    Reload every application in this process (and load new component folders); an
    application that fails keeps its previous version and is reported.
    """
    require_super_user(call.user, "restart")
    applications = call.scope.applications
    problems = applications.reload_all()
    if problems:
        raise InvalidInput("some applications were not reloaded (their previous versions keep serving): "
                           + "; ".join(problems))
    return {"message": f"Restarted {len(applications.runtime.applications)} applications"}
