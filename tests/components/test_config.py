# -*- test-case-name: tests.components.test_config -*-
"""
Tests for L{harper.components.config}: loading, checking and completing the root configuration.
"""

from __future__ import annotations

import os
import re
from typing import Any

import attr
import yaml
from twisted.trial.unittest import TestCase

import harper
from harper.components import config_storage
from harper.components.config import (
    ApplicationConfig,
    HarperConfig,
    config_from_string,
    load_config,
)
from harper.components.config_checks import Invalid, duration
from harper.components.config_storage import StorageSchemes, register_storage_scheme
from harper.errors import ConfigError, StartupError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(harper.__file__)))
DEFAULT_FILE = os.path.join(REPO, "conf", "harper.yaml")
NO_ENV: dict[str, str] = {}


def leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """
    The values of a nested mapping by dotted key.
    """
    found = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            found.update(leaves(value, f"{prefix}{key}."))
        else:
            found[prefix + key] = value
    return found


class ConfigTestCase(TestCase):
    """
    Helpers that load configuration text from a temporary folder.
    """

    def setUp(self) -> None:
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)

    def load(self, text: str = "", **options: Any) -> HarperConfig:
        options.setdefault("environ", NO_ENV)
        return config_from_string(text, "harper.yaml", base_dir=self.folder, **options)

    def problems(self, text: str = "", **options: Any) -> list[str]:
        error = self.assertRaises(ConfigError, self.load, text, **options)
        return list(error.problems)


class DefaultsTests(ConfigTestCase):
    """
    The default file and the built-in defaults.
    """

    def test_default_file_loads(self) -> None:
        """
        conf/harper.yaml loads; its data folder is <repo>/var and it loads the kennel example.
        """
        config = load_config(DEFAULT_FILE, environ=NO_ENV)
        self.assertEqual(config.source, DEFAULT_FILE)
        self.assertEqual(config.root_path, os.path.join(REPO, "var"))
        self.assertEqual(
            config.applications,
            (ApplicationConfig(os.path.join(REPO, "conf", "components", "kennel")),),
        )
        self.assertEqual((config.http.port, config.operations_api.port), (9926, 9925))
        self.assertEqual(config.authentication.operation_token_timeout, 86400.0)
        self.assertEqual(config.storage.file_path, os.path.join(REPO, "var/database/harper.fs"))
        self.assertEqual(config.logging.file, os.path.join(REPO, "var/log/harper.log"))

    def test_default_file_matches_built_in_defaults(self) -> None:
        """
        conf/harper.yaml sets every key, to the built-in default except rootPath and
        applications.
        """
        with open(DEFAULT_FILE) as stream:
            written = leaves(yaml.safe_load(stream))
        built_in = leaves(load_config(None, environ=NO_ENV).raw)
        self.assertEqual(sorted(written), sorted(built_in))
        from_file = leaves(load_config(DEFAULT_FILE, environ=NO_ENV).raw)
        for key in ("rootPath", "applications"):
            del from_file[key], built_in[key]
        self.assertEqual(from_file, built_in)

    def test_docs_describe_every_key(self) -> None:
        """
        docs/configuration.md names every key by its dotted name.
        """
        with open(os.path.join(REPO, "docs", "configuration.md")) as stream:
            documented = set(re.findall(r"`([A-Za-z.]+)`", stream.read()))
        missing = set(leaves(load_config(None, environ=NO_ENV).raw)) - documented
        self.assertEqual(missing, set())

    def test_no_file_uses_current_folder(self) -> None:
        """
        Without a file, rootPath ./var is relative to the current folder, and values derived
        from it (database file, log file, thread count) are filled in.
        """
        config = load_config(None, environ=NO_ENV)
        root = os.path.join(os.getcwd(), "var")
        self.assertEqual(config.source, "<defaults>")
        self.assertEqual(config.root_path, root)
        self.assertEqual(config.storage.file_path, os.path.join(root, "database", "harper.fs"))
        self.assertEqual(config.logging.file, os.path.join(root, "log", "harper.log"))
        self.assertEqual(config.threads.count, os.cpu_count() or 1)
        self.assertEqual(config.http.cors_access_list, ())
        self.assertIsNone(config.admin_bootstrap)

    def test_empty_text_is_all_defaults(self) -> None:
        """
        An empty document sets nothing, so every key keeps its default.
        """
        self.assertEqual(self.load("").raw, self.load("{}").raw)
        self.assertEqual(self.load("").mqtt.port, 1883)

    def test_frozen(self) -> None:
        """
        The configuration and its sections cannot be changed.
        """
        config = self.load()
        self.assertRaises(attr.exceptions.FrozenInstanceError, setattr, config.http, "port", 1)
        self.assertRaises(attr.exceptions.FrozenInstanceError, setattr, config, "http", None)

    def test_raw_reloads_to_the_same_configuration(self) -> None:
        """
        The raw values are a complete configuration: loading them again gives the same result.
        """
        config = self.load("http: {port: 1}\napplications: [app]\nlogging: {file: x.log}")
        again = self.load(yaml.safe_dump(config.raw))
        self.assertEqual(again, config)
        self.assertEqual(again.raw, config.raw)


