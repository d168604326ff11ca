"""
The harper benchmarks, one command: C{python bench/run.py} (from the virtualenv).

It starts harper with the kennel example on a free loopback port and a temporary root, PUTs
the fixed data set (2,000 dogs over 20 breeds) over HTTP, starts a bare twisted.web server
serving the JSON of one dog as the baseline, then runs wrk against both and prints each
figure with its latency, its ratio to the baseline and to the original Harper's published
figures; then measures beyond one process (C{bench/cluster.py}): GET with two workers,
replication lag between two nodes, MQTT fan-out against mosquitto, WebSocket fan-out
(C{--extras}). C{--soak [MINUTES]} runs the soak of C{bench/soak.py} instead. C{--help}
lists the options; docs/benchmarks.md explains the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from typing import Callable, Optional

sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from bench import cluster, harness, soak  # noqa: E402  (needs the checkout on the path)

#: The original Harper 4.7's published figures (2-core machine, 2 workers, wrk -t2 -c32).
PUBLISHED = {"get": 26_000.0, "put": 4_700.0, "query": 2_900.0}

#: Reads must keep their 99th percentile latency under this (issue 7).
READ_P99_TARGET_MS = 20.0


@dataclass(frozen=True)
class Benchmark:
    """
    One wrk run against harper.

    :ivar name: its name on the command line.
    :ivar label: its name in the report.
    :ivar requests: the request lines it cycles through.
    :ivar is_read: whether the read latency target applies.
    :ivar target: (what it is compared with, the factor to reach): C{"bare"} for the
        baseline, C{"published"} for the original's figure; C{None} when there is none.
    """

    name: str
    label: str
    requests: Callable[[], list[str]]
    is_read: bool
    target: Optional[tuple[str, float]]


BENCHMARKS = (
    Benchmark("get", "GET by id", harness.get_requests, True, ("bare", 0.7)),
    Benchmark("put", "PUT (durable)", harness.put_requests, False, ("published", 1.5)),
    Benchmark("query", "indexed query", harness.query_requests, True, ("published", 1.0)),
    Benchmark("relationship", "relationship query", harness.relationship_requests, True, None),
)


def workers_get(args: argparse.Namespace, folder: str, results: dict) -> None:
    """
    GET by id with two worker processes (C{threads.count=2}), and its ratio to one process.
    """
    if "get" not in results:
        print("  GET by id, 2 workers: skipped (needs the one-process GET figure: --only get)")
        return
    print("  measuring GET by id with 2 workers...", flush=True)
    two = cluster.measure_workers(folder, args.duration, args.threads, args.connections)
    one = results["get"]
    met = "met" if two.rate >= PUBLISHED["get"] else "NOT met"
    print(f"  {'GET by id, 1 process':<22}{one.rate:>10,.0f}{one.p50_ms:>9.2f}{one.p99_ms:>9.2f}")
    print(
        f"  {'GET by id, 2 workers':<22}{two.rate:>10,.0f}{two.p50_ms:>9.2f}{two.p99_ms:>9.2f}"
        f"{two.errors:>8}   2 workers / 1 process = {two.rate / one.rate:.2f}x; "
        f">= {PUBLISHED['get']:,.0f}/s published: {met}"
    )


def replication_lag(args: argparse.Namespace, folder: str, results: dict) -> None:
    """
    Time from a write on node A to its change event on node B (two nodes on loopback).
    """
    print(f"  measuring replication lag ({args.lag_rate:g} PUT/s on A for {args.duration:g} s)...",
          flush=True)
    lag = cluster.measure_replication_lag(folder, args.lag_rate, args.duration)
    print(
        f"  replication A -> B: {lag.writes:,} PUTs at {lag.rate:,.0f}/s, {lag.seen:,} seen on B; "
        f"lag from send p50 {lag.from_send[0]:.1f} ms p99 {lag.from_send[1]:.1f} ms, "
        f"from A's 204 p50 {lag.from_ack[0]:.1f} ms p99 {lag.from_ack[1]:.1f} ms"
    )


def mqtt_fanout(args: argparse.Namespace, folder: str, results: dict) -> None:
    """
    MQTT fan-out through harper's broker and mosquitto (C{bench/mqtt_throughput.py}).
    """
    for label, arguments in cluster.MQTT_RUNS:
        print(f"  MQTT {label}:", flush=True)
        for line in cluster.run_mqtt(arguments).splitlines()[1:]:
            print(f"    {line}")


def websocket_fanout(args: argparse.Namespace, folder: str, results: dict) -> None:
    """
    WebSocket fan-out of table changes to 1 and to 50 subscribers (C{bench/ws_fanout.py}).
    """
    print("  measuring WebSocket fan-out...", flush=True)
    for subscribers, figures in cluster.measure_ws_fanout(folder):
        print(
            f"  WebSocket, {subscribers} subscriber(s) of /Dog/: {figures['received']:,} of "
            f"{figures['expected']:,} changes delivered, {figures['rate']:,.0f}/s; PUT sent to "
            f"message p50 {figures['p50_ms']:.1f} ms p99 {figures['p99_ms']:.1f} ms"
        )


#: The measures beyond one harper process, by their name on the command line (C{--extras}).
EXTRAS = {
    "workers": workers_get,
    "replication": replication_lag,
    "mqtt": mqtt_fanout,
    "websocket": websocket_fanout,
}


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """
    The command line options; exits with a message if they are wrong or wrk is missing.
    """
    parser = argparse.ArgumentParser(description="Run the harper benchmarks with wrk.")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (10)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument(
        "--only", default=",".join(b.name for b in BENCHMARKS),
        help="comma-separated benchmarks to run (default: all of get,put,query,relationship)",
    )
    parser.add_argument(
        "--extras", default=",".join(EXTRAS),
        help="comma-separated measures beyond one process to run, '' for none "
        "(default: all of workers,replication,mqtt,websocket)",
    )
    parser.add_argument(
        "--lag-rate", type=float, default=1000.0, help="PUTs/s on node A for the lag (1000)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary root and logs")
    parser.add_argument(
        "--soak", type=float, nargs="?", const=10.0, default=None, metavar="MINUTES",
        help="instead of the benchmarks, a mixed load for MINUTES (10) watching the daemon's "
        "memory and file descriptors (bench/soak.py)",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error(harness.WRK_MISSING)
    unknown = set(args.only.split(",")) - {b.name for b in BENCHMARKS}
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    unknown = set(filter(None, args.extras.split(","))) - set(EXTRAS)
    if unknown:
        parser.error(f"unknown extras: {', '.join(sorted(unknown))}")
    if args.soak is not None and args.soak <= 0:
        parser.error("--soak needs a positive number of minutes")
    if args.duration <= 0 or args.threads < 1 or args.connections < args.threads:
        parser.error("--duration must be positive and --connections at least --threads >= 1")
    if args.lag_rate * args.duration < cluster.LAG_CLIENTS:
        parser.error(f"--lag-rate times --duration must be at least {cluster.LAG_CLIENTS}")
    return args


def measure(
    port: int, lines: list[str], folder: str, name: str, args: argparse.Namespace, pid: Optional[int] = None,
) -> harness.WrkResult:
    """
    Write C{lines} to a request file in C{folder} and run wrk with them against C{port}
    (served by process C{pid}, whose CPU time per response is measured when given).
    """
    path = harness.write_requests(os.path.join(folder, f"{name}.requests"), lines)
    return harness.run_wrk(port, path, args.duration, args.threads, args.connections, pid)


def _cpu_columns(result: harness.WrkResult, bare: harness.WrkResult) -> str:
    if result.cpu_us is None or bare.cpu_us is None:
        return f"{'-':>8}{'-':>10}"
    return f"{result.cpu_us:>8.0f}{bare.cpu_us / result.cpu_us:>9.2f}x"


def _row(label: str, result: harness.WrkResult, bare: harness.WrkResult) -> str:
    return (
        f"  {label:<22}{result.rate:>10,.0f}{result.p50_ms:>9.2f}{result.p99_ms:>9.2f}"
        f"{result.errors:>8}{result.rate / bare.rate:>9.2f}x{_cpu_columns(result, bare)}"
    )


def _target_text(benchmark: Benchmark, result: harness.WrkResult, bare: harness.WrkResult) -> str:
    notes = []
    if benchmark.target is not None:
        against, factor = benchmark.target
        reference = bare.rate if against == "bare" else PUBLISHED[benchmark.name]
        name = "bare twisted.web" if against == "bare" else "published"
        met = result.rate >= factor * reference
        notes.append(f">= {factor:g}x {name}: {'met' if met else 'NOT met'}")
    if benchmark.is_read:
        met = result.p99_ms <= READ_P99_TARGET_MS
        notes.append(f"p99 <= {READ_P99_TARGET_MS:g} ms: {'met' if met else 'NOT met'}")
    return "; ".join(notes)


def report(
    results: dict[str, harness.WrkResult],
    skipped: dict[str, str],
    bare: harness.WrkResult,
    args: argparse.Namespace,
) -> None:
    """
    Print the figures, their ratios to the baseline and to the published figures, the
    targets, and what is not measured yet.
    """
    print()
    print(
        f"harper benchmarks: wrk -t{args.threads} -c{args.connections}, {args.duration:g} s "
        f"per run, {harness.DOGS} dogs over {harness.BREEDS} breeds, one harper process, "
        f"{os.cpu_count()} cores"
    )
    columns = f"{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'x bare':>10}{'CPU us':>8}{'x bare':>10}"
    print(f"  {'':<22}{columns}   targets (issue 7)")
    print(_row("bare twisted.web GET", bare, bare))
    for benchmark in BENCHMARKS:
        if benchmark.name in results:
            result = results[benchmark.name]
            targets = _target_text(benchmark, result, bare)
            print(f"{_row(benchmark.label, result, bare)}   {targets}")
        elif benchmark.name in skipped:
            print(f"  {benchmark.label:<22}skipped: {skipped[benchmark.name]}")
    print()
    print(
        "Original Harper 4.7: PUBLISHED FIGURES, NOT MEASURED HERE "
        "(2 cores, 2 workers, wrk -t2 -c32)"
    )
    print(f"  {'':<22}{'published':>10}{'harper':>10}{'harper / published':>20}")
    for benchmark in BENCHMARKS:
        if benchmark.name in PUBLISHED and benchmark.name in results:
            published, rate = PUBLISHED[benchmark.name], results[benchmark.name].rate
            figures = f"{published:>10,.0f}{rate:>10,.0f}{rate / published:>19.2f}x"
            print(f"  {benchmark.label:<22}{figures}")

def report_extras(args: argparse.Namespace, folder: str, results: dict) -> None:
    """
    Measure and print the selected measures beyond one process.
    """
    selected = [name for name in args.extras.split(",") if name]
    if selected:
        print()
        print("Beyond one process:")
    for name in selected:
        EXTRAS[name](args, folder, results)


def measure_baseline(args: argparse.Namespace, folder: str, body: bytes) -> harness.WrkResult:
    """
    Start the bare twisted.web server serving C{body}, measure GET on it, stop it.
    """
    bare_server = harness.baseline_server(folder, harness.free_port(), body)
    try:
        bare_server.start()
        print(f"baseline on port {bare_server.port}; measuring bare twisted.web GET...")
        return measure(bare_server.port, harness.get_requests(), folder, "bare", args, bare_server.process.pid)
    finally:
        bare_server.stop()


def measure_harper(
    args: argparse.Namespace, port: int, folder: str, pid: Optional[int] = None,
) -> tuple[dict[str, harness.WrkResult], dict[str, str]]:
    """
    Run the selected benchmarks against the harper on C{port} (process C{pid}): their results, and the
    reasons of those skipped because their first request failed.
    """
    results, skipped = {}, {}
    for benchmark in BENCHMARKS:
        if benchmark.name not in args.only.split(","):
            continue
        lines = benchmark.requests()
        problem = harness.first_request_problem(port, lines[0])
        if problem is not None:
            skipped[benchmark.name] = problem
            print(f"skipping {benchmark.label}: {problem}")
            continue
        print(f"measuring {benchmark.label}...")
        results[benchmark.name] = measure(port, lines, folder, benchmark.name, args, pid)
    return results, skipped


def run(args: argparse.Namespace, folder: str) -> None:
    """
    Start harper in C{folder}, load the data set, measure the baseline and harper, report.
    """
    root = os.path.join(folder, "root")
    os.makedirs(root)
    harper = harness.harper_server(root, harness.free_port())
    try:
        harper.start()
        print(f"harper on port {harper.port}, data in {folder}; loading the data set...")
        harness.load_dataset(harper.port)
        status, dog = harness.http_request(harper.port, "GET", "/Dog/1")
        if status != 200:
            raise RuntimeError(f"GET /Dog/1 answered {status} after loading: {dog[:200]!r}")
        bare = measure_baseline(args, folder, dog)
        results, skipped = measure_harper(args, harper.port, folder, harper.process.pid)
    finally:
        harper.stop()
    report(results, skipped, bare, args)
    report_extras(args, folder, results)


def main(argv: list[str]) -> int:
    """
    Run the benchmarks in a temporary folder; return the exit status.
    """
    args = parse_arguments(argv)
    folder = tempfile.mkdtemp(prefix="harper-bench-")
    try:
        if args.soak is not None:
            return 0 if soak.soak(folder, args.soak) else 1
        run(args, folder)
    except RuntimeError as problem:
        print(f"benchmark failed: {problem}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
