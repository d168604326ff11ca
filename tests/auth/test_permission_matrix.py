"""
The permission matrix over real sockets: a whole harper service (REST, WebSocket, SSE, MQTT
and the operations API on free loopback ports) with a role that may read C{Dog} only, and not
its C{secret} attribute, used by independent clients (treq, Autobahn, paho-mqtt).
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any, Optional

import treq
from autobahn.twisted.websocket import WebSocketClientFactory
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.trial.unittest import TestCase

from harper.auth.sessions import COOKIE_NAME
from harper.service.tap import Options, build_service
from tests.auth.helpers import fast_passwords
from tests.mqtt.helpers import V5, V311, Client
from tests.service.helpers import free_port, is_listening, write_tree
from tests.websocket.test_resource import Recorder

SCHEMA = """
type Breed @table @export { id: ID @primaryKey, name: String, origin: String }
type Dog @table @export {
  id: ID @primaryKey, name: String, owner: String, secret: String,
  breedId: ID, breed: Breed @relationship(from: "breedId")
}
"""

#: Read Dog (and its breed relationship), but not its secret; nothing else.
DOG_READER = {
    "data": {"tables": {"Dog": {
        "read": True, "insert": False, "update": False, "delete": False,
        "attribute_permissions": [
            {"attribute_name": "name", "read": True, "insert": False, "update": False},
            {"attribute_name": "owner", "read": True, "insert": False, "update": False},
            {"attribute_name": "breed", "read": True, "insert": False, "update": False},
            {"attribute_name": "secret", "read": False, "insert": False, "update": False},
        ],
    }}},
}

#: Read and write Dog names, read its breed (but not the breed's origin); neither read nor
#: write the owner or the secret.
DOG_KEEPER = {
    "data": {"tables": {
        "Dog": {
            "read": True, "insert": True, "update": True, "delete": False,
            "attribute_permissions": [
                {"attribute_name": "name", "read": True, "insert": True, "update": True},
                {"attribute_name": "breedId", "read": True, "insert": False, "update": False},
                {"attribute_name": "breed", "read": True, "insert": False, "update": False},
            ],
        },
        "Breed": {
            "read": True, "insert": False, "update": False, "delete": False,
            "attribute_permissions": [
                {"attribute_name": "name", "read": True, "insert": False, "update": False},
            ],
        },
    }},
}

SECRET = "buried-bone-under-the-oak"
ORIGIN = "highlands-of-scotland"
ADMIN = ("admin", "admin-password")
READER = ("reader", "reader-password")
KEEPER = ("keeper", "keeper-password")


def basic(credentials: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(":".join(credentials).encode()).decode("ascii")


class _Harper:
    """
    One started harper service and the ways to talk to it.
    """

    def __init__(self, case: TestCase) -> None:
        self.case = case
        self.http, self.operations, self.mqtt = free_port(), free_port(), free_port()

    @inlineCallbacks
    def start(self) -> Any:
        folder = write_tree(self.case, {"schema.graphql": SCHEMA})
        options = Options()
        options.parseOptions([
            "--root", os.path.abspath(self.case.mktemp()), "--app", folder,
            "--set", f"http.port={self.http}", "--set", f"operationsApi.port={self.operations}",
            "--set", f"mqtt.port={self.mqtt}",
        ])
        self.service = build_service(options, reactor)
        self.service.startService()
        self.case.addCleanup(self.service.stopService)
        for port in (self.http, self.operations, self.mqtt):
            deadline = reactor.seconds() + 20
            while not (yield is_listening(port)):
                self.case.assertLess(reactor.seconds(), deadline, f"nothing listens on {port}")
        users = self.service.runtime.access.users
        users.passwords = fast_passwords()
        yield users.add_user(*ADMIN, "super_user")
        yield users.add_role("dog_reader", DOG_READER)
        yield users.add_role("dog_keeper", DOG_KEEPER)
        yield users.add_user(*READER, "dog_reader")
        yield users.add_user(*KEEPER, "dog_keeper")
        yield self.operation(ADMIN, {"operation": "insert", "table": "Dog", "records": [
            {"id": "1", "name": "Rex", "owner": "Ann", "secret": SECRET, "breedId": "1"}]})
        yield self.operation(ADMIN, {"operation": "insert", "table": "Breed", "records": [
            {"id": "1", "name": "Collie", "origin": ORIGIN}]})

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http}{path}"

    @inlineCallbacks
    def rest(self, method: str, path: str, credentials: Optional[tuple[str, str]],
             body: Any = None, headers: Optional[dict] = None) -> Any:
        """
        Fire with (status, decoded body or None).
        """
        sent = dict(headers or {})
        if credentials is not None:
            sent["Authorization"] = basic(credentials)
        data = None
        if body is not None:
            sent["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        response = yield treq.request(method, self.url(path), headers=sent, data=data,
                                      persistent=False)
        content = yield response.content()
        return response.code, json.loads(content) if content else None

    @inlineCallbacks
    def operation(self, credentials: Optional[tuple[str, str]], body: dict,
                  headers: Optional[dict] = None) -> Any:
        """
        Fire with (status, decoded answer, response headers).
        """
        sent = {"Content-Type": "application/json", **(headers or {})}
        if credentials is not None:
            sent["Authorization"] = basic(credentials)
        response = yield treq.post(f"http://127.0.0.1:{self.operations}/", json.dumps(body).encode(),
                                   headers=sent, persistent=False)
        answer = yield response.json()
        return response.code, answer, response.headers

    def websocket(self, path: str, headers: dict) -> WebSocketClientFactory:
        factory = WebSocketClientFactory(f"ws://127.0.0.1:{self.http}{path}", headers=headers)
        factory.protocol = Recorder
        factory.messages, factory.waiting = [], []
        factory.opened, factory.closed = Deferred(), Deferred()
        connector = reactor.connectTCP("127.0.0.1", self.http, factory)
        self.case.addCleanup(connector.disconnect)
        return factory

    @inlineCallbacks
    def event_stream(self, path: str, headers: dict, until: bytes) -> Any:
        """
        Fire with (status, the stream's text once it holds C{until}).
        """
        chunks: list[bytes] = []
        arrived: Deferred = Deferred()

        def collect(data: bytes) -> None:
            chunks.append(data)
            if until in b"".join(chunks) and not arrived.called:
                arrived.callback(b"".join(chunks))

        response = yield treq.get(self.url(path), headers={"Accept": "text/event-stream", **headers},
                                  unbuffered=True, persistent=False)
        if response.code != 200:
            yield response.content()
            return response.code, b""
        finished = treq.collect(response, collect)
        text = yield arrived.addTimeout(30, reactor)
        response.original._transport.loseConnection()
        yield finished.addErrback(lambda _: None)
        return 200, text


def _received(factory: WebSocketClientFactory, count: int) -> Deferred:
    """
    Fire with the WebSocket's messages once it has at least C{count}.
    """
    if len(factory.messages) >= count:
        return succeed(list(factory.messages))
    d: Deferred = Deferred()
    factory.waiting.append((count, d))
    return d.addTimeout(30, reactor)


class PermissionMatrixTests(TestCase):
    """
    The same role gets the same answers on every interface.
    """

    timeout = 120

    def setUp(self) -> Deferred:
        self.harper = _Harper(self)
        return self.harper.start()

    def assert_no_secret(self, answer: Any) -> None:
        """
        Neither the secret attribute nor its value appears anywhere in C{answer}.
        """
        text = answer if isinstance(answer, (str, bytes)) else json.dumps(answer)
        text = text.decode() if isinstance(text, bytes) else text
        self.assertNotIn(SECRET, text)
        self.assertNotIn("secret", text)

    @inlineCallbacks
    def test_rest(self) -> None:
        """
        REST: the reader reads Dog records and collections without the secret, is refused
        (403) every write, the secret attribute's path and every method on Breed; the table's
        description leaves the secret out; without credentials, 401. An administrator still sees the secret.
        """
        harper = self.harper
        code, dog = yield harper.rest("GET", "/Dog/1", READER)
        self.assertEqual((code, dog), (200, {"id": "1", "name": "Rex", "owner": "Ann"}))
        code, dogs = yield harper.rest("GET", "/Dog/", READER)
        self.assertEqual((code, dogs), (200, [{"id": "1", "name": "Rex", "owner": "Ann"}]))
        code, _ = yield harper.rest("GET", "/Dog/1.secret", READER)
        self.assertEqual(code, 403)
        code, described = yield harper.rest("GET", "/Dog", READER)
        self.assertEqual([a["name"] for a in described["attributes"]], ["id", "name", "owner", "breed"])
        for method, path, body in [("PUT", "/Dog/1", {"name": "Max"}), ("POST", "/Dog/", {"name": "Max"}),
                                   ("PATCH", "/Dog/1", {"name": "Max"}), ("DELETE", "/Dog/1", None),
                                   ("GET", "/Breed/1", None), ("GET", "/Breed/", None),
                                   ("PUT", "/Breed/1", {"name": "Pug"}), ("DELETE", "/Breed/1", None)]:
            code, answer = yield harper.rest(method, path, READER, body)
            self.assertEqual(code, 403, (method, path, answer))
        code, _ = yield harper.rest("GET", "/Dog/1", None)
        self.assertEqual(code, 401)
        code, dog = yield harper.rest("GET", "/Dog/1", ADMIN)
        self.assertEqual((code, dog["secret"]), (200, SECRET))

    @inlineCallbacks
    def test_attribute_writes(self) -> None:
        """
        A role that may write Dog names but not secrets is refused (403) every write that
        sets the secret, on REST, MQTT and the operations API (NoSQL and SQL); writes of the
        name alone succeed, and keep the secret it cannot see.
        """
        harper = self.harper
        for method, path in [("PUT", "/Dog/2"), ("PATCH", "/Dog/1"), ("POST", "/Dog/")]:
            code, _ = yield harper.rest(method, path, KEEPER, {"name": "Max", "secret": "x"})
            self.assertEqual(code, 403, (method, path))
        code, _ = yield harper.rest("PATCH", "/Dog/1", KEEPER, {"name": "Rexy"})
        self.assertEqual(code, 204)
        for body in [{"operation": "insert", "table": "Dog", "records": [{"id": "3", "secret": "x"}]},
                     {"operation": "update", "table": "Dog", "records": [{"id": "1", "secret": "x"}]},
                     {"operation": "upsert", "table": "Dog", "records": [{"id": "1", "secret": "x"}]},
                     {"operation": "sql", "sql": "UPDATE data.Dog SET secret = 'x' WHERE id = '1'"},
                     {"operation": "sql", "sql": "INSERT INTO data.Dog (id, secret) VALUES ('4', 'x')"}]:
            code, answer, _ = yield harper.operation(KEEPER, body)
            self.assertEqual(code, 403, (body, answer))
        client = Client(self, harper.mqtt, "keeper", V5, *KEEPER)
        yield client.connect()
        reason = yield client.publish("Dog/1", b'{"name": "Rex", "secret": "x"}', 1, retain=True)
        self.assertEqual(reason, 0x87)
        code, dog = yield harper.rest("GET", "/Dog/1", ADMIN)
        self.assertEqual((code, dog["name"], dog["secret"]), (200, "Rexy", SECRET))

    @inlineCallbacks
    def test_realtime(self) -> None:
        """
        WebSocket, SSE and MQTT: the reader's subscriptions to Dog deliver the current record
        and its changes without the secret; Breed is refused (WebSocket close 3003, SSE 403,
        SUBACK 0x87) and every MQTT publish to Dog or Breed gets 0x87.
        """
        harper = self.harper
        headers = {"Authorization": basic(READER)}
        socket = harper.websocket("/Dog/1", headers)
        yield socket.opened
        yield _received(socket, 1)
        client = Client(self, harper.mqtt, "reader", V5, *READER)
        yield client.connect()
        codes = yield client.subscribe("Dog/#", qos=1)
        self.assertEqual([int(getattr(code, "value", code)) for code in codes], [1])
        yield client.wait_for(1, timeout=30)
        old = Client(self, harper.mqtt, "reader311", V311, *READER)
        yield old.connect()
        codes = yield old.subscribe("Breed/#", qos=1)
        self.assertEqual([int(getattr(code, "value", code)) for code in codes], [0x80])
        codes = yield client.subscribe("Breed/1", qos=1)
        self.assertEqual([int(getattr(code, "value", code)) for code in codes], [0x87])
        stream = harper.event_stream("/Dog/1", headers, b"Rover")
        yield harper.rest("PUT", "/Dog/1", ADMIN, {"name": "Rover", "owner": "Ann", "secret": SECRET})
        messages = yield _received(socket, 2)
        code, text = yield stream
        self.assertEqual(code, 200)
        self.assert_no_secret(text)
        events = [json.loads(payload) for payload, _ in messages]
        self.assertEqual([event["value"] for event in events],
                         [{"id": "1", "name": "Rex", "owner": "Ann"},
                          {"id": "1", "name": "Rover", "owner": "Ann"}])
        received = yield client.wait_for(2, timeout=30)
        self.assertEqual([json.loads(payload) for _, payload, *_ in received],
                         [{"id": "1", "name": "Rex", "owner": "Ann"},
                          {"id": "1", "name": "Rover", "owner": "Ann"}])
        for topic, retain in [("Dog/1", True), ("Dog/1", False), ("Dog/5", True), ("Breed/1", True)]:
            reason = yield client.publish(topic, b'{"name": "Max"}', 1, retain=retain)
            self.assertEqual(reason, 0x87, (topic, retain))
        refused = harper.websocket("/Breed/1", headers)
        code, _ = yield refused.closed
        self.assertEqual(code, 3003)
        code, _ = yield harper.event_stream("/Breed/1", headers, b"")
        self.assertEqual(code, 403)

    @inlineCallbacks
    def test_operations(self) -> None:
        """
        The operations API: the reader's searches and SQL SELECTs of Dog leave the secret out
        (even when asked for by name); every write (NoSQL, SQL, CSV), every Breed request
        and every structure or user operation is refused with 403.
        """
        harper = self.harper
        for body in [
            {"operation": "search_by_value", "table": "Dog", "attribute": "name", "value": "*",
             "get_attributes": ["*"]},
            {"operation": "search_by_id", "table": "Dog", "ids": ["1"], "get_attributes": ["*"]},
            {"operation": "search_by_conditions", "table": "Dog", "get_attributes": ["id", "secret"],
             "conditions": [{"attribute": "owner", "comparator": "equals", "value": "Ann"}]},
            {"operation": "sql", "sql": "SELECT * FROM data.Dog"},
            {"operation": "sql", "sql": "SELECT id, owner FROM data.Dog WHERE id = '1'"},
        ]:
            code, answer, _ = yield harper.operation(READER, body)
            self.assertEqual((code, len(answer)), (200, 1), (body, answer))
            self.assertEqual(answer[0]["id"], "1")
            self.assert_no_secret(answer)
        for body in [
            {"operation": "insert", "table": "Dog", "records": [{"id": "9", "name": "Max"}]},
            {"operation": "update", "table": "Dog", "records": [{"id": "1", "name": "Max"}]},
            {"operation": "upsert", "table": "Dog", "records": [{"id": "1", "name": "Max"}]},
            {"operation": "delete", "table": "Dog", "ids": ["1"]},
            {"operation": "sql", "sql": "INSERT INTO data.Dog (id, name) VALUES ('9', 'Max')"},
            {"operation": "sql", "sql": "UPDATE data.Dog SET name = 'Max' WHERE id = '1'"},
            {"operation": "sql", "sql": "DELETE FROM data.Dog WHERE id = '1'"},
            {"operation": "csv_data_load", "table": "Dog", "data": "id,name\n9,Max\n"},
            {"operation": "search_by_id", "table": "Breed", "ids": ["1"], "get_attributes": ["*"]},
            {"operation": "search_by_value", "table": "Breed", "attribute": "name", "value": "*"},
            {"operation": "sql", "sql": "SELECT * FROM data.Breed"},
            {"operation": "sql", "sql": "SELECT id, secret FROM data.Dog"},
            {"operation": "sql", "sql": "SELECT MAX(secret) FROM data.Dog"},
            {"operation": "describe_table", "table": "Breed"},
            {"operation": "create_table", "table": "Cat", "primary_key": "id"},
            {"operation": "drop_table", "table": "Breed"},
            {"operation": "create_attribute", "table": "Dog", "attribute": "colour"},
            {"operation": "drop_attribute", "table": "Dog", "attribute": "secret"},
            {"operation": "add_user", "username": "eve", "password": "eve-password", "role": "super_user"},
            {"operation": "add_role", "role": "all", "permission": {"super_user": True}},
        ]:
            code, answer, _ = yield harper.operation(READER, body)
            self.assertEqual(code, 403, (body, answer))
        code, answer, _ = yield harper.operation(ADMIN, {"operation": "search_by_id", "table": "Dog",
                                                          "ids": ["1"], "get_attributes": ["*"]})
        self.assertEqual((code, answer[0]["name"], answer[0]["secret"]), (200, "Rex", SECRET))

    @inlineCallbacks
    def test_cookie_session(self) -> None:
        """
        C{login} sets an HttpOnly, SameSite=Strict session cookie (not Secure without TLS)
        that authenticates REST, WebSocket, SSE and the operations API with the reader's
        permissions; after C{logout} the same cookie is refused (401) everywhere.
        """
        harper = self.harper
        code, answer, headers = yield harper.operation(
            None, {"operation": "login", "username": READER[0], "password": READER[1]})
        self.assertEqual((code, answer), (200, {"message": "Login successful"}))
        [cookie] = headers.getRawHeaders("set-cookie")
        attributes = [part.strip() for part in cookie.split(";")]
        self.assertTrue(attributes[0].startswith(f"{COOKIE_NAME}="))
        self.assertIn("HttpOnly", attributes)
        self.assertIn("SameSite=Strict", attributes)
        self.assertNotIn("Secure", attributes)
        session = {"Cookie": attributes[0]}
        code, dog = yield harper.rest("GET", "/Dog/1", None, headers=session)
        self.assertEqual((code, dog), (200, {"id": "1", "name": "Rex", "owner": "Ann"}))
        code, _ = yield harper.rest("PUT", "/Dog/1", None, {"name": "Max"}, headers=session)
        self.assertEqual(code, 403)
        code, me, _ = yield harper.operation(None, {"operation": "user_info"}, headers=session)
        self.assertEqual((code, me["username"]), (200, READER[0]))
        socket = harper.websocket("/Dog/1", session)
        yield socket.opened
        [(payload, _)] = yield _received(socket, 1)
        self.assertEqual(json.loads(payload)["value"]["name"], "Rex")
        code, text = yield harper.event_stream("/Dog/1", session, b"Rex")
        self.assertEqual(code, 200)
        code, answer, headers = yield harper.operation(None, {"operation": "logout"}, headers=session)
        self.assertEqual((code, answer), (200, {"message": "Logout successful"}))
        self.assertIn("Max-Age=0", headers.getRawHeaders("set-cookie")[0])
        code, _ = yield harper.rest("GET", "/Dog/1", None, headers=session)
        self.assertEqual(code, 401)
        code, _, _ = yield harper.operation(None, {"operation": "user_info"}, headers=session)
        self.assertEqual(code, 401)
        closed = harper.websocket("/Dog/1", session)
        code, _ = yield closed.closed
        self.assertEqual(code, 3000)


class LeakTests(TestCase):
    """
    The ways around attribute permissions are closed: related records, conditions and sorts
    on hidden attributes, replacements of records with hidden attributes and descriptions.
    """

    timeout = 120

    def setUp(self) -> Deferred:
        self.harper = _Harper(self)
        return self.harper.start()

    def assert_refused(self, code: int, answer: Any, attribute: str) -> None:
        """
        C{answer} is a 403 that names C{attribute}.
        """
        self.assertEqual(code, 403, answer)
        self.assertIn(attribute, json.dumps(answer))

    @inlineCallbacks
    def test_related_records(self) -> None:
        """
        Records a selection pulls in through a relationship need read permission on their
        table (else 403, over REST and SQL) and come without the attributes the role may not
        read.
        """
        harper = self.harper
        code, answer = yield harper.rest("GET", "/Dog/1?select(name,breed{name})", READER)
        self.assertEqual(code, 403, answer)
        code, answer = yield harper.rest("GET", "/Dog/?select(name,breed)", READER)
        self.assertEqual(code, 403, answer)
        code, dog = yield harper.rest("GET", "/Dog/1?select(name,breed{name,origin})", KEEPER)
        self.assertEqual((code, dog), (200, {"name": "Rex", "breed": {"name": "Collie"}}))
        code, dogs = yield harper.rest("GET", "/Dog/?select(id,breed)", KEEPER)
        self.assertEqual((code, dogs), (200, [{"id": "1", "breed": {"id": "1", "name": "Collie"}}]))
        code, answer, _ = yield harper.operation(KEEPER, {
            "operation": "sql",
            "sql": "SELECT * FROM data.Dog d INNER JOIN data.Breed b ON d.breedId = b.id"})
        self.assertEqual(code, 200, answer)
        self.assertNotIn(ORIGIN, json.dumps(answer))
        self.assertNotIn(SECRET, json.dumps(answer))
        code, answer, _ = yield harper.operation(KEEPER, {
            "operation": "sql",
            "sql": "SELECT d.name, b.origin FROM data.Dog d INNER JOIN data.Breed b ON d.breedId = b.id"})
        self.assert_refused(code, answer, "origin")
        code, dog = yield harper.rest("GET", "/Dog/1?select(name,breed{name,origin})", ADMIN)
        self.assertEqual(dog["breed"], {"name": "Collie", "origin": ORIGIN})

    @inlineCallbacks
    def test_conditions_and_sort(self) -> None:
        """
        Filtering or sorting on an attribute the role may not read (directly or through a
        relationship) is refused with 403 naming it, over REST, NoSQL searches and SQL.
        """
        harper = self.harper
        for path, attribute in [("/Dog/?secret=x", "secret"), ("/Dog/?name=Rex&secret=gt=a", "secret"),
                                ("/Dog/?sort(+secret)", "secret"), ("/Dog/?breed.name=Collie", "Breed")]:
            code, answer = yield harper.rest("GET", path, READER)
            self.assert_refused(code, answer, attribute)
        code, answer = yield harper.rest("GET", "/Dog/?breed.origin=x", KEEPER)
        self.assert_refused(code, answer, "origin")
        code, dogs = yield harper.rest("GET", "/Dog/?breed.name=Collie&select(id,name)", KEEPER)
        self.assertEqual((code, dogs), (200, [{"id": "1", "name": "Rex"}]))
        for body in [
            {"operation": "search_by_value", "table": "Dog", "attribute": "secret", "value": "b*"},
            {"operation": "search_by_conditions", "table": "Dog", "conditions": [
                {"attribute": "secret", "comparator": "starts_with", "value": "b"}]},
            {"operation": "search_by_value", "table": "Dog", "attribute": "name", "value": "*",
             "sort": {"attribute": "secret"}},
            {"operation": "sql", "sql": "SELECT id FROM data.Dog WHERE secret = 'x'"},
            {"operation": "sql", "sql": "SELECT id FROM data.Dog ORDER BY secret"},
        ]:
            code, answer, _ = yield harper.operation(READER, body)
            self.assert_refused(code, answer, "secret")
        code, answer, _ = yield harper.operation(
            KEEPER, {"operation": "sql", "sql": "UPDATE data.Dog SET name = 'Max' WHERE secret = 'x'"})
        self.assert_refused(code, answer, "secret")

    @inlineCallbacks
    def test_put_keeps_hidden_attributes(self) -> None:
        """
        A PUT by a role that may update only some attributes replaces those and keeps the
        stored values of the others.
        """
        harper = self.harper
        code, _ = yield harper.rest("PUT", "/Dog/1", KEEPER, {"name": "Rexo"})
        self.assertEqual(code, 204)
        code, dog = yield harper.rest("GET", "/Dog/1", ADMIN)
        self.assertEqual((code, dog), (200, {"id": "1", "name": "Rexo", "owner": "Ann",
                                             "secret": SECRET, "breedId": "1"}))

    @inlineCallbacks
    def test_describe(self) -> None:
        """
        describe_all, describe_database and describe_table show a role only the tables it
        has a permission on, and of those only the attributes it may read, insert or update;
        a table it has no permission on is refused.
        """
        harper = self.harper
        code, described, _ = yield harper.operation(READER, {"operation": "describe_all"})
        self.assertEqual(code, 200, described)
        self.assertEqual(list(described), ["data"])
        self.assertEqual(list(described["data"]), ["Dog"])
        self.assertEqual([a["attribute"] for a in described["data"]["Dog"]["attributes"]],
                         ["id", "name", "owner", "breed"])
        code, described, _ = yield harper.operation(
            KEEPER, {"operation": "describe_database", "database": "data"})
        self.assertEqual(sorted(described), ["Breed", "Dog"])
        self.assertEqual([a["attribute"] for a in described["Breed"]["attributes"]], ["id", "name"])
        code, described, _ = yield harper.operation(KEEPER, {"operation": "describe_table", "table": "Dog"})
        self.assertEqual([a["attribute"] for a in described["attributes"]], ["id", "name", "breedId", "breed"])
        code, answer, _ = yield harper.operation(READER, {"operation": "describe_table", "table": "Breed"})
        self.assertEqual(code, 403, answer)
        code, described, _ = yield harper.operation(ADMIN, {"operation": "describe_table", "table": "Dog"})
        self.assertIn("secret", [a["attribute"] for a in described["attributes"]])
