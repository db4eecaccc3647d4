#pragma once
// The channels' signature schemes, channel side, written from their published specifications:
//  - Alipay open platform, RSA2: SHA256withRSA over the parameters sorted by name and joined as
//    k=v&k=v. A merchant's request is checked over every non-empty parameter but `sign`; an
//    asynchronous notification is signed over every parameter but `sign` and `sign_type` (empty
//    values as "k=", which is how Alipay's SDKs check it); an API answer is signed over the exact
//    text of its "<method>_response" node.
//  - WeChat Pay API v3: the merchant's Authorization header "WECHATPAY2-SHA256-RSA2048 mchid=..,
//    nonce_str=..,signature=..,timestamp=..,serial_no=.." signs
//    "METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n"; the platform signs answers and notifications as
//    "TIMESTAMP\nNONCE\nBODY\n" in Wechatpay-* headers; a notification's resource is
//    AEAD_AES_256_GCM-sealed with the APIv3 key.
//  - UnionPay online gateway 5.1.0, signMethod 01: SHA256withRSA over the lower-case SHA-256 hex of
//    the non-empty fields but `signature`, sorted and joined as k=v&k=v.
#include <absl/status/statusor.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "channel_wire.hpp"
#include "sandbox_crypto.hpp"

namespace orderly::sandbox::signatures {

// Alipay
bool AlipayRequestVerifies(const crypto::PKey& merchant_public, const Fields& request);
absl::StatusOr<std::string> AlipaySignNotification(const crypto::PKey& alipay_private,
                                                   const Fields& notification);
// {"<method with '.' as '_'>_response":<node>,"sign":"..."} for an API answer.
absl::StatusOr<std::string> AlipayAnswer(const crypto::PKey& alipay_private,
                                         std::string_view method,
                                         const nlohmann::ordered_json& node);

// WeChat Pay v3
struct WechatAuthorization {
  std::string mchid, nonce_str, timestamp, serial_no, signature;
};
absl::StatusOr<WechatAuthorization> ParseWechatAuthorization(std::string_view header);
bool WechatRequestVerifies(const crypto::PKey& merchant_public, const WechatAuthorization& auth,
                           std::string_view method, std::string_view url_path_and_query,
                           std::string_view body);
// The Wechatpay-Signature value over timestamp, nonce and body.
absl::StatusOr<std::string> WechatPlatformSignature(const crypto::PKey& platform_private,
                                                    std::string_view timestamp,
                                                    std::string_view nonce, std::string_view body);
// {"algorithm":"AEAD_AES_256_GCM","ciphertext":...,"associated_data":...,"original_type":...,"nonce":...}
absl::StatusOr<nlohmann::ordered_json> WechatSealResource(std::string_view apiv3_key,
                                                          std::string_view original_type,
                                                          std::string_view plaintext);

// UnionPay 5.1.0
bool UnionpayVerifies(const crypto::PKey& signer_public, const Fields& message);
// Sets `signature` (replacing one present).
absl::Status UnionpaySign(const crypto::PKey& signer_private, Fields& message);

}  // namespace orderly::sandbox::signatures
