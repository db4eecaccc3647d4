#include "orderly/pg/pool.hpp"

#include <absl/strings/str_cat.h>
#include <absl/strings/string_view.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <random>
#include <string_view>
#include <thread>

#include "orderly/core/status.hpp"

namespace orderly::pg {
namespace {

// libpqxx messages end with "\n" and carry DETAIL/HINT lines; keep them but trim the tail.
std::string Trimmed(absl::string_view what) {
  while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.remove_suffix(1);
  return std::string(what);
}

std::string Describe(absl::string_view kind, absl::string_view sqlstate, absl::string_view what) {
  if (sqlstate.empty()) return absl::StrCat("pg ", kind, ": ", Trimmed(what));
  return absl::StrCat("pg ", kind, " [", sqlstate, "]: ", Trimmed(what));
}

// For sql_error exceptions libpqxx did not give a specific class (or that a caller constructed).
absl::Status FromSqlState(const std::string& state, const std::string& what) {
  if (state == "40001" || state == "40P01") {
    return absl::AbortedError(Describe("transaction rollback", state, what));
  }
  if (state == "40003")
    return absl::UnknownError(Describe("statement completion unknown", state, what));
  if (state == "23505") return absl::AlreadyExistsError(Describe("unique violation", state, what));
  if (state == "23503" || state == "23514") {
    return absl::FailedPreconditionError(Describe("constraint violation", state, what));
  }
  // connection_exception, admin/crash shutdown, cannot_connect_now, too many connections
  if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03" ||
      state == "53300") {
    return absl::UnavailableError(Describe("server unavailable", state, what));
  }
  if (state == "57014") return absl::DeadlineExceededError(Describe("query canceled", state, what));
  return absl::InternalError(Describe("sql error", state, what));
}

bool IsBrokenConnectionException() {
  try {
    throw;
  } catch (const pqxx::broken_connection&) {
    return true;
  } catch (const pqxx::in_doubt_error&) {
    return true;
  } catch (...) {
    return false;
  }
}

template <pqxx::isolation_level L>
absl::Status RunTx(pqxx::connection& conn, const TxFn& fn) {
  pqxx::transaction<L> tx(conn);
  absl::Status s = fn(tx);
  if (!s.ok()) return s;  // tx's destructor rolls back
  tx.commit();
  return absl::OkStatus();
}

}  // namespace

namespace {
absl::Status ClassifyCurrentException() {
  try {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    return absl::UnknownError(Describe("commit in doubt", "", e.what()));
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(Describe("broken connection", "", e.what()));
  } catch (const pqxx::serialization_failure& e) {
    return absl::AbortedError(Describe("serialization failure", "40001", e.what()));
  } catch (const pqxx::deadlock_detected& e) {
    return absl::AbortedError(Describe("deadlock detected", "40P01", e.what()));
  } catch (const pqxx::statement_completion_unknown& e) {
    return absl::UnknownError(Describe("statement completion unknown", "40003", e.what()));
  } catch (const pqxx::transaction_rollback& e) {
    return absl::AbortedError(Describe("transaction rollback", "40000", e.what()));
  } catch (const pqxx::unique_violation& e) {
    return absl::AlreadyExistsError(Describe("unique violation", e.sqlstate(), e.what()));
  } catch (const pqxx::foreign_key_violation& e) {
    return absl::FailedPreconditionError(Describe("foreign key violation", e.sqlstate(), e.what()));
  } catch (const pqxx::check_violation& e) {
    return absl::FailedPreconditionError(Describe("check violation", e.sqlstate(), e.what()));
  } catch (const pqxx::sql_error& e) {
    return FromSqlState(e.sqlstate(), e.what());
  } catch (const pqxx::usage_error& e) {
    return absl::InternalError(Describe("usage error", "", e.what()));
  } catch (const pqxx::conversion_error& e) {
    return absl::InternalError(Describe("conversion error", "", e.what()));
  } catch (const pqxx::unexpected_rows& e) {
    return absl::InternalError(Describe("unexpected rows", "", e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("pg: ", e.what()));
  } catch (...) {
    return absl::InternalError("pg: unknown exception");
  }
}
}  // namespace

absl::Status StatusFromCurrentException() {
  absl::Status s = ClassifyCurrentException();
  MarkDriverError(s);
  return s;
}

struct Pool::Impl {
  PoolOptions options;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::unique_ptr<pqxx::connection>> idle;
  int live = 0;  // idle + checked out + being opened

  // A connection borrowed from the pool; `fresh` = opened for this borrow.
  struct Lease {
    std::unique_ptr<pqxx::connection> conn;
    bool fresh = false;
  };

