#pragma once
// Small helpers for the channels' wire formats: JSON through nlohmann-json (integers are read and
// written as int64, never through a double), form bodies, sorted "k=v&k=v" signing strings, yuan
// amounts, UTF-8 checks.
#include <absl/status/statusor.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace orderly::payment::wire {

using Params = std::map<std::string, std::string>;

// Objects we write keep their members in the order the channels document them.
using Json = nlohmann::ordered_json;

// A JSON object (INVALID_ARGUMENT for anything else, for invalid UTF-8 or over 1 MiB).
absl::StatusOr<nlohmann::json> ParseJsonObject(std::string_view text);
// Dotted path ("amount.total"); "" / nullopt when absent or of another type. An integer is only
// an integer: 12.0 or 1e3 is not an amount.
std::string JsonString(const nlohmann::json& obj, std::string_view path);
std::optional<int64_t> JsonInt(const nlohmann::json& obj, std::string_view path);
// Compact text; never throws (a string that is not UTF-8 is written with U+FFFD).
std::string DumpJson(const Json& value);
// The exact text of a top-level member's value, for a signature over the bytes as sent (Alipay
// signs the "<method>_response" node as it appears in the answer). nlohmann-json cannot give the
// bytes back (re-serializing changes escapes and spacing); this walks the validated text instead,
// as Alipay's own SDKs do.
std::optional<std::string> RawJsonMember(std::string_view json, std::string_view key);

// application/x-www-form-urlencoded. Strict: a bad %-escape, a key without '=', a repeated key
// or a value that is not UTF-8 is INVALID_ARGUMENT.
absl::StatusOr<Params> ParseFormStrict(std::string_view body);
std::string EncodeForm(const Params& params);
std::string UrlEncode(std::string_view s);
// "a=1&b=2" over keys in byte order, skipping `exclude` (Alipay, UnionPay). The channels' SDKs drop
// empty values when they sign a request, but keep them as "k=" when they verify what the channel
// signed (Alipay's checkNotifySign / getSignCheckContentV1).
enum class EmptyValues { kSkip, kKeep };
std::string CanonicalParams(const Params& params, std::initializer_list<std::string_view> exclude,
                            EmptyValues empty);

bool IsValidUtf8(std::string_view s);

// "12.34" <-> 1234 (two decimals; the CN channels bill in yuan).
std::string FormatYuan(int64_t minor);
absl::StatusOr<int64_t> ParseYuan(std::string_view s);
absl::StatusOr<int64_t> ParseInt64(std::string_view s);

}  // namespace orderly::payment::wire
