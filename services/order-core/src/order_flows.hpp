#pragma once
// The order state machines, one table per order type, plus the status views and the rule that
// derives a split parent's status from its children. Adding an order type means adding a table
// (and a payment window) to OrderFlows::Default, never editing the code paths that use it.
#include <absl/status/statusor.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "orderly/common/v1/order_type.pb.h"
#include "orderly/core/clock.hpp"
#include "orderly/core/state_machine.hpp"
#include "orderly/order/v1/order.pb.h"

namespace orderly::order_core {

using OrderStatus = ::orderly::order::v1::OrderStatus;
using OrderType = ::orderly::common::v1::OrderType;

// Action names (as recorded in status history, see OrderStatusTransition.action).
inline constexpr char kActionCreate[] = "create";
inline constexpr char kActionPay[] = "pay";
inline constexpr char kActionCancel[] = "cancel";
inline constexpr char kActionTimeout[] = "timeout";
inline constexpr char kActionAccept[] = "accept";
inline constexpr char kActionShip[] = "ship";
inline constexpr char kActionDeliver[] = "deliver";
inline constexpr char kActionConfirmReceipt[] = "confirm_receipt";
inline constexpr char kActionAutoConfirm[] = "auto_confirm";
inline constexpr char kActionAfterSaleOpen[] = "after_sale_open";
inline constexpr char kActionAfterSaleRefunded[] = "after_sale_refunded";
inline constexpr char kActionAfterSaleEnd[] = "after_sale_end";
inline constexpr char kActionChangeAddress[] = "change_address";
// Inventory could not back the payment with stock: cancelled and refunded in full.
inline constexpr char kActionOutOfStock[] = "out_of_stock";

// Actor names used in the tables.
inline constexpr char kActorBuyer[] = "buyer";
inline constexpr char kActorMerchant[] = "merchant";
inline constexpr char kActorAdmin[] = "admin";
inline constexpr char kActorService[] = "service";
inline constexpr char kActorSystem[] = "system";

// A transition target that means "the status the order had before after-sale opened".
inline constexpr char kReturnToPrevious[] = "$previous";

// "PENDING_PAYMENT" for ORDER_STATUS_PENDING_PAYMENT (the names the tables use).
std::string StatusName(OrderStatus s);
OrderStatus StatusFromName(std::string_view name);  // UNSPECIFIED when unknown

order::v1::BuyerOrderStatus BuyerViewOf(OrderStatus s);
order::v1::MerchantOrderStatus MerchantViewOf(OrderStatus s);

// A split parent shows the least advanced status of its children (cancelled children only count
// when every child is cancelled).
OrderStatus DeriveParentStatus(const std::vector<OrderStatus>& children);

struct FlowOptions {
  std::chrono::milliseconds normal_payment_window{std::chrono::minutes(30)};
  std::chrono::milliseconds flash_sale_payment_window{std::chrono::minutes(5)};
  // COMPLETED -> AFTER_SALE_IN_PROGRESS is allowed only this long after completion.
  std::chrono::milliseconds after_sale_window{std::chrono::hours(24 * 7)};
};

// What a guard needs to know about the order.
struct GuardInput {
  OrderStatus status = order::v1::ORDER_STATUS_UNSPECIFIED;
  OrderStatus status_before_after_sale = order::v1::ORDER_STATUS_UNSPECIFIED;
  TimePoint completed_at{};
  TimePoint now{};
};

class OrderFlow {
 public:
  OrderFlow(OrderType type, std::string name, std::vector<Transition> table,
            std::chrono::milliseconds payment_window, std::chrono::milliseconds after_sale_window);
  OrderType type() const { return type_; }
  std::chrono::milliseconds payment_window() const { return payment_window_; }
  const StateMachine& machine() const { return machine_; }

  // The status after `action` by `actor`, or FAILED_PRECONDITION (ErrorInfo `error_reason`,
  // metadata current_status + action) naming the current status and the action, or
  // PERMISSION_DENIED when the actor may not take it.
  absl::StatusOr<OrderStatus> Next(const GuardInput& order, std::string_view action,
                                   std::string_view actor,
                                   std::string_view error_reason = "ILLEGAL_TRANSITION") const;

 private:
  OrderType type_;
  StateMachine machine_;
  std::chrono::milliseconds payment_window_;
  std::chrono::milliseconds after_sale_window_;
};

class OrderFlows {
 public:
  static std::shared_ptr<const OrderFlows> Default(const FlowOptions& options = {});
  // nullptr for a type without a table (the caller answers INVALID_ARGUMENT).
  const OrderFlow* Find(OrderType type) const;
  void Add(std::unique_ptr<OrderFlow> flow);

  static std::vector<Transition> NormalTable();
  static std::vector<Transition> FlashSaleTable();

 private:
  std::map<int, std::unique_ptr<OrderFlow>> flows_;
};
using OrderFlowsPtr = std::shared_ptr<const OrderFlows>;

}  // namespace orderly::order_core
