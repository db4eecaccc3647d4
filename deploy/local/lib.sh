# Shared by deploy/local/{start,stop,status,kafka-ctl}. Sourced, never run.
# Everything a local server writes lives under one folder, $ORDERLY_LOCAL (<repo>/.local).

LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
. "$LOCAL_DIR/env.sh"

ROOT="$ORDERLY_ROOT"
STATE="$ORDERLY_LOCAL"
RUN_DIR="$STATE/run"
LOG_DIR="$STATE/logs"

PG_BIN=/usr/lib/postgresql/15/bin
PG_HOME="$STATE/pg"
PG_DATA="$PG_HOME/data"
PG_SOCK="$PG_HOME/sock"
PG_LOG="$LOG_DIR/postgres.log"
PG_DATABASES=(orderly_order orderly_inventory orderly_payment orderly_fulfillment orderly_aftersale)
# postgres refuses to run as root; when we are root the cluster belongs to this system user.
PG_OS_USER=orderly

REDIS_DIR="$STATE/redis"
REDIS_CONF="$REDIS_DIR/redis.conf"
REDIS_PID="$RUN_DIR/redis.pid"
REDIS_LOG="$LOG_DIR/redis.log"

KAFKA_DIR="$STATE/kafka"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_CONF="$KAFKA_DIR/server.properties"
KAFKA_LOG4J="$KAFKA_DIR/log4j2.properties"
KAFKA_PID="$RUN_DIR/kafka.pid"
KAFKA_LOG="$LOG_DIR/kafka.log"
KAFKA_CONTROLLER_PORT=19093

log() { echo "[local] $*" >&2; }
die() { echo "[local] ERROR: $*" >&2; exit 1; }

ensure_dirs() {
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  chmod 755 "$STATE" "$RUN_DIR" "$LOG_DIR"
}

# Serialises start/stop/kafka-ctl: two engineers (or a test and a script) racing on one server
# would otherwise both see it stopped and both start it.
take_lock() {
  ensure_dirs
  exec 9>"$RUN_DIR/ctl.lock"
  flock -w 300 9 || die "another deploy/local command holds $RUN_DIR/ctl.lock for 300 s"
}

now_ms() { date +%s%3N; }

# pid_alive PID PATTERN: PID runs and its command line contains PATTERN. A stale pidfile whose
# number was reused by an unrelated process must not count as our server.
pid_alive() {
  local pid="$1" pattern="$2"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  local args
  mapfile -d '' args 2>/dev/null <"/proc/$pid/cmdline" || return 1
  [[ "${args[*]}" == *"$pattern"* ]]
}

pidfile_pid() { [ -f "$1" ] && head -n1 "$1" | tr -d '[:space:]' || true; }

# pids_matching PATTERN [COMM]: processes whose command line contains PATTERN (our data path), and,
# when COMM is given, processes named COMM whose working directory is under PATTERN: postgres
# backends keep the data directory as cwd but not in their titles.
pids_matching() {
  local pattern="$1" comm="${2:-}" p cmd c args
  # Builtins only (mapfile, read): a fork per process makes this take seconds on a busy machine.
  for p in /proc/[0-9]*; do
    p="${p#/proc/}"
    [ "$p" = "$$" ] && continue
    [ "$p" = "$BASHPID" ] && continue
    mapfile -d '' args 2>/dev/null <"/proc/$p/cmdline" || continue
    [ ${#args[@]} -eq 0 ] && continue  # kernel threads
    cmd="${args[*]}"
    case "$cmd" in *deploy/local/*) continue ;; esac  # our own scripts name the path too
    if [[ "$cmd" == *"$pattern"* ]]; then echo "$p"; continue; fi
    if [ -n "$comm" ]; then
      read -r c 2>/dev/null <"/proc/$p/comm" || continue
      [ "$c" = "$comm" ] || continue
      case "$(readlink "/proc/$p/cwd" 2>/dev/null)" in "$pattern"|"$pattern"/*) echo "$p" ;; esac
    fi
  done
}

# wait_gone SECONDS PID...: true once none of the PIDs exists.
wait_gone() {
  local deadline=$(( $(date +%s) + $1 )); shift
  local p alive
  while :; do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && return 0
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

# kill_matching NAME PATTERN [COMM]: TERM then KILL whatever still runs from our data path.
kill_matching() {
  local name="$1" pattern="$2" comm="${3:-}" pids
  pids=$(pids_matching "$pattern" "$comm" | tr '\n' ' ')
  [ -z "${pids// /}" ] && return 0
  log "$name: leftover processes $pids, sending TERM"
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  # shellcheck disable=SC2086
  wait_gone 10 $pids && return 0
  log "$name: leftovers still alive, sending KILL"
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  # shellcheck disable=SC2086
  wait_gone 5 $pids || die "$name: cannot kill $pids"
}

# port_busy PORT: something listens on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# listener PORT: "pid command line" of the process listening on 127.0.0.1:PORT, if any.
listener() {
  local pid
  pid=$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2)
  [ -n "$pid" ] || return 0
  echo "$pid $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | cut -c1-200)"
}

# A server of the right kind that answers on our port but runs from another checkout's .local
# (CI runs in a fresh clone beside a developer's servers) is used as it is, never stopped: the
# tests are hermetic (their own schema, keys and topics per run), so sharing it is safe.
note_foreign() {
  log "$1: port $2 answers from outside this checkout, using it as it is: $(listener "$2")"
}

# as_pg_user CMD...: postgres binaries refuse root, so run them as the owner of the cluster.
as_pg_user() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$PG_OS_USER" -- "$@"
  else
    "$@"
  fi
}
