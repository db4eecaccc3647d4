#pragma once
// The OpenSSL primitives the channels' signing styles are built from: SHA256withRSA (PKCS#1 v1.5)
// signatures, AES-256-GCM (WeChat Pay v3 notification resources), X.509 certificates (UnionPay's
// signPubKeyCert checked against a trusted root), Base64 and SHA-256 hex. Keys are loaded from PEM;
// every OpenSSL failure becomes an absl::Status, never an exception or a crash.
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <memory>
#include <string>
#include <string_view>

typedef struct evp_pkey_st EVP_PKEY;

namespace orderly::payment::crypto {

using KeyPtr = std::shared_ptr<EVP_PKEY>;

std::string Base64Encode(std::string_view in);
// Strict: rejects characters outside the alphabet and bad padding (INVALID_ARGUMENT).
absl::StatusOr<std::string> Base64Decode(std::string_view in);
std::string Sha256Hex(std::string_view in);  // lower-case
std::string Sha1Hex(std::string_view in);    // lower-case
std::string RandomAlnum(size_t n);

absl::StatusOr<KeyPtr> PrivateKeyFromPem(std::string_view pem);
// Accepts a "PUBLIC KEY" PEM or a certificate (takes its key).
absl::StatusOr<KeyPtr> PublicKeyFromPem(std::string_view pem);
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Base64 of the SHA256withRSA signature of data.
absl::StatusOr<std::string> SignSha256Rsa(const KeyPtr& private_key, std::string_view data);
// False on any mismatch, including a signature that is not valid Base64.
bool VerifySha256Rsa(const KeyPtr& public_key, std::string_view data, std::string_view b64_sig);

// AES-256-GCM, the 16-byte tag appended to the ciphertext (WeChat Pay v3 layout).
absl::StatusOr<std::string> AesGcmDecrypt(std::string_view key32, std::string_view nonce,
                                          std::string_view aad, std::string_view ciphertext_tag);

struct CertInfo {
  std::string common_name;
  std::string serial_hex;
  KeyPtr public_key;
};
// Parses cert_pem, checks it was issued (signed) by the trusted root and is within its validity
// period, and returns its subject CN, serial and key. UNAUTHENTICATED when it does not chain.
absl::StatusOr<CertInfo> VerifyCertificate(std::string_view cert_pem, std::string_view root_pem);
absl::StatusOr<std::string> CertificateSerialHex(std::string_view cert_pem);

}  // namespace orderly::payment::crypto
