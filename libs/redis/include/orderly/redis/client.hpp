#pragma once
// A pooled, synchronous hiredis client with connect and command timeouts. Errors become
// absl::Status: timeout or connection loss = UNAVAILABLE (the connection is dropped and replaced
// on next use), a Redis error reply = INTERNAL (or FAILED_PRECONDITION for script errors that
// start with "ORDERLY_").
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace orderly::redis {

struct ClientOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  int pool_size = 8;
  std::chrono::milliseconds connect_timeout{200};
  std::chrono::milliseconds command_timeout{200};
  // How long a call waits for a free connection before UNAVAILABLE "redis pool exhausted".
  std::chrono::milliseconds acquire_timeout{1000};
  std::string key_prefix;  // prepended by callers via Key(); lets tests isolate by prefix
};

struct Reply {
  enum class Type { kNil, kInteger, kString, kStatus, kArray };
  Type type = Type::kNil;
  int64_t integer = 0;
  std::string str;  // kString and kStatus
  std::vector<Reply> elements;
  bool is_nil() const { return type == Type::kNil; }
};

class Client {
 public:
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);
  ~Client();

  absl::StatusOr<Reply> Command(const std::vector<std::string>& argv);
  // EVALSHA with the script's SHA1, loading it (SCRIPT LOAD) on NOSCRIPT.
  absl::StatusOr<Reply> Eval(const std::string& script, const std::vector<std::string>& keys,
                             const std::vector<std::string>& args);

  // Conveniences.
  absl::StatusOr<std::optional<std::string>> Get(const std::string& key);
  absl::Status Set(const std::string& key, const std::string& value,
                   std::chrono::milliseconds ttl = std::chrono::milliseconds(0));
  // SET key value NX PX ttl: true when this call set it.
  absl::StatusOr<bool> SetNx(const std::string& key, const std::string& value,
                             std::chrono::milliseconds ttl);
  absl::Status Del(const std::string& key);
  absl::Status Ping();

  std::string Key(const std::string& k) const { return options_.key_prefix + k; }
  const ClientOptions& options() const { return options_; }

 private:
  explicit Client(ClientOptions options);
  struct Impl;
  ClientOptions options_;
  std::unique_ptr<Impl> impl_;
};
using ClientPtr = std::unique_ptr<Client>;

// Hex SHA1 of a Lua script, the name EVALSHA / SCRIPT EXISTS know it by.
std::string ScriptSha1(const std::string& script);

}  // namespace orderly::redis
