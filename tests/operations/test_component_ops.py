"""
Tests for L{harper.operations.component_ops}: the component operations over the operations
API on a loopback port, with REST (and the applications' web resources) on another, in one
process; and the acceptance test of issue 5 against a real C{twistd harper} daemon.
"""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
from typing import Any, Mapping, Optional

import attr
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from harper.components.config import config_from_string
from harper.components.lifecycle import Applications
from harper.components.loader import discover_plugins, load_applications
from harper.components.runtime import Runtime, plan_tables
from harper.http.site import make_site
from harper.operations.api import OperationsAPI, default_operations
from harper.operations.scope import OperationScope
from harper.service.mounts import RemountingRoot
from tests.auth.helpers import fast_passwords
from tests.http.helpers import SocketClient, rest_api
from tests.operations.helpers import ADMIN, OperationsCase, basic
from tests.service.helpers import (
    daemon_arguments,
    free_port,
    request_json,
    start_daemon,
    stop_process,
    wait_until_listening,
)

SCHEMA = "type Dog @table @export {\n  id: ID @primaryKey\n  name: String @indexed\n}\n"
CONFIG = "rest: true\ngraphqlSchema: {files: '*.graphql'}\npyResource: {files: resources.py}\n"
RESOURCE = (
    "from harper.resources.base import Resource\n\n"
    "class Census(Resource):\n"
    "    def get(self, target, context):\n"
    "        return {'dogs': len(self.tables.Dog.search(None, context))}\n"
)
#: A kennel application: config, schema and a Python resource counting the dogs.
KENNEL = {"config.yaml": CONFIG, "schema.graphql": SCHEMA, "resources.py": RESOURCE}


