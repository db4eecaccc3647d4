# Source this file (bash) to reach the local servers that deploy/local/start runs:
#   . deploy/local/env.sh
# Scripts, tests and services read these ORDERLY_* variables; nothing else hard-codes a port.

ORDERLY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export ORDERLY_ROOT
export ORDERLY_LOCAL="$ORDERLY_ROOT/.local"

export ORDERLY_PG_HOST=127.0.0.1
export ORDERLY_PG_PORT=15432
export ORDERLY_PG_USER=orderly
export ORDERLY_PG_ADMIN_DSN="host=127.0.0.1 port=15432 user=orderly dbname=postgres"

export ORDERLY_REDIS_HOST=127.0.0.1
export ORDERLY_REDIS_PORT=16379

export ORDERLY_KAFKA_BROKERS=127.0.0.1:19092

# The payment channel sandbox's throwaway keys: it creates them, payment verifies with them.
export ORDERLY_CHANNEL_KEY_DIR="$ORDERLY_LOCAL/channel-sandbox/keys"
export ORDERLY_KAFKA_LIBS="$ORDERLY_ROOT/.deps/kafka/libs"
# Tests that take the broker away and bring it back: "$ORDERLY_KAFKA_CTL" stop, then start.
export ORDERLY_KAFKA_CTL="$ORDERLY_ROOT/deploy/local/kafka-ctl"

# Tools that scripts/bootstrap installs into .deps (grpcurl, ghz, buf) and the Go toolchain, which
# lives outside the default PATH on some machines. Prepended once, however often this is sourced.
_orderly_path_add() {
  case ":$PATH:" in
    *":$1:"*) ;;
    *) if [ -d "$1" ] || [ "${2:-}" = always ]; then PATH="$1:$PATH"; fi ;;
  esac
}
_orderly_path_add /usr/local/go/bin
_orderly_path_add "$ORDERLY_ROOT/.deps/node/node_modules/.bin" always
_orderly_path_add "$ORDERLY_ROOT/.deps/go/bin" always
unset -f _orderly_path_add
export PATH
