#include "channel_signatures.hpp"

#include <initializer_list>

namespace orderly::sandbox::signatures {
namespace {

// Sorted k=v&k=v (Fields is ordered by name), leaving out `skip` and, unless keep_empty, empty
// values.
std::string SortedPairs(const Fields& f, std::initializer_list<std::string_view> skip,
                        bool keep_empty) {
  std::string out;
  for (const auto& [name, value] : f) {
    bool left_out = value.empty() && !keep_empty;
    for (std::string_view s : skip) left_out = left_out || name == s;
    if (left_out) continue;
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

std::string Get(const Fields& f, const std::string& k) {
  auto it = f.find(k);
  return it == f.end() ? std::string() : it->second;
}

std::string UnionpayDigest(const Fields& f) {
  return crypto::Sha256Hex(SortedPairs(f, {"signature"}, false));
}

}  // namespace

bool AlipayRequestVerifies(const crypto::PKey& merchant_public, const Fields& request) {
  return crypto::RsaSha256Verify(merchant_public, SortedPairs(request, {"sign"}, false),
                                 Get(request, "sign"));
}

absl::StatusOr<std::string> AlipaySignNotification(const crypto::PKey& alipay_private,
                                                   const Fields& n) {
  return crypto::RsaSha256Sign(alipay_private, SortedPairs(n, {"sign", "sign_type"}, true));
}

absl::StatusOr<std::string> AlipayAnswer(const crypto::PKey& alipay_private,
                                         std::string_view method,
                                         const nlohmann::ordered_json& node) {
  std::string key(method);
  for (char& c : key) {
    if (c == '.') c = '_';
  }
  key += "_response";
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  auto sign = crypto::RsaSha256Sign(alipay_private, node.dump(-1, ' ', false, kReplace));
  if (!sign.ok()) return sign.status();
  // The same compact serialization writes the node inside the answer, so the signed bytes are the
  // node's bytes as sent.
  return nlohmann::ordered_json{{key, node}, {"sign", *sign}}.dump(-1, ' ', false, kReplace);
}

absl::StatusOr<WechatAuthorization> ParseWechatAuthorization(std::string_view header) {
  constexpr std::string_view kScheme = "WECHATPAY2-SHA256-RSA2048 ";
  if (header.substr(0, kScheme.size()) != kScheme)
    return absl::InvalidArgumentError("not WECHATPAY2-SHA256-RSA2048");
  header.remove_prefix(kScheme.size());
  WechatAuthorization a;
  Fields seen;
  while (!header.empty()) {
    const size_t eq = header.find('=');
    if (eq == std::string_view::npos || eq + 1 >= header.size() || header[eq + 1] != '"') {
      return absl::InvalidArgumentError("Authorization: expected name=\"value\"");
    }
    std::string name(header.substr(0, eq));
    while (!name.empty() && name.front() == ' ') name.erase(0, 1);
    const size_t close = header.find('"', eq + 2);
    if (close == std::string_view::npos)
      return absl::InvalidArgumentError("Authorization: unterminated value");
    seen[name] = std::string(header.substr(eq + 2, close - eq - 2));
    header.remove_prefix(close + 1);
    if (!header.empty() && header.front() == ',') header.remove_prefix(1);
  }
  for (auto [name, out] :
       {std::pair{"mchid", &a.mchid}, std::pair{"nonce_str", &a.nonce_str},
        std::pair{"timestamp", &a.timestamp}, std::pair{"serial_no", &a.serial_no},
        std::pair{"signature", &a.signature}}) {
    auto it = seen.find(name);
    if (it == seen.end())
      return absl::InvalidArgumentError(std::string("Authorization without ") + name);
    *out = it->second;
  }
  return a;
}

bool WechatRequestVerifies(const crypto::PKey& merchant_public, const WechatAuthorization& auth,
                           std::string_view method, std::string_view url, std::string_view body) {
  std::string message;
  for (std::string_view line :
       {method, url, std::string_view(auth.timestamp), std::string_view(auth.nonce_str), body}) {
    message.append(line).push_back('\n');
  }
  return crypto::RsaSha256Verify(merchant_public, message, auth.signature);
}

absl::StatusOr<std::string> WechatPlatformSignature(const crypto::PKey& platform_private,
                                                    std::string_view timestamp,
                                                    std::string_view nonce, std::string_view body) {
  std::string message;
  for (std::string_view line : {timestamp, nonce, body}) message.append(line).push_back('\n');
  return crypto::RsaSha256Sign(platform_private, message);
}

absl::StatusOr<nlohmann::ordered_json> WechatSealResource(std::string_view apiv3_key,
                                                          std::string_view original_type,
                                                          std::string_view plaintext) {
  const std::string nonce = crypto::RandomToken(12);
  auto sealed = crypto::Aes256GcmSeal(apiv3_key, nonce, original_type, plaintext);
  if (!sealed.ok()) return sealed.status();
  return nlohmann::ordered_json{{"original_type", original_type},
                                {"algorithm", "AEAD_AES_256_GCM"},
                                {"ciphertext", crypto::ToBase64(*sealed)},
                                {"associated_data", original_type},
                                {"nonce", nonce}};
}

bool UnionpayVerifies(const crypto::PKey& signer_public, const Fields& message) {
  return crypto::RsaSha256Verify(signer_public, UnionpayDigest(message), Get(message, "signature"));
}

absl::Status UnionpaySign(const crypto::PKey& signer_private, Fields& message) {
  message.erase("signature");
  auto sig = crypto::RsaSha256Sign(signer_private, UnionpayDigest(message));
  if (!sig.ok()) return sig.status();
  message["signature"] = *sig;
  return absl::OkStatus();
}

}  // namespace orderly::sandbox::signatures
