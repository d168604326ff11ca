"""
Tests for L{harper.components.folders.unpack}: which archives are unpacked, where, and which
are refused.
"""

from __future__ import annotations

import base64
import os

from twisted.trial.unittest import TestCase

from harper.components import folders
from harper.errors import InvalidInput
from tests.operations.test_component_ops import link, tar


class UnpackTests(TestCase):
    """
    L{folders.unpack}.
    """

    def unpacked(self, payload: str) -> list[str]:
        """
        The files L{folders.unpack} writes for the base64 C{payload}, relative, sorted.
        """
        destination = os.path.abspath(self.mktemp())
        os.makedirs(destination)
        folders.unpack(base64.b64decode(payload), destination)
        return sorted(
            os.path.relpath(os.path.join(directory, name), destination)
            for directory, _, names in os.walk(destination) for name in names
        )

    def test_top_folder_removed(self) -> None:
        """
        Members that all sit in one folder (named, or C{.}) are unpacked without it.
        """
        files = {"config.yaml": "rest: true\n", "web/index.html": "hi"}
        expected = ["config.yaml", "web/index.html"]
        self.assertEqual(self.unpacked(tar(files, "app")), expected)
        self.assertEqual(self.unpacked(tar(files, ".")), expected)
        self.assertEqual(self.unpacked(tar(files)), expected)

    def test_single_file_kept(self) -> None:
        """
        An archive of one file at its top keeps that file.
        """
        self.assertEqual(self.unpacked(tar({"schema.graphql": ""}, mode="w:bz2")), ["schema.graphql"])

    def test_links_inside(self) -> None:
        """
        Links to files inside the folder are unpacked.
        """
        payload = tar({"a.txt": "x", "b": link("a.txt"), "c": link("app/a.txt", symbolic=False)}, "app")
        self.assertEqual(self.unpacked(payload), ["a.txt", "b", "c"])

    def test_limits(self) -> None:
        """
        More members, or more bytes, than allowed are refused naming C{payload}.
        """
        self.patch(folders, "MAX_FILES", 2)
        with self.assertRaises(InvalidInput) as raised:
            self.unpacked(tar({"a": "", "b": "", "c": ""}))
        self.assertEqual(raised.exception.message, "payload: the archive holds more than 2 files")
        self.patch(folders, "MAX_UNPACKED_BYTES", 10)
        with self.assertRaises(InvalidInput) as raised:
            self.unpacked(tar({"a": "123456", "b": "123456"}))
        self.assertEqual(raised.exception.message, "payload: the archive unpacks to more than 10 bytes")
