# -*- test-case-name: tests.http.test_openapi -*-
"""
The OpenAPI 3 description of the REST interface (C{GET /openapi}), generated from the exported
tables (a schema per table, collection and record paths) and custom resources (the methods
they implement).
"""

from __future__ import annotations

from typing import Any, Iterable

from harper.resources.table import TableResource

_TYPES = {
    "Int": {"type": "integer"},
    "Long": {"type": "integer", "format": "int64"},
    "BigInt": {"type": "integer"},
    "Float": {"type": "number"},
    "Boolean": {"type": "boolean"},
    "String": {"type": "string"},
    "ID": {"type": "string"},
    "Date": {"type": "string", "format": "date-time"},
    "Bytes": {"type": "string", "format": "byte"},
}
_ERROR = {"description": "an error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_QUERY = {
    "name": "query",
    "in": "query",
    "required": False,
    "description": "conditions, select(), sort() and limit() in Harper's URL query language",
    "schema": {"type": "string"},
}
_OPERATIONS = {"GET": "get", "HEAD": "head", "PUT": "put", "POST": "post", "PATCH": "patch", "DELETE": "delete"}


def _attribute_schema(attribute: Any) -> dict[str, Any]:
    type_ref = attribute.type
    if attribute.relationship is not None:
        return {"description": f"related {attribute.relationship.target} record(s), when selected", "readOnly": True}
    if type_ref.is_list:
        inner = type_ref.item
        item: dict[str, Any] = dict(_TYPES.get(inner.base_name if inner else "", {}))
    else:
        item = dict(_TYPES.get(type_ref.base_name, {}))
    schema = {"type": "array", "items": item} if type_ref.is_list else item
    if attribute.computed:
        schema["readOnly"] = True
    return schema


def _record_schema(resource: TableResource) -> dict[str, Any]:
    definition = resource.definition
    return {
        "type": "object",
        "properties": {attribute.name: _attribute_schema(attribute) for attribute in definition.attributes},
        "required": [a.name for a in definition.attributes if not a.type.nullable and not a.primary_key],
    }


def _content(schema: dict[str, Any]) -> dict[str, Any]:
    return {media: {"schema": schema} for media in ("application/json", "application/cbor", "application/x-msgpack")}


def _table_paths(path: str, resource: TableResource) -> dict[str, Any]:
    name = resource.definition.type_name
    record = {"$ref": f"#/components/schemas/{name}"}
    key = resource.definition.primary_key
    id_parameter = {"name": "id", "in": "path", "required": True, "schema": _TYPES.get(key.type.base_name, {})}
    ok = {"description": "the record", "content": _content(record)}
    done = {"description": "done"}
    return {
        f"/{path}/": {
            "get": {"summary": f"query {name} records", "parameters": [_QUERY],
                    "responses": {"200": {"description": "the matching records",
                                          "content": _content({"type": "array", "items": record})},
                                  "400": _ERROR}},
            "post": {"summary": f"create a {name} record", "requestBody": {"content": _content(record)},
                     "responses": {"201": ok, "400": _ERROR}},
            "delete": {"summary": f"delete the {name} records matching the query", "parameters": [_QUERY],
                       "responses": {"204": done, "400": _ERROR}},
        },
        f"/{path}/{{id}}": {
            "parameters": [id_parameter],
            "get": {"summary": f"one {name} record", "responses": {"200": ok, "304": {"description": "not modified"},
                                                                  "404": _ERROR}},
            "put": {"summary": f"replace a {name} record", "requestBody": {"content": _content(record)},
                    "responses": {"204": done, "400": _ERROR}},
            "patch": {"summary": f"change attributes of a {name} record", "requestBody": {"content": _content(record)},
                      "responses": {"204": done, "400": _ERROR, "404": _ERROR}},
            "delete": {"summary": f"delete a {name} record", "responses": {"204": done, "404": _ERROR}},
        },
    }


def _resource_paths(path: str, resource: Any) -> dict[str, Any]:
    operations = {
        _OPERATIONS[method]: {"summary": f"{method} {type(resource).__name__}", "responses": {"200": {"description": "the answer"}}}
        for method in resource.allowed_methods()
        if method in _OPERATIONS
    }
    return {f"/{path}": operations, f"/{path}/{{id}}": dict(operations)}


def document(exports: Iterable[tuple[str, Any]], title: str = "harper") -> dict[str, Any]:
    """
    The OpenAPI 3.0 document of the exported C{(path, resource)} pairs.
    """
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {
        "Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
    }
    for path, resource in exports:
        if isinstance(resource, TableResource):
            paths.update(_table_paths(path, resource))
            schemas[resource.definition.type_name] = _record_schema(resource)
        else:
            paths.update(_resource_paths(path, resource))
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
