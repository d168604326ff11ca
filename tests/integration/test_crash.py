# -*- test-case-name: tests.integration.test_crash -*-
"""
Crash safety of acknowledged writes (issue 7, part 3).

Several HTTP clients PUT records into a real harper daemon (the kennel example), and several
MQTT clients (paho-mqtt) write other records with retained QoS 1 PUBLISHes to C{Dog/<id>},
while the daemon is killed with SIGKILL at random moments and restarted on the same root.
After every restart each record holds the value of its last acknowledged write (HTTP 2xx,
PUBACK), or of a write sent after it whose answer the crash cut off; every record matches
the checksum it carries (no torn record); the C{breedId} and C{name} indexes agree with the
records they point at (an index entry and its record are written in one transaction, so
neither is visible without the other). At the end, with the daemon stopped, the FileStorage
passes ZODB's C{fstest} and C{fsrefs}.

SIGKILL ends the process, not the machine: the kernel keeps what it was given, so this checks
that nothing is acknowledged before its commit and that a commit cut short is rolled back at
the next start; it does not simulate a power loss.

C{HARPER_LONG_TESTS=1} kills the daemon 200 times instead of 20 (soak). A failure names the
seed of its kill moments; C{HARPER_CRASH_SEED=<seed>} repeats them.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import sys
from typing import Any
from urllib.parse import quote

import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from harper.database.storage import default_file_path
from tests.integration.writes import (
    CUT_OFF,
    DEADLINE,
    FIRST_BREED,
    HTTPWriter,
    Ledger,
    MQTTConnection,
    MQTTWriter,
)
from tests.service.helpers import (
    KENNEL_CONFIG,
    TWISTD,
    ChildProcess,
    daemon_arguments,
    free_port,
    start_process,
    stop_process,
    wait_until_listening,
)

#: How many times the daemon is killed.
KILLS = 200 if os.environ.get("HARPER_LONG_TESTS") == "1" else 20

#: Concurrent HTTP writers (clients 0 to 3) and MQTT publishers (clients 4 and 5).
HTTP_CLIENTS = 4
MQTT_CLIENTS = 2

#: Seconds of load before a kill: drawn between these bounds.
KILL_DELAY = (0.2, 1.0)

#: The super user the MQTT clients log in as (created at the first start).
USERNAME, PASSWORD = "crash", "crash-secret"


class CrashSafetyTests(TestCase):
    """
    Acknowledged writes of a daemon killed again and again.
    """

    timeout = 120 + 5 * KILLS

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        self.port, self.mqtt_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.seed = int(os.environ.get("HARPER_CRASH_SEED") or random.randrange(2**32))
        self.random = random.Random(self.seed)
        self.ledgers = {"HTTP": Ledger(), "MQTT": Ledger()}
        # The daemon's first start creates this super user, whom the MQTT clients log in as.
        self.patch(os, "environ", dict(os.environ, HARPER_ADMIN_USERNAME=USERNAME,
                                       HARPER_ADMIN_PASSWORD=PASSWORD))

    async def start_daemon(self) -> ChildProcess:
        """
        Start the kennel daemon on C{self.root} and wait until it answers HTTP and listens
        for MQTT.
        """
        arguments = daemon_arguments(self.root, self.port, "--config", KENNEL_CONFIG,
                                     "--set", f"mqtt.port={self.mqtt_port}")
        daemon = start_process(self, TWISTD, arguments)
        deadline = reactor.seconds() + DEADLINE
        while not await self.answers():
            if not daemon.running or reactor.seconds() > deadline:
                self.fail(f"the daemon did not start (seed {self.seed}):\n{daemon.output()}")
            await deferLater(reactor, 0.05, lambda: None)
        await wait_until_listening(daemon, self.mqtt_port)
        return daemon

    async def kill(self, daemon: ChildProcess) -> None:
        """
        SIGKILL the daemon and wait for it to be gone.
        """
        if daemon.running:
            daemon.transport.signalProcess("KILL")
        await daemon.ended()

    async def answers(self) -> bool:
        """
        Whether the daemon answers an HTTP request now.
        """
        pool = HTTPConnectionPool(reactor, persistent=False)
        try:
            response = await treq.get(f"{self.base}/Dog/probe", pool=pool, timeout=DEADLINE)
            await treq.content(response)
        except CUT_OFF:
            return False
        return True

    async def connect(self, count: int) -> list[MQTTConnection]:
        """
        Connect C{count} MQTT clients, one after the other (the first login is verified, the
        others find it in the daemon's cache); each is closed when the test ends.
        """
        connections = []
        for number in range(count):
            connection = MQTTConnection(f"crash-mqtt{number}", USERNAME, PASSWORD)
            self.addCleanup(connection.close)
            await connection.connect(self.mqtt_port)
            connections.append(connection)
        return connections

    async def load_then_kill(
        self, daemon: ChildProcess, writers: list[HTTPWriter],
        publishers: list[tuple[MQTTWriter, MQTTConnection]],
    ) -> None:
        """
        Start every writer, SIGKILL the daemon after a random delay, wait for the writers.
        """
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.retryAutomatically = False
        pool.maxPersistentPerHost = len(writers)
        running = [
            Deferred.fromCoroutine(writer.write_until_cut_off(self.base, pool))
            for writer in writers
        ] + [
            Deferred.fromCoroutine(publisher.write_until_cut_off(connection))
            for publisher, connection in publishers
        ]
        await deferLater(reactor, self.random.uniform(*KILL_DELAY), lambda: None)
        await self.kill(daemon)
        for writing in running:
            await writing
        await pool.closeCachedConnections()

    async def get_json(self, pool: HTTPConnectionPool, path: str) -> tuple[int, Any]:
        """
        GET C{path}: the status and the decoded JSON body (C{None} when not 200).
        """
        response = await treq.get(f"{self.base}{path}", pool=pool, timeout=DEADLINE)
        content = await treq.content(response)
        return response.code, (json.loads(content) if response.code == 200 else content)

    async def stored_records(self, pool: HTTPConnectionPool, problems: list[str]) -> dict[str, dict]:
        """
        GET every record written so far; note what is wrong with each in C{problems}.
        """
        stored = {}
        for transport, ledger in self.ledgers.items():
            for record_id in ledger.record_ids():
                code, record = await self.get_json(pool, f"/Dog/{record_id}")
                if code not in (200, 404):
                    problems.append(f"GET {record_id} answered {code}: {record!r}")
                    continue
                record = record if code == 200 else None
                problem = ledger.problem(record_id, record)
                if problem is not None:
                    problems.append(f"{transport} {problem}")
                if record is not None:
                    stored[record_id] = record
        return stored

    async def index_problems(self, stored: dict[str, dict], pool: HTTPConnectionPool) -> list[str]:
        """
        Check that the breedId index of each client finds exactly its stored records, and
        the name index each record by its current name.
        """
        problems = []
        for client in range(HTTP_CLIENTS + MQTT_CLIENTS):
            breed = FIRST_BREED + client
            code, found = await self.get_json(pool, f"/Dog/?breedId={breed}")
            expected = {k: r for k, r in stored.items() if r["breedId"] == breed}
            if code != 200 or {r["id"]: r for r in found} != expected:
                problems.append(f"breedId={breed} finds {found!r}, the records are {expected!r}")
        for record_id, record in stored.items():
            code, found = await self.get_json(pool, f"/Dog/?name={quote(record['name'])}")
            if code != 200 or [r["id"] for r in found] != [record_id]:
                problems.append(f"name={record['name']} finds {found!r}")
        return problems

    async def assert_intact(self, daemon: ChildProcess, moment: str) -> None:
        """
        Fail, naming C{moment}, if any record or index breaks what the writes allow.
        """
        pool = HTTPConnectionPool(reactor, persistent=True)
        problems: list[str] = []
        try:
            stored = await self.stored_records(pool, problems)
            problems += await self.index_problems(stored, pool)
        finally:
            await pool.closeCachedConnections()
        if problems:
            listed = "\n".join(problems)
            self.fail(f"{moment} (seed {self.seed}):\n{listed}\n--- daemon log ---\n{daemon.output()}")

    async def assert_storage_consistent(self) -> None:
        """
        Run ZODB's fstest and fsrefs on the stopped daemon's FileStorage: no output, status 0.
        """
        path = default_file_path(self.root)
        for script in ("fstest", "fsrefs"):
            out, err, code = await getProcessOutputAndValue(
                sys.executable, ["-m", f"ZODB.scripts.{script}", path], env=dict(os.environ)
            )
            self.assertEqual((code, out + err), (0, b""), f"{script} {path} reports problems")

    async def kill_repeatedly(self) -> None:
        sequence = itertools.count(1)
        writers = [HTTPWriter(client, sequence, self.ledgers["HTTP"]) for client in range(HTTP_CLIENTS)]
        publishers = [
            MQTTWriter(client, sequence, self.ledgers["MQTT"])
            for client in range(HTTP_CLIENTS, HTTP_CLIENTS + MQTT_CLIENTS)
        ]
        for kill in range(1, KILLS + 1):
            daemon = await self.start_daemon()
            connecting = Deferred.fromCoroutine(self.connect(len(publishers)))
            await self.assert_intact(daemon, f"after {kill - 1} kills")
            connections = await connecting
            before = {transport: ledger.acknowledgements for transport, ledger in self.ledgers.items()}
            await self.load_then_kill(daemon, writers, list(zip(publishers, connections)))
            for transport, ledger in self.ledgers.items():
                message = f"nothing acknowledged over {transport} before kill {kill}\n{daemon.output()}"
                self.assertGreater(ledger.acknowledgements, before[transport], message)
        daemon = await self.start_daemon()
        await self.assert_intact(daemon, f"after {KILLS} kills")
        await stop_process(daemon)
        await self.assert_storage_consistent()

    def test_acknowledged_writes_survive_sigkill(self) -> Deferred:
        """
        Through 20 SIGKILLs under PUT load from 4 HTTP clients and retained QoS 1 PUBLISHes
        from 2 MQTT clients, every acknowledged write (2xx, PUBACK) stays (or a later write of
        the same record replaces it), no record is torn, the indexes agree with the records,
        and the FileStorage passes fstest and fsrefs.
        """
        return Deferred.fromCoroutine(self.kill_repeatedly())
