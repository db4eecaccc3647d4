# Apache Kafka 4 in KRaft mode, one process as broker and controller: PLAINTEXT 127.0.0.1:19092,
# CONTROLLER 127.0.0.1:19093, logs in .local/kafka/data, run from the jars in .deps/kafka/libs.
# Sourced by deploy/local/{start,stop,status,kafka-ctl} after lib.sh.

# name:partitions. Event topics are keyed by aggregate id, so 6 partitions bound each consumer
# group's parallelism; a dead-letter topic only needs enough for replays to not be a bottleneck.
KAFKA_TOPICS=(
  orderly.order.v1:6 orderly.payment.v1:6 orderly.inventory.v1:6 orderly.fulfillment.v1:6 orderly.aftersale.v1:6
  orderly.order.v1.dlq:3 orderly.payment.v1.dlq:3 orderly.inventory.v1.dlq:3 orderly.fulfillment.v1.dlq:3
  orderly.aftersale.v1.dlq:3
)
KAFKA_OUT="$LOG_DIR/kafka.out"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"

# The pidfile's broker, or one found by its command line (pidfile lost), which is then adopted.
kafka_running_pid() {
  local pid
  pid=$(pidfile_pid "$KAFKA_PID")
  if ! pid_alive "$pid" "kafka.Kafka $KAFKA_CONF"; then
    pid=$(pids_matching "kafka.Kafka $KAFKA_CONF" | head -n1)
    [ -n "$pid" ] || return 1
    echo "$pid" >"$KAFKA_PID"
  fi
  echo "$pid"
}

# The metadata answer (not just an open port) is what clients need before they can produce.
kafka_metadata() { timeout 10 kcat -b "$ORDERLY_KAFKA_BROKERS" -L -m 3 2>/dev/null; }
# The port first: kcat against a closed port waits out its whole metadata timeout.
kafka_answers() { port_busy "${ORDERLY_KAFKA_BROKERS##*:}" && kafka_metadata | grep -q '^ *1 brokers:'; }

kafka_check_install() {
  compgen -G "$ORDERLY_KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null ||
    die "kafka: no broker jars in $ORDERLY_KAFKA_LIBS; run scripts/bootstrap"
  command -v java >/dev/null || die "kafka: java not found; run scripts/bootstrap"
  command -v kcat >/dev/null || die "kafka: kcat not found (Debian package kafkacat); run scripts/bootstrap"
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  [ "${major%%.*}" -ge 17 ] 2>/dev/null || die "kafka: Kafka 4 needs Java 17 or newer, found ${major:-none}"
}

kafka_jvm_opts() {
  # shellcheck disable=SC2206
  KAFKA_JVM=($KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -Djava.awt.headless=true "-Dlog4j2.configurationFile=$KAFKA_LOG4J" -cp "$ORDERLY_KAFKA_LIBS/*")
}

# Class data sharing: the first broker run writes the classes it loaded to an archive when it exits
# cleanly; later starts map it instead of parsing ~10k classes again, which is most of a restart on a
# small machine. The archive is keyed on the JVM and the jars; a stale one is only ignored by java.
kafka_cds_opts() {
  local key jsa
  key=$( { readlink -f "$(command -v java)"; ls "$ORDERLY_KAFKA_LIBS"; } | sha256sum | cut -c1-12)
  jsa="$KAFKA_DIR/broker-$key.jsa"
  if [ -s "$jsa" ]; then
    KAFKA_JVM+=("-XX:SharedArchiveFile=$jsa" -Xlog:cds=off -Xlog:cds+dynamic=off)
  else
    rm -f "$KAFKA_DIR"/broker-*.jsa
    # -Xlog off: the dump lists every class it skips, a hundred lines of noise in kafka.out.
    KAFKA_JVM+=("-XX:ArchiveClassesAtExit=$jsa" -Xlog:cds=off -Xlog:cds+dynamic=off)
  fi
}

kafka_java() { kafka_jvm_opts; java "${KAFKA_JVM[@]}" "$@"; }

