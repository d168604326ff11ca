"""
Tests for L{harper.pubsub.topics}: topic validation, shared subscriptions and L{TopicTree}.
"""

from __future__ import annotations

from typing import Hashable, Iterable

from twisted.trial.unittest import TestCase

from harper.pubsub.topics import (
    TopicTree,
    filter_matches,
    parse_shared_subscription,
    validate_filter,
    validate_topic,
)


class ValidationTests(TestCase):
    """
    L{validate_topic} and L{validate_filter}.
    """

    def test_valid_topics(self) -> None:
        """
        Topic names may hold empty levels, spaces, C{$} and any Unicode but U+0000.
        """
        for topic in ("a", "/", "a//b", "$SYS/broker", "caf\u00e9 au lait", "\ufeffbom"):
            validate_topic(topic)

    def test_invalid_topics(self) -> None:
        """
        A topic name is at least one character (MQTT-4.7.3-1), has no U+0000 (MQTT-4.7.3-2),
        at most 65535 bytes (MQTT-4.7.3-3), and no wildcard (MQTT-4.7.1-1).
        """
        for topic, reason in (("", "at least one"), ("a\x00", "U+0000"),
                              ("\u00e9" * 32768, "65535"), ("a/+", "wildcard"),
                              ("a/#", "wildcard"), ("a#", "wildcard"), (None, "string")):
            error = self.assertRaises(ValueError, validate_topic, topic)
            self.assertIn(reason, str(error))

    def test_valid_filters(self) -> None:
        """
        C{+} and C{#} may stand as whole levels, C{#} as the last one.
        """
        for topic_filter in ("#", "+", "+/+", "a/#", "/+", "+/a/#", "$SYS/#",
                             "$share/g/a/+"):
            validate_filter(topic_filter)

    def test_invalid_filters(self) -> None:
        """
        C{#} must be a whole level and the last (MQTT-4.7.1-2); C{+} must be a whole level
        (MQTT-4.7.1-3); filters are non-empty (MQTT-4.7.3-1).
        """
        for topic_filter in ("a/#/b", "a#", "#/", "a+", "a/+b", "", "$share/g/a#", "x\x00"):
            self.assertRaises(ValueError, validate_filter, topic_filter)


class SharedSubscriptionTests(TestCase):
    """
    L{parse_shared_subscription}.
    """

    def test_shared(self) -> None:
        """
        C{$share/group/filter} splits into the share name and the filter, which may have
        further levels.
        """
        self.assertEqual(parse_shared_subscription("$share/g1/a/+/#"), ("g1", "a/+/#"))

    def test_not_shared(self) -> None:
        """
        Other filters, C{$SHARE} included, are not shared subscriptions.
        """
        self.assertIsNone(parse_shared_subscription("a/b"))
        self.assertIsNone(parse_shared_subscription("$SHARE/g/a"))

    def test_invalid(self) -> None:
        """
        The share name is at least one character without wildcards (MQTT-4.8.2-1) and a
        topic filter follows it (MQTT-4.8.2-2).
        """
        for text in ("$share//a", "$share/g+/a", "$share/#/a", "$share/g", "$share/g/"):
            self.assertRaises(ValueError, parse_shared_subscription, text)


