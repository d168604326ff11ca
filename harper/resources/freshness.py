# -*- test-case-name: tests.resources.test_freshness -*-
"""
A client's C{Cache-Control} request directives and what they mean for a caching table (one
C{sourced_from} another resource): when a stored record is fresh enough to serve, when a stale
one may stand in for a failing source, and how old a served record is (C{Age}).

Transports parse the header with L{parse_cache_control} and hand the L{CacheDirectives} to the
Resource API in L{harper.resources.context.RequestContext.cache_control}, so resources never
look at HTTP. As RFC 9111 asks, unknown directives are ignored and a malformed C{max-age}
counts as 0 (the record must be revalidated) rather than failing the request.
"""

from __future__ import annotations

from typing import Any, Optional

import attr

from harper.errors import HarperError


class NotCached(HarperError):
    """
    C{only-if-cached} asked for a record the cache does not hold fresh (HTTP 504).
    """


@attr.frozen
class CacheDirectives:
    """
    The request directives harper honours.

    :ivar max_age: seconds; a stored record older than this is stale.
    :ivar only_if_cached: answer from the cache or fail with L{NotCached}, never asking the
        source.
    :ivar no_cache: revalidate with the source even when the stored record is fresh.
    :ivar no_store: do not store a record fetched from the source.
    :ivar stale_if_error: seconds; when the source fails, a record stale for no longer than
        this is served instead.
    :ivar must_revalidate: never serve a stale record, even when the source fails.
    """

    max_age: Optional[float] = None
    only_if_cached: bool = False
    no_cache: bool = False
    no_store: bool = False
    stale_if_error: Optional[float] = None
    must_revalidate: bool = False


#: No directives: the table's own policy alone decides.
NO_DIRECTIVES = CacheDirectives()

_FLAGS = {
    "only-if-cached": "only_if_cached",
    "no-cache": "no_cache",
    "no-store": "no_store",
    "must-revalidate": "must_revalidate",
}


def _seconds(text: str) -> Optional[float]:
    """
    A delta-seconds value, or C{None} when C{text} is not one.
    """
    text = text.strip().strip('"')
    return float(text) if text.isdigit() else None


def parse_cache_control(header: Optional[str]) -> CacheDirectives:
    """
    The directives of a C{Cache-Control} request header (L{NO_DIRECTIVES} when absent).
    """
    if not header:
        return NO_DIRECTIVES
    found: dict[str, Any] = {}
    for item in header.split(","):
        name, has_value, value = item.partition("=")
        name = name.strip().lower()
        if name in _FLAGS:
            found[_FLAGS[name]] = True
        elif name == "max-age":
            seconds = _seconds(value) if has_value else None
            found["max_age"] = 0.0 if seconds is None else seconds
        elif name == "stale-if-error" and has_value:
            seconds = _seconds(value)
            if seconds is not None:
                found["stale_if_error"] = seconds
    return CacheDirectives(**found) if found else NO_DIRECTIVES


def fresh_until(entry: Any, directives: CacheDirectives) -> Optional[float]:
    """
    The epoch ms at which C{entry} (a L{harper.database.store.Entry}) turns stale for a
    request with C{directives}, or C{None} for never: its own expiry, brought forward by
    C{max-age}.
    """
    ends = entry.expires_at
    if directives.max_age is not None:
        by_age = entry.version + directives.max_age * 1000.0
        ends = by_age if ends is None else min(ends, by_age)
    return ends


def is_fresh(entry: Any, now: float, directives: CacheDirectives) -> bool:
    """
    Whether C{entry} may be served at C{now} (epoch ms) without asking the source.
    """
    if directives.no_cache:
        return False
    ends = fresh_until(entry, directives)
    return ends is None or now < ends


def may_serve_stale(
    entry: Any, now: float, directives: CacheDirectives, stale_on_error: bool
) -> bool:
    """
    Whether C{entry} may stand in for a source that failed at C{now}: never with
    C{must-revalidate}; with C{stale-if-error=N}, when it has been stale for at most C{N}
    seconds; otherwise as the table's policy (C{stale_on_error}) says.
    """
    if directives.must_revalidate:
        return False
    if directives.stale_if_error is None:
        return stale_on_error
    ends = fresh_until(entry, directives)
    stale_for = 0.0 if ends is None else max(0.0, now - ends)
    return stale_for <= directives.stale_if_error * 1000.0


def age(version: float, now: float) -> int:
    """
    Whole seconds at C{now} since a record was stored at C{version} (both epoch ms): the
    C{Age} of an answer from the cache.
    """
    return max(0, int((now - version) // 1000))
