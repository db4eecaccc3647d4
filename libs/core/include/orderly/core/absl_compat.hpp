#pragma once
// Debian's Abseil is built with its own absl::string_view and absl::optional (not the std ones), so
// a std::string_view does not convert to absl::string_view implicitly (absl::StrCat, absl::Status
// messages, SimpleAtoi). These spell the conversion once.
#include <absl/strings/string_view.h>

#include <string_view>

namespace orderly {

inline absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view FromAbsl(absl::string_view s) { return {s.data(), s.size()}; }

}  // namespace orderly
