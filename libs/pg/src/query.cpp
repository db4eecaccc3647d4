#include "orderly/pg/query.hpp"

#include <absl/strings/escaping.h>
#include <spdlog/spdlog.h>

#include "orderly/core/metrics.hpp"
#include "orderly/pg/pool.hpp"

namespace orderly::pg {
namespace {

std::atomic<int64_t> slow_query_ms{200};

template <typename Int>
std::string IntArrayOf(const std::vector<Int>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(items[i]);
  }
  out += '}';
  return out;
}

}  // namespace

metrics::Histogram& Query::Latency() const {
  metrics::Histogram* h = latency_.load(std::memory_order_acquire);
  if (h == nullptr) {
    h = &metrics::Registry::Default().GetHistogram(
        "orderly_pg_query_duration_seconds", "PostgreSQL statement latency in seconds, by query",
        {{"query", name_}});
    latency_.store(h, std::memory_order_release);  // the registry returns the same series
  }
  return *h;
}

void SetSlowQueryThreshold(std::chrono::milliseconds threshold) {
  slow_query_ms.store(threshold.count(), std::memory_order_relaxed);
}

namespace internal {
void Observe(const Query& q, std::chrono::steady_clock::time_point start) {
  const auto elapsed = std::chrono::steady_clock::now() - start;
  q.Latency().Observe(std::chrono::duration<double>(elapsed).count());
  const int64_t slow = slow_query_ms.load(std::memory_order_relaxed);
  if (slow > 0 && elapsed >= std::chrono::milliseconds(slow)) {
    spdlog::warn("slow query {}: {} ms", q.name(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count());
  }
}
}  // namespace internal

pqxx::result ExecUnprepared(pqxx::transaction_base& tx, const Query& q) {
  const auto start = std::chrono::steady_clock::now();
  pqxx::result r = tx.exec(q.sql());
  internal::Observe(q, start);
  return r;
}

absl::Status InSavepoint(pqxx::transaction_base& tx, const std::function<absl::Status()>& fn) {
  static const Query kSavepoint{"pg.savepoint", "SAVEPOINT orderly_sp"};
  static const Query kRelease{"pg.release_savepoint", "RELEASE SAVEPOINT orderly_sp"};
  static const Query kRollback{"pg.rollback_to_savepoint", "ROLLBACK TO SAVEPOINT orderly_sp"};
  try {
    ExecUnprepared(tx, kSavepoint);
    absl::Status s;
    try {
      s = fn();
    } catch (...) {
      s = StatusFromCurrentException();
    }
    ExecUnprepared(tx, s.ok() ? kRelease : kRollback);
    return s;
  } catch (...) {
    return StatusFromCurrentException();
  }
}

std::string TextArray(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string IntArray(const std::vector<int64_t>& items) { return IntArrayOf(items); }
std::string IntArray(const std::vector<int>& items) { return IntArrayOf(items); }

// Hex form; the array parser unescapes one backslash, so "\\x..." reaches bytea input as "\x...".
std::string ByteaArray(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += "\"\\\\x";
    out += absl::BytesToHexString(items[i]);
    out += '"';
  }
  out += '}';
  return out;
}

std::vector<std::string> ArrayValues(const pqxx::field& f) {
  std::vector<std::string> out;
  if (f.is_null()) return out;
  auto parser = f.as_array();
  for (auto next = parser.get_next(); next.first != pqxx::array_parser::done;
       next = parser.get_next()) {
    if (next.first == pqxx::array_parser::string_value) out.push_back(std::move(next.second));
  }
  return out;
}

}  // namespace orderly::pg
