#pragma once
// What order-core needs from the inventory service, as a small interface so the domain can be
// tested with a fake and run against the real gRPC service.
#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "orderly/inventory/v1/inventory_service.grpc.pb.h"
#include "orderly/server/request_context.hpp"

namespace orderly::order_core {

// Trace and correlation of the call that causes an inventory call.
struct CallContext {
  server::TraceContext trace;
  std::string request_id;
};

class InventoryClient {
 public:
  virtual ~InventoryClient() = default;
  // Snapshot of the SKUs in request order (NOT_FOUND SKU_NOT_FOUND names the first missing one).
  virtual absl::StatusOr<std::vector<inventory::v1::Sku>> GetSkus(
      const std::vector<std::string>& sku_ids, const CallContext& ctx) = 0;
  // Try: all lines or none; idempotent by order id.
  virtual absl::Status Reserve(const inventory::v1::ReserveRequest& request,
                               const CallContext& ctx) = 0;
  // Confirm: RESERVED -> CONFIRMED, idempotent by order id. FAILED_PRECONDITION
  // RESERVATION_RELEASED / RESERVATION_EXPIRED / INSUFFICIENT_STOCK when there is no stock to
  // confirm (a lapsed reservation is expired by the call).
  virtual absl::Status Confirm(const std::string& order_id, const CallContext& ctx) = 0;
  // Cancel: idempotent by order id; writes a tombstone when nothing was reserved.
  virtual absl::Status Release(const std::string& order_id, inventory::v1::ReleaseReason reason,
                               const CallContext& ctx) = 0;
};
using InventoryClientPtr = std::unique_ptr<InventoryClient>;

struct GrpcInventoryClientOptions {
  std::string target;  // "127.0.0.1:17052"
  std::chrono::milliseconds timeout{3000};
  // GetSkus answers are reused this long (0 = always ask); Reserve re-checks sale status anyway.
  std::chrono::milliseconds sku_cache_ttl{0};
  int channels = 2;
};

InventoryClientPtr MakeGrpcInventoryClient(GrpcInventoryClientOptions options);

}  // namespace orderly::order_core
