#pragma once
// Small helpers for the channels' wire formats: JSON read through google.protobuf.Struct (no extra
// dependency; numbers are doubles, exact for amounts below 2^53), JSON writing, form bodies,
// sorted "k=v&k=v" signing strings, yuan amounts, UTF-8 checks.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <absl/status/statusor.h>
#include <google/protobuf/struct.pb.h>

namespace orderly::payment::wire {

using Params = std::map<std::string, std::string>;

absl::StatusOr<google::protobuf::Struct> ParseJsonObject(std::string_view text);
// Dotted path ("amount.total"); "" / nullopt when absent or of another type.
std::string JsonString(const google::protobuf::Struct& obj, std::string_view path);
std::optional<int64_t> JsonInt(const google::protobuf::Struct& obj, std::string_view path);
std::string JsonQuote(std::string_view s);
// The exact text of a top-level member's value, for signatures over the bytes as sent.
std::optional<std::string> RawJsonMember(std::string_view json, std::string_view key);

// An object written in insertion order.
class JsonObject {
 public:
  JsonObject& Str(std::string_view k, std::string_view v);
  JsonObject& Int(std::string_view k, int64_t v);
  JsonObject& Raw(std::string_view k, std::string_view json);
  std::string Build() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

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
