# -*- test-case-name: tests.components.test_loader -*-
"""
Find the plugins and load every configured application with them, collecting every problem
before anything starts.
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Iterable, Mapping

import yaml
from twisted.plugin import getPlugins

from harper.components.application import Application
from harper.components.builtin import BUILTIN_PLUGINS, DEFAULT_APPLICATION_CONFIG
from harper.errors import ComponentError, StartupError
from harper.interfaces import IHarperPlugin


def discover_plugins(packages: Iterable[str]) -> dict[str, Any]:
    """
    The built-in plugins plus every L{IHarperPlugin} found in C{packages} (dotted names of
    Twisted plugin packages, such as C{twisted.plugins}), by name.

    :raises ComponentError: when a package cannot be imported or two plugins share a name.
    """
    plugins = {plugin.name: plugin for plugin in BUILTIN_PLUGINS}
    problems = []
    for package_name in packages:
        try:
            package = importlib.import_module(package_name)
        except ImportError as error:
            problems.append(f"pluginPackages: cannot import {package_name}: {error}")
            continue
        for plugin in getPlugins(IHarperPlugin, package):
            if plugin.name in plugins and plugins[plugin.name] is not plugin:
                problems.append(f"{package_name}: a second plugin is named {plugin.name!r}")
                continue
            plugins[plugin.name] = plugin
    if problems:
        raise ComponentError(problems)
    return plugins


def read_application_config(path: str) -> dict[str, Any]:
    """
    An application's C{config.yaml}, or Harper's default plugin set when it has none.
    """
    config_file = os.path.join(path, "config.yaml")
    if not os.path.exists(config_file):
        return dict(DEFAULT_APPLICATION_CONFIG)
    try:
        with open(config_file, encoding="utf-8") as stream:
            document = yaml.safe_load(stream)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ComponentError([f"{config_file}{where}: malformed YAML: {error.problem}"]) from error
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ComponentError([f"{config_file}: cannot read: {error}"]) from error
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ComponentError([f"{config_file}: the top level must be a mapping of plugin names"])
    return document


def load_application(
    path: str, url_path: str, config: Any, plugins: Mapping[str, Any]
) -> Application:
    """
    Run every plugin an application's config enables; raise one L{ComponentError} listing all
    problems.
    """
    if not os.path.isdir(path):
        raise ComponentError([f"{path}: the application folder does not exist"])
    application = Application(path, config, url_path)
    config_file = os.path.join(path, "config.yaml")
    settings = read_application_config(path)
    problems = []
    for key, options in settings.items():
        plugin = plugins.get(key)
        if plugin is None:
            problems.append(f"{config_file}: {key}: unknown plugin (known: {', '.join(sorted(plugins))})")
            continue
        try:
            found = plugin.check(options)
        except Exception as error:
            found = [f"{key}: checking the options failed: {type(error).__name__}: {error}"]
        problems.extend(f"{config_file}: {problem}" for problem in found)
    if problems:
        raise ComponentError(problems)
    for key, options in settings.items():
        try:
            plugins[key].handle_application(application, options)
        except StartupError as error:
            problems.extend(error.problems)
        except Exception as error:
            problems.append(f"{config_file}: plugin {key} failed: {type(error).__name__}: {error}")
    if problems:
        raise ComponentError(problems)
    return application


#: The folder under C{rootPath} where the operations API deploys applications (Harper's
#: C{componentsRoot}); each folder in it is loaded at start like a configured application.
COMPONENTS_FOLDER = "components"


def components_root(config: Any) -> str:
    """
    The absolute folder of deployed applications: C{<rootPath>/components}.
    """
    return os.path.join(config.root_path, COMPONENTS_FOLDER)


def component_folders(config: Any) -> list[str]:
    """
    The application folders in L{components_root} that C{config.applications} does not list
    already, sorted by name (hidden folders are left out).
    """
    root = components_root(config)
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    configured = {os.path.realpath(entry.path) for entry in config.applications}
    folders = [os.path.join(root, name) for name in names if not name.startswith(".")]
    return [folder for folder in folders if os.path.isdir(folder) and os.path.realpath(folder) not in configured]


def load_applications(config: Any, plugins: Mapping[str, Any]) -> list[Application]:
    """
    Load every application of the config, then those of L{component_folders}; raise one
    L{ComponentError} listing every problem of every application.
    """
    applications, problems = [], []
    entries = [(entry.path, entry.url_path or "") for entry in config.applications]
    entries += [(folder, "") for folder in component_folders(config)]
    for path, url_path in entries:
        try:
            applications.append(load_application(path, url_path, config, plugins))
        except StartupError as error:
            problems.extend(error.problems)
    if problems:
        raise ComponentError(problems)
    return applications
