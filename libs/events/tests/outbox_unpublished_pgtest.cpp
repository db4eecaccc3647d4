// Migrations 9101-9103 (the unpublished queue) against real PostgreSQL: a database written with
// the schema up to 9100 upgrades with every row still to publish queued (rows that failed before
// flagged), published and parked rows not queued, and the old pending indexes gone; appends
// afterwards queue their rows, and marking a row published no longer touches the outbox's
// indexes (HOT), nor does taking the next sequence of an aggregate (9102).
#include <gtest/gtest.h>

#include "orderly/events/outbox.hpp"
#include "orderly/pg/migrations.hpp"
#include "orderly/pg/pool.hpp"
#include "orderly/testing/env.hpp"
#include "orderly/testing/status_matchers.hpp"

namespace orderly::events {
namespace {

class OutboxUnpublishedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ORDERLY_ASSERT_OK_AND_ASSIGN(auto db, orderly::testing::CreateTempDatabase("outbox_queue"));
    db_ = std::make_unique<orderly::testing::TempDatabase>(std::move(db));
    ORDERLY_ASSERT_OK_AND_ASSIGN(pool_, pg::Pool::Create({.dsn = db_->dsn(), .size = 2}));
  }

  std::string Scalar(const std::string& sql) {
    std::string v;
    ORDERLY_EXPECT_OK(pool_->InTransaction([&](pqxx::transaction_base& tx) {
      auto r = tx.exec1(sql);
      v = r[0].is_null() ? "NULL" : r[0].as<std::string>();
      return absl::OkStatus();
    }));
    return v;
  }

  void Exec(const std::string& sql) {
    ORDERLY_ASSERT_OK(pool_->InTransaction([&](pqxx::transaction_base& tx) {
      tx.exec(sql);
      return absl::OkStatus();
    }));
  }

  std::unique_ptr<orderly::testing::TempDatabase> db_;
  pg::PoolPtr pool_;
};

constexpr char kAppend[] =
    "SELECT orderly_outbox_append(gen_random_uuid(), 't', 'k', 'order', '{agg}', 'x', "
    "'\\x0a'::bytea, '', 0)";

std::string AppendSql(const std::string& agg) {
  std::string sql = kAppend;
  sql.replace(sql.find("{agg}"), 5, agg);
  return sql;
}

TEST_F(OutboxUnpublishedTest, UpgradeQueuesEveryRowStillToPublish) {
  std::vector<pg::Migration> before;
  for (const auto& m : SchemaMigrations()) {
    if (m.version <= 9100) before.push_back(m);
  }
  ASSERT_LT(before.size(), SchemaMigrations().size());
  ORDERLY_ASSERT_OK(pg::ApplyMigrations(*pool_, "queue-test", before));
  for (const char* agg : {"published", "pending", "retrying", "parked"}) Exec(AppendSql(agg));
  Exec("UPDATE outbox SET published_at = now(), attempts = 1 WHERE aggregate_id = 'published'");
  Exec(
      "UPDATE outbox SET attempts = 2, next_attempt_at = now() + interval '1 hour', "
      "last_error = 'broker down' WHERE aggregate_id = 'retrying'");
  Exec(
      "UPDATE outbox SET attempts = 12, parked_at = now(), last_error = 'too large' "
      "WHERE aggregate_id = 'parked'");

  ORDERLY_ASSERT_OK(pg::ApplyMigrations(*pool_, "queue-test", SchemaMigrations()));
  EXPECT_EQ(Scalar("SELECT string_agg(o.aggregate_id || ':' || u.failed, ',' ORDER BY o.id) "
                   "FROM outbox_unpublished u JOIN outbox o USING (id)"),
            "pending:false,retrying:true");  // a parked row leaves the queue (9103)
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_indexes WHERE tablename = 'outbox' AND indexname IN "
                   "('outbox_pending', 'outbox_published', 'outbox_retrying')"),
            "0");
  // No index of the outbox names a column the relay's mark sets.
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_indexes WHERE tablename = 'outbox' AND "
                   "(indexdef LIKE '%published_at%' OR indexdef LIKE '%last_error%' OR "
                   "indexdef LIKE '%attempts%')"),
            "0");

  // Appends after the upgrade queue their rows, one event or several.
  Exec(AppendSql("after"));
  Exec(
      "SELECT orderly_outbox_append_json(jsonb_build_array("
      "jsonb_build_object('event_id', gen_random_uuid(), 'topic', 't', 'partition_key', 'k', "
      "'aggregate_type', 'order', 'aggregate_id', 'after', 'event_type', 'x', "
      "'payload', '\\x0b', 'occurred_at', now())))");
  EXPECT_EQ(Scalar("SELECT string_agg(o.aggregate_id || ':' || o.sequence, ',' ORDER BY o.id) "
                   "FROM outbox_unpublished u JOIN outbox o USING (id) WHERE NOT u.failed"),
            "pending:1,after:1,after:2");
}