class FileProblemTests(ConfigTestCase):
    """
    Problems with the file as a whole.
    """

    def test_missing_file(self) -> None:
        """
        A configuration file that does not exist is named in the error.
        """
        missing = os.path.join(self.folder, "nope.yaml")
        error = self.assertRaises(ConfigError, load_config, missing, environ=NO_ENV)
        self.assertEqual(
            error.problems,
            (f"{missing}: cannot read the configuration file: No such file or directory",),
        )
        self.assertIsInstance(error, StartupError)

    def test_not_utf8(self) -> None:
        """
        A file that is not UTF-8 text is reported, not a crash.
        """
        path = os.path.join(self.folder, "latin.yaml")
        with open(path, "wb") as stream:
            stream.write(b"manhole: {username: \xe9}\n")
        error = self.assertRaises(ConfigError, load_config, path, environ=NO_ENV)
        self.assertIn("not UTF-8 text", error.problems[0])

    def test_malformed_yaml(self) -> None:
        """
        A YAML syntax error is reported with its line and column (both from 1).
        """
        self.assertEqual(
            self.problems("http:\n  port: 1\n    host: x\n"),
            ["harper.yaml: line 3, column 9: malformed YAML: mapping values are not allowed here"],
        )

    def test_duplicate_key(self) -> None:
        """
        A key repeated in one mapping is an error rather than silently the last one.
        """
        self.assertEqual(
            self.problems("http:\n  port: 1\n  port: 2\n"),
            ["harper.yaml: line 3, column 3: malformed YAML: found duplicate key 'port'"],
        )

    def test_several_documents(self) -> None:
        """
        A file holding more than one YAML document is rejected, saying why.
        """
        self.assertEqual(
            self.problems("http: {}\n---\nmqtt: {}\n"),
            ["harper.yaml: line 2, column 1: malformed YAML: expected a single document in the "
             "stream, but found another document"],
        )

    def test_dates_are_strings(self) -> None:
        """
        Values that look like dates are read as strings.
        """
        self.assertEqual(self.load("manhole: {password: 2020-01-01}").manhole.password,
                         "2020-01-01")

    def test_top_level_not_mapping(self) -> None:
        """
        A document that is a list or a scalar is rejected.
        """
        for text in ("- a\n", "hello\n"):
            self.assertEqual(self.problems(text), ["harper.yaml: the top level must be a mapping"])

    def test_section_not_mapping(self) -> None:
        """
        A section given a scalar is reported with the section's key.
        """
        self.assertEqual(
            self.problems("http: 9926\n"),
            ["harper.yaml: http: expected a mapping of settings, got 9926"],
        )


