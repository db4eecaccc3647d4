#pragma once
// The one validation layer every RPC of every service goes through (issue 12.3). Two tiers:
//  - CheckMessage walks any request message by reflection and bounds every string, bytes and
//    repeated field: ids refuse control characters (a NUL once truncated "x\0y" to "x" in SQL) and
//    are at most 128 bytes, free text is UTF-8 without control characters other than tab and line
//    breaks and at most 1000 characters. server::HandleCall runs it before any handler body.
//  - field checks (CheckId, CheckText, CheckRange, CheckAmount, CheckDate) that a service's glue
//    or domain uses for what reflection cannot know: required fields, numeric ranges, formats.
// Both add to a Violations list, so a request answers INVALID_ARGUMENT with BadRequest field
// violations and nothing is read or written. Bounded() is what error details and messages may
// carry of a client's input: never more than a few dozen bytes of it.
#include <absl/status/status.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "orderly/core/status.hpp"

namespace google::protobuf {
class Message;
}

namespace orderly::validation {

inline constexpr size_t kMaxIdBytes = 128;           // ids, request ids, codes
inline constexpr size_t kMaxTokenBytes = 1024;       // opaque page tokens
inline constexpr size_t kMaxTextChars = 1000;        // any other string, in code points
inline constexpr size_t kMaxBytesField = 64 * 1024;  // bytes fields (raw bodies)
inline constexpr int kMaxRepeated = 1000;            // elements of any repeated / map field
// Money: 10^12 minor units (10 billion in a 2-decimal currency). Sums of an order's lines
// (50 lines x 999 units) stay far inside int64.
inline constexpr int64_t kMaxAmountMinor = 1'000'000'000'000;
// What of a client's input an error detail or message may echo.
inline constexpr size_t kMaxEchoBytes = 64;

bool IsValidUtf8(std::string_view s);
size_t Utf8Length(std::string_view s);  // code points; only meaningful for valid UTF-8
// C0 controls and DEL; with allow_line_breaks, tab, LF and CR are allowed.
bool HasControlChars(std::string_view s, bool allow_line_breaks);

// A printable rendering of untrusted input in at most max_bytes: control characters and invalid
// UTF-8 become \xNN, a longer value is cut (on a character boundary) and says how long it was:
// "abc...(1048576 bytes)".
std::string Bounded(std::string_view s, size_t max_bytes = kMaxEchoBytes);

// An identifier: no control characters, at most max_bytes, valid UTF-8.
void CheckId(Violations& v, std::string_view field, std::string_view value, bool required,
             size_t max_bytes = kMaxIdBytes);
// Free text: valid UTF-8, at most max_chars code points, no control characters (tab, CR and LF
// too unless multiline).
void CheckText(Violations& v, std::string_view field, std::string_view value, size_t max_chars,
               bool required, bool multiline = false);
void CheckRange(Violations& v, std::string_view field, int64_t value, int64_t min, int64_t max);
// amount_minor within [min, kMaxAmountMinor].
void CheckAmount(Violations& v, std::string_view field, int64_t amount_minor, int64_t min = 0);
// A calendar date "YYYY-MM-DD" (years 1970..9999, real days only).
void CheckDate(Violations& v, std::string_view field, std::string_view value, bool required);

// A per-field exception to CheckMessage's defaults, by field path without indices
// ("body", "headers.value", "sku.product_name").
struct FieldRule {
  std::string path;
  size_t max_bytes = 0;  // 0 = default of the field's kind
  bool multiline = true;
  bool raw = false;  // no character checks at all (bytes fields always are)
};

// Every string/bytes/repeated field of m, recursively, against the defaults above (or `rules`).
// Fields named request_id, *_id, *_ids or *_code are ids, page_token a token, others text.
void CheckMessage(Violations& v, const google::protobuf::Message& m,
                  const std::vector<FieldRule>& rules = {});
// OK, or INVALID_ARGUMENT "invalid <Type> request" with the violations.
absl::Status ValidateMessage(const google::protobuf::Message& m,
                             const std::vector<FieldRule>& rules = {});

}  // namespace orderly::validation
