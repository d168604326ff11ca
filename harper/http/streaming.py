# -*- test-case-name: tests.http.test_streaming -*-
"""
Streaming a collection to the client from a worker thread: the query runs in one transaction
on the thread, its records are encoded a chunk at a time and each chunk is written on the
reactor thread, the worker waiting while the client's connection is full. However many
records match, the server holds a few chunks at a time, never the whole answer. Also the
helpers that recognise and count the lazy results encoded as collections.
"""

from __future__ import annotations

import threading
import types
import zlib
from typing import Any, Callable, Iterable, Iterator

from twisted.internet.interfaces import IPushProducer
from twisted.internet.threads import blockingCallFromThread
from zope.interface import implementer

from harper.http.responses import GZIP_LEVEL

_EAGER = frozenset({dict, list, str, bytes, int, float, bool, type(None)})


class StreamStopped(Exception):
    """
    The client went away while a collection was streamed to it.
    """


@implementer(IPushProducer)
class CollectionStream:
    """
    The producer of one streamed answer: paused and resumed by the connection on the reactor
    thread, writing from the worker thread.

    :param reactor: the reactor the request belongs to.
    :param request: the request answered; its headers are sent already.
    :param compress: gzip the chunks.
    """

    def __init__(self, reactor: Any, request: Any, compress: bool) -> None:
        self._reactor = reactor
        self._request = request
        self._writable = threading.Event()
        self._writable.set()
        self._stopped = False
        self._compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31) if compress else None

    @property
    def compressed(self) -> bool:
        """
        Whether the chunks are gzip-compressed.
        """
        return self._compressor is not None

    def pauseProducing(self) -> None:
        self._writable.clear()

    def resumeProducing(self) -> None:
        self._writable.set()

    def stopProducing(self) -> None:
        self._stopped = True
        self._writable.set()

    def write_all(self, chunks: Iterable[bytes], written: Callable[[], None] = lambda: None) -> None:
        """
        From the worker thread: write every chunk, waiting while the connection is paused.

        :param written: called after each chunk (to let the database cache forget the records
            already sent).
        :raises StreamStopped: when the client disconnected (ends the iteration, and so the
            query, early).
        """
        compressor = self._compressor
        for chunk in chunks:
            if compressor is not None:
                chunk = compressor.compress(chunk)
            if chunk:
                self._write(chunk)
                written()
        if compressor is not None:
            self._write(compressor.flush())

    def _write(self, chunk: bytes) -> None:
        self._writable.wait()
        if self._stopped:
            raise StreamStopped()
        blockingCallFromThread(self._reactor, self._request.write, chunk)


class Counted:
    """
    Iterates over C{values}, counting them.
    """

    __slots__ = ("_values", "size")

    def __init__(self, values: Any) -> None:
        self._values = values
        self.size = 0

    def __iter__(self) -> Iterator[Any]:
        for value in self._values:
            self.size += 1
            yield value


def is_lazy(result: Any) -> bool:
    """
    Whether C{result} is a lazy sequence (a generator or iterator) to encode as a collection.
    """
    if type(result) in _EAGER:
        return False
    return isinstance(result, (types.GeneratorType, Iterator))
