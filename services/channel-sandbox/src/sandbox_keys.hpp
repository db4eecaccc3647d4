#pragma once
// The sandbox's throwaway channel keys, created on first start in a key directory (never committed;
// default .local/channel-sandbox/keys). The sandbox keeps the channels' private keys; the payment
// service, started with --sandbox, reads only its merchant keys, the channels' public halves and
// channels.json (the merchant ids below) from the same directory. The file names are the contract
// between the two (docs/payment.md); no code is shared.
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <string>

namespace orderly::sandbox {

inline constexpr char kSandboxAlipayAppId[] = "2021000000000001";
inline constexpr char kSandboxWechatMchId[] = "1900000001";
inline constexpr char kSandboxWechatAppId[] = "wx0000000000000001";
inline constexpr char kSandboxWechatMerchantSerial[] = "5ANDB0XMERCHANT01";
inline constexpr char kSandboxWechatPlatformSerial[] = "5ANDB0XPLATF0RM01";
inline constexpr char kSandboxUnionpayMerId[] = "777290058110048";
// UnionPay's signing certificate names the channel in its CN ("中国银联股份有限公司" in
// production).
inline constexpr char kSandboxUnionpaySignerCn[] = "Orderly Sandbox UnionPay Signer";

// Creates the key files in dir unless present (safe against concurrent callers: flock + rename).
absl::Status EnsureSandboxKeys(const std::string& dir);

// Every file of the directory, PEM text (the APIv3 key as 32 characters).
struct SandboxKeys {
  std::string alipay_app_private, alipay_app_public, alipay_platform_private,
      alipay_platform_public;
  std::string wechat_merchant_private, wechat_merchant_public, wechat_platform_private,
      wechat_platform_public, wechat_apiv3_key;
  std::string unionpay_root_cert, unionpay_signer_cert, unionpay_signer_private,
      unionpay_merchant_cert, unionpay_merchant_private;
};
absl::StatusOr<SandboxKeys> LoadSandboxKeys(const std::string& dir);

// A fresh RSA-2048 key pair and a certificate, for tests that need a key nobody trusts.
struct KeyPair {
  std::string private_pem, public_pem;
};
absl::StatusOr<KeyPair> GenerateKeyPair();
// A self-signed certificate for a fresh key with the given CN; private_pem receives its key.
absl::StatusOr<std::string> SelfSignedCertificate(const std::string& common_name,
                                                  std::string* private_pem);

}  // namespace orderly::sandbox
