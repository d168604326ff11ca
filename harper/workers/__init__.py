# -*- test-case-name: tests.workers -*-
"""
Worker processes: with C{threads.count} above 1 the daemon's first process becomes a master that
runs no requests itself; it binds the listening sockets, serves the store to the workers (a ZEO
server for a C{file:} store) and starts that many worker processes, which inherit the sockets,
open the one store and relay their change events to each other through the master. Worker 0,
the primary, also runs what one process alone may run: replication's peer links and the admin
console (L{harper.workers.replication}, L{harper.workers.cluster}).
"""
