#pragma once
// Pure assembly of a new order from the request, the SKU snapshots and the pricing result:
// lines with their per-line discount shares, the order-level discount lines, and the split into
// one parent (payment unit) plus one child per (merchant, warehouse) (fulfillment units).
#include <absl/status/statusor.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "order_repository.hpp"
#include "orderly/inventory/v1/inventory.pb.h"
#include "orderly/order/v1/order_service.pb.h"
#include "orderly/pricing/pricing.hpp"

namespace orderly::order_core {

// The pricing request for the order's lines (line ids "1", "2", ... in request order).
pricing::PricingRequest PricingRequestFor(const order::v1::CreateOrderRequest& req,
                                          const std::vector<inventory::v1::Sku>& skus,
                                          const std::string& currency);

struct PlanInput {
  const order::v1::CreateOrderRequest* request = nullptr;
  const std::vector<inventory::v1::Sku>* skus = nullptr;  // in item order
  const pricing::PricingResult* price = nullptr;
  std::map<std::string, std::string> descriptions;  // discount source id -> label
  int64_t order_id = 0;
  common::v1::OrderType order_type = common::v1::ORDER_TYPE_NORMAL;
  std::string request_fingerprint;
  common::v1::Actor created_by;
  TimePoint now{};
  TimePoint payment_deadline{};
  // Issues child ids (same buyer gene as the parent).
  std::function<absl::StatusOr<int64_t>()> next_child_id;
};

absl::StatusOr<CreatePlan> BuildCreatePlan(const PlanInput& in);

order::v1::PriceBreakdown Breakdown(const pricing::PricingResult& r);

}  // namespace orderly::order_core
