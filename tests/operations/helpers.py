"""
A started runtime with the operations API on a loopback port, and a client for it.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any, Optional

import attr
import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from harper.components.application import Application
from harper.components.config import config_from_string
from harper.components.lifecycle import Applications
from harper.components.loader import discover_plugins
from harper.components.runtime import ApplicationTables, Runtime
from harper.http.site import make_site
from harper.operations.api import OperationsAPI, default_operations
from harper.operations.scope import OperationScope
from harper.schema.sdl import parse_schema
from tests.auth.helpers import fast_passwords

SCHEMA = """
type Breed @table @export {
  id: Int @primaryKey
  name: String! @indexed
}
type Dog @table @export {
  id: Int @primaryKey
  name: String! @indexed
  breedId: Int @indexed
  breed: Breed @relationship(from: "breedId")
  age: Int
  owner: String
}
"""

ADMIN = ("admin", "admin-password")


def basic(username: str, password: str) -> str:
    """
    The C{Authorization} header value of Basic credentials.
    """
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class Answer:
    """
    A decoded response: C{status}, C{headers} and C{body} (the decoded JSON).
    """

    def __init__(self, status: int, headers: Any, body: Any) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"<Answer {self.status} {self.body!r}>"


class OperationsCase(TestCase):
    """
    A runtime over the Breed/Dog schema on FileStorage, with a super user C{admin}, and the
    operations API listening on a loopback port chosen by the system.

    :ivar runtime: the started runtime.
    :ivar url: the API's URL.
    :ivar config_file: the file the configuration was read from.
    """

    config_text = "storage: {threadPoolSize: 2}\n"

    def setUp(self) -> Deferred:
        # The configuration comes from a file under the root, which set_configuration changes.
        root = os.path.abspath(self.mktemp())
        os.makedirs(root)
        self.config_file = os.path.join(root, "harper.yaml")
        with open(self.config_file, "w", encoding="utf-8") as stream:
            stream.write(self.config_text)
        config = config_from_string(self.config_text, self.config_file, root=root, environ={})
        # A real folder holding the schema, so that reloading the application (restart) finds it.
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        source = os.path.join(folder, "kennel.graphql")
        with open(source, "w", encoding="utf-8") as stream:
            stream.write(SCHEMA)
        planned = [ApplicationTables(Application(folder, config), parse_schema([(source, SCHEMA)]))]
        self.runtime = Runtime(config, planned, reactor)
        self.runtime.start()
        self.addCleanup(self.runtime.stop)
        self.access = self.runtime.access
        self.access.users.passwords = fast_passwords()
        applications = Applications(self.runtime, discover_plugins(()))
        scope = attr.evolve(OperationScope.of_runtime(self.runtime, reactor), applications=applications)
        api = OperationsAPI(scope, default_operations(), 1 << 20)
        port = reactor.listenTCP(0, make_site(api.resource()), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.url = f"http://127.0.0.1:{port.getHost().port}/"
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        return self.access.users.add_user(*ADMIN, "super_user")

    async def post(
        self,
        body: Any,
        authorization: Optional[str] = basic(*ADMIN),
        raw: Optional[bytes] = None,
        method: str = "POST",
        path: str = "",
        content_type: str = "application/json",
    ) -> Answer:
        """
        Send C{body} (as JSON, or C{raw} bytes) and decode the JSON answer.
        """
        headers = {"Content-Type": [content_type]}
        if authorization is not None:
            headers["Authorization"] = [authorization]
        data = raw if raw is not None else json.dumps(body).encode()
        response = await treq.request(method, self.url + path, data=data, headers=headers, pool=self.pool)
        content = await treq.content(response)
        return Answer(response.code, response.headers, json.loads(content) if content else None)

    async def ok(self, body: Any, authorization: Optional[str] = basic(*ADMIN)) -> Any:
        """
        Send C{body}, check the answer is 200 and return its JSON.
        """
        answer = await self.post(body, authorization)
        self.assertEqual(answer.status, 200, answer.body)
        return answer.body

    async def refused(self, body: Any, status: int, authorization: Optional[str] = basic(*ADMIN)) -> str:
        """
        Send C{body}, check the answer has C{status} and return its error message.
        """
        answer = await self.post(body, authorization)
        self.assertEqual(answer.status, status, answer.body)
        return answer.body["error"]

    async def add_reader(self, username: str = "reader", password: str = "reader-password") -> str:
        """
        Add a role that may only read Dog and a user holding it; return its Basic header.
        """
        permission = {"data": {"tables": {"Dog": {"read": True, "insert": False, "update": False, "delete": False}}}}
        await self.access.users.add_role("dog_reader", permission)
        await self.access.users.add_user(username, password, "dog_reader")
        return basic(username, password)
