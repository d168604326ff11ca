# -*- test-case-name: tests.replication.test_cluster_ops -*-
"""
Waiting for peers to confirm a write (C{X-Replicate-To}).

A header value is a count (C{2}: two peers), C{*} (every peer) or peer names
(C{node-b, node-c}: those peers), optionally with C{;confirm=M} to wait for M of them only.
L{parse_replicate_to} reads it into a L{ReplicateTo}; a L{ConfirmationWait} fires once enough
peers confirmed a position of this node's log, or fails with L{harper.errors.ReplicationTimeout}.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import attr
from twisted.internet.defer import Deferred

from harper.errors import InvalidInput, ReplicationTimeout

_HEADER = "X-Replicate-To"


@attr.frozen
class ReplicateTo:
    """
    What a write asks for.

    :ivar nodes: the peers named, or C{None} for a count or C{*}.
    :ivar count: how many peers must confirm, or C{None} for all of C{nodes} (or, for C{*},
        every peer).
    """

    nodes: Optional[tuple[str, ...]] = None
    count: Optional[int] = None


def _count(text: str, what: str) -> int:
    if not text.isdigit():
        raise InvalidInput(f"{_HEADER}: {what} must be a whole number, got {text!r}")
    return int(text)


def parse_replicate_to(value: str) -> ReplicateTo:
    """
    Read an C{X-Replicate-To} header value.

    :raises InvalidInput: naming the header, for anything else.
    """
    names: list[str] = []
    confirm: Optional[int] = None
    for part in value.split(","):
        name, *parameters = [piece.strip() for piece in part.split(";")]
        if not name:
            raise InvalidInput(f"{_HEADER}: expected a count, '*' or node names, got {value!r}")
        for parameter in parameters:
            key, equals, setting = parameter.partition("=")
            if key.strip().lower() != "confirm" or not equals:
                raise InvalidInput(f"{_HEADER}: unknown parameter {parameter!r} (only confirm=N)")
            confirm = _count(setting.strip(), "confirm")
        names.append(name)
    if len(names) == 1 and names[0].isdigit():
        return ReplicateTo(None, int(names[0]) if confirm is None else confirm)
    if names == ["*"]:
        return ReplicateTo(None, confirm)
    if "*" in names or any(name.isdigit() for name in names):
        raise InvalidInput(f"{_HEADER}: give a count, '*' or node names, not a mix: {value!r}")
    if confirm is not None and confirm > len(names):
        raise InvalidInput(
            f"{_HEADER}: confirm={confirm} is more than the {len(names)} nodes named"
        )
    return ReplicateTo(tuple(names), confirm)


class ConfirmationWait:
    """
    One write waiting for its confirmations.

    :param wanted: what the write asked for.
    :param position: the position of this node's log the peers must confirm.
    :param peers: every peer's name at the time of the write (for C{*}).
    :param timeout: seconds to wait.
    :param clock: the time source.
    :param node: this node's name, for the message of a timeout.
    :ivar done: fires with the names of the peers that confirmed, in the order they did;
        cancelling it stops the wait.
    """

    def __init__(self, wanted: ReplicateTo, position: int, peers: set[str], timeout: float,
                 clock: Any, node: str) -> None:
        self.position = position
        self.done: Deferred = Deferred(lambda _: self._timer.cancel())
        self._eligible = set(wanted.nodes) if wanted.nodes is not None else None
        if wanted.count is not None:
            self._needed = wanted.count
        else:
            self._needed = len(self._eligible if self._eligible is not None else peers)
        self._confirmed: list[str] = []
        self._timeout = timeout
        self._node = node
        self._timer = clock.callLater(timeout, self._expire)

    @property
    def finished(self) -> bool:
        """
        Whether the wait is over (confirmed or expired).
        """
        return self.done.called

    def update(self, confirmations: Mapping[str, int]) -> None:
        """
        Take note of the position each peer confirmed (C{confirmations}, by name); fire
        L{done} once enough peers reached L{position}.
        """
        if self.finished:
            return
        for name, through in confirmations.items():
            if through >= self.position and name not in self._confirmed and (
                self._eligible is None or name in self._eligible
            ):
                self._confirmed.append(name)
        if len(self._confirmed) >= self._needed:
            self._timer.cancel()
            self.done.callback(list(self._confirmed))

    def _expire(self) -> None:
        confirmed = ", ".join(self._confirmed) or "none"
        self.done.errback(ReplicationTimeout(
            f"{_HEADER}: {len(self._confirmed)} of {self._needed} peer confirmations"
            f" within {self._timeout:g} s (confirmed: {confirmed}); the write is committed on"
            f" {self._node} and replicates when the peers catch up"
        ))
