#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "orderly/redis/client.hpp"
#include "orderly/testing/env.hpp"
#include "orderly/testing/status_matchers.hpp"

namespace orderly::redis {
namespace {

using namespace std::chrono_literals;

constexpr const char* kAddScript = R"lua(
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
return v
)lua";

constexpr const char* kReserveScript = R"lua(
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
if left < tonumber(ARGV[1]) then
  return redis.error_reply('ORDERLY_OUT_OF_STOCK left=' .. left)
end
return redis.call('DECRBY', KEYS[1], ARGV[1])
)lua";

class ClientTest : public ::testing::Test {
 protected:
  ClientPtr MakeClient(int pool_size = 4, std::chrono::milliseconds command_timeout = 500ms) {
    auto options = orderly::testing::RedisOptionsFromEnv();
    EXPECT_TRUE(options.ok()) << options.status();
    if (!options.ok()) return nullptr;
    options->pool_size = pool_size;
    options->command_timeout = command_timeout;
    auto client = Client::Create(*options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }
};

TEST_F(ClientTest, SetGetSetNxDel) {
  ClientPtr c = MakeClient();
  ASSERT_NE(c, nullptr);
  const std::string k = c->Key("greeting");
  EXPECT_EQ(k.rfind(c->options().key_prefix, 0), 0u);

  ORDERLY_ASSERT_OK(c->Set(k, std::string("hello\0world", 11)));
  auto v = c->Get(k);
  ORDERLY_ASSERT_OK(v);
  ASSERT_TRUE(v->has_value());
  EXPECT_EQ(**v, std::string("hello\0world", 11));  // binary safe

  auto won = c->SetNx(k, "other", 10s);
  ORDERLY_ASSERT_OK(won);
  EXPECT_FALSE(*won);

  const std::string lock = c->Key("lock");
  won = c->SetNx(lock, "owner-1", 10s);
  ORDERLY_ASSERT_OK(won);
  EXPECT_TRUE(*won);
  auto ttl = c->Command({"PTTL", lock});
  ORDERLY_ASSERT_OK(ttl);
  EXPECT_EQ(ttl->type, Reply::Type::kInteger);
  EXPECT_GT(ttl->integer, 9000);
  EXPECT_LE(ttl->integer, 10000);

  ORDERLY_ASSERT_OK(c->Del(k));
  v = c->Get(k);
  ORDERLY_ASSERT_OK(v);
  EXPECT_FALSE(v->has_value());

  ORDERLY_ASSERT_OK(c->Set(k, "short", 50ms));
  std::this_thread::sleep_for(150ms);
  v = c->Get(k);
  ORDERLY_ASSERT_OK(v);
  EXPECT_FALSE(v->has_value()) << "the PX ttl should have expired the key";
}

TEST_F(ClientTest, ArrayReplies) {
  ClientPtr c = MakeClient();
  ASSERT_NE(c, nullptr);
  const std::string k = c->Key("list");
  ORDERLY_ASSERT_OK(c->Command({"RPUSH", k, "a", "b", "c"}));
  auto r = c->Command({"LRANGE", k, "0", "-1"});
  ORDERLY_ASSERT_OK(r);
  ASSERT_EQ(r->type, Reply::Type::kArray);
  ASSERT_EQ(r->elements.size(), 3u);
  EXPECT_EQ(r->elements[0].str, "a");
  EXPECT_EQ(r->elements[2].str, "c");
  ORDERLY_EXPECT_OK(c->Del(k));
}

TEST_F(ClientTest, EvalReloadsScriptAfterFlush) {
  ClientPtr c = MakeClient();
  ASSERT_NE(c, nullptr);
  const std::string k = c->Key("counter");
  const std::string sha = ScriptSha1(kAddScript);
  ASSERT_EQ(sha.size(), 40u);

  auto r = c->Eval(kAddScript, {k}, {"5"});
  ORDERLY_ASSERT_OK(r);
  EXPECT_EQ(r->integer, 5);
  auto exists = c->Command({"SCRIPT", "EXISTS", sha});
  ORDERLY_ASSERT_OK(exists);
  ASSERT_EQ(exists->elements.size(), 1u);
  EXPECT_EQ(exists->elements[0].integer, 1);

  ORDERLY_ASSERT_OK(c->Command({"SCRIPT", "FLUSH"}));
  exists = c->Command({"SCRIPT", "EXISTS", sha});
  ORDERLY_ASSERT_OK(exists);
  EXPECT_EQ(exists->elements[0].integer, 0);

  r = c->Eval(kAddScript, {k}, {"7"});
  ORDERLY_ASSERT_OK(r);
  EXPECT_EQ(r->integer, 12);
  ORDERLY_EXPECT_OK(c->Del(k));
}

TEST_F(ClientTest, ScriptAndServerErrorsMapToStatusCodes) {
  ClientPtr c = MakeClient();
  ASSERT_NE(c, nullptr);
  const std::string stock = c->Key("stock");
  ORDERLY_ASSERT_OK(c->Set(stock, "3"));

  auto r = c->Eval(kReserveScript, {stock}, {"2"});
  ORDERLY_ASSERT_OK(r);
  EXPECT_EQ(r->integer, 1);

  r = c->Eval(kReserveScript, {stock}, {"2"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  EXPECT_EQ(r.status().message(), "ORDERLY_OUT_OF_STOCK left=1");

  ORDERLY_ASSERT_OK(c->Command({"RPUSH", c->Key("a-list"), "x"}));
  auto wrong = c->Command({"INCR", c->Key("a-list")});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInternal) << wrong.status();
  EXPECT_NE(wrong.status().message().find("WRONGTYPE"), std::string::npos) << wrong.status();

  // The connection that carried an error reply is still usable.
  ORDERLY_EXPECT_OK(c->Ping());
  ORDERLY_EXPECT_OK(c->Del(stock));
  ORDERLY_EXPECT_OK(c->Del(c->Key("a-list")));
}

TEST_F(ClientTest, CommandTimeoutIsUnavailableAndConnectionIsReplaced) {
  ClientPtr c = MakeClient(/*pool_size=*/1, /*command_timeout=*/50ms);
  ASSERT_NE(c, nullptr);
  auto id_before = c->Command({"CLIENT", "ID"});
  ORDERLY_ASSERT_OK(id_before);

  const auto start = std::chrono::steady_clock::now();
  auto r = c->Command({"BLPOP", c->Key("never-filled"), "2"});
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_LT(waited, 1000ms);

  auto id_after = c->Command({"CLIENT", "ID"});
  ORDERLY_ASSERT_OK(id_after);
  EXPECT_NE(id_after->integer, id_before->integer) << "the timed-out connection was reused";
}

TEST_F(ClientTest, PoolServesManyThreads) {
  ClientPtr c = MakeClient(/*pool_size=*/3);
  ASSERT_NE(c, nullptr);
  const std::string k = c->Key("hits");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto r = i % 2 == 0 ? c->Command({"INCR", k}) : c->Eval(kAddScript, {k}, {"1"});
        if (!r.ok()) failures.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto v = c->Get(k);
  ORDERLY_ASSERT_OK(v);
  ASSERT_TRUE(v->has_value());
  EXPECT_EQ(**v, "1600");
  ORDERLY_EXPECT_OK(c->Del(k));
}

TEST(ClientCreate, UnreachableServerIsUnavailable) {
  ClientOptions options;
  options.host = "127.0.0.1";
  options.port = 1;
  auto c = Client::Create(options);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable) << c.status();
}

}  // namespace
}  // namespace orderly::redis
