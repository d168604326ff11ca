"""
What the benchmark commands share: the fixed data set, starting and stopping the servers
under test as subprocesses on free loopback ports, loading the data over HTTP, and running
wrk with C{bench/requests.lua}.

Everything here talks to harper over HTTP only, so it keeps working whatever the REST layer
looks like inside.
"""

from __future__ import annotations

import http.client
import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Optional, Sequence
from urllib.parse import quote

#: The checkout the benchmarks belong to.
REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: The root configuration with the kennel example application (Breed, Owner, Dog).
CONFIG = os.path.join(REPOSITORY, "conf", "harper.yaml")

#: The wrk script every benchmark runs.
WRK_SCRIPT = os.path.join(REPOSITORY, "bench", "requests.lua")

#: The bare twisted.web server the figures are compared with.
BASELINE_SCRIPT = os.path.join(REPOSITORY, "bench", "baseline.py")

#: The twistd of the virtualenv running the benchmark.
TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")

#: The fixed data set: this many dogs spread evenly over this many breeds.
DOGS = 2000
BREEDS = 20

#: Versions of each dog that the PUT benchmark cycles through.
PUT_VERSIONS = 3

#: Ports another harper or broker on this machine may hold.
RESERVED_PORTS = frozenset({1883, 9925, 9926})

#: Why the benchmarks cannot run without wrk.
WRK_MISSING = "wrk is not installed (Debian: apt-get install wrk)"

#: Seconds a server may take to answer its first request.
START_DEADLINE = 30.0

_BREED_NAMES = (
    "Labrador Retriever", "German Shepherd", "Beagle", "Poodle", "Bulldog", "Rottweiler",
    "Dachshund", "Boxer", "Whippet", "Border Collie", "Great Dane", "Husky", "Pug", "Akita",
    "Corgi", "Basenji", "Vizsla", "Samoyed", "Shiba Inu", "Newfoundland",
)


def free_port() -> int:
    """
    A TCP port nothing listens on at 127.0.0.1 now (never one of L{RESERVED_PORTS}).
    """
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


def breed_record(number: int) -> dict[str, Any]:
    """
    Breed C{number} (1 to L{BREEDS}) of the data set, without its key.
    """
    return {"name": _BREED_NAMES[number - 1], "group": f"Group {number % 7}"}


def breed_of(dog: int) -> int:
    """
    The breed number of dog C{dog}.
    """
    return dog % BREEDS + 1


def dog_record(number: int, version: int = 0) -> dict[str, Any]:
    """
    Version C{version} of dog C{number} (1 to L{DOGS}) of the data set, without its key.
    """
    return {
        "name": f"Dog {number}",
        "breedId": breed_of(number),
        "age": (number + version) % 16,
        "weight": round(5 + (number * 7 + version) % 400 / 10, 1),
    }


def _body(record: Any) -> str:
    return json.dumps(record, separators=(",", ":"))


def get_requests() -> list[str]:
    """
    Request lines (see C{bench/requests.lua}) of GET by id over every dog.
    """
    return [f"GET\t/Dog/{n}" for n in range(1, DOGS + 1)]


def put_requests() -> list[str]:
    """
    Request lines of PUTs cycling over every dog, each pass with the next version of the body.
    """
    return [
        f"PUT\t/Dog/{n}\t{_body(dog_record(n, version))}"
        for version in range(1, PUT_VERSIONS + 1)
        for n in range(1, DOGS + 1)
    ]


def query_requests() -> list[str]:
    """
    Request lines of the indexed query: the first ten dogs of each breed.
    """
    return [f"GET\t/Dog/?breedId={b}&limit(10)" for b in range(1, BREEDS + 1)]


def relationship_requests() -> list[str]:
    """
    Request lines of the relationship query: ten dogs of a breed named in the URL, with the
    name of their breed joined in.
    """
    return [
        f"GET\t/Dog/?breed.name={quote(_BREED_NAMES[b - 1])}&select(name,breed{{name}})&limit(10)"
        for b in range(1, BREEDS + 1)
    ]


