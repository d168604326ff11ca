# -*- test-case-name: tests.service.test_daemon -*-
"""
Refusing to start: one message, in the log and on the operator's terminal, then a stop.
"""

from __future__ import annotations

from typing import Any, Sequence, TextIO

from twisted.logger import Logger

from harper.errors import StartupError


def refuse_to_start(log: Logger, terminal: TextIO, reactor: Any, problems: Sequence[str]) -> None:
    """
    Report C{problems} as one L{StartupError} message on C{log} (critical) and C{terminal}
    (twistd sends C{sys.stderr} to the log, so callers pass C{sys.__stderr__}), then stop
    C{reactor} once it runs.
    """
    message = StartupError(problems).message
    log.critical("{message}", message=message)
    terminal.write(f"{message}\n")
    terminal.flush()
    reactor.callWhenRunning(reactor.stop)
