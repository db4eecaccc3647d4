#pragma once
// Where payment learns an order's payable amount, buyer and status: the `orders` projection fed by
// OrderCreated / OrderCancelled / OrderPaid, falling back to order-core GetOrder (role service)
// for an order whose OrderCreated has not arrived yet.
#include <absl/status/statusor.h>

#include <memory>
#include <string>

#include "orderly/order/v1/order_service.grpc.pb.h"
#include "payment_repository.hpp"

namespace orderly::payment {

class OrderDirectory {
 public:
  virtual ~OrderDirectory() = default;
  // NOT_FOUND ORDER_NOT_FOUND; UNAVAILABLE DEPENDENCY_UNAVAILABLE when order-core cannot be asked.
  virtual absl::StatusOr<OrderRow> Find(const std::string& order_id) = 0;
};
using OrderDirectoryPtr = std::unique_ptr<OrderDirectory>;

// order_core_target empty: projection only.
OrderDirectoryPtr MakeOrderDirectory(PaymentRepository& repo, const std::string& order_core_target);

}  // namespace orderly::payment
