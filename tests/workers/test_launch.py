"""
Tests for L{harper.workers.launch}: which service a C{twistd harper} process runs.
"""

from __future__ import annotations

import io
import os
import socket
import sys

from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import TestCase

from harper.errors import ConfigError, StartupError
from harper.service.root import HarperService
from harper.service.tap import Options, build_service, makeService
from harper.workers.launch import process_service
from harper.workers.master import MasterService
from harper.workers.worker import WorkerLink, worker_option


class ProcessServiceTests(TestCase):
    """
    L{process_service} picks the single process, the master or a worker.
    """

    def build(self, *arguments: str):
        """
        The options of C{twistd harper --root <tmp> *arguments}, and the service they give.
        """
        options = Options()
        options.parseOptions(["--root", self.mktemp(), *arguments])
        reactor = MemoryReactor()
        return process_service(options, build_service(options, reactor), reactor)

    def test_single_process(self) -> None:
        """
        Without C{threads.count} (the default, whatever the cores) or with 1, the daemon is one
        process, as before workers existed.
        """
        for arguments in ((), ("--set", "threads.count=1")):
            harper = self.build(*arguments)
            self.assertIsInstance(harper, HarperService)
            self.assertIsNone(harper.worker)

    def test_master(self) -> None:
        """
        With C{threads.count} above 1 the process is the master of that many workers.
        """
        master = self.build("--set", "threads.count=3")
        self.assertIsInstance(master, MasterService)
        self.assertEqual(master.count, 3)

    def test_unsupported(self) -> None:
        """
        Workers with something they do not do are refused before anything starts, naming the
        key; one process with the same configuration is fine.
        """
        with self.assertRaises(StartupError) as raised:
            self.build("--set", "threads.count=2", "--set", "storage.uri=memory:")
        self.assertIn("storage.uri: a memory: store cannot be shared", raised.exception.message)
        self.assertIsInstance(self.build("--set", "storage.uri=memory:"), HarperService)

    def test_worker(self) -> None:
        """
        With C{--worker} the process is the daemon with a L{WorkerLink} holding the inherited
        sockets and the worker's number; worker 0 alone replicates.
        """
        sockets = {"http.port": (4, socket.AF_INET)}
        harper = self.build("--set", "threads.count=1", "--worker", worker_option(3, sockets, 1))
        self.assertIsInstance(harper.worker, WorkerLink)
        self.assertEqual((harper.worker.sockets, harper.worker.index), (sockets, 1))
        self.assertFalse(harper.worker.primary)
        self.assertIs(harper.worker.parent, harper)

    def test_malformed_worker_option(self) -> None:
        """
        A malformed C{--worker} is refused with a L{ConfigError}; C{makeService} exits with
        status 1.
        """
        self.assertRaises(ConfigError, self.build, "--worker", "nonsense")
        options = Options()
        options.parseOptions(["--root", os.path.abspath(self.mktemp()), "--worker", "nonsense"])
        self.patch(sys, "stderr", io.StringIO())
        with self.assertRaises(SystemExit) as raised:
            makeService(options)
        self.assertEqual(raised.exception.code, 1)
        self.assertIn("--worker is internal", sys.stderr.getvalue())
