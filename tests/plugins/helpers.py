"""
Shared fixtures of the plugin tests: a kennel application folder, a started runtime over it
on a FileStorage, and its HTTP root (REST plus every application's web mounts) on a loopback
port.
"""

from __future__ import annotations

import base64
from typing import Any, Mapping, Optional

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from harper.components.config import config_from_string
from harper.components.runtime import Runtime
from harper.http.site import HarperRoot
from tests.components.test_loader import start_runtime, write_tree
from tests.http.helpers import SocketClient, rest_api

SCHEMA = """
type Breed @table @export {
  id: Int @primaryKey
  name: String! @indexed
  dogs: [Dog] @relationship(to: "breedId")
}

type Dog @table @export {
  id: ID @primaryKey
  name: String! @indexed
  breedId: Int @indexed
  breed: Breed @relationship(from: "breedId")
  age: Int @indexed
}

type Secret @table @export {
  id: ID @primaryKey
  text: String
}
"""

BREEDS = [{"id": 1, "name": "Beagle"}, {"id": 2, "name": "Collie"}]
DOGS = [
    {"id": "rex", "name": "Rex", "breedId": 1, "age": 3},
    {"id": "ace", "name": "Ace", "breedId": 2, "age": 5},
    {"id": "bo", "name": "Bo", "breedId": 2, "age": 1},
    {"id": "cy", "name": "Cy", "breedId": 1, "age": 7},
]

#: A role that may read dogs and breeds, but not secrets.
READER = {"data": {"tables": {"Dog": {"read": True}, "Breed": {"read": True}}}}


def config_for(case: TestCase, folder: str) -> Any:
    """
    A root configuration with one application C{folder}, FileStorage in a temporary folder.
    """
    root = case.mktemp()
    text = f"rootPath: {root!r}\nstorage: {{uri: 'file:'}}\napplications: [{folder!r}]\n"
    return config_from_string(text, "harper.yaml", base_dir=root, environ={})


def http_root(runtime: Runtime) -> HarperRoot:
    """
    The HTTP root the daemon builds: REST, and every application's web mounts.
    """
    return HarperRoot(rest_api(runtime), runtime.http_mounts())


def basic(username: str, password: str) -> dict[str, str]:
    """
    The C{Authorization} header of Basic credentials.
    """
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class PluginTestCase(TestCase):
    """
    Starts a runtime over an application folder made of C{files} (the kennel schema, plus
    what C{files} adds), seeds the kennel, adds a user C{reader} (password C{secret-pw}) with
    L{READER}, and serves HTTP on a loopback port.
    """

    files: Mapping[str, str] = {}

    @inlineCallbacks
    def setUp(self):
        self.folder = write_tree(self, {"schema.graphql": SCHEMA, **self.files})
        self.runtime = start_runtime(self, config_for(self, self.folder))
        tables = self.runtime.tables
        for breed in BREEDS:
            yield tables.Breed.put(breed["id"], breed)
        for dog in DOGS:
            yield tables.Dog.put(dog["id"], dog)
        yield tables.Secret.put("s", {"text": "hidden"})
        users = self.runtime.access.users
        yield users.add_role("reader", READER)
        yield users.add_user("reader", "secret-pw", "reader")
        self.client = SocketClient(self, http_root(self.runtime))
        self.reader = basic("reader", "secret-pw")

    def request(
        self, method: str, path: str, body: Any = None, headers: Optional[Mapping[str, str]] = None
    ) -> Any:
        """
        One request as the C{reader} user (unless C{headers} say otherwise).
        """
        return self.client.request(method, path, body, self.reader if headers is None else headers)
