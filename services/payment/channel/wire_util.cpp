#include "channel/wire_util.hpp"

#include "orderly/core/absl_compat.hpp"

namespace orderly::payment::wire {

absl::StatusOr<nlohmann::json> ParseJsonObject(std::string_view text) {
  if (text.empty() || text.size() > (1 << 20))
    return absl::InvalidArgumentError("json: empty or too large");
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("json: not valid JSON (or not UTF-8)");
  if (!j.is_object()) return absl::InvalidArgumentError("json: not an object");
  return j;
}

namespace {
const nlohmann::json* Find(const nlohmann::json& obj, std::string_view path) {
  const nlohmann::json* cur = &obj;
  while (true) {
    if (!cur->is_object()) return nullptr;
    const size_t dot = path.find('.');
    auto it = cur->find(std::string(path.substr(0, dot)));
    if (it == cur->end()) return nullptr;
    cur = &*it;
    if (dot == std::string_view::npos) return cur;
    path.remove_prefix(dot + 1);
  }
}
}  // namespace

std::string JsonString(const nlohmann::json& obj, std::string_view path) {
  const auto* v = Find(obj, path);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

std::optional<int64_t> JsonInt(const nlohmann::json& obj, std::string_view path) {
  const auto* v = Find(obj, path);
  if (v == nullptr || !v->is_number_integer()) return std::nullopt;
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    return std::nullopt;
  return v->get<int64_t>();
}

std::string DumpJson(const Json& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

std::optional<std::string> RawJsonMember(std::string_view json, std::string_view key) {
  // Walks the top-level object, skipping strings and nested values, so a key inside a string or a
  // nested object never matches.
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < json.size() &&
           (json[i] == ' ' || json[i] == '\n' || json[i] == '\r' || json[i] == '\t'))
      ++i;
  };
  auto skip_string = [&]() -> bool {
    if (i >= json.size() || json[i] != '"') return false;
    for (++i; i < json.size(); ++i) {
      if (json[i] == '\\') {
        ++i;
        continue;
      }
      if (json[i] == '"') {
        ++i;
        return true;
      }
    }
    return false;
  };
  auto skip_value = [&]() -> bool {
    skip_ws();
    if (i >= json.size()) return false;
    if (json[i] == '"') return skip_string();
    if (json[i] == '{' || json[i] == '[') {
      int depth = 0;
      while (i < json.size()) {
        char c = json[i];
        if (c == '"') {
          if (!skip_string()) return false;
          continue;
        }
        if (c == '{' || c == '[') ++depth;
        if (c == '}' || c == ']') {
          --depth;
          if (depth == 0) {
            ++i;
            return true;
          }
        }
        ++i;
      }
      return false;
    }
    while (i < json.size() && json[i] != ',' && json[i] != '}') ++i;
    return true;
  };
  skip_ws();
  if (i >= json.size() || json[i] != '{') return std::nullopt;
  ++i;
  while (i < json.size()) {
    skip_ws();
    size_t kstart = i;
    if (!skip_string()) return std::nullopt;
    std::string_view k = json.substr(kstart + 1, i - kstart - 2);
    skip_ws();
    if (i >= json.size() || json[i] != ':') return std::nullopt;
    ++i;
    skip_ws();
    size_t vstart = i;
    if (!skip_value()) return std::nullopt;
    size_t vend = i;
    while (vend > vstart && (json[vend - 1] == ' ' || json[vend - 1] == '\n')) --vend;
    if (k == key) return std::string(json.substr(vstart, vend - vstart));
    skip_ws();
    if (i < json.size() && json[i] == ',') {
      ++i;
      continue;
    }
    return std::nullopt;
  }
  return std::nullopt;
}

namespace {
int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
absl::StatusOr<std::string> UrlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return absl::InvalidArgumentError("form: truncated %-escape");
      int h = HexVal(s[i + 1]), l = HexVal(s[i + 2]);
      if (h < 0 || l < 0) return absl::InvalidArgumentError("form: bad %-escape");
      out.push_back(static_cast<char>(h * 16 + l));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}
}  // namespace

absl::StatusOr<Params> ParseFormStrict(std::string_view body) {
  Params out;
  if (body.empty()) return absl::InvalidArgumentError("form: empty body");
  while (!body.empty()) {
    size_t amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) return absl::InvalidArgumentError("form: field without '='");
    auto k = UrlDecode(pair.substr(0, eq));
    if (!k.ok()) return k.status();
    auto v = UrlDecode(pair.substr(eq + 1));
    if (!v.ok()) return v.status();
    if (!IsValidUtf8(*k) || !IsValidUtf8(*v)) return absl::InvalidArgumentError("form: not UTF-8");
    if (!out.emplace(std::move(*k), std::move(*v)).second) {
      return absl::InvalidArgumentError("form: repeated field");
    }
  }
  return out;
}

std::string UrlEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string EncodeForm(const Params& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += "&";
    out += UrlEncode(k) + "=" + UrlEncode(v);
  }
  return out;
}

std::string CanonicalParams(const Params& params, std::initializer_list<std::string_view> exclude,
                            EmptyValues empty) {
  std::string out;
  for (const auto& [k, v] : params) {
    bool skip = v.empty() && empty == EmptyValues::kSkip;
    for (auto e : exclude) skip = skip || k == e;
    if (skip) continue;
    if (!out.empty()) out += "&";
    out += k + "=" + v;
  }
  return out;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n;
    if (c < 0x80)
      n = 0;
    else if (c >= 0xC2 && c <= 0xDF)
      n = 1;
    else if ((c >> 4) == 0xE)
      n = 2;
    else if (c >= 0xF0 && c <= 0xF4)
      n = 3;
    else
      return false;
    if (i + n >= s.size() && n > 0) return false;
    for (size_t j = 1; j <= n; ++j) {
      if ((static_cast<unsigned char>(s[i + j]) >> 6) != 2) return false;
    }
    i += n + 1;
  }
  return true;
}

std::string FormatYuan(int64_t minor) {
  bool neg = minor < 0;
  uint64_t m = neg ? static_cast<uint64_t>(-(minor + 1)) + 1 : static_cast<uint64_t>(minor);
  char buf[40];
  snprintf(buf, sizeof(buf), "%s%llu.%02llu", neg ? "-" : "",
           static_cast<unsigned long long>(m / 100), static_cast<unsigned long long>(m % 100));
  return buf;
}

absl::StatusOr<int64_t> ParseYuan(std::string_view s) {
  if (s.empty() || s.size() > 20) return absl::InvalidArgumentError("amount: empty or too long");
  size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if (whole.empty() || (dot != std::string_view::npos && (frac.empty() || frac.size() > 2))) {
    return absl::InvalidArgumentError("amount: not a yuan amount with at most 2 decimals");
  }
  auto w = ParseInt64(whole);
  if (!w.ok()) return w.status();
  int64_t f = 0;
  for (char c : frac) {
    if (c < '0' || c > '9') return absl::InvalidArgumentError("amount: bad digit");
    f = f * 10 + (c - '0');
  }
  if (frac.size() == 1) f *= 10;
  if (*w > 90000000000000000LL) return absl::InvalidArgumentError("amount: too large");
  return *w * 100 + f;
}

absl::StatusOr<int64_t> ParseInt64(std::string_view s) {
  if (s.empty() || s.size() > 18) return absl::InvalidArgumentError("integer: empty or too long");
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return absl::InvalidArgumentError("integer: bad digit");
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace orderly::payment::wire
