# The five Orderly services as local processes: binaries from build/, logs in .local/logs/<name>.log,
# pidfiles in .local/run/<name>.pid. Sourced by scripts/up and scripts/down after lib.sh.

# name grpc_port http_port
SERVICES=(
  "order-core 17051 9101"
  "inventory 17052 9102"
  "payment 17053 9103"
  "fulfillment 17054 9104"
  "after-sale 17055 9105"
)
BUILD_DIR="${ORDERLY_BUILD_DIR:-$ROOT/build}"

service_bin() { echo "$BUILD_DIR/services/$1/orderly-$1"; }

service_pid() {
  local pid; pid=$(pidfile_pid "$RUN_DIR/$1.pid")
  pid_alive "$pid" "$(service_bin "$1")" && echo "$pid"
}

service_healthy() {
  timeout 5 grpcurl -plaintext -max-time 3 "127.0.0.1:$1" grpc.health.v1.Health/Check 2>/dev/null |
    grep -q '"SERVING"'
}

# service_start NAME GRPC HTTP: starts the binary if it exists and is not running; 0 when it
# answers health, 1 when it failed, 2 when there is no binary yet.
service_start() {
  local name="$1" grpc="$2" http="$3" bin pid deadline extra=()
  bin=$(service_bin "$name")
  # Locally payment talks to the channel sandbox (sandbox_start): without --sandbox it refuses to
  # start unless real channel keys are configured.
  if [ "$name" = payment ]; then extra=(--sandbox=true); fi
  [ -x "$bin" ] || { log "$name: no binary at ${bin#"$ROOT"/}, skipped"; return 2; }
  pid=$(service_pid "$name" || true)
  if [ -z "$pid" ]; then
    port_busy "$grpc" && { log "$name: port $grpc is taken: $(listener "$grpc")"; return 1; }
    echo "=== start $(date -Is)" >>"$LOG_DIR/$name.log"
    # setsid: the service outlives the terminal that ran scripts/up; 9>&-: no ctl.lock descriptor.
    setsid "$bin" "--grpc_port=$grpc" "--http_port=$http" "${extra[@]}" </dev/null >>"$LOG_DIR/$name.log" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$RUN_DIR/$name.pid"
    log "$name: started pid $pid (grpc $grpc, http $http)"
  fi
  deadline=$(( $(date +%s) + 60 ))
  until service_healthy "$grpc"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name: exited; last lines of .local/logs/$name.log:"; tail -n 20 "$LOG_DIR/$name.log" >&2
      return 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then log "$name: not SERVING after 60 s"; return 1; fi
    sleep 0.3
  done
  log "$name: SERVING on 127.0.0.1:$grpc"
}

service_stop() {
  local name="$1" pid
  pid=$(service_pid "$name" || true)
  if [ -n "$pid" ]; then
    log "$name: stopping (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone 20 "$pid"; then
      log "$name: still running after 20 s, sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone 5 "$pid" || true
    fi
  fi
  kill_matching "$name" "$(service_bin "$name")"
  rm -f "$RUN_DIR/$name.pid"
}

# The payment channel sandbox (HTTP only, plays WeChat Pay / Alipay / UnionPay on loopback). Started
# before payment (--sandbox), which reads its merchant keys and the channels' public keys from the
# throwaway key directory the sandbox creates in $ORDERLY_CHANNEL_KEY_DIR.
SANDBOX_PORT="${ORDERLY_SANDBOX_PORT:-9110}"

sandbox_start() {
  local bin="$BUILD_DIR/services/channel-sandbox/orderly-channel-sandbox" pid deadline
  [ -x "$bin" ] || { log "channel-sandbox: no binary, skipped"; return 2; }
  pid=$(pidfile_pid "$RUN_DIR/channel-sandbox.pid")
  if ! pid_alive "$pid" "$bin"; then
    port_busy "$SANDBOX_PORT" && { log "channel-sandbox: port $SANDBOX_PORT is taken: $(listener "$SANDBOX_PORT")"; return 1; }
    echo "=== start $(date -Is)" >>"$LOG_DIR/channel-sandbox.log"
    setsid "$bin" "--port=$SANDBOX_PORT" "--key_dir=$ORDERLY_CHANNEL_KEY_DIR" \
      </dev/null >>"$LOG_DIR/channel-sandbox.log" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$RUN_DIR/channel-sandbox.pid"
    log "channel-sandbox: started pid $pid (http $SANDBOX_PORT)"
  fi
  deadline=$(( $(date +%s) + 60 ))
  until curl -sf "http://127.0.0.1:$SANDBOX_PORT/readyz" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { log "channel-sandbox: exited"; tail -n 20 "$LOG_DIR/channel-sandbox.log" >&2; return 1; }
    [ "$(date +%s)" -lt "$deadline" ] || { log "channel-sandbox: not ready after 60 s"; return 1; }
    sleep 0.3
  done
  log "channel-sandbox: ready on 127.0.0.1:$SANDBOX_PORT"
}

sandbox_stop() {
  local bin="$BUILD_DIR/services/channel-sandbox/orderly-channel-sandbox" pid
  pid=$(pidfile_pid "$RUN_DIR/channel-sandbox.pid")
  if pid_alive "$pid" "$bin"; then
    log "channel-sandbox: stopping (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone 10 "$pid" || kill -KILL "$pid" 2>/dev/null || true
  fi
  kill_matching channel-sandbox "$bin"
  rm -f "$RUN_DIR/channel-sandbox.pid"
}
