#!/usr/bin/env bash
# Checks every port the local deployment listens on (deploy/local/*.sh, the services' built-in
# defaults as --help prints them) against net.ipv4.ip_local_port_range.
set -euo pipefail
BUILD="${1:-build}"
read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
ports=()
# name=port pairs from the scripts that start the local servers.
while read -r name grpc http; do ports+=("$name.grpc=$grpc" "$name.http=$http"); done < <(
  sed -n '/^SERVICES=(/,/^)/p' deploy/local/services.sh | sed -n 's/^ *"\([a-z-]*\) \([0-9]*\) \([0-9]*\)".*/\1 \2 \3/p')
[ ${#ports[@]} -ge 10 ] || { echo "could not read the SERVICES table of deploy/local/services.sh"; exit 1; }
ports+=("sandbox=$(sed -n 's/.*ORDERLY_SANDBOX_PORT:-\([0-9]*\).*/\1/p' deploy/local/services.sh | head -1)")
ports+=("kafka.controller=$(sed -n "s/^KAFKA_CONTROLLER_PORT=\([0-9]*\).*/\1/p" deploy/local/lib.sh | head -1)")
read -r -a envports < <(
  . deploy/local/env.sh
  echo "pg=$ORDERLY_PG_PORT redis=$ORDERLY_REDIS_PORT kafka=${ORDERLY_KAFKA_BROKERS##*:}"
)
ports+=("${envports[@]}")
# The binaries' own defaults (someone running one by hand without flags).
for svc in order-core inventory payment fulfillment after-sale; do
  bin="$BUILD/services/$svc/orderly-$svc"
  [ -x "$bin" ] || { echo "missing $bin"; exit 1; }
  help=$("$bin" --help 2>&1 || true)
  for opt in grpc_port http_port; do
    p=$(printf '%s\n' "$help" | grep -A3 -- "--$opt" | grep -oE "default \"[0-9]+" | grep -oE '[0-9]+' | head -1)
    [ -n "$p" ] || { echo "$svc: no default for --$opt in --help"; printf '%s\n' "$help" | head -20; exit 1; }
    ports+=("$svc.default_$opt=$p")
  done
done
bad=0
for kv in "${ports[@]}"; do
  p="${kv#*=}"
  [[ "$p" =~ ^[0-9]+$ ]] || { echo "unreadable port: $kv"; bad=1; continue; }
  if [ "$p" -ge "$lo" ] && [ "$p" -le "$hi" ]; then
    echo "FAIL $kv lies in the ephemeral range $lo-$hi"; bad=1
  fi
done
echo "checked ${#ports[@]} ports against $lo-$hi: $( [ $bad = 0 ] && echo ok || echo failures)"
exit $bad
