#include "order_flows.hpp"

#include <absl/strings/str_cat.h>

#include "orderly/core/absl_compat.hpp"
#include "orderly/core/status.hpp"

namespace orderly::order_core {
namespace {

namespace ov1 = ::orderly::order::v1;

constexpr std::string_view kStatusPrefix = "ORDER_STATUS_";

// Progress rank for deriving a parent's status: lower = less advanced.
int Rank(OrderStatus s) {
  switch (s) {
    case ov1::ORDER_STATUS_PENDING_PAYMENT: return 1;
    case ov1::ORDER_STATUS_PAID: return 2;
    case ov1::ORDER_STATUS_AWAITING_SHIPMENT: return 3;
    case ov1::ORDER_STATUS_SHIPPED: return 4;
    case ov1::ORDER_STATUS_DELIVERED: return 5;
    case ov1::ORDER_STATUS_AFTER_SALE_IN_PROGRESS: return 6;
    case ov1::ORDER_STATUS_COMPLETED: return 7;
    case ov1::ORDER_STATUS_AFTER_SALE_COMPLETED: return 8;
    case ov1::ORDER_STATUS_CANCELLED: return 9;
    default: return 100;
  }
}

}  // namespace

std::string StatusName(OrderStatus s) {
  std::string n = ov1::OrderStatus_Name(s);
  if (n.rfind(kStatusPrefix, 0) == 0) n.erase(0, kStatusPrefix.size());
  return n;
}

OrderStatus StatusFromName(std::string_view name) {
  OrderStatus s = ov1::ORDER_STATUS_UNSPECIFIED;
  if (!ov1::OrderStatus_Parse(absl::StrCat(ToAbsl(kStatusPrefix), ToAbsl(name)), &s)) {
    return ov1::ORDER_STATUS_UNSPECIFIED;
  }
  return s;
}

// The buyer and merchant views are mapping tables over the system statuses (order.proto).
ov1::BuyerOrderStatus BuyerViewOf(OrderStatus s) {
  static const std::map<int, ov1::BuyerOrderStatus> kTable = {
      {ov1::ORDER_STATUS_PENDING_PAYMENT, ov1::BUYER_ORDER_STATUS_TO_PAY},
      {ov1::ORDER_STATUS_PAID, ov1::BUYER_ORDER_STATUS_TO_SHIP},
      {ov1::ORDER_STATUS_AWAITING_SHIPMENT, ov1::BUYER_ORDER_STATUS_TO_SHIP},
      {ov1::ORDER_STATUS_SHIPPED, ov1::BUYER_ORDER_STATUS_TO_RECEIVE},
      {ov1::ORDER_STATUS_DELIVERED, ov1::BUYER_ORDER_STATUS_TO_RECEIVE},
      {ov1::ORDER_STATUS_COMPLETED, ov1::BUYER_ORDER_STATUS_COMPLETED},
      {ov1::ORDER_STATUS_CANCELLED, ov1::BUYER_ORDER_STATUS_CANCELLED},
      {ov1::ORDER_STATUS_AFTER_SALE_IN_PROGRESS, ov1::BUYER_ORDER_STATUS_AFTER_SALE},
      {ov1::ORDER_STATUS_AFTER_SALE_COMPLETED, ov1::BUYER_ORDER_STATUS_AFTER_SALE},
  };
  auto it = kTable.find(s);
  return it == kTable.end() ? ov1::BUYER_ORDER_STATUS_UNSPECIFIED : it->second;
}

ov1::MerchantOrderStatus MerchantViewOf(OrderStatus s) {
  static const std::map<int, ov1::MerchantOrderStatus> kTable = {
      {ov1::ORDER_STATUS_PENDING_PAYMENT, ov1::MERCHANT_ORDER_STATUS_AWAITING_PAYMENT},
      {ov1::ORDER_STATUS_PAID, ov1::MERCHANT_ORDER_STATUS_TO_ACCEPT},
      {ov1::ORDER_STATUS_AWAITING_SHIPMENT, ov1::MERCHANT_ORDER_STATUS_TO_SHIP},
      {ov1::ORDER_STATUS_SHIPPED, ov1::MERCHANT_ORDER_STATUS_SHIPPED},
      {ov1::ORDER_STATUS_DELIVERED, ov1::MERCHANT_ORDER_STATUS_SHIPPED},
      {ov1::ORDER_STATUS_COMPLETED, ov1::MERCHANT_ORDER_STATUS_COMPLETED},
      {ov1::ORDER_STATUS_CANCELLED, ov1::MERCHANT_ORDER_STATUS_CANCELLED},
      {ov1::ORDER_STATUS_AFTER_SALE_IN_PROGRESS, ov1::MERCHANT_ORDER_STATUS_AFTER_SALE},
      {ov1::ORDER_STATUS_AFTER_SALE_COMPLETED, ov1::MERCHANT_ORDER_STATUS_REFUNDED},
  };
  auto it = kTable.find(s);
  return it == kTable.end() ? ov1::MERCHANT_ORDER_STATUS_UNSPECIFIED : it->second;
}

OrderStatus DeriveParentStatus(const std::vector<OrderStatus>& children) {
  OrderStatus best = ov1::ORDER_STATUS_UNSPECIFIED;
  for (OrderStatus s : children) {
    if (best == ov1::ORDER_STATUS_UNSPECIFIED || Rank(s) < Rank(best)) best = s;
  }
  return best;
}

OrderFlow::OrderFlow(OrderType type, std::string name, std::vector<Transition> table,
                     std::chrono::milliseconds payment_window,
                     std::chrono::milliseconds after_sale_window)
    : type_(type),
      machine_(std::move(name), std::move(table)),
      payment_window_(payment_window),
      after_sale_window_(after_sale_window) {}

absl::StatusOr<OrderStatus> OrderFlow::Next(const GuardInput& order, std::string_view action,
                                            std::string_view actor,
                                            std::string_view error_reason) const {
  const std::string from = StatusName(order.status);
  const std::vector<std::pair<std::string, std::string>> meta = {{"current_status", from},
                                                                 {"action", std::string(action)}};
  if (!machine_.CanApply(from, action)) {
    return FailedPreconditionError(
        error_reason, absl::StrCat("order_status/", from),
        absl::StrCat("cannot ", ToAbsl(action), " an order in status ", from), meta);
  }
  auto next = machine_.Next(from, action, actor, error_reason);
  if (!next.ok()) {
    // Another actor's transition (a buyer cancelling a PAID order): refused like a state that
    // forbids it, with the order's metadata.
    if (next.status().code() != absl::StatusCode::kFailedPrecondition) return next.status();
    auto with_actor = meta;
    with_actor.emplace_back("actor", std::string(actor));
    return FailedPreconditionError(error_reason, absl::StrCat("order_status/", from),
                                   FromAbsl(next.status().message()), with_actor);
  }
  // Guard: a completed order re-opens only for after-sale, and only within its window.
  if (order.status == ov1::ORDER_STATUS_COMPLETED && action == kActionAfterSaleOpen &&
      order.now >= order.completed_at + after_sale_window_) {
    return FailedPreconditionError("AFTER_SALE_WINDOW_CLOSED", "order_status/COMPLETED",
                                   "the after-sale window of this completed order has passed",
                                   meta);
  }
  if (*next == kReturnToPrevious) {
    if (order.status_before_after_sale == ov1::ORDER_STATUS_UNSPECIFIED) {
      return FailedPreconditionError(error_reason, absl::StrCat("order_status/", from),
                                     "no status to return to after the after-sale", meta);
    }
    return order.status_before_after_sale;
  }
  OrderStatus to = StatusFromName(*next);
  if (to == ov1::ORDER_STATUS_UNSPECIFIED) {
    return absl::InternalError(absl::StrCat("state table names unknown status ", *next));
  }
  return to;
}

std::vector<Transition> OrderFlows::NormalTable() {
  const std::set<std::string> buyer_admin = {kActorBuyer, kActorAdmin};
  const std::set<std::string> admin = {kActorAdmin};
  const std::set<std::string> system = {kActorSystem};
  return {
      {"PENDING_PAYMENT", kActionPay, "PAID", system},
      {"PENDING_PAYMENT", kActionCancel, "CANCELLED", buyer_admin},
      {"PENDING_PAYMENT", kActionTimeout, "CANCELLED", system},
      {"PENDING_PAYMENT", kActionChangeAddress, "PENDING_PAYMENT", buyer_admin},
      {"PAID", kActionAccept, "AWAITING_SHIPMENT", system},
      {"PAID", kActionCancel, "CANCELLED", admin},
      {"PAID", kActionOutOfStock, "CANCELLED", system},
      {"PAID", kActionChangeAddress, "PAID", buyer_admin},
      {"PAID", kActionAfterSaleOpen, "AFTER_SALE_IN_PROGRESS", system},
      {"AWAITING_SHIPMENT", kActionShip, "SHIPPED", system},
      {"AWAITING_SHIPMENT", kActionOutOfStock, "CANCELLED", system},
      {"AWAITING_SHIPMENT", kActionCancel, "CANCELLED", admin},
      {"AWAITING_SHIPMENT", kActionChangeAddress, "AWAITING_SHIPMENT", buyer_admin},
      {"AWAITING_SHIPMENT", kActionAfterSaleOpen, "AFTER_SALE_IN_PROGRESS", system},
      {"SHIPPED", kActionDeliver, "DELIVERED", system},
      {"SHIPPED", kActionConfirmReceipt, "COMPLETED", buyer_admin},
      {"SHIPPED", kActionAfterSaleOpen, "AFTER_SALE_IN_PROGRESS", system},
      {"DELIVERED", kActionConfirmReceipt, "COMPLETED", buyer_admin},
      {"DELIVERED", kActionAutoConfirm, "COMPLETED", system},
      {"DELIVERED", kActionAfterSaleOpen, "AFTER_SALE_IN_PROGRESS", system},
      {"COMPLETED", kActionAfterSaleOpen, "AFTER_SALE_IN_PROGRESS", system},
      {"AFTER_SALE_IN_PROGRESS", kActionAfterSaleRefunded, "AFTER_SALE_COMPLETED", system},
      {"AFTER_SALE_IN_PROGRESS", kActionAfterSaleEnd, kReturnToPrevious, system},
  };
}

// Flash-sale orders are picked as soon as they are paid: the address is frozen at payment and
// an admin cannot cancel once the warehouse accepted.
std::vector<Transition> OrderFlows::FlashSaleTable() {
  const std::set<std::string> buyer_admin = {kActorBuyer, kActorAdmin};
  const std::set<std::string> admin = {kActorAdmin};
  const std::set<std::string> system = {kActorSystem};
  return {
      {"PENDING_PAYMENT", kActionPay, "PAID", system},
      {"PENDING_PAYMENT", kActionCancel, "CANCELLED", buyer_admin},
      {"PENDING_PAYMENT", kActionTimeout, "CANCELLED", system},
      {"PENDING_PAYMENT", kActionChangeAddress, "PENDING_PAYMENT", buyer_admin},
      {"PAID", kActionAccept, "AWAITING_SHIPMENT", system},
      {"PAID", kActionCancel, "CANCELLED", admin},
      {"PAID", kActionOutOfStock, "CANCELLED", system},
      {"PAID", kActionAfterSaleOpen, "AFTER_SALE_IN_PROGRESS", system},
      {"AWAITING_SHIPMENT", kActionShip, "SHIPPED", system},
      {"AWAITING_SHIPMENT", kActionOutOfStock, "CANCELLED", system},
      {"AWAITING_SHIPMENT", kActionAfterSaleOpen, "AFTER_SALE_IN_PROGRESS", system},
      {"SHIPPED", kActionDeliver, "DELIVERED", system},
      {"SHIPPED", kActionConfirmReceipt, "COMPLETED", buyer_admin},
      {"SHIPPED", kActionAfterSaleOpen, "AFTER_SALE_IN_PROGRESS", system},
      {"DELIVERED", kActionConfirmReceipt, "COMPLETED", buyer_admin},
      {"DELIVERED", kActionAutoConfirm, "COMPLETED", system},
      {"DELIVERED", kActionAfterSaleOpen, "AFTER_SALE_IN_PROGRESS", system},
      {"COMPLETED", kActionAfterSaleOpen, "AFTER_SALE_IN_PROGRESS", system},
      {"AFTER_SALE_IN_PROGRESS", kActionAfterSaleRefunded, "AFTER_SALE_COMPLETED", system},
      {"AFTER_SALE_IN_PROGRESS", kActionAfterSaleEnd, kReturnToPrevious, system},
  };
}

std::shared_ptr<const OrderFlows> OrderFlows::Default(const FlowOptions& options) {
  auto flows = std::make_shared<OrderFlows>();
  flows->Add(std::make_unique<OrderFlow>(::orderly::common::v1::ORDER_TYPE_NORMAL, "normal",
                                         NormalTable(), options.normal_payment_window,
                                         options.after_sale_window));
  flows->Add(std::make_unique<OrderFlow>(::orderly::common::v1::ORDER_TYPE_FLASH_SALE, "flash_sale",
                                         FlashSaleTable(), options.flash_sale_payment_window,
                                         options.after_sale_window));
  return flows;
}

const OrderFlow* OrderFlows::Find(OrderType type) const {
  auto it = flows_.find(static_cast<int>(type));
  return it == flows_.end() ? nullptr : it->second.get();
}

void OrderFlows::Add(std::unique_ptr<OrderFlow> flow) {
  const int key = static_cast<int>(flow->type());
  flows_[key] = std::move(flow);
}

}  // namespace orderly::order_core
