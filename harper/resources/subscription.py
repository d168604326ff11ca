# -*- test-case-name: tests.websocket.test_history -*-
"""
The options of a subscription (Harper's C{subscribe} options), and reading them from the
query string of a WebSocket or event-stream request.
"""

from __future__ import annotations

from typing import Optional
from urllib.parse import parse_qs

import attr

from harper.errors import InvalidInput

#: Query parameter values that mean "no" for a flag (a bare C{?omitCurrent} means yes).
_FALSE = ("false", "0", "no")


@attr.frozen
class SubscriptionOptions:
    """
    How a subscription starts and what it covers.

    :ivar start_time: replay the changes from this time (epoch ms, inclusive) out of the
        audit log before the live ones.
    :ivar previous_count: replay the last this many changes (at most 1000) before the live
        ones.
    :ivar omit_current: do not send a record's current value first.
    :ivar include_descendants: a record subscription also covers the records below it (ids
        starting with C{<id>/}).
    """

    start_time: Optional[float] = None
    previous_count: Optional[int] = None
    omit_current: bool = False
    include_descendants: bool = False

    @property
    def replays(self) -> bool:
        """
        Whether the subscription starts with history from the audit log (which then takes
        the place of the current value).
        """
        return self.start_time is not None or self.previous_count is not None


#: A live subscription that starts with the current value.
NO_OPTIONS = SubscriptionOptions()


def _flag(values: list[str]) -> bool:
    return values[-1].strip().lower() not in _FALSE


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"{name}: expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidInput(f"{name}: expected a finite number, got {text!r}")
    return value


def options_from_query(query: str) -> SubscriptionOptions:
    """
    The options a query string gives: C{startTime=<epoch ms>}, C{previousCount=<n>}, and
    the flags C{omitCurrent} and C{includeDescendants} (bare, or C{=true}/C{=false}).
    Other parameters are left to the resource.

    :raises InvalidInput: naming the parameter whose value is not valid.
    """
    params = parse_qs(query, keep_blank_values=True)
    start_time = previous_count = None
    if "startTime" in params:
        start_time = _number("startTime", params["startTime"][-1])
    if "previousCount" in params:
        text = params["previousCount"][-1]
        if not text.strip().isdigit():
            raise InvalidInput(f"previousCount: expected a whole number of events, got {text!r}")
        previous_count = int(text)
    return SubscriptionOptions(
        start_time=start_time,
        previous_count=previous_count,
        omit_current="omitCurrent" in params and _flag(params["omitCurrent"]),
        include_descendants="includeDescendants" in params and _flag(params["includeDescendants"]),
    )
