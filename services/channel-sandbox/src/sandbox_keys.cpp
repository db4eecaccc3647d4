#include "sandbox_keys.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "orderly/core/absl_compat.hpp"
#include "sandbox_crypto.hpp"

namespace orderly::sandbox {
namespace {

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Cert = std::unique_ptr<X509, decltype(&X509_free)>;

absl::StatusOr<Key> NewRsaKey() {
  Key k(EVP_RSA_gen(2048), EVP_PKEY_free);
  if (!k) return absl::InternalError("RSA key generation failed");
  return k;
}

std::string Pem(bool is_private, EVP_PKEY* k) {
  std::unique_ptr<BIO, decltype(&BIO_free_all)> bio(BIO_new(BIO_s_mem()), BIO_free_all);
  if (is_private) {
    PEM_write_bio_PrivateKey(bio.get(), k, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_bio_PUBKEY(bio.get(), k);
  }
  char* p = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &p);
  return std::string(p, n > 0 ? static_cast<size_t>(n) : 0);
}

std::string CertPem(X509* c) {
  std::unique_ptr<BIO, decltype(&BIO_free_all)> bio(BIO_new(BIO_s_mem()), BIO_free_all);
  PEM_write_bio_X509(bio.get(), c);
  char* p = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &p);
  return std::string(p, n > 0 ? static_cast<size_t>(n) : 0);
}

// An X.509 v3 certificate for subject's key, signed by issuer_key under issuer (self-signed when
// issuer is null), valid from an hour ago for `days`.
absl::StatusOr<Cert> Issue(EVP_PKEY* subject, const std::string& cn, long serial,
                           EVP_PKEY* issuer_key, X509* issuer, int days) {
  Cert c(X509_new(), X509_free);
  X509_set_version(c.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(c.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), 86400L * days);
  X509_set_pubkey(c.get(), subject);
  X509_NAME* name = X509_get_subject_name(c.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("Orderly Channel Sandbox"), -1,
                             -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(c.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  if (X509_sign(c.get(), issuer_key, EVP_sha256()) == 0)
    return absl::InternalError("certificate signing failed");
  return c;
}

absl::Status WriteAtomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::UnavailableError(ToAbsl("cannot write " + tmp));
    out << content;
  }
  ::chmod(tmp.c_str(), 0600);
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return absl::UnavailableError(ToAbsl("cannot rename " + tmp));
  return absl::OkStatus();
}

// The ids a merchant configures next to its keys; what payment --sandbox reads.
std::string ChannelsJson() {
  nlohmann::ordered_json j = {
      {"alipay", {{"app_id", kSandboxAlipayAppId}}},
      {"wechatpay",
       {{"mchid", kSandboxWechatMchId},
        {"appid", kSandboxWechatAppId},
        {"merchant_serial_no", kSandboxWechatMerchantSerial},
        {"platform_serial_no", kSandboxWechatPlatformSerial}}},
      {"unionpay", {{"mer_id", kSandboxUnionpayMerId}, {"signer_cn", kSandboxUnionpaySignerCn}}}};
  return j.dump(2) + "\n";
}

absl::Status Generate(const std::string& dir) {
  auto put = [&](const std::string& name, const std::string& content) {
    return WriteAtomic(dir + "/" + name, content);
  };
  for (const char* who : {"alipay_app", "alipay_platform", "wechat_merchant", "wechat_platform"}) {
    auto k = NewRsaKey();
    if (!k.ok()) return k.status();
    if (auto s = put(std::string(who) + "_private.pem", Pem(true, k->get())); !s.ok()) return s;
    if (auto s = put(std::string(who) + "_public.pem", Pem(false, k->get())); !s.ok()) return s;
  }
  if (auto s = put("wechat_apiv3.key", crypto::RandomToken(32)); !s.ok()) return s;
  auto root_key = NewRsaKey();
  auto signer_key = NewRsaKey();
  auto merchant_key = NewRsaKey();
  if (!root_key.ok() || !signer_key.ok() || !merchant_key.ok())
    return absl::InternalError("RSA key generation failed");
  auto root =
      Issue(root_key->get(), "Orderly Sandbox UnionPay Root CA", 1, root_key->get(), nullptr, 3650);
  if (!root.ok()) return root.status();
  auto signer =
      Issue(signer_key->get(), kSandboxUnionpaySignerCn, 2, root_key->get(), root->get(), 3650);
  auto merchant = Issue(merchant_key->get(), std::string("Merchant ") + kSandboxUnionpayMerId, 3,
                        root_key->get(), root->get(), 3650);
  if (!signer.ok() || !merchant.ok()) return absl::InternalError("certificate generation failed");
  for (auto [name, content] :
       {std::pair<const char*, std::string>{"unionpay_root_ca.pem", CertPem(root->get())},
        {"unionpay_signer_cert.pem", CertPem(signer->get())},
        {"unionpay_signer_private.pem", Pem(true, signer_key->get())},
        {"unionpay_merchant_cert.pem", CertPem(merchant->get())},
        {"unionpay_merchant_private.pem", Pem(true, merchant_key->get())},
        {"channels.json", ChannelsJson()}}) {
    if (auto s = put(name, content); !s.ok()) return s;
  }
  return put(
      "README",
      "Throwaway keys of the Orderly channel sandbox. Not real channel keys; never commit.\n");
}

absl::StatusOr<std::string> Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(ToAbsl("cannot open " + path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::Status EnsureSandboxKeys(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::UnavailableError(ToAbsl("cannot create " + dir + ": " + ec.message()));
  const int fd = ::open((dir + "/.lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return absl::UnavailableError(ToAbsl("cannot lock " + dir));
  ::flock(fd, LOCK_EX);
  absl::Status s = absl::OkStatus();
  if (!std::filesystem::exists(dir + "/README")) s = Generate(dir);
  // A key dir from before channels.json existed: add the ids, keep the keys.
  if (s.ok() && !std::filesystem::exists(dir + "/channels.json"))
    s = WriteAtomic(dir + "/channels.json", ChannelsJson());
  ::flock(fd, LOCK_UN);
  ::close(fd);
  return s;
}

absl::StatusOr<SandboxKeys> LoadSandboxKeys(const std::string& dir) {
  SandboxKeys k;
  const std::pair<const char*, std::string*> files[] = {
      {"alipay_app_private.pem", &k.alipay_app_private},
      {"alipay_app_public.pem", &k.alipay_app_public},
      {"alipay_platform_private.pem", &k.alipay_platform_private},
      {"alipay_platform_public.pem", &k.alipay_platform_public},
      {"wechat_merchant_private.pem", &k.wechat_merchant_private},
      {"wechat_merchant_public.pem", &k.wechat_merchant_public},
      {"wechat_platform_private.pem", &k.wechat_platform_private},
      {"wechat_platform_public.pem", &k.wechat_platform_public},
      {"wechat_apiv3.key", &k.wechat_apiv3_key},
      {"unionpay_root_ca.pem", &k.unionpay_root_cert},
      {"unionpay_signer_cert.pem", &k.unionpay_signer_cert},
      {"unionpay_signer_private.pem", &k.unionpay_signer_private},
      {"unionpay_merchant_cert.pem", &k.unionpay_merchant_cert},
      {"unionpay_merchant_private.pem", &k.unionpay_merchant_private}};
  for (const auto& [name, out] : files) {
    auto content = Slurp(dir + "/" + name);
    if (!content.ok())
      return absl::FailedPreconditionError(ToAbsl("sandbox key " + dir + "/" + name + " missing"));
    *out = std::move(*content);
  }
  return k;
}

absl::StatusOr<KeyPair> GenerateKeyPair() {
  auto k = NewRsaKey();
  if (!k.ok()) return k.status();
  return KeyPair{Pem(true, k->get()), Pem(false, k->get())};
}

absl::StatusOr<std::string> SelfSignedCertificate(const std::string& common_name,
                                                  std::string* private_pem) {
  auto k = NewRsaKey();
  if (!k.ok()) return k.status();
  auto c = Issue(k->get(), common_name, 9, k->get(), nullptr, 10);
  if (!c.ok()) return c.status();
  *private_pem = Pem(true, k->get());
  return CertPem(c->get());
}

}  // namespace orderly::sandbox
