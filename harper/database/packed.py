# -*- test-case-name: tests.database.test_packed -*-
"""
Persistent objects whose state ZODB stores as one plain pickle.

ZODB pickles an object's state with a pickler that calls a Python function (its
C{persistent_id}) for every value inside it, every key and value of every nested dict
included, so a record of ten attributes costs about twenty such calls, and an audit entry of
a group commit thousands. Records and audit entries hold plain data and never reference
other persistent objects: L{PackedState} pickles their state first with the standard
library's C pickler (no callback) and hands ZODB the bytes, one value to store, which cuts
the writer thread's serialisation by half for a record and by about seven for an audit entry
(measured in docs/benchmarks.md, "PUT").

States stored before as ZODB pickles of the attribute dict still load: L{PackedState}
accepts both forms, and an object is stored packed the next time it is written.
"""

from __future__ import annotations

import pickle
from typing import Any

from persistent import Persistent

#: The pickle protocol of packed states: a fixed one (5, Python 3.8 and later), so that a newer
#: Python never stores states an older one cannot read.
PROTOCOL = 5


class PackedState(Persistent):
    """
    A persistent object stored as the standard pickle of its attribute dict.

    Subclasses must keep only plain picklable data in their attributes: a persistent object
    inside the state would be copied into it instead of referenced.
    """

    def __getstate__(self) -> bytes:
        """
        The state ZODB stores: the pickle of the attribute dict.
        """
        return pickle.dumps(Persistent.__getstate__(self), PROTOCOL)

    def __setstate__(self, state: Any) -> None:
        """
        Load a packed state, or the attribute dict an earlier version stored.
        """
        if isinstance(state, bytes):
            state = pickle.loads(state)
        Persistent.__setstate__(self, state)
