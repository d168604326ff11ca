# -*- test-case-name: tests.plugins.test_graphql -*-
"""
What the web plugins share: a twisted.web resource that serves only once the runtime has
started, the authentication of a request with the runtime's authenticator, and JSON answers.
"""

from __future__ import annotations

from typing import Any, Optional

import orjson
from twisted.internet.defer import Deferred
from twisted.web import resource, server
from twisted.web.iweb import IRequest

from harper.auth.sessions import credentials
from harper.errors import HarperError
from harper.http.errors import status_for


def authenticate(runtime: Any, request: IRequest) -> Deferred:
    """
    The user of C{request} (C{None} without credentials), checked by the runtime's
    authenticator; fails with L{harper.errors.Unauthorized} for bad credentials.
    """
    address = request.getClientAddress()
    header = credentials(request.getHeader("authorization"), request.getHeader("cookie"))
    return runtime.access.authenticator.authenticate(header, getattr(address, "host", ""))


def send_json(request: IRequest, status: int, document: Any) -> None:
    """
    Finish C{request} with C{document} as a JSON body (unless the client went away).
    """
    if request.finished or request.channel is None:
        return
    body = orjson.dumps(document, default=str)
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json")
    request.setHeader(b"content-length", str(len(body)).encode("ascii"))
    request.write(body)
    request.finish()


def send_error(request: IRequest, error: HarperError) -> None:
    """
    Answer C{error} with its HTTP status and C{{"error": message}}, as REST does.
    """
    send_json(request, status_for(error), {"error": error.message})


class StartedResource(resource.Resource):
    """
    A leaf resource that answers 503 until L{start} gives it the runtime, then calls
    L{serve}.

    :ivar runtime: the started runtime, or C{None} before the start.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.runtime: Optional[Any] = None

    def start(self, runtime: Any) -> None:
        """
        Serve with C{runtime} from now on (an L{IApplicationScope.on_start} callback).
        """
        self.runtime = runtime

    def render(self, request: IRequest) -> Any:
        if self.runtime is None:
            send_json(request, 503, {"error": "the application is starting"})
            return server.NOT_DONE_YET
        return self.serve(request)

    def serve(self, request: IRequest) -> Any:
        """
        Answer C{request} once started (C{render}'s contract).
        """
        raise NotImplementedError
