// Every ErrorInfo.reason a service sends is the name of a value of orderly.common.v1.ErrorReason
// (docs/api.md): clients switch on it. This scans the sources for the helpers that set a reason
// (ErrorWithInfo, NotFoundError, FailedPreconditionError, the state machines' Next) and checks each
// literal reason against the enum's descriptor. Issue 12.5: ACTOR_NOT_ALLOWED was one that is not.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "orderly/common/v1/error_reason.pb.h"

namespace orderly {
namespace {

namespace fs = std::filesystem;

// The argument texts of the call whose '(' is at `open`, split at top-level commas.
std::vector<std::string> Arguments(const std::string& text, size_t open) {
  std::vector<std::string> args;
  std::string current;
  int depth = 0;
  for (size_t i = open; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {  // a string literal, escapes included
      size_t j = i + 1;
      while (j < text.size() && text[j] != '"') j += text[j] == '\\' ? 2 : 1;
      current += text.substr(i, j - i + 1);
      i = j;
      continue;
    }
    if (c == '(' || c == '{' || c == '[') {
      if (depth++ == 0) continue;
    } else if (c == ')' || c == '}' || c == ']') {
      if (--depth == 0) {
        args.push_back(current);
        return args;
      }
    } else if (c == ',' && depth == 1) {
      args.push_back(current);
      current.clear();
      continue;
    }
    current += c;
  }
  return {};
}

// "ORDER_NOT_FOUND" when the argument is exactly such a literal, else "".
std::string ReasonLiteral(std::string arg) {
  const size_t b = arg.find_first_not_of(" \t\n");
  const size_t e = arg.find_last_not_of(" \t\n");
  if (b == std::string::npos) return "";
  arg = arg.substr(b, e - b + 1);
  if (arg.size() < 3 || arg.front() != '"' || arg.back() != '"') return "";
  std::string inner = arg.substr(1, arg.size() - 2);
  for (char c : inner) {
    if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return "";
  }
  return inner;
}

struct Use {
  std::string reason, where;
};

std::vector<Use> ReasonsUsed(const fs::path& root) {
  // Call name -> position of the reason among its arguments.
  const std::map<std::string, size_t> kSetters = {
      {"ErrorWithInfo(", 2}, {"NotFoundError(", 2}, {"FailedPreconditionError(", 0}, {"Next(", 3}};
  std::vector<Use> out;
  for (const char* top : {"libs", "services"}) {
    for (const auto& entry : fs::recursive_directory_iterator(root / top)) {
      const fs::path& p = entry.path();
      const bool source = p.extension() == ".cpp" || p.extension() == ".hpp";
      if (!entry.is_regular_file() || !source) continue;
      if (p.string().find("/tests/") != std::string::npos) continue;
      std::ifstream in(p);
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string text = ss.str();
      for (const auto& [name, position] : kSetters) {
        for (size_t at = text.find(name); at != std::string::npos; at = text.find(name, at + 1)) {
          // absl::NotFoundError("...") is not ours and sets no reason.
          if (at >= 6 && text.compare(at - 6, 6, "absl::") == 0) continue;
          const auto args = Arguments(text, at + name.size() - 1);
          if (args.size() <= position) continue;
          const std::string reason = ReasonLiteral(args[position]);
          if (reason.empty()) continue;
          const size_t line = std::count(text.begin(), text.begin() + at, '\n') + 1;
          out.push_back({reason, fs::relative(p, root).string() + ":" + std::to_string(line)});
        }
      }
    }
  }
  return out;
}

TEST(ErrorReasonsTest, EveryReasonTheCodeSendsIsAnErrorReasonValue) {
  const std::vector<Use> uses = ReasonsUsed(ORDERLY_SOURCE_DIR);
  // The scan finds the reasons (a broken scan would pass vacuously).
  std::set<std::string> distinct;
  for (const Use& u : uses) distinct.insert(u.reason);
  EXPECT_GE(distinct.size(), 30u);
  EXPECT_TRUE(distinct.count("ORDER_NOT_FOUND"));
  EXPECT_TRUE(distinct.count("INSUFFICIENT_STOCK"));
  for (const Use& u : uses) {
    common::v1::ErrorReason value;
    EXPECT_TRUE(common::v1::ErrorReason_Parse(u.reason, &value) &&
                value != common::v1::ERROR_REASON_UNSPECIFIED)
        << u.where << ": reason " << u.reason << " is not a value of orderly.common.v1.ErrorReason";
  }
}

TEST(ErrorReasonsTest, TheScanReadsArgumentsAsTheCompilerDoes) {
  const std::string text = R"(ErrorWithInfo(absl::StatusCode::kAborted, StrCat("a, b", f(1, 2)),
      "STALE_VERSION", {{"k", "PAID"}}))";
  const auto args = Arguments(text, text.find('('));
  ASSERT_EQ(args.size(), 4u);
  EXPECT_EQ(ReasonLiteral(args[2]), "STALE_VERSION");
  EXPECT_EQ(ReasonLiteral(args[1]), "");
}

}  // namespace
}  // namespace orderly