class TopicTreeTests(TestCase):
    """
    L{TopicTree} subscriptions and matching.
    """

    def setUp(self) -> None:
        self.tree = TopicTree()

    def subscribe(self, *filters: str) -> None:
        """
        Subscribe a subscriber named after each filter.
        """
        for topic_filter in filters:
            self.tree.subscribe(topic_filter, topic_filter)

    def assertMatches(self, topic: str, expected: Iterable[Hashable]) -> None:
        """
        C{topic} matches exactly the subscribers C{expected}, each with its filter.
        """
        matched = self.tree.match(topic)
        self.assertEqual(sorted(subscriber for _, subscriber in matched), sorted(expected))
        for topic_filter, subscriber in matched:
            self.assertEqual(topic_filter, subscriber)

    def test_exact(self) -> None:
        """
        A filter without wildcards matches only the identical topic, case-sensitively.
        """
        self.subscribe("a/b", "a", "A/b")
        self.assertMatches("a/b", ["a/b"])
        self.assertMatches("a/b/c", [])

    def test_plus(self) -> None:
        """
        C{+} matches exactly one level.
        """
        self.subscribe("a/+", "a/+/c", "+/+")
        self.assertMatches("a/b", ["a/+", "+/+"])
        self.assertMatches("a/b/c", ["a/+/c"])
        self.assertMatches("a", [])

    def test_plus_empty_levels(self) -> None:
        """
        C{+} matches an empty level: C{+/+} and C{/+} match C{/}, C{a/+} matches C{a/}.
        """
        self.subscribe("+/+", "/+", "a/+", "+")
        self.assertMatches("/", ["+/+", "/+"])
        self.assertMatches("a/", ["a/+", "+/+"])
        self.assertMatches("a", ["+"])

    def test_hash(self) -> None:
        """
        C{#} matches any number of levels below.
        """
        self.subscribe("#", "a/#", "a/b/#", "b/#")
        self.assertMatches("a/b/c/d", ["#", "a/#", "a/b/#"])

    def test_hash_matches_parent(self) -> None:
        """
        C{a/#} matches C{a} itself (MQTT-4.7.1-2, "sport/#" matches "sport"), and C{+/#}
        matches any one-level topic.
        """
        self.subscribe("a/#", "+/#", "a/b/#")
        self.assertMatches("a", ["a/#", "+/#"])
        self.assertMatches("a/b", ["a/#", "+/#", "a/b/#"])

    def test_dollar_topics(self) -> None:
        """
        Filters starting with a wildcard do not match topics starting with C{$}
        (MQTT-4.7.2-1); filters naming the C{$} level do.
        """
        self.subscribe("#", "+/monitor", "$SYS/#", "$SYS/+", "$SYS/monitor")
        self.assertMatches("$SYS/monitor", ["$SYS/#", "$SYS/+", "$SYS/monitor"])
        self.assertMatches("$SYS", ["$SYS/#"])
        self.assertMatches("a/$SYS", ["#"])

    def test_several_subscribers(self) -> None:
        """
        One filter keeps each subscriber once, in subscription order.
        """
        self.assertTrue(self.tree.subscribe("a/+", 1))
        self.assertTrue(self.tree.subscribe("a/+", 2))
        self.assertFalse(self.tree.subscribe("a/+", 1))
        self.assertTrue(self.tree.subscribe("a/b", 3))
        self.assertEqual(self.tree.match("a/b"), [("a/b", 3), ("a/+", 1), ("a/+", 2)])
        self.assertEqual(len(self.tree), 3)

    def test_unsubscribe(self) -> None:
        """
        Unsubscribing removes one subscription and reports whether it existed.
        """
        self.subscribe("a/b", "a/+")
        self.tree.subscribe("a/+", "other")
        self.assertTrue(self.tree.unsubscribe("a/+", "a/+"))
        self.assertTrue(self.tree.unsubscribe("a/b", "a/b"))
        self.assertFalse(self.tree.unsubscribe("a/b", "a/b"))
        self.assertFalse(self.tree.unsubscribe("a/#", "a/+"))
        self.assertFalse(self.tree.unsubscribe("a", "a/+"))
        self.assertEqual(self.tree.match("a/b"), [("a/+", "other")])
        self.assertEqual(len(self.tree), 1)

    def test_empty_nodes_removed(self) -> None:
        """
        Removing the last subscriptions leaves no trie levels and no exact entries behind,
        while levels other filters still use stay.
        """
        self.subscribe("a/+/c/#", "a/+", "x/y")
        self.tree.unsubscribe("a/+/c/#", "a/+/c/#")
        self.assertEqual(list(self.tree._root.children["a"].children["+"].children), [])
        self.tree.unsubscribe("a/+", "a/+")
        self.tree.unsubscribe("x/y", "x/y")
        self.assertEqual(self.tree._root.children, {})
        self.assertEqual(self.tree._exact, {})
        self.assertEqual(len(self.tree), 0)

    def test_invalid(self) -> None:
        """
        Subscribing with an invalid filter or matching an invalid topic raises L{ValueError}.
        """
        self.assertRaises(ValueError, self.tree.subscribe, "a/#/b", 1)
        self.assertRaises(ValueError, self.tree.match, "a/+")


class FilterMatchesTests(TestCase):
    """
    L{filter_matches} agrees with L{TopicTree}.
    """

    def test_agrees_with_tree(self) -> None:
        """
        For a set of filters and topics, a filter matches a topic exactly when the tree
        returns it for that topic.
        """
        filters = ["a", "a/b", "a/+", "+/b", "#", "a/#", "+", "+/+", "$SYS/#", "a/+/c", "/+", "+/#"]
        topics = ["a", "a/b", "a/b/c", "b", "/b", "$SYS/x", "a/", "/"]
        tree = TopicTree()
        for topic_filter in filters:
            tree.subscribe(topic_filter, topic_filter)
        for topic in topics:
            expected = {f for f, _ in tree.match(topic)}
            found = {f for f in filters if filter_matches(f, topic)}
            self.assertEqual(found, expected, topic)
