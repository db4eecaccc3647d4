# Redis 7 on 127.0.0.1:16379, append-only file in .local/redis/data.
# Sourced by deploy/local/{start,stop,status} after lib.sh.

redis_cli() { redis-cli -h 127.0.0.1 -p "$ORDERLY_REDIS_PORT" "$@"; }

# The pidfile's server, or one found by its process title (pidfile lost), which is then adopted.
redis_running_pid() {
  local pid
  pid=$(pidfile_pid "$REDIS_PID")
  if ! pid_alive "$pid" "redis-server 127.0.0.1:$ORDERLY_REDIS_PORT $REDIS_CONF"; then
    pid=$(pids_matching "redis-server 127.0.0.1:$ORDERLY_REDIS_PORT $REDIS_CONF" | head -n1)
    [ -n "$pid" ] || return 1
    echo "$pid" >"$REDIS_PID"
  fi
  echo "$pid"
}

redis_answers() { [ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$ORDERLY_REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

redis_write_config() {
  mkdir -p "$REDIS_DIR/data"
  cat >"$REDIS_CONF" <<CONF
# Written by deploy/local/redis.sh on every start; edit that file, not this one.
bind 127.0.0.1
port $ORDERLY_REDIS_PORT
protected-mode yes
daemonize yes
pidfile $REDIS_PID
logfile $REDIS_LOG
dir $REDIS_DIR/data
# The config path in the process title lets stop find a server whose pidfile is gone.
proc-title-template "{title} {listen-addr} {config-file}"
appendonly yes
appendfsync everysec
appenddirname appendonly
# AOF alone is the persistence; RDB snapshots would only add forks on a 2-core box.
save ""
maxmemory 1gb
# Keys here are reservations and idempotency records: fail writes loudly rather than evict them.
maxmemory-policy noeviction
CONF
}

redis_wait_ready() {
  local deadline=$(( $(date +%s) + $1 ))
  # PING answers LOADING while the append-only file is replayed; wait for PONG.
  until redis_answers; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

redis_start() {
  local t0; t0=$(now_ms)
  command -v redis-server >/dev/null || die "redis: redis-server missing; run scripts/bootstrap"
  if [ -n "$(redis_running_pid)" ]; then
    redis_wait_ready 60 || die "redis: running but not answering; see $REDIS_LOG"
    log "redis: already running on 127.0.0.1:$ORDERLY_REDIS_PORT"
    return 0
  fi
  if redis_answers; then
    note_foreign redis "$ORDERLY_REDIS_PORT"
    return 0
  fi
  kill_matching redis "$REDIS_CONF"
  rm -f "$REDIS_PID"
  port_busy "$ORDERLY_REDIS_PORT" && die "redis: port $ORDERLY_REDIS_PORT is taken by a process that is not ours"
  redis_write_config
  redis-server "$REDIS_CONF" 9>&- || { tail -n 30 "$REDIS_LOG" >&2; die "redis: start failed; see $REDIS_LOG"; }
  redis_wait_ready 60 || { tail -n 30 "$REDIS_LOG" >&2; die "redis: not answering after 60 s"; }
  log "redis: ready on 127.0.0.1:$ORDERLY_REDIS_PORT in $(( $(now_ms) - t0 )) ms"
}

redis_stop() {
  local pid; pid=$(redis_running_pid || true)
  if [ -n "$pid" ]; then
    log "redis: stopping (pid $pid)"
    # SIGTERM makes redis fsync the append-only file before it exits.
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone 30 "$pid" || log "redis: pid $pid did not exit within 30 s"
  fi
  kill_matching redis "$REDIS_CONF"
  rm -f "$REDIS_PID"
}

redis_status() {
  local pid; pid=$(redis_running_pid || true)
  if [ -n "$pid" ] && redis_answers; then
    echo "redis     up    127.0.0.1:$ORDERLY_REDIS_PORT  pid $pid  data $REDIS_DIR/data"
  elif [ -n "$pid" ]; then
    echo "redis     sick  pid $pid runs but does not answer on $ORDERLY_REDIS_PORT"; return 1
  elif redis_answers; then
    echo "redis     up    127.0.0.1:$ORDERLY_REDIS_PORT  not ours: $(listener "$ORDERLY_REDIS_PORT")"
  else
    echo "redis     down"; return 1
  fi
}