TEST_F(OutboxUnpublishedTest, MarkingPublishedIsAHotUpdate) {
  ORDERLY_ASSERT_OK(pg::ApplyMigrations(*pool_, "queue-test", SchemaMigrations()));
  for (int i = 0; i < 200; ++i) Exec(AppendSql("agg-" + std::to_string(i % 7)));
  // The relay's mark (relay.cpp), on all rows at once.
  Exec(
      "UPDATE outbox SET published_at = clock_timestamp(), attempts = attempts + 1, "
      "last_error = NULL WHERE id IN (SELECT id FROM outbox)");
  Exec("CREATE EXTENSION IF NOT EXISTS pageinspect");
  // Counted from the heap itself (statistics are reported asynchronously): every old version
  // points to its successor on the same page with the HEAP_HOT_UPDATED flag.
  // A version whose successor did not fit on its page is a plain update: allow a few.
  const int64_t hot = std::stoll(
      Scalar("SELECT count(*) FROM generate_series(0, pg_relation_size('outbox') / 8192 - 1) "
             "AS b(n), heap_page_items(get_raw_page('outbox', n::int)) "
             "WHERE t_infomask2 & 16384 <> 0"));
  EXPECT_GE(hot, 180);
}

// Every append updates its aggregate's sequence row (migration 9102): with half-empty pages the
// update stays on the row's page (HOT) instead of adding a primary-key entry.
TEST_F(OutboxUnpublishedTest, SequenceUpdatesAreHotUpdates) {
  ORDERLY_ASSERT_OK(pg::ApplyMigrations(*pool_, "queue-test", SchemaMigrations()));
  // One session, one statement per append (each its own transaction), as the writers do. Two
  // appends per aggregate: the first inserts its sequence row, the second updates it, and that
  // one update per row fits in the free half of its page without depending on pruning (which any
  // older snapshot on a busy server delays). With full pages (fillfactor 100) it would not.
  pqxx::connection conn(db_->dsn());
  constexpr int kAggregates = 300;  // several pages of sequence rows
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kAggregates; ++i) {
      pqxx::nontransaction(conn).exec(AppendSql("agg-" + std::to_string(i)));
    }
  }
  // Pruning removes the traces of HOT chains from the pages, so count with the statistics.
  pqxx::nontransaction(conn).exec("SELECT pg_stat_force_next_flush()");
  pqxx::nontransaction(conn).exec("SELECT 1");
  auto r = pqxx::nontransaction(conn).exec1(
      "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
      "WHERE relname = 'outbox_sequences'");
  const int64_t updates = r[0].as<int64_t>(), hot = r[1].as<int64_t>();
  EXPECT_EQ(updates, kAggregates);
  EXPECT_GE(hot, updates * 99 / 100) << hot << " of " << updates << " sequence updates were HOT";
}

}  // namespace
}  // namespace orderly::events
