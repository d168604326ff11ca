# -*- test-case-name: tests.http.test_headers -*-
"""
The request headers as the read-only mapping a L{harper.resources.context.RequestContext}
carries.
"""

from __future__ import annotations

from typing import Iterator, Mapping

from twisted.web.http_headers import Headers


class RequestHeaders(Mapping[str, str]):
    """
    The request headers as a read-only mapping: lower-case
    names, the last value of each; read on demand.
    """

    __slots__ = ("_headers",)

    def __init__(self, headers: Headers) -> None:
        self._headers = headers

    def __getitem__(self, name: str) -> str:
        values = self._headers.getRawHeaders(name)
        if not values:
            raise KeyError(name)
        return values[-1]

    def __iter__(self) -> Iterator[str]:
        return (name.decode("latin-1").lower() for name, _ in self._headers.getAllRawHeaders())

    def __len__(self) -> int:
        return sum(1 for _ in self._headers.getAllRawHeaders())
