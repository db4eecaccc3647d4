# PostgreSQL 15 cluster owned by the project: .local/pg/data, 127.0.0.1:15432, socket in .local/pg/sock.
# Sourced by deploy/local/{start,stop,status} after lib.sh.

pg_ctl_() { as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DATA" "$@"; }

pg_running_pid() {
  local pid
  pid=$(pidfile_pid "$PG_DATA/postmaster.pid")
  pid_alive "$pid" "$PG_DATA" && echo "$pid"
}

pg_answers() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$ORDERLY_PG_PORT" -U "$ORDERLY_PG_USER" -d postgres -t 2; }

# Connects as our superuser: a foreign server is only usable when trust auth lets us in.
pg_usable() {
  [ "$("$PG_BIN/psql" -X -Atq -h 127.0.0.1 -p "$ORDERLY_PG_PORT" -U "$ORDERLY_PG_USER" -d postgres \
    -c 'select 1' 2>/dev/null)" = 1 ]
}

pg_prepare_owner() {
  mkdir -p "$PG_HOME" "$PG_SOCK"
  if [ "$(id -u)" != 0 ]; then return 0; fi
  if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
    log "postgres: creating system user $PG_OS_USER"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$PG_OS_USER"
  fi
  # The cluster user must reach .local/pg through every parent directory of the repo.
  local d="$PG_HOME"
  while [ "$d" != / ]; do
    d=$(dirname "$d")
    if ! runuser -u "$PG_OS_USER" -- test -x "$d"; then
      log "postgres: making $d traversable (o+x) for $PG_OS_USER"
      chmod o+x "$d"
    fi
  done
  if [ "$(stat -c %U "$PG_HOME")" != "$PG_OS_USER" ] || { [ -d "$PG_DATA" ] && [ "$(stat -c %U "$PG_DATA")" != "$PG_OS_USER" ]; }; then
    chown -R "$PG_OS_USER:$PG_OS_USER" "$PG_HOME"
  fi
  chown "$PG_OS_USER:$PG_OS_USER" "$PG_SOCK"
  chmod 755 "$PG_HOME" "$PG_SOCK"
  touch "$PG_LOG" && chown "$PG_OS_USER:$PG_OS_USER" "$PG_LOG"
}

pg_init_cluster() {
  if [ -f "$PG_DATA/PG_VERSION" ]; then
    [ "$(cat "$PG_DATA/PG_VERSION")" = 15 ] ||
      die "postgres: $PG_DATA holds a PostgreSQL $(cat "$PG_DATA/PG_VERSION") cluster; remove .local/pg to start over"
    return 0
  fi
  # A data directory without PG_VERSION is what an interrupted initdb leaves: start over.
  rm -rf "$PG_DATA"
  log "postgres: initdb $PG_DATA"
  as_pg_user "$PG_BIN/initdb" -D "$PG_DATA" -U "$ORDERLY_PG_USER" --auth=trust -E UTF8 --locale=C \
    --no-instructions >"$LOG_DIR/initdb.log" 2>&1 || { cat "$LOG_DIR/initdb.log" >&2; die "postgres: initdb failed"; }
}

# Rewritten on every start so that a change here reaches existing clusters.
pg_write_config() {
  as_pg_user tee "$PG_DATA/orderly.conf" >/dev/null <<CONF
# Written by deploy/local/pg.sh on every start; edit that file, not this one.
listen_addresses = '127.0.0.1'
port = $ORDERLY_PG_PORT
unix_socket_directories = '$PG_SOCK'
max_connections = 300
shared_buffers = 256MB
work_mem = 8MB
maintenance_work_mem = 64MB
# Durability stays on: tests check that acknowledged writes survive a crash.
fsync = on
synchronous_commit = on
full_page_writes = on
wal_level = replica
# After a crash, one syncfs() instead of an fsync per file: many test databases make that slow.
recovery_init_sync_method = syncfs
max_wal_size = 1GB
checkpoint_timeout = 15min
random_page_cost = 1.1
effective_cache_size = 2GB
# Tests create a schema per run; many small tables per transaction need more lock slots.
max_locks_per_transaction = 256
deadlock_timeout = 1s
log_lock_waits = on
log_min_duration_statement = 1000
log_line_prefix = '%m [%p] %q%u@%d '
log_timezone = 'UTC'
timezone = 'UTC'
lc_messages = 'C'
CONF
  grep -qxF "include_if_exists = 'orderly.conf'" "$PG_DATA/postgresql.conf" ||
    echo "include_if_exists = 'orderly.conf'" | as_pg_user tee -a "$PG_DATA/postgresql.conf" >/dev/null
  as_pg_user tee "$PG_DATA/pg_hba.conf" >/dev/null <<'HBA'
# Written by deploy/local/pg.sh: trust on loopback and the project's own socket only.
local all all                trust
host  all all 127.0.0.1/32   trust
HBA
}

# A crashed or killed postmaster leaves postmaster.pid, socket lock files and, briefly, orphaned
# backends that still hold the shared memory segment.
pg_clear_stale() {
  kill_matching postgres "$PG_DATA" postgres
  if [ -f "$PG_DATA/postmaster.pid" ]; then
    log "postgres: removing stale postmaster.pid"
    rm -f "$PG_DATA/postmaster.pid"
  fi
  rm -f "$PG_SOCK/.s.PGSQL.$ORDERLY_PG_PORT" "$PG_SOCK/.s.PGSQL.$ORDERLY_PG_PORT.lock"
}

pg_create_databases() {
  local list
  list=$(printf "'%s'," "${PG_DATABASES[@]}"); list="${list%,}"
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$ORDERLY_PG_PORT" -U "$ORDERLY_PG_USER" -d postgres \
    >/dev/null <<SQL || die "postgres: creating databases failed"
SELECT format('CREATE DATABASE %I', d) FROM unnest(ARRAY[$list]) AS d
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = d)
\gexec
SQL
}

