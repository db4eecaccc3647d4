#pragma once
// The order domain: creation (validate, snapshot, price, reserve, persist), the state machine's
// transitions with their history rows and outbox events, cancel and payment timeout, payment and
// fulfillment events, and the queries with their ownership rules (a buyer sees and acts on their
// own orders, a merchant on their shop's). Which roles may call an RPC is the glue's check
// (server::RequireRole in order_grpc_service.cpp). No gRPC types beyond the request and response
// messages; identity comes in as a server::Caller.
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "inventory_client.hpp"
#include "marketing_repository.hpp"
#include "order_flows.hpp"
#include "order_repository.hpp"
#include "orderly/core/clock.hpp"
#include "orderly/core/ids.hpp"
#include "orderly/events/v1/event_envelope.pb.h"
#include "orderly/order/v1/order_service.pb.h"
#include "orderly/payment/v1/payment.pb.h"
#include "orderly/redis/client.hpp"
#include "orderly/server/handler.hpp"
#include "orderly/server/request_context.hpp"
#include "request_ledger.hpp"

namespace orderly::order_core {

struct OrderManagerOptions {
  FlowOptions flows;
  // The reservation outlives the payment deadline by this much, so the timeout cancel (not the
  // reservation expiry) is what normally returns the stock.
  std::chrono::milliseconds reservation_grace{std::chrono::minutes(5)};
  std::chrono::milliseconds request_ttl{std::chrono::minutes(5)};
  // How long a duplicate waits for the first request with its key before IDEMPOTENCY_IN_PROGRESS.
  std::chrono::milliseconds duplicate_wait{std::chrono::seconds(3)};
  // No CreateOrder runs longer than this (inventory and database deadlines included): a request
  // key still pending after it is a leftover of a lost Redis write, and the database decides.
  std::chrono::milliseconds request_in_flight{std::chrono::seconds(30)};
  std::chrono::milliseconds cache_ttl{std::chrono::minutes(10)};
  // An order id is accepted from GenerateOrderId this long (and no later than now + skew).
  std::chrono::milliseconds order_id_max_age{std::chrono::hours(24)};
};

// What a transition run inside a transaction leaves to do after commit.
struct AfterCommit {
  std::vector<int64_t> release_orders;  // inventory Release (best effort; events repair)
  inventory::v1::ReleaseReason release_reason = inventory::v1::RELEASE_REASON_UNSPECIFIED;
  std::vector<std::pair<int64_t, int64_t>> fences;  // (order id, new version) for the cache
};

class OrderManager {
 public:
  OrderManager(OrderRepositoryPtr orders, MarketingRepositoryPtr marketing, redis::Client* redis,
               InventoryClient& inventory, ClockPtr clock, uint32_t worker_id,
               OrderManagerOptions options = {});

  absl::StatusOr<std::string> GenerateOrderId(const server::Caller& caller,
                                              const std::string& buyer_id);
  absl::StatusOr<order::v1::Order> CreateOrder(const server::Caller& caller,
                                               const order::v1::CreateOrderRequest& req,
                                               const CallContext& ctx);
  absl::StatusOr<order::v1::Order> GetOrder(const server::Caller& caller,
                                            const std::string& order_id);
  absl::StatusOr<order::v1::ListOrdersResponse> ListOrders(const server::Caller& caller,
                                                           const order::v1::ListOrdersRequest& req);
  absl::StatusOr<order::v1::Order> CancelOrder(const server::Caller& caller,
                                               const order::v1::CancelOrderRequest& req,
                                               const CallContext& ctx);
  absl::StatusOr<order::v1::Order> ChangeShippingAddress(
      const server::Caller& caller, const order::v1::ChangeShippingAddressRequest& req);
  absl::StatusOr<order::v1::Order> ConfirmReceipt(const server::Caller& caller,
                                                  const order::v1::ConfirmReceiptRequest& req);

  // Payment timeout of one top-level order, in the caller's transaction (timer, sweep). A paid or
  // already cancelled order is left alone; an early call (deadline not reached) does nothing.
  // Returns whether it cancelled.
  absl::StatusOr<bool> TimeoutInTx(OrderTx& tx, int64_t order_id, AfterCommit* after);
  // Runs the post-commit work (inventory release, cache fences).
  void Finish(const AfterCommit& after, const CallContext& ctx);

  // Consumer handler: PaymentSucceeded, StockConfirmRefused, FulfillmentAccepted, ShipmentShipped,
  // ShipmentDelivered.
  // Unknown events are skipped (OK).
  absl::Status HandleEvent(OrderTx& tx, const events::v1::EventEnvelope& event, AfterCommit* after);

  // The recovery pass: reservations whose order never committed (crash between Reserve and the
  // order transaction, failed compensation) are released once older than `min_age`.
  absl::StatusOr<int> RecoverIntents(std::chrono::milliseconds min_age, int limit);

  OrderRepository& repository() { return *repo_; }
  MarketingRepository& marketing() { return *marketing_; }
  const OrderFlows& flows() const { return *flows_; }
  Clock& clock() { return *clock_; }

