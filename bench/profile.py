"""
Profile one harper request path under load: C{python bench/profile.py get|put|query}.

It starts harper with the data set of C{bench/run.py}, runs wrk on the chosen path and
samples the daemon with py-spy meanwhile (C{pip install py-spy}; it needs permission to
ptrace the daemon, which root has), then writes the functions that take the most samples,
by own time and including their callees, per thread and per package, to a text file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field

sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from bench import harness  # noqa: E402  (needs the checkout on the path)

PATHS = {
    "get": harness.get_requests,
    "put": harness.put_requests,
    "query": harness.query_requests,
    "relationship": harness.relationship_requests,
}


@dataclass
class Samples:
    """
    py-spy samples folded by stack.

    :ivar total: how many samples.
    :ivar own: samples per function at the top of the stack.
    :ivar inclusive: samples per function anywhere in the stack.
    :ivar threads: samples per thread name.
    :ivar packages: samples per package of the function at the top of the stack.
    """

    total: int = 0
    own: Counter = field(default_factory=Counter)
    inclusive: Counter = field(default_factory=Counter)
    threads: Counter = field(default_factory=Counter)
    packages: Counter = field(default_factory=Counter)


def package_of(frame: str) -> str:
    """
    The package of a py-spy frame C{"function (path/to/module.py:line)"}: the first two
    dotted parts of the module path (C{twisted.web}, C{harper.http}, C{ZODB.Connection}).
    """
    location = frame[frame.rfind("(") + 1:].rpartition(":")[0]
    if location.startswith("<"):
        return "attrs (generated)" if "attrs generated" in location else location
    parts = location.removesuffix(".py").removesuffix("/__init__").split("/")
    return ".".join(parts[:2])


def fold(lines: list[str]) -> Samples:
    """
    Count the samples of py-spy's raw output (C{thread;frame;frame... count} per line).
    """
    samples = Samples()
    for line in lines:
        stack, _, count_text = line.rstrip("\n").rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        thread, *frames = stack.split(";")
        samples.total += count
        samples.threads[thread.partition(": ")[2] or thread] += count
        if frames:
            samples.own[frames[-1]] += count
            samples.packages[package_of(frames[-1])] += count
        for frame in set(frames):
            samples.inclusive[frame] += count
    return samples


def _table(title: str, counts: Counter, total: int, top: int) -> list[str]:
    lines = [title]
    for name, count in counts.most_common(top):
        lines.append(f"  {100 * count / total:5.1f}%  {name}")
    return lines + [""]


def summary(samples: Samples, heading: str, top: int) -> str:
    """
    The report of C{samples}: shares of the samples per thread, per package and per function.
    """
    if not samples.total:
        return f"{heading}\nno samples (was the daemon idle, or could py-spy not attach?)\n"
    inclusive = Counter({k: v for k, v in samples.inclusive.items() if not _is_twisted(k)})
    lines = [heading, f"samples: {samples.total} (not idle)", ""]
    lines += _table("Threads:", samples.threads, samples.total, top)
    lines += _table("Own time by package:", samples.packages, samples.total, top)
    lines += _table(f"Top {top} functions by own time:", samples.own, samples.total, top)
    title = f"Top {top} functions outside Twisted, including callees:"
    lines += _table(title, inclusive, samples.total, top)
    return "\n".join(lines)


def _is_twisted(frame: str) -> bool:
    # Twisted frames (the reactor loop, twisted.web's request processing) are below every
    # request, so they would fill the top of the inclusive ranking.
    return package_of(frame).split(".")[0] in {"twisted", "twistd", "threading"}


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """
    The command line options; exits with a message if they are wrong or a tool is missing.
    """
    parser = argparse.ArgumentParser(
        description="Profile a harper request path with py-spy under wrk load."
    )
    parser.add_argument("path", choices=sorted(PATHS), help="the request path to load")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load (10)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second (100)")
    parser.add_argument("--top", type=int, default=10, help="functions listed (10)")
    parser.add_argument(
        "--idle", action="store_true", help="also count threads that wait (I/O, locks)"
    )
    parser.add_argument(
        "--output", help="report file (default: harper-profile-PATH.txt in the temp folder)"
    )
    parser.add_argument("--raw", help="also keep py-spy's folded stacks here (for a flame graph)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error(harness.WRK_MISSING)
    if shutil.which("py-spy") is None:
        parser.error("py-spy is not installed: pip install py-spy")
    default = os.path.join(tempfile.gettempdir(), f"harper-profile-{args.path}.txt")
    args.output = args.output or default
    return args


def sample_under_load(
    args: argparse.Namespace, port: int, pid: int, folder: str
) -> harness.WrkResult:
    """
    Run wrk on the chosen path while py-spy samples process C{pid}; its folded stacks go to
    C{folder}/py-spy.txt.
    """
    requests = harness.write_requests(os.path.join(folder, "requests"), PATHS[args.path]())
    raw = os.path.join(folder, "py-spy.txt")
    spy_argv = [
        "py-spy", "record", "--pid", str(pid), "--format", "raw", "--function", "--threads",
        "--nonblocking", "--rate", str(args.rate), "--duration", f"{args.duration:.0f}", "-o", raw,
    ]
    if args.idle:
        spy_argv.append("--idle")
    spy = subprocess.Popen(spy_argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    result = harness.run_wrk(port, requests, args.duration, args.threads, args.connections)
    spy_output = spy.communicate()[0].decode("utf-8", "replace")
    if spy.returncode != 0 or not os.path.exists(raw):
        raise RuntimeError(f"py-spy failed ({spy.returncode}):\n{spy_output}")
    return result


def profile(args: argparse.Namespace, folder: str) -> str:
    """
    Start harper, load the data set, sample it while wrk runs; return the report.
    """
    root = os.path.join(folder, "root")
    os.makedirs(root)
    harper = harness.harper_server(root, harness.free_port())
    try:
        harper.start()
        harness.load_dataset(harper.port)
        result = sample_under_load(args, harper.port, harper.process.pid, folder)
    finally:
        harper.stop()
    raw = os.path.join(folder, "py-spy.txt")
    if args.raw:
        shutil.copyfile(raw, args.raw)
    with open(raw, encoding="utf-8") as folded:
        samples = fold(folded.readlines())
    idle = " with idle threads" if args.idle else ""
    heading = (
        f"harper profile of {args.path}: py-spy at {args.rate} Hz{idle} while "
        f"wrk -t{args.threads} -c{args.connections} ran {args.duration:g} s: "
        f"{result.rate:,.0f} req/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
        f"{result.errors} errors"
    )
    return summary(samples, heading, args.top)


def main(argv: list[str]) -> int:
    """
    Profile in a temporary folder, write and print the report; return the exit status.
    """
    args = parse_arguments(argv)
    folder = tempfile.mkdtemp(prefix="harper-profile-")
    try:
        text = profile(args, folder)
    except RuntimeError as problem:
        print(f"profiling failed: {problem}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    with open(args.output, "w", encoding="utf-8") as out:
        out.write(text)
    print(text)
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
