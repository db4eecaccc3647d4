#pragma once
// ListOrders apart from the rest of the domain: which orders a caller may list (a buyer its own
// top-level orders, a merchant its own fulfillment units, an admin every top-level order with
// optional buyer / merchant filters), the filters, and the opaque keyset page token:
// base64url("v1:<created_at micros>:<order id>:<filter hash>"), the hash (SHA-256) binding the
// token to the caller and the filters it was issued for.
#include <absl/status/statusor.h>

#include <string>

#include "order_repository.hpp"
#include "orderly/order/v1/order_service.pb.h"
#include "orderly/server/handler.hpp"

namespace orderly::order_core {

inline constexpr int kDefaultPageSize = 20;
inline constexpr int kMaxPageSize = 100;

// The query of one page (limit = the page size). INVALID_ARGUMENT with field violations for bad
// filters, INVALID_PAGE_TOKEN for a token that is malformed or was issued for other filters;
// PERMISSION_DENIED ROLE_NOT_ALLOWED for a view the caller's role does not have.
absl::StatusOr<ListQuery> ListQueryFor(const server::Caller& caller,
                                       const order::v1::ListOrdersRequest& req);

// The token of the page after the one that ends with `last`.
std::string NextPageToken(const server::Caller& caller, const order::v1::ListOrdersRequest& req,
                          const order::v1::Order& last);

}  // namespace orderly::order_core