# Rewritten on every start so that a change here reaches an existing data folder.
kafka_write_config() {
  mkdir -p "$KAFKA_DIR"
  cat >"$KAFKA_CONF" <<CONF
# Written by deploy/local/kafka.sh on every start; edit that file, not this one.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$ORDERLY_KAFKA_BROKERS,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$ORDERLY_KAFKA_BROKERS
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DATA

# Topics are created deliberately (deploy/local/start, or by a test for its own run).
auto.create.topics.enable=false
delete.topic.enable=true
num.partitions=6
default.replication.factor=1
min.insync.replicas=1

# One node: every internal topic has a single replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Tests start consumers and expect assignments at once, not after the 3 s default delay.
group.initial.rebalance.delay.ms=0

# Sized for a 2-core machine.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=2
log.segment.bytes=67108864
log.retention.hours=72
CONF
  cat >"$KAFKA_LOG4J" <<CONF
# Written by deploy/local/kafka.sh on every start.
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = $KAFKA_LOG
appender.file.filePattern = $KAFKA_LOG.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = warn
CONF
}

kafka_format() {
  [ -f "$KAFKA_DATA/meta.properties" ] && return 0
  # No meta.properties: never formatted, or a format that was cut short. Start from empty.
  rm -rf "$KAFKA_DATA"
  local cid
  cid=$(cat "$KAFKA_DIR/cluster-id" 2>/dev/null || true)
  if [ -z "$cid" ]; then
    cid=$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$KAFKA_OUT" | tail -n1)
    [ -n "$cid" ] || die "kafka: StorageTool random-uuid printed nothing; see $KAFKA_OUT"
    echo "$cid" >"$KAFKA_DIR/cluster-id"
  fi
  log "kafka: formatting $KAFKA_DATA (cluster id $cid)"
  kafka_java kafka.tools.StorageTool format -t "$cid" -c "$KAFKA_CONF" >>"$KAFKA_OUT" 2>&1 ||
    { tail -n 20 "$KAFKA_OUT" >&2; die "kafka: storage format failed"; }
}

kafka_wait_ready() {
  local deadline=$(( $(date +%s) + $1 )) pid="$2"
  until kafka_answers; do
    kill -0 "$pid" 2>/dev/null || { tail -n 40 "$KAFKA_LOG" "$KAFKA_OUT" >&2 2>/dev/null; die "kafka: broker exited during start"; }
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.25
  done
}

# Creates whichever of KAFKA_TOPICS is missing. The JVM tool runs only when one is: listing
# through kcat costs milliseconds, a JVM start costs seconds.
kafka_ensure_topics() {
  local meta spec missing=()
  meta=$(kafka_metadata)
  for spec in "${KAFKA_TOPICS[@]}"; do
    grep -qE "^  topic \"${spec%%:*}\" with ${spec##*:} partitions" <<<"$meta" || missing+=("$spec")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "kafka: creating topics ${missing[*]}"
  # shellcheck disable=SC2086
  java -Xmx128m -Dlog4j2.configurationFile="$KAFKA_LOG4J" -cp "$ORDERLY_KAFKA_LIBS/*" \
    "$LOCAL_DIR/KafkaTopics.java" "$ORDERLY_KAFKA_BROKERS" "${missing[@]}" ||
    die "kafka: topic creation failed"
}

kafka_clear_stale() {
  kill_matching kafka "$KAFKA_CONF"
  rm -f "$KAFKA_PID" "$KAFKA_DATA/.lock"
}

kafka_start() {
  local t0 pid; t0=$(now_ms)
  pid=$(kafka_running_pid || true)
  if [ -n "$pid" ]; then
    kafka_wait_ready 120 "$pid" || die "kafka: running (pid $pid) but not answering; see $KAFKA_LOG"
    kafka_ensure_topics
    log "kafka: already running on $ORDERLY_KAFKA_BROKERS"
    return 0
  fi
  if kafka_answers; then
    note_foreign kafka "${ORDERLY_KAFKA_BROKERS##*:}"
    kafka_ensure_topics
    return 0
  fi
  kafka_check_install
  kafka_clear_stale
  port_busy "${ORDERLY_KAFKA_BROKERS##*:}" && die "kafka: port ${ORDERLY_KAFKA_BROKERS##*:} is taken by a process that is not ours"
  port_busy "$KAFKA_CONTROLLER_PORT" && die "kafka: port $KAFKA_CONTROLLER_PORT is taken by a process that is not ours"
  kafka_write_config
  kafka_format
  # setsid: a test or a Ctrl-C in the caller's terminal must not take the broker down with it.
  # 9>&-: the broker must not inherit the ctl.lock descriptor.
  echo "=== start $(date -Is)" >>"$KAFKA_OUT"
  kafka_jvm_opts
  kafka_cds_opts
  setsid java "${KAFKA_JVM[@]}" kafka.Kafka "$KAFKA_CONF" </dev/null >>"$KAFKA_OUT" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$KAFKA_PID"
  kafka_wait_ready 120 "$pid" || { tail -n 40 "$KAFKA_LOG" >&2; die "kafka: not answering after 120 s"; }
  kafka_ensure_topics
  log "kafka: ready on $ORDERLY_KAFKA_BROKERS in $(( $(now_ms) - t0 )) ms"
}

