#!/usr/bin/env bash
# Start a throwaway PostgreSQL 15 on 127.0.0.1 from the machine's packages.
#   source .ci/postgres.sh start   -> exports ARSHJUL_TEST_PG_URL and PG_DATA_DIR
#   source .ci/postgres.sh stop
# initdb refuses to run as root, so the server runs as the `postgres` user.
set -euo pipefail

pg_bin() {
    local dir
    for dir in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ]; then echo "$dir"; return; fi
    done
    dirname "$(command -v initdb)"
}

as_postgres() {
    # From /, which the postgres user may read, so runuser does not complain about the folder.
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

pg_start() {
    if [ -z "$(pg_bin 2>/dev/null)" ] || [ ! -x "$(pg_bin)/initdb" ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
    fi
    local bin port
    bin="$(pg_bin)"
    PG_DATA_DIR="$(mktemp -d /tmp/arshjul-pg.XXXXXX)"
    chown postgres:postgres "$PG_DATA_DIR" 2>/dev/null || true
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    as_postgres "$bin/initdb" -D "$PG_DATA_DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    as_postgres "$bin/pg_ctl" -D "$PG_DATA_DIR/data" -l "$PG_DATA_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DATA_DIR -c max_connections=200 -c fsync=off" start >/dev/null
    export PG_DATA_DIR
    export ARSHJUL_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
    echo "PostgreSQL running at $ARSHJUL_TEST_PG_URL" >&2
}

pg_stop() {
    if [ -n "${PG_DATA_DIR:-}" ] && [ -d "$PG_DATA_DIR/data" ]; then
        as_postgres "$(pg_bin)/pg_ctl" -D "$PG_DATA_DIR/data" -m immediate stop >/dev/null || true
        rm -rf "$PG_DATA_DIR"
    fi
}

case "${1:-start}" in
    start) pg_start ;;
    stop) pg_stop ;;
esac
