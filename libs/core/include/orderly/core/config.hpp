#pragma once
// Config from flags and ORDERLY_* environment variables, with documented defaults.
// Precedence: --flag=value > ORDERLY_<UPPER_NAME> > default. `--help` prints every option with its
// default and environment name.
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace orderly {

class Config {
 public:
  explicit Config(std::string program) : program_(std::move(program)) {}
  // Declares an option; name is snake_case ("grpc_port"), env is ORDERLY_GRPC_PORT.
  void Define(std::string name, std::string default_value, std::string help);
  // Parses argv and the environment. Unknown flags are INVALID_ARGUMENT. Returns a status with
  // message "help" (code CANCELLED) after printing usage when --help is given.
  absl::Status Parse(int argc, char** argv);

  std::string Get(std::string_view name) const;
  int64_t GetInt(std::string_view name) const;  // aborts loudly on a non-integer (bad config)
  bool GetBool(std::string_view name) const;    // true/false/1/0/yes/no
  std::chrono::milliseconds GetDuration(std::string_view name) const;  // "250ms", "5s", "30m", "2h"
  void Set(std::string_view name, std::string value);                  // tests
  std::string Usage() const;

 private:
  struct Option {
    std::string value, default_value, help;
  };
  std::string program_;
  std::map<std::string, Option, std::less<>> options_;
};

// Parses "250ms", "5s", "30m", "2h", plain number = ms.
absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view s);

}  // namespace orderly
