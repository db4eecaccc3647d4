#include "channel/protocol.hpp"

#include "orderly/core/absl_compat.hpp"

namespace orderly::payment::protocol {

std::string AlipayRequestSigningString(const wire::Params& p) {
  return wire::CanonicalParams(p, {"sign"}, wire::EmptyValues::kSkip);
}
std::string AlipayNotifySigningString(const wire::Params& p) {
  return wire::CanonicalParams(p, {"sign", "sign_type"}, wire::EmptyValues::kKeep);
}
std::string AlipayResponseKey(std::string_view method) {
  std::string k(method);
  for (auto& c : k)
    if (c == '.') c = '_';
  return k + "_response";
}

std::string WechatRequestMessage(std::string_view method, std::string_view target,
                                 std::string_view timestamp, std::string_view nonce,
                                 std::string_view body) {
  std::string m;
  m.append(method).append("\n").append(target).append("\n").append(timestamp).append("\n");
  m.append(nonce).append("\n").append(body).append("\n");
  return m;
}
std::string WechatResponseMessage(std::string_view timestamp, std::string_view nonce,
                                  std::string_view body) {
  std::string m;
  m.append(timestamp).append("\n").append(nonce).append("\n").append(body).append("\n");
  return m;
}
std::string WechatAuthorization(std::string_view mchid, std::string_view serial,
                                std::string_view nonce, std::string_view timestamp,
                                std::string_view signature) {
  std::string h(kWechatAuthScheme);
  h.append(" mchid=\"").append(mchid).append("\",nonce_str=\"").append(nonce);
  h.append("\",signature=\"").append(signature).append("\",timestamp=\"").append(timestamp);
  h.append("\",serial_no=\"").append(serial).append("\"");
  return h;
}
absl::StatusOr<std::map<std::string, std::string>> ParseWechatAuthorization(std::string_view h) {
  std::string_view scheme(kWechatAuthScheme);
  if (h.substr(0, scheme.size()) != scheme)
    return absl::InvalidArgumentError("unknown auth scheme");
  h.remove_prefix(scheme.size());
  std::map<std::string, std::string> out;
  while (!h.empty()) {
    while (!h.empty() && (h.front() == ' ' || h.front() == ',')) h.remove_prefix(1);
    if (h.empty()) break;
    size_t eq = h.find("=\"");
    if (eq == std::string_view::npos) return absl::InvalidArgumentError("bad auth parameter");
    std::string key(h.substr(0, eq));
    h.remove_prefix(eq + 2);
    size_t q = h.find('"');
    if (q == std::string_view::npos) return absl::InvalidArgumentError("unterminated auth value");
    out[key] = std::string(h.substr(0, q));
    h.remove_prefix(q + 1);
  }
  for (const char* k : {"mchid", "nonce_str", "timestamp", "serial_no", "signature"}) {
    if (!out.count(k)) return absl::InvalidArgumentError(ToAbsl(std::string("auth lacks ") + k));
  }
  return out;
}

std::string UnionpaySigningString(const wire::Params& p) {
  return crypto::Sha256Hex(wire::CanonicalParams(p, {"signature"}, wire::EmptyValues::kSkip));
}
absl::Status UnionpaySign(wire::Params& p, const crypto::KeyPtr& key) {
  p.erase("signature");
  auto sig = crypto::SignSha256Rsa(key, UnionpaySigningString(p));
  if (!sig.ok()) return sig.status();
  p["signature"] = *sig;
  return absl::OkStatus();
}

}  // namespace orderly::payment::protocol
