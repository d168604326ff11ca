# -*- test-case-name: tests.service.test_logs -*-
"""
The daemon's own log: every event at or above C{logging.level} goes to C{logging.file} (and,
with C{logging.stdStreams}, to standard output), beside whatever twistd logs itself.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any, Callable

from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    LogPublisher,
    globalLogPublisher,
    textFileLogObserver,
)

#: Harper's level names (as in its configuration) to Twisted's levels.
LEVELS = {
    "trace": LogLevel.debug,
    "debug": LogLevel.debug,
    "info": LogLevel.info,
    "notify": LogLevel.info,
    "warn": LogLevel.warn,
    "error": LogLevel.error,
    "fatal": LogLevel.critical,
}


def start_logging(logging: Any, publisher: LogPublisher = globalLogPublisher) -> Callable[[], None]:
    """
    Add the observers C{logging} (a L{harper.components.config.LoggingConfig}) asks for to
    C{publisher}; return the function that removes them and closes the file.
    """
    predicate = LogLevelFilterPredicate(defaultLogLevel=LEVELS[logging.level.lower()])
    os.makedirs(os.path.dirname(logging.file), exist_ok=True)
    stream: IO[str] = open(logging.file, "a", encoding="utf-8")
    observers = [FilteringLogObserver(textFileLogObserver(stream), [predicate])]
    if logging.std_streams:
        observers.append(FilteringLogObserver(textFileLogObserver(sys.__stdout__), [predicate]))
    for observer in observers:
        publisher.addObserver(observer)

    def stop() -> None:
        for observer in observers:
            publisher.removeObserver(observer)
        stream.close()

    return stop
