# -*- test-case-name: tests.plugins.test_graphql -*-
"""
The C{graphql} plugin: a C{/graphql} endpoint (GET and POST, C{{query, variables,
operationName}}) over the application's exported tables, executed with graphql-core.

A request is authenticated like REST, parsed and validated on the reactor thread, then
executed in one transaction through the runtime's L{ResourceCaller}: each table field becomes
a L{Query} (its selection becomes the query's L{Select}, so relationships are resolved by the
same projector as REST) run by L{TableResource.search} through the caller's permission check
(the one every transport uses), and each related table the selection reaches needs C{read}
too.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

import orjson
from graphql import ExecutionResult, GraphQLError, execute, parse, validate
from graphql.language import FieldNode, FragmentSpreadNode, InlineFragmentNode
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import server
from twisted.web.iweb import IRequest
from zope.interface import implementer

from harper.auth import permissions
from harper.database.conditions import Select, SelectField
from harper.database.table import Table
from harper.errors import HarperError, InvalidInput
from harper.http.errors import PayloadTooLarge, status_for
from harper.interfaces import IApplicationScope, IHarperPlugin
from harper.plugins.base import OptionsPlugin
from harper.plugins.graphql_schema import SchemaBuilder, query_for
from harper.plugins.web import StartedResource, authenticate, send_json
from harper.resources.context import RequestContext
from harper.resources.target import RequestTarget

_INTERNAL = "internal error; see the server log"
#: The most tokens a query may have, and how deep its selection may follow relationships.
MAX_TOKENS = 5000
MAX_DEPTH = 8


def _fields(nodes: Iterable[Any], fragments: dict) -> Iterable[FieldNode]:
    """
    The field nodes of the selection sets of C{nodes}, through fragments.
    """
    for node in nodes:
        selection_set = node.selection_set
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                yield from _fields([selection], fragments)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
                yield from _fields([fragments[selection.name.value]], fragments)


def selection(nodes: Iterable[Any], fragments: dict, table: Table, related: Callable[[str], Table],
              check: Callable[[Table], None], depth: int = 0) -> Select:
    """
    The L{Select} of the GraphQL selection of C{nodes} on records of C{table}; relationship
    fields select the related records' fields, after C{check(related_table)}.

    :raises InvalidInput: when the selection follows more than L{MAX_DEPTH} relationships.
    """
    if depth > MAX_DEPTH:
        raise InvalidInput(f"the selection follows more than {MAX_DEPTH} relationships")
    by_name: dict[str, list[FieldNode]] = {}
    for field in _fields(nodes, fragments):
        if not field.name.value.startswith("__"):
            by_name.setdefault(field.name.value, []).append(field)
    chosen = []
    for name, field_nodes in by_name.items():
        attribute = table.definition.attribute(name)
        nested = None
        if attribute is not None and attribute.relationship is not None:
            target = related(attribute.relationship.target)
            check(target)
            nested = selection(field_nodes, fragments, target, related, check, depth + 1)
        chosen.append(SelectField(name, nested))
    return Select(tuple(chosen))


def _read_check(context: RequestContext) -> Callable[[Table], None]:
    def check(table: Table) -> None:
        permissions.check(context.user, "read", table.database, table.name)

    return check


def _formatted(error: GraphQLError) -> dict[str, Any]:
    formatted = dict(error.formatted)
    original = error.original_error
    if isinstance(original, HarperError):
        formatted["extensions"] = {"code": type(original).__name__, "status": status_for(original)}
    elif original is not None:
        formatted["message"] = _INTERNAL
    return formatted


class _Execution:
    """
    One GraphQL operation as a call for the L{ResourceCaller}: C{run(target, context)}
    executes it inside the call's transaction.
    """

    def __init__(
        self,
        schema: Any,
        document: Any,
        variables: Optional[dict],
        operation: Optional[str],
    ) -> None:
        self._schema = schema
        self._document = document
        self._variables = variables
        self._operation = operation

    def lane(self, method: str) -> str:
        """
        Operations run on the worker pool: one may read many tables and records, which must
        not hold up the reactor thread.
        """
        return "pool"

    def run(self, target: RequestTarget, context: RequestContext) -> ExecutionResult:
        """
        Execute the operation with C{context} (and its transaction) as the context value.
        """
        return execute(self._schema, self._document, variable_values=self._variables,
                       operation_name=self._operation, context_value=context)


class GraphQLResource(StartedResource):
    """
    The C{/graphql} endpoint of one application.

    :param application: the application whose exported tables are served.
    """

    _log = Logger()

    def __init__(self, application: IApplicationScope) -> None:
        super().__init__()
        self._application = application
        self.schema: Any = None

    def start(self, runtime: Any) -> None:
        """
        Build the schema over the application's exported tables, and serve.
        """
        resources = self._application.exported_tables(runtime)
        related = resources[0].related if resources else None
        self.schema = SchemaBuilder(related).schema(resources, self._resolve)
        super().start(runtime)

    def _resolve(self, resource: Any, root: Any, info: Any, **arguments: Any) -> list:
        context: RequestContext = info.context
        check = _read_check(context)
        select = selection(info.field_nodes, info.fragments, resource.table, resource.related, check)
        target = RequestTarget.collection(query_for(arguments, select))
        return self.runtime.caller.invoke("search", resource, target, context)

    def serve(self, request: IRequest) -> Any:
        try:
            query, variables, operation = self._request_parts(request)
            document = parse(query, max_tokens=MAX_TOKENS)
        except HarperError as error:
            send_json(request, status_for(error), {"errors": [{"message": error.message}]})
            return server.NOT_DONE_YET
        except GraphQLError as error:
            send_json(request, 400, {"errors": [error.formatted]})
            return server.NOT_DONE_YET
        problems = validate(self.schema, document)
        if problems:
            send_json(request, 400, {"errors": [problem.formatted for problem in problems]})
            return server.NOT_DONE_YET
        execution = _Execution(self.schema, document, variables, operation)
        d = authenticate(self.runtime, request)
        d.addCallback(self._execute, execution, request)
        d.addCallback(self._answer, request)
        d.addErrback(self._failed, request)
        return server.NOT_DONE_YET

    def _request_parts(self, request: IRequest) -> tuple[str, Optional[dict], Optional[str]]:
        if request.method == b"GET":
            document = {
                key.decode("utf-8", "replace"): values[-1].decode("utf-8", "replace")
                for key, values in request.args.items()
            }
        elif request.method == b"POST":
            document = self._post_body(request)
        else:
            raise InvalidInput("GraphQL requests are GET or POST")
        query, variables = document.get("query"), document.get("variables")
        operation = document.get("operationName")
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput("the request needs a 'query' with a GraphQL document")
        if isinstance(variables, str):
            variables = _json(variables, "variables")
        if variables is not None and not isinstance(variables, dict):
            raise InvalidInput("'variables' must be an object")
        if operation is not None and not isinstance(operation, str):
            raise InvalidInput("'operationName' must be text")
        return query, variables, operation or None

    def _post_body(self, request: IRequest) -> dict:
        limit = self.runtime.config.http.max_body_size
        body = request.content.read(limit + 1)
        if len(body) > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
        if (request.getHeader("content-type") or "").startswith("application/graphql"):
            return {"query": body.decode("utf-8", "replace")}
        document = _json(body, "the request body")
        if not isinstance(document, dict):
            raise InvalidInput("the request body must be a JSON object {query, variables, ...}")
        return document

    def _execute(self, user: Any, execution: _Execution, request: IRequest) -> Any:
        context = RequestContext(user=user, check_permission=True)
        return self.runtime.caller.call("run", execution, RequestTarget(), context)

    def _answer(self, result: ExecutionResult, request: IRequest) -> None:
        document: dict[str, Any] = {"data": result.data}
        if result.errors:
            for error in result.errors:
                original = error.original_error
                if original is not None and not isinstance(original, HarperError):
                    self._log.failure("GraphQL {path} failed", Failure(original), path=error.path)
            document["errors"] = [_formatted(error) for error in result.errors]
        send_json(request, 200 if result.data is not None else 400, document)

    def _failed(self, failure: Failure, request: IRequest) -> None:
        if failure.check(HarperError):
            error = failure.value
            send_json(request, status_for(error), {"errors": [{"message": error.message}]})
            return
        self._log.failure("GraphQL request failed", failure)
        send_json(request, 500, {"errors": [{"message": _INTERNAL}]})


def _json(text: Any, what: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise InvalidInput(f"{what} is not valid JSON: {error}") from None


@implementer(IHarperPlugin)
class GraphQLPlugin(OptionsPlugin):
    """
    C{graphql}: serve GraphQL queries over the application's exported tables at C{urlPath}
    (default C{graphql}) under the application's URL path. Off unless enabled.
    """

    name = "graphql"
    known = {"urlPath": str}

    def handle_application(self, application: IApplicationScope, options: Any) -> None:
        if options is False:
            return
        endpoint = GraphQLResource(application)
        application.add_http_resource(self.options(options).get("urlPath", "graphql"), endpoint)
        application.on_start(endpoint.start)
