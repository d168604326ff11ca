"""
Tests for L{harper.resources.freshness}: parsing C{Cache-Control} request directives and
deciding when a stored record of a caching table is fresh, may stand in for a failing source,
and how old it is.
"""

from __future__ import annotations

from typing import Optional

import attr
from twisted.trial.unittest import TestCase

from harper.resources.freshness import (
    NO_DIRECTIVES, CacheDirectives, age, is_fresh, may_serve_stale, parse_cache_control,
)


@attr.frozen
class StoredEntry:
    """
    The two attributes of a stored entry the freshness rules read.
    """

    version: float
    expires_at: Optional[float] = None


class ParseTests(TestCase):
    """
    L{parse_cache_control}.
    """

    def test_absent(self) -> None:
        """
        No header (or an empty one) means no directives.
        """
        self.assertIs(parse_cache_control(None), NO_DIRECTIVES)
        self.assertIs(parse_cache_control(""), NO_DIRECTIVES)

    def test_every_directive(self) -> None:
        """
        Every honoured directive is read, case-insensitively, quoted values too.
        """
        directives = parse_cache_control(
            'Max-Age=30, only-if-cached, NO-CACHE, no-store, stale-if-error="120", must-revalidate'
        )
        self.assertEqual(directives, CacheDirectives(30.0, True, True, True, 120.0, True))

    def test_unknown_ignored(self) -> None:
        """
        Directives harper does not honour are ignored.
        """
        self.assertIs(parse_cache_control("private, max-stale=5, public"), NO_DIRECTIVES)

    def test_malformed_max_age(self) -> None:
        """
        A max-age that is not delta-seconds counts as 0 (revalidate), never as an error.
        """
        for header in ("max-age=soon", "max-age=-5", "max-age", "max-age=1.5"):
            self.assertEqual(parse_cache_control(header).max_age, 0.0, header)

    def test_malformed_stale_if_error(self) -> None:
        """
        A malformed stale-if-error is ignored.
        """
        self.assertIsNone(parse_cache_control("stale-if-error=x").stale_if_error)
        self.assertIsNone(parse_cache_control("stale-if-error").stale_if_error)


class FreshnessTests(TestCase):
    """
    L{is_fresh}, L{may_serve_stale} and L{age} at a fixed time.
    """

    now = 1_000_000.0

    def test_fresh_without_directives(self) -> None:
        """
        Without directives an entry is fresh until its own expiry (forever without one).
        """
        self.assertTrue(is_fresh(StoredEntry(self.now - 10_000), self.now, NO_DIRECTIVES))
        self.assertTrue(is_fresh(StoredEntry(0, self.now + 1), self.now, NO_DIRECTIVES))
        self.assertFalse(is_fresh(StoredEntry(0, self.now), self.now, NO_DIRECTIVES))

    def test_max_age(self) -> None:
        """
        max-age=N makes an entry older than N seconds stale, but never extends its expiry.
        """
        entry = StoredEntry(self.now - 5_000)
        self.assertTrue(is_fresh(entry, self.now, CacheDirectives(max_age=6)))
        self.assertFalse(is_fresh(entry, self.now, CacheDirectives(max_age=4)))
        expiring = StoredEntry(self.now - 5_000, self.now - 1)
        self.assertFalse(is_fresh(expiring, self.now, CacheDirectives(max_age=60)))

    def test_no_cache(self) -> None:
        """
        no-cache makes every entry stale.
        """
        self.assertFalse(is_fresh(StoredEntry(self.now), self.now, CacheDirectives(no_cache=True)))

    def test_stale_if_error(self) -> None:
        """
        stale-if-error=N serves entries stale for at most N seconds, whatever the table's
        policy says.
        """
        entry = StoredEntry(0, self.now - 30_000)
        self.assertTrue(may_serve_stale(entry, self.now, CacheDirectives(stale_if_error=30), False))
        self.assertFalse(may_serve_stale(entry, self.now, CacheDirectives(stale_if_error=29), True))
        revalidated = StoredEntry(self.now - 1, None)
        directives = CacheDirectives(no_cache=True, stale_if_error=0)
        self.assertTrue(may_serve_stale(revalidated, self.now, directives, False))

    def test_policy_and_must_revalidate(self) -> None:
        """
        Without stale-if-error the table's policy decides; must-revalidate always refuses.
        """
        entry = StoredEntry(0, 1)
        self.assertTrue(may_serve_stale(entry, self.now, NO_DIRECTIVES, True))
        self.assertFalse(may_serve_stale(entry, self.now, NO_DIRECTIVES, False))
        strict = CacheDirectives(must_revalidate=True, stale_if_error=10_000)
        self.assertFalse(may_serve_stale(entry, self.now, strict, True))

    def test_age(self) -> None:
        """
        The age is whole seconds since the record was stored, never negative.
        """
        self.assertEqual(age(self.now - 2_999, self.now), 2)
        self.assertEqual(age(self.now + 5, self.now), 0)
