# -*- test-case-name: tests.pubsub.test_topics -*-
"""
MQTT topic names and topic filters: validation, shared-subscription parsing, and
L{TopicTree}, which finds the subscriptions whose filter matches a topic.

Filters without wildcards live in a dict, so a topic costs one lookup for them; filters with
C{+} or C{#} live in a trie walked level by level. Subscribers are any hashable values.
"""

from __future__ import annotations

from typing import Hashable, Optional

#: The prefix of a shared subscription's topic filter (MQTT 5 section 4.8.2).
SHARED_PREFIX = "$share/"

_MAX_BYTES = 65535


def _check_text(text: str, what: str) -> None:
    if not isinstance(text, str):
        raise ValueError(f"a {what} must be a string, not {type(text).__name__}")
    if not text:
        raise ValueError(f"a {what} must be at least one character long (MQTT-4.7.3-1)")
    if "\x00" in text:
        raise ValueError(f"a {what} cannot contain U+0000 (MQTT-4.7.3-2)")
    if len(text) * 4 > _MAX_BYTES and len(text.encode("utf-8", "surrogatepass")) > _MAX_BYTES:
        raise ValueError(f"a {what} cannot be longer than 65535 bytes (MQTT-4.7.3-3)")


def validate_topic(text: str) -> None:
    """
    Check that C{text} is a valid topic name, the topic of a published message.

    :raises ValueError: it is empty, too long, or contains U+0000 or a wildcard.
    """
    _check_text(text, "topic name")
    if "+" in text or "#" in text:
        raise ValueError(f"topic name {text!r} cannot contain the wildcards + or # "
                         f"(MQTT-4.7.1-1)")


def validate_filter(text: str) -> None:
    """
    Check that C{text} is a valid topic filter, including the C{$share/group/filter} form.

    :raises ValueError: it is empty, too long, contains U+0000, misuses a wildcard, or is a
        malformed shared subscription.
    """
    _check_text(text, "topic filter")
    shared = parse_shared_subscription(text)
    levels = (shared[1] if shared else text).split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise ValueError(f"in topic filter {text!r}, # must be a whole level and the last "
                             f"one (MQTT-4.7.1-2)")
        if "+" in level and level != "+":
            raise ValueError(f"in topic filter {text!r}, + must be a whole level "
                             f"(MQTT-4.7.1-3)")


def parse_shared_subscription(text: str) -> Optional[tuple[str, str]]:
    """
    Split a shared subscription's topic filter C{$share/group/filter} into the share name and
    the filter the group subscribes to.

    :return: C{(group, filter)}, or C{None} when C{text} is not a shared subscription.
    :raises ValueError: the share name is empty or holds a wildcard, or no filter follows it
        (MQTT-4.8.2-1, MQTT-4.8.2-2).
    """
    if not text.startswith(SHARED_PREFIX):
        return None
    group, slash, topic_filter = text[len(SHARED_PREFIX):].partition("/")
    if not group or "+" in group or "#" in group:
        raise ValueError(f"shared subscription {text!r} needs a share name of at least one "
                         f"character without + or # (MQTT-4.8.2-1)")
    if not slash or not topic_filter:
        raise ValueError(f"shared subscription {text!r} needs a topic filter after the share "
                         f"name (MQTT-4.8.2-2)")
    return group, topic_filter


class _Node:
    """
    One level of the wildcard trie.

    :ivar children: the next levels by their text (C{+} and C{#} included).
    :ivar subscribers: subscribers of the filter that ends here, in subscription order.
    :ivar topic_filter: the filter made of the levels from the root to here.
    """

    __slots__ = ("children", "subscribers", "topic_filter")

    def __init__(self, topic_filter: str) -> None:
        self.children: dict[str, _Node] = {}
        self.subscribers: dict[Hashable, None] = {}
        self.topic_filter = topic_filter