pg_start() {
  local t0; t0=$(now_ms)
  [ -x "$PG_BIN/postgres" ] || die "postgres: $PG_BIN/postgres missing; run scripts/bootstrap"
  if [ -n "$(pg_running_pid)" ]; then
    if ! pg_answers; then pg_wait_ready 60 || die "postgres: running but not answering; see $PG_LOG"; fi
    pg_create_databases
    log "postgres: already running on 127.0.0.1:$ORDERLY_PG_PORT"
    return 0
  fi
  if port_busy "$ORDERLY_PG_PORT" && pg_usable; then
    note_foreign postgres "$ORDERLY_PG_PORT"
    pg_create_databases
    return 0
  fi
  pg_prepare_owner
  pg_init_cluster
  pg_write_config
  pg_clear_stale
  port_busy "$ORDERLY_PG_PORT" && die "postgres: port $ORDERLY_PG_PORT is taken by a process that is not ours"
  local attempt
  for attempt in 1 2 3; do
    # 9>&-: the server must not inherit the ctl.lock descriptor, or it holds the lock forever.
    if pg_ctl_ -l "$PG_LOG" -w -t 120 -s start 9>&-; then break; fi
    [ $attempt = 3 ] && { tail -n 30 "$PG_LOG" >&2; die "postgres: start failed; see $PG_LOG"; }
    log "postgres: start attempt $attempt failed, clearing leftovers and retrying"
    sleep 1; pg_clear_stale
  done
  pg_wait_ready 60 || { tail -n 30 "$PG_LOG" >&2; die "postgres: not answering after 60 s"; }
  pg_create_databases
  log "postgres: ready on 127.0.0.1:$ORDERLY_PG_PORT in $(( $(now_ms) - t0 )) ms"
}

pg_wait_ready() {
  local deadline=$(( $(date +%s) + $1 ))
  until pg_answers; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

pg_stop() {
  local pid; pid=$(pg_running_pid || true)
  if [ -n "$pid" ]; then
    log "postgres: stopping (pid $pid)"
    pg_ctl_ -m fast -w -t 60 -s stop || pg_ctl_ -m immediate -w -t 30 -s stop || true
  fi
  kill_matching postgres "$PG_DATA" postgres
}

pg_status() {
  local pid; pid=$(pg_running_pid || true)
  if [ -n "$pid" ] && pg_answers; then
    echo "postgres  up    127.0.0.1:$ORDERLY_PG_PORT  pid $pid  data $PG_DATA"
  elif [ -n "$pid" ]; then
    echo "postgres  sick  pid $pid runs but does not answer on $ORDERLY_PG_PORT"; return 1
  elif pg_answers; then
    echo "postgres  up    127.0.0.1:$ORDERLY_PG_PORT  not ours: $(listener "$ORDERLY_PG_PORT")"
  else
    echo "postgres  down"; return 1
  fi
}
