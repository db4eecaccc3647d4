#include "channel/sandbox_keys.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "channel/crypto.hpp"
#include "channel/protocol.hpp"
#include "orderly/core/absl_compat.hpp"

namespace orderly::payment {
namespace {

absl::Status WriteFileAtomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::UnavailableError(ToAbsl("cannot write " + tmp));
    out << content;
  }
  ::chmod(tmp.c_str(), 0600);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return absl::UnavailableError(ToAbsl("cannot rename " + tmp));
  return absl::OkStatus();
}

absl::Status Generate(const std::string& dir) {
  auto w = [&](const std::string& name, const std::string& content) { return WriteFileAtomic(dir + "/" + name, content); };
  for (const char* who : {"alipay_app", "alipay_platform", "wechat_merchant", "wechat_platform"}) {
    auto k = crypto::GenerateRsaKey(2048);
    if (!k.ok()) return k.status();
    if (auto s = w(std::string(who) + "_private.pem", crypto::PrivateKeyPem(*k)); !s.ok()) return s;
    if (auto s = w(std::string(who) + "_public.pem", crypto::PublicKeyPem(*k)); !s.ok()) return s;
  }
  if (auto s = w("wechat_apiv3.key", crypto::RandomAlnum(32)); !s.ok()) return s;
  auto root_key = crypto::GenerateRsaKey(2048);
  if (!root_key.ok()) return root_key.status();
  auto root = crypto::MakeCertificatePem(*root_key, "Orderly Sandbox UnionPay Root CA", *root_key, "", 1, 3650);
  if (!root.ok()) return root.status();
  auto signer_key = crypto::GenerateRsaKey(2048);
  auto merchant_key = crypto::GenerateRsaKey(2048);
  if (!signer_key.ok() || !merchant_key.ok()) return absl::InternalError("rsa keygen");
  auto signer = crypto::MakeCertificatePem(*signer_key, protocol::kSandboxUnionpaySignerCn, *root_key, *root, 2, 3650);
  auto merchant = crypto::MakeCertificatePem(*merchant_key, std::string("Merchant ") + kSandboxUnionpayMerId, *root_key, *root, 3, 3650);
  if (!signer.ok() || !merchant.ok()) return absl::InternalError("certificate generation");
  if (auto s = w("unionpay_root_ca.pem", *root); !s.ok()) return s;
  if (auto s = w("unionpay_signer_cert.pem", *signer); !s.ok()) return s;
  if (auto s = w("unionpay_signer_private.pem", crypto::PrivateKeyPem(*signer_key)); !s.ok()) return s;
  if (auto s = w("unionpay_merchant_cert.pem", *merchant); !s.ok()) return s;
  if (auto s = w("unionpay_merchant_private.pem", crypto::PrivateKeyPem(*merchant_key)); !s.ok()) return s;
  return w("README", "Throwaway keys of the Orderly channel sandbox. Not real channel keys; never commit.\n");
}

}  // namespace

absl::Status EnsureSandboxKeys(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::UnavailableError(ToAbsl("cannot create " + dir + ": " + ec.message()));
  int fd = ::open((dir + "/.lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return absl::UnavailableError(ToAbsl("cannot lock " + dir));
  ::flock(fd, LOCK_EX);
  absl::Status s = absl::OkStatus();
  if (!std::filesystem::exists(dir + "/README")) s = Generate(dir);
  ::flock(fd, LOCK_UN);
  ::close(fd);
  return s;
}

absl::StatusOr<SandboxKeys> LoadSandboxKeys(const std::string& dir) {
  SandboxKeys k;
  std::pair<const char*, std::string*> files[] = {
      {"alipay_app_private.pem", &k.alipay_app_private}, {"alipay_app_public.pem", &k.alipay_app_public},
      {"alipay_platform_private.pem", &k.alipay_platform_private}, {"alipay_platform_public.pem", &k.alipay_platform_public},
      {"wechat_merchant_private.pem", &k.wechat_merchant_private}, {"wechat_merchant_public.pem", &k.wechat_merchant_public},
      {"wechat_platform_private.pem", &k.wechat_platform_private}, {"wechat_platform_public.pem", &k.wechat_platform_public},
      {"wechat_apiv3.key", &k.wechat_apiv3_key}, {"unionpay_root_ca.pem", &k.unionpay_root_cert},
      {"unionpay_signer_cert.pem", &k.unionpay_signer_cert}, {"unionpay_signer_private.pem", &k.unionpay_signer_private},
      {"unionpay_merchant_cert.pem", &k.unionpay_merchant_cert}, {"unionpay_merchant_private.pem", &k.unionpay_merchant_private}};
  for (auto& [name, out] : files) {
    auto content = crypto::ReadFile(dir + "/" + name);
    if (!content.ok()) {
      return absl::FailedPreconditionError(ToAbsl("sandbox key " + dir + "/" + name +
                                                   " missing: start orderly-channel-sandbox (or run it with --init_keys) first"));
    }
    *out = std::move(*content);
  }
  return k;
}

absl::StatusOr<SandboxChannelConfigs> SandboxConfigs(const std::string& key_dir, const std::string& sandbox_base,
                                                     const std::string& notify_base) {
  auto k = LoadSandboxKeys(key_dir);
  if (!k.ok()) return k.status();
  SandboxChannelConfigs c;
  c.alipay.gateway_url = sandbox_base + "/alipay/gateway.do";
  c.alipay.app_id = kSandboxAlipayAppId;
  c.alipay.merchant_private_key_pem = k->alipay_app_private;
  c.alipay.alipay_public_key_pem = k->alipay_platform_public;
  c.alipay.notify_url = notify_base + "/notify/alipay";
  c.wechat.base_url = sandbox_base + "/wechatpay";
  c.wechat.mchid = kSandboxWechatMchId;
  c.wechat.appid = kSandboxWechatAppId;
  c.wechat.merchant_serial_no = kSandboxWechatMerchantSerial;
  c.wechat.merchant_private_key_pem = k->wechat_merchant_private;
  c.wechat.platform_public_key_pem = k->wechat_platform_public;
  c.wechat.platform_serial_no = kSandboxWechatPlatformSerial;
  c.wechat.apiv3_key = k->wechat_apiv3_key;
  c.wechat.notify_url = notify_base + "/notify/wechatpay";
  c.unionpay.base_url = sandbox_base + "/unionpay";
  c.unionpay.mer_id = kSandboxUnionpayMerId;
  c.unionpay.merchant_private_key_pem = k->unionpay_merchant_private;
  c.unionpay.merchant_cert_pem = k->unionpay_merchant_cert;
  c.unionpay.root_cert_pem = k->unionpay_root_cert;
  c.unionpay.signer_cn_prefix = protocol::kSandboxUnionpaySignerCn;
  c.unionpay.notify_url = notify_base + "/notify/unionpay";
  return c;
}

}  // namespace orderly::payment
