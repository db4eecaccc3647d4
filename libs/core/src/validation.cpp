#include "orderly/core/validation.hpp"

#include <absl/strings/str_cat.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

namespace orderly::validation {
namespace {

using google::protobuf::FieldDescriptor;

// Length of the UTF-8 sequence starting at s[i], or 0 when it is not a valid one.
size_t Utf8SequenceAt(std::string_view s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  uint32_t cp = 0;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
      (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
    return 0;
  }
  return len;
}

bool IsControl(unsigned char c, bool allow_line_breaks) {
  if (allow_line_breaks && (c == '\t' || c == '\n' || c == '\r')) return false;
  return c < 0x20 || c == 0x7F;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

enum class Kind { kId, kToken, kText, kBytes };

Kind KindOf(const FieldDescriptor& f, bool map_key) {
  if (f.type() == FieldDescriptor::TYPE_BYTES) return Kind::kBytes;
  if (map_key) return Kind::kId;
  const std::string& name = f.name();
  if (name == "page_token" || name == "next_page_token") return Kind::kToken;
  if (EndsWith(name, "_id") || EndsWith(name, "_ids") || EndsWith(name, "_code")) return Kind::kId;
  return Kind::kText;
}

const FieldRule* RuleFor(const std::vector<FieldRule>& rules, const std::string& path) {
  for (const FieldRule& r : rules) {
    if (r.path == path) return &r;
  }
  return nullptr;
}

void CheckString(Violations& v, const std::string& field, const std::string& rule_path,
                 std::string_view value, Kind kind, const std::vector<FieldRule>& rules) {
  const FieldRule* rule = RuleFor(rules, rule_path);
  if (kind == Kind::kBytes || (rule != nullptr && rule->raw)) {
    const size_t max = rule != nullptr && rule->max_bytes > 0 ? rule->max_bytes : kMaxBytesField;
    if (value.size() > max) v.Add(field, absl::StrCat("must be at most ", max, " bytes"));
    return;
  }
  switch (kind) {
    case Kind::kId:
      CheckId(v, field, value, false,
              rule != nullptr && rule->max_bytes > 0 ? rule->max_bytes : kMaxIdBytes);
      return;
    case Kind::kToken: CheckId(v, field, value, false, kMaxTokenBytes); return;
    default: break;
  }
  if (rule != nullptr && rule->max_bytes > 0) {
    if (value.size() > rule->max_bytes) {
      v.Add(field, absl::StrCat("must be at most ", rule->max_bytes, " bytes"));
    } else if (!IsValidUtf8(value)) {
      v.Add(field, "must be valid UTF-8");
    } else if (HasControlChars(value, rule->multiline)) {
      v.Add(field, "must not contain control characters");
    }
    return;
  }
  CheckText(v, field, value, kMaxTextChars, false, /*multiline=*/true);
}

void Walk(Violations& v, const google::protobuf::Message& m, const std::string& prefix,
          const std::string& rule_prefix, const std::vector<FieldRule>& rules, bool is_map_entry) {
  const auto* refl = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  refl->ListFields(m, &fields);  // set fields only: cheap on small requests
  for (const FieldDescriptor* f : fields) {
    const std::string name = prefix.empty() ? f->name() : absl::StrCat(prefix, ".", f->name());
    const std::string rule_path =
        rule_prefix.empty() ? f->name() : absl::StrCat(rule_prefix, ".", f->name());
    const bool map_key = is_map_entry && f->number() == 1;
    if (f->is_repeated()) {
      const int n = refl->FieldSize(m, f);
      if (n > kMaxRepeated) {
        v.Add(name, absl::StrCat("at most ", kMaxRepeated, " elements"));
        continue;
      }
      for (int i = 0; i < n; ++i) {
        const std::string at = absl::StrCat(name, "[", i, "]");
        if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
          std::string scratch;
          const std::string& s = refl->GetRepeatedStringReference(m, f, i, &scratch);
          CheckString(v, at, rule_path, s, KindOf(*f, false), rules);
        } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          Walk(v, refl->GetRepeatedMessage(m, f, i), at, rule_path, rules, f->is_map());
        }
      }
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      std::string scratch;
      const std::string& s = refl->GetStringReference(m, f, &scratch);
      CheckString(v, name, rule_path, s, KindOf(*f, map_key), rules);
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      Walk(v, refl->GetMessage(m, f), name, rule_path, rules, false);
    }
  }
}

bool Digits(std::string_view s, size_t from, size_t n, int* out) {
  int x = 0;
  for (size_t i = from; i < from + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    x = x * 10 + (s[i] - '0');
  }
  *out = x;
  return true;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t len = Utf8SequenceAt(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

bool HasControlChars(std::string_view s, bool allow_line_breaks) {
  for (unsigned char c : s) {
    if (IsControl(c, allow_line_breaks)) return true;
  }
  return false;
}

namespace {
// s rendered printable into at most `limit` bytes; *consumed = how much of s that took.
std::string Printable(std::string_view s, size_t limit, size_t* consumed) {
  std::string out;
  out.reserve(std::min(s.size(), limit));
  size_t i = 0;
  while (i < s.size()) {
    const size_t len = Utf8SequenceAt(s, i);
    const bool printable = len > 1 || (len == 1 && !IsControl(s[i], false) && s[i] != '\\');
    const size_t width = printable ? len : 4;
    if (out.size() + width > limit) break;
    if (printable) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      const unsigned char c = static_cast<unsigned char>(s[i]);
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
      ++i;
    }
  }
  *consumed = i;
  return out;
}
}  // namespace

std::string Bounded(std::string_view s, size_t max_bytes) {
  size_t consumed = 0;
  std::string out = Printable(s, max_bytes, &consumed);
  if (consumed == s.size()) return out;
  const std::string suffix = absl::StrCat("...(", s.size(), " bytes)");
  out = Printable(s, max_bytes > suffix.size() ? max_bytes - suffix.size() : 0, &consumed);
  return out + suffix;
}

void CheckId(Violations& v, std::string_view field, std::string_view value, bool required,
             size_t max_bytes) {
  if (value.empty()) {
    if (required) v.Add(std::string(field), "is required");
    return;
  }
  if (value.size() > max_bytes) {
    v.Add(std::string(field), absl::StrCat("must be at most ", max_bytes, " bytes"));
  } else if (HasControlChars(value, false)) {
    v.Add(std::string(field), "must not contain control characters");
  } else if (!IsValidUtf8(value)) {
    v.Add(std::string(field), "must be valid UTF-8");
  }
}

void CheckText(Violations& v, std::string_view field, std::string_view value, size_t max_chars,
               bool required, bool multiline) {
  if (value.empty()) {
    if (required) v.Add(std::string(field), "is required");
    return;
  }
  // A UTF-8 character is at most 4 bytes: longer input is refused before it is scanned.
  if (value.size() > 4 * max_chars) {
    v.Add(std::string(field), absl::StrCat("must be at most ", max_chars, " characters"));
    return;
  }
  if (!IsValidUtf8(value)) {
    v.Add(std::string(field), "must be valid UTF-8");
    return;
  }
  if (Utf8Length(value) > max_chars) {
    v.Add(std::string(field), absl::StrCat("must be at most ", max_chars, " characters"));
    return;
  }
  if (HasControlChars(value, multiline)) {
    v.Add(std::string(field), "must not contain control characters");
  }
}

void CheckRange(Violations& v, std::string_view field, int64_t value, int64_t min, int64_t max) {
  if (value < min || value > max) {
    v.Add(std::string(field), absl::StrCat("must be between ", min, " and ", max));
  }
}

void CheckAmount(Violations& v, std::string_view field, int64_t amount_minor, int64_t min) {
  CheckRange(v, field, amount_minor, min, kMaxAmountMinor);
}

void CheckDate(Violations& v, std::string_view field, std::string_view value, bool required) {
  if (value.empty()) {
    if (required) v.Add(std::string(field), "is required (YYYY-MM-DD)");
    return;
  }
  int y = 0, m = 0, d = 0;
  const bool shape = value.size() == 10 && value[4] == '-' && value[7] == '-' &&
                     Digits(value, 0, 4, &y) && Digits(value, 5, 2, &m) && Digits(value, 8, 2, &d);
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (!shape || y < 1970 || m < 1 || m > 12 || d < 1 ||
      d > kDays[m - 1] + (m == 2 && leap ? 1 : 0)) {
    v.Add(std::string(field), "must be a date YYYY-MM-DD");
  }
}

void CheckMessage(Violations& v, const google::protobuf::Message& m,
                  const std::vector<FieldRule>& rules) {
  Walk(v, m, "", "", rules, false);
}

absl::Status ValidateMessage(const google::protobuf::Message& m,
                             const std::vector<FieldRule>& rules) {
  Violations v;
  CheckMessage(v, m, rules);
  return v.ToStatus(absl::StrCat("invalid ", m.GetDescriptor()->name()));
}

}  // namespace orderly::validation
