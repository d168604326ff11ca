"""
Measure the writer thread's CPU time per durable PUT without sockets:
C{python bench/writer.py [--group 32] [--groups 300] [--profile FILE] [--set key=value]...}.

It starts harper's runtime (database, tables, audit log) with the kennel example in this
process, stores the data set's breeds and dogs, then commits groups of C{--group} PUTs of
dogs (the bodies C{bench/run.py} sends, decoded as the REST layer decodes them) the way the
writer thread does (L{harper.database.groupcommit.GroupCommitter}, FileStorage with its
fsync), and prints the thread CPU microseconds per write (best of three rounds), the bytes
the storage grew by per write and the objects stored per group. C{--profile} writes cProfile
statistics of one more round (for C{pstats}).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from typing import Any

# The checkout instead of bench/ on the path: bench/profile.py would hide the standard
# library's profile module, which cProfile imports.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import cProfile  # noqa: E402
import orjson  # noqa: E402
from twisted.internet import reactor  # noqa: E402

from bench import harness  # noqa: E402
from harper.resources.context import RequestContext  # noqa: E402
from harper.resources.target import RequestTarget  # noqa: E402

#: Rounds measured; the fastest is reported.
ROUNDS = 3


class Writes:
    """
    Commits groups of PUTs through the runtime's group committer in the calling thread.
    """

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.writer = runtime.writer
        self.caller = runtime.caller
        self.dogs = runtime.resources[("data", "Dog")]
        self.breeds = runtime.resources[("data", "Breed")]
        self.version = 0

    def group(self, resource: Any, records: list[tuple[Any, bytes]]) -> list:
        """
        The group-commit entries that PUT each C{(key, JSON body)} of C{records} to C{resource}.
        """
        group = []
        for key, body in records:
            work = self.caller.work("put", resource, RequestTarget.record(key), RequestContext(), orjson.loads(body))
            group.append((work, _Sink()))
        return group

    def commit(self, group: list) -> None:
        """
        Commit C{group} as the writer thread would, and deliver its results.
        """
        self.writer._commit_group(group)
        reactor.runUntilCurrent()  # fire the results the commit handed to the reactor thread

    def load(self) -> None:
        """
        Store the data set's breeds, then its dogs in groups of 100.
        """
        breeds = [(b, orjson.dumps(harness.breed_record(b))) for b in range(1, harness.BREEDS + 1)]
        self.commit(self.group(self.breeds, breeds))
        dogs = [(str(n), orjson.dumps(harness.dog_record(n))) for n in range(1, harness.DOGS + 1)]
        for start in range(0, len(dogs), 100):
            self.commit(self.group(self.dogs, dogs[start:start + 100]))

    def dog_groups(self, size: int, count: int) -> list[list]:
        """
        C{count} groups of C{size} PUTs cycling over the dogs with new values.
        """
        groups = []
        for _ in range(count):
            records = []
            for _ in range(size):
                self.version += 1
                n = self.version % harness.DOGS + 1
                pass_ = self.version // harness.DOGS + 1
                records.append((str(n), orjson.dumps(harness.dog_record(n, pass_))))
            groups.append(self.group(self.dogs, records))
        return groups


class _Sink:
    """
    Stands for the Deferred of a write: takes its result.
    """

    def callback(self, result: Any) -> None:
        pass

    def errback(self, failure: Any) -> None:
        failure.raiseException()


def measure(writes: Writes, size: int, count: int, profile: str | None) -> tuple[float, float, float]:
    """
    Thread CPU microseconds per write (best of L{ROUNDS}), bytes stored per write and objects
    stored per group.
    """
    storage = writes.runtime.db.storage
    best = float("inf")
    stored = [0]
    original_store = storage.store

    def counting_store(*args: Any, **kwargs: Any) -> Any:
        stored[0] += 1
        return original_store(*args, **kwargs)

    for _ in range(ROUNDS):
        groups = writes.dog_groups(size, count)
        size_before = storage.getSize()
        started = time.thread_time()
        for group in groups:
            writes.commit(group)
        best = min(best, (time.thread_time() - started) / (size * count) * 1e6)
        grown = (storage.getSize() - size_before) / (size * count)
    storage.store = counting_store
    for group in writes.dog_groups(size, 10):
        writes.commit(group)
    del storage.store
    if profile:
        groups = writes.dog_groups(size, count)
        profiler = cProfile.Profile()
        profiler.enable()
        for group in groups:
            writes.commit(group)
        profiler.disable()
        profiler.dump_stats(profile)
    return best, grown, stored[0] / 10


def main(argv: list[str]) -> int:
    """
    Start the runtime, load the data, measure, print; return the exit status.
    """
    parser = argparse.ArgumentParser(description="The writer thread's CPU time per PUT, in process.")
    parser.add_argument("--group", type=int, default=32, help="writes per group commit (32)")
    parser.add_argument("--groups", type=int, default=300, help="groups per round (300)")
    parser.add_argument("--profile", help="also write cProfile statistics of one round here")
    parser.add_argument("--set", action="append", default=[], help="a harper setting key=value")
    args = parser.parse_args(argv)
    root = tempfile.mkdtemp(prefix="harper-writer-")
    service = harness.service_in_process(root, harness.bench_settings(0, args.set))
    runtime = service.runtime
    runtime.start()
    try:
        writes = Writes(runtime)
        writes.load()
        per_write, grown, objects = measure(writes, args.group, args.groups, args.profile)
    finally:
        runtime.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"groups of {args.group} PUTs: {per_write:.1f} us of writer CPU per write (best of {ROUNDS} x "
        f"{args.groups} groups), {grown:.0f} bytes stored per write, {objects:.1f} objects stored per group"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