class Server:
    """
    One server under test, a subprocess that answers HTTP on 127.0.0.1.

    :param name: what it is, for messages.
    :param argv: its command line.
    :param port: the port it serves HTTP on.
    :param log_path: where its standard output and error go.
    :ivar process: the running C{subprocess.Popen}, once started.
    """

    def __init__(self, name: str, argv: Sequence[str], port: int, log_path: str) -> None:
        self.name = name
        self.argv = list(argv)
        self.port = port
        self.log_path = log_path
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> "Server":
        """
        Start the process and wait until it answers HTTP; raise C{RuntimeError} with the end
        of its log if it exits first or does not answer in time.
        """
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPOSITORY,
            )
        deadline = time.monotonic() + START_DEADLINE
        while not self._answers():
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"{self.name} exited with {code}\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.name} does not answer on port {self.port}\n{self.log_tail()}"
                )
            time.sleep(0.1)
        return self

    def _answers(self) -> bool:
        try:
            http_request(self.port, "GET", "/")
        except OSError:
            return False
        return True

    def stop(self, timeout: float = 15.0) -> None:
        """
        Stop the process with SIGTERM (SIGKILL after C{timeout} seconds).
        """
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, size: int = 3000) -> str:
        """
        The end of the server's log.
        """
        with open(self.log_path, "rb") as log:
            log.seek(max(0, os.path.getsize(self.log_path) - size))
            return log.read().decode("utf-8", "replace")


def harper_server(
    root: str, port: int, prefix: Sequence[str] = (), settings: Sequence[str] = ()
) -> Server:
    """
    The harper daemon with the kennel example on C{port}, its data in C{root}, every other
    listener off; C{prefix} goes before C{twistd} on the command line (a profiler), and each
    of C{settings} (C{"key=value"}) is passed with C{--set} after the defaults.
    """
    argv = [*prefix, TWISTD, "-n", "--pidfile=", "harper", *_options(root, bench_settings(port, settings))]
    return Server("harper", argv, port, os.path.join(root, "daemon.log"))


def bench_settings(http_port: int, extra: Sequence[str] = ()) -> list[str]:
    """
    The settings of every benchmarked harper: HTTP on C{http_port}, the other listeners off,
    loopback callers super users; then C{extra} (C{"key=value"}).
    """
    return [f"http.port={http_port}", "operationsApi.port=0", "mqtt.port=0", "authentication.authorizeLocal=true", *extra]


def _options(root: str, settings: Sequence[str]) -> list[str]:
    """
    The C{twistd harper} options for the kennel example with its data in C{root} and each
    of C{settings} passed with C{--set}.
    """
    return ["--config", CONFIG, "--root", root, *(a for s in settings for a in ("--set", s))]


def baseline_server(folder: str, port: int, body: bytes) -> Server:
    """
    The bare twisted.web resource serving C{body} as JSON on C{port}.
    """
    document = os.path.join(folder, "baseline.json")
    with open(document, "wb") as out:
        out.write(body)
    argv = [sys.executable, BASELINE_SCRIPT, str(port), document]
    return Server("bare twisted.web", argv, port, os.path.join(folder, "baseline.log"))


def http_request(
    port: int, method: str, path: str, body: Any = None, connection: Any = None
) -> tuple[int, bytes]:
    """
    Send one request (C{body} as JSON) to 127.0.0.1:C{port}, on C{connection} if given (an
    C{http.client.HTTPConnection}); return the status and the response body.
    """
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    try:
        conn.request(method, path, None if body is None else _body(body), headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if connection is None:
            conn.close()


def load_dataset(port: int, clients: int = 8) -> None:
    """
    PUT the breeds, then the dogs, of the data set into the harper on C{port} with
    C{clients} concurrent connections; raise C{RuntimeError} on the first refused write.
    """
    local = threading.local()

    def put(write: tuple[str, dict]) -> None:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        status, content = http_request(port, "PUT", write[0], write[1], local.connection)
        if not 200 <= status < 300:
            raise RuntimeError(f"PUT {write[0]} answered {status}: {content[:300]!r}")

    breeds = [(f"/Breed/{b}", breed_record(b)) for b in range(1, BREEDS + 1)]
    dogs = [(f"/Dog/{n}", dog_record(n)) for n in range(1, DOGS + 1)]
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(put, breeds))
        list(pool.map(put, dogs))