class TopicTree:
    """
    Subscriptions by topic filter, matched against topic names with MQTT's rules: C{+} matches
    exactly one level (possibly empty), C{#} matches its parent level and any number of levels
    below, and a wildcard in the first level does not match topics starting with C{$}
    (MQTT-4.7.2-1).

    Shared subscriptions are not special here: subscribe with the filter from
    L{parse_shared_subscription} and a subscriber that stands for the group.
    """

    def __init__(self) -> None:
        self._exact: dict[str, dict[Hashable, None]] = {}
        self._root = _Node("")
        self._count = 0

    def __len__(self) -> int:
        """
        The number of (filter, subscriber) subscriptions.
        """
        return self._count

    def subscribe(self, topic_filter: str, subscriber: Hashable) -> bool:
        """
        Add a subscription.

        :return: C{False} if C{subscriber} was already subscribed to C{topic_filter}.
        :raises ValueError: C{topic_filter} is not a valid topic filter.
        """
        validate_filter(topic_filter)
        if "+" in topic_filter or "#" in topic_filter:
            node = self._root
            for level in topic_filter.split("/"):
                child = node.children.get(level)
                if child is None:
                    prefix = level if node is self._root else f"{node.topic_filter}/{level}"
                    child = node.children[level] = _Node(prefix)
                node = child
            subscribers = node.subscribers
        else:
            subscribers = self._exact.setdefault(topic_filter, {})
        if subscriber in subscribers:
            return False
        subscribers[subscriber] = None
        self._count += 1
        return True

    def unsubscribe(self, topic_filter: str, subscriber: Hashable) -> bool:
        """
        Remove a subscription, and any trie level left empty.

        :return: C{False} if there was no such subscription.
        """
        exact = self._exact.get(topic_filter)
        if exact is not None:
            removed = subscriber in exact
            exact.pop(subscriber, None)
            if not exact:
                del self._exact[topic_filter]
        else:
            removed = self._remove_wildcard(topic_filter, subscriber)
        self._count -= removed
        return removed

    def _remove_wildcard(self, topic_filter: str, subscriber: Hashable) -> bool:
        path = [self._root]
        levels = topic_filter.split("/")
        for level in levels:
            child = path[-1].children.get(level)
            if child is None:
                return False
            path.append(child)
        subscribers = path[-1].subscribers
        if subscriber not in subscribers:
            return False
        del subscribers[subscriber]
        for parent, level, node in zip(reversed(path[:-1]), reversed(levels), reversed(path)):
            if node.subscribers or node.children:
                break
            del parent.children[level]
        return True

    def match(self, topic: str) -> list[tuple[str, Hashable]]:
        """
        Return the (filter, subscriber) pairs whose filter matches C{topic}; exact filters
        first, then wildcard filters.

        :raises ValueError: C{topic} is not a valid topic name.
        """
        validate_topic(topic)
        exact = self._exact.get(topic)
        found = [(topic, subscriber) for subscriber in exact] if exact else []
        if self._root.children:
            for node in self._wildcard_nodes(topic.split("/")):
                found.extend((node.topic_filter, subscriber) for subscriber in node.subscribers)
        return found

    def _wildcard_nodes(self, levels: list[str]) -> list[_Node]:
        """
        Return the trie nodes whose filter matches the topic made of C{levels}.
        """
        matched: list[_Node] = []
        nodes = [self._root]
        for depth, level in enumerate(levels):
            wildcards = depth or not level.startswith("$")
            following = []
            for node in nodes:
                children = node.children
                if wildcards:
                    if "#" in children:
                        matched.append(children["#"])
                    if "+" in children:
                        following.append(children["+"])
                if level in children:
                    following.append(children[level])
            if not following:
                return matched
            nodes = following
        for node in nodes:
            matched.append(node)
            if "#" in node.children:
                matched.append(node.children["#"])
        return matched


def filter_matches(topic_filter: str, topic: str) -> bool:
    """
    Whether C{topic_filter} (not a shared subscription) matches the topic name C{topic}, with
    the rules of L{TopicTree}.
    """
    if topic_filter == topic:
        return True
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    levels = topic.split("/")
    wanted = topic_filter.split("/")
    for index, level in enumerate(wanted):
        if level == "#":
            return True
        if index >= len(levels) or (level != "+" and level != levels[index]):
            return False
    return len(wanted) == len(levels)
