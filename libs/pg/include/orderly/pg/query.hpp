#pragma once
// The one way to run SQL (after userver's storages::postgres::Query): a statement is a named
// constant beside the repository that runs it,
//
//   const pg::Query kFindOrder{"find_order", "SELECT ... FROM orders WHERE order_id = $1"};
//   pqxx::result r = pg::Exec(tx, kFindOrder, order_id);
//
// Exec prepares it once per connection (libpqxx registers the definition lazily; registering the
// same text again is free), so every call skips parse and plan. The name labels the statement's
// latency histogram, orderly_pg_query_duration_seconds{query}, and the warning logged when one run
// takes longer than SetSlowQueryThreshold (default 200 ms). Arrays go in as literals built by the
// helpers below, never by hand.
#include <absl/status/status.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orderly::metrics {
class Histogram;
}

namespace orderly::pg {

class Query {
 public:
  Query(std::string name, std::string sql) : name_(std::move(name)), sql_(std::move(sql)) {}
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  const std::string& name() const { return name_; }
  const std::string& sql() const { return sql_; }
  // The statement's latency histogram, resolved once.
  metrics::Histogram& Latency() const;

 private:
  std::string name_;
  std::string sql_;
  mutable std::atomic<metrics::Histogram*> latency_{nullptr};
};

// Runs of at least this long log a warning naming the query (0 = never).
void SetSlowQueryThreshold(std::chrono::milliseconds threshold);

namespace internal {
void Observe(const Query& q, std::chrono::steady_clock::time_point start);
}  // namespace internal

// Runs a statement PostgreSQL cannot prepare (SET, VACUUM, DDL), timed like Exec.
pqxx::result ExecUnprepared(pqxx::transaction_base& tx, const Query& q);

// Runs fn under a savepoint of tx: when fn returns an error (or throws) only its own writes are
// rolled back and the transaction goes on. Returns fn's status (a thrown one mapped).
absl::Status InSavepoint(pqxx::transaction_base& tx, const std::function<absl::Status()>& fn);

// Runs q with args on tx's connection, prepared there the first time.
template <typename... Args>
pqxx::result Exec(pqxx::transaction_base& tx, const Query& q, Args&&... args) {
  const auto start = std::chrono::steady_clock::now();
  tx.conn().prepare(q.name(), q.sql());
  pqxx::result r = tx.exec_prepared(q.name(), std::forward<Args>(args)...);
  internal::Observe(q, start);
  return r;
}

// The same for a statement that returns exactly one row (pqxx::unexpected_rows otherwise).
template <typename... Args>
pqxx::row Exec1(pqxx::transaction_base& tx, const Query& q, Args&&... args) {
  pqxx::result r = Exec(tx, q, std::forward<Args>(args)...);
  if (r.size() != 1) {
    throw pqxx::unexpected_rows(q.name() + " returned " + std::to_string(r.size()) + " rows");
  }
  return r[0];
}

// Array literals for array parameters ($1::text[] and so on).
std::string TextArray(const std::vector<std::string>& items);  // {"a","b\"c"}
std::string IntArray(const std::vector<int64_t>& items);       // {1,2,3}
std::string IntArray(const std::vector<int>& items);
std::string ByteaArray(const std::vector<std::string>& items);  // {"\\x0a0b",...}
// The values of a one-dimensional array field (NULL elements skipped).
std::vector<std::string> ArrayValues(const pqxx::field& f);

}  // namespace orderly::pg
