# -*- test-case-name: tests.service.test_tap -*-
"""
The C{twistd harper} command line and the service it builds.

Everything that can be wrong with the configuration, the applications or their schemas is
found here, before the daemon forks or listens: it exits with one message listing every
problem.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import Any

from twisted.python import usage

from harper.components.config import load_config
from harper.components.loader import discover_plugins, load_applications
from harper.components.runtime import Runtime, plan_tables
from harper.errors import StartupError
from harper.service.root import HarperService
from harper.workers.launch import process_service

#: The settings C{--dev} implies (an explicit C{--set} still wins).
DEV_OVERRIDES = ["logging.level=debug"]


class Options(usage.Options):
    """
    C{twistd harper [--dev] [--config FILE] [--root DIR] [--app DIR]... [--set dotted.key=value]...}
    """

    synopsis = "[--dev] [--config FILE] [--root DIR] [--app DIR]... [--set key=value]..."
    optFlags = [
        ["dev", None, "Dev mode: log at debug level and reload an application when one of its files changes."],
    ]
    optParameters = [
        ["config", "c", None, "The root configuration file (YAML). Default: built-in defaults."],
        ["root", "r", None, "The data folder (overrides rootPath)."],
        ["worker", None, None, "Internal: run as a worker of a master process (harper.workers)."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["app"] = []
        self["set"] = []

    def opt_app(self, path: str) -> None:
        """
        Load the application in folder PATH (repeatable).
        """
        self["app"].append(path)

    def opt_set(self, assignment: str) -> None:
        """
        Override a configuration key: dotted.key=value, the value read as YAML (repeatable).
        """
        if "=" not in assignment:
            raise usage.UsageError(f"--set needs dotted.key=value, got {assignment!r}")
        self["set"].append(assignment)


def build_service(options: Options, reactor: Any) -> HarperService:
    """
    Read the configuration, load the applications and plan the tables; raise
    L{StartupError} with every problem found.
    """
    overrides = (DEV_OVERRIDES if options["dev"] else []) + options["set"]
    config = load_config(options["config"], root=options["root"], apps=options["app"], overrides=overrides)
    plugins = discover_plugins(config.plugin_packages)
    applications = load_applications(config, plugins)
    planned = plan_tables(applications)
    return HarperService(config, Runtime(config, planned, reactor), reactor, dev=options["dev"], plugins=plugins)


def makeService(options: Options) -> HarperService:
    """
    The service twistd runs; exits with the list of problems when harper cannot start.

    A service that refuses to start once the reactor runs (see
    L{HarperService.exit_status}) makes the process exit with status 1, after twistd has
    cleaned up.
    """
    from twisted.internet import reactor

    try:
        harper = process_service(options, build_service(options, reactor), reactor)
    except StartupError as error:
        sys.stderr.write(f"{error.message}\n")
        raise SystemExit(1)
    atexit.register(_exit_with_status, harper)
    return harper


def _exit_with_status(harper: HarperService) -> None:
    """
    At interpreter exit, end the process with C{harper}'s exit status when it is not 0:
    twistd itself always exits with 0 once the reactor has run.
    """
    if harper.exit_status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(harper.exit_status)
