# -*- test-case-name: tests.components.test_config -*-
"""
Load the root configuration (C{harper.yaml}) into a frozen L{HarperConfig}.

Values come from four layers, each overriding the one before: built-in defaults, the YAML
file, the C{--root}/C{--app} options, and C{--set dotted.key=value} options. Every layer is
checked against the keys declared in L{harper.components.config_sections}; relative paths are
made absolute against the file's folder (for the defaults and the file) or the current folder
(for options). Every problem in every layer is collected, and one L{ConfigError} lists them
all: no partial configuration is ever returned. docs/configuration.md describes the keys.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Sequence

import attr
import yaml

from harper.components.config_schema import Report, built, checked, defaults, merged
from harper.components.config_sections import (
    ApplicationConfig,
    AuthenticationConfig,
    HarperConfig,
    HttpConfig,
    LoggingConfig,
    ManholeConfig,
    MqttConfig,
    OperationsApiConfig,
    ReplicationConfig,
    StorageConfig,
    ThreadsConfig,
    TlsConfig,
)
from harper.components.config_storage import (
    StorageSchemes,
    register_storage_scheme,
    storage_file_path,
)
from harper.errors import ConfigError

__all__ = [
    "ApplicationConfig",
    "AuthenticationConfig",
    "ConfigError",
    "HarperConfig",
    "HttpConfig",
    "LoggingConfig",
    "ManholeConfig",
    "MqttConfig",
    "OperationsApiConfig",
    "ReplicationConfig",
    "StorageConfig",
    "StorageSchemes",
    "ThreadsConfig",
    "TlsConfig",
    "config_from_string",
    "load_config",
    "register_storage_scheme",
]

#: The environment variables naming the administrator created on the first start.
ADMIN_USERNAME = "HARPER_ADMIN_USERNAME"
ADMIN_PASSWORD = "HARPER_ADMIN_PASSWORD"

#: The C{source} of a configuration built without a file.
DEFAULTS_SOURCE = "<defaults>"

_LISTENERS = ("http", "operationsApi", "mqtt")
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _StrictLoader(yaml.SafeLoader):
    """
    A safe YAML loader that rejects a key repeated in one mapping instead of keeping the last,
    and reads dates as strings (no key holds a date, but a password may look like one).
    """

    yaml_implicit_resolvers = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: list[Any] = []
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"found duplicate key {key!r}", key_node.start_mark
                )
            seen.append(key)
        return super().construct_mapping(node, deep)


@attr.frozen
class _Options:
    """
    What the command line and the environment add to the file.
    """

    root: Optional[str]
    apps: Sequence[str]
    overrides: Sequence[str]
    environ: Mapping[str, str]


class _Problems:
    """
    The problems found so far, one line each, prefixed with where they come from.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, source: str, message: str) -> None:
        self.lines.append(f"{source}: {message}")

    def reporter(self, source: str) -> Report:
        return lambda key, reason: self.add(source, f"{key}: {reason}")


def load_config(
    path: Optional[str],
    *,
    root: Optional[str] = None,
    apps: Sequence[str] = (),
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] = os.environ,
) -> HarperConfig:
    """
    Read, check and complete the root configuration.

    :param path: the YAML file (C{--config}); C{None} uses the built-in defaults, with
        relative paths starting at the current folder.
    :param root: replaces C{rootPath} (C{--root}), relative to the current folder.
    :param apps: application folders appended to C{applications} (C{--app}), relative to the
        current folder.
    :param overrides: C{dotted.key=value} strings (C{--set}), applied last, in order.
    :param environ: where C{HARPER_ADMIN_USERNAME} and C{HARPER_ADMIN_PASSWORD} are read.
    :raises ConfigError: listing every problem found, if there is any.
    """
    options = _Options(root, apps, overrides, environ)
    problems = _Problems()
    if path is None:
        return _assembled({}, DEFAULTS_SOURCE, "configuration", os.getcwd(), options, problems)
    document = None
    try:
        with open(path, "rb") as stream:
            document = _parsed(stream.read().decode("utf-8"), path, problems)
    except OSError as error:
        problems.add(path, f"cannot read the configuration file: {error.strerror}")
    except UnicodeDecodeError as error:
        problems.add(path, f"the configuration file is not UTF-8 text ({error.reason})")
    absolute = os.path.abspath(path)
    return _assembled(document, absolute, path, os.path.dirname(absolute), options, problems)


def config_from_string(
    text: str,
    source: str = "<string>",
    *,
    base_dir: str = ".",
    root: Optional[str] = None,
    apps: Sequence[str] = (),
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] = os.environ,
) -> HarperConfig:
    """
    Check and complete a root configuration given as YAML text, as L{load_config} does for a
    file.

    :param source: names the text in problems and becomes L{HarperConfig.source}.
    :param base_dir: the folder that relative paths in C{text} start from.
    :raises ConfigError: listing every problem found, if there is any.
    """
    problems = _Problems()
    document = _parsed(text, source, problems)
    options = _Options(root, apps, overrides, environ)
    return _assembled(document, source, source, os.path.abspath(base_dir), options, problems)


def _parsed(text: str, label: str, problems: _Problems) -> Optional[dict[Any, Any]]:
    """
    The mapping in a YAML document (empty for an empty document), or C{None} after reporting
    why there is none.
    """
    try:
        document = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as error:
        problems.add(label, _yaml_reason(error))
        return None
    if document is None:
        return {}
    if not isinstance(document, dict):
        problems.add(label, "the top level must be a mapping")
        return None
    return document


