#include "orderly/testing/env.hpp"

#include <absl/strings/str_cat.h>
#include <absl/strings/str_format.h>
#include <unistd.h>

#include <cstdlib>
#include <random>

namespace orderly::testing {

std::string Env(const std::string& name, const std::string& fallback) {
  const char* v = std::getenv(name.c_str());
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

absl::StatusOr<std::string> RequireEnv(const std::string& name) {
  std::string v = Env(name);
  if (v.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        name,
        " is not set: run `source deploy/local/env.sh && deploy/local/start` before the "
        "integration tests"));
  }
  return v;
}

std::string UniqueSuffix() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrFormat("%d_%016x", static_cast<int>(getpid()), rng());
}

absl::StatusOr<redis::ClientOptions> RedisOptionsFromEnv() {
  auto host = RequireEnv("ORDERLY_REDIS_HOST");
  if (!host.ok()) return host.status();
  auto port = RequireEnv("ORDERLY_REDIS_PORT");
  if (!port.ok()) return port.status();
  redis::ClientOptions options;
  options.host = *host;
  options.port = std::atoi(port->c_str());
  if (options.port <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("ORDERLY_REDIS_PORT is not a port: ", *port));
  }
  options.key_prefix = absl::StrCat("test:", UniqueSuffix(), ":");
  return options;
}

absl::StatusOr<std::string> KafkaBrokersFromEnv() { return RequireEnv("ORDERLY_KAFKA_BROKERS"); }

}  // namespace orderly::testing
