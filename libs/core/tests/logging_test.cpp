#include "orderly/core/logging.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <regex>

#include "orderly/core/clock.hpp"

namespace orderly {
namespace {

TEST(LoggingTest, JsonEscape) {
  EXPECT_EQ(log::JsonEscape("plain"), "plain");
  EXPECT_EQ(log::JsonEscape("a\"b\\c\nd\te\x01"), "a\\\"b\\\\c\\nd\\te\\u0001");
  EXPECT_EQ(log::JsonEscape("ünïcode"), "ünïcode");
  // Not UTF-8: replaced, so the log line is still valid JSON.
  EXPECT_EQ(log::JsonEscape("bad\xff"), "bad\xef\xbf\xbd");
}

TEST(LoggingTest, ScopedContextNestsAndRestores) {
  EXPECT_EQ(log::Current().request_id, "");
  {
    log::ScopedContext outer({"r1", "t1"});
    EXPECT_EQ(log::Current().request_id, "r1");
    {
      log::ScopedContext inner({"r2", "t2"});
      EXPECT_EQ(log::Current().trace_id, "t2");
    }
    EXPECT_EQ(log::Current().request_id, "r1");
  }
  EXPECT_EQ(log::Current().request_id, "");
}

// Captures what the JSON logger writes to stdout.
std::string CaptureStdout(const std::function<void()>& fn) {
  std::fflush(stdout);
  int pipefd[2];
  EXPECT_EQ(pipe(pipefd), 0);
  const int saved = dup(STDOUT_FILENO);
  dup2(pipefd[1], STDOUT_FILENO);
  close(pipefd[1]);
  fn();
  dup2(saved, STDOUT_FILENO);
  close(saved);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof(buf))) > 0) out.append(buf, n);
  close(pipefd[0]);
  return out;
}

TEST(LoggingTest, WritesOneJsonObjectPerLine) {
  log::Init("order-core", "debug");
  const std::string out = CaptureStdout([] {
    log::ScopedContext ctx({"req-1", "0af7651916cd43dd8448eb211c80319c"});
    spdlog::info("created order {} for \"{}\"", 42, "bob");
    spdlog::trace("filtered out");
  });
  const std::regex re(
      "^\\{\"ts\":\"\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\",\"level\":\"info\","
      "\"service\":\"order-core\",\"msg\":\"created order 42 for \\\\\"bob\\\\\"\","
      "\"request_id\":\"req-1\",\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\","
      "\"thread\":\\d+\\}\n$");
  EXPECT_TRUE(std::regex_match(out, re)) << out;

  const std::string plain = CaptureStdout([] { spdlog::warn("no context"); });
  EXPECT_EQ(plain.find("request_id"), std::string::npos) << plain;
  EXPECT_NE(plain.find("\"level\":\"warn\""), std::string::npos) << plain;
}

TEST(ClockTest, Rfc3339AndManualClock) {
  EXPECT_EQ(ToRfc3339(FromUnixMillis(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(ToRfc3339(FromUnixMillis(1795337041123)), "2026-11-22T08:44:01.123Z");
  ManualClock clock(FromUnixMillis(1000));
  clock.Advance(std::chrono::milliseconds(500));
  EXPECT_EQ(ToUnixMillis(clock.Now()), 1500);
  clock.Set(FromUnixMillis(7));
  EXPECT_EQ(ToUnixMillis(clock.Now()), 7);
}

}  // namespace
}  // namespace orderly
