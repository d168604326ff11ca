# -*- test-case-name: tests.mqtt.test_broker -*-
"""
Retained messages of topics that no resource serves: kept in memory for matching and in the
durable store so that they survive a restart.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from harper.mqtt.message import Message
from harper.pubsub.topics import filter_matches


class RetainedMessages:
    """
    The retained message of each topic.

    :param store: the durable store (L{harper.mqtt.store.BrokerStore} or a memory one).
    """

    def __init__(self, store: Any) -> None:
        self._store = store
        self._messages: dict[str, Message] = {}

    def __len__(self) -> int:
        return len(self._messages)

    def load(self, messages: list[Message]) -> None:
        """
        Restore the messages read from the store at start-up.
        """
        self._messages.update((message.topic, message) for message in messages)

    def retain(self, message: Message) -> Deferred:
        """
        Make C{message} its topic's retained message, or remove the retained message when its
        payload is empty (MQTT-3.3.1-6, MQTT-3.3.1-7); the Deferred fires once stored.
        """
        self.remember(message)
        if message.payload():
            return self._store.save_retained(message)
        return self._store.delete_retained(message.topic)

    def remember(self, message: Message) -> None:
        """
        Like L{retain}, in memory only: for a message another worker process retained (and
        stored).
        """
        if message.payload():
            self._messages[message.topic] = message
        else:
            self._messages.pop(message.topic, None)

    def matching(self, topic_filter: str, now: float) -> list[Message]:
        """
        The retained messages whose topic C{topic_filter} matches, leaving out expired ones.
        """
        found = []
        for topic, message in list(self._messages.items()):
            if not filter_matches(topic_filter, topic):
                continue
            remaining = message.remaining_expiry(now)
            if remaining is not None and remaining <= 0:
                del self._messages[topic]
                continue
            found.append(message)
        return found