class ValueProblemTests(ConfigTestCase):
    """
    Problems with single values.
    """

    def assertProblem(self, text: str, problem: str) -> None:
        self.assertEqual(self.problems(text), [f"harper.yaml: {problem}"])

    def test_unknown_key_with_suggestion(self) -> None:
        """
        An unknown key names the closest known key, also across case and underscores.
        """
        self.assertProblem("htp: {}", "htp: unknown key (did you mean 'http'?)")
        self.assertProblem("root_path: x", "root_path: unknown key (did you mean 'rootPath'?)")
        self.assertProblem(
            "http: {prot: 1}", "http.prot: unknown key (did you mean 'port'?)"
        )

    def test_unknown_key_without_suggestion(self) -> None:
        """
        An unknown key far from every known key gets no suggestion.
        """
        self.assertProblem("zzzzzz: 1", "zzzzzz: unknown key")

    def test_wrong_type(self) -> None:
        """
        A value of the wrong type is reported with what was expected and what was found;
        booleans are not integers.
        """
        self.assertProblem(
            "http: {port: abc}", "http.port: expected an integer from 0 to 65535, got 'abc'"
        )
        self.assertProblem(
            "http: {port: true}", "http.port: expected an integer from 0 to 65535, got true"
        )
        self.assertProblem("http: {cors: 'yes'}", "http.cors: expected true or false, got 'yes'")
        self.assertProblem(
            "http: {corsAccessList: a}", "http.corsAccessList: expected a list, got 'a'"
        )

    def test_out_of_range(self) -> None:
        """
        Ports above 65535 and sizes below their minimum are out of range.
        """
        self.assertProblem(
            "mqtt: {port: 65536}", "mqtt.port: expected an integer from 0 to 65535, got 65536"
        )
        self.assertProblem(
            "http: {securePort: -1}",
            "http.securePort: expected an integer from 0 to 65535 or null, got -1",
        )
        self.assertProblem(
            "http: {maxBodySize: 0}", "http.maxBodySize: expected an integer of at least 1, got 0"
        )

    def test_bad_enum(self) -> None:
        """
        A log level outside the list is rejected; a known one in capitals is accepted.
        """
        self.assertProblem(
            "logging: {level: verbose}",
            "logging.level: expected one of trace, debug, info, warn, error, fatal, notify, "
            "got 'verbose'",
        )
        self.assertEqual(self.load("logging: {level: DEBUG}").logging.level, "debug")

    def test_durations(self) -> None:
        """
        Durations are numbers of seconds or a number with a unit, returned in seconds.
        """
        for written, seconds in [(90, 90.0), (1.5, 1.5), ("30s", 30.0), ("15m", 900.0),
                                 ("1h", 3600.0), ("1d", 86400.0), ("2w", 1209600.0),
                                 ("250ms", 0.25), ("45", 45.0)]:
            self.assertEqual(duration(written), seconds, written)

    def test_bad_duration(self) -> None:
        """
        A duration with an unknown unit, a zero duration or a boolean is rejected.
        """
        self.assertProblem(
            "logging: {auditRetention: 5x}",
            "logging.auditRetention: expected a duration such as 30s, 15m, 1h or 1d, got '5x'",
        )
        for bad in ("0s", True, [1]):
            self.assertRaises(Invalid, duration, bad)

    def test_lists(self) -> None:
        """
        Every bad entry of a list is reported with its index.
        """
        self.assertEqual(
            self.problems("http: {corsAccessList: [a, 1, b, false]}"),
            ["harper.yaml: http.corsAccessList[1]: expected a string, got 1",
             "harper.yaml: http.corsAccessList[3]: expected a string, got false"],
        )

    def test_plugin_packages(self) -> None:
        """
        Plugin packages must be dotted Python names.
        """
        self.assertProblem(
            "pluginPackages: [my.plugins, not-a-name]",
            "pluginPackages[1]: expected a dotted Python package name, got 'not-a-name'",
        )


class StorageTests(ConfigTestCase):
    """
    C{storage.uri} and its scheme registry.
    """

    def test_unknown_scheme(self) -> None:
        """
        A scheme nobody registered is rejected, listing those that are.
        """
        self.assertEqual(
            self.problems("storage: {uri: 'ftp://x:1'}"),
            ["harper.yaml: storage.uri: unsupported storage scheme 'ftp' "
             "(supported: file, memory, postgres, postgresql, zeo)"],
        )

    def test_not_a_uri(self) -> None:
        """
        A plain path is not a storage URI.
        """
        [problem] = self.problems("storage: {uri: /data/harper.fs}")
        self.assertIn("expected a storage URI such as 'file:'", problem)

    def test_registered_scheme(self) -> None:
        """
        A registered scheme is accepted when its check passes, and its check's problems are
        reported when it does not.
        """
        schemes = StorageSchemes()
        schemes.register("file", config_storage.check_file_uri)
        self.patch(config_storage, "STORAGE_SCHEMES", schemes)
        register_storage_scheme("zeo", lambda uri: [] if "@" not in uri else ["no users here"])
        config = self.load("storage: {uri: 'zeo://db:8100'}")
        self.assertEqual((config.storage.uri, config.storage.file_path), ("zeo://db:8100", None))
        self.assertEqual(
            self.problems("storage: {uri: 'zeo://me@db:8100'}"),
            ["harper.yaml: storage.uri: no users here"],
        )

    def test_bad_scheme_name(self) -> None:
        """
        Registering something that is not a scheme name is a programming error.
        """
        self.assertRaises(ValueError, StorageSchemes().register, "file:", lambda uri: [])

    def test_file_uris(self) -> None:
        """
        C{file:} is the default database under the root path; other file: URIs are made
        absolute against the file's folder.
        """
        cases = {
            "file:": os.path.join(self.folder, "var", "database", "harper.fs"),
            "file:data/h.fs": os.path.join(self.folder, "data", "h.fs"),
            "file:/srv/h.fs": "/srv/h.fs",
            "file:///srv/h.fs": "/srv/h.fs",
        }
        for uri, expected in cases.items():
            self.assertEqual(self.load(f"storage: {{uri: '{uri}'}}").storage.file_path, expected)

    def test_bad_file_and_memory_uris(self) -> None:
        """
        A file: URI naming a host or a folder, and memory: with a path, are rejected.
        """
        for uri in ("file://host/h.fs", "file:data/", "memory:x"):
            self.assertEqual(len(self.problems(f"storage: {{uri: '{uri}'}}")), 1, uri)
        self.assertIsNone(self.load("storage: {uri: 'memory:'}").storage.file_path)