def tar(files: Mapping[str, Any], top: Optional[str] = None, mode: str = "w:gz") -> str:
    """
    The base64 text of a tar archive of C{files} (name to text, or to a L{tarfile.TarInfo}
    for links and special members), all in folder C{top} when given.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, content in files.items():
            path = f"{top}/{name}" if top else name
            if isinstance(content, tarfile.TarInfo):
                content.name = path
                archive.addfile(content)
                continue
            data = content.encode("utf-8")
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def link(target: str, symbolic: bool = True) -> tarfile.TarInfo:
    """
    A link member pointing at C{target}.
    """
    info = tarfile.TarInfo("link")
    info.type = tarfile.SYMTYPE if symbolic else tarfile.LNKTYPE
    info.linkname = target
    return info


class ComponentCase(OperationsCase):
    """
    A runtime with no application yet, the operations API (with the serving applications)
    and REST plus web resources, each on a loopback port.
    """

    def setUp(self) -> Deferred:
        self.root = os.path.abspath(self.mktemp())
        text = f"rootPath: {self.root!r}\nstorage: {{uri: 'file:', threadPoolSize: 2}}\n"
        config = config_from_string(text, "harper.yaml", base_dir=self.root, environ={})
        plugins = discover_plugins(())
        self.runtime = Runtime(config, plan_tables(load_applications(config, plugins)), reactor)
        self.runtime.start()
        self.addCleanup(self.runtime.stop)
        self.access = self.runtime.access
        self.access.users.passwords = fast_passwords()
        self.applications = Applications(self.runtime, plugins)
        scope = attr.evolve(OperationScope.of_runtime(self.runtime, reactor), applications=self.applications)
        api = OperationsAPI(scope, default_operations(), 8 << 20)
        port = reactor.listenTCP(0, make_site(api.resource()), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.url = f"http://127.0.0.1:{port.getHost().port}/"
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.web = SocketClient(self, RemountingRoot(rest_api(self.runtime), self.runtime))
        return self.access.users.add_user(*ADMIN, "super_user")

    async def rest(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """
        One REST request as the administrator: the status and the decoded JSON body.
        """
        headers = {"Authorization": basic(*ADMIN), "Accept": "application/json", "Content-Type": "application/json"}
        data = None if body is None else json.dumps(body).encode("utf-8")
        reply = await self.web.request(method, path, data, headers)
        return reply.status, (json.loads(reply.body) if reply.body else None)

    def project_files(self, project: str) -> list[str]:
        """
        The files of C{project}'s folder on disk, relative, sorted.
        """
        folder = os.path.join(self.root, "components", project)
        return sorted(
            os.path.relpath(os.path.join(directory, name), folder)
            for directory, _, names in os.walk(folder) for name in names
        )


class DeployTests(ComponentCase):
    """
    C{deploy_component} unpacks an application and serves it at once.
    """

    async def test_deploy_and_serve(self) -> None:
        """
        A gzipped tar with a top folder, holding a schema and a Python resource, serves its
        table and its resource over REST right after the operation answers.
        """
        body = await self.ok({"operation": "deploy_component", "project": "kennel", "payload": tar(KENNEL, "kennel")})
        self.assertEqual(body, {"message": "Successfully deployed: kennel"})
        self.assertEqual(self.project_files("kennel"), ["config.yaml", "resources.py", "schema.graphql"])
        self.assertEqual((await self.rest("PUT", "/Dog/rex", {"name": "Rex"}))[0], 204)
        self.assertEqual(await self.rest("GET", "/Dog/rex"), (200, {"id": "rex", "name": "Rex"}))
        self.assertEqual(await self.rest("GET", "/Census"), (200, {"dogs": 1}))

    async def test_redeploy_broken_keeps_previous(self) -> None:
        """
        Deploying a version that does not load answers 400 with the problem; the previous
        version keeps serving and its files come back.
        """
        await self.ok({"operation": "deploy_component", "project": "kennel", "payload": tar(KENNEL)})
        broken = {**KENNEL, "resources.py": RESOURCE + "def broken(:\n"}
        error = await self.refused({"operation": "deploy_component", "project": "kennel", "payload": tar(broken)}, 400)
        self.assertIn("resources.py, line 6", error)
        self.assertIn("previous version keeps serving", error)
        self.assertEqual(await self.rest("GET", "/Census"), (200, {"dogs": 0}))
        with open(os.path.join(self.root, "components", "kennel", "resources.py")) as stream:
            self.assertEqual(stream.read(), RESOURCE)
        self.assertEqual(os.listdir(os.path.join(self.root, "components")), ["kennel"])

    async def test_new_broken_component_is_not_kept(self) -> None:
        """
        A new component that does not load leaves no folder behind (so that the next start
        does not fail on it).
        """
        broken = {**KENNEL, "schema.graphql": "type Dog @table {\n"}
        error = await self.refused({"operation": "deploy_component", "project": "kennel", "payload": tar(broken)}, 400)
        self.assertIn("schema.graphql", error)
        self.assertEqual(os.listdir(os.path.join(self.root, "components")), [])

    async def test_table_created_at_run_time(self) -> None:
        """
        A component may not declare a table that C{create_table} made; the table keeps
        serving.
        """
        await self.ok({"operation": "create_table", "table": "Dog", "primary_key": "id"})
        dog = self.runtime.resources[("data", "Dog")]
        error = await self.refused({"operation": "deploy_component", "project": "kennel", "payload": tar(KENNEL)}, 400)
        self.assertIn("table data.Dog already exists (created at run time)", error)
        self.assertIs(self.runtime.resources[("data", "Dog")], dog)
        self.assertIs(self.runtime.tables.Dog.resource, dog)

    async def test_package_folder(self) -> None:
        """
        C{package} naming a local folder deploys a copy of it.
        """
        source = os.path.abspath(self.mktemp())
        os.makedirs(source)
        for name, text in KENNEL.items():
            with open(os.path.join(source, name), "w") as stream:
                stream.write(text)
        await self.ok({"operation": "deploy_component", "project": "kennel", "package": source})
        self.assertEqual(await self.rest("GET", "/Census"), (200, {"dogs": 0}))

    async def test_unsafe_archives(self) -> None:
        """
        Archives with absolute paths, C{..}, links leaving the folder or special files are
        refused with 400 naming C{payload}, and nothing is written.
        """
        fifo = tarfile.TarInfo("pipe")
        fifo.type = tarfile.FIFOTYPE
        cases = {
            "absolute path": {"/etc/evil": "x"},
            "leaves the project folder": {"../evil": "x"},
            "link": {"config.yaml": CONFIG, "link": link("/etc/passwd")},
            "outside": {"config.yaml": CONFIG, "link": link("../../../etc/passwd")},
            "not a file, folder or link": {"pipe": fifo},
        }
        for problem, files in cases.items():
            request = {"operation": "deploy_component", "project": "evil", "payload": tar(files, mode="w")}
            error = await self.refused(request, 400)
            self.assertTrue(error.startswith("payload: "), error)
            self.assertIn(problem, error)
        self.assertEqual(os.listdir(os.path.join(self.root, "components")), [])

    async def test_bad_fields(self) -> None:
        """
        A missing project, a bad project name, no payload, a payload that is not base64 or not
        a tar archive, and a package that does not exist are 400s naming the field.
        """
        cases = [
            ({"payload": tar(KENNEL)}, "project: required"),
            ({"project": "../up", "payload": tar(KENNEL)}, "project: '../up'"),
            ({"project": "kennel"}, "payload: required"),
            ({"project": "kennel", "payload": "not base64!"}, "payload: not valid base64"),
            ({"project": "kennel", "payload": base64.b64encode(b"plain text").decode()}, "payload: not a readable tar"),
            ({"project": "kennel", "package": "/no/such/folder"}, "package: '/no/such/folder'"),
        ]
        for fields, message in cases:
            error = await self.refused({"operation": "deploy_component", **fields}, 400)
            self.assertTrue(error.startswith(message), error)


class FileTests(ComponentCase):
    """
    C{add_component}, C{get_components}, C{get_component_file}, C{set_component_file},
    C{drop_component} and C{restart}.
    """

    async def setUp(self) -> None:
        await super().setUp()
        await self.ok({"operation": "add_component", "project": "app"})

    async def test_add_from_template(self) -> None:
        """
        A new component has a config.yaml and an empty schema, and serves; adding it again is
        a conflict.
        """
        self.assertEqual(self.project_files("app"), ["config.yaml", "schema.graphql"])
        self.assertIsNotNone(self.applications.find(os.path.join(self.root, "components", "app")))
        error = await self.refused({"operation": "add_component", "project": "app"}, 409)
        self.assertIn("already exists", error)

    async def test_get_components(self) -> None:
        """
        The tree lists each component folder with its files, their sizes and times.
        """
        await self.ok({"operation": "set_component_file", "project": "app", "file": "web/index.html", "payload": "hi"})
        tree = await self.ok({"operation": "get_components"})
        self.assertEqual(tree["name"], "components")
        [app] = tree["entries"]
        names = [entry["name"] for entry in app["entries"]]
        self.assertEqual((app["name"], names), ("app", ["config.yaml", "schema.graphql", "web"]))
        self.assertEqual(app["entries"][2]["entries"][0]["size"], 2)
        self.assertTrue(app["entries"][0]["mtime"].endswith("Z"))

    async def test_set_and_get_file(self) -> None:
        """
        Setting the schema file serves its table at once; the file reads back as written,
        in UTF-8 or base64.
        """
        body = await self.ok({"operation": "set_component_file", "project": "app", "file": "schema.graphql", "payload": SCHEMA})
        self.assertEqual(body, {"message": "Successfully set component: schema.graphql"})
        self.assertEqual((await self.rest("PUT", "/Dog/a", {"name": "A"}))[0], 204)
        read = await self.ok({"operation": "get_component_file", "project": "app", "file": "schema.graphql"})
        self.assertEqual(read, {"message": SCHEMA})
        read = await self.ok({"operation": "get_component_file", "project": "app", "file": "schema.graphql", "encoding": "base64"})
        self.assertEqual(base64.b64decode(read["message"]).decode(), SCHEMA)

    async def test_set_broken_file_is_undone(self) -> None:
        """
        A file that makes the application fail to load is refused (400) and not kept.
        """
        await self.ok({"operation": "set_component_file", "project": "app", "file": "schema.graphql", "payload": SCHEMA})
        error = await self.refused(
            {"operation": "set_component_file", "project": "app", "file": "schema.graphql", "payload": "type Dog {"}, 400
        )
        self.assertIn("schema.graphql", error)
        read = await self.ok({"operation": "get_component_file", "project": "app", "file": "schema.graphql"})
        self.assertEqual(read["message"], SCHEMA)
        self.assertEqual((await self.rest("GET", "/Dog/"))[0], 200)

    async def test_bad_file_fields(self) -> None:
        """
        Paths leaving the folder, missing fields, unknown projects and files, and unknown
        encodings are refused naming the field.
        """
        cases = [
            ({"operation": "get_component_file", "project": "app", "file": "../../harper.yaml"}, 400, "file: "),
            ({"operation": "get_component_file", "project": "app", "file": "/etc/passwd"}, 400, "file: "),
            ({"operation": "get_component_file", "project": "app"}, 400, "file: required"),
            ({"operation": "get_component_file", "project": "app", "file": "nope.txt"}, 404, "file: "),
            ({"operation": "get_component_file", "project": "nope", "file": "x"}, 404, "project: "),
            ({"operation": "get_component_file", "project": "app", "file": "config.yaml", "encoding": "latin1"}, 400, "encoding: "),
            ({"operation": "set_component_file", "project": "app", "file": "a.txt"}, 400, "payload: required"),
            ({"operation": "set_component_file", "project": "app", "file": "a.txt", "payload": 3}, 400, "payload: "),
            ({"operation": "set_component_file", "project": "app", "file": "../a.txt", "payload": ""}, 400, "file: "),
            ({"operation": "drop_component", "project": "nope"}, 404, "project: "),
            ({"operation": "drop_component"}, 400, "project: required"),
        ]
        for body, status, start in cases:
            error = await self.refused(body, status)
            self.assertTrue(error.startswith(start), (body, error))

    async def test_drop(self) -> None:
        """
        Dropping a file reloads the application without it; dropping the component stops
        serving it and deletes its folder.
        """
        await self.ok({"operation": "set_component_file", "project": "app", "file": "schema.graphql", "payload": SCHEMA})
        await self.ok({"operation": "set_component_file", "project": "app", "file": "cat.graphql",
                       "payload": "type Cat @table @export {\n  id: ID @primaryKey\n}\n"})
        body = await self.ok({"operation": "drop_component", "project": "app", "file": "cat.graphql"})
        self.assertEqual(body, {"message": "Successfully dropped: app/cat.graphql"})
        self.assertEqual((await self.rest("GET", "/Cat/"))[0], 404)
        self.assertEqual((await self.rest("GET", "/Dog/"))[0], 200)
        body = await self.ok({"operation": "drop_component", "project": "app"})
        self.assertEqual(body, {"message": "Successfully dropped: app"})
        self.assertEqual((await self.rest("GET", "/Dog/"))[0], 404)
        self.assertEqual(os.listdir(os.path.join(self.root, "components")), [])

    async def test_restart(self) -> None:
        """
        C{restart} (and C{restart_service}) reload the applications from their files, and
        load component folders that appeared.
        """
        folder = os.path.join(self.root, "components", "copied")
        os.makedirs(folder)
        with open(os.path.join(folder, "schema.graphql"), "w") as stream:
            stream.write(SCHEMA)
        for name in ("restart", "restart_service"):
            body = await self.ok({"operation": name})
            self.assertEqual(body, {"message": "Restarted 2 applications"})
        self.assertEqual((await self.rest("GET", "/Dog/"))[0], 200)
        with open(os.path.join(folder, "schema.graphql"), "w") as stream:
            stream.write("type Dog {")
        error = await self.refused({"operation": "restart"}, 400)
        self.assertIn("previous versions keep serving", error)
        self.assertEqual((await self.rest("GET", "/Dog/"))[0], 200)

    async def test_super_users_only(self) -> None:
        """
        Every component operation is refused (403) to a user who is not a super user.
        """
        reader = await self.add_reader()
        for operation in ("get_components", "get_component_file", "set_component_file", "add_component",
                          "deploy_component", "drop_component", "restart", "restart_service"):
            answer = await self.post({"operation": operation, "project": "app", "file": "schema.graphql"}, reader)
            self.assertEqual(answer.status, 403, (operation, answer.body))


class DaemonDeployTests(TestCase):
    """
    Issue 5's acceptance: a real daemon deploys a component from the operations API and
    serves its table and resource over REST, and loads it again on its next start.
    """

    @inlineCallbacks
    def start(self, root: str) -> Any:
        arguments = daemon_arguments(root, self.http, "--set", f"operationsApi.port={self.operations}")
        daemon = start_daemon(self, arguments)
        yield wait_until_listening(daemon, self.operations)
        yield wait_until_listening(daemon, self.http)
        return daemon

    @inlineCallbacks
    def test_deploy_then_rest(self) -> None:
        """
        deploy_component, then REST PUT/GET on the new table and GET on its resource, without
        restarting; after a restart the component still serves.
        """
        root = os.path.abspath(self.mktemp())
        self.http, self.operations = free_port(), free_port()
        daemon = yield self.start(root)
        operations, rest = f"http://127.0.0.1:{self.operations}/", f"http://127.0.0.1:{self.http}"
        deploy = {"operation": "deploy_component", "project": "kennel", "payload": tar(KENNEL, "kennel")}
        self.assertEqual((yield request_json("POST", operations, deploy)), (200, {"message": "Successfully deployed: kennel"}))
        self.assertEqual((yield request_json("PUT", f"{rest}/Dog/rex", {"name": "Rex"}))[0], 204, daemon.output())
        self.assertEqual((yield request_json("GET", f"{rest}/Dog/rex")), (200, {"id": "rex", "name": "Rex"}))
        self.assertEqual((yield request_json("GET", f"{rest}/Census")), (200, {"dogs": 1}))
        yield stop_process(daemon)
        daemon = yield self.start(root)
        self.assertEqual((yield request_json("GET", f"{rest}/Census")), (200, {"dogs": 1}), daemon.output())
