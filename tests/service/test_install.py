# -*- test-case-name: tests.service.test_install -*-
"""
The install that users do: a plain (non-editable) C{pip install} of this checkout into a
fresh virtualenv puts the twistd plugin where Twisted finds it, so C{twistd --help} lists
C{harper}. Slow (it installs every dependency), and never skipped.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import sys

from twisted.internet import error
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from tests.service.helpers import REPOSITORY, start_process

#: What a fresh clone would not hold (see .gitignore), and the virtualenv of the checkout.
NOT_SOURCES = (
    ".git", ".venv", "_trial_temp*", "build", "dist", "*.egg-info", "__pycache__", "*.pyc",
    "dropin.cache", "var", ".mypy_cache",
)


@inlineCallbacks
def run(case: TestCase, executable: str, arguments: list[str], timeout: float):
    """
    Run C{executable} without C{PYTHONPATH} (so nothing outside the new virtualenv is
    imported) and check it exits with 0 within C{timeout} seconds; fire with the process.
    """
    child = start_process(case, executable, arguments, ("PYTHONPATH",))
    command = " ".join([executable, *arguments])
    try:
        exit_code = yield child.ended(timeout)
    except error.TimeoutError:
        raise AssertionError(f"{command} still runs after {timeout} s\n{child.output()}")
    case.assertEqual(exit_code, 0, f"{command} failed\n{child.output()}")
    return child


class InstallTests(TestCase):
    """
    A plain C{pip install} of the checkout into a new virtualenv.
    """

    timeout = 900

    @inlineCallbacks
    def test_twistd_lists_harper(self) -> None:
        """
        After C{pip install <checkout>}, the plugin file is in the virtualenv's
        C{twisted/plugins}, C{harper} is imported from the virtualenv, and its C{twistd
        --help} lists the C{harper} command.
        """
        work = os.path.abspath(self.mktemp())
        source, venv = os.path.join(work, "source"), os.path.join(work, "venv")
        # A copy, so that the build never writes into the checkout.
        shutil.copytree(REPOSITORY, source, ignore=shutil.ignore_patterns(*NOT_SOURCES))
        yield run(self, sys.executable, ["-m", "venv", venv], 300)
        python = os.path.join(venv, "bin", "python")
        yield run(self, python, ["-m", "pip", "install", "--quiet", source], 600)

        site_packages = glob.glob(os.path.join(venv, "lib", "python3*", "site-packages"))
        self.assertEqual(len(site_packages), 1, site_packages)
        plugin = os.path.join(site_packages[0], "twisted", "plugins", "harper_plugin.py")
        self.assertTrue(os.path.isfile(plugin), f"{plugin} was not installed")
        imported = yield run(self, python, ["-c", "import harper; print(harper.__file__)"], 60)
        self.assertTrue(imported.stdout.decode().strip().startswith(site_packages[0] + os.sep))

        listing = yield run(self, os.path.join(venv, "bin", "twistd"), ["--help"], 120)
        self.assertRegex(listing.stdout.decode(), re.compile(r"^\s+harper\s+Harper", re.MULTILINE))