  absl::StatusOr<std::unique_ptr<pqxx::connection>> Open() {
    try {
      auto conn = std::make_unique<pqxx::connection>(options.dsn);
      return conn;
    } catch (...) {
      absl::Status s = StatusFromCurrentException();
      return absl::UnavailableError(absl::StrCat("pg connect failed: ", s.message()));
    }
  }

  absl::StatusOr<Lease> Acquire() {
    std::unique_lock lock(mu);
    const bool ready = cv.wait_for(lock, options.acquire_timeout,
                                   [&] { return !idle.empty() || live < options.size; });
    if (!ready) {
      return absl::UnavailableError(absl::StrCat("pg pool exhausted: all ", options.size,
                                                 " connections busy for ",
                                                 options.acquire_timeout.count(), "ms"));
    }
    if (!idle.empty()) {
      Lease lease{std::move(idle.front()), false};
      idle.pop_front();
      return lease;
    }
    ++live;
    lock.unlock();
    auto conn = Open();
    if (!conn.ok()) {
      Discard();
      return conn.status();
    }
    return Lease{*std::move(conn), true};
  }

  void Release(std::unique_ptr<pqxx::connection> conn, bool broken) {
    if (broken || !conn->is_open()) {
      conn.reset();
      Discard();
      return;
    }
    {
      std::lock_guard lock(mu);
      idle.push_back(std::move(conn));
    }
    cv.notify_one();
  }

  void Discard() {
    {
      std::lock_guard lock(mu);
      --live;
    }
    cv.notify_one();
  }
};

Pool::Pool(PoolOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  impl_->options = options_;
}

Pool::~Pool() = default;

absl::StatusOr<std::unique_ptr<Pool>> Pool::Create(PoolOptions options) {
  if (options.size <= 0) return absl::InvalidArgumentError("pg pool size must be positive");
  std::unique_ptr<Pool> pool(new Pool(std::move(options)));
  // One eager connection so a wrong DSN or a down server is reported at start, not on first use.
  auto lease = pool->impl_->Acquire();
  if (!lease.ok()) return lease.status();
  pool->impl_->Release(std::move(lease->conn), false);
  return pool;
}

absl::Status Pool::InTransaction(const TxFn& fn, TxOptions options) {
  std::mt19937_64 rng(std::random_device{}());
  const int max_attempts = std::max(1, options.max_attempts);
  bool retried_broken = false;
  absl::Status status;
  for (int attempt = 1;; ++attempt) {
    auto lease = impl_->Acquire();
    if (!lease.ok()) return lease.status();
    bool broken = false;
    try {
      switch (options.isolation) {
        case Isolation::kReadCommitted:
          status = RunTx<pqxx::isolation_level::read_committed>(*lease->conn, fn);
          break;
        case Isolation::kRepeatableRead:
          status = RunTx<pqxx::isolation_level::repeatable_read>(*lease->conn, fn);
          break;
        case Isolation::kSerializable:
          status = RunTx<pqxx::isolation_level::serializable>(*lease->conn, fn);
          break;
      }
    } catch (...) {
      broken = IsBrokenConnectionException();
      status = StatusFromCurrentException();
    }
    const bool in_doubt = status.code() == absl::StatusCode::kUnknown;
    impl_->Release(std::move(lease->conn), broken);
    // A pooled connection that died while idle (server restart, pg_terminate_backend) fails
    // before anything commits, so one rerun on a fresh connection is safe. Never after a commit
    // in doubt.
    if (broken && !in_doubt && !lease->fresh && !retried_broken) {
      retried_broken = true;
      --attempt;
      continue;
    }
    if (status.code() != absl::StatusCode::kAborted || attempt >= max_attempts) return status;
    // Full jitter around an exponential step keeps conflicting retriers from colliding again.
    const auto step = options.base_backoff * (1LL << std::min(attempt - 1, 10));
    std::uniform_real_distribution<double> jitter(0.5, 1.5);
    std::this_thread::sleep_for(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::duration<double, std::micro>(
            std::chrono::duration<double, std::micro>(step).count() * jitter(rng))));
  }
}

absl::Status Pool::WithConnection(const ConnFn& fn) {
  auto lease = impl_->Acquire();
  if (!lease.ok()) return lease.status();
  bool broken = false;
  absl::Status status;
  try {
    status = fn(*lease->conn);
  } catch (...) {
    broken = IsBrokenConnectionException();
    status = StatusFromCurrentException();
  }
  impl_->Release(std::move(lease->conn), broken);
  return status;
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> Pool::Dedicated() { return impl_->Open(); }

}  // namespace orderly::pg
