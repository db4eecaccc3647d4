// pg::JsonRows through the real jsonb_populate_recordset: every value comes back exactly as sent
// (text with quotes, control characters and non-ASCII, every byte value of a bytea, timestamps to
// the microsecond on both sides of the epoch, text arrays, NULLs, an empty row set).
#include <gtest/gtest.h>

#include <string>

#include "orderly/pg/json_rows.hpp"
#include "orderly/pg/pool.hpp"
#include "orderly/testing/env.hpp"
#include "orderly/testing/status_matchers.hpp"

namespace orderly::pg {
namespace {

TEST(TimestampLiteral, RendersUtcWithMicrosecondsOnBothSidesOfTheEpoch) {
  EXPECT_EQ(TimestampLiteral(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(TimestampLiteral(1'795'348'303'123'456), "2026-11-22T11:51:43.123456Z");
  EXPECT_EQ(TimestampLiteral(-1), "1969-12-31T23:59:59.999999Z");
}

TEST(JsonRows, BuildsAnArrayOfObjects) {
  JsonRows rows;
  EXPECT_EQ(rows.Json(), "[]");
  rows.Row().Int("a", -5).Bool("b", true).Text("c", "x\"y\n");
  rows.Row().Null("a").TextArray("d", {"p", "q"}).Bytea("e", std::string("\x00\xff", 2));
  EXPECT_EQ(rows.size(), 2);
  EXPECT_EQ(rows.Json(),
            R"([{"a":-5,"b":true,"c":"x\"y\n"},{"a":null,"d":["p","q"],"e":"\\x00ff"}])");
}

class JsonRowsPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ORDERLY_ASSERT_OK_AND_ASSIGN(auto db, orderly::testing::CreateTempDatabase("pg_json_rows"));
    db_ = std::make_unique<orderly::testing::TempDatabase>(std::move(db));
    ORDERLY_ASSERT_OK_AND_ASSIGN(pool_, Pool::Create({.dsn = db_->dsn(), .size = 1}));
    ORDERLY_ASSERT_OK(pool_->InTransaction([](pqxx::transaction_base& tx) {
      tx.exec(
          "CREATE TABLE t (id bigint, flag boolean, name text, data bytea, at timestamptz, "
          "tags text[], note text DEFAULT 'default')");
      return absl::OkStatus();
    }));
  }

  std::unique_ptr<orderly::testing::TempDatabase> db_;
  PoolPtr pool_;
};

TEST_F(JsonRowsPgTest, EveryValueRoundTripsThroughJsonbPopulateRecordset) {
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  const std::string name = "quote \" backslash \\ tab \t newline \n bell \x07 ünïcødé 订单";
  const int64_t at_us = 1'795'348'303'123'456;
  JsonRows rows;
  rows.Row()
      .Int("id", INT64_MAX)
      .Bool("flag", false)
      .Text("name", name)
      .Bytea("data", all_bytes)
      .TimeMicros("at", at_us)
      .TextArray("tags", {"a,b", "c\"d", "{e}"});
  rows.Row().Int("id", -1).TimeMicros("at", -1).Null("name");
  ORDERLY_ASSERT_OK(pool_->InTransaction([&](pqxx::transaction_base& tx) {
    tx.exec_params(
        "INSERT INTO t (id, flag, name, data, at, tags) "
        "SELECT id, flag, name, data, at, tags FROM jsonb_populate_recordset(NULL::t, $1::jsonb)",
        rows.Json());
    auto r = tx.exec(
        "SELECT id, flag, name, data, (extract(epoch FROM at) * 1000000)::bigint, "
        "array_to_string(tags, '|'), note FROM t ORDER BY id DESC");
    EXPECT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0][0].as<int64_t>(), INT64_MAX);
    EXPECT_FALSE(r[0][1].as<bool>());
    EXPECT_EQ(r[0][2].as<std::string>(), name);
    pqxx::binarystring data(r[0][3]);
    EXPECT_EQ(data.str(), all_bytes);
    EXPECT_EQ(r[0][4].as<int64_t>(), at_us);
    EXPECT_EQ(r[0][5].as<std::string>(), "a,b|c\"d|{e}");
    EXPECT_EQ(r[1][0].as<int64_t>(), -1);
    EXPECT_TRUE(r[1][2].is_null());
    EXPECT_EQ(r[1][4].as<int64_t>(), -1);
    // Columns the INSERT does not list keep their defaults.
    EXPECT_EQ(r[1][6].as<std::string>(), "default");
    return absl::OkStatus();
  }));
}

}  // namespace
}  // namespace orderly::pg
