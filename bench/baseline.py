"""
The baseline of the benchmarks: a bare twisted.web resource that answers every GET with the
same JSON document (one Dog record, as harper serves it), with no routing, no database and no
access log. It measures the ceiling of one twisted.web process on this machine.

Run it with C{python bench/baseline.py PORT JSON_FILE}; it listens on 127.0.0.1:PORT until
it receives SIGTERM or SIGINT.
"""

from __future__ import annotations

import sys

from twisted.internet import reactor
from twisted.web import resource, server


class FixedJSON(resource.Resource):
    """
    Every path: the same JSON bytes on GET.

    :param body: the JSON document served.
    """

    isLeaf = True

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self._body = body

    def render_GET(self, request: server.Request) -> bytes:
        request.setHeader(b"Content-Type", b"application/json")
        return self._body


def main(argv: list[str]) -> None:
    """
    Serve the JSON file C{argv[2]} on port C{argv[1]} of 127.0.0.1.
    """
    if len(argv) != 3 or not argv[1].isdigit():
        raise SystemExit("usage: python bench/baseline.py PORT JSON_FILE")
    with open(argv[2], "rb") as source:
        body = source.read()
    site = server.Site(FixedJSON(body))
    site.log = lambda request: None
    reactor.listenTCP(int(argv[1]), site, interface="127.0.0.1")
    reactor.run()


if __name__ == "__main__":
    main(sys.argv)
