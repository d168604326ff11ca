"""
The storage conformance tests on C{file:} (FileStorage, the embedded default).
"""

import os

from twisted.trial.unittest import TestCase

from harper.database.storage import open_database
from tests.storage.conformance import StorageConformanceMixin


class FileConformanceTests(StorageConformanceMixin, TestCase):
    """
    The database layer over a FileStorage in a temporary folder.
    """

    def open_db(self):
        root = self.mktemp()
        os.makedirs(root)
        return open_database("file:", root, pool_size=5)
