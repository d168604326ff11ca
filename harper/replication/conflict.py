# -*- test-case-name: tests.replication.test_conflict -*-
"""
The conflict rule: how a replicated write combines with what a node holds.

Last writer wins per record by version (hybrid-logical-clock timestamp, then node name), with
two refinements that make every order of arrival end in the same state:

 - a patch only competes for the attributes it set: each attribute patched after the last
   whole write keeps its own version, so patches to different attributes made on different
   nodes both survive, and a whole write older than a later patch keeps that patch on top;
 - a delete leaves a tombstone (a version without a value), so a write older than the delete
   that arrives after it stays deleted.

Every function is pure and returns the new L{RecordState}, or C{None} when the incoming write
changes nothing (it is older, or it is a write already applied: same version).
"""

from __future__ import annotations

import types
from typing import Any, Mapping, Optional

import attr

from harper.database.events import DELETE, PATCH, PUT
from harper.replication.entries import NEVER, Change, Version

_NO_STAMPS: Mapping[str, Version] = types.MappingProxyType({})


@attr.frozen
class RecordState:
    """
    A record as replication sees it.

    :ivar value: the record, or C{None} when it is absent or deleted.
    :ivar base: the version of the last whole write (put or delete) that is still in effect.
    :ivar stamps: attribute name to the version of a patch newer than C{base} that set it.
    """

    value: Optional[Mapping[str, Any]]
    base: Version = NEVER
    stamps: Mapping[str, Version] = _NO_STAMPS

    @property
    def version(self) -> Version:
        """
        The newest version that shaped this state.
        """
        return max((self.base, *self.stamps.values()))


#: A record this node never heard of.
ABSENT = RecordState(None)


def resolve_put(
    state: RecordState, value: Mapping[str, Any], version: Version
) -> Optional[RecordState]:
    """
    A whole write of C{value} at C{version}: it replaces the record unless the last whole
    write (or delete) is at least as new; attributes patched after C{version} keep their
    patched values.
    """
    if version <= state.base:
        return None
    newer = {name: stamp for name, stamp in state.stamps.items() if stamp > version}
    merged = dict(value)
    if state.value is not None:
        merged.update({name: state.value[name] for name in newer if name in state.value})
    return RecordState(merged, version, types.MappingProxyType(newer))


def resolve_patch(
    state: RecordState, changes: Mapping[str, Any], whole: Mapping[str, Any], version: Version
) -> Optional[RecordState]:
    """
    A patch setting C{changes} at C{version}; C{whole} is the record the patch produced on its
    node, installed when this node has no record (or an older tombstone).
    """
    if version <= state.base:
        return None
    if state.value is None:
        return RecordState(dict(whole), version)
    won = {
        name: value
        for name, value in changes.items()
        if version > state.stamps.get(name, state.base)
    }
    if not won:
        return None
    merged = {**state.value, **won}
    stamps = {**state.stamps, **{name: version for name in won}}
    return RecordState(merged, state.base, types.MappingProxyType(stamps))


def resolve_delete(state: RecordState, version: Version) -> Optional[RecordState]:
    """
    A delete at C{version}: it wins over a record none of whose writes is as new, and it
    replaces an older tombstone.
    """
    if version <= state.version:
        return None
    return RecordState(None, version)


def resolve(state: RecordState, change: Change, version: Version) -> Optional[RecordState]:
    """
    Apply the rule for C{change} (a put, patch or delete) written at C{version}.

    :raises ValueError: for a change type that does not write a record.
    """
    if change.type == PUT:
        return resolve_put(state, change.value, version)
    if change.type == PATCH:
        changes = {name: change.value.get(name) for name in change.patched or ()}
        return resolve_patch(state, changes, change.value, version)
    if change.type == DELETE:
        return resolve_delete(state, version)
    raise ValueError(f"a {change.type!r} change does not write a record")


def merge(state: RecordState, incoming: RecordState) -> Optional[RecordState]:
    """
    Combine a record's state copied whole from another node (a base copy) with the local one:
    the incoming whole write, then each of its newer patched attributes, each by the rule.
    """
    if incoming.value is None:
        return resolve_delete(state, incoming.base)
    current = resolve_put(state, incoming.value, incoming.base) or state
    for name, stamp in incoming.stamps.items():
        attribute = {name: incoming.value.get(name)}
        current = resolve_patch(current, attribute, incoming.value, stamp) or current
    return current if current != state else None
