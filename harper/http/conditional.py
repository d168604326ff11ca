# -*- test-case-name: tests.http.test_conditional -*-
"""
Validators of conditional requests: the C{ETag} of a record (its version, the timestamp of the
transaction that last wrote it), C{If-None-Match}, C{Last-Modified}, and the C{Server-Timing}
value of a request.
"""

from __future__ import annotations

import base64
import functools
import struct
from typing import Optional

from twisted.web.http import datetimeToString


@functools.lru_cache(maxsize=4096)
def etag(version: float) -> str:
    """
    The quoted entity tag of a record written at C{version} (epoch ms): the 8 bytes of the
    float in URL-safe base64 (remembered for the versions read most recently).
    """
    return '"' + base64.urlsafe_b64encode(struct.pack(">d", version)).rstrip(b"=").decode("ascii") + '"'


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag[:2] in ("W/", "w/") else tag


def none_match(header: Optional[str], tag: str) -> bool:
    """
    Whether C{If-None-Match: header} names C{tag} (weak comparison, C{*} matches anything),
    so a GET may answer 304.
    """
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(_opaque(candidate) == tag for candidate in header.split(","))


def last_modified(version: float) -> bytes:
    """
    The C{Last-Modified} value (an HTTP date) of a record written at C{version} (epoch ms).
    """
    return datetimeToString(int(version // 1000))


def server_timing(seconds: float) -> bytes:
    """
    The C{Server-Timing} value for C{seconds} spent in the database call.
    """
    return b"db;dur=%.3f" % (seconds * 1000.0)
