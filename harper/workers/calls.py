# -*- test-case-name: tests.workers.test_calls -*-
"""
Calls from one worker process to a function that another worker serves, over the bus's
broadcasts (L{harper.workers.bus.Broadcasts}): a call goes to every other worker, the one
serving its name answers, and the answer goes back to the caller. Arguments and results are
plain values (what CBOR encodes); a L{harper.errors.HarperError} raised by the function is
raised again, with its message, in the caller, so each transport maps it as usual.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger

from harper import errors
from harper.http.errors import ServiceUnavailable
from harper.workers.bus import Broadcasts

#: The broadcast kinds of calls and of their answers.
CALL, ANSWER = "call", "answer"

#: Seconds a call waits for its answer.
DEFAULT_TIMEOUT = 30.0


class CallFailed(ServiceUnavailable):
    """
    The worker serving a call did not answer it (gone, or not started yet), or failed with an
    error that is not a L{harper.errors.HarperError}: the request cannot be served now (HTTP
    503).
    """


def _error_of(name: str, message: str) -> errors.HarperError:
    """
    The error to raise for an answer naming the exception class C{name}: that class of
    L{harper.errors} when it is made of a message alone, else L{CallFailed}.
    """
    kind = getattr(errors, name, None)
    if isinstance(kind, type) and issubclass(kind, errors.HarperError) and \
            kind.__init__ is errors.HarperError.__init__:
        return kind(message)
    return CallFailed(message)


class WorkerCalls:
    """
    One worker's calls to, and functions for, the other workers.

    :param broadcasts: this worker's broadcasts.
    :param index: this worker's number (answers are addressed by it).
    :param reactor: the reactor (call timeouts).
    :param timeout: seconds a call waits for its answer.
    """

    _log = Logger()

    def __init__(self, broadcasts: Broadcasts, index: int, reactor: Any,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self._broadcasts = broadcasts
        self._index = index
        self._reactor = reactor
        self._timeout = timeout
        self._functions: dict[str, Callable[..., Any]] = {}
        self._waiting: dict[str, Deferred] = {}
        self._numbers = itertools.count(1)
        broadcasts.listen(CALL, self._called)
        broadcasts.listen(ANSWER, self._answered)

    def serve(self, name: str, function: Callable[..., Any]) -> None:
        """
        Answer the other workers' calls of C{name} with C{function(*arguments)} (a value or a
        Deferred).
        """
        self._functions[name] = function

    def call(self, name: str, *arguments: Any, timeout: Optional[float] = None) -> Deferred:
        """
        Call C{name} in the worker that serves it; the Deferred fires with its result, or
        fails with its error (L{CallFailed} when no answer came within C{timeout} seconds, by
        default the calls' timeout).
        """
        key = f"{self._index}-{next(self._numbers)}"
        waiting: Deferred = Deferred()
        self._waiting[key] = waiting
        self._broadcasts.send(CALL, {"id": key, "from": self._index, "name": name,
                                     "arguments": list(arguments)})

        def expired(result: Any, timeout: float) -> Any:
            self._waiting.pop(key, None)
            raise CallFailed(f"{name}: the worker serving it did not answer in {timeout:g} s")

        waiting.addTimeout(self._timeout if timeout is None else timeout, self._reactor,
                           onTimeoutCancel=expired)
        return waiting

    def _called(self, body: Any) -> None:
        function = self._functions.get(body["name"])
        if function is None:
            return
        key, caller = body["id"], body["from"]
        d = maybeDeferred(function, *body["arguments"])

        def answer(result: Any) -> None:
            self._broadcasts.send(ANSWER, {"id": key, "to": caller, "result": result})

        def failed(failure: Any) -> None:
            if failure.check(errors.HarperError):
                name, message = type(failure.value).__name__, failure.value.message
            else:
                self._log.failure("serving {name} for worker {caller} failed", failure,
                                  name=body["name"], caller=caller)
                name, message = "CallFailed", f"{body['name']} failed; see the server log"
            self._broadcasts.send(ANSWER, {"id": key, "to": caller, "error": [name, message]})

        d.addCallbacks(answer, failed)

    def _answered(self, body: Any) -> None:
        if body.get("to") != self._index:
            return
        waiting = self._waiting.pop(body["id"], None)
        if waiting is None:
            return
        if "error" in body:
            waiting.errback(_error_of(*body["error"]))
        else:
            waiting.callback(body["result"])
