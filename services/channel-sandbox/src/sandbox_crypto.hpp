#pragma once
// The sandbox's own cryptography, written for the channel side from the channels' published
// specifications and independent of services/payment: RSA PKCS#1 v1.5 over a SHA-256 digest
// (Alipay RSA2, WeChat Pay v3 WECHATPAY2-SHA256-RSA2048, UnionPay signMethod 01), AES-256-GCM
// sealing of WeChat Pay notification resources, Base64 and hex digests. Nothing here is shared
// with the merchant side it tests, so a bug on one side cannot hide the same bug on the other.
#include <absl/status/statusor.h>

#include <memory>
#include <string>
#include <string_view>

typedef struct evp_pkey_st EVP_PKEY;

namespace orderly::sandbox::crypto {

using PKey = std::shared_ptr<EVP_PKEY>;

absl::StatusOr<PKey> LoadPrivateKey(std::string_view pem);
// A "PUBLIC KEY" PEM or a certificate, whose key is taken.
absl::StatusOr<PKey> LoadPublicKey(std::string_view pem);

std::string ToBase64(std::string_view bytes);
// Standard alphabet with padding; anything else is INVALID_ARGUMENT.
absl::StatusOr<std::string> FromBase64(std::string_view text);
std::string Sha256Hex(std::string_view data);  // lower-case
std::string Sha1Hex(std::string_view data);    // lower-case
std::string RandomToken(size_t n);             // [0-9A-Za-z]

// Base64 of the RSA PKCS#1 v1.5 signature of SHA-256(message).
absl::StatusOr<std::string> RsaSha256Sign(const PKey& private_key, std::string_view message);
bool RsaSha256Verify(const PKey& public_key, std::string_view message,
                     std::string_view signature_b64);

// AEAD_AES_256_GCM as WeChat Pay uses it: ciphertext followed by the 16-byte tag.
absl::StatusOr<std::string> Aes256GcmSeal(std::string_view key32, std::string_view nonce,
                                          std::string_view aad, std::string_view plaintext);

// Upper-case hex serial number of a PEM certificate (UnionPay's certId).
absl::StatusOr<std::string> CertSerialHex(std::string_view cert_pem);

}  // namespace orderly::sandbox::crypto
