# -*- test-case-name: tests.workers.test_calls -*-
"""
The cluster operations and C{X-Replicate-To} in a worker that does not replicate: the kernel
hands a request to any worker, but the peer links and their confirmations live in the
replicating worker, so the other workers pass these to it over the bus (L{WorkerCalls}).

L{serve_waits} and L{serve_operations} are the replicating worker's side; L{ForwardedCluster}
the others'.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred, maybeDeferred

from harper.operations import cluster_ops
from harper.operations.fields import Fields
from harper.operations.registry import OperationCall, OperationRegistry
from harper.replication.confirm import parse_replicate_to
from harper.replication.replica import Replica
from harper.workers.calls import WorkerCalls

#: The calls the replicating worker serves.
OPERATION, REPLICATE_TO = "cluster.operation", "cluster.replicateTo"

#: Seconds a worker waits for the answer of an C{X-Replicate-To} wait beyond its own timeout.
ANSWER_MARGIN = 5.0


def serve_waits(calls: WorkerCalls, cluster: Any) -> None:
    """
    In the replicating worker: wait for peer confirmations as the other workers ask
    (L{ForwardedCluster.confirmation}).

    :param cluster: the node's L{harper.replication.cluster.ReplicationCluster}.
    """

    def replicate_to(header: str, position: int) -> Deferred:
        cluster.confirmation(header)
        return cluster.wait_for(parse_replicate_to(header), position=position)

    calls.serve(REPLICATE_TO, replicate_to)


def serve_operations(calls: WorkerCalls, operations: OperationRegistry, scope: Any) -> None:
    """
    In the replicating worker: run the operations the other workers forward (see
    L{ForwardedCluster.operations}), authenticating the caller's credentials again.

    :param operations: the operations this worker serves.
    :param scope: their scope (L{harper.operations.scope.OperationScope}).
    """

    async def operation(name: str, fields: dict, authorization: Optional[str], client: str,
                        secure: bool) -> Any:
        call = OperationCall(Fields(fields), None, scope, authorization, client, secure)
        call.user = await scope.access.authenticator.authenticate(authorization, client)
        return await maybeDeferred(operations.get(name).function, call)

    calls.serve(OPERATION, lambda *arguments: Deferred.fromCoroutine(operation(*arguments)))


class ForwardedCluster:
    """
    What a worker that does not replicate serves in place of the cluster: the cluster
    operations and C{X-Replicate-To} waits, carried out by the replicating worker.

    :param calls: this worker's calls.
    :param replica: this worker's view of the node's replicated data (its log head after a
        write is the position the peers must confirm).
    :param confirmation_timeout: seconds the replicating worker waits for confirmations
        (C{X-Replicate-To}); this worker waits a little longer for its answer.
    """

    def __init__(self, calls: WorkerCalls, replica: Replica, confirmation_timeout: float) -> None:
        self._calls = calls
        self._replica = replica
        self._wait_timeout = confirmation_timeout + ANSWER_MARGIN

    def operations(self, operations: OperationRegistry) -> OperationRegistry:
        """
        C{operations} with the cluster operations (L{harper.operations.cluster_ops})
        forwarded to the replicating worker, which authenticates the caller's credentials
        again and answers for the whole node.
        """
        forwarded = set(cluster_ops.operations.names())
        result = OperationRegistry()
        for name in operations.names():
            operation = operations.get(name)
            function = self._forward(name) if name in forwarded else operation.function
            result.register(name, public=operation.public)(function)
        return result

    def _forward(self, name: str) -> Callable[[OperationCall], Deferred]:
        def forward(call: OperationCall) -> Deferred:
            return self._calls.call(OPERATION, name, dict(call.fields.body), call.authorization,
                                    call.client_address, call.secure)

        return forward

    def confirmation(self, header: str) -> Callable[[], Deferred]:
        """
        Like L{harper.replication.cluster.ReplicationCluster.confirmation}: check C{header}
        (its form here; the peers it names in the replicating worker, after the write) and
        return the function that waits, after the commit, for the peers to confirm this
        worker's log head.

        :raises InvalidInput: for a malformed value.
        """
        parse_replicate_to(header)

        def wait() -> Deferred:
            position = self._replica.read(self._replica.log.head)
            return self._calls.call(REPLICATE_TO, header, position, timeout=self._wait_timeout)

        return wait
