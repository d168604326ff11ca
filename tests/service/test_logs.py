"""
Tests for L{harper.service.logs}.
"""

from __future__ import annotations

import os

import attr
from twisted.logger import Logger, LogPublisher
from twisted.trial.unittest import TestCase

from harper.service.logs import start_logging


@attr.frozen
class Logging:
    """
    The logging settings L{start_logging} reads.
    """

    level: str
    file: str
    std_streams: bool = False


class StartLoggingTests(TestCase):
    """
    The level filter and the log file.
    """

    def test_level_and_file(self) -> None:
        """
        Events at or above the level reach the file (created with its folder); lower ones
        do not; after stopping, nothing more is written.
        """
        path = os.path.join(self.mktemp(), "log", "harper.log")
        publisher = LogPublisher()
        log = Logger(observer=publisher, namespace="harper.test")
        stop = start_logging(Logging("warn", path), publisher)
        log.info("quiet {n}", n=1)
        log.warn("loud {n}", n=2)
        log.error("louder {n}", n=3)
        stop()
        log.error("after {n}", n=4)
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
        self.assertNotIn("quiet 1", text)
        self.assertIn("loud 2", text)
        self.assertIn("louder 3", text)
        self.assertNotIn("after 4", text)

    def test_harper_names(self) -> None:
        """
        Harper's level names map to Twisted's: debug shows everything.
        """
        path = os.path.join(self.mktemp(), "harper.log")
        publisher = LogPublisher()
        stop = start_logging(Logging("DEBUG", path), publisher)
        Logger(observer=publisher).debug("detail")
        stop()
        with open(path, encoding="utf-8") as stream:
            self.assertIn("detail", stream.read())
