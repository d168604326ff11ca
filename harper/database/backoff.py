# -*- test-case-name: tests.database.test_backoff -*-
"""
How long a writer waits before running a transaction again after a write conflict.

Without a pause, a big transaction (a whole group commit) that conflicts with another process's
stream of small commits is re-run at once and tends to lose again; a short, random, growing
pause lets the other writer's commit land first and keeps two contenders from colliding in step.
"""

from __future__ import annotations

import random
from typing import Callable

#: The longest pause, in seconds, however many conflicts came before.
MAXIMUM_PAUSE = 0.05


def conflict_pause(conflicts: int, draw: Callable[[], float] = random.random) -> float:
    """
    The pause, in seconds, after the C{conflicts}-th conflict in a row (1 for the first): a
    random fraction (from C{draw}, in [0, 1)) of 1 ms doubled per conflict, at most
    L{MAXIMUM_PAUSE}.
    """
    return draw() * min(MAXIMUM_PAUSE, 0.001 * 2 ** (conflicts - 1))
