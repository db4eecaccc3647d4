#pragma once
// PostgreSQL access for orders: the create transaction's inserts, row-locked reads, versioned
// status changes with their history rows, timers, create intents and the list queries. Every
// function works inside a caller's transaction so the order, its history and its outbox event
// commit together. SQL lives as named constants in order_repository.cpp.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <pqxx/pqxx>

#include "orderly/common/v1/actor.pb.h"
#include "orderly/core/clock.hpp"
#include "orderly/order/v1/order.pb.h"

namespace orderly::order_core {

using Tx = pqxx::transaction_base;

// One order row plus the columns the API does not show.
struct OrderRecord {
  order::v1::Order order;  // header fields; lines/discounts/history only when loaded in full
  bool top_level = true;
  bool fulfillment_unit = true;
  std::string warehouse_id;
  std::string request_id;
  std::string request_fingerprint;

  int64_t id() const;
  int64_t version() const { return order.version(); }
  order::v1::OrderStatus status() const { return order.status(); }
};

// Allocation of one order-level discount (by position in Order.discount_lines) to a line.
struct DiscountAllocation {
  int discount_seq = 0;  // index into the top order's discount_lines
  int line_no = 0;       // OrderLine.line_id as a number
  int64_t amount_minor = 0;
};

// Everything the create transaction writes, top-level order first.
struct CreatePlan {
  std::vector<OrderRecord> orders;  // [0] = top-level; then children (if split)
  // Lines as stored once under the top-level order; line i belongs to unit_of_line[i].
  std::vector<order::v1::OrderLine> lines;
  std::vector<int64_t> unit_of_line;
  std::vector<DiscountAllocation> allocations;
  TimePoint timer_due{};
};

// What the create write adds to the plan.
struct CreateWrite {
  std::string buyer_id;
  std::vector<std::string> coupon_ids;  // frozen for the order
  int64_t points = 0;                   // frozen for the order
  std::string events_json;              // events::OutboxRowsJson of the OrderCreated events
};

// A status change guarded by the version the caller read.
struct StatusChange {
  int64_t order_id = 0;
  int64_t expected_version = 0;
  order::v1::OrderStatus from = order::v1::ORDER_STATUS_UNSPECIFIED;
  order::v1::OrderStatus to = order::v1::ORDER_STATUS_UNSPECIFIED;
  std::string action;
  common::v1::Actor actor;
  std::string reason;
  TimePoint at{};
  // Column updates that go with the transition (unset = unchanged).
  bool set_paid_at = false, set_shipped_at = false, set_delivered_at = false,
       set_completed_at = false, set_cancelled_at = false;
  std::optional<order::v1::CancelReason> cancel_reason;
  std::string cancel_reason_text;
  std::optional<std::string> payment_id;
  std::optional<order::v1::OrderStatus> status_before_after_sale;
};

struct ListQuery {
  enum class View { kBuyer, kMerchant, kAdmin };
  View view = View::kBuyer;
  std::string buyer_id;     // required for kBuyer, optional filter for kAdmin
  std::string merchant_id;  // required for kMerchant, optional filter for kAdmin
  std::vector<int> statuses;
  std::optional<TimePoint> created_after, created_before;
  std::optional<int64_t> min_total, max_total;
  std::string sku_id;
  int limit = 20;
  // Keyset cursor: rows strictly older than (created_at, order_id).
  std::optional<std::pair<int64_t, int64_t>> after;  // {created_at unix micros, order_id}
};

class OrderRepository {
 public:
  // Idempotency layer 2/3 lookups.
  absl::StatusOr<std::optional<OrderRecord>> Find(Tx& tx, int64_t order_id);
  absl::StatusOr<std::optional<OrderRecord>> FindByRequest(Tx& tx, const std::string& buyer_id,
                                                           const std::string& request_id);

  // The create write, all or nothing, in ONE round trip (the stored function order_create of
  // migration 0003): orders, lines, discounts, history, timer (dropping the intent), the coupon
  // and points freeze and the events. Run it in a pqxx::nontransaction: it commits by itself.
  // ALREADY_EXISTS when the order id (or the buyer's request id) is taken; FAILED_PRECONDITION
  // COUPON_NOT_USABLE / POINTS_INSUFFICIENT when another order took them since pricing.
  absl::Status Create(Tx& tx, const CreatePlan& plan, TimePoint now, const CreateWrite& write);

  // One round trip, committed asynchronously (see migration 0003).
  absl::Status InsertIntent(Tx& tx, int64_t order_id, const std::string& buyer_id, TimePoint now);
  absl::Status DeleteIntent(Tx& tx, int64_t order_id);
  // Intents older than `before`, locked (SKIP LOCKED) for the recovery pass.
  absl::StatusOr<std::vector<int64_t>> ClaimStaleIntents(Tx& tx, TimePoint before, int limit);

  // SELECT ... FOR UPDATE; NOT_FOUND ORDER_NOT_FOUND when absent.
  absl::StatusOr<OrderRecord> Lock(Tx& tx, int64_t order_id);
  absl::StatusOr<std::vector<OrderRecord>> LockChildren(Tx& tx, int64_t parent_id);

  // Applies the change and writes its history row. ABORTED STALE_VERSION when the row is no longer
  // at expected_version. Returns the new version.
  absl::StatusOr<int64_t> ApplyChange(Tx& tx, const StatusChange& change);
  absl::StatusOr<int64_t> ChangeAddress(Tx& tx, int64_t order_id, int64_t expected_version,
                                        order::v1::OrderStatus status,
                                        const common::v1::Address& address,
                                        const common::v1::Actor& actor, TimePoint at);

  absl::Status DeleteTimer(Tx& tx, int64_t order_id);
  // Due timers, locked with SKIP LOCKED so several instances split the work.
  absl::StatusOr<std::vector<int64_t>> ClaimDueTimers(Tx& tx, TimePoint now, int limit);
  absl::Status PostponeTimer(Tx& tx, int64_t order_id, TimePoint due);
  // Unpaid top-level orders past their deadline (the sweep).
  absl::StatusOr<std::vector<int64_t>> OverdueOrders(Tx& tx, TimePoint now, int limit);

  // The order with lines, discounts, history and child ids; NOT_FOUND when absent.
  absl::StatusOr<OrderRecord> LoadFull(Tx& tx, int64_t order_id);
  // Orders of a page (lines included, history not).
  absl::StatusOr<std::vector<order::v1::Order>> List(Tx& tx, const ListQuery& q);
};

}  // namespace orderly::order_core
