#include "order_validation.hpp"

#include <absl/strings/str_cat.h>
#include <openssl/sha.h>

#include <set>

#include "orderly/core/ids.hpp"
#include "orderly/core/money.hpp"
#include "orderly/core/validation.hpp"

namespace orderly::order_core {

void CheckText(Violations& v, const std::string& field, std::string_view value, size_t max_chars,
               bool required, bool multiline) {
  validation::CheckText(v, field, value, max_chars, required, multiline);
}

void CheckAddress(Violations& v, const std::string& prefix, const common::v1::Address& a,
                  bool required) {
  CheckText(v, prefix + ".receiver_name", a.receiver_name(), 200, required);
  CheckText(v, prefix + ".phone", a.phone(), 200, required);
  CheckText(v, prefix + ".country_code", a.country_code(), 200, required);
  if (!a.country_code().empty()) {
    const std::string& cc = a.country_code();
    if (cc.size() != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z') {
      v.Add(prefix + ".country_code", "must be an upper-case ISO 3166-1 alpha-2 code");
    }
  }
  CheckText(v, prefix + ".province", a.province(), 200, false);
  CheckText(v, prefix + ".city", a.city(), 200, required);
  CheckText(v, prefix + ".district", a.district(), 200, false);
  CheckText(v, prefix + ".detail", a.detail(), 500, required);
  CheckText(v, prefix + ".postal_code", a.postal_code(), 200, false);
}

void CheckId(Violations& v, const std::string& field, std::string_view value, uint64_t* out) {
  uint64_t id = 0;
  if (value.empty()) {
    v.Add(field, "is required");
  } else if (!ParseId(value, &id) || id == 0 || id > static_cast<uint64_t>(INT64_MAX)) {
    v.Add(field, "must be a decimal order id");
  } else if (out != nullptr) {
    *out = id;
  }
}

absl::Status ValidateCreate(const order::v1::CreateOrderRequest& req, const OrderFlows& flows) {
  Violations v;
  CheckId(v, "order_id", req.order_id(), nullptr);
  CheckText(v, "buyer_id", req.buyer_id(), kMaxIdLength, true);
  CheckText(v, "request_id", req.request_id(), kMaxRequestIdLength, true);
  if (req.items_size() == 0) {
    v.Add("items", "must not be empty");
  } else if (req.items_size() > kMaxLines) {
    v.Add("items", absl::StrCat("at most ", kMaxLines, " lines"));
  }
  std::set<std::string> skus;
  for (int i = 0; i < req.items_size() && i <= kMaxLines; ++i) {
    const auto& item = req.items(i);
    const std::string f = absl::StrCat("items[", i, "]");
    CheckText(v, f + ".sku_id", item.sku_id(), kMaxIdLength, true);
    if (!item.sku_id().empty() && !skus.insert(item.sku_id()).second) {
      v.Add(f + ".sku_id", "duplicate sku_id; merge the lines");
    }
    if (item.quantity() < kMinQuantity || item.quantity() > kMaxQuantity) {
      v.Add(f + ".quantity", absl::StrCat("must be between ", kMinQuantity, " and ", kMaxQuantity));
    }
  }
  if (!req.has_shipping_address()) {
    v.Add("shipping_address", "is required");
  } else {
    CheckAddress(v, "shipping_address", req.shipping_address(), true);
  }
  if (req.coupon_ids_size() > kMaxCoupons) {
    v.Add("coupon_ids", absl::StrCat("at most ", kMaxCoupons, " coupons"));
  }
  std::set<std::string> coupons;
  for (int i = 0; i < req.coupon_ids_size() && i <= kMaxCoupons; ++i) {
    const std::string f = absl::StrCat("coupon_ids[", i, "]");
    CheckText(v, f, req.coupon_ids(i), kMaxIdLength, true);
    if (!req.coupon_ids(i).empty() && !coupons.insert(req.coupon_ids(i)).second) {
      v.Add(f, "duplicate coupon id");
    }
  }
  if (req.points_to_use() < 0 || req.points_to_use() > kMaxPoints) {
    v.Add("points_to_use", absl::StrCat("must be between 0 and ", kMaxPoints));
  }
  if (req.has_expected_total()) {
    validation::CheckAmount(v, "expected_total.amount_minor", req.expected_total().amount_minor());
    if (!IsSupportedCurrency(req.expected_total().currency_code())) {
      v.Add("expected_total.currency_code", "unsupported currency");
    }
  }
  const auto type = req.order_type() == common::v1::ORDER_TYPE_UNSPECIFIED
                        ? common::v1::ORDER_TYPE_NORMAL
                        : req.order_type();
  if (flows.Find(type) == nullptr) {
    v.Add("order_type", "unknown order type");
  } else if (type == common::v1::ORDER_TYPE_FLASH_SALE && req.items_size() != 1) {
    v.Add("items", "a flash-sale order has exactly one line");
  }
  CheckText(v, "client_note", req.client_note(), kMaxNoteChars, false, /*multiline=*/true);
  return v.ToStatus("invalid CreateOrder request");
}

std::string RequestFingerprint(const order::v1::CreateOrderRequest& req) {
  order::v1::CreateOrderRequest copy = req;
  copy.clear_request_id();
  if (copy.order_type() == common::v1::ORDER_TYPE_UNSPECIFIED) {
    copy.set_order_type(common::v1::ORDER_TYPE_NORMAL);
  }
  std::string bytes;
  copy.SerializeToString(&bytes);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace orderly::order_core
