#!/usr/bin/env bash
# A PgBouncer in transaction mode in front of the local PostgreSQL primary, for running the
# test suite through it (.ci/run) the way a large deployment runs (docs/deploy.md).
#
#   tests/pgbouncer.sh start DIR PORT  PgBouncer on 127.0.0.1:PORT, its files in DIR; every
#                                      database of the primary is reachable by its own name
#   tests/pgbouncer.sh stop DIR        stop it and remove DIR
#
# The primary: PORTAL_PGBOUNCER_PRIMARY_HOST / _PORT (127.0.0.1 / 5432), trust authentication
# (as on CI's and the developers' machines). PgBouncer refuses to run as root: from root it
# runs as the `postgres` OS user. Point the tests at it with ?pgbouncer=true on the URL, e.g.
#   PORTAL_TEST_DATABASE_URL='postgresql+psycopg://postgres@127.0.0.1:6432/test?pgbouncer=true'
# (Debian's PgBouncer is 1.18: it cannot keep prepared statements in transaction mode, so the
# portal then prepares none; see portal.base.db.driver_options.)
set -euo pipefail

PRIMARY_HOST="${PORTAL_PGBOUNCER_PRIMARY_HOST:-127.0.0.1}"
PRIMARY_PORT="${PORTAL_PGBOUNCER_PRIMARY_PORT:-5432}"

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  local dir="$1" port="$2"
  command -v pgbouncer >/dev/null || { echo "pgbouncer is not installed" >&2; return 1; }
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  chmod 0700 "$dir"
  as_owner tee "$dir/userlist.txt" >/dev/null <<EOF
"postgres" ""
EOF
  as_owner tee "$dir/pgbouncer.ini" >/dev/null <<EOF
[databases]
* = host=$PRIMARY_HOST port=$PRIMARY_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $dir
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 40
max_db_connections = 60
ignore_startup_parameters = extra_float_digits
; pg_dump (portal backup) sets search_path for its session; without a reset the next client
; of that server connection would inherit it. The portal itself keeps no session state.
server_reset_query = DISCARD ALL
server_reset_query_always = 1
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
  as_owner pgbouncer -d -q "$dir/pgbouncer.ini"
  for _ in $(seq 1 50); do
    pg_isready -q -h 127.0.0.1 -p "$port" -U postgres -d postgres && return 0
    sleep 0.1
  done
  echo "pgbouncer did not start on port $port; see $dir/pgbouncer.log" >&2
  return 1
}

stop() {
  local dir="$1"
  [ -d "$dir" ] || return 0
  if [ -f "$dir/pgbouncer.pid" ]; then
    local pid; pid="$(cat "$dir/pgbouncer.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) [ $# -eq 3 ] || { echo "usage: $0 start DIR PORT" >&2; exit 2; }; start "$2" "$3" ;;
  stop) [ $# -eq 2 ] || { echo "usage: $0 stop DIR" >&2; exit 2; }; stop "$2" ;;
  *) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
