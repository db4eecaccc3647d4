#pragma once
// A fixed-size libpqxx connection pool. Every libpqxx exception is caught here and becomes an
// absl::Status: serialization failure / deadlock = ABORTED (and retried by InTransaction),
// unique violation = ALREADY_EXISTS, broken connection = UNAVAILABLE (the connection is replaced),
// commit in doubt = UNKNOWN (never blindly retried), other SQL errors = INTERNAL.
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <chrono>
#include <functional>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

namespace orderly::pg {

enum class Isolation { kReadCommitted, kRepeatableRead, kSerializable };

struct PoolOptions {
  std::string dsn;  // "host=127.0.0.1 port=55432 dbname=orderly_inventory user=orderly"
  int size = 8;
  std::chrono::milliseconds acquire_timeout{5000};
};

struct TxOptions {
  Isolation isolation = Isolation::kReadCommitted;
  int max_attempts = 5;  // for ABORTED (serialization failure, deadlock)
  std::chrono::milliseconds base_backoff{5};
};

using TxFn = std::function<absl::Status(pqxx::transaction_base&)>;
using ConnFn = std::function<absl::Status(pqxx::connection&)>;

class Pool {
 public:
  static absl::StatusOr<std::unique_ptr<Pool>> Create(PoolOptions options);
  ~Pool();

  // Runs fn in one transaction and commits if fn returns OK (rolls back otherwise and returns
  // fn's status). Retries the whole fn on ABORTED with jittered exponential backoff.
  absl::Status InTransaction(const TxFn& fn, TxOptions options = {});
  // Raw connection access (LISTEN/NOTIFY, nontransaction work, advisory locks).
  absl::Status WithConnection(const ConnFn& fn);
  // A dedicated connection outside the pool (for LISTEN loops).
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Dedicated();

  const PoolOptions& options() const { return options_; }

 private:
  explicit Pool(PoolOptions options);
  struct Impl;
  PoolOptions options_;
  std::unique_ptr<Impl> impl_;
};
using PoolPtr = std::unique_ptr<Pool>;

// Maps a caught exception (call inside a catch block) to a Status; used by the pool and by code
// that drives pqxx directly.
absl::Status StatusFromCurrentException();

}  // namespace orderly::pg
