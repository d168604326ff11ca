"""
Coverage-guided fuzzing of one target of L{tests.fuzz.targets} with atheris (libFuzzer):

    python -m tests.fuzz.atheris_run TARGET [--runs N] [--seconds S] [--artifacts FOLDER]

harper's modules are instrumented, so libFuzzer steers its inputs toward new branches of the
parsers. An input that makes the target raise anything but its own errors, or take longer
than C{--timeout} seconds, stops the run with a non-zero exit status and is written to
C{FOLDER/crash-*} (or C{timeout-*}); keep it in L{tests.fuzz.test_regressions}.
"""

from __future__ import annotations

import argparse
import os
import sys

import atheris

#: The modules whose branches guide the fuzzing of each target (instrumenting all of harper
#: makes every run start seconds later).
INSTRUMENTED = {
    "mqtt": ["harper.mqtt"],
    "query": ["harper.resources.querystring"],
    "sdl": ["harper.schema"],
    "body": ["harper.http.codecs", "harper.http.encoding", "harper.http.negotiation"],
    "csv": ["harper.operations.csv_ops"],
    "operations": ["harper.operations.api", "harper.operations.fields", "harper.operations.registry",
                   "harper.http.codecs", "harper.http.encoding", "harper.http.negotiation"],
    "http": ["harper.http.wire", "harper.http.lean", "harper.http.lane"],
}


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """
    The command line of the runner.
    """
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("target", choices=sorted(INSTRUMENTED))
    parser.add_argument("--runs", type=int, default=-1, help="inputs to try (-1: no limit)")
    parser.add_argument("--seconds", type=int, default=0, help="time limit (0: none)")
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take")
    parser.add_argument("--artifacts", default="./", help="folder for crashing inputs")
    parser.add_argument("--seed", type=int, default=0, help="libFuzzer's seed (0: random)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    """
    Fuzz the target named on the command line until the limits are reached or it fails.
    """
    args = parse_arguments(argv)
    with atheris.instrument_imports(include=INSTRUMENTED[args.target]):
        from tests.fuzz.targets import TARGETS
    target = TARGETS[args.target]
    folder = args.artifacts.rstrip("/") + "/"
    libfuzzer = [
        sys.argv[0], f"-runs={args.runs}", f"-max_total_time={args.seconds}",
        f"-timeout={args.timeout}", f"-artifact_prefix={folder}", f"-seed={args.seed}",
        "-max_len=4096", "-print_final_stats=1",
    ]
    dictionary = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{args.target}.dict")
    if os.path.exists(dictionary):
        libfuzzer.append(f"-dict={dictionary}")
    atheris.Setup(libfuzzer, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv[1:])
