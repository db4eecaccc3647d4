#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <thread>

#include "orderly/pg/pool.hpp"
#include "orderly/pg/query.hpp"
#include "orderly/testing/env.hpp"
#include "orderly/testing/status_matchers.hpp"

namespace orderly::pg {
namespace {

using namespace std::chrono_literals;

constexpr const char* kCreateCounters =
    "CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL CHECK (n >= 0))";

// A named statement (the one way to run SQL): prepared on each connection at first use.
const pg::Query kGetN{"test.get_n", "SELECT n FROM counters WHERE id = $1"};

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ORDERLY_ASSERT_OK_AND_ASSIGN(auto db, orderly::testing::CreateTempDatabase("pg_pool"));
    db_ = std::make_unique<orderly::testing::TempDatabase>(std::move(db));
  }

  PoolPtr MakePool(int size, std::chrono::milliseconds acquire_timeout = 2000ms) {
    PoolOptions options;
    options.dsn = db_->dsn();
    options.size = size;
    options.acquire_timeout = acquire_timeout;
    auto pool = Pool::Create(options);
    EXPECT_TRUE(pool.ok()) << pool.status();
    return pool.ok() ? std::move(*pool) : nullptr;
  }

  absl::Status Exec(Pool& pool, const std::string& sql) {
    return pool.InTransaction([&](pqxx::transaction_base& tx) {
      tx.exec(sql);
      return absl::OkStatus();
    });
  }