 private:
  // CreateOrder, one function per numbered step of docs/order-core.md.
  struct RequestKey {
    int64_t order_id = 0;
    std::string fingerprint;   // SHA-256 of the request minus request_id
    std::string ledger_key;    // create:<buyer>:<request_id>
    std::string ledger_value;  // <order_id>|<fingerprint>
  };
  struct RequestClaim {
    std::optional<absl::StatusOr<order::v1::Order>> answer;  // set: answered by layer 1
    bool claimed = false;  // this request holds the ledger key and must settle it
  };
  // 1. Validate.
  absl::Status Validate(const server::Caller& caller, const order::v1::CreateOrderRequest& req,
                        TimePoint now);
  // 2. Idempotency layer 1 (Redis); SettleRequest records the outcome.
  RequestClaim ClaimRequest(const order::v1::CreateOrderRequest& req, const RequestKey& key,
                            TimePoint now);
  void SettleRequest(const RequestKey& key, const absl::StatusOr<order::v1::Order>& result);
  // 3. Idempotency layer 2 (the database); then CreateFresh runs 4-9 (4 snapshot, 5 coupons and
  // points, 6 price, PlanOrders, 7 try, 8 write, 9 compensate).
  absl::StatusOr<order::v1::Order> ReadAndCreate(const order::v1::CreateOrderRequest& req,
                                                 const RequestKey& key,
                                                 const server::Caller& caller,
                                                 const CallContext& ctx);
  absl::StatusOr<order::v1::Order> CreateFresh(const order::v1::CreateOrderRequest& req,
                                               const RequestKey& key, BuyerAccount account,
                                               const server::Caller& caller,
                                               const CallContext& ctx);
  absl::StatusOr<CreatePlan> PlanOrders(const order::v1::CreateOrderRequest& req,
                                        const RequestKey& key,
                                        const std::vector<inventory::v1::Sku>& skus,
                                        const pricing::PricingResult& price,
                                        const PricingRulesSnapshot& rules,
                                        const BuyerAccount& account, const server::Caller& caller,
                                        TimePoint now, TimePoint deadline);
  // 7. Try: intent row, inventory Reserve.
  absl::Status TryReserve(const order::v1::CreateOrderRequest& req, int64_t order_id,
                          common::v1::OrderType type, TimePoint now, TimePoint deadline,
                          const CallContext& ctx);
  // 8. One transaction, one round trip.
  absl::Status WriteOrders(const order::v1::CreateOrderRequest& req, const CreatePlan& plan,
                           TimePoint now, int64_t points, const CallContext& ctx);
  // 9. Compensation when 8 fails.
  absl::StatusOr<order::v1::Order> Compensate(const order::v1::CreateOrderRequest& req,
                                              const RequestKey& key, absl::Status failure,
                                              const CallContext& ctx);
  absl::StatusOr<order::v1::Order> Replay(const OrderRecord& existing, const std::string& fp,
                                          const std::string& buyer_id);
  absl::StatusOr<order::v1::Order> ReplayFromDb(int64_t order_id, const std::string& fp,
                                                const std::string& buyer_id);
  absl::StatusOr<OrderRecord> LoadVisible(const server::Caller& caller, int64_t order_id);
  order::v1::Order View(order::v1::Order o) const;

  // Cancels a top-level order (and its children) or a single unit, inside tx.
  absl::StatusOr<bool> CancelInTx(OrderTx& tx, OrderRecord& rec, const std::string& action,
                                  const common::v1::Actor& actor, order::v1::CancelReason reason,
                                  const std::string& text, AfterCommit* after);
  absl::StatusOr<int64_t> Transition(OrderTx& tx, OrderRecord& rec, const std::string& action,
                                     const common::v1::Actor& actor, const std::string& reason,
                                     StatusChange change, const std::string& error_reason,
                                     AfterCommit* after);
  absl::Status DeriveParent(OrderTx& tx, int64_t parent_id, const std::string& action,
                            const std::string& causation, AfterCommit* after);
  absl::Status ApplyPayment(OrderTx& tx, const events::v1::EventEnvelope& event,
                            AfterCommit* after);
  absl::Status RefundPayment(OrderTx& tx, const OrderRecord& rec,
                             const events::v1::EventEnvelope& event,
                             payment::v1::RefundReason reason, std::string tag);
  // A payment past the deadline: true when inventory confirmed the stock (pay as usual), false
  // when it refused and the order was cancelled as timed out and the payment refunded.
  absl::StatusOr<bool> ConfirmLatePayment(OrderTx& tx, OrderRecord& rec,
                                          const events::v1::EventEnvelope& event,
                                          AfterCommit* after);
  absl::Status MarkPaid(OrderTx& tx, OrderRecord& rec, const events::v1::EventEnvelope& event,
                        AfterCommit* after);
  // StockConfirmRefused: a paid order inventory could not back with stock is cancelled as
  // OUT_OF_STOCK and refunded in full (history row, OrderCancelled, OrderRefundRequested).
  absl::Status ApplyStockRefused(OrderTx& tx, const events::v1::EventEnvelope& event,
                                 AfterCommit* after);
  absl::Status ApplyFulfillment(OrderTx& tx, int64_t order_id, const std::string& action,
                                const events::v1::EventEnvelope& event, AfterCommit* after);
  // Addresses the event (order_events.hpp) and appends it to the outbox.
  absl::Status Emit(OrderTx& tx, const order::v1::Order& o, events::v1::EventEnvelope env,
                    const std::string& causation);

  InventoryClient& inventory_;
  ClockPtr clock_;
  OrderManagerOptions options_;
  OrderFlowsPtr flows_;
  OrderIdGenerator ids_;
  OrderRepositoryPtr repo_;
  MarketingRepositoryPtr marketing_;
  RequestLedger ledger_;
  OrderCache cache_;
};

}  // namespace orderly::order_core
