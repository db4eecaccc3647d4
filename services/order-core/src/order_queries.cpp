#include "order_queries.hpp"

#include <absl/strings/escaping.h>
#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_split.h>
#include <openssl/sha.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "order_validation.hpp"
#include "orderly/core/proto_convert.hpp"
#include "orderly/core/status.hpp"

namespace orderly::order_core {
namespace {

namespace ov1 = ::orderly::order::v1;
using server::Caller;
using server::Role;
using server::RoleNotAllowed;

int64_t UnixMicros(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// What a token is bound to: the caller and every filter (not the page size or the token).
std::string FilterHash(const Caller& c, ov1::ListOrdersRequest req) {
  req.clear_page_token();
  req.clear_page_size();
  std::string bytes;
  req.SerializeToString(&bytes);
  bytes += "|" + c.user_id;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  // 128 bits are plenty to tell filter sets apart and keep the token short.
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), SHA256_DIGEST_LENGTH / 2));
}

// The view's ownership rule: whose orders the query may return.
absl::Status ScopeToView(const Caller& caller, const ov1::ListOrdersRequest& req, ListQuery& q,
                         Violations& v) {
  switch (req.view()) {
    case ov1::ORDER_LIST_VIEW_BUYER:
      if (caller.role != Role::kBuyer) return RoleNotAllowed(caller, "use the BUYER view");
      q.view = ListQuery::View::kBuyer;
      q.buyer_id = caller.user_id;
      break;
    case ov1::ORDER_LIST_VIEW_MERCHANT:
      if (caller.role != Role::kMerchant) return RoleNotAllowed(caller, "use the MERCHANT view");
      q.view = ListQuery::View::kMerchant;
      q.merchant_id = caller.user_id;
      break;
    case ov1::ORDER_LIST_VIEW_ADMIN:
      if (caller.role != Role::kAdmin) return RoleNotAllowed(caller, "use the ADMIN view");
      q.view = ListQuery::View::kAdmin;
      q.buyer_id = req.buyer_id();
      q.merchant_id = req.merchant_id();
      break;
    default: v.Add("view", "is required");
  }
  if (req.view() != ov1::ORDER_LIST_VIEW_ADMIN) {
    if (!req.buyer_id().empty()) v.Add("buyer_id", "only with the ADMIN view");
    if (!req.merchant_id().empty()) v.Add("merchant_id", "only with the ADMIN view");
  }
  return absl::OkStatus();
}

void AddFilters(const ov1::ListOrdersRequest& req, ListQuery& q, Violations& v) {
  if (req.page_size() < 0) v.Add("page_size", "must not be negative");
  q.limit = req.page_size() == 0 ? kDefaultPageSize : std::min(req.page_size(), kMaxPageSize);
  for (int i = 0; i < req.statuses_size(); ++i) {
    if (req.statuses(i) == ov1::ORDER_STATUS_UNSPECIFIED) {
      v.Add(absl::StrCat("statuses[", i, "]"), "must be a status");
    }
    q.statuses.push_back(req.statuses(i));
  }
  if (req.has_created_after()) q.created_after = FromProtoTimestamp(req.created_after());
  if (req.has_created_before()) q.created_before = FromProtoTimestamp(req.created_before());
  if (q.created_after && q.created_before && *q.created_after >= *q.created_before) {
    v.Add("created_before", "must be after created_after");
  }
  if (req.has_min_payable_total()) {
    if (req.min_payable_total().amount_minor() < 0) {
      v.Add("min_payable_total", "must not be negative");
    }
    q.min_total = req.min_payable_total().amount_minor();
  }
  if (req.has_max_payable_total()) {
    if (req.max_payable_total().amount_minor() < 0) {
      v.Add("max_payable_total", "must not be negative");
    }
    q.max_total = req.max_payable_total().amount_minor();
  }
  if (q.min_total && q.max_total && *q.min_total > *q.max_total) {
    v.Add("max_payable_total", "must not be below min_payable_total");
  }
  CheckText(v, "sku_id", req.sku_id(), kMaxIdLength, false);
  q.sku_id = req.sku_id();
}

absl::Status InvalidPageToken() {
  return ErrorWithInfo(absl::StatusCode::kInvalidArgument,
                       "page_token is malformed or was issued for different filters",
                       "INVALID_PAGE_TOKEN");
}

}  // namespace

absl::StatusOr<ListQuery> ListQueryFor(const Caller& caller, const ov1::ListOrdersRequest& req) {
  ListQuery q;
  Violations v;
  if (auto s = ScopeToView(caller, req, q, v); !s.ok()) return s;
  AddFilters(req, q, v);
  if (!req.page_token().empty()) {
    std::string raw;
    std::vector<std::string> parts;
    if (absl::WebSafeBase64Unescape(req.page_token(), &raw)) parts = absl::StrSplit(raw, ':');
    int64_t t = 0, id = 0;
    if (parts.size() != 4 || parts[0] != "v1" || parts[3] != FilterHash(caller, req) ||
        !absl::SimpleAtoi(parts[1], &t) || !absl::SimpleAtoi(parts[2], &id)) {
      return InvalidPageToken();
    }
    q.after = {t, id};
  }
  if (!v.empty()) return v.ToStatus();
  return q;
}

std::string NextPageToken(const Caller& caller, const ov1::ListOrdersRequest& req,
                          const ov1::Order& last) {
  return absl::WebSafeBase64Escape(
      absl::StrCat("v1:", UnixMicros(FromProtoTimestamp(last.created_at())), ":", last.order_id(),
                   ":", FilterHash(caller, req)));
}

}  // namespace orderly::order_core