class OptionTests(ConfigTestCase):
    """
    C{--root}, C{--app} and C{--set}.
    """

    def test_set_parses_scalars(self) -> None:
        """
        --set values are YAML scalars: integers, booleans, null and strings.
        """
        config = self.load(overrides=[
            "http.port=19926", "mqtt.requireAuthentication=false", "logging.level=debug",
            "http.securePort=null", "manhole.password=a: b", "manhole.username=2020-01-01",
        ])
        self.assertEqual(config.http.port, 19926)
        self.assertIs(config.mqtt.require_authentication, False)
        self.assertEqual(config.logging.level, "debug")
        self.assertEqual(config.manhole.password, "a: b")
        self.assertEqual(config.manhole.username, "2020-01-01")

    def test_set_empty_and_flow_values(self) -> None:
        """
        An empty --set value is the empty string; brackets and quotes are parsed as YAML.
        """
        config = self.load(overrides=[
            "http.host=", "http.corsAccessList=[a.example, b.example]", "manhole.username='007'",
        ])
        self.assertEqual(config.http.host, "")
        self.assertEqual(config.http.cors_access_list, ("a.example", "b.example"))
        self.assertEqual(config.manhole.username, "007")

    def test_set_problems(self) -> None:
        """
        An unknown key, a bad value, a missing '=' and broken YAML in --set are all reported,
        with --set as their source.
        """
        self.assertEqual(
            self.problems(overrides=["htp.port=1", "http.port=abc", "http.port", "http.cors=[x"]),
            ["--set: htp: unknown key (did you mean 'http'?)",
             "--set: http.port: expected an integer from 0 to 65535, got 'abc'",
             "--set: 'http.port': expected dotted.key=value",
             "--set: http.cors: line 1, column 3: malformed YAML: while parsing a flow sequence, "
             "expected ',' or ']', but got '<stream end>'"],
        )

    def test_precedence(self) -> None:
        """
        --set wins over --root, which wins over the file, which wins over the defaults; --app
        adds to the file's applications.
        """
        text = "rootPath: fromfile\napplications: [one]\nhttp: {port: 1}"
        config = self.load(text, root="/r", apps=["/two"], overrides=["http.port=2"])
        self.assertEqual((config.root_path, config.http.port), ("/r", 2))
        self.assertEqual([app.path for app in config.applications],
                         [os.path.join(self.folder, "one"), "/two"])
        config = self.load(text, root="/r", overrides=["rootPath=/s", "applications=[]"])
        self.assertEqual((config.root_path, config.applications), ("/s", ()))
        self.assertEqual(self.load(text).operations_api.port, 9925)

    def test_relative_paths(self) -> None:
        """
        Relative paths in the file start at the file's folder; those of --root, --app and
        --set start at the current folder.
        """
        text = ("rootPath: data\ntls: {certificate: c.pem, privateKey: /k.pem}\n"
                "logging: {file: logs/h.log}\napplications: [{path: app, urlPath: /a}]\n")
        config = self.load(text)
        self.assertEqual(config.root_path, os.path.join(self.folder, "data"))
        self.assertEqual(config.tls.certificate, os.path.join(self.folder, "c.pem"))
        self.assertEqual(config.tls.private_key, "/k.pem")
        self.assertEqual(config.logging.file, os.path.join(self.folder, "logs", "h.log"))
        self.assertEqual(config.applications,
                         (ApplicationConfig(os.path.join(self.folder, "app"), "/a"),))
        here = os.getcwd()
        config = self.load(text, root="r", apps=["b"], overrides=["logging.file=l.log"])
        self.assertEqual(config.root_path, os.path.join(here, "r"))
        self.assertEqual(config.applications[-1].path, os.path.join(here, "b"))
        self.assertEqual(config.logging.file, os.path.join(here, "l.log"))
        self.assertEqual(config.raw["rootPath"], os.path.join(here, "r"))

    def test_empty_option_paths(self) -> None:
        """
        An empty --root or --app is reported with its option as the source.
        """
        self.assertEqual(
            self.problems(root="", apps=[""]),
            ["--root: rootPath: expected a non-empty path, got ''",
             "--app: applications[0]: expected a non-empty path, got ''"],
        )


