#include "order_manager.hpp"

#include <absl/strings/str_cat.h>
#include <google/protobuf/util/message_differencer.h>
#include <spdlog/spdlog.h>

#include "order_events.hpp"
#include "order_plan.hpp"
#include "order_queries.hpp"
#include "order_validation.hpp"
#include "orderly/core/metrics.hpp"
#include "orderly/core/money.hpp"
#include "orderly/core/proto_convert.hpp"
#include "orderly/core/status.hpp"
#include "orderly/fulfillment/v1/fulfillment.pb.h"
#include "orderly/payment/v1/payment.pb.h"

namespace orderly::order_core {
namespace {

namespace ov1 = ::orderly::order::v1;
namespace ev1 = ::orderly::events::v1;
namespace iv1 = ::orderly::inventory::v1;
using server::Caller;
using server::Role;

using server::RoleNotAllowed;

common::v1::Actor ActorOf(const Caller& c) {
  common::v1::Actor a;
  switch (c.role) {
    case Role::kBuyer: a.set_role(common::v1::ROLE_BUYER); break;
    case Role::kMerchant: a.set_role(common::v1::ROLE_MERCHANT); break;
    case Role::kAdmin: a.set_role(common::v1::ROLE_ADMIN); break;
    case Role::kService: a.set_role(common::v1::ROLE_SERVICE); break;
    default: break;
  }
  a.set_id(c.user_id);
  return a;
}

void CountOutcome(const std::string& metric, const std::string& help, const std::string& outcome) {
  metrics::Registry::Default().GetCounter(metric, help, {{"outcome", outcome}}).Inc();
}

// Payments that arrived after the order's payment deadline, by outcome (confirmed: inventory
// still held the stock; refunded: it did not, the order was cancelled as timed out).
void CountLatePayment(const std::string& outcome) {
  CountOutcome("orderly_order_late_payments_total",
               "Payments applied after the order's payment deadline, by outcome", outcome);
}

// StockConfirmRefused handled, by outcome (cancelled_refunded, already_cancelled, unresolved).
void CountStockRefusal(const std::string& outcome) {
  CountOutcome("orderly_order_stock_refusals_total",
               "Paid orders inventory could not back with stock, by what order-core did", outcome);
}

common::v1::Actor SystemActor() {
  common::v1::Actor a;
  a.set_role(common::v1::ROLE_SYSTEM);
  return a;
}

std::string ActorName(const common::v1::Actor& a) {
  switch (a.role()) {
    case common::v1::ROLE_BUYER: return kActorBuyer;
    case common::v1::ROLE_MERCHANT: return kActorMerchant;
    case common::v1::ROLE_ADMIN: return kActorAdmin;
    case common::v1::ROLE_SERVICE: return kActorService;
    case common::v1::ROLE_SYSTEM: return kActorSystem;
    default: return "";
  }
}

absl::StatusOr<int64_t> ParseOrderId(const std::string& field, const std::string& s) {
  Violations v;
  uint64_t id = 0;
  CheckId(v, field, s, &id);
  if (!v.empty()) return v.ToStatus();
  return static_cast<int64_t>(id);
}

absl::Status FingerprintMismatch(const std::string& what) {
  return ErrorWithInfo(absl::StatusCode::kAlreadyExists,
                       absl::StrCat(what, " was already used by a different request"),
                       "REQUEST_FINGERPRINT_MISMATCH");
}

common::v1::OrderType TypeOf(const ov1::CreateOrderRequest& req) {
  return req.order_type() == common::v1::ORDER_TYPE_UNSPECIFIED ? common::v1::ORDER_TYPE_NORMAL
                                                                : req.order_type();
}

GuardInput GuardOf(const OrderRecord& rec, TimePoint now) {
  GuardInput g;
  g.status = rec.status();
  g.status_before_after_sale = rec.order.status_before_after_sale();
  if (rec.order.has_completed_at()) g.completed_at = FromProtoTimestamp(rec.order.completed_at());
  g.now = now;
  return g;
}

ov1::OrderStatusTransition TransitionOf(const StatusChange& c) {
  ov1::OrderStatusTransition t;
  t.set_from_status(c.from);
  t.set_to_status(c.to);
  t.set_action(c.action);
  *t.mutable_actor() = c.actor;
  t.set_reason(c.reason);
  *t.mutable_occurred_at() = ToProtoTimestamp(c.at);
  return t;
}

// Step 4's checks of the snapshot: on sale, in the shop's currency, of the order's kind, within
// the per-order limit.
absl::Status CheckSkus(const ov1::CreateOrderRequest& req, common::v1::OrderType type,
                       const std::vector<iv1::Sku>& skus, const std::string& currency) {
  for (size_t i = 0; i < skus.size(); ++i) {
    const auto& sku = skus[i];
    const std::string subject = absl::StrCat("sku/", sku.sku_id());
    if (sku.sale_status() != iv1::SKU_SALE_STATUS_ON_SALE) {
      return FailedPreconditionError("SKU_OFF_SALE", subject, "the SKU is not on sale",
                                     {{"sku_id", sku.sku_id()}});
    }
    if (sku.list_price().currency_code() != currency) {
      return ErrorWithInfo(absl::StatusCode::kInvalidArgument,
                           absl::StrCat("SKU ", sku.sku_id(), " is priced in ",
                                        sku.list_price().currency_code(), ", orders in ", currency),
                           "CURRENCY_MISMATCH",
                           {{"expected", currency}, {"actual", sku.list_price().currency_code()}});
    }
    if ((type == common::v1::ORDER_TYPE_FLASH_SALE) != sku.flash_sale()) {
      return FailedPreconditionError("FLASH_SALE_NOT_READY", subject,
                                     "flash-sale SKUs are bought with flash-sale orders only",
                                     {{"sku_id", sku.sku_id()}});
    }
    if (sku.purchase_limit() > 0 &&
        req.items(static_cast<int>(i)).quantity() > sku.purchase_limit()) {
      return FailedPreconditionError(
          "PURCHASE_LIMIT_EXCEEDED", subject, "quantity exceeds the per-order limit",
          {{"sku_id", sku.sku_id()}, {"limit", std::to_string(sku.purchase_limit())}});
    }
  }
  return absl::OkStatus();
}

// Step 5: unknown coupons, another buyer's coupon and points over the balance are bad input;
// coupon *state* problems are pricing's to report.
absl::Status CheckBuyerInputs(const ov1::CreateOrderRequest& req, const BuyerAccount& account) {
  Violations v;
  for (int i = 0; i < req.coupon_ids_size(); ++i) {
    auto it = account.coupons.find(req.coupon_ids(i));
    if (it == account.coupons.end()) {
      v.Add(absl::StrCat("coupon_ids[", i, "]"), "unknown coupon");
    } else if (it->second.coupon.owner_id != req.buyer_id()) {
      // Another buyer's coupon is reported exactly like an unknown one.
      v.Add(absl::StrCat("coupon_ids[", i, "]"), "unknown coupon");
    }
  }
  if (req.points_to_use() > account.points_balance) {
    v.Add("points_to_use",
          absl::StrCat("exceeds the points balance (", account.points_balance, ")"));
  }
  if (!v.empty()) return v.ToStatus("invalid CreateOrder request");
  return absl::OkStatus();
}

// Step 6 (after CheckBuyerInputs: every requested coupon is the buyer's).
absl::StatusOr<pricing::PricingResult> Price(const ov1::CreateOrderRequest& req,
                                             const std::vector<iv1::Sku>& skus,
                                             const BuyerAccount& account,
                                             const pricing::PricingRules& rules, TimePoint now) {
  pricing::PricingRequest preq = PricingRequestFor(req, skus, rules.currency);
  preq.member_tier = account.member_tier;
  preq.now = now;
  for (const auto& id : req.coupon_ids()) preq.coupons.push_back(account.coupons.at(id).coupon);
  return pricing::PriceOrder(preq, rules);
}

// A buyer who sent expected_total must have seen this total: otherwise PRICE_CHANGED with the
// whole new breakdown.
absl::Status CheckExpectedTotal(const ov1::CreateOrderRequest& req,
                                const pricing::PricingResult& price, const std::string& currency) {
  if (!req.has_expected_total() || (req.expected_total().amount_minor() == price.payable_total &&
                                    req.expected_total().currency_code() == price.currency)) {
    return absl::OkStatus();
  }
  return FailedPreconditionError(
      "PRICE_CHANGED", absl::StrCat("order/", req.order_id()),
      absl::StrCat("the payable total is now ", FormatMoney({price.payable_total, currency})),
      {{"expected_total", std::to_string(req.expected_total().amount_minor())},
       {"actual_total", std::to_string(price.payable_total)},
       {"currency", currency},
       {"items_total", std::to_string(price.base_total)},
       {"activity_discount", std::to_string(price.activity_discount)},
       {"member_discount", std::to_string(price.member_discount)},
       {"coupon_discount", std::to_string(price.coupon_discount)},
       {"points_discount", std::to_string(price.points_discount)},
       {"points_used", std::to_string(price.points_used)},
       {"shipping_fee", std::to_string(price.shipping_fee)}});
}

}  // namespace

OrderManager::OrderManager(OrderRepositoryPtr orders, MarketingRepositoryPtr marketing,
                           redis::Client* redis, InventoryClient& inventory, ClockPtr clock,
                           uint32_t worker_id, OrderManagerOptions options)
    : inventory_(inventory),
      clock_(clock),
      options_(options),
      flows_(OrderFlows::Default(options.flows)),
      ids_(worker_id, clock),
      repo_(std::move(orders)),
      marketing_(std::move(marketing)),
      ledger_(redis, options.request_ttl),
      cache_(redis, options.cache_ttl) {}

ov1::Order OrderManager::View(ov1::Order o) const {
  o.set_buyer_status_view(BuyerViewOf(o.status()));
  o.set_merchant_status_view(MerchantViewOf(o.status()));
  return o;
}

// ---------------------------------------------------------------------------------------------
// GenerateOrderId

absl::StatusOr<std::string> OrderManager::GenerateOrderId(const Caller& caller,
                                                          const std::string& buyer_id) {
  Violations v;
  CheckText(v, "buyer_id", buyer_id, kMaxIdLength, true);
  if (!v.empty()) return v.ToStatus();
  if (caller.role == Role::kBuyer && caller.user_id != buyer_id) {
    return RoleNotAllowed(caller, "generate order ids for another buyer");
  }
  auto id = ids_.Next(buyer_id);
  if (!id.ok()) return id.status();
  return std::to_string(*id);
}

// ---------------------------------------------------------------------------------------------
// CreateOrder: the numbered steps of docs/order-core.md, one function each.

absl::StatusOr<ov1::Order> OrderManager::CreateOrder(const Caller& caller,
                                                     const ov1::CreateOrderRequest& req,
                                                     const CallContext& ctx) {
  const TimePoint now = clock_->Now();
  if (auto s = Validate(caller, req, now); !s.ok()) return s;
  uint64_t uid = 0;
  ParseId(req.order_id(), &uid);
  RequestKey key;
  key.order_id = static_cast<int64_t>(uid);
  key.fingerprint = RequestFingerprint(req);
  key.ledger_key = absl::StrCat("create:", req.buyer_id(), ":", req.request_id());
  key.ledger_value = absl::StrCat(req.order_id(), "|", key.fingerprint);
  RequestClaim claim = ClaimRequest(req, key, now);
  if (claim.answer) return *std::move(claim.answer);
  auto result = ReadAndCreate(req, key, caller, ctx);
  if (claim.claimed) SettleRequest(key, result);
  return result;
}

// 1. Validate: nothing is read, reserved or written for a malformed request.
absl::Status OrderManager::Validate(const Caller& caller, const ov1::CreateOrderRequest& req,
                                    TimePoint now) {
  if (auto s = ValidateCreate(req, *flows_); !s.ok()) return s;
  if (caller.role == Role::kBuyer && caller.user_id != req.buyer_id()) {
    return RoleNotAllowed(caller, "create orders for another buyer");
  }
  uint64_t uid = 0;
  ParseId(req.order_id(), &uid);
  const TimePoint issued = TimeOfOrderId(uid);
  if (ShardOfOrderId(uid) != ShardGene(req.buyer_id()) || issued > now + std::chrono::minutes(5) ||
      issued + options_.order_id_max_age < now) {
    return ErrorWithInfo(absl::StatusCode::kInvalidArgument,
                         "order_id was not issued by GenerateOrderId for this buyer (or expired)",
                         "ORDER_ID_INVALID", {{"order_id", req.order_id()}});
  }
  return absl::OkStatus();
}

// 2. Idempotency layer 1: the request id in Redis (double clicks and retries within minutes).
OrderManager::RequestClaim OrderManager::ClaimRequest(const ov1::CreateOrderRequest& req,
                                                      const RequestKey& key, TimePoint now) {
  const int64_t now_ms = ToUnixMillis(now);
  // A pending entry older than any request can run is a leftover (Redis lost the "done" write
  // that followed it): the database, not the entry, knows whether the order exists.
  auto leftover = [&](const RequestLedger::Entry& e) {
    return e.state == RequestLedger::State::kInProgress &&
           now_ms - e.claimed_at_ms >= options_.request_in_flight.count();
  };
  RequestLedger::Entry entry = ledger_.Claim(key.ledger_key, key.ledger_value, now_ms);
  bool take_over = false;
  if (entry.state == RequestLedger::State::kInProgress) {
    if (entry.value != key.ledger_value) return {FingerprintMismatch("request_id")};
    entry =
        ledger_.AwaitSettled(key.ledger_key, std::move(entry), options_.duplicate_wait, leftover);
    if (leftover(entry)) {
      take_over = true;  // layer 2 replays the committed order or creates it
    } else if (entry.state == RequestLedger::State::kInProgress) {
      // Still in flight, or its "done" was lost a moment ago: a committed order is answered.
      auto committed = ReplayFromDb(key.order_id, key.fingerprint, req.buyer_id());
      if (committed.ok() || ErrorReason(committed.status()) != "IDEMPOTENCY_IN_PROGRESS") {
        return {std::move(committed)};
      }
      return {ErrorWithInfo(absl::StatusCode::kAborted,
                            "an identical request is still being processed; retry shortly",
                            "IDEMPOTENCY_IN_PROGRESS", {{"order_id", req.order_id()}})};
    } else if (entry.state == RequestLedger::State::kClaimed) {
      // The first request gave up; take over.
      entry = ledger_.Claim(key.ledger_key, key.ledger_value, now_ms);
    }
  }
  if (entry.state == RequestLedger::State::kDone) {
    if (entry.value != key.ledger_value) return {FingerprintMismatch("request_id")};
    return {ReplayFromDb(key.order_id, key.fingerprint, req.buyer_id())};
  }
  return {std::nullopt, take_over || entry.state == RequestLedger::State::kClaimed};
}

void OrderManager::SettleRequest(const RequestKey& key, const absl::StatusOr<ov1::Order>& result) {
  if (result.ok()) {
    ledger_.Complete(key.ledger_key, key.ledger_value);
  } else if (result.status().code() != absl::StatusCode::kAlreadyExists) {
    ledger_.Abandon(key.ledger_key);
  }
}

// 3. Idempotency layer 2: the order id (a retry after the ledger entry expired, or Redis down),
// read with the buyer's tier, points and coupons (no transaction: nothing here needs a
// consistent snapshot; the write re-checks coupons and points).
absl::StatusOr<ov1::Order> OrderManager::ReadAndCreate(const ov1::CreateOrderRequest& req,
                                                       const RequestKey& key, const Caller& caller,
                                                       const CallContext& ctx) {
  std::vector<std::string> coupon_ids(req.coupon_ids().begin(), req.coupon_ids().end());
  auto inputs = repo_->ReadForCreate(req.buyer_id(), coupon_ids, key.order_id);
  if (!inputs.ok()) return inputs.status();
  if (inputs->existing) return Replay(*inputs->existing, key.fingerprint, req.buyer_id());
  return CreateFresh(req, key, std::move(inputs->account), caller, ctx);
}

absl::StatusOr<ov1::Order> OrderManager::Replay(const OrderRecord& existing, const std::string& fp,
                                                const std::string& buyer_id) {
  if (existing.order.buyer_id() != buyer_id || existing.request_fingerprint != fp ||
      !existing.top_level) {
    return FingerprintMismatch("order_id");
  }
  return GetOrder({buyer_id, Role::kBuyer}, existing.order.order_id());
}

absl::StatusOr<ov1::Order> OrderManager::ReplayFromDb(int64_t order_id, const std::string& fp,
                                                      const std::string& buyer_id) {
  std::optional<OrderRecord> existing;
  absl::Status s = repo_->InTransaction([&](OrderTx& tx) {
    auto found = tx.Find(order_id);
    if (!found.ok()) return found.status();
    existing = std::move(*found);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!existing) {
    return ErrorWithInfo(absl::StatusCode::kAborted,
                         "the request was accepted but its order is not visible yet; retry",
                         "IDEMPOTENCY_IN_PROGRESS", {{"order_id", std::to_string(order_id)}});
  }
  return Replay(*existing, fp, buyer_id);
}

absl::StatusOr<ov1::Order> OrderManager::CreateFresh(const ov1::CreateOrderRequest& req,
                                                     const RequestKey& key, BuyerAccount account,
                                                     const Caller& caller, const CallContext& ctx) {
  const TimePoint now = clock_->Now();
  const auto type = TypeOf(req);
  // 4. Snapshot the SKUs, checked against the order and the pricing currency.
  std::vector<std::string> sku_ids;
  for (const auto& item : req.items()) sku_ids.push_back(item.sku_id());
  auto skus = inventory_.GetSkus(sku_ids, ctx);
  if (!skus.ok()) return skus.status();
  auto rules = marketing_->Rules(now);
  if (!rules.ok()) return rules.status();
  if (auto s = CheckSkus(req, type, *skus, (*rules)->rules.currency); !s.ok()) return s;
  // 5. Coupons and points the buyer does not have.
  if (auto s = CheckBuyerInputs(req, account); !s.ok()) return s;
  // 6. Price it; the buyer must have seen this total.
  auto price = Price(req, *skus, account, (*rules)->rules, now);
  if (!price.ok()) return price.status();
  if (auto s = CheckExpectedTotal(req, *price, (*rules)->rules.currency); !s.ok()) return s;
  const TimePoint deadline =
      now + std::chrono::duration_cast<TimePoint::duration>(flows_->Find(type)->payment_window());
  auto plan = PlanOrders(req, key, *skus, *price, **rules, account, caller, now, deadline);
  if (!plan.ok()) return plan.status();
  // 7. Try.
  if (auto s = TryReserve(req, key.order_id, type, now, deadline, ctx); !s.ok()) return s;
  // 8. One transaction, one round trip; 9. compensation when it fails.
  if (auto s = WriteOrders(req, *plan, now, price->points_used, ctx); !s.ok()) {
    return Compensate(req, key, std::move(s), ctx);
  }
  ov1::Order out = plan->orders[0].order;
  std::string payload;
  out.SerializeToString(&payload);
  cache_.Put(key.order_id, 1, payload);
  return View(std::move(out));
}

absl::StatusOr<CreatePlan> OrderManager::PlanOrders(
    const ov1::CreateOrderRequest& req, const RequestKey& key, const std::vector<iv1::Sku>& skus,
    const pricing::PricingResult& price, const PricingRulesSnapshot& rules,
    const BuyerAccount& account, const Caller& caller, TimePoint now, TimePoint deadline) {
  PlanInput in;
  in.request = &req;
  in.skus = &skus;
  in.price = &price;
  in.descriptions = rules.descriptions;
  for (const auto& [id, c] : account.coupons) in.descriptions[id] = c.description;
  in.order_id = key.order_id;
  in.order_type = TypeOf(req);
  in.request_fingerprint = key.fingerprint;
  in.created_by = ActorOf(caller);
  in.now = now;
  in.payment_deadline = deadline;
  in.next_child_id = [&]() -> absl::StatusOr<int64_t> {
    auto id = ids_.Next(req.buyer_id());
    if (!id.ok()) return id.status();
    return static_cast<int64_t>(*id);
  };
  return BuildCreatePlan(in);
}

// 7. Try: the intent row first, so a crash after Reserve is found by the recovery pass; then
// inventory Reserve keyed by the (parent) order id, held past the payment deadline.
absl::Status OrderManager::TryReserve(const ov1::CreateOrderRequest& req, int64_t order_id,
                                      common::v1::OrderType type, TimePoint now, TimePoint deadline,
                                      const CallContext& ctx) {
  if (auto s = repo_->InsertIntent(order_id, req.buyer_id(), now); !s.ok()) return s;
  iv1::ReserveRequest reserve;
  reserve.set_order_id(req.order_id());
  reserve.set_order_type(type);
  *reserve.mutable_expires_at() = ToProtoTimestamp(
      deadline + std::chrono::duration_cast<TimePoint::duration>(options_.reservation_grace));
  for (const auto& item : req.items()) {
    auto* it = reserve.add_items();
    it->set_sku_id(item.sku_id());
    it->set_quantity(item.quantity());
  }
  absl::Status s = inventory_.Reserve(reserve, ctx);
  if (s.ok()) return s;
  // A definite refusal reserved nothing; an unknown outcome keeps the intent for recovery.
  const auto code = s.code();
  if (code != absl::StatusCode::kUnavailable && code != absl::StatusCode::kDeadlineExceeded &&
      code != absl::StatusCode::kUnknown && code != absl::StatusCode::kAlreadyExists) {
    (void)repo_->InTransaction([&](OrderTx& tx) { return tx.DeleteIntent(order_id); });
  }
  if (code == absl::StatusCode::kAlreadyExists) return FingerprintMismatch("order_id");
  return s;
}

// 8. One transaction, one round trip: orders, lines, discounts, history, timer, coupon and
// points freeze, and the OrderCreated events.
absl::Status OrderManager::WriteOrders(const ov1::CreateOrderRequest& req, const CreatePlan& plan,
                                       TimePoint now, int64_t points, const CallContext& ctx) {
  CreateWrite write{.buyer_id = req.buyer_id(),
                    .coupon_ids = {req.coupon_ids().begin(), req.coupon_ids().end()},
                    .points = points};
  for (const OrderRecord& rec : plan.orders) {
    ev1::EventEnvelope& env = write.events.emplace_back(OrderCreated(rec.order));
    Address(env, rec.order, ctx.request_id);
  }
  return repo_->Create(plan, now, write);
}

// 9. Compensate, but only when no order holds this reservation: a concurrent duplicate may have
// committed the very same order id.
absl::StatusOr<ov1::Order> OrderManager::Compensate(const ov1::CreateOrderRequest& req,
                                                    const RequestKey& key, absl::Status failure,
                                                    const CallContext& ctx) {
  const int64_t order_id = key.order_id;
  std::optional<OrderRecord> existing;
  std::optional<OrderRecord> by_request;
  absl::Status look = repo_->InTransaction([&](OrderTx& tx) {
    auto found = tx.Find(order_id);
    if (!found.ok()) return found.status();
    existing = std::move(*found);
    if (!existing) {
      auto br = tx.FindByRequest(req.buyer_id(), req.request_id());
      if (!br.ok()) return br.status();
      by_request = std::move(*br);
    }
    return absl::OkStatus();
  });
  if (!look.ok()) return failure;  // unknown: the intent stays for the recovery pass
  if (existing) return Replay(*existing, key.fingerprint, req.buyer_id());
  absl::Status rel =
      inventory_.Release(req.order_id(), iv1::RELEASE_REASON_ORDER_CREATE_FAILED, ctx);
  if (rel.ok()) {
    (void)repo_->InTransaction([&](OrderTx& tx) { return tx.DeleteIntent(order_id); });
  } else {
    spdlog::warn("order {}: compensation Release failed ({}); recovery pass will retry", order_id,
                 rel.ToString());
  }
  if (by_request) return FingerprintMismatch("request_id");
  return failure;
}

// ---------------------------------------------------------------------------------------------
// Events

absl::Status OrderManager::Emit(OrderTx& tx, const ov1::Order& o, ev1::EventEnvelope env,
                                const std::string& causation) {
  Address(env, o, causation);
  return tx.AppendEvent(env);
}

// ---------------------------------------------------------------------------------------------
// Transitions

absl::StatusOr<int64_t> OrderManager::Transition(OrderTx& tx, OrderRecord& rec,
                                                 const std::string& action,
                                                 const common::v1::Actor& actor,
                                                 const std::string& reason, StatusChange change,
                                                 const std::string& error_reason,
                                                 AfterCommit* after) {
  const OrderFlow* flow = flows_->Find(rec.order.order_type());
  if (flow == nullptr) return absl::InternalError("order of a type without a state table");
  const TimePoint now = clock_->Now();
  auto to = flow->Next(GuardOf(rec, now), action, ActorName(actor), error_reason);
  if (!to.ok()) {
    if (to.status().code() == absl::StatusCode::kFailedPrecondition) {
      // Name the order in the error.
      return FailedPreconditionError(ErrorReason(to.status()),
                                     absl::StrCat("order/", rec.order.order_id()),
                                     std::string(to.status().message()),
                                     {{"order_id", rec.order.order_id()},
                                      {"current_status", StatusName(rec.status())},
                                      {"action", action}});
    }
    return to.status();
  }
  change.order_id = rec.id();
  change.expected_version = rec.version();
  change.from = rec.status();
  change.to = *to;
  change.action = action;
  change.actor = actor;
  change.reason = reason;
  change.at = now;
  auto version = tx.ApplyChange(change);
  if (!version.ok()) return version.status();
  // Fenced before commit as well as after: event handlers have no post-commit hook, and a fence
  // for a write that then rolls back only costs a cache miss.
  cache_.Fence(rec.id(), *version);
  // Keep the in-memory record in step for the event and the answer.
  ov1::Order& o = rec.order;
  o.set_status(*to);
  o.set_version(*version);
  *o.mutable_updated_at() = ToProtoTimestamp(now);
  if (change.set_paid_at) *o.mutable_paid_at() = ToProtoTimestamp(now);
  if (change.set_shipped_at) *o.mutable_shipped_at() = ToProtoTimestamp(now);
  if (change.set_delivered_at) *o.mutable_delivered_at() = ToProtoTimestamp(now);
  if (change.set_completed_at) *o.mutable_completed_at() = ToProtoTimestamp(now);
  if (change.set_cancelled_at) *o.mutable_cancelled_at() = ToProtoTimestamp(now);
  if (change.cancel_reason) {
    o.set_cancel_reason(*change.cancel_reason);
    o.set_cancel_reason_text(change.cancel_reason_text);
  }
  if (change.payment_id) o.set_payment_id(*change.payment_id);
  if (change.status_before_after_sale)
    o.set_status_before_after_sale(*change.status_before_after_sale);
  *o.add_status_history() = TransitionOf(change);
  if (after != nullptr) after->fences.emplace_back(rec.id(), *version);
  return *version;
}

absl::StatusOr<bool> OrderManager::CancelInTx(OrderTx& tx, OrderRecord& rec,
                                              const std::string& action,
                                              const common::v1::Actor& actor,
                                              ov1::CancelReason reason, const std::string& text,
                                              AfterCommit* after) {
  if (rec.status() == ov1::ORDER_STATUS_CANCELLED) return false;  // idempotent
  const bool was_paid = rec.status() != ov1::ORDER_STATUS_PENDING_PAYMENT;
  const std::string reason_name = ov1::CancelReason_Name(reason);
  StatusChange change;
  change.set_cancelled_at = true;
  change.cancel_reason = reason;
  change.cancel_reason_text = text;
  const std::string error_reason =
      action == kActionCancel ? "ORDER_NOT_CANCELLABLE" : "ILLEGAL_TRANSITION";
  std::vector<OrderRecord*> cancelled;
  std::vector<OrderRecord> children;
  if (rec.top_level && !rec.fulfillment_unit) {
    auto kids = tx.LockChildren(rec.id());
    if (!kids.ok()) return kids.status();
    children = std::move(*kids);
    // Every child must be cancellable, or nothing is.
    for (OrderRecord& child : children) {
      if (child.status() == ov1::ORDER_STATUS_CANCELLED) continue;
      auto v = Transition(tx, child, action, actor, reason_name, change, error_reason, after);
      if (!v.ok()) return v.status();
      cancelled.push_back(&child);
    }
  }
  auto v = Transition(tx, rec, action, actor, reason_name, change, error_reason, after);
  if (!v.ok()) return v.status();
  cancelled.push_back(&rec);
  const int64_t top_id = rec.top_level ? rec.id() : std::stoll(rec.order.parent_order_id());
  if (rec.top_level) {
    if (auto s = tx.UnfreezeBenefits(rec.id()); !s.ok()) return s;
    if (auto s = tx.DeleteTimer(rec.id()); !s.ok()) return s;
  }
  for (OrderRecord* c : cancelled) {
    auto env = OrderCancelled(c->order, reason, text, actor, was_paid);
    if (auto s = Emit(tx, c->order, std::move(env), ""); !s.ok()) return s;
  }
  if (was_paid && !rec.order.payment_id().empty()) {
    // A paid order cancelled by an admin (or refused stock) is refunded in full.
    RefundRequest refund{.payment_id = rec.order.payment_id(),
                         .amount = rec.order.price().payable_total(),
                         .reason = reason == ov1::CANCEL_REASON_OUT_OF_STOCK
                                       ? payment::v1::REFUND_REASON_OUT_OF_STOCK
                                       : payment::v1::REFUND_REASON_ORDER_CANCELLED,
                         .reason_text = text,
                         .tag = "cancelled",
                         .requested_at = clock_->Now()};
    if (auto s = Emit(tx, rec.order, OrderRefundRequested(rec.order, refund), ""); !s.ok()) {
      return s;
    }
  }
  if (after != nullptr && !was_paid) {
    after->release_orders.push_back(top_id);
    after->release_reason = action == kActionTimeout ? iv1::RELEASE_REASON_PAYMENT_TIMEOUT
                                                     : iv1::RELEASE_REASON_ORDER_CANCELLED;
  }
  return true;
}

void OrderManager::Finish(const AfterCommit& after, const CallContext& ctx) {
  for (const auto& [id, version] : after.fences) cache_.Fence(id, version);
  for (int64_t id : after.release_orders) {
    // Best effort: inventory also releases on OrderCancelled from the outbox.
    if (auto s = inventory_.Release(std::to_string(id), after.release_reason, ctx); !s.ok()) {
      spdlog::warn("order {}: inventory Release failed ({}); the OrderCancelled event will repair",
                   id, s.ToString());
    }
  }
}

absl::StatusOr<bool> OrderManager::TimeoutInTx(OrderTx& tx, int64_t order_id, AfterCommit* after) {
  auto rec = tx.Lock(order_id);
  if (!rec.ok()) {
    if (rec.status().code() == absl::StatusCode::kNotFound) {
      (void)tx.DeleteTimer(order_id);
      return false;
    }
    return rec.status();
  }
  if (rec->status() != ov1::ORDER_STATUS_PENDING_PAYMENT) {
    // Paid or cancelled meanwhile: the timer has nothing left to do.
    if (auto s = tx.DeleteTimer(order_id); !s.ok()) return s;
    return false;
  }
  const TimePoint deadline = FromProtoTimestamp(rec->order.payment_deadline());
  if (clock_->Now() < deadline) {
    if (auto s = tx.PostponeTimer(order_id, deadline); !s.ok()) return s;
    return false;
  }
  return CancelInTx(tx, *rec, kActionTimeout, SystemActor(), ov1::CANCEL_REASON_PAYMENT_TIMEOUT,
                    "payment window passed", after);
}

absl::StatusOr<ov1::Order> OrderManager::CancelOrder(const Caller& caller,
                                                     const ov1::CancelOrderRequest& req,
                                                     const CallContext& ctx) {
  auto id = ParseOrderId("order_id", req.order_id());
  if (!id.ok()) return id.status();
  Violations v;
  CheckText(v, "reason_text", req.reason_text(), kMaxNoteChars, false, /*multiline=*/true);
  CheckText(v, "request_id", req.request_id(), kMaxRequestIdLength, false);
  // UNSPECIFIED is never a valid input (docs/api.md conventions): the caller says why.
  const ov1::CancelReason reason = req.reason();
  if (reason == ov1::CANCEL_REASON_UNSPECIFIED) {
    v.Add("reason", "is required");
  } else if (!ov1::CancelReason_IsValid(reason)) {
    v.Add("reason", "unknown cancel reason");
  } else if (caller.role == Role::kBuyer && reason != ov1::CANCEL_REASON_BUYER_REQUESTED &&
             reason != ov1::CANCEL_REASON_OTHER) {
    v.Add("reason", "buyers may cancel with BUYER_REQUESTED or OTHER");
  }
  if (!v.empty()) return v.ToStatus();

  AfterCommit after;
  int64_t target = *id;
  absl::Status s = repo_->InTransaction([&](OrderTx& tx) {
    after = {};
    auto rec = tx.Lock(*id);
    if (!rec.ok()) return rec.status();
    if ((caller.role == Role::kBuyer && rec->order.buyer_id() != caller.user_id)) {
      return NotFoundError("order", req.order_id(), "ORDER_NOT_FOUND");
    }
    if (req.has_expected_version() && req.expected_version() != rec->version()) {
      return ErrorWithInfo(
          absl::StatusCode::kAborted,
          absl::StrCat("order ", req.order_id(), " is at version ", rec->version()),
          "STALE_VERSION", {{"current_version", std::to_string(rec->version())}});
    }
    // An unpaid child is cancelled through its parent: the payment unit moves as one.
    if (!rec->top_level && rec->status() == ov1::ORDER_STATUS_PENDING_PAYMENT) {
      target = std::stoll(rec->order.parent_order_id());
      auto parent = tx.Lock(target);
      if (!parent.ok()) return parent.status();
      rec = std::move(parent);
    }
    auto done =
        CancelInTx(tx, *rec, kActionCancel, ActorOf(caller), reason, req.reason_text(), &after);
    return done.ok() ? absl::OkStatus() : done.status();
  });
  if (!s.ok()) return s;
  Finish(after, ctx);
  return GetOrder(caller, req.order_id());
}

absl::StatusOr<ov1::Order> OrderManager::ChangeShippingAddress(
    const Caller& caller, const ov1::ChangeShippingAddressRequest& req) {
  Violations v;
  uint64_t uid = 0;
  CheckId(v, "order_id", req.order_id(), &uid);
  if (!req.has_shipping_address()) {
    v.Add("shipping_address", "is required");
  } else {
    CheckAddress(v, "shipping_address", req.shipping_address(), true);
  }
  if (req.expected_version() <= 0) v.Add("expected_version", "is required");
  CheckText(v, "request_id", req.request_id(), kMaxRequestIdLength, false);
  if (!v.empty()) return v.ToStatus();
  const int64_t id = static_cast<int64_t>(uid);
  const common::v1::Actor actor = ActorOf(caller);
  AfterCommit after;
  absl::Status s = repo_->InTransaction([&](OrderTx& tx) {
    after = {};
    auto rec = tx.Lock(id);
    if (!rec.ok()) return rec.status();
    if (caller.role == Role::kBuyer && rec->order.buyer_id() != caller.user_id) {
      return NotFoundError("order", req.order_id(), "ORDER_NOT_FOUND");
    }
    // A retry of a change that already happened answers with the current order.
    if (google::protobuf::util::MessageDifferencer::Equals(rec->order.shipping_address(),
                                                           req.shipping_address())) {
      return absl::OkStatus();
    }
    if (req.expected_version() != rec->version()) {
      return ErrorWithInfo(
          absl::StatusCode::kAborted,
          absl::StrCat("order ", req.order_id(), " is at version ", rec->version()),
          "STALE_VERSION", {{"current_version", std::to_string(rec->version())}});
    }
    std::vector<OrderRecord> units;
    units.push_back(std::move(*rec));
    if (units[0].top_level && !units[0].fulfillment_unit) {
      auto kids = tx.LockChildren(id);
      if (!kids.ok()) return kids.status();
      for (auto& k : *kids) units.push_back(std::move(k));
    }
    const TimePoint now = clock_->Now();
    for (OrderRecord& u : units) {
      const OrderFlow* flow = flows_->Find(u.order.order_type());
      auto next = flow->Next(GuardOf(u, now), kActionChangeAddress, ActorName(actor),
                             "ADDRESS_NOT_CHANGEABLE");
      if (!next.ok()) {
        if (next.status().code() != absl::StatusCode::kFailedPrecondition) return next.status();
        return FailedPreconditionError(
            "ADDRESS_NOT_CHANGEABLE", absl::StrCat("order/", u.order.order_id()),
            absl::StrCat("the address cannot change in status ", StatusName(u.status())),
            {{"order_id", u.order.order_id()}, {"current_status", StatusName(u.status())}});
      }
      auto version =
          tx.ChangeAddress(u.id(), u.version(), u.status(), req.shipping_address(), actor, now);
      if (!version.ok()) return version.status();
      cache_.Fence(u.id(), *version);
      after.fences.emplace_back(u.id(), *version);
      auto env = OrderAddressChanged(u.order, req.shipping_address(), actor, now, *version);
      if (auto st = Emit(tx, u.order, std::move(env), req.request_id()); !st.ok()) return st;
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  Finish(after, {});
  return GetOrder(caller, req.order_id());
}

absl::StatusOr<ov1::Order> OrderManager::ConfirmReceipt(const Caller& caller,
                                                        const ov1::ConfirmReceiptRequest& req) {
  auto id = ParseOrderId("order_id", req.order_id());
  if (!id.ok()) return id.status();
  const common::v1::Actor actor = ActorOf(caller);
  AfterCommit after;
  absl::Status s = repo_->InTransaction([&](OrderTx& tx) {
    after = {};
    auto rec = tx.Lock(*id);
    if (!rec.ok()) return rec.status();
    if (caller.role == Role::kBuyer && rec->order.buyer_id() != caller.user_id) {
      return NotFoundError("order", req.order_id(), "ORDER_NOT_FOUND");
    }
    if (rec->status() == ov1::ORDER_STATUS_COMPLETED) return absl::OkStatus();  // idempotent
    std::vector<OrderRecord> units;
    int64_t parent = 0;
    if (rec->top_level && !rec->fulfillment_unit) {
      auto kids = tx.LockChildren(*id);
      if (!kids.ok()) return kids.status();
      for (auto& k : *kids) {
        if (k.status() == ov1::ORDER_STATUS_SHIPPED || k.status() == ov1::ORDER_STATUS_DELIVERED) {
          units.push_back(std::move(k));
        }
      }
      if (units.empty())
        units.push_back(std::move(*rec));  // reports the illegal transition
      else
        parent = *id;
    } else {
      if (!rec->top_level) parent = std::stoll(rec->order.parent_order_id());
      units.push_back(std::move(*rec));
    }
    for (OrderRecord& u : units) {
      StatusChange change;
      change.set_completed_at = true;
      auto v =
          Transition(tx, u, kActionConfirmReceipt, actor, "", change, "ILLEGAL_TRANSITION", &after);
      if (!v.ok()) return v.status();
      if (auto st = Emit(tx, u.order, OrderCompleted(u.order), req.request_id()); !st.ok()) {
        return st;
      }
    }
    if (parent != 0)
      return DeriveParent(tx, parent, kActionConfirmReceipt, req.request_id(), &after);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  Finish(after, {});
  return GetOrder(caller, req.order_id());
}

absl::Status OrderManager::DeriveParent(OrderTx& tx, int64_t parent_id, const std::string& action,
                                        const std::string& causation, AfterCommit* after) {
  auto parent = tx.Lock(parent_id);
  if (!parent.ok()) return parent.status();
  auto kids = tx.LockChildren(parent_id);
  if (!kids.ok()) return kids.status();
  std::vector<OrderStatus> statuses;
  for (const auto& k : *kids) statuses.push_back(k.status());
  const OrderStatus derived = DeriveParentStatus(statuses);
  if (derived == ov1::ORDER_STATUS_UNSPECIFIED || derived == parent->status()) {
    return absl::OkStatus();
  }
  // The parent follows its children; its own table does not gate a derived status.
  StatusChange c;
  c.order_id = parent_id;
  c.expected_version = parent->version();
  c.from = parent->status();
  c.to = derived;
  c.action = action;
  c.actor = SystemActor();
  c.reason = "derived from child orders";
  c.at = clock_->Now();
  c.set_completed_at = derived == ov1::ORDER_STATUS_COMPLETED;
  c.set_shipped_at = derived == ov1::ORDER_STATUS_SHIPPED;
  c.set_delivered_at = derived == ov1::ORDER_STATUS_DELIVERED;
  auto v = tx.ApplyChange(c);
  if (!v.ok()) return v.status();
  cache_.Fence(parent_id, *v);
  if (after != nullptr) after->fences.emplace_back(parent_id, *v);
  parent->order.set_status(derived);
  return Emit(tx, parent->order, OrderStatusChanged(parent->order, TransitionOf(c), *v), causation);
}

absl::Status OrderManager::HandleEvent(OrderTx& tx, const ev1::EventEnvelope& event,
                                       AfterCommit* after) {
  switch (event.payload_case()) {
    case ev1::EventEnvelope::kPaymentSucceeded: return ApplyPayment(tx, event, after);
    case ev1::EventEnvelope::kStockConfirmRefused: return ApplyStockRefused(tx, event, after);
    case ev1::EventEnvelope::kFulfillmentAccepted: {
      uint64_t id = 0;
      if (!ParseId(event.fulfillment_accepted().order_id(), &id)) return absl::OkStatus();
      return ApplyFulfillment(tx, static_cast<int64_t>(id), kActionAccept, event, after);
    }
    case ev1::EventEnvelope::kShipmentShipped: {
      const auto& e = event.shipment_shipped();
      uint64_t id = 0;
      if (e.kind() != fulfillment::v1::SHIPMENT_KIND_ORDER || !e.all_lines_shipped() ||
          !ParseId(e.order_id(), &id)) {
        return absl::OkStatus();
      }
      return ApplyFulfillment(tx, static_cast<int64_t>(id), kActionShip, event, after);
    }
    case ev1::EventEnvelope::kShipmentDelivered: {
      const auto& e = event.shipment_delivered();
      uint64_t id = 0;
      if (e.kind() != fulfillment::v1::SHIPMENT_KIND_ORDER || !e.all_shipments_delivered() ||
          !ParseId(e.order_id(), &id)) {
        return absl::OkStatus();
      }
      return ApplyFulfillment(tx, static_cast<int64_t>(id), kActionDeliver, event, after);
    }
    default: return absl::OkStatus();  // not ours to apply
  }
}

absl::Status OrderManager::ApplyPayment(OrderTx& tx, const ev1::EventEnvelope& event,
                                        AfterCommit* after) {
  const auto& p = event.payment_succeeded();
  uint64_t uid = 0;
  if (!ParseId(p.order_id(), &uid)) {
    spdlog::warn("PaymentSucceeded {} names a malformed order id '{}'; skipped", event.event_id(),
                 p.order_id());
    return absl::OkStatus();
  }
  auto rec = tx.Lock(static_cast<int64_t>(uid));
  if (!rec.ok()) return rec.status();  // unknown order: retried, then dead-lettered
  if (!rec->top_level) {
    spdlog::warn("PaymentSucceeded {} names child order {}; payments are per parent",
                 event.event_id(), p.order_id());
    return absl::OkStatus();
  }
  if (rec->status() == ov1::ORDER_STATUS_CANCELLED) {
    // A late payment on a cancelled order is refunded; it never re-opens the order.
    return RefundPayment(tx, *rec, event, payment::v1::REFUND_REASON_PAID_AFTER_CANCEL,
                         "paid-after-cancel");
  }
  if (rec->status() != ov1::ORDER_STATUS_PENDING_PAYMENT) {
    if (rec->order.payment_id() == p.payment_id()) return absl::OkStatus();  // already applied
    return RefundPayment(tx, *rec, event, payment::v1::REFUND_REASON_DUPLICATE_PAYMENT,
                         "duplicate-payment");
  }
  if (clock_->Now() >= FromProtoTimestamp(rec->order.payment_deadline())) {
    auto confirmed = ConfirmLatePayment(tx, *rec, event, after);
    if (!confirmed.ok()) return confirmed.status();
    if (!*confirmed) return absl::OkStatus();  // cancelled and refunded instead
  }
  return MarkPaid(tx, *rec, event, after);
}

absl::Status OrderManager::RefundPayment(OrderTx& tx, const OrderRecord& rec,
                                         const ev1::EventEnvelope& event,
                                         payment::v1::RefundReason reason, std::string tag) {
  const auto& p = event.payment_succeeded();
  RefundRequest r{
      .payment_id = p.payment_id(),
      .amount = p.amount(),
      .reason = reason,
      .reason_text = absl::StrCat("payment ", p.payment_id(), " arrived for an order in status ",
                                  StatusName(rec.status())),
      .tag = std::move(tag),
      .requested_at = clock_->Now()};
  return Emit(tx, rec.order, OrderRefundRequested(rec.order, r), event.event_id());
}

// Past the deadline the timeout cancel is only late, and the reservation may have lapsed and its
// units been sold to someone else. The payment makes a sale only if inventory confirms the stock
// now; otherwise it is a payment after cancel: the order is cancelled as timed out and the money
// goes back.
absl::StatusOr<bool> OrderManager::ConfirmLatePayment(OrderTx& tx, OrderRecord& rec,
                                                      const ev1::EventEnvelope& event,
                                                      AfterCommit* after) {
  CallContext cctx;
  cctx.request_id = event.event_id();
  absl::Status confirmed = inventory_.Confirm(rec.order.order_id(), cctx);
  const bool refused = confirmed.code() == absl::StatusCode::kFailedPrecondition ||
                       confirmed.code() == absl::StatusCode::kNotFound;
  if (!confirmed.ok() && !refused) return confirmed;  // inventory unreachable: retried
  if (!refused) {
    CountLatePayment("confirmed");
    return true;
  }
  CountLatePayment("refunded");
  spdlog::warn(
      "order {}: payment {} arrived after the deadline and inventory refused it ({}); "
      "cancelled and refunded",
      rec.order.order_id(), event.payment_succeeded().payment_id(), confirmed.ToString());
  auto cancelled =
      CancelInTx(tx, rec, kActionTimeout, SystemActor(), ov1::CANCEL_REASON_PAYMENT_TIMEOUT,
                 "paid after the payment window; the stock was no longer held", after);
  if (!cancelled.ok()) return cancelled.status();
  auto s = RefundPayment(tx, rec, event, payment::v1::REFUND_REASON_PAID_AFTER_CANCEL,
                         "paid-after-cancel");
  if (!s.ok()) return s;
  return false;
}

// PENDING_PAYMENT -> PAID for the payment unit and its children, coupons and points used, the
// timer dropped.
absl::Status OrderManager::MarkPaid(OrderTx& tx, OrderRecord& rec, const ev1::EventEnvelope& event,
                                    AfterCommit* after) {
  const std::string& payment_id = event.payment_succeeded().payment_id();
  std::vector<OrderRecord> units;
  if (!rec.fulfillment_unit) {
    auto kids = tx.LockChildren(rec.id());
    if (!kids.ok()) return kids.status();
    units = std::move(*kids);
  }
  StatusChange change;
  change.set_paid_at = true;
  change.payment_id = payment_id;
  auto pay = [&](OrderRecord& u) -> absl::Status {
    auto v = Transition(tx, u, kActionPay, SystemActor(), "", change, "ORDER_NOT_PAYABLE", after);
    if (!v.ok()) return v.status();
    auto full = tx.LoadFull(u.id());
    if (!full.ok()) return full.status();
    return Emit(tx, u.order, OrderPaid(u.order, payment_id, full->order), event.event_id());
  };
  if (auto s = pay(rec); !s.ok()) return s;
  for (OrderRecord& u : units) {
    if (auto s = pay(u); !s.ok()) return s;
  }
  if (auto s = tx.UseFrozenBenefits(rec.id()); !s.ok()) return s;
  return tx.DeleteTimer(rec.id());
}

absl::Status OrderManager::ApplyStockRefused(OrderTx& tx, const ev1::EventEnvelope& event,
                                             AfterCommit* after) {
  const auto& r = event.stock_confirm_refused();
  uint64_t uid = 0;
  if (!ParseId(r.order_id(), &uid)) {
    spdlog::warn("StockConfirmRefused {} names a malformed order id '{}'; skipped",
                 event.event_id(), r.order_id());
    return absl::OkStatus();
  }
  auto rec = tx.Lock(static_cast<int64_t>(uid));
  if (!rec.ok()) return rec.status();  // unknown order: retried, then dead-lettered
  switch (rec->status()) {
    case ov1::ORDER_STATUS_PAID:
    case ov1::ORDER_STATUS_AWAITING_SHIPMENT: break;
    case ov1::ORDER_STATUS_CANCELLED:
      // Cancelled meanwhile (an admin cancel of a paid order refunds it in full).
      CountStockRefusal("already_cancelled");
      return absl::OkStatus();
    default:
      // Shipped or further: goods left without stock behind them. Nothing automatic is safe;
      // the metric and the log line call a human.
      CountStockRefusal("unresolved");
      spdlog::error("order {} in status {}: inventory refused its stock ({} {}); needs a human",
                    r.order_id(), StatusName(rec->status()), r.reason(), r.sku_id());
      return absl::OkStatus();
  }
  std::string text = absl::StrCat("inventory could not back the payment with stock (", r.reason());
  if (!r.sku_id().empty()) {
    absl::StrAppend(&text, ": ", r.sku_id(), " requested ", r.requested(), ", available ",
                    r.available());
  }
  text += ")";
  auto cancelled = CancelInTx(tx, *rec, kActionOutOfStock, SystemActor(),
                              ov1::CANCEL_REASON_OUT_OF_STOCK, text, after);
  if (!cancelled.ok()) return cancelled.status();
  CountStockRefusal("cancelled_refunded");
  spdlog::warn("order {}: cancelled as OUT_OF_STOCK and refunded in full: {}", r.order_id(), text);
  return absl::OkStatus();
}

absl::Status OrderManager::ApplyFulfillment(OrderTx& tx, int64_t order_id,
                                            const std::string& action,
                                            const ev1::EventEnvelope& event, AfterCommit* after) {
  // Lock the parent before the child (the order every path takes).
  std::optional<OrderRecord> peek;
  auto found = tx.Find(order_id);
  if (!found.ok()) return found.status();
  if (!found->has_value())
    return NotFoundError("order", std::to_string(order_id), "ORDER_NOT_FOUND");
  int64_t parent = 0;
  if (!(*found)->top_level) {
    parent = std::stoll((*found)->order.parent_order_id());
    if (auto p = tx.Lock(parent); !p.ok()) return p.status();
  }
  auto rec = tx.Lock(order_id);
  if (!rec.ok()) return rec.status();
  const OrderFlow* flow = flows_->Find(rec->order.order_type());
  // Redelivered or reordered events: the order already went past this step.
  if (!flow->machine().CanApply(StatusName(rec->status()), action)) {
    spdlog::info("order {}: {} not applicable in status {}; skipped", order_id, action,
                 StatusName(rec->status()));
    return absl::OkStatus();
  }
  StatusChange change;
  change.set_shipped_at = action == kActionShip;
  change.set_delivered_at = action == kActionDeliver;
  auto v = Transition(tx, *rec, action, SystemActor(), "", change, "ILLEGAL_TRANSITION", after);
  if (!v.ok()) return v.status();
  ev1::EventEnvelope env;
  if (action == kActionShip) {
    env = OrderShipped(rec->order, event.shipment_shipped().shipment_id());
  } else if (action == kActionDeliver) {
    env = OrderDelivered(rec->order);
  } else {
    env = OrderStatusChanged(rec->order,
                             rec->order.status_history(rec->order.status_history_size() - 1), *v);
  }
  if (auto s = Emit(tx, rec->order, std::move(env), event.event_id()); !s.ok()) return s;
  if (parent != 0) return DeriveParent(tx, parent, action, event.event_id(), after);
  return absl::OkStatus();
}

absl::StatusOr<int> OrderManager::RecoverIntents(std::chrono::milliseconds min_age, int limit) {
  int released = 0;
  const TimePoint before = clock_->Now() - std::chrono::duration_cast<TimePoint::duration>(min_age);
  absl::Status s = repo_->InTransaction([&](OrderTx& tx) {
    released = 0;
    auto ids = tx.ClaimStaleIntents(before, limit);
    if (!ids.ok()) return ids.status();
    for (int64_t id : *ids) {
      auto found = tx.Find(id);
      if (!found.ok()) return found.status();
      if (!found->has_value()) {
        // The order never committed: give the stock back (a tombstone stops a late Reserve).
        auto rel =
            inventory_.Release(std::to_string(id), iv1::RELEASE_REASON_ORDER_CREATE_FAILED, {});
        if (!rel.ok()) {
          spdlog::warn("recovery: Release of order {} failed: {}", id, rel.ToString());
          continue;
        }
        ++released;
      }
      if (auto st = tx.DeleteIntent(id); !st.ok()) return st;
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return released;
}

// ---------------------------------------------------------------------------------------------
// Queries

absl::StatusOr<OrderRecord> OrderManager::LoadVisible(const Caller& caller, int64_t order_id) {
  OrderRecord rec;
  bool cached = false;
  if (auto hit = cache_.Get(order_id)) {
    cached = rec.order.ParseFromString(*hit);
  }
  if (!cached) {
    absl::Status s = repo_->InTransaction([&](OrderTx& tx) {
      auto full = tx.LoadFull(order_id);
      if (!full.ok()) return full.status();
      rec = std::move(*full);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    std::string payload;
    rec.order.SerializeToString(&payload);
    cache_.Put(order_id, rec.order.version(), payload);
  }
  const bool visible = caller.role == Role::kAdmin || caller.role == Role::kService ||
                       (caller.role == Role::kBuyer && rec.order.buyer_id() == caller.user_id) ||
                       (caller.role == Role::kMerchant && !rec.order.merchant_id().empty() &&
                        rec.order.merchant_id() == caller.user_id);
  if (!visible) return NotFoundError("order", std::to_string(order_id), "ORDER_NOT_FOUND");
  return rec;
}

absl::StatusOr<ov1::Order> OrderManager::GetOrder(const Caller& caller,
                                                  const std::string& order_id) {
  auto id = ParseOrderId("order_id", order_id);
  if (!id.ok()) return id.status();
  auto rec = LoadVisible(caller, *id);
  if (!rec.ok()) return rec.status();
  return View(std::move(rec->order));
}

absl::StatusOr<ov1::ListOrdersResponse> OrderManager::ListOrders(
    const Caller& caller, const ov1::ListOrdersRequest& req) {
  auto q = ListQueryFor(caller, req);
  if (!q.ok()) return q.status();
  const int page = q->limit;
  q->limit = page + 1;  // one more tells whether a next page exists
  std::vector<ov1::Order> orders;
  absl::Status s = repo_->InTransaction([&](OrderTx& tx) {
    auto res = tx.List(*q);
    if (!res.ok()) return res.status();
    orders = std::move(*res);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  ov1::ListOrdersResponse out;
  const bool more = static_cast<int>(orders.size()) > page;
  if (more) orders.resize(page);
  for (auto& o : orders) *out.add_orders() = View(std::move(o));
  if (more && !orders.empty()) {
    out.set_next_page_token(NextPageToken(caller, req, out.orders(out.orders_size() - 1)));
  }
  return out;
}

}  // namespace orderly::order_core