  absl::StatusOr<int64_t> ReadN(Pool& pool, int id) {
    int64_t n = -1;
    absl::Status s = pool.InTransaction([&](pqxx::transaction_base& tx) {
      pqxx::result r = pg::Exec(tx, kGetN, id);
      if (r.empty()) return absl::NotFoundError("no row");
      n = r[0][0].as<int64_t>();
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return n;
  }

  std::unique_ptr<orderly::testing::TempDatabase> db_;
};

TEST_F(PoolTest, CommitsOnOkAndRollsBackOnError) {
  PoolPtr pool = MakePool(2);
  ASSERT_NE(pool, nullptr);
  ORDERLY_ASSERT_OK(Exec(*pool, kCreateCounters));
  ORDERLY_ASSERT_OK(Exec(*pool, "INSERT INTO counters VALUES (1, 10)"));

  absl::Status s = pool->InTransaction([](pqxx::transaction_base& tx) {
    tx.exec("UPDATE counters SET n = 99 WHERE id = 1");
    return absl::FailedPreconditionError("changed my mind");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "changed my mind");

  s = pool->InTransaction([](pqxx::transaction_base& tx) -> absl::Status {
    tx.exec("UPDATE counters SET n = 77 WHERE id = 1");
    throw std::runtime_error("handler bug");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_NE(s.message().find("handler bug"), std::string::npos) << s;

  auto n = ReadN(*pool, 1);
  ORDERLY_ASSERT_OK(n);
  EXPECT_EQ(*n, 10);

  ORDERLY_ASSERT_OK(Exec(*pool, "UPDATE counters SET n = 11 WHERE id = 1"));
  n = ReadN(*pool, 1);
  ORDERLY_ASSERT_OK(n);
  EXPECT_EQ(*n, 11);
}

TEST_F(PoolTest, ConstraintViolationsMapToStatusCodesWithSqlState) {
  PoolPtr pool = MakePool(2);
  ASSERT_NE(pool, nullptr);
  ORDERLY_ASSERT_OK(Exec(*pool, kCreateCounters));
  ORDERLY_ASSERT_OK(Exec(*pool, "INSERT INTO counters VALUES (1, 0)"));

  absl::Status dup = Exec(*pool, "INSERT INTO counters VALUES (1, 5)");
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists) << dup;
  EXPECT_NE(dup.message().find("23505"), std::string::npos) << dup;
  EXPECT_NE(dup.message().find("counters_pkey"), std::string::npos) << dup;

  absl::Status negative = Exec(*pool, "UPDATE counters SET n = -1 WHERE id = 1");
  EXPECT_EQ(negative.code(), absl::StatusCode::kFailedPrecondition) << negative;
  EXPECT_NE(negative.message().find("23514"), std::string::npos) << negative;
  EXPECT_NE(negative.message().find("counters_n_check"), std::string::npos) << negative;

  absl::Status syntax = Exec(*pool, "SELEC 1");
  EXPECT_EQ(syntax.code(), absl::StatusCode::kInternal) << syntax;
  EXPECT_NE(syntax.message().find("42601"), std::string::npos) << syntax;
}

TEST_F(PoolTest, ConflictingSerializableTransactionsAreRetriedUntilBothCommit) {
  PoolPtr pool = MakePool(4);
  ASSERT_NE(pool, nullptr);
  ORDERLY_ASSERT_OK(Exec(*pool, kCreateCounters));
  ORDERLY_ASSERT_OK(Exec(*pool, "INSERT INTO counters VALUES (1, 0)"));

  std::latch both_read(2);
  std::atomic<int> attempts{0};
  auto increment = [&] {
    bool first = true;
    TxOptions options;
    options.isolation = Isolation::kSerializable;
    options.max_attempts = 10;
    return pool->InTransaction(
        [&](pqxx::transaction_base& tx) {
          attempts.fetch_add(1);
          const int64_t n = tx.exec("SELECT n FROM counters WHERE id = 1")[0][0].as<int64_t>();
          if (first) {
            // Both snapshots are taken before either writes, so one of them must fail to serialize.
            first = false;
            both_read.arrive_and_wait();
          }
          tx.exec_params("UPDATE counters SET n = $1 WHERE id = 1", n + 1);
          return absl::OkStatus();
        },
        options);
  };
  absl::Status a, b;
  std::thread ta([&] { a = increment(); });
  std::thread tb([&] { b = increment(); });
  ta.join();
  tb.join();
  ORDERLY_EXPECT_OK(a);
  ORDERLY_EXPECT_OK(b);
  EXPECT_GE(attempts.load(), 3) << "one transaction should have been retried";
  auto n = ReadN(*pool, 1);
  ORDERLY_ASSERT_OK(n);
  EXPECT_EQ(*n, 2);
}

TEST_F(PoolTest, AbortedIsRetriedUpToMaxAttempts) {
  PoolPtr pool = MakePool(1);
  ASSERT_NE(pool, nullptr);
  int calls = 0;
  TxOptions options;
  options.max_attempts = 3;
  options.base_backoff = 1ms;
  absl::Status s = pool->InTransaction(
      [&](pqxx::transaction_base&) {
        ++calls;
        return absl::AbortedError("conflict");
      },
      options);
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(calls, 3);

  calls = 0;
  s = pool->InTransaction([&](pqxx::transaction_base&) {
    ++calls;
    return absl::AlreadyExistsError("not retried");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(calls, 1);
}

TEST_F(PoolTest, ExhaustedPoolReportsUnavailableAfterAcquireTimeout) {
  PoolPtr pool = MakePool(1, 150ms);
  ASSERT_NE(pool, nullptr);
  std::latch holding(1);
  std::latch release(1);
  std::thread holder([&] {
    absl::Status s = pool->WithConnection([&](pqxx::connection&) {
      holding.count_down();
      release.wait();
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
  });
  holding.wait();
  const auto start = std::chrono::steady_clock::now();
  absl::Status s = Exec(*pool, "SELECT 1");
  const auto waited = std::chrono::steady_clock::now() - start;
  release.count_down();
  holder.join();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("pg pool exhausted"), std::string::npos) << s;
  EXPECT_GE(waited, 140ms);
  EXPECT_LT(waited, 2000ms);
  ORDERLY_EXPECT_OK(Exec(*pool, "SELECT 1"));  // the connection came back
}

TEST_F(PoolTest, TerminatedBackendIsReplaced) {
  PoolPtr pool = MakePool(1);
  ASSERT_NE(pool, nullptr);
  ORDERLY_ASSERT_OK(Exec(*pool, kCreateCounters));
  ORDERLY_ASSERT_OK(Exec(*pool, "INSERT INTO counters VALUES (1, 5)"));
  auto pid_of_pooled = [&]() -> absl::StatusOr<int> {
    int pid = 0;
    absl::Status s = pool->InTransaction([&](pqxx::transaction_base& tx) {
      pid = tx.exec("SELECT pg_backend_pid()")[0][0].as<int>();
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return pid;
  };
  auto before = pid_of_pooled();
  ORDERLY_ASSERT_OK(before);

  ORDERLY_ASSERT_OK_AND_ASSIGN(auto admin, pool->Dedicated());
  {
    pqxx::nontransaction tx(*admin);
    ASSERT_TRUE(tx.exec_params("SELECT pg_terminate_backend($1)", *before)[0][0].as<bool>());
    // pg_terminate_backend only signals; wait until the backend is really gone.
    for (int i = 0; i < 100; ++i) {
      if (tx.exec_params("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", *before)[0][0]
              .as<int>() == 0) {
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
  }

  auto after = pid_of_pooled();
  ORDERLY_ASSERT_OK(after);
  EXPECT_NE(*after, *before);
  auto n = ReadN(*pool, 1);  // a named query is prepared again on the replacement
  ORDERLY_ASSERT_OK(n);
  EXPECT_EQ(*n, 5);
}

TEST(PoolCreate, UnreachableServerIsUnavailable) {
  PoolOptions options;
  options.dsn = "host=127.0.0.1 port=1 user=orderly dbname=nothing connect_timeout=2";
  auto pool = Pool::Create(options);
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kUnavailable) << pool.status();
}

}  // namespace
}  // namespace orderly::pg
