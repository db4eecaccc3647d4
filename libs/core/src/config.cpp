#include "orderly/core/config.hpp"

#include <absl/strings/ascii.h>
#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>

#include <cstdio>
#include <cstdlib>
#include <limits>

#include "orderly/core/absl_compat.hpp"

namespace orderly {
namespace {

std::string EnvName(std::string_view name) {
  std::string env = "ORDERLY_";
  for (char c : name) env.push_back(c == '-' ? '_' : absl::ascii_toupper(c));
  return env;
}

// Bad configuration must stop the process at start, not surface as odd behaviour later.
[[noreturn]] void Die(std::string_view message) {
  std::fprintf(stderr, "fatal config error: %.*s\n", static_cast<int>(message.size()),
               message.data());
  std::abort();
}

}  // namespace

void Config::Define(std::string name, std::string default_value, std::string help) {
  Option opt{default_value, default_value, std::move(help)};
  options_[std::move(name)] = std::move(opt);
}

absl::Status Config::Parse(int argc, char** argv) {
  // Environment first; flags then overwrite it.
  for (auto& [name, opt] : options_) {
    if (const char* env = std::getenv(EnvName(name).c_str()); env != nullptr) opt.value = env;
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(Usage().c_str(), stdout);
      return absl::CancelledError("help");
    }
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", ToAbsl(arg), "'"));
    }
    arg.remove_prefix(2);
    std::string name;
    std::string value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = std::string(arg.substr(0, eq));
      value = std::string(arg.substr(eq + 1));
      has_value = true;
    } else {
      name = std::string(arg);
    }
    for (char& c : name) {
      if (c == '-') c = '_';
    }
    auto it = options_.find(name);
    if (it == options_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, "; see --help"));
    }
    if (!has_value) {
      // "--name value"; a bare "--name" followed by another flag (or nothing) is a boolean switch.
      if (i + 1 < argc && std::string_view(argv[i + 1]).substr(0, 2) != "--") {
        value = argv[++i];
      } else {
        value = "true";
      }
    }
    it->second.value = std::move(value);
  }
  return absl::OkStatus();
}

std::string Config::Get(std::string_view name) const {
  auto it = options_.find(name);
  if (it == options_.end()) Die(absl::StrCat("option '", ToAbsl(name), "' was never defined"));
  return it->second.value;
}

int64_t Config::GetInt(std::string_view name) const {
  const std::string v = Get(name);
  int64_t out = 0;
  if (!absl::SimpleAtoi(v, &out)) Die(absl::StrCat(ToAbsl(name), ": '", v, "' is not an integer"));
  return out;
}

bool Config::GetBool(std::string_view name) const {
  const std::string v = absl::AsciiStrToLower(Get(name));
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off" || v.empty()) return false;
  Die(absl::StrCat(ToAbsl(name), ": '", v, "' is not a boolean"));
}

std::chrono::milliseconds Config::GetDuration(std::string_view name) const {
  const std::string v = Get(name);
  absl::StatusOr<std::chrono::milliseconds> d = ParseDuration(v);
  if (!d.ok()) Die(absl::StrCat(ToAbsl(name), ": ", d.status().message()));
  return *d;
}

void Config::Set(std::string_view name, std::string value) {
  auto it = options_.find(name);
  if (it == options_.end()) {
    options_[std::string(name)] = Option{std::move(value), "", ""};
    return;
  }
  it->second.value = std::move(value);
}

std::string Config::Usage() const {
  std::string out = absl::StrCat("Usage: ", program_, " [--name=value ...]\n\nOptions:\n");
  for (const auto& [name, opt] : options_) {
    absl::StrAppend(&out, "  --", name, "  (env ", EnvName(name), ", default \"", opt.default_value,
                    "\")\n      ", opt.help, "\n");
  }
  return out;
}

absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  const absl::string_view s = absl::StripAsciiWhitespace(ToAbsl(text));
  size_t digits = 0;
  while (digits < s.size() && absl::ascii_isdigit(s[digits])) ++digits;
  if (digits == 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad duration '", s, "'"));
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(s.substr(0, digits), &n)) {
    return absl::InvalidArgumentError(absl::StrCat("duration out of range '", s, "'"));
  }
  const absl::string_view unit = s.substr(digits);
  int64_t factor = 0;
  if (unit.empty() || unit == "ms") {
    factor = 1;
  } else if (unit == "s") {
    factor = 1000;
  } else if (unit == "m") {
    factor = 60 * 1000;
  } else if (unit == "h") {
    factor = 3600 * 1000;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("bad duration unit in '", s, "' (use ms, s, m, h)"));
  }
  int64_t ms = 0;
  if (__builtin_mul_overflow(n, factor, &ms)) {
    return absl::InvalidArgumentError(absl::StrCat("duration out of range '", s, "'"));
  }
  return std::chrono::milliseconds(ms);
}

}  // namespace orderly
