# -*- test-case-name: tests.pubsub.test_hub -*-
"""
In-process fan-out of messages by topic: L{Hub} matches a published topic against the
subscribers' filters (with MQTT's C{+}, C{#} and C{$} rules) and hands the message to each
matching subscriber once, with every filter of that subscriber that matched.

Shared subscriptions (C{$share/group/filter}) are served by one L{SharedGroup} per
(group, filter): the group is the tree's subscriber, and passes each message to one member in
turn, preferring members that are connected.

The hub remembers the subscribers of the topics it published to (up to L{TOPICS_REMEMBERED}
topics) until the subscriptions change, so a topic published to again costs one lookup
instead of a validation and a walk of the topic tree.
"""

from __future__ import annotations

from typing import Any, Hashable, Protocol

from twisted.logger import Logger

from harper.pubsub.topics import TopicTree, parse_shared_subscription

#: How many topics' subscribers the hub remembers; it forgets them all when more come.
TOPICS_REMEMBERED = 4096


class Subscriber(Protocol):
    """
    What the hub delivers to.

    :ivar available: whether the subscriber can take a message right now (a connected client);
        shared groups prefer available members.
    """

    available: bool

    def deliver(self, message: Any, topic_filters: tuple[str, ...]) -> None:
        """
        Take C{message}, which matched C{topic_filters} (the filters as the subscriber gave
        them, C{$share/...} included).
        """


class SharedGroup:
    """
    The members of one shared subscription; each message goes to one member, round robin.

    :ivar topic_filter: the shared filter as members subscribed to it (C{$share/g/f}).
    """

    def __init__(self, topic_filter: str) -> None:
        self.topic_filter = topic_filter
        self.members: list[Subscriber] = []
        self._next = 0

    @property
    def available(self) -> bool:
        """
        Whether any member is available.
        """
        return any(member.available for member in self.members)

    def deliver(self, message: Any, topic_filters: tuple[str, ...]) -> None:
        """
        Hand C{message} to the next available member (or the next member when none is).
        """
        members = self.members
        count = len(members)
        start = self._next
        chosen = members[start % count]
        for offset in range(count):
            member = members[(start + offset) % count]
            if member.available:
                chosen, start = member, start + offset
                break
        self._next = (start + 1) % count
        chosen.deliver(message, (self.topic_filter,))


class Hub:
    """
    Subscribers by topic filter, and delivery of published messages to them.
    """

    _log = Logger()

    def __init__(self) -> None:
        self._tree = TopicTree()
        self._groups: dict[tuple[str, str], SharedGroup] = {}
        self._targets: dict[str, tuple[tuple[Subscriber, tuple[str, ...]], ...]] = {}

    def __len__(self) -> int:
        """
        The number of filters subscribed (a shared group counts once).
        """
        return len(self._tree)

    def subscribe(self, topic_filter: str, subscriber: Subscriber) -> bool:
        """
        Deliver messages whose topic matches C{topic_filter} to C{subscriber}.

        :return: C{False} when the subscriber already had this filter.
        :raises ValueError: C{topic_filter} is not a valid filter.
        """
        shared = parse_shared_subscription(topic_filter)
        self._targets.clear()
        if shared is None:
            return self._tree.subscribe(topic_filter, subscriber)
        group = self._groups.get(shared)
        if group is None:
            group = self._groups[shared] = SharedGroup(topic_filter)
            self._tree.subscribe(shared[1], group)
        if subscriber in group.members:
            return False
        group.members.append(subscriber)
        return True

    def unsubscribe(self, topic_filter: str, subscriber: Subscriber) -> bool:
        """
        Stop delivering C{topic_filter}'s messages to C{subscriber}.

        :return: C{False} when there was no such subscription.
        """
        try:
            shared = parse_shared_subscription(topic_filter)
        except ValueError:
            return False
        self._targets.clear()
        if shared is None:
            return self._tree.unsubscribe(topic_filter, subscriber)
        group = self._groups.get(shared)
        if group is None or subscriber not in group.members:
            return False
        group.members.remove(subscriber)
        if not group.members:
            del self._groups[shared]
            self._tree.unsubscribe(shared[1], group)
        return True

    def publish(self, topic: str, message: Any) -> int:
        """
        Deliver C{message} to every subscriber with a filter matching C{topic}; a subscriber
        that fails is logged and does not stop the others.

        :return: how many subscribers (or shared groups) it was delivered to.
        :raises ValueError: C{topic} is not a valid topic name.
        """
        targets = self._targets.get(topic)
        if targets is None:
            targets = self._match(topic)
        for subscriber, filters in targets:
            self._deliver(subscriber, message, filters)
        return len(targets)

    def _match(self, topic: str) -> tuple[tuple[Subscriber, tuple[str, ...]], ...]:
        """
        The subscribers of C{topic}, each with its matching filters, remembered.
        """
        grouped: dict[Hashable, list[str]] = {}
        for topic_filter, subscriber in self._tree.match(topic):
            grouped.setdefault(subscriber, []).append(topic_filter)
        targets = tuple((subscriber, tuple(filters)) for subscriber, filters in grouped.items())
        if len(self._targets) >= TOPICS_REMEMBERED:
            self._targets.clear()
        self._targets[topic] = targets
        return targets

    def _deliver(self, subscriber: Any, message: Any, filters: tuple[str, ...]) -> None:
        try:
            subscriber.deliver(message, filters)
        except Exception:
            self._log.failure("subscriber {subscriber!r} failed", subscriber=subscriber)