@dataclass(frozen=True)
class WrkResult:
    """
    What one wrk run measured.

    :ivar requests: responses received.
    :ivar seconds: how long it ran.
    :ivar p50_ms: median latency, in milliseconds.
    :ivar p99_ms: 99th percentile latency, in milliseconds.
    :ivar errors: socket errors, timeouts and responses that were not 2xx or 3xx.
    :ivar cpu_us: the server's CPU time (user and system) per response, in microseconds,
        when its process was given: unlike the rate, it hardly moves with the load others
        put on the machine.
    """

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: Optional[float] = None

    @property
    def rate(self) -> float:
        """
        Requests per second.
        """
        return self.requests / self.seconds if self.seconds else 0.0


_ERROR_COUNTS = ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
_RESULT_LINE = re.compile(r"^WRK_RESULT (\{.*\})$", re.MULTILINE)


def parse_wrk_output(output: str) -> WrkResult:
    """
    Read the figures C{bench/requests.lua} printed; raise C{RuntimeError} if there are none.
    """
    match = _RESULT_LINE.search(output)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    figures = json.loads(match.group(1))
    errors = sum(figures[k] for k in _ERROR_COUNTS)
    return WrkResult(
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        errors=errors,
    )


def cpu_seconds(pid: int) -> float:
    """
    The user and system CPU time process C{pid} used so far, in seconds.
    """
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(
    port: int, request_file: str, duration: float, threads: int, connections: int,
    server_pid: Optional[int] = None,
) -> WrkResult:
    """
    Run wrk against 127.0.0.1:C{port} for C{duration} seconds, cycling through the request
    lines in C{request_file}; with C{server_pid}, also measure that process's CPU time per
    response.
    """
    argv = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s",
        "-s", WRK_SCRIPT, f"http://127.0.0.1:{port}", "--", request_file,
    ]
    cpu_before = cpu_seconds(server_pid) if server_pid is not None else 0.0
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    result = parse_wrk_output(done.stdout)
    if server_pid is None or not result.requests:
        return result
    cpu_us = (cpu_seconds(server_pid) - cpu_before) / result.requests * 1e6
    return dataclasses.replace(result, cpu_us=cpu_us)


def write_requests(path: str, lines: Sequence[str]) -> str:
    """
    Write request lines for C{bench/requests.lua} to C{path}; return C{path}.
    """
    with open(path, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    return path


def first_request_problem(port: int, line: str) -> Optional[str]:
    """
    Send the request of one request line once; return why it failed (status and the start
    of the body), or C{None} if it succeeded with a 2xx status.
    """
    method, path, *body = line.split("\t")
    status, content = http_request(port, method, path, json.loads(body[0]) if body else None)
    if 200 <= status < 300:
        return None
    return f"{method} {path} answered {status}: {content[:200].decode('utf-8', 'replace')}"


def service_in_process(root: str, settings: Sequence[str]) -> Any:
    """
    The daemon's whole service (C{twistd harper} with the kennel example), built in this
    process with its data in C{root}; each of C{settings} (C{"key=value"}, see
    L{bench_settings}) is passed with C{--set}. Not started.
    """
    from harper.service.tap import Options, makeService

    options = Options()
    options.parseOptions(_options(root, settings))
    return makeService(options)


def run_in_process(service: Any, port: int, measure: Any) -> Any:
    """
    Start C{service} (serving HTTP on C{port}), load the data set over HTTP, then call
    C{measure()} (which may return a Deferred) and run the reactor until it is done; return
    its result, or the failure that stopped it.
    """
    from twisted.internet import reactor, threads
    from twisted.internet.defer import maybeDeferred

    outcome: list[Any] = []

    def started() -> None:
        if service.http_port is None:
            reactor.callLater(0.1, started)
            return
        d = threads.deferToThread(load_dataset, port).addCallback(lambda _: maybeDeferred(measure))
        d.addBoth(outcome.append).addBoth(lambda _: reactor.stop())

    service.startService()
    reactor.callWhenRunning(started)
    reactor.run()
    return outcome[0] if outcome else None
