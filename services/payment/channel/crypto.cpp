#include "channel/crypto.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <fstream>
#include <sstream>

#include "orderly/core/absl_compat.hpp"

namespace orderly::payment::crypto {
namespace {

std::string OpensslError(std::string_view what) {
  unsigned long e = ERR_get_error();
  char buf[256] = {0};
  if (e != 0) ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return std::string(what) + (e ? std::string(": ") + buf : std::string());
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free_all(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

KeyPtr Wrap(EVP_PKEY* k) { return KeyPtr(k, EVP_PKEY_free); }

BioPtr MemBio(std::string_view s) {
  return BioPtr(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
}

X509Ptr CertFromPem(std::string_view pem) {
  auto bio = MemBio(pem);
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

std::string Hex(const unsigned char* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 15]);
  }
  return out;
}

}  // namespace

std::string Base64Encode(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(n > 0 ? n : 0);
  return out;
}

absl::StatusOr<std::string> Base64Decode(std::string_view in) {
  if (in.size() % 4 != 0) return absl::InvalidArgumentError("base64: length not a multiple of 4");
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || (c == '=' && i + 2 >= in.size());
    if (!ok) return absl::InvalidArgumentError("base64: invalid character");
  }
  std::string out(3 * in.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return absl::InvalidArgumentError("base64: cannot decode");
  size_t pad = 0;
  if (!in.empty() && in.back() == '=') ++pad;
  if (in.size() > 1 && in[in.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string Sha256Hex(std::string_view in) {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(in.data(), in.size(), md, &len, EVP_sha256(), nullptr);
  return Hex(md, len);
}

std::string Sha1Hex(std::string_view in) {
  unsigned char md[20];
  unsigned int len = 0;
  EVP_Digest(in.data(), in.size(), md, &len, EVP_sha1(), nullptr);
  return Hex(md, len);
}

std::string RandomAlnum(size_t n) {
  static const char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz";
  std::string bytes(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n));
  std::string out(n, 'A');
  for (size_t i = 0; i < n; ++i) out[i] = kChars[static_cast<unsigned char>(bytes[i]) % 62];
  return out;
}

absl::StatusOr<KeyPtr> PrivateKeyFromPem(std::string_view pem) {
  auto bio = MemBio(pem);
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (k == nullptr) return absl::InvalidArgumentError(OpensslError("cannot read private key PEM"));
  return Wrap(k);
}

absl::StatusOr<KeyPtr> PublicKeyFromPem(std::string_view pem) {
  if (pem.find("BEGIN CERTIFICATE") != std::string_view::npos) {
    auto cert = CertFromPem(pem);
    if (!cert) return absl::InvalidArgumentError(OpensslError("cannot read certificate PEM"));
    EVP_PKEY* k = X509_get_pubkey(cert.get());
    if (k == nullptr) return absl::InvalidArgumentError(OpensslError("certificate has no key"));
    return Wrap(k);
  }
  auto bio = MemBio(pem);
  EVP_PKEY* k = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (k == nullptr) return absl::InvalidArgumentError(OpensslError("cannot read public key PEM"));
  return Wrap(k);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(ToAbsl("cannot open " + path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::string> SignSha256Rsa(const KeyPtr& key, std::string_view data) {
  if (!key) return absl::FailedPreconditionError("no signing key");
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1) {
    return absl::InternalError(OpensslError("sign init"));
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return absl::InternalError(OpensslError("sign"));
  }
  sig.resize(len);
  return Base64Encode(sig);
}

bool VerifySha256Rsa(const KeyPtr& key, std::string_view data, std::string_view b64_sig) {
  if (!key) return false;
  auto sig = Base64Decode(b64_sig);
  if (!sig.ok() || sig->empty()) return false;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1) {
    ERR_clear_error();
    return false;
  }
  int rc =
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                       reinterpret_cast<const unsigned char*>(data.data()), data.size());
  ERR_clear_error();
  return rc == 1;
}

absl::StatusOr<std::string> AesGcmDecrypt(std::string_view key, std::string_view nonce,
                                          std::string_view aad, std::string_view ct) {
  if (key.size() != 32) return absl::InvalidArgumentError("AES-256-GCM key must be 32 bytes");
  if (ct.size() < 16) return absl::InvalidArgumentError("ciphertext shorter than the GCM tag");
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  const size_t body = ct.size() - 16;
  std::string out(body + 16, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  std::string tag(ct.substr(body));
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()),
                          nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr,
                         reinterpret_cast<const unsigned char*>(key.data()),
                         reinterpret_cast<const unsigned char*>(nonce.data())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), o, &len, reinterpret_cast<const unsigned char*>(ct.data()),
                        static_cast<int>(body)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, tag.data()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("aes-gcm: cannot decrypt");
  }
  int total = len;
  if (EVP_DecryptFinal_ex(ctx.get(), o + total, &len) != 1) {
    ERR_clear_error();
    return absl::UnauthenticatedError("aes-gcm: authentication tag mismatch");
  }
  total += len;
  out.resize(total);
  return out;
}

absl::StatusOr<std::string> CertificateSerialHex(std::string_view cert_pem) {
  auto cert = CertFromPem(cert_pem);
  if (!cert) return absl::InvalidArgumentError(OpensslError("cannot read certificate"));
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert.get()), nullptr);
  char* hex = BN_bn2hex(bn);
  std::string out(hex);
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

absl::StatusOr<CertInfo> VerifyCertificate(std::string_view cert_pem, std::string_view root_pem) {
  auto cert = CertFromPem(cert_pem);
  if (!cert) {
    ERR_clear_error();
    return absl::UnauthenticatedError("signing certificate is not a valid PEM certificate");
  }
  auto root = CertFromPem(root_pem);
  if (!root) return absl::FailedPreconditionError(OpensslError("trusted root certificate"));
  EVP_PKEY* root_key = X509_get0_pubkey(root.get());
  if (X509_verify(cert.get(), root_key) != 1) {
    ERR_clear_error();
    return absl::UnauthenticatedError("signing certificate is not issued by the trusted root");
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert.get())) > 0 ||
      X509_cmp_current_time(X509_get0_notAfter(cert.get())) < 0) {
    return absl::UnauthenticatedError("signing certificate is outside its validity period");
  }
  CertInfo info;
  char cn[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof(cn));
  info.common_name = cn;
  auto serial = CertificateSerialHex(cert_pem);
  if (serial.ok()) info.serial_hex = *serial;
  EVP_PKEY* k = X509_get_pubkey(cert.get());
  if (k == nullptr) return absl::UnauthenticatedError("certificate without a key");
  info.public_key = Wrap(k);
  return info;
}

}  // namespace orderly::payment::crypto
