#include "orderly/core/logging.hpp"

#include <spdlog/sinks/sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

namespace orderly::log {
namespace {

thread_local Context tls_context;

// A JSON string's contents (nlohmann-json's serializer, without the quotes). Bytes that are not
// UTF-8 become U+FFFD, so a log line stays valid JSON whatever a message quotes.
void AppendEscaped(std::string_view s, std::string& out) {
  const std::string quoted =
      nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out.append(quoted, 1, quoted.size() - 2);
}

std::string_view LevelName(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    default: return "off";
  }
}

// Writes "2026-11-22T08:44:01.123Z". The part up to the seconds changes once a second, so each
// thread caches it and only formats the milliseconds per line.
void AppendTimestamp(std::chrono::system_clock::time_point tp, std::string& out) {
  thread_local int64_t cached_sec = INT64_MIN;
  thread_local char cached[64];
  const int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch()).count();
  int64_t sec = ms / 1000;
  int frac = static_cast<int>(ms % 1000);
  if (frac < 0) {
    frac += 1000;
    --sec;
  }
  if (sec != cached_sec) {
    const std::time_t tt = static_cast<std::time_t>(sec);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    std::snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_sec = sec;
  }
  out.append(cached, 20);
  out.push_back(static_cast<char>('0' + frac / 100));
  out.push_back(static_cast<char>('0' + frac / 10 % 10));
  out.push_back(static_cast<char>('0' + frac % 10));
  out.push_back('Z');
}

void AppendUnsigned(uint64_t v, std::string& out) {
  char buf[24];
  char* p = buf + sizeof(buf);
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  out.append(p, buf + sizeof(buf) - p);
}

// Formats on the calling thread without a lock and writes each line with one write(2), so
// concurrent request threads do not serialize on a sink mutex and lines never interleave (short
// writes to a pipe are atomic; longer lines take a mutex).
class JsonStdoutSink final : public spdlog::sinks::sink {
 public:
  explicit JsonStdoutSink(std::string service) : service_json_(JsonEscape(service)) {}

  void log(const spdlog::details::log_msg& msg) override {
    thread_local std::string line;
    line.clear();
    line += "{\"ts\":\"";
    AppendTimestamp(msg.time, line);
    line += "\",\"level\":\"";
    line += LevelName(msg.level);
    line += "\",\"service\":\"";
    line += service_json_;
    line += "\",\"msg\":\"";
    AppendEscaped(std::string_view(msg.payload.data(), msg.payload.size()), line);
    line += '"';
    const Context& ctx = tls_context;
    if (!ctx.request_id.empty()) {
      line += ",\"request_id\":\"";
      AppendEscaped(ctx.request_id, line);
      line += '"';
    }
    if (!ctx.trace_id.empty()) {
      line += ",\"trace_id\":\"";
      AppendEscaped(ctx.trace_id, line);
      line += '"';
    }
    line += ",\"thread\":";
    AppendUnsigned(msg.thread_id, line);
    line += "}\n";
    if (line.size() <= PIPE_BUF) {
      WriteAll(line);
    } else {
      std::lock_guard<std::mutex> lock(write_mu_);
      WriteAll(line);
    }
  }
  void flush() override {}
  void set_pattern(const std::string&) override {}  // the JSON shape is fixed
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

 private:
  static void WriteAll(const std::string& s) {
    const char* p = s.data();
    size_t left = s.size();
    while (left > 0) {
      const ssize_t n = ::write(STDOUT_FILENO, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;  // stdout gone: nothing sensible left to do with a log line
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
  }

  std::string service_json_;
  std::mutex write_mu_;
};

}  // namespace

void Init(std::string_view service, std::string_view level) {
  auto sink = std::make_shared<JsonStdoutSink>(std::string(service));
  auto logger = std::make_shared<spdlog::logger>(std::string(service), std::move(sink));
  spdlog::level::level_enum lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") lvl = spdlog::level::info;
  logger->set_level(lvl);
  spdlog::set_default_logger(std::move(logger));
}

ScopedContext::ScopedContext(Context ctx) : saved_(std::move(tls_context)) {
  tls_context = std::move(ctx);
}

ScopedContext::~ScopedContext() { tls_context = std::move(saved_); }

const Context& Current() { return tls_context; }

void SetContext(Context ctx) { tls_context = std::move(ctx); }

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  AppendEscaped(s, out);
  return out;
}

}  // namespace orderly::log
