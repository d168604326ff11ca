# -*- test-case-name: tests.replication.test_log -*-
"""
The durable change log of one node, kept in the node's own ZODB database.

Every replicated transaction, made here or received from a peer, is appended as one entry in
the same ZODB transaction as its changes, so the log and the data never disagree. Entries are
numbered by C{seq}, in commit order; each also keeps its origin node and that node's number
for it, and the log keeps, per origin, the highest number applied here (the node's I{vector}).
A peer that reconnects sends its vector and is streamed every entry it misses; when some of
those were pruned (or were never logged here because they came with a base copy), it needs a
base copy instead.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional

from BTrees.LLBTree import LLBTree
from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree
from persistent import Persistent

from harper.database.transaction import Transaction
from harper.replication.entries import Change, LogEntry

_ROOT_KEY = "harper.replication"


class ReplicationState(Persistent):
    """
    The persistent replication state of a node (one per database).

    :ivar head: the C{seq} of the newest entry (0 for an empty log).
    :ivar entries: C{seq} to the stored entry (L{LogEntry.stored}).
    :ivar origins: origin name to an C{LLBTree} of origin seq to C{seq}.
    :ivar pruned: origin name to the highest origin seq whose entry this log does not have
        although this node applied it (pruned, or received with a base copy).
    :ivar applied: origin name to the highest origin seq applied here (not this node's own).
    :ivar confirmed: peer name to the C{seq} of this log the peer confirmed it applied.
    :ivar positions: peer name to the C{seq} of the peer's log applied here.
    :ivar versions: C{(database, table)} to an C{OOBTree} of storage key to record version
        (see L{harper.replication.versions}).
    :ivar tombstones: C{seq} to the C{(database, table, storage key)} tombstones it wrote.
    """

    def __init__(self) -> None:
        self.head = 0
        self.entries = LOBTree()
        self.origins = OOBTree()
        self.pruned = OOBTree()
        self.applied = OOBTree()
        self.confirmed = OOBTree()
        self.positions = OOBTree()
        self.versions = OOBTree()
        self.tombstones = LOBTree()


def replication_state(txn: Transaction) -> ReplicationState:
    """
    The node's replication state, created on first use (an unsaved empty one in a read-only
    transaction).
    """
    root = txn.connection.root()
    state = root.get(_ROOT_KEY)
    if state is None:
        state = ReplicationState()
        if not txn.read_only:
            root[_ROOT_KEY] = state
    return state


class ChangeLog:
    """
    The operations on the change log of the node named C{node}, inside a transaction.

    :param node: this node's name (the origin of its own entries).
    """

    def __init__(self, node: str) -> None:
        self.node = node

    # -- writing -------------------------------------------------------------------------

    def append(self, txn: Transaction, origin: str, origin_seq: Optional[int], timestamp: float,
               changes: Iterable[Change]) -> int:
        """
        Append an entry; return its C{seq}. C{origin_seq} is C{None} for this node's own
        entries, whose origin seq is their C{seq}.
        """
        state = replication_state(txn)
        seq = state.head + 1
        state.head = seq
        origin_seq = seq if origin_seq is None else origin_seq
        entry = LogEntry(seq, origin, origin_seq, timestamp, tuple(changes))
        state.entries[seq] = entry.stored()
        index = state.origins.get(origin)
        if index is None:
            index = state.origins[origin] = LLBTree()
        index[origin_seq] = seq
        return seq

    def is_applied(self, txn: Transaction, origin: str, origin_seq: int) -> bool:
        """
        Whether the entry C{origin_seq} of C{origin} was applied here already.
        """
        return origin == self.node or origin_seq <= replication_state(txn).applied.get(origin, 0)

    def mark_applied(self, txn: Transaction, origin: str, origin_seq: int) -> None:
        """
        Record that the entry C{origin_seq} of C{origin} was applied here.
        """
        applied = replication_state(txn).applied
        if origin_seq > applied.get(origin, 0):
            applied[origin] = origin_seq

    def absorb(self, txn: Transaction, vector: Mapping[str, int]) -> None:
        """
        Record a completed base copy whose data includes every entry of C{vector}: those
        entries count as applied, and as missing from this log.
        """
        state = replication_state(txn)
        for origin, origin_seq in vector.items():
            if origin == self.node or origin_seq < state.applied.get(origin, 0):
                continue
            state.applied[origin] = origin_seq
            if origin_seq > state.pruned.get(origin, 0):
                state.pruned[origin] = origin_seq

    def set_position(self, txn: Transaction, peer: str, seq: int) -> None:
        """
        Record that the log of C{peer} was applied here through C{seq}.
        """
        replication_state(txn).positions[peer] = seq

    def set_confirmed(self, txn: Transaction, confirmed: Mapping[str, int]) -> None:
        """
        Record the positions in this log that peers confirmed.
        """
        state = replication_state(txn)
        for peer, seq in confirmed.items():
            if seq > state.confirmed.get(peer, 0):
                state.confirmed[peer] = seq

    def forget_peer(self, txn: Transaction, peer: str) -> None:
        """
        Drop what this node remembers about C{peer}'s confirmations and position.
        """
        state = replication_state(txn)
        for mapping in (state.confirmed, state.positions):
            if peer in mapping:
                del mapping[peer]

    def prune(self, txn: Transaction, older_than: float, limit: int = 1000) -> int:
        """
        Remove up to C{limit} of the oldest entries whose timestamp is before C{older_than}
        (epoch ms); return how many were removed.
        """
        state = replication_state(txn)
        removed = 0
        for seq, stored in list(state.entries.items()[:limit]):
            entry = LogEntry.from_stored(seq, stored)
            if entry.timestamp >= older_than:
                break
            del state.entries[seq]
            index = state.origins[entry.origin]
            del index[entry.origin_seq]
            if entry.origin_seq > state.pruned.get(entry.origin, 0):
                state.pruned[entry.origin] = entry.origin_seq
            removed += 1
        return removed

    # -- reading -------------------------------------------------------------------------

    def head(self, txn: Transaction) -> int:
        """
        The C{seq} of the newest entry.
        """
        return replication_state(txn).head

    def vector(self, txn: Transaction) -> dict[str, int]:
        """
        Per origin, the highest origin seq whose changes this node holds (its own: the head).
        """
        state = replication_state(txn)
        return {**dict(state.applied.items()), self.node: state.head}

    def position(self, txn: Transaction, peer: str) -> int:
        """
        The C{seq} through which the log of C{peer} was applied here (0 if never).
        """
        return replication_state(txn).positions.get(peer, 0)

    def read(self, txn: Transaction, after: int, limit: int) -> list[LogEntry]:
        """
        Up to C{limit} entries with C{seq} greater than C{after}, in order.
        """
        items = replication_state(txn).entries.items(after, excludemin=True)
        return [LogEntry.from_stored(seq, stored) for seq, stored in items[:limit]]

    def missing_history(
        self, txn: Transaction, vector: Mapping[str, int], subscriber: str
    ) -> Optional[str]:
        """
        Why C{subscriber}, holding C{vector}, cannot be brought up to date from this log alone
        (it needs a base copy), or C{None} when it can.
        """
        if self.node not in vector:
            return f"{subscriber} has no data from {self.node} yet"
        for origin, through in replication_state(txn).pruned.items():
            if origin != subscriber and vector.get(origin, 0) < through:
                return (
                    f"entries of {origin} that {subscriber} needs were pruned from the log"
                    f" of {self.node}"
                )
        return None

    def start(self, txn: Transaction, vector: Mapping[str, int], subscriber: str) -> int:
        """
        The C{seq} after which the first entry C{subscriber} (holding C{vector}) lacks is.
        """
        state = replication_state(txn)
        firsts = []
        for origin, index in state.origins.items():
            if origin == subscriber:
                continue
            first = next(iter(index.values(vector.get(origin, 0), excludemin=True)), None)
            if first is not None:
                firsts.append(first)
        return min(firsts) - 1 if firsts else state.head
