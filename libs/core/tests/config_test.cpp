#include "orderly/core/config.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

namespace orderly {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void TearDown() override {
    unsetenv("ORDERLY_GRPC_PORT");
    unsetenv("ORDERLY_LOG_LEVEL");
  }
  static Config Make() {
    Config c("svc");
    c.Define("grpc_port", "17051", "gRPC port");
    c.Define("log_level", "info", "log level");
    c.Define("drain_timeout", "10s", "drain");
    c.Define("dry_run", "false", "dry run");
    return c;
  }
  absl::Status Parse(Config& c, std::vector<std::string> args) {
    args.insert(args.begin(), "svc");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return c.Parse(static_cast<int>(argv.size()), argv.data());
  }
};

TEST_F(ConfigTest, DefaultWhenNothingGiven) {
  Config c = Make();
  ASSERT_TRUE(Parse(c, {}).ok());
  EXPECT_EQ(c.GetInt("grpc_port"), 17051);
  EXPECT_EQ(c.Get("log_level"), "info");
  EXPECT_EQ(c.GetDuration("drain_timeout"), std::chrono::seconds(10));
  EXPECT_FALSE(c.GetBool("dry_run"));
}

TEST_F(ConfigTest, EnvBeatsDefault) {
  setenv("ORDERLY_GRPC_PORT", "6000", 1);
  Config c = Make();
  ASSERT_TRUE(Parse(c, {}).ok());
  EXPECT_EQ(c.GetInt("grpc_port"), 6000);
}

TEST_F(ConfigTest, FlagBeatsEnv) {
  setenv("ORDERLY_GRPC_PORT", "6000", 1);
  setenv("ORDERLY_LOG_LEVEL", "debug", 1);
  Config c = Make();
  ASSERT_TRUE(Parse(c, {"--grpc_port=7000", "--log-level", "warn"}).ok());
  EXPECT_EQ(c.GetInt("grpc_port"), 7000);
  EXPECT_EQ(c.Get("log_level"), "warn");
}

TEST_F(ConfigTest, BareFlagIsTrue) {
  Config c = Make();
  ASSERT_TRUE(Parse(c, {"--dry_run", "--grpc_port", "1"}).ok());
  EXPECT_TRUE(c.GetBool("dry_run"));
  EXPECT_EQ(c.GetInt("grpc_port"), 1);
}

TEST_F(ConfigTest, UnknownFlagAndPositionalRejected) {
  Config c = Make();
  EXPECT_EQ(Parse(c, {"--nope=1"}).code(), absl::StatusCode::kInvalidArgument);
  Config d = Make();
  EXPECT_EQ(Parse(d, {"stray"}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ConfigTest, HelpIsCancelled) {
  Config c = Make();
  absl::Status s = Parse(c, {"--help"});
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(s.message(), "help");
  EXPECT_NE(c.Usage().find("ORDERLY_GRPC_PORT"), std::string::npos);
  EXPECT_NE(c.Usage().find("17051"), std::string::npos);
}

TEST_F(ConfigTest, SetOverrides) {
  Config c = Make();
  c.Set("grpc_port", "1234");
  EXPECT_EQ(c.GetInt("grpc_port"), 1234);
}

TEST(ParseDurationTest, Units) {
  EXPECT_EQ(*ParseDuration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(*ParseDuration("5s"), std::chrono::seconds(5));
  EXPECT_EQ(*ParseDuration("30m"), std::chrono::minutes(30));
  EXPECT_EQ(*ParseDuration("2h"), std::chrono::hours(2));
  EXPECT_EQ(*ParseDuration("1500"), std::chrono::milliseconds(1500));
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("5d").ok());
  EXPECT_FALSE(ParseDuration("-5s").ok());
  EXPECT_FALSE(ParseDuration("s").ok());
  EXPECT_FALSE(ParseDuration("99999999999999999999h").ok());
}

TEST(ConfigDeathTest, NonIntegerAborts) {
  Config c("svc");
  c.Define("port", "abc", "");
  EXPECT_DEATH(c.GetInt("port"), "not an integer");
}

}  // namespace
}  // namespace orderly
