# -*- test-case-name: tests.operations.test_api -*-
"""
The operations API over HTTP: C{POST /} with a JSON object naming an C{operation}
(CBOR and MessagePack bodies are decoded too; a form content type is read as JSON, since that
is what C{curl -d} sends).

Every request is authenticated with the shared authenticator (Basic or a Bearer operation
token) before its operation runs, except for the operations registered as public (the token
operations), which check credentials by themselves. Answers are JSON; errors are
C{{"error": message}} with the status L{harper.http.errors.status_for} gives, and 429 with
C{Retry-After} for an address refused after too many failed logins.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from klein import Klein
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger
from twisted.web.iweb import IRequest

from harper.auth.sessions import credentials
from harper.auth.throttle import TooManyFailures
from harper.errors import HarperError, InvalidInput, MethodNotAllowed, NotFound, Unauthorized
from harper.http.encoding import JSON, decode_body, encode_json
from harper.http.errors import PayloadTooLarge, status_for
from harper.operations import (
    analytics_ops,
    audit_ops,
    cluster_ops,
    component_ops,
    csv_ops,
    data_ops,
    jobs,
    log_ops,
    schema_ops,
    search_ops,
    sql_ops,
    structure_ops,
    system_ops,
    user_ops,
)
from harper.operations.fields import Fields
from harper.operations.registry import OperationCall, OperationRegistry
from harper.operations.scope import OperationScope

_FORM = "application/x-www-form-urlencoded"


def default_operations() -> OperationRegistry:
    """
    Every operation harper implements.
    """
    modules = (
        schema_ops, structure_ops, data_ops, search_ops, sql_ops, csv_ops, jobs, user_ops, system_ops,
        component_ops, audit_ops, cluster_ops, log_ops, analytics_ops,
    )
    return OperationRegistry.combined(module.operations for module in modules)


def _body_type(content_type: Optional[str]) -> Optional[str]:
    """
    The content type to decode a body as: a form type means JSON (what C{curl -d} sends).
    """
    if content_type and content_type.split(";", 1)[0].strip().lower() == _FORM:
        return None
    return content_type


def _client_host(request: IRequest) -> str:
    return getattr(request.getClientAddress(), "host", "")


class OperationsAPI:
    """
    The HTTP face of the operations.

    :param scope: what operations act on.
    :param operations: the operations served.
    :param max_body_size: the largest request body accepted, in bytes.
    """

    app = Klein()
    _log = Logger()

    def __init__(
        self, scope: OperationScope, operations: OperationRegistry, max_body_size: int
    ) -> None:
        self._scope = scope
        self._operations = operations
        self._max_body_size = max_body_size

    def resource(self) -> Any:
        """
        The twisted.web resource serving the API.
        """
        return self.app.resource()

    @app.route("/", branch=True, methods=None)
    def serve(self, request: IRequest) -> Deferred[bytes]:
        """
        Run the operation a request asks for and answer with its JSON result.
        """
        d = maybeDeferred(lambda: Deferred.fromCoroutine(self._serve(request)))
        return d.addErrback(self._failed, request)

    async def _serve(self, request: IRequest) -> bytes:
        if request.path != b"/":
            raise NotFound("the operations API answers at / only")
        if request.method != b"POST":
            raise MethodNotAllowed("send operations with POST", allowed=("POST",))
        fields = Fields(self._body(request))
        operation = self._operations.get(fields.text("operation"))
        authorization = credentials(request.getHeader("authorization"), request.getHeader("cookie"))
        call = OperationCall(
            fields, None, self._scope, authorization, _client_host(request), secure=request.isSecure()
        )
        if not operation.public:
            call.user = await self._authenticated(authorization, call.client_address)
        result = await maybeDeferred(operation.function, call)
        for name, value in call.response_headers.items():
            request.setHeader(name, value)
        request.setHeader("Content-Type", JSON)
        return encode_json(result)

    async def _authenticated(self, authorization: Optional[str], client_address: str) -> Any:
        user = await self._scope.access.authenticator.authenticate(authorization, client_address)
        if user is None:
            raise Unauthorized(
                "authentication is required: send Basic credentials or a Bearer operation token"
            )
        return user

    def _body(self, request: IRequest) -> Mapping[str, Any]:
        content = request.content
        content.seek(0, 2)
        if content.tell() > self._max_body_size:
            raise PayloadTooLarge(f"the request body is larger than {self._max_body_size} bytes")
        content.seek(0)
        body = decode_body(_body_type(request.getHeader("content-type")), content.read())
        if not isinstance(body, dict):
            raise InvalidInput(
                'the request body must be a JSON object such as {"operation": "describe_all"}'
            )
        return body

    def _failed(self, failure: Any, request: IRequest) -> bytes:
        request.setHeader("Content-Type", JSON)
        if not failure.check(HarperError):
            self._log.failure("operation request failed", failure)
            request.setResponseCode(500)
            return encode_json({"error": "internal error; see the server log"})
        error = failure.value
        status = status_for(error)
        if isinstance(error, TooManyFailures):
            status = 429
            request.setHeader("Retry-After", str(int(error.retry_after) + 1))
        elif isinstance(error, Unauthorized):
            request.setHeader("WWW-Authenticate", 'Basic realm="harper", charset="UTF-8"')
        elif isinstance(error, MethodNotAllowed):
            request.setHeader("Allow", ", ".join(error.allowed))
        request.setResponseCode(status)
        return encode_json({"error": error.message})
