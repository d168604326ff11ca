# -*- test-case-name: tests.mqtt.test_broker -*-
"""
The brokers of the other worker processes of a daemon: the messages a broker routes to plain
topics go to them over the worker bus (L{harper.workers.bus.Broadcasts}), and theirs come
back, so that a subscriber gets what is published through any worker.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.logger import Logger

from harper.mqtt.message import Message

#: The kind of the broadcasts that carry these messages.
KIND = "mqtt.message"


class PeerBrokers:
    """
    The link of one broker to the others.

    :param broadcasts: the worker's broadcasts (C{send(kind, body)}, C{listen(kind, receiver)}).
    :param received: called with each message another worker's broker routed.
    """

    _log = Logger()

    def __init__(self, broadcasts: Any, received: Callable[[Message], None]) -> None:
        self._broadcasts = broadcasts
        self._stop = broadcasts.listen(KIND, lambda record: received(Message.from_record(record)))

    def send(self, message: Message) -> None:
        """
        Hand C{message} to the other brokers.
        """
        try:
            self._broadcasts.send(KIND, message.to_record())
        except ValueError:
            self._log.failure("cannot send a message on {topic} to the other workers",
                              topic=message.topic)

    def close(self) -> None:
        """
        Stop receiving the other brokers' messages.
        """
        self._stop()
