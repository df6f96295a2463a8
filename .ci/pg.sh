#!/usr/bin/env bash
# Private, throw-away PostgreSQL cluster for CI.
#
#   .ci/pg.sh start   start a cluster, create role+db "cashback"; prints the URL on stdout
#   .ci/pg.sh stop    stop it and delete its files (no-op when nothing is running)
#   .ci/pg.sh status  show the state of the current cluster
#   .ci/pg.sh url     print the URL of the current cluster
#
# Must run as root (the server runs as the "postgres" user) or as postgres itself.
# Env: CI_PG_PORT (default 55432; when not set and 55432 is busy, the next free
#      port up to 55451 is used), CI_PG_STATE (default /tmp/cashback-ci-pg.current).
#      CI_PG_DURABLE=1: fsync and synchronous_commit on (benchmarks); off by default (tests).
# Everything except the URL goes to stderr, so `url=$(.ci/pg.sh start)` works.
set -euo pipefail

STATE=${CI_PG_STATE:-/tmp/cashback-ci-pg.current}
DEFAULT_PORT=55432
PG_USER=postgres
DB_NAME=cashback
DB_ROLE=cashback
DB_PASS=cashback

log() { printf 'pg.sh: %s\n' "$*" >&2; }
die() { printf 'pg.sh: ERROR: %s\n' "$*" >&2; exit 1; }

pg_bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1) || true
    [ -n "$d" ] && [ -x "$d/postgres" ] || die "no PostgreSQL server found (/usr/lib/postgresql/*/bin/postgres); install package 'postgresql'"
    printf '%s\n' "$d"
}

# Run a command as the postgres OS user, from a directory it can read.
as_pg() {
    local dir=$1; shift
    if [ "$(id -un)" = "$PG_USER" ]; then
        (cd "$dir" && "$@")
    elif [ "$(id -u)" -eq 0 ]; then
        if command -v runuser >/dev/null 2>&1; then
            (cd "$dir" && runuser -u "$PG_USER" -- "$@")
        else
            (cd "$dir" && su "$PG_USER" -s /bin/sh -c "$(printf '%q ' "$@")")
        fi
    else
        die "must run as root or as $PG_USER"
    fi
}

port_busy() {   # true when something accepts TCP connections on 127.0.0.1:$1
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

read_state() {  # sets DIR and PORT from the state file; false when there is none
    DIR= PORT=
    [ -f "$STATE" ] || return 1
    local k v
    while IFS='=' read -r k v; do
        case $k in
            dir)  DIR=$v ;;
            port) PORT=$v ;;
        esac
    done < "$STATE"
    [ -n "$DIR" ] && [ -n "$PORT" ]
}

url_for() { printf 'postgres://%s:%s@127.0.0.1:%s/%s\n' "$DB_ROLE" "$DB_PASS" "$1" "$DB_NAME"; }

cmd_stop() {
    local bindir
    if ! read_state; then
        [ -f "$STATE" ] && { log "state file $STATE unreadable; removing it"; rm -f "$STATE"; }
        log "no CI cluster recorded in $STATE; nothing to stop"
        return 0
    fi
    case $DIR in
        */cashback-ci-pg.*) ;;
        *) die "refusing to remove unexpected directory '$DIR' named in $STATE" ;;
    esac
    if [ -f "$DIR/data/postmaster.pid" ]; then
        bindir=$(pg_bindir)
        log "stopping cluster in $DIR (port $PORT)"
        if ! as_pg "$DIR" "$bindir/pg_ctl" -D "$DIR/data" -m fast -w -t 60 stop >&2; then
            log "fast stop failed; trying immediate"
            as_pg "$DIR" "$bindir/pg_ctl" -D "$DIR/data" -m immediate -w -t 30 stop >&2 || true
        fi
    fi
    rm -rf -- "$DIR"
    rm -f -- "$STATE"
    log "stopped; removed $DIR"
}

cmd_start() {
    local bindir port tries url
    # NEW_DIR is global on purpose: the EXIT trap below runs outside this function's scope.
    bindir=$(pg_bindir)
    id "$PG_USER" >/dev/null 2>&1 || die "OS user '$PG_USER' does not exist"

    if [ -f "$STATE" ]; then
        log "leftover cluster recorded in $STATE; cleaning it up first"
        cmd_stop
    fi

    if [ -n "${CI_PG_PORT:-}" ]; then
        port=$CI_PG_PORT
        case $port in ''|*[!0-9]*) die "CI_PG_PORT='$port' is not a number" ;; esac
        port_busy "$port" && die "port $port (CI_PG_PORT) on 127.0.0.1 is already in use; stop that server or set another CI_PG_PORT"
    else
        port=$DEFAULT_PORT tries=0
        while port_busy "$port"; do
            tries=$((tries + 1))
            [ "$tries" -lt 20 ] || die "ports $DEFAULT_PORT-$port on 127.0.0.1 are all in use; set CI_PG_PORT"
            log "port $port is in use; trying $((port + 1))"
            port=$((port + 1))
        done
    fi

    NEW_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cashback-ci-pg.XXXXXX")
    local dir=$NEW_DIR
    printf 'dir=%s\nport=%s\n' "$dir" "$port" > "$STATE"
    chown "$PG_USER:" "$dir" 2>/dev/null || true   # no-op when already running as postgres
    chmod 700 "$dir"

    # From here on, a failure must not leave a half-started cluster behind.
    trap 'rc=$?; if [ $rc -ne 0 ]; then log "start failed; server log:"; tail -n 30 "$NEW_DIR/postgres.log" >&2 2>/dev/null || true; cmd_stop || true; fi' EXIT

    log "initdb ($("$bindir/postgres" --version)) in $dir/data"
    as_pg "$dir" "$bindir/initdb" -D "$dir/data" -U "$PG_USER" -E UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256 --no-sync >/dev/null

    cat >> "$dir/data/postgresql.conf" <<CONF

# --- cashback CI ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 512MB
CONF
    # Tests want speed; the bench (CI_PG_DURABLE=1) wants commits that survive a power cut.
    if [ "${CI_PG_DURABLE:-0}" = 1 ]; then
        log "durable: fsync on, synchronous_commit on"
    else
        printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n' >> "$dir/data/postgresql.conf"
    fi

    log "starting server on 127.0.0.1:$port (socket dir $dir)"
    as_pg "$dir" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null

    as_pg "$dir" "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U "$PG_USER" -d postgres \
        -c "CREATE ROLE $DB_ROLE LOGIN CREATEDB PASSWORD '$DB_PASS'" \
        -c "CREATE DATABASE $DB_NAME OWNER $DB_ROLE" >&2

    url=$(url_for "$port")
    # Check the URL itself works over TCP with the password.
    "$bindir/psql" -X -q -At -v ON_ERROR_STOP=1 "$url" -c 'select 1' >/dev/null \
        || die "cluster started but '$url' does not accept connections"

    trap - EXIT
    log "ready: $url"
    printf '%s\n' "$url"
}

cmd_status() {
    if ! read_state; then log "no CI cluster recorded in $STATE"; return 1; fi
    as_pg "$DIR" "$(pg_bindir)/pg_ctl" -D "$DIR/data" status >&2
}

cmd_url() {
    read_state || die "no CI cluster recorded in $STATE"
    url_for "$PORT"
}

case ${1:-} in
    start)  cmd_start ;;
    stop)   cmd_stop ;;
    status) cmd_status ;;
    url)    cmd_url ;;
    *) printf 'usage: %s start|stop|status|url\n' "$0" >&2; exit 2 ;;
esac
