# -*- test-case-name: tests.mqtt.test_shares -*-
"""
Shared subscriptions (C{$share/group/filter}) across the worker processes of a daemon: every
worker routes every message, so each would hand it to one member of its own; instead, the
workers tell each other which groups have members where (broadcasts of kind L{KIND}), and of
the workers with members of a group, the message's key (L{harper.mqtt.message.Message.key},
the same on every worker) picks the one that delivers it. Workers with connected members are
preferred over workers whose members are all away.
"""

from __future__ import annotations

import zlib
from typing import Any, Callable, Optional

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from harper.mqtt.message import Message
from harper.pubsub.topics import parse_shared_subscription

#: The kind of the broadcasts that carry the groups of each worker.
KIND = "mqtt.shares"


class SharedMember:
    """
    One session's membership of a shared subscription, as the hub's shared group sees it: it
    takes the messages this worker delivers to the group.

    :param state: the member's L{harper.mqtt.state.SessionState}.
    :param owners: decides which worker delivers each message.
    :param group: the shared subscription (group name, filter).
    """

    def __init__(self, state: Any, owners: ShareOwners, group: tuple[str, str]) -> None:
        self.state = state
        self._owners = owners
        self.group = group

    @property
    def available(self) -> bool:
        return self.state.available

    def deliver(self, message: Message, topic_filters: tuple[str, ...]) -> None:
        if self._owners.owns(self.group, message):
            self.state.deliver(message, topic_filters)


class ShareOwners:
    """
    The shared subscriptions of one broker's sessions, and which worker delivers each message
    to a group.

    :param clock: to send this worker's groups once per reactor turn of changes.
    """

    _log = Logger()

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._members: dict[tuple[Any, str], SharedMember] = {}
        self._remote: dict[str, dict[tuple[str, str], bool]] = {}
        self._broadcasts: Any = None
        self._worker = ""
        self._pending: Any = None

    def member(self, topic_filter: str, state: Any) -> Any:
        """
        What the hub delivers C{topic_filter}'s messages to for C{state}: C{state} itself for a
        plain filter, its L{SharedMember} for a shared one.
        """
        group = parse_shared_subscription(topic_filter)
        if group is None:
            return state
        member = self._members.get((state, topic_filter))
        if member is None:
            member = self._members[(state, topic_filter)] = SharedMember(state, self, group)
            self.changed()
        return member

    def left(self, topic_filter: str, state: Any) -> None:
        """
        C{state} no longer subscribes C{topic_filter}.
        """
        if self._members.pop((state, topic_filter), None) is not None:
            self.changed()

    def owns(self, group: tuple[str, str], message: Message) -> bool:
        """
        Whether this worker delivers C{message} to C{group}.
        """
        if not self._remote:
            return True
        candidates = self._candidates(group)
        if self._worker not in candidates:
            return False
        if len(candidates) == 1 or message.key is None:
            return True
        chosen = zlib.crc32(f"{group[0]}/{group[1]}/{message.key}".encode()) % len(candidates)
        return sorted(candidates)[chosen] == self._worker

    def _candidates(self, group: tuple[str, str]) -> list[str]:
        workers = dict(self._local())
        everyone = {worker: groups.get(group) for worker, groups in self._remote.items()}
        everyone[self._worker] = workers.get(group)
        available = [worker for worker, flag in everyone.items() if flag]
        return available or [worker for worker, flag in everyone.items() if flag is not None]

    def _local(self) -> dict[tuple[str, str], bool]:
        groups: dict[tuple[str, str], bool] = {}
        for member in self._members.values():
            key = member.group
            groups[key] = groups.get(key, False) or member.available
        return groups

    # -- the other workers -----------------------------------------------------------------

    def join(self, broadcasts: Any, worker: str) -> Callable[[], None]:
        """
        Exchange groups with the other workers as C{worker}; returns a function that stops.
        """
        self._broadcasts, self._worker = broadcasts, worker
        stop = broadcasts.listen(KIND, self._received)
        self._send(hello=True)

        def leave() -> None:
            stop()
            self._broadcasts = None
            self._remote.clear()

        return leave

    def changed(self) -> None:
        """
        The groups or the availability of their members changed: tell the other workers
        (once per reactor turn).
        """
        if self._broadcasts is None or self._pending is not None:
            return
        self._pending = self._clock.callLater(0, self._send)

    def _send(self, hello: bool = False) -> None:
        self._pending = None
        if self._broadcasts is None:
            return
        groups = [[group, topic_filter, available]
                  for (group, topic_filter), available in self._local().items()]
        try:
            self._broadcasts.send(KIND, {"worker": self._worker, "groups": groups, "hello": hello})
        except ValueError:
            self._log.failure("cannot send the shared subscriptions to the other workers")

    def _received(self, body: Any) -> None:
        worker: Optional[str] = body["worker"]
        self._remote[worker] = {(group, topic_filter): bool(available)
                                for group, topic_filter, available in body["groups"]}
        if not self._remote[worker]:
            del self._remote[worker]
        if body.get("hello"):
            self._send()
