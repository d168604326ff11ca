"""
Tests for L{harper.database.backoff}.
"""

from twisted.trial.unittest import SynchronousTestCase

from harper.database.backoff import MAXIMUM_PAUSE, conflict_pause


class ConflictPauseTests(SynchronousTestCase):
    """
    L{conflict_pause} grows with the conflicts in a row, is bounded and random.
    """

    def test_grows(self) -> None:
        """
        With the largest draw the pause doubles per conflict, from 1 ms.
        """
        pauses = [conflict_pause(n, lambda: 1.0) for n in (1, 2, 3)]
        self.assertEqual(pauses, [0.001, 0.002, 0.004])

    def test_bounded(self) -> None:
        """
        However many conflicts came before, the pause is at most L{MAXIMUM_PAUSE}.
        """
        self.assertEqual(conflict_pause(40, lambda: 1.0), MAXIMUM_PAUSE)

    def test_random_fraction(self) -> None:
        """
        The pause is the drawn fraction of the bound, so contenders do not retry in step.
        """
        self.assertEqual(conflict_pause(2, lambda: 0.25), 0.0005)
        self.assertEqual(conflict_pause(2, lambda: 0.0), 0.0)
