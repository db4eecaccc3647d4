#pragma once
// Integration-test environment: the servers started by deploy/local/start, found through the
// ORDERLY_* variables of deploy/local/env.sh. A missing variable is an error, never a skip: CI
// always starts the servers, so a test that silently skipped would hide a broken setup.
#include <absl/status/statusor.h>

#include <string>

#include "orderly/redis/client.hpp"

namespace orderly::testing {

// The variable's value, or fallback when it is unset or empty.
std::string Env(const std::string& name, const std::string& fallback = "");
// The variable's value, or FAILED_PRECONDITION telling how to set it.
absl::StatusOr<std::string> RequireEnv(const std::string& name);

// "<pid>_<16 random hex digits>": unique per call, across processes.
std::string UniqueSuffix();

// A database created for one test run and dropped (WITH (FORCE)) when this object goes away.
class TempDatabase {
 public:
  TempDatabase(std::string admin_dsn, std::string name, std::string dsn);
  TempDatabase(TempDatabase&& other) noexcept;
  TempDatabase& operator=(TempDatabase&& other) noexcept;
  TempDatabase(const TempDatabase&) = delete;
  TempDatabase& operator=(const TempDatabase&) = delete;
  ~TempDatabase();

  const std::string& name() const { return name_; }
  // Connects to this database with the admin DSN's host, port and user.
  const std::string& dsn() const { return dsn_; }

 private:
  void Drop();
  std::string admin_dsn_;
  std::string name_;
  std::string dsn_;
};

// Creates "<prefix>_<pid>_<random>" through ORDERLY_PG_ADMIN_DSN.
absl::StatusOr<TempDatabase> CreateTempDatabase(const std::string& prefix);

// ORDERLY_REDIS_HOST / ORDERLY_REDIS_PORT with a key_prefix unique to this call.
absl::StatusOr<redis::ClientOptions> RedisOptionsFromEnv();

// ORDERLY_KAFKA_BROKERS.
absl::StatusOr<std::string> KafkaBrokersFromEnv();
// Creates "<prefix>.<pid>_<random>" with the given partition count and returns its name.
absl::StatusOr<std::string> UniqueTopic(const std::string& prefix, int partitions = 3);

}  // namespace orderly::testing
