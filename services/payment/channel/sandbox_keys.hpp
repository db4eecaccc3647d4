#pragma once
// Throwaway keys for the channel sandbox: generated on first use into a directory (never
// committed; default .local/channel-sandbox/keys), read by the sandbox (channel side) and by the
// payment service (merchant side) so both ends sign and verify each other for real.
#include <string>

#include <absl/status/statusor.h>

#include "channel/channel.hpp"

namespace orderly::payment {

inline constexpr char kSandboxAlipayAppId[] = "2021000000000001";
inline constexpr char kSandboxWechatMchId[] = "1900000001";
inline constexpr char kSandboxWechatAppId[] = "wx0000000000000001";
inline constexpr char kSandboxWechatMerchantSerial[] = "5ANDB0XMERCHANT01";
inline constexpr char kSandboxWechatPlatformSerial[] = "5ANDB0XPLATF0RM01";
inline constexpr char kSandboxUnionpayMerId[] = "777290058110048";

// Creates the key files in dir unless present (safe against concurrent callers: flock + rename).
absl::Status EnsureSandboxKeys(const std::string& dir);

struct SandboxKeys {
  std::string alipay_app_private, alipay_app_public, alipay_platform_private, alipay_platform_public;
  std::string wechat_merchant_private, wechat_merchant_public, wechat_platform_private,
      wechat_platform_public, wechat_apiv3_key;
  std::string unionpay_root_cert, unionpay_signer_cert, unionpay_signer_private,
      unionpay_merchant_cert, unionpay_merchant_private;
};
absl::StatusOr<SandboxKeys> LoadSandboxKeys(const std::string& dir);

// Merchant-side configs pointing at a sandbox on sandbox_base ("http://127.0.0.1:9110") and
// notifying notify_base ("http://127.0.0.1:9103"), with keys from dir.
struct SandboxChannelConfigs {
  AlipayConfig alipay;
  WechatPayConfig wechat;
  UnionPayConfig unionpay;
};
absl::StatusOr<SandboxChannelConfigs> SandboxConfigs(const std::string& key_dir,
                                                     const std::string& sandbox_base,
                                                     const std::string& notify_base);

}  // namespace orderly::payment
