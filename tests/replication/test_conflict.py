"""
Tests for L{harper.replication.conflict}: the rule every node applies to replicated writes.
"""

from __future__ import annotations

import itertools

from twisted.trial.unittest import TestCase

from harper.replication.conflict import (
    ABSENT, RecordState, merge, resolve, resolve_delete, resolve_patch, resolve_put,
)
from harper.replication.entries import Change

A1, B1, A2, B2, A3 = (1.0, "a"), (1.0, "b"), (2.0, "a"), (2.0, "b"), (3.0, "a")


def put(value: dict) -> Change:
    return Change("data", "Dog", 1, "put", {"id": 1, **value})


def patch(whole: dict, *names: str) -> Change:
    return Change("data", "Dog", 1, "patch", {"id": 1, **whole}, names)


DELETE = Change("data", "Dog", 1, "delete", None)


def replay(writes: list[tuple[Change, tuple]]) -> RecordState:
    """
    The state after C{writes} (change, version) applied in order to an absent record.
    """
    state = ABSENT
    for change, version in writes:
        state = resolve(state, change, version) or state
    return state


class PutTests(TestCase):
    """
    Whole writes: the newer version wins.
    """

    def test_newer_wins(self) -> None:
        """
        A put newer than the record replaces it; an older one changes nothing.
        """
        state = resolve_put(ABSENT, {"name": "x"}, A1)
        self.assertEqual(state, RecordState({"name": "x"}, A1))
        self.assertEqual(resolve_put(state, {"name": "y"}, A2).value, {"name": "y"})
        self.assertIsNone(resolve_put(resolve_put(state, {"name": "y"}, A2), {"name": "z"}, A1))

    def test_tie_broken_by_node_name(self) -> None:
        """
        Equal timestamps: the alphabetically greater node wins, whatever the order.
        """
        first = replay([(put({"name": "from a"}), A1), (put({"name": "from b"}), B1)])
        second = replay([(put({"name": "from b"}), B1), (put({"name": "from a"}), A1)])
        self.assertEqual(first, second)
        self.assertEqual(first.value["name"], "from b")

    def test_same_version_is_duplicate(self) -> None:
        """
        A write with the version the record has is one already applied: nothing changes.
        """
        state = resolve_put(ABSENT, {"name": "x"}, A1)
        self.assertIsNone(resolve_put(state, {"name": "x"}, A1))


class DeleteTests(TestCase):
    """
    Deletes leave tombstones.
    """

    def test_newer_delete_wins(self) -> None:
        """
        A delete newer than the record removes it and keeps its version.
        """
        state = resolve_delete(RecordState({"name": "x"}, A1), A2)
        self.assertEqual(state, RecordState(None, A2))

    def test_older_delete_loses(self) -> None:
        """
        A delete older than the record's newest write (patch included) changes nothing.
        """
        patched = RecordState({"name": "x"}, A1, {"age": A3})
        self.assertIsNone(resolve_delete(patched, A2))

    def test_tombstone_stops_older_put(self) -> None:
        """
        A put older than a delete that arrives after it stays deleted; a newer one revives.
        """
        tombstone = resolve_delete(ABSENT, A2)
        self.assertIsNone(resolve_put(tombstone, {"name": "late"}, A1))
        self.assertEqual(resolve_put(tombstone, {"name": "new"}, A3).value, {"name": "new"})


class PatchTests(TestCase):
    """
    Patches compete attribute by attribute.
    """

    def test_different_attributes_both_survive(self) -> None:
        """
        Patches to different attributes from two nodes both survive, in either order.
        """
        base = (put({"age": 1, "owner": "Ann"}), A1)
        age = (patch({"age": 2, "owner": "Ann"}, "age"), A2)
        owner = (patch({"age": 1, "owner": "Bob"}, "owner"), B2)
        first, second = replay([base, age, owner]), replay([base, owner, age])
        self.assertEqual(first, second)
        self.assertEqual((first.value["age"], first.value["owner"]), (2, "Bob"))

    def test_same_attribute_newer_wins(self) -> None:
        """
        Two patches of one attribute: the newer value stays.
        """
        base = (put({"age": 1}), A1)
        older, newer = (patch({"age": 2}, "age"), A2), (patch({"age": 3}, "age"), A3)
        self.assertEqual(replay([base, newer, older]).value["age"], 3)
        self.assertEqual(replay([base, older, newer]).value["age"], 3)

    def test_older_put_keeps_newer_patch(self) -> None:
        """
        A whole write older than a patch, arriving after it, keeps the patched attribute.
        """
        patched = RecordState({"id": 1, "name": "x", "age": 5}, A1, {"age": A3})
        state = resolve_put(patched, {"id": 1, "name": "y", "age": 0}, A2)
        self.assertEqual(state.value, {"id": 1, "name": "y", "age": 5})
        self.assertEqual(dict(state.stamps), {"age": A3})

    def test_patch_older_than_put_loses(self) -> None:
        """
        A patch older than the record's last whole write changes nothing.
        """
        self.assertIsNone(resolve_patch(RecordState({"age": 1}, A2), {"age": 9}, {"age": 9}, A1))

    def test_patch_of_absent_record_installs_whole(self) -> None:
        """
        A patch of a record this node does not have installs the record the patch produced.
        """
        state = resolve_patch(ABSENT, {"age": 2}, {"id": 1, "name": "x", "age": 2}, A2)
        self.assertEqual(state, RecordState({"id": 1, "name": "x", "age": 2}, A2))

    def test_every_order_converges(self) -> None:
        """
        Any order of a mix of puts, patches and deletes from two nodes ends in one state.
        """
        writes = [
            (put({"name": "x", "age": 1}), A1),
            (patch({"name": "x", "age": 2}, "age"), B1),
            (patch({"name": "n", "age": 1}, "name"), A2),
            (DELETE, B2),
            (put({"name": "z", "age": 7}), A3),
        ]
        outcomes = {repr(replay(list(order))) for order in itertools.permutations(writes[:4])}
        self.assertEqual(len(outcomes), 1)
        outcomes = {repr(replay(list(order))) for order in itertools.permutations(writes)}
        self.assertEqual(len(outcomes), 1)


class MergeTests(TestCase):
    """
    Base copies merge a whole record state into the local one.
    """

    def test_keeps_local_only_and_newer(self) -> None:
        """
        A copied record older than the local one changes nothing; a newer one replaces it.
        """
        local = RecordState({"name": "local"}, A2)
        self.assertIsNone(merge(local, RecordState({"name": "copied"}, A1)))
        self.assertEqual(
            merge(local, RecordState({"name": "copied"}, A3)).value,
            {"name": "copied"},
        )

    def test_merges_patched_attributes(self) -> None:
        """
        Attributes patched on either side after the other's whole write are kept.
        """
        local = RecordState({"age": 1, "owner": "Bob"}, A1, {"owner": B2})
        copied = RecordState({"age": 2, "owner": "Ann"}, A1, {"age": A2})
        self.assertEqual(merge(local, copied).value, {"age": 2, "owner": "Bob"})

    def test_copied_tombstone(self) -> None:
        """
        A copied tombstone newer than the local record deletes it.
        """
        self.assertEqual(
            merge(RecordState({"a": 1}, A1), RecordState(None, A2)),
            RecordState(None, A2),
        )

    def test_unknown_change_type(self) -> None:
        """
        A message is not a write: the rule refuses it.
        """
        self.assertRaises(ValueError, resolve, ABSENT, Change("data", "Dog", 1, "message", {}), A1)