kafka_stop() {
  local t0 pid; t0=$(now_ms)
  pid=$(kafka_running_pid || true)
  if [ -n "$pid" ]; then
    log "kafka: stopping (pid $pid)"
    # SIGTERM runs the broker's controlled shutdown: logs are flushed and closed cleanly.
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone 60 "$pid"; then
      log "kafka: pid $pid still running after 60 s, sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone 10 "$pid" || die "kafka: cannot kill pid $pid"
    fi
    log "kafka: stopped in $(( $(now_ms) - t0 )) ms"
  fi
  kafka_clear_stale
}

# For kafka-ctl: a test that takes "the broker" away means the one serving ORDERLY_KAFKA_BROKERS,
# also when another checkout's deploy/local started it (CI in a fresh clone beside a developer's
# servers). That checkout's own kafka-ctl stops it, and kafka-ctl start here brings the same broker,
# with the test's topics, back through it. Only an Orderly broker is ever touched.
KAFKA_DELEGATE="$RUN_DIR/kafka.stopped-elsewhere"

kafka_stop_listener() {
  local port="${ORDERLY_KAFKA_BROKERS##*:}" line pid other
  line=$(listener "$port")
  [ -n "$line" ] || return 0
  pid=${line%% *}
  local args=()
  mapfile -d '' args 2>/dev/null <"/proc/$pid/cmdline" || true
  other=$(sed -n 's|.*kafka\.Kafka \(/[^ ]*\)/\.local/kafka/server\.properties.*|\1|p' <<<"${args[*]}")
  [ -n "$other" ] || die "kafka: port $port is held by something that is not an Orderly broker: $line"
  if [ -x "$other/deploy/local/kafka-ctl" ]; then
    log "kafka: the broker belongs to $other; stopping it through its kafka-ctl"
    "$other/deploy/local/kafka-ctl" stop 9>&-
    echo "$other" >"$KAFKA_DELEGATE"
  else
    log "kafka: stopping the broker of $other (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone 60 "$pid" || { kill -KILL "$pid" 2>/dev/null || true; wait_gone 10 "$pid"; }
  fi
}

# kafka-ctl start: the broker that kafka-ctl stop took from another checkout comes back there.
kafka_start_delegated() {
  local other
  other=$(cat "$KAFKA_DELEGATE" 2>/dev/null || true)
  rm -f "$KAFKA_DELEGATE"
  if [ -n "$other" ] && [ -x "$other/deploy/local/kafka-ctl" ] && [ -z "$(kafka_running_pid || true)" ]; then
    log "kafka: starting the broker of $other again through its kafka-ctl"
    "$other/deploy/local/kafka-ctl" start 9>&-
    return 0
  fi
  return 1
}

kafka_status() {
  local pid; pid=$(kafka_running_pid || true)
  if [ -n "$pid" ] && kafka_answers; then
    echo "kafka     up    $ORDERLY_KAFKA_BROKERS  pid $pid  data $KAFKA_DATA"
  elif [ -n "$pid" ]; then
    echo "kafka     sick  pid $pid runs but does not answer on $ORDERLY_KAFKA_BROKERS"; return 1
  elif kafka_answers; then
    echo "kafka     up    $ORDERLY_KAFKA_BROKERS  not ours: $(listener "${ORDERLY_KAFKA_BROKERS##*:}")"
  else
    echo "kafka     down"; return 1
  fi
}
