#include "orderly/redis/client.hpp"

#include <absl/strings/match.h>
#include <absl/strings/str_cat.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <signal.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>

namespace orderly::redis {
namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

// Our Lua scripts signal business-rule failures with redis.error_reply("ORDERLY_<REASON> ...").
absl::Status ErrorReplyStatus(const std::string& command, absl::string_view text) {
  if (absl::StartsWith(text, "ORDERLY_")) return absl::FailedPreconditionError(text);
  return absl::InternalError(absl::StrCat("redis ", command, ": ", text));
}

// Converts a reply tree; an error anywhere in it (e.g. inside EXEC results) fails the call.
absl::Status Convert(const std::string& command, const redisReply& r, Reply& out) {
  switch (r.type) {
    case REDIS_REPLY_NIL: out.type = Reply::Type::kNil; return absl::OkStatus();
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r.integer;
      return absl::OkStatus();
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r.str, r.len);
      return absl::OkStatus();
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r.str, r.len);
      return absl::OkStatus();
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      out.elements.resize(r.elements);
      for (size_t i = 0; i < r.elements; ++i) {
        if (absl::Status s = Convert(command, *r.element[i], out.elements[i]); !s.ok()) return s;
      }
      return absl::OkStatus();
    case REDIS_REPLY_ERROR: return ErrorReplyStatus(command, absl::string_view(r.str, r.len));
    default:
      return absl::InternalError(
          absl::StrCat("redis ", command, ": unexpected reply type ", r.type));
  }
}

}  // namespace

std::string ScriptSha1(const std::string& script) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(script.data(), script.size(), digest, &len, EVP_sha1(), nullptr);
  std::string hex;
  char buf[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof(buf), "%02x", digest[i]);
    hex += buf;
  }
  return hex;
}

struct Client::Impl {
  ClientOptions options;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<ContextPtr> idle;
  int live = 0;

  std::string Endpoint() const { return absl::StrCat(options.host, ":", options.port); }

  absl::StatusOr<ContextPtr> Connect() {
    ContextPtr c(redisConnectWithTimeout(options.host.c_str(), options.port,
                                         ToTimeval(options.connect_timeout)));
    if (c == nullptr) return absl::UnavailableError("redis: cannot allocate context");
    if (c->err != 0) {
      return absl::UnavailableError(absl::StrCat("redis connect ", Endpoint(), ": ", c->errstr));
    }
    if (redisSetTimeout(c.get(), ToTimeval(options.command_timeout)) != REDIS_OK) {
      return absl::UnavailableError(
          absl::StrCat("redis set timeout ", Endpoint(), ": ", c->errstr));
    }
    return c;
  }

  absl::StatusOr<ContextPtr> Acquire() {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, options.acquire_timeout,
                     [&] { return !idle.empty() || live < options.pool_size; })) {
      return absl::UnavailableError(absl::StrCat("redis pool exhausted: all ", options.pool_size,
                                                 " connections busy for ",
                                                 options.acquire_timeout.count(), "ms"));
    }
    if (!idle.empty()) {
      ContextPtr c = std::move(idle.front());
      idle.pop_front();
      return c;
    }
    ++live;
    lock.unlock();
    auto c = Connect();
    if (!c.ok()) Drop(nullptr);
    return c;
  }

  void Release(ContextPtr c) {
    {
      std::lock_guard lock(mu);
      idle.push_back(std::move(c));
    }
    cv.notify_one();
  }

  // A context that timed out or lost its socket may still have a reply in flight; it is never
  // reused.
  void Drop(ContextPtr c) {
    c.reset();
    {
      std::lock_guard lock(mu);
      --live;
    }
    cv.notify_one();
  }

  // Runs one command on c. Sets `broken` when c must not be reused.
  absl::StatusOr<Reply> Run(redisContext* c, const std::vector<std::string>& argv, bool& broken) {
    if (argv.empty()) return absl::InvalidArgumentError("redis: empty command");
    std::vector<const char*> args;
    std::vector<size_t> lens;
    args.reserve(argv.size());
    lens.reserve(argv.size());
    for (const auto& a : argv) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    ReplyPtr r(static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data())));
    if (r == nullptr) {
      broken = true;
      // hiredis 0.14 reports a read timeout as REDIS_ERR_IO with EAGAIN's text.
      return absl::UnavailableError(
          absl::StrCat("redis ", argv[0], " on ", Endpoint(), ": ",
                       c->err == REDIS_ERR_IO ? "I/O error or timeout: " : "", c->errstr));
    }
    Reply out;
    if (absl::Status s = Convert(argv[0], *r, out); !s.ok()) return s;
    return out;
  }
};

