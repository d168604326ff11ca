"""
Tests for L{harper.workers.calls} (calls between workers over the bus's broadcasts),
L{harper.workers.cluster} (what a worker that does not replicate forwards) and
L{harper.workers.replication} (each worker's part in replication).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from harper.database.events import PUT, ChangeEvent
from harper.errors import InvalidInput, NotFound
from harper.http.errors import status_for
from harper.operations import cluster_ops
from harper.operations.api import default_operations
from harper.workers.bus import Broadcasts, decode_frame
from harper.workers.calls import CallFailed, WorkerCalls
from harper.workers.cluster import REPLICATE_TO, ForwardedCluster
from harper.workers.replication import WorkerReplica
from tests.replication.helpers import local_replica


class _Relay:
    """
    The bus between workers' broadcasts, delivering each frame at once to every other one.
    """

    def __init__(self) -> None:
        self.members: list[Broadcasts] = []

    def join(self) -> Broadcasts:
        broadcasts = Broadcasts()
        relay = self

        class Channel:
            def sendString(self, frame: bytes) -> None:
                for other in relay.members:
                    if other is not broadcasts:
                        other.received(decode_frame(frame))

        broadcasts.connected(Channel())
        self.members.append(broadcasts)
        return broadcasts


class WorkerCallsTests(TestCase):
    """
    L{WorkerCalls} between three workers, worker 0 serving.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        relay = _Relay()
        self.workers = [WorkerCalls(relay.join(), index, self.clock, timeout=5.0) for index in range(3)]

    def test_answer(self) -> None:
        """
        The worker serving a name answers the caller alone, with the function's result (also
        a Deferred's).
        """
        self.workers[0].serve("add", lambda a, b: succeed(a + b))
        answers = [self.successResultOf(self.workers[i].call("add", i, 10)) for i in (1, 2)]
        self.assertEqual(answers, [11, 12])

    def test_harper_errors_cross(self) -> None:
        """
        A L{harper.errors.HarperError} raised by the function is raised in the caller with its
        class and message; any other error becomes L{CallFailed} without its details.
        """
        def missing() -> None:
            raise NotFound("no route to 'Z'")

        def broken() -> None:
            raise ValueError("secret detail")

        self.workers[0].serve("missing", missing)
        self.workers[0].serve("broken", broken)
        error = self.failureResultOf(self.workers[1].call("missing"), NotFound).value
        self.assertEqual(error.message, "no route to 'Z'")
        error = self.failureResultOf(self.workers[1].call("broken"), CallFailed).value
        self.assertEqual(error.message, "broken failed; see the server log")
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_timeout(self) -> None:
        """
        A call nobody serves fails with L{CallFailed} (HTTP 503) after the timeout, the calls'
        or its own.
        """
        d = self.workers[1].call("nobody")
        longer = self.workers[1].call("nobody", timeout=8.0)
        self.assertNoResult(d)
        self.clock.advance(5.0)
        failure = self.failureResultOf(d, CallFailed)
        self.assertIn("did not answer in 5 s", failure.value.message)
        self.assertEqual(status_for(failure.value), 503)
        self.assertNoResult(longer)
        self.clock.advance(3.0)
        self.failureResultOf(longer, CallFailed)


class ForwardedClusterTests(TestCase):
    """
    L{ForwardedCluster} in a worker that does not replicate.
    """

    def setUp(self) -> None:
        self.replica, _ = local_replica(self)
        self.calls: list[tuple] = []
        self.answer: Deferred = Deferred()

        class Calls:
            def call(calls, name: str, *arguments: Any, timeout: Any = None) -> Deferred:
                self.calls.append((name, arguments, timeout))
                return self.answer

        self.forwarded = ForwardedCluster(Calls(), self.replica, 10.0)

    def test_operations(self) -> None:
        """
        The cluster operations are forwarded with the request's fields and credentials; the
        others stay as they are.
        """
        registry = default_operations()
        forwarded = self.forwarded.operations(registry)
        self.assertEqual(forwarded.names(), registry.names())
        for name in registry.names():
            same = forwarded.get(name).function is registry.get(name).function
            self.assertEqual(same, name not in cluster_ops.operations.names(), name)
        call = type("Call", (), {"fields": type("F", (), {"body": {"operation": "cluster_status"}})(),
                                 "authorization": "Basic x", "client_address": "127.0.0.1",
                                 "secure": False})()
        forwarded.get("cluster_status").function(call)
        self.assertEqual(self.calls[0][1:], (("cluster_status", {"operation": "cluster_status"},
                                              "Basic x", "127.0.0.1", False), None))

    @inlineCallbacks
    def test_confirmation(self) -> Any:
        """
        A malformed C{X-Replicate-To} is refused before the write; after it, the wait asks
        for this worker's log head.
        """
        self.assertRaises(InvalidInput, self.forwarded.confirmation, "")
        wait = self.forwarded.confirmation("B")
        yield self.replica.write(lambda txn: self.replica.tables[0].put(txn, {"id": "1", "name": "Rex"}))
        d = wait()
        self.assertEqual(self.calls, [(REPLICATE_TO, ("B", 1), 15.0)])
        self.answer.callback(["B"])
        self.assertEqual(self.successResultOf(d), ["B"])


class WorkerReplicaTests(TestCase):
    """
    L{WorkerReplica}: the workers that do not replicate log their writes; all of them keep
    their clock past the other workers' commits.
    """

    def setUp(self) -> None:
        self.replica, self.table = local_replica(self)
        self.replica.stop_recording()

    @inlineCallbacks
    def test_logs_and_observes(self) -> Any:
        """
        Without a cluster, the worker logs its own writes while it runs; a relayed event from
        the future moves its clock past it.
        """
        part = WorkerReplica(self.replica, None, Clock())
        part.startService()
        yield self.replica.write(lambda txn: self.table.put(txn, {"id": "1", "name": "Rex"}))
        self.assertEqual(self.replica.read(self.replica.log.head), 1)
        future = self.replica.runner.timestamp() + 3_600_000
        self.replica.runner.feed.emit([ChangeEvent("data", "Dog", "2", PUT, {"id": "2"}, future)])
        self.assertGreater(self.replica.runner.timestamp(), future)
        part.stopService()
        yield self.replica.write(lambda txn: self.table.put(txn, {"id": "3", "name": "Max"}))
        self.assertEqual(self.replica.read(self.replica.log.head), 1)

    def test_replicating_worker_polls(self) -> None:
        """
        With the cluster, the worker leaves logging to it and wakes it every poll interval.
        """
        clock = Clock()
        wakes: list[None] = []
        cluster = type("Cluster", (), {"wake": lambda self: wakes.append(None)})()
        part = WorkerReplica(self.replica, cluster, clock, poll_interval=1.0)
        part.startService()
        clock.pump([1.0, 1.0, 0.5])
        self.assertEqual(len(wakes), 2)
        part.stopService()
        clock.pump([1.0] * 5)
        self.assertEqual(len(wakes), 2)
