#!/usr/bin/env bash
# A streaming replica of the local PostgreSQL primary, for the read-replica tests.
#
#   tests/pg_replica.sh check          exit 0 when a replica can be made here (prints why not)
#   tests/pg_replica.sh start DIR PORT a new cluster in DIR (pg_basebackup -R from the primary),
#                                      hot standby on 127.0.0.1:PORT, streaming
#   tests/pg_replica.sh halt DIR       stop its server (the replica is "down"), keep DIR
#   tests/pg_replica.sh resume DIR     start the halted server again
#   tests/pg_replica.sh stop DIR       stop it (immediately) and remove DIR
#
# The primary: PORTAL_REPLICA_PRIMARY_HOST / _PORT (127.0.0.1 / 5432), user postgres, trust
# authentication. Its pg_hba.conf needs a line allowing replication connections from
# 127.0.0.1: `start` adds `host replication all 127.0.0.1/32 trust` when none allows them and
# reloads the primary (once; idempotent). The cluster runs as the `postgres` OS user (from
# root through runuser) with the primary's major version's binaries.
set -euo pipefail

PRIMARY_HOST="${PORTAL_REPLICA_PRIMARY_HOST:-127.0.0.1}"
PRIMARY_PORT="${PORTAL_REPLICA_PRIMARY_PORT:-5432}"
PSQL=(psql -X -q -At -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres -d postgres)

as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

bindir() {
  local version
  version="$("${PSQL[@]}" -c "SHOW server_version_num")"
  echo "/usr/lib/postgresql/$((version / 10000))/bin"
}

check() {
  if [ "$(id -u)" -ne 0 ] && [ "$(id -un)" != postgres ]; then
    echo "needs root or the postgres user (the cluster runs as postgres)"; return 1
  fi
  id postgres >/dev/null 2>&1 || { echo "no postgres OS user"; return 1; }
  "${PSQL[@]}" -c "SELECT 1" >/dev/null 2>&1 \
    || { echo "no primary on $PRIMARY_HOST:$PRIMARY_PORT"; return 1; }
  local bin; bin="$(bindir)"
  for tool in pg_basebackup pg_ctl; do
    [ -x "$bin/$tool" ] || { echo "$bin/$tool is missing"; return 1; }
  done
  [ "$("${PSQL[@]}" -c "SHOW wal_level")" != minimal ] || { echo "wal_level is minimal"; return 1; }
  [ "$("${PSQL[@]}" -c "SHOW max_wal_senders")" -gt 0 ] || { echo "max_wal_senders is 0"; return 1; }
  # Adding a pg_hba line needs the file (the primary on this machine); a remote primary must
  # allow replication itself.
  local hba; hba="$("${PSQL[@]}" -c "SHOW hba_file")"
  allows_replication "$hba" || [ -w "$hba" ] \
    || { echo "$hba allows no replication and cannot be changed"; return 1; }
}

allows_replication() {  # a host line for the replication pseudo-database from 127.0.0.1
  [ -r "$1" ] && grep -Eq '^[[:space:]]*host[[:space:]]+replication[[:space:]]+(all|postgres)[[:space:]]+(127\.0\.0\.1/32|samehost|all)[[:space:]]+trust' "$1"
}

allow_replication() {
  local hba; hba="$("${PSQL[@]}" -c "SHOW hba_file")"
  allows_replication "$hba" && return 0
  exec 9>>"$hba.portal-lock"; flock 9  # two test processes at once add one line
  if ! allows_replication "$hba"; then
    printf '\n# Streaming replicas made by the portal'"'"'s tests (tests/pg_replica.sh)\n%s\n' \
      "host replication all 127.0.0.1/32 trust" >> "$hba"
    "${PSQL[@]}" -c "SELECT pg_reload_conf()" >/dev/null
    sleep 0.5
  fi
  flock -u 9
}

start() {
  local dir="$1" port="$2" bin
  bin="$(bindir)"
  allow_replication
  mkdir -p "$dir"
  chown postgres: "$dir" 2>/dev/null || true
  chmod 0700 "$dir"
  as_postgres "$bin/pg_basebackup" -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres \
    -D "$dir/data" -R -X stream -c fast --no-sync
  # The primary's configuration files live in /etc on Debian: the replica gets its own.
  as_postgres tee "$dir/data/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
hot_standby = on
hot_standby_feedback = on
max_connections = 100
shared_buffers = 32MB
fsync = off
wal_receiver_status_interval = 1s
logging_collector = off
EOF
  as_postgres tee "$dir/data/pg_hba.conf" >/dev/null <<EOF
local all all trust
host all all 127.0.0.1/32 trust
EOF
  as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
  # Streaming: the primary sees the replica's WAL receiver.
  for _ in $(seq 1 50); do
    state="$(psql -X -At -h 127.0.0.1 -p "$port" -U postgres -d postgres \
      -c "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null || true)"
    [ "$state" = streaming ] && return 0
    sleep 0.2
  done
  echo "the replica on port $port does not stream; see $dir/server.log" >&2
  return 1
}

stop() {
  local dir="$1" bin
  [ -d "$dir" ] || return 0
  if [ -f "$dir/data/postmaster.pid" ]; then
    bin="$(bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)"
    as_postgres "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

halt() {
  as_postgres "$(bindir)/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null
}

resume() {
  as_postgres "$(bindir)/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 start >/dev/null
}

case "${1:-}" in
  check) check ;;
  start) [ $# -eq 3 ] || { echo "usage: $0 start DIR PORT" >&2; exit 2; }; start "$2" "$3" ;;
  halt) [ $# -eq 2 ] || { echo "usage: $0 halt DIR" >&2; exit 2; }; halt "$2" ;;
  resume) [ $# -eq 2 ] || { echo "usage: $0 resume DIR" >&2; exit 2; }; resume "$2" ;;
  stop) [ $# -eq 2 ] || { echo "usage: $0 stop DIR" >&2; exit 2; }; stop "$2" ;;
  *) echo "usage: $0 check | start DIR PORT | halt DIR | resume DIR | stop DIR" >&2; exit 2 ;;
esac
