// orderly_outbox_append_json (migration 9100) fed by OutboxRowsJson, against real PostgreSQL: it
// continues Append's per-aggregate sequences, keeps the array order, stores exactly what Append
// stores, writes nothing for an invalid envelope, and concurrent callers that touch the same
// aggregates in opposite orders neither deadlock nor leave sequence gaps.
#include <gtest/gtest.h>

#include <map>
#include <thread>
#include <vector>

#include "orderly/core/status.hpp"
#include "orderly/events/outbox.hpp"
#include "orderly/events/outbox_rows.hpp"
#include "orderly/pg/migrations.hpp"
#include "orderly/pg/pool.hpp"
#include "orderly/testing/env.hpp"
#include "orderly/testing/status_matchers.hpp"

namespace orderly::events {
namespace {

class OutboxRowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ORDERLY_ASSERT_OK_AND_ASSIGN(auto db, orderly::testing::CreateTempDatabase("outbox_rows"));
    db_ = std::make_unique<orderly::testing::TempDatabase>(std::move(db));
    ORDERLY_ASSERT_OK_AND_ASSIGN(pool_, pg::Pool::Create({.dsn = db_->dsn(), .size = 4}));
    ORDERLY_ASSERT_OK(pg::ApplyMigrations(*pool_, "outbox-rows-test", WithEventSchema({})));
  }

  static v1::EventEnvelope Event(const std::string& aggregate, const std::string& note) {
    v1::EventEnvelope ev;
    ev.set_aggregate_type("order");
    ev.set_aggregate_id(aggregate);
    ev.set_order_id(aggregate);
    ev.mutable_order_status_changed()->set_order_id(aggregate);
    ev.mutable_order_status_changed()->set_parent_order_id(note);
    return ev;
  }

  absl::Status AppendJson(std::vector<v1::EventEnvelope>& events) {
    auto json = OutboxRowsJson(events, {.topic = "orderly.order.v1"});
    if (!json.ok()) return json.status();
    return pool_->InTransaction([&](pqxx::transaction_base& tx) {
      tx.exec_params("SELECT orderly_outbox_append_json($1::jsonb)", *json);
      return absl::OkStatus();
    });
  }

  struct Row {
    std::string aggregate_id, note, event_id, event_type, partition_key, topic;
    int64_t sequence = 0;
  };
  std::vector<Row> Rows() {
    std::vector<Row> out;
    ORDERLY_EXPECT_OK(pool_->InTransaction([&](pqxx::transaction_base& tx) {
      for (const auto& r :
           tx.exec("SELECT aggregate_id, sequence, payload, event_id::text, event_type, "
                   "partition_key, topic FROM outbox ORDER BY id")) {
        pqxx::binarystring payload(r[2]);
        v1::EventEnvelope ev;
        EXPECT_TRUE(ev.ParseFromArray(payload.data(), static_cast<int>(payload.size())));
        EXPECT_EQ(ev.event_id(), r[3].as<std::string>());
        out.push_back({r[0].as<std::string>(), ev.order_status_changed().parent_order_id(),
                       r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::string>(),
                       r[6].as<std::string>(), r[1].as<int64_t>()});
      }
      return absl::OkStatus();
    }));
    return out;
  }

  std::unique_ptr<orderly::testing::TempDatabase> db_;
  pg::PoolPtr pool_;
};

TEST_F(OutboxRowsTest, ContinuesAppendSequencesInArrayOrder) {
  ORDERLY_ASSERT_OK(pool_->InTransaction([&](pqxx::transaction_base& tx) {
    auto ev = Event("1001", "first");
    return Append(tx, ev, {.topic = "orderly.order.v1"}).status();
  }));
  std::vector<v1::EventEnvelope> batch = {Event("1001", "a1"), Event("2002", "b1"),
                                          Event("1001", "a2"), Event("2002", "b2"),
                                          Event("1001", "a3")};
  ORDERLY_ASSERT_OK(AppendJson(batch));
  const auto rows = Rows();
  ASSERT_EQ(rows.size(), 6u);
  const std::vector<std::pair<std::string, int64_t>> want = {{"first", 1}, {"a1", 2}, {"b1", 1},
                                                             {"a2", 3},    {"b2", 2}, {"a3", 4}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(rows[i].note, want[i].first) << i;
    EXPECT_EQ(rows[i].sequence, want[i].second) << i;
    EXPECT_EQ(rows[i].event_type, "orderly.events.v1.OrderStatusChanged");
    EXPECT_EQ(rows[i].partition_key, rows[i].aggregate_id);
    EXPECT_EQ(rows[i].topic, "orderly.order.v1");
  }
  // The envelopes were completed in place, as Append completes them.
  for (size_t i = 0; i < batch.size(); ++i) EXPECT_EQ(batch[i].event_id(), rows[i + 1].event_id);
}

