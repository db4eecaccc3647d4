#include "sandbox_crypto.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <array>

namespace orderly::sandbox::crypto {
namespace {

constexpr std::string_view kB64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string LastError(std::string_view what) {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  std::string out(what);
  if (e != 0) out += std::string(": ") + ERR_reason_error_string(e);
  return out;
}

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using PKeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, Deleter<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>>;

Bio ReadBio(std::string_view s) {
  return Bio(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
}

std::string Digest(const EVP_MD* md, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &n, md, nullptr);
  return std::string(reinterpret_cast<const char*>(out.data()), n);
}

std::string HexLower(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

// A signing or verifying context for RSA PKCS#1 v1.5 over a precomputed SHA-256 digest.
PKeyCtx RsaSha256Ctx(const PKey& key, bool sign) {
  PKeyCtx ctx(EVP_PKEY_CTX_new(key.get(), nullptr));
  if (!ctx) return nullptr;
  if ((sign ? EVP_PKEY_sign_init(ctx.get()) : EVP_PKEY_verify_init(ctx.get())) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) != 1) {
    return nullptr;
  }
  return ctx;
}

}  // namespace

absl::StatusOr<PKey> LoadPrivateKey(std::string_view pem) {
  auto bio = ReadBio(pem);
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (k == nullptr) return absl::InvalidArgumentError(LastError("private key PEM"));
  return PKey(k, EVP_PKEY_free);
}

absl::StatusOr<PKey> LoadPublicKey(std::string_view pem) {
  auto bio = ReadBio(pem);
  EVP_PKEY* k = nullptr;
  if (pem.find("-----BEGIN CERTIFICATE-----") != std::string_view::npos) {
    Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert) k = X509_get_pubkey(cert.get());
  } else {
    k = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  }
  if (k == nullptr) return absl::InvalidArgumentError(LastError("public key PEM"));
  return PKey(k, EVP_PKEY_free);
}

std::string ToBase64(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto at = [&](size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    for (int s : {18, 12, 6, 0}) out += kB64[(v >> s) & 63];
  }
  if (const size_t rest = bytes.size() - i; rest > 0) {
    const uint32_t v = (at(i) << 16) | (rest == 2 ? at(i + 1) << 8 : 0);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += rest == 2 ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

absl::StatusOr<std::string> FromBase64(std::string_view text) {
  if (text.size() % 4 != 0) return absl::InvalidArgumentError("base64 length");
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '=') {
      // padding only at the end, at most two
      if (i + 2 < text.size() || (i + 1 < text.size() && text[i + 1] != '=')) {
        return absl::InvalidArgumentError("base64 padding");
      }
      break;
    }
    const size_t v = kB64.find(text[i]);
    if (v == std::string_view::npos) return absl::InvalidArgumentError("base64 character");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string Sha256Hex(std::string_view data) { return HexLower(Digest(EVP_sha256(), data)); }
std::string Sha1Hex(std::string_view data) { return HexLower(Digest(EVP_sha1(), data)); }

std::string RandomToken(size_t n) {
  static constexpr std::string_view kAlnum =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string out;
  while (out.size() < n) {
    unsigned char b[64];
    RAND_bytes(b, sizeof(b));
    // rejection sampling: 248 = 4 * 62 keeps every character equally likely
    for (unsigned char c : b) {
      if (c < 248 && out.size() < n) out += kAlnum[c % 62];
    }
  }
  return out;
}

absl::StatusOr<std::string> RsaSha256Sign(const PKey& key, std::string_view message) {
  if (!key) return absl::FailedPreconditionError("no signing key");
  const std::string digest = Digest(EVP_sha256(), message);
  auto ctx = RsaSha256Ctx(key, true);
  size_t len = 0;
  const auto* d = reinterpret_cast<const unsigned char*>(digest.data());
  if (!ctx || EVP_PKEY_sign(ctx.get(), nullptr, &len, d, digest.size()) != 1) {
    return absl::InternalError(LastError("RSA sign"));
  }
  std::string sig(len, '\0');
  if (EVP_PKEY_sign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, d,
                    digest.size()) != 1) {
    return absl::InternalError(LastError("RSA sign"));
  }
  sig.resize(len);
  return ToBase64(sig);
}

bool RsaSha256Verify(const PKey& key, std::string_view message, std::string_view signature_b64) {
  auto sig = FromBase64(signature_b64);
  if (!key || !sig.ok() || sig->empty()) return false;
  const std::string digest = Digest(EVP_sha256(), message);
  auto ctx = RsaSha256Ctx(key, false);
  const bool ok =
      ctx &&
      EVP_PKEY_verify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                      reinterpret_cast<const unsigned char*>(digest.data()), digest.size()) == 1;
  ERR_clear_error();
  return ok;
}

absl::StatusOr<std::string> Aes256GcmSeal(std::string_view key, std::string_view nonce,
                                          std::string_view aad, std::string_view plaintext) {
  if (key.size() != 32) return absl::InvalidArgumentError("AEAD_AES_256_GCM needs a 32-byte key");
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  auto u = [](std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); };
  std::string out(plaintext.size() + 16, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int n = 0, tail = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_IVLEN, static_cast<int>(nonce.size()),
                          nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, u(key), u(nonce)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &n, u(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), o, &n, u(plaintext), static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), o + n, &tail) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, 16, o + n + tail) != 1) {
    return absl::InternalError(LastError("AES-256-GCM"));
  }
  out.resize(static_cast<size_t>(n + tail) + 16);
  return out;
}

absl::StatusOr<std::string> CertSerialHex(std::string_view cert_pem) {
  auto bio = ReadBio(cert_pem);
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return absl::InvalidArgumentError(LastError("certificate PEM"));
  std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>> bn(
      ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  char* hex = BN_bn2hex(bn.get());
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

}  // namespace orderly::sandbox::crypto
