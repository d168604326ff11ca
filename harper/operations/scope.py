# -*- test-case-name: tests.operations.test_api -*-
"""
What operations act on: the tables of the running daemon, the resource caller that runs
their methods in transactions, access control and the configuration.
"""

from __future__ import annotations

from typing import Any, Mapping

import attr
from twisted.internet.interfaces import IReactorTime

from harper.errors import NotFound
from harper.operations.fields import Fields
from harper.resources.calls import ResourceCaller
from harper.resources.table import TableResource

#: The database a request means when it names none.
DEFAULT_DATABASE = "data"


@attr.frozen
class OperationScope:
    """
    The daemon as operations see it.

    :ivar caller: runs resource methods in transactions.
    :ivar resources: every table's resource by C{(database, table)}.
    :ivar access: users, tokens and the authenticator
        (L{harper.auth.access.AccessControl}).
    :ivar config: the configuration.
    :ivar clock: the time source.
    :ivar started_at: when the daemon started, in C{clock} seconds.
    :ivar catalog: the tables made by the operations API
        (L{harper.components.catalog.Catalog}).
    :ivar analytics: the request metrics (L{harper.analytics.recorder.Analytics}), or C{None}.
    :ivar cluster: the node's L{harper.replication.cluster.ReplicationCluster}, or C{None}
        when it does not replicate.
    :ivar applications: the serving applications
        (L{harper.components.lifecycle.Applications}), or C{None} where they cannot change.
    """

    caller: ResourceCaller
    resources: Mapping[tuple[str, str], TableResource]
    access: Any
    config: Any
    clock: IReactorTime
    started_at: float
    catalog: Any = None
    analytics: Any = None
    cluster: Any = None
    applications: Any = None

    @classmethod
    def of_runtime(cls, runtime: Any, clock: IReactorTime) -> "OperationScope":
        """
        The scope of a started L{harper.components.runtime.Runtime}.
        """
        return cls(
            runtime.caller,
            runtime.resources,
            runtime.access,
            runtime.config,
            clock,
            clock.seconds(),
            runtime.catalog,
            runtime.analytics,
        )

    def table(self, database: str, name: str) -> TableResource:
        """
        The resource of table C{database.name}.

        :raises NotFound: when there is no such table.
        """
        resource = self.resources.get((database, name))
        if resource is None:
            raise NotFound(f"table {database}.{name} does not exist")
        return resource

    def requested_table(self, fields: Fields) -> TableResource:
        """
        The table named by the request's C{table} and C{database} (default C{data}) fields.
        """
        return self.table(fields.text("database", DEFAULT_DATABASE), fields.text("table"))
