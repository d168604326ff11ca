#!/bin/sh
# A private PostgreSQL cluster for the RelStorage tests.
#
#   .ci/postgres.sh start [DIR]   create a cluster in DIR (default: a new folder under /tmp),
#                                 start it on a free loopback port and print its DSN
#                                 (the only line on standard output)
#   .ci/postgres.sh stop DIR      stop the cluster in DIR and remove DIR
#
# PostgreSQL comes from Debian's "postgresql" package; when its programs are missing and we
# run as root, the package is installed first. PostgreSQL refuses to run as root, so as root
# the cluster belongs to the "postgres" user (created by the package). The cluster trusts
# loopback connections, does not sync to disk, and has one database, harper_test, owned by
# the superuser "harper".
set -eu

say() { echo "postgres.sh: $*" >&2; }
die() { say "$*"; exit 1; }

find_bindir() {
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
        pg_config --bindir
        return
    fi
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ]; then
            echo "$dir"
            return
        fi
    done
    dir=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
    [ -x "$dir/initdb" ] && echo "$dir"
}

install_postgres() {
    [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed; run 'apt-get install postgresql' as root"
    say "installing PostgreSQL from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
}

# Run a PostgreSQL program as the cluster's owner.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    bindir=$(find_bindir || true)
    if [ -z "$bindir" ]; then
        install_postgres
        bindir=$(find_bindir || true)
        [ -n "$bindir" ] || die "initdb not found after installing postgresql"
    fi
    dir=${1:-$(mktemp -d /tmp/harper-pg.XXXXXX)}
    mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    chmod 700 "$dir"
    as_owner "$bindir/initdb" --pgdata="$dir/data" --username=harper --auth=trust \
        --encoding=UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
        || die "initdb failed, see $dir/initdb.log"
    tries=0
    while :; do
        port=$(free_port)
        if as_owner "$bindir/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait \
            --options="-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off \
-c synchronous_commit=off -c full_page_writes=off" start >/dev/null 2>&1; then
            break
        fi
        tries=$((tries + 1))
        [ "$tries" -lt 3 ] || die "the server did not start, see $dir/server.log"
    done
    "$bindir/createdb" --host=127.0.0.1 --port="$port" --username=harper harper_test \
        || die "createdb failed"
    echo "postgresql://harper@127.0.0.1:$port/harper_test"
}

stop() {
    dir=${1:?usage: postgres.sh stop DIR}
    bindir=$(find_bindir || true)
    if [ -n "$bindir" ] && [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bindir/pg_ctl" --pgdata="$dir/data" --mode=immediate --wait stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) shift; stop "$@" ;;
    *) die "usage: postgres.sh start [DIR] | stop DIR" ;;
esac
