"""
Tests for L{harper.pubsub.slow}: the bounded backlog of a slow real-time client.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from harper.pubsub.slow import DISCONNECT, DROP, Backlog


class BacklogTests(TestCase):
    """
    L{Backlog}.
    """

    def make(self, policy: str) -> Backlog:
        self.written: list[int] = []
        self.disconnected: list[bool] = []
        return Backlog(self.written.append, lambda: self.disconnected.append(True), 2, policy)

    def test_holds_while_paused(self) -> None:
        """
        Messages are written at once, held while paused, and written in order on resume.
        """
        backlog = self.make(DROP)
        backlog.offer(1)
        backlog.pause()
        backlog.offer(2)
        backlog.offer(3)
        self.assertEqual((self.written, len(backlog)), ([1], 2))
        backlog.resume()
        self.assertEqual((self.written, len(backlog)), ([1, 2, 3], 0))

    def test_drop(self) -> None:
        """
        With L{DROP}, messages past the bound are counted and dropped; the client stays.
        """
        backlog = self.make(DROP)
        backlog.pause()
        for message in range(5):
            backlog.offer(message)
        backlog.resume()
        self.assertEqual((self.written, backlog.dropped, self.disconnected), ([0, 1], 3, []))

    def test_disconnect(self) -> None:
        """
        With L{DISCONNECT}, the first message past the bound disconnects the client, once;
        nothing is held or written after that.
        """
        backlog = self.make(DISCONNECT)
        backlog.pause()
        for message in range(5):
            backlog.offer(message)
        backlog.resume()
        self.assertEqual((self.written, len(backlog), self.disconnected), ([], 0, [True]))
