# -*- test-case-name: tests.workers.test_replication -*-
"""
Replication in a daemon with worker processes.

Every worker commits to the one shared store, and the change log lives in that store: so every
worker logs its own transactions (the recorder is a commit step, and two workers appending at
once conflict on the log's head, so one of them runs again: the log stays in commit order,
with one writer at a time). Only worker 0 (L{harper.workers.worker.PRIMARY}) replicates:
its L{harper.replication.cluster.ReplicationCluster} listens on C{replication.port}, links the
routes, streams the shared log to peers, applies what they send through the normal write path
(the bus relays the resulting change events to the other workers) and keeps the log's upkeep.

L{WorkerReplica} is what each worker adds to that: the hybrid logical clock moves past the
timestamps of the other workers' commits (relayed change events), the workers that do not
replicate log their transactions, and the replicating one looks at the log again now and then,
since a relayed event can arrive before its commit is visible to this process.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.application import service
from twisted.internet.task import LoopingCall

from harper.database.events import ChangeEvent
from harper.replication.replica import Replica

#: Seconds between two looks at the shared log by the replicating worker.
POLL_INTERVAL = 1.0


class WorkerReplica(service.Service):
    """
    One worker's part in replication.

    :param replica: this worker's view of the node's replicated data.
    :param cluster: the node's cluster service in the replicating worker, else C{None} (then
        this worker only logs its own transactions).
    :param reactor: the reactor.
    :param poll_interval: seconds between two looks at the log by the replicating worker.
    """

    def __init__(self, replica: Replica, cluster: Optional[Any], reactor: Any,
                 poll_interval: float = POLL_INTERVAL) -> None:
        self.replica = replica
        self.cluster = cluster
        self._stop_observing: Optional[Callable[[], None]] = None
        self._poll: Optional[LoopingCall] = None
        if cluster is not None:
            self._poll = LoopingCall(cluster.wake)
            self._poll.clock = reactor
        self._poll_interval = poll_interval

    def startService(self) -> None:
        super().startService()
        self._stop_observing = self.replica.runner.feed.listen(self._observe)
        if self._poll is not None:
            self._poll.start(self._poll_interval, now=False)
        else:
            self.replica.start_recording()

    def _observe(self, event: ChangeEvent) -> None:
        self.replica.observe(event.timestamp)

    def stopService(self) -> None:
        super().stopService()
        if self._stop_observing is not None:
            self._stop_observing()
            self._stop_observing = None
        if self._poll is not None and self._poll.running:
            self._poll.stop()
        if self.cluster is None:
            self.replica.stop_recording()
