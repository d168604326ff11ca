"""
Tests for L{harper.pubsub.hub}.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from harper.pubsub.hub import TOPICS_REMEMBERED, Hub


class Recorder:
    """
    A subscriber that records what it gets.
    """

    def __init__(self, available: bool = True) -> None:
        self.available = available
        self.got: list[tuple[object, tuple[str, ...]]] = []

    def deliver(self, message: object, topic_filters: tuple[str, ...]) -> None:
        self.got.append((message, topic_filters))


class Failing(Recorder):
    def deliver(self, message: object, topic_filters: tuple[str, ...]) -> None:
        raise RuntimeError("broken subscriber")


class HubTests(TestCase):
    """
    Fan-out by topic filter.
    """

    def test_once_per_subscriber(self) -> None:
        """
        A subscriber with several matching filters gets the message once, with all of them.
        """
        hub, one = Hub(), Recorder()
        hub.subscribe("a/b", one)
        hub.subscribe("a/#", one)
        self.assertEqual(hub.publish("a/b", "m"), 1)
        self.assertEqual(one.got, [("m", ("a/b", "a/#"))])

    def test_unsubscribe(self) -> None:
        """
        Unsubscribed filters stop matching; unknown ones report C{False}.
        """
        hub, one = Hub(), Recorder()
        hub.subscribe("a/+", one)
        self.assertTrue(hub.unsubscribe("a/+", one))
        self.assertFalse(hub.unsubscribe("a/+", one))
        self.assertFalse(hub.unsubscribe("$share/", one))
        self.assertEqual(hub.publish("a/b", "m"), 0)

    def test_remembered_subscribers_follow_changes(self) -> None:
        """
        The subscribers the hub remembers for a topic it published to change with the
        subscriptions: a new subscriber gets the next message, an old one no longer does.
        """
        hub, one, two = Hub(), Recorder(), Recorder()
        hub.subscribe("a/+", one)
        self.assertEqual(hub.publish("a/b", "m1"), 1)
        hub.subscribe("a/b", two)
        self.assertEqual(hub.publish("a/b", "m2"), 2)
        hub.unsubscribe("a/+", one)
        self.assertEqual(hub.publish("a/b", "m3"), 1)
        self.assertEqual(one.got, [("m1", ("a/+",)), ("m2", ("a/+",))])
        self.assertEqual(two.got, [("m2", ("a/b",)), ("m3", ("a/b",))])

    def test_remembered_topics_bounded(self) -> None:
        """
        Publishing to more distinct topics than the hub remembers keeps every delivery right
        and the memory bounded.
        """
        hub, one = Hub(), Recorder()
        hub.subscribe("t/#", one)
        for number in range(TOPICS_REMEMBERED + 10):
            hub.publish(f"t/{number}", number)
        self.assertEqual(hub.publish("t/0", "again"), 1)
        self.assertEqual(len(one.got), TOPICS_REMEMBERED + 11)
        self.assertLessEqual(len(hub._targets), TOPICS_REMEMBERED)

    def test_invalid_topic(self) -> None:
        """
        An invalid topic name raises L{ValueError}, however often it is published to.
        """
        hub = Hub()
        hub.subscribe("#", Recorder())
        for _ in range(2):
            self.assertRaises(ValueError, hub.publish, "a/+", "m")

    def test_shared_round_robin(self) -> None:
        """
        A shared group hands each message to one available member, in turn, with the shared
        filter; an unavailable member is skipped while others are available.
        """
        hub = Hub()
        first, second, away = Recorder(), Recorder(), Recorder(available=False)
        for member in (first, away, second):
            hub.subscribe("$share/g/t/#", member)
        for number in range(4):
            hub.publish("t/x", number)
        self.assertEqual([m for m, _ in first.got], [0, 2])
        self.assertEqual([m for m, _ in second.got], [1, 3])
        self.assertEqual(first.got[0][1], ("$share/g/t/#",))
        self.assertEqual(away.got, [])
        for member in (first, away, second):
            hub.unsubscribe("$share/g/t/#", member)
        self.assertEqual(len(hub), 0)

    def test_failing_subscriber(self) -> None:
        """
        A subscriber that raises does not stop delivery to the others; the error is logged.
        """
        hub, good = Hub(), Recorder()
        hub.subscribe("t", Failing())
        hub.subscribe("t", good)
        hub.publish("t", "m")
        self.assertEqual(len(good.got), 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
