"""
A short coverage-guided run (atheris) of every fuzz target, each in its own process (libFuzzer
runs once per process): a few thousand inputs per target in CI, or C{HARPER_FUZZ_SECONDS}
seconds each when that variable is set (the long runs). A run that finds an input making a
target raise anything but its own errors, or hang, fails with that input's bytes in the
message; keep them in L{tests.fuzz.test_regressions}.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Optional

from twisted.trial.unittest import SkipTest, TestCase

from tests.fuzz.targets import TARGETS

try:
    import atheris  # noqa: F401  (only whether it is installed)
except ImportError:  # pragma: no cover - atheris has wheels for CPython on Linux only
    atheris = None

#: Inputs per target in the short run.
SHORT_RUNS = 3000

_CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fuzz(target: str, folder: str, runs: int, seconds: int) -> tuple[int, str, list[bytes]]:
    """
    Run the atheris runner on C{target}; return its exit status, its output and the inputs
    it wrote to C{folder} (crashes and timeouts).
    """
    argv = [
        sys.executable, "-m", "tests.fuzz.atheris_run", target, "--runs", str(runs),
        "--seconds", str(seconds), "--artifacts", folder, "--timeout", "10",
    ]
    done = subprocess.run(
        argv, cwd=_CHECKOUT, capture_output=True, text=True, timeout=seconds + 300, check=False,
    )
    found = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as saved:
            found.append(saved.read())
    return done.returncode, done.stdout + done.stderr, found


class AtherisTests(TestCase):
    """
    libFuzzer finds no input that breaks a parser.
    """

    def setUp(self) -> None:
        if atheris is None:
            raise SkipTest("atheris is not installed (pip install -e '.[test]')")

    def run_target(self, target: str) -> None:
        """
        Fuzz C{target} for the short run (or C{HARPER_FUZZ_SECONDS}) and fail with what it
        found, if anything.
        """
        seconds: Optional[str] = os.environ.get("HARPER_FUZZ_SECONDS")
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        if seconds:
            status, output, found = fuzz(target, folder, -1, int(seconds))
        else:
            status, output, found = fuzz(target, folder, SHORT_RUNS, 0)
        if status != 0 or found:
            self.fail(f"atheris on {target}: exit {status}, inputs {found!r}\n{output[-3000:]}")
        self.assertIn("stat::number_of_executed_units", output)

    def test_mqtt(self) -> None:
        """
        The MQTT codec.
        """
        self.run_target("mqtt")

    def test_query(self) -> None:
        """
        The URL query parser.
        """
        self.run_target("query")

    def test_sdl(self) -> None:
        """
        The SDL loader.
        """
        self.run_target("sdl")

    def test_body(self) -> None:
        """
        The request body decoders (JSON, CBOR, MessagePack, forms).
        """
        self.run_target("body")

    def test_csv(self) -> None:
        """
        The CSV reader of C{csv_data_load}.
        """
        self.run_target("csv")

    def test_operations(self) -> None:
        """
        The operations-API request decoder.
        """
        self.run_target("operations")

    def test_http(self) -> None:
        """
        The HTTP port's connections (the REST lane and its hand-over to twisted.web).
        """
        self.run_target("http")

    def test_every_target(self) -> None:
        """
        Every target has its test here and its modules to instrument in the runner.
        """
        from tests.fuzz.atheris_run import INSTRUMENTED

        names = {name[len("test_"):] for name in dir(self) if name.startswith("test_")}
        self.assertEqual(set(TARGETS) - names, set())
        self.assertEqual(set(INSTRUMENTED), set(TARGETS))
