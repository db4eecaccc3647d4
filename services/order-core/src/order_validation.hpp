#pragma once
// Pure request checks: every malformed field becomes one BadRequest field violation, and nothing
// is read, reserved or written before they pass.
#include <absl/status/status.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "order_flows.hpp"
#include "orderly/core/status.hpp"
#include "orderly/core/validation.hpp"
#include "orderly/order/v1/order_service.pb.h"

namespace orderly::order_core {

inline constexpr int kMaxLines = 50;  // API contract (and below the 100)
inline constexpr int kMinQuantity = 1;
inline constexpr int kMaxQuantity = 999;
inline constexpr int kMaxCoupons = 10;
inline constexpr int64_t kMaxPoints = 1'000'000'000'000;
inline constexpr size_t kMaxIdLength = 64;
inline constexpr size_t kMaxRequestIdLength = 128;
inline constexpr size_t kMaxNoteChars = 500;

using validation::IsValidUtf8;
using validation::Utf8Length;

// A text field: required or optional, valid UTF-8, at most max_chars code points, no control
// characters (validation::CheckText, the shared layer).
void CheckText(Violations& v, const std::string& field, std::string_view value, size_t max_chars,
               bool required, bool multiline = false);
void CheckAddress(Violations& v, const std::string& prefix, const common::v1::Address& a,
                  bool required);
// A decimal 63-bit id.
void CheckId(Violations& v, const std::string& field, std::string_view value, uint64_t* out);

absl::Status ValidateCreate(const order::v1::CreateOrderRequest& req, const OrderFlows& flows);

// Hex SHA-256 of the request body minus request_id: equal bodies have equal fingerprints.
std::string RequestFingerprint(const order::v1::CreateOrderRequest& req);

}  // namespace orderly::order_core