def _yaml_reason(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        reason = ", ".join(part for part in (error.context, error.problem) if part)
        if mark is not None:
            return f"line {mark.line + 1}, column {mark.column + 1}: malformed YAML: {reason}"
        return f"malformed YAML: {reason}"
    return f"malformed YAML: {error}"


def _assembled(
    document: Optional[dict[Any, Any]],
    source: str,
    label: str,
    base_dir: str,
    options: _Options,
    problems: _Problems,
) -> HarperConfig:
    """
    Merge the layers, check the result as a whole and build it, or raise every problem.

    :param document: the file's mapping, or C{None} if it could not be read.
    :param source: becomes L{HarperConfig.source}.
    :param label: names the file in problems.
    """
    raw = checked(HarperConfig, defaults(HarperConfig), base_dir, problems.reporter("defaults"))
    raw = merged(raw, checked(HarperConfig, document or {}, base_dir, problems.reporter(label)))
    raw = _with_options(raw, options, problems)
    for key, reason in _whole_problems(raw):
        problems.add(label, f"{key}: {reason}")
    admin = _admin_bootstrap(options.environ, problems.reporter("environment"))
    if problems.lines:
        raise ConfigError(problems.lines)
    return built(HarperConfig, raw, _derived(raw, source, admin))


def _with_options(raw: dict[str, Any], options: _Options, problems: _Problems) -> dict[str, Any]:
    """
    Apply C{--root}, then C{--app}, then each C{--set} to checked values.
    """
    here = os.getcwd()
    if options.root is not None:
        raw = merged(raw, checked(HarperConfig, {"rootPath": options.root}, here,
                                  problems.reporter("--root")))
    if options.apps:
        added = checked(HarperConfig, {"applications": list(options.apps)}, here,
                        problems.reporter("--app"))
        raw = {**raw, "applications": raw["applications"] + added.get("applications", [])}
    for override in options.overrides:
        layer = _override_layer(override, problems)
        raw = merged(raw, checked(HarperConfig, layer, here, problems.reporter("--set")))
    return raw


def _override_layer(override: str, problems: _Problems) -> dict[str, Any]:
    """
    Turn C{a.b=value} into C{{"a": {"b": value}}}, or report why it cannot be.
    """
    key, equals, text = override.partition("=")
    parts = key.strip().split(".")
    if not equals or not all(parts):
        problems.add("--set", f"{override!r}: expected dotted.key=value")
        return {}
    try:
        layer: Any = _override_value(text.strip())
    except yaml.YAMLError as error:
        problems.add("--set", f"{key.strip()}: {_yaml_reason(error)}")
        return {}
    for part in reversed(parts):
        layer = {part: layer}
    return layer


def _override_value(text: str) -> Any:
    """
    The value of a C{--set} option: empty is the empty string; text starting with a bracket,
    a brace or a quote is YAML; anything else is a plain YAML scalar (C{19926} is an integer,
    C{false} a boolean, C{null} null, C{debug} or C{a: b} a string).
    """
    if not text:
        return ""
    if text[0] in "[{\"'":
        return yaml.load(text, Loader=_StrictLoader)
    loader = _StrictLoader("")
    tag = loader.resolve(yaml.ScalarNode, text, (True, False))
    return loader.construct_object(yaml.ScalarNode(tag, text))


def _whole_problems(raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """
    The problems that only show when keys are seen together.
    """
    found = []
    tls = raw["tls"]
    for present, absent in (("certificate", "privateKey"), ("privateKey", "certificate")):
        if tls[present] is not None and tls[absent] is None:
            found.append((f"tls.{absent}", f"required when tls.{present} is set"))
    for section in _LISTENERS:
        if raw[section]["securePort"] and (tls["certificate"] is None or tls["privateKey"] is None):
            found.append((f"{section}.securePort", "needs tls.certificate and tls.privateKey"))
        if raw[section]["mtls"] and tls["certificateAuthority"] is None:
            found.append(
                (f"{section}.mtls", "needs tls.certificateAuthority to verify client certificates")
            )
        if raw[section]["mtls"] and not raw[section]["securePort"]:
            found.append((f"{section}.mtls", f"applies to the TLS port: set {section}.securePort"))
    manhole = raw["manhole"]
    if (manhole["telnetPort"] or manhole["sshPort"]) and manhole["password"] is None:
        found.append(("manhole.password", "required when manhole.telnetPort or sshPort is set"))
    return found


def _admin_bootstrap(environ: Mapping[str, str], report: Report) -> Optional[tuple[str, str]]:
    """
    The administrator to create on the first start, from the environment.
    """
    username, password = environ.get(ADMIN_USERNAME), environ.get(ADMIN_PASSWORD)
    if username is None and password is None:
        return None
    for name, value, other in (
        (ADMIN_USERNAME, username, ADMIN_PASSWORD),
        (ADMIN_PASSWORD, password, ADMIN_USERNAME),
    ):
        if value is None:
            report(name, f"must be set together with {other}")
        elif not value:
            report(name, "must not be empty")
    return (username or "", password or "")


def _derived(raw: dict[str, Any], source: str, admin: Optional[tuple[str, str]]) -> dict[str, Any]:
    """
    The attribute values that do not come straight from a key.
    """
    root = raw["rootPath"]
    return {
        "source": source,
        "raw": raw,
        "admin_bootstrap": admin,
        "storage": {"file_path": storage_file_path(raw["storage"]["uri"], root)},
        "logging": {"file": raw["logging"]["file"] or os.path.join(root, "log", "harper.log")},
        "threads": {"count": raw["threads"]["count"] or os.cpu_count() or 1},
    }