Client::Client(ClientOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  impl_->options = options_;
}

Client::~Client() = default;

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.pool_size <= 0) return absl::InvalidArgumentError("redis pool_size must be positive");
  // hiredis writes with write(2): without this a server closing the socket kills the process
  // with SIGPIPE instead of surfacing EPIPE. Only the default action is replaced.
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    signal(SIGPIPE, SIG_IGN);
  }
  std::unique_ptr<Client> client(new Client(std::move(options)));
  // Fail fast on a wrong address rather than on the first request.
  if (absl::Status s = client->Ping(); !s.ok()) return s;
  return client;
}

absl::StatusOr<Reply> Client::Command(const std::vector<std::string>& argv) {
  auto c = impl_->Acquire();
  if (!c.ok()) return c.status();
  bool broken = false;
  auto reply = impl_->Run(c->get(), argv, broken);
  broken ? impl_->Drop(*std::move(c)) : impl_->Release(*std::move(c));
  return reply;
}

absl::StatusOr<Reply> Client::Eval(const std::string& script, const std::vector<std::string>& keys,
                                   const std::vector<std::string>& args) {
  const std::string sha = ScriptSha1(script);
  std::vector<std::string> argv = {"EVALSHA", sha, std::to_string(keys.size())};
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());

  auto c = impl_->Acquire();
  if (!c.ok()) return c.status();
  bool broken = false;
  auto reply = impl_->Run(c->get(), argv, broken);
  // The script cache is empty after a restart, failover or SCRIPT FLUSH: load and run again on the
  // same connection.
  if (!broken && !reply.ok() && absl::StrContains(reply.status().message(), "NOSCRIPT")) {
    auto loaded = impl_->Run(c->get(), {"SCRIPT", "LOAD", script}, broken);
    if (!loaded.ok()) {
      reply = loaded.status();
    } else if (loaded->str != sha) {
      reply = absl::InternalError(
          absl::StrCat("redis SCRIPT LOAD returned ", loaded->str, ", expected ", sha));
    } else {
      reply = impl_->Run(c->get(), argv, broken);
    }
  }
  broken ? impl_->Drop(*std::move(c)) : impl_->Release(*std::move(c));
  return reply;
}

absl::StatusOr<std::optional<std::string>> Client::Get(const std::string& key) {
  auto r = Command({"GET", key});
  if (!r.ok()) return r.status();
  if (r->is_nil()) return std::optional<std::string>();
  return std::optional<std::string>(std::move(r->str));
}

absl::Status Client::Set(const std::string& key, const std::string& value,
                         std::chrono::milliseconds ttl) {
  std::vector<std::string> argv = {"SET", key, value};
  if (ttl.count() > 0) {
    argv.push_back("PX");
    argv.push_back(std::to_string(ttl.count()));
  }
  return Command(argv).status();
}

absl::StatusOr<bool> Client::SetNx(const std::string& key, const std::string& value,
                                   std::chrono::milliseconds ttl) {
  std::vector<std::string> argv = {"SET", key, value, "NX"};
  if (ttl.count() > 0) {
    argv.push_back("PX");
    argv.push_back(std::to_string(ttl.count()));
  }
  auto r = Command(argv);
  if (!r.ok()) return r.status();
  return !r->is_nil();
}

absl::Status Client::Del(const std::string& key) { return Command({"DEL", key}).status(); }

absl::Status Client::Ping() {
  auto r = Command({"PING"});
  if (!r.ok()) return r.status();
  if (r->str != "PONG") return absl::InternalError(absl::StrCat("redis PING answered ", r->str));
  return absl::OkStatus();
}

}  // namespace orderly::redis
