#pragma once
// Signing strings of the three channel styles, merchant side. The channel sandbox has its own
// (services/channel-sandbox/src/channel_signatures.*), so the two check each other.
#include <absl/status/statusor.h>

#include <map>
#include <string>
#include <string_view>

#include "channel/crypto.hpp"
#include "channel/wire_util.hpp"

namespace orderly::payment::protocol {

// Alipay (RSA2), SHA256withRSA, Base64 over sorted k=v&...: a request signs its non-empty
// parameters without `sign`; a notification is verified over all its parameters without `sign` and
// `sign_type`, empty ones included as "k=" (as Alipay's SDKs verify them).
std::string AlipayRequestSigningString(const wire::Params& p);
std::string AlipayNotifySigningString(const wire::Params& p);
// A response {"<method>_response":{...},"sign":"..."} is signed over the exact node text.
std::string AlipayResponseKey(
    std::string_view method);  // "alipay.trade.query" -> "alipay_trade_query_response"

// WeChat Pay v3: request message "METHOD\nTARGET\nTIMESTAMP\nNONCE\nBODY\n" signed with the
// merchant key; responses and notifications "TIMESTAMP\nNONCE\nBODY\n" with the platform key.
std::string WechatRequestMessage(std::string_view method, std::string_view target,
                                 std::string_view timestamp, std::string_view nonce,
                                 std::string_view body);
std::string WechatResponseMessage(std::string_view timestamp, std::string_view nonce,
                                  std::string_view body);
inline constexpr char kWechatAuthScheme[] = "WECHATPAY2-SHA256-RSA2048";
std::string WechatAuthorization(std::string_view mchid, std::string_view serial,
                                std::string_view nonce, std::string_view timestamp,
                                std::string_view signature);
// mchid, nonce_str, timestamp, serial_no, signature; INVALID_ARGUMENT when malformed.
absl::StatusOr<std::map<std::string, std::string>> ParseWechatAuthorization(
    std::string_view header);

// UnionPay (signMethod 01): SHA-256 hex of the sorted k=v&... without `signature`, then
// SHA256withRSA of that hex string, Base64.
std::string UnionpaySigningString(const wire::Params& p);
absl::Status UnionpaySign(wire::Params& p, const crypto::KeyPtr& key);

}  // namespace orderly::payment::protocol
