# -*- test-case-name: tests.workers.test_launch -*-
"""
Which service a C{twistd harper} process runs: the plain single-process daemon, a worker (the
internal option C{--worker}), or the master of C{threads.count} workers.
"""

from __future__ import annotations

from typing import Any, Mapping

from harper.errors import StartupError
from harper.workers.master import MasterService, unsupported, worker_count
from harper.workers.process import harper_arguments
from harper.workers.worker import WorkerLink, parse_worker_option


def process_service(options: Mapping[str, Any], harper: Any, reactor: Any) -> Any:
    """
    The service this process runs, given its options and the single-process daemon C{harper}
    (a L{harper.service.root.HarperService}) built from them.

    :raises harper.errors.StartupError: when C{--worker} is malformed, or when the
        configuration asks for workers and for something they do not do.
    """
    if options.get("worker"):
        bus, sockets, index = parse_worker_option(options["worker"])
        harper.worker = WorkerLink(bus, sockets, harper.runtime.feed, reactor, index)
        harper.worker.setServiceParent(harper)
        return harper
    count = worker_count(harper.config)
    if count == 1:
        return harper
    problems = unsupported(harper.config)
    if problems:
        raise StartupError(problems)
    return MasterService(harper.config, harper_arguments(options, harper.config.root_path), count, reactor)
