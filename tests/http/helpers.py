"""
Fixtures for the REST tests: a started L{Runtime} on FileStorage in a temporary folder with the
kennel schema and a few custom resources, and a client that talks to the REST resource in
memory (L{treq.testing.RequestTraversalAgent}) or over a real loopback socket.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import attr
import orjson
import treq
from treq.testing import RequestTraversalAgent
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.internet.task import deferLater
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from harper.components.application import Application
from harper.components.config import config_from_string
from harper.components.runtime import ApplicationTables, Runtime
from harper.http.lane import LaneLimits, RestLane
from harper.http.rest import RestAPI
from harper.http.site import make_site
from harper.resources.base import Resource
from harper.schema.sdl import parse_schema

KENNEL_SCHEMA = """
type Breed @table @export {
  id: Int @primaryKey
  name: String! @indexed
  group: String
  dogs: [Dog] @relationship(to: "breedId")
}
type Owner @table @export {
  id: ID @primaryKey
  name: String! @indexed
  email: String
  dogs: [Dog] @relationship(to: "ownerId")
}
type Dog @table @export {
  id: ID @primaryKey
  name: String! @indexed
  breedId: Int @indexed
  breed: Breed @relationship(from: "breedId")
  ownerId: ID @indexed
  owner: Owner @relationship(from: "ownerId")
  age: Int
  weight: Float
  tags: [String] @indexed
  ageInDogYears: Int @computed(from: "age * 7")
}
type Note @table @export(name: "notes") @sealed {
  id: ID @primaryKey
  text: String!
}
"""


#: Configuration making loopback callers super users.
LOCAL_SUPER_USER = "authentication: {authorizeLocal: true}\n"


class Greeting(Resource):
    """
    A custom resource answering GET only.
    """

    def get(self, target, context):
        return {"hello": target.id or "world"}


class Teapot(Resource):
    """
    A custom resource that takes control of its answers.
    """

    def get(self, target, context):
        return {"status": 418, "headers": {"X-Brewed": "no"}, "data": {"error": "I am a teapot"}}

    def post(self, target, data, context):
        return {"status": 202, "headers": {}, "body": "queued"}


class Broken(Resource):
    """
    A custom resource with a bug.
    """

    def get(self, target, context):
        raise KeyError("secret internal detail")


def start_runtime(
    case: TestCase, schema: str = KENNEL_SCHEMA, threads: int = 2, authentication: str = LOCAL_SUPER_USER,
    **resources: Any,
) -> Runtime:
    """
    A started runtime over C{schema} on FileStorage in a temporary folder, with C{threads}
    database threads and C{resources} exported by name (plus the ones above); stopped when
    the test ends. By default loopback callers are super users (C{authorizeLocal}), so the
    tests that are not about authentication need no credentials.
    """
    config = config_from_string(
        f"storage: {{threadPoolSize: {threads}}}\n{authentication}",
        base_dir=".", root=case.mktemp(), environ={},
    )
    application = Application(".", config)
    for name, resource in {"Greeting": Greeting(), "Teapot": Teapot(), "Broken": Broken(), **resources}.items():
        application.export_resource(name, resource)
    runtime = Runtime(config, [ApplicationTables(application, parse_schema([("kennel.graphql", schema)]))], reactor)
    runtime.start()
    case.addCleanup(runtime.stop)
    return runtime


def rest_api(runtime: Runtime, **options: Any) -> RestAPI:
    """
    The REST interface of C{runtime} (streaming large collections unless C{reactor=None}),
    authenticating with the runtime's authenticator.
    """
    options.setdefault("reactor", reactor)
    options.setdefault("authenticate", runtime.access.authenticator.authenticate)
    return RestAPI(runtime.registry, runtime.caller, options.pop("max_body_size", 1 << 20), **options)


@attr.frozen
class Reply:
    """
    A response as the tests look at it.
    """

    status: int
    headers: Headers
    body: bytes

    def header(self, name: str) -> Optional[str]:
        """
        The last value of header C{name}, or C{None}.
        """
        values = self.headers.getRawHeaders(name)
        return values[-1] if values else None

    def json(self) -> Any:
        """
        The body decoded as JSON.
        """
        return orjson.loads(self.body)


@implementer(IBodyProducer)
class BodyProducer:
    """
    A request body written at once.
    """

    def __init__(self, body: bytes) -> None:
        self._body = body
        self.length = len(body)

    def startProducing(self, consumer: Any) -> Deferred:
        consumer.write(self._body)
        return succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


def _request_arguments(method: str, url: str, body: Any, headers: Optional[Mapping[str, str]]) -> tuple:
    """
    Agent arguments sending C{url} exactly as written (no re-encoding of the query).
    """
    raw_headers = Headers({name: [value] for name, value in (headers or {}).items()})
    producer = BodyProducer(body) if body is not None else None
    return method.encode("ascii"), url.encode("utf-8"), raw_headers, producer


class MemoryClient:
    """
    Requests to a twisted.web resource in memory; waits for answers computed on other threads.
    """

    base = "http://harper.test"

    def __init__(self, resource: Any) -> None:
        self._agent = RequestTraversalAgent(resource)

    @inlineCallbacks
    def request(self, method: str, path: str, body: Any = None, headers: Optional[Mapping[str, str]] = None) -> Any:
        """
        Send one request (the path exactly as given); fire with its L{Reply}.
        """
        d = self._agent.request(*_request_arguments(method, self.base + path, body, headers))
        response = yield self._settled(d)
        content = yield self._settled(treq.content(response))
        return Reply(response.code, response.headers, content)

    @inlineCallbacks
    def _settled(self, d: Deferred) -> Any:
        outcome: list = []
        d.addBoth(outcome.append)
        while not outcome:
            self._agent.flush()
            if not outcome:
                yield deferLater(reactor, 0, lambda: None)
        return outcome[0].raiseException() if isinstance(outcome[0], Failure) else outcome[0]


class SocketClient:
    """
    Requests over a real loopback connection to a site listening on port 0.

    :param rest: serve the requests the REST lane takes with this REST resource (behind the
        front resources of C{resource}, and only on paths C{resource.serves_rest}, when it
        has that method), as the daemon does; C{None} serves every request with twisted.web.
    """

    def __init__(self, case: TestCase, resource: Any, rest: Any = None) -> None:
        lane = None
        if rest is not None:
            routes = getattr(resource, "serves_rest", lambda path: True)
            lane = RestLane(resource, rest, routes, LaneLimits(), reactor)
        port = reactor.listenTCP(0, make_site(resource, lane=lane), interface="127.0.0.1")
        case.addCleanup(port.stopListening)
        pool = HTTPConnectionPool(reactor)
        case.addCleanup(pool.closeCachedConnections)
        self._agent = Agent(reactor, pool=pool)
        self.base = f"http://127.0.0.1:{port.getHost().port}"

    @inlineCallbacks
    def request(self, method: str, path: str, body: Any = None, headers: Optional[Mapping[str, str]] = None) -> Any:
        """
        Send one request (the path exactly as given); fire with its L{Reply} (the body as
        sent, not decompressed).
        """
        response = yield self._agent.request(*_request_arguments(method, self.base + path, body, headers))
        content = yield treq.content(response)
        return Reply(response.code, response.headers, content)


BREEDS = [
    {"id": 1, "name": "Beagle", "group": "hound"},
    {"id": 2, "name": "Collie", "group": "herding"},
]
DOGS = [
    {"id": "rex", "name": "Rex", "breedId": 1, "ownerId": "ann", "age": 3, "weight": 11.5, "tags": ["calm"]},
    {"id": "kennel/a/1", "name": "Ace", "breedId": 2, "age": 5},
    {"id": "kennel/a/2", "name": "Bo", "breedId": 2, "age": 1},
    {"id": "kennel/b/1", "name": "Cy", "breedId": 1, "age": 7},
]


def through_lane(case: type) -> type:
    """
    The test case C{case} (a L{RestTestCase}, or one with a C{lane} switch) run again over a
    socket and served by the REST lane, as a new class named C{Lane<name>}.
    """
    name = f"Lane{case.__name__}"
    return type(name, (case,), {
        "lane": True, "__module__": case.__module__, "__doc__": f"L{{{case.__name__}}} served by the REST lane.",
    })


def body(value: Any) -> bytes:
    """
    C{value} as a JSON request body.
    """
    return orjson.dumps(value)


class RestTestCase(TestCase):
    """
    A runtime with the kennel tables seeded, and a memory client on its REST interface (or,
    with L{lane}, a socket client served by the REST lane).
    """

    options: dict = {}
    lane = False

    @inlineCallbacks
    def setUp(self):
        self.runtime = start_runtime(self)
        self.api = rest_api(self.runtime, **self.options)
        self.client = SocketClient(self, self.api, rest=self.api) if self.lane else MemoryClient(self.api)
        tables = self.runtime.tables
        for breed in BREEDS:
            yield tables.Breed.put(breed["id"], breed)
        yield tables.Owner.put("ann", {"name": "Ann", "email": "ann@example.com"})
        for dog in DOGS:
            yield tables.Dog.put(dog["id"], dog)

    def request(self, method, path, body=None, headers=None):
        return self.client.request(method, path, body, headers)
