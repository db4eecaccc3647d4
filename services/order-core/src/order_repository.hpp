#pragma once
// The storage the order domain needs, as small interfaces (pg_order_repository.* implements
// them on PostgreSQL; unit tests use the mocks in tests/order_mocks.hpp). An OrderTx is one
// database transaction: the order, its history rows and its outbox events commit together.
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "marketing_repository.hpp"
#include "orderly/common/v1/actor.pb.h"
#include "orderly/core/clock.hpp"
#include "orderly/events/v1/event_envelope.pb.h"
#include "orderly/order/v1/order.pb.h"

namespace orderly::order_core {

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
  std::vector<std::string> coupon_ids;            // frozen for the order
  int64_t points = 0;                             // frozen for the order
  std::vector<events::v1::EventEnvelope> events;  // one OrderCreated per order, addressed
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

// One database transaction.
class OrderTx {
 public:
  virtual ~OrderTx() = default;

  // Idempotency layer 2/3 lookups (no lock).
  virtual absl::StatusOr<std::optional<OrderRecord>> Find(int64_t order_id) = 0;
  virtual absl::StatusOr<std::optional<OrderRecord>> FindByRequest(
      const std::string& buyer_id, const std::string& request_id) = 0;
  // SELECT ... FOR UPDATE; NOT_FOUND ORDER_NOT_FOUND when absent.
  virtual absl::StatusOr<OrderRecord> Lock(int64_t order_id) = 0;
  virtual absl::StatusOr<std::vector<OrderRecord>> LockChildren(int64_t parent_id) = 0;
  // The order with lines, discounts, history and child ids; NOT_FOUND when absent.
  virtual absl::StatusOr<OrderRecord> LoadFull(int64_t order_id) = 0;
  // Orders of a page (lines included, history not).
  virtual absl::StatusOr<std::vector<order::v1::Order>> List(const ListQuery& q) = 0;

  // Applies the change and writes its history row. ABORTED STALE_VERSION when the row is no
  // longer at expected_version. Returns the new version.
  virtual absl::StatusOr<int64_t> ApplyChange(const StatusChange& change) = 0;
  virtual absl::StatusOr<int64_t> ChangeAddress(int64_t order_id, int64_t expected_version,
                                                order::v1::OrderStatus status,
                                                const common::v1::Address& address,
                                                const common::v1::Actor& actor, TimePoint at) = 0;

  // The payment timer.
  virtual absl::Status DeleteTimer(int64_t order_id) = 0;
  // Due timers, locked with SKIP LOCKED so several instances split the work.
  virtual absl::StatusOr<std::vector<int64_t>> ClaimDueTimers(TimePoint now, int limit) = 0;
  virtual absl::Status PostponeTimer(int64_t order_id, TimePoint due) = 0;
  // Unpaid top-level orders past their deadline (the sweep).
  virtual absl::StatusOr<std::vector<int64_t>> OverdueOrders(TimePoint now, int limit) = 0;

  // Create intents: intents older than `before`, locked (SKIP LOCKED) for the recovery pass.
  virtual absl::StatusOr<std::vector<int64_t>> ClaimStaleIntents(TimePoint before, int limit) = 0;
  virtual absl::Status DeleteIntent(int64_t order_id) = 0;

  // The coupons and points the order's create froze: frozen -> used (payment), frozen ->
  // available / returned (cancel; used coupons stay used). Both idempotent.
  virtual absl::Status UseFrozenBenefits(int64_t order_id) = 0;
  virtual absl::Status UnfreezeBenefits(int64_t order_id) = 0;

  // The transactional outbox (the order topic). The envelope comes addressed (aggregate, order
  // id, causation); ids and sequence are filled in.
  virtual absl::Status AppendEvent(events::v1::EventEnvelope& event) = 0;
};

using OrderTxFn = std::function<absl::Status(OrderTx&)>;

class OrderRepository {
 public:
  virtual ~OrderRepository() = default;

  // Runs fn in one transaction (retried whole on a serialization failure, so fn must start
  // from scratch on each call); commits when it returns OK.
  virtual absl::Status InTransaction(const OrderTxFn& fn) = 0;

  // CreateOrder's first read, one round trip and no transaction (idempotency layer 2 and the
  // pricing inputs together; the write re-checks coupons and points): the buyer's tier, points
  // and requested coupons, and the order when order_id is already taken.
  struct CreateInputs {
    BuyerAccount account;
    std::optional<OrderRecord> existing;
  };
  virtual absl::StatusOr<CreateInputs> ReadForCreate(const std::string& buyer_id,
                                                     const std::vector<std::string>& coupon_ids,
                                                     int64_t order_id) = 0;

  // The intent row written before inventory Reserve (one round trip, committed asynchronously,
  // see migration 0003), so a crash after Reserve is found by the recovery pass.
  virtual absl::Status InsertIntent(int64_t order_id, const std::string& buyer_id,
                                    TimePoint now) = 0;

  // The create write, all or nothing, in ONE round trip (the stored function order_create of
  // migration 0003): orders, lines, discounts, history, timer (dropping the intent), the coupon
  // and points freeze and the events. ALREADY_EXISTS when the order id (or the buyer's request
  // id) is taken; FAILED_PRECONDITION COUPON_NOT_USABLE / POINTS_INSUFFICIENT when another order
  // took them since pricing.
  virtual absl::Status Create(const CreatePlan& plan, TimePoint now, const CreateWrite& write) = 0;
};
using OrderRepositoryPtr = std::unique_ptr<OrderRepository>;

}  // namespace orderly::order_core