class WholeConfigTests(ConfigTestCase):
    """
    Problems seen only across keys, several problems at once, and the environment.
    """

    def test_several_problems_in_one_error(self) -> None:
        """
        Every problem of every source is listed in one ConfigError, whose message shows them
        one per line.
        """
        text = "htp: {}\nhttp: {port: abc}\nlogging: {level: loud}\nstorage: {uri: 'ftp://x'}\n"
        error = self.assertRaises(
            ConfigError, self.load, text, overrides=["mqtt.port=-1"],
            environ={"HARPER_ADMIN_PASSWORD": "pw"},
        )
        self.assertEqual(len(error.problems), 6)
        self.assertEqual(str(error).splitlines()[0], "harper cannot start:")
        self.assertEqual(str(error).splitlines()[1:],
                         [f"  - {problem}" for problem in error.problems])
        self.assertEqual([problem.split(":")[0] for problem in error.problems],
                         ["harper.yaml"] * 4 + ["--set", "environment"])

    def test_secure_port_needs_tls(self) -> None:
        """
        A TLS port needs a certificate and a key, and each of those needs the other.
        """
        self.assertEqual(
            self.problems("http: {securePort: 9927}\ntls: {certificate: c.pem}"),
            ["harper.yaml: tls.privateKey: required when tls.certificate is set",
             "harper.yaml: http.securePort: needs tls.certificate and tls.privateKey"],
        )
        config = self.load("mqtt: {securePort: 8883}\ntls: {certificate: c.pem, privateKey: k}")
        self.assertEqual(config.mqtt.secure_port, 8883)

    def test_manhole_needs_password(self) -> None:
        """
        Switching the admin console on without a password is rejected.
        """
        self.assertEqual(
            self.problems("manhole: {sshPort: 2222}"),
            ["harper.yaml: manhole.password: required when manhole.telnetPort or sshPort is set"],
        )
        self.assertEqual(self.load("manhole: {sshPort: 2222, password: s}").manhole.ssh_port, 2222)

    def test_admin_bootstrap(self) -> None:
        """
        The administrator to create comes from both environment variables or neither.
        """
        both = {"HARPER_ADMIN_USERNAME": "root", "HARPER_ADMIN_PASSWORD": "pw"}
        self.assertEqual(self.load(environ=both).admin_bootstrap, ("root", "pw"))
        self.assertIsNone(self.load(environ={}).admin_bootstrap)
        self.assertEqual(
            self.problems(environ={"HARPER_ADMIN_USERNAME": "root"}),
            ["environment: HARPER_ADMIN_PASSWORD: must be set together with "
             "HARPER_ADMIN_USERNAME"],
        )
        self.assertEqual(
            self.problems(environ={**both, "HARPER_ADMIN_PASSWORD": ""}),
            ["environment: HARPER_ADMIN_PASSWORD: must not be empty"],
        )

    def test_applications_and_replication(self) -> None:
        """
        Applications are folders or {path, urlPath} mappings; routes are URLs or mappings
        whose hostname and port are checked and whose other keys are kept.
        """
        config = self.load(
            "applications: [a, {path: b, urlPath: /b}]\n"
            "replication: {databases: [data], routes: ['wss://n2:9933', "
            "{hostname: n3, port: 9933, shard: 1}]}\n"
        )
        self.assertEqual([app.url_path for app in config.applications], [None, "/b"])
        self.assertEqual(config.replication.databases, ("data",))
        self.assertEqual(config.replication.routes[0], "wss://n2:9933")
        self.assertEqual(config.replication.routes[1],
                         {"hostname": "n3", "port": 9933, "shard": 1})
        self.assertEqual(
            self.problems("applications: [{urlpath: x}]\nreplication: {routes: [{port: x}]}"),
            ["harper.yaml: applications[0].path: required key is missing",
             "harper.yaml: applications[0].urlpath: unknown key (did you mean 'urlPath'?)",
             "harper.yaml: replication.routes[0].port: expected an integer from 0 to 65535 "
             "or null, got 'x'"],
        )