TEST_F(OutboxRowsTest, AnInvalidEnvelopeWritesNothing) {
  std::vector<v1::EventEnvelope> batch = {Event("1001", "ok"), v1::EventEnvelope()};
  EXPECT_EQ(AppendJson(batch).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Rows().empty());
}

TEST_F(OutboxRowsTest, OppositeOrdersNeitherDeadlockNorLeaveGaps) {
  constexpr int kRounds = 60;
  auto writer = [&](bool reversed) {
    for (int i = 0; i < kRounds; ++i) {
      std::vector<v1::EventEnvelope> batch = {Event(reversed ? "9" : "8", "x"),
                                              Event(reversed ? "8" : "9", "y")};
      ORDERLY_EXPECT_OK(AppendJson(batch));
    }
  };
  std::thread a(writer, false), b(writer, true);
  a.join();
  b.join();
  std::map<std::string, std::vector<int64_t>> seqs;
  for (const auto& r : Rows()) seqs[r.aggregate_id].push_back(r.sequence);
  for (const auto& agg : {"8", "9"}) {
    ASSERT_EQ(seqs[agg].size(), 2u * kRounds) << agg;
    // Ids follow commit order per aggregate, so sequences read in id order are 1..n.
    for (size_t i = 0; i < seqs[agg].size(); ++i) EXPECT_EQ(seqs[agg][i], int64_t(i + 1)) << agg;
  }
}

// Issue 12.4: an event the broker would refuse (a 1 MB SKU name once made one) is refused when it
// is appended, so the transaction fails instead of the publish parking it and blocking every later
// event of its aggregate. Both entry points (Append and the stored-function JSON) refuse it.
TEST_F(OutboxRowsTest, AnEventOverTheLimitIsRefusedAtAppendAndWritesNothing) {
  ASSERT_EQ(MaxEventBytes(), kDefaultMaxEventBytes);
  std::vector<v1::EventEnvelope> big = {Event("o-big", std::string(1'000'000, 'x'))};
  const absl::Status json = AppendJson(big);
  EXPECT_EQ(json.code(), absl::StatusCode::kInvalidArgument) << json;
  EXPECT_EQ(ErrorReason(json), "EVENT_TOO_LARGE");
  EXPECT_EQ(ErrorMetadata(json, "event_type"), "orderly.events.v1.OrderStatusChanged");
  EXPECT_EQ(ErrorMetadata(json, "limit_bytes"), std::to_string(kDefaultMaxEventBytes));
  EXPECT_GT(std::stoll(ErrorMetadata(json, "size_bytes")), 1'000'000);

  v1::EventEnvelope one = Event("o-big", std::string(1'000'000, 'x'));
  const absl::Status appended = pool_->InTransaction([&](pqxx::transaction_base& tx) {
    auto r = Append(tx, one, {.topic = "orderly.order.v1"});
    return r.ok() ? absl::OkStatus() : r.status();
  });
  EXPECT_EQ(ErrorReason(appended), "EVENT_TOO_LARGE") << appended;
  EXPECT_TRUE(Rows().empty());

  // The limit is configurable, and an event just under it goes through.
  SetMaxEventBytes(2'000'000);
  std::vector<v1::EventEnvelope> allowed = {Event("o-big", std::string(1'000'000, 'x'))};
  ORDERLY_EXPECT_OK(AppendJson(allowed));
  SetMaxEventBytes(kDefaultMaxEventBytes);
  EXPECT_EQ(Rows().size(), 1u);
}

}  // namespace
}  // namespace orderly::events
