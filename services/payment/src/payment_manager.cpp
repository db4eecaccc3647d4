#include "payment_manager.hpp"

#include <spdlog/spdlog.h>

#include "orderly/core/absl_compat.hpp"
#include "orderly/core/ids.hpp"
#include "orderly/core/metrics.hpp"
#include "orderly/core/money.hpp"
#include "orderly/core/proto_convert.hpp"
#include "orderly/core/status.hpp"
#include "payment_events.hpp"

namespace orderly::payment {
namespace {

using server::Role;

metrics::Counter& Counter(const std::string& name, const std::string& help,
                          const metrics::Labels& labels) {
  return metrics::Registry::Default().GetCounter(name, help, labels);
}

}  // namespace

const char* ApplyOutcomeName(ApplyOutcome o) {
  switch (o) {
    case ApplyOutcome::kApplied: return "applied";
    case ApplyOutcome::kDuplicate: return "duplicate";
    case ApplyOutcome::kNoChange: return "no_change";
    case ApplyOutcome::kAnomaly: return "anomaly";
    case ApplyOutcome::kUnknownPayment: return "unknown";
  }
  return "?";
}

std::string_view StatusName(v1::PaymentStatus s) {
  switch (s) {
    case v1::PAYMENT_STATUS_PENDING: return "PENDING";
    case v1::PAYMENT_STATUS_SUCCEEDED: return "SUCCEEDED";
    case v1::PAYMENT_STATUS_FAILED: return "FAILED";
    case v1::PAYMENT_STATUS_CLOSED: return "CLOSED";
    default: return "";
  }
}
std::string_view StatusName(v1::RefundStatus s) {
  switch (s) {
    case v1::REFUND_STATUS_PROCESSING: return "PROCESSING";
    case v1::REFUND_STATUS_SUCCEEDED: return "SUCCEEDED";
    case v1::REFUND_STATUS_FAILED: return "FAILED";
    case v1::REFUND_STATUS_MANUAL_REVIEW: return "MANUAL_REVIEW";
    default: return "";
  }
}
std::string_view StatusName(order::v1::OrderStatus s) {
  switch (s) {
    case order::v1::ORDER_STATUS_PENDING_PAYMENT: return "PENDING_PAYMENT";
    case order::v1::ORDER_STATUS_PAID: return "PAID";
    case order::v1::ORDER_STATUS_CANCELLED: return "CANCELLED";
    default: return "";
  }
}

std::string FingerprintOf(const v1::CreatePaymentRequest& r) {
  return r.order_id() + "|" + std::to_string(r.amount().amount_minor()) + "|" +
         r.amount().currency_code() + "|" + std::to_string(r.channel()) + "|" +
         std::to_string(r.method()) + "|" + r.description();
}
std::string FingerprintOf(const v1::RefundRequest& r) {
  return r.payment_id() + "|" + std::to_string(r.amount().amount_minor()) + "|" +
         r.amount().currency_code() + "|" + std::to_string(r.reason()) + "|" +
         r.after_sale_case_id();
}

BreakerOptions ChannelBreakerOptions(BreakerOptions base) {
  base.reject_reason = "CHANNEL_UNAVAILABLE";
  base.reject_message = "payment busy, try again later";
  return base;
}

bool IsChannelFailure(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnknown: return true;
    default: return false;
  }
}

void ChannelRegistry::Add(ChannelPtr channel, BreakerOptions breaker, ClockPtr clock) {
  int id = channel->id();
  breakers_[id] = std::make_unique<CircuitBreaker>(
      ChannelName(channel->id()), ChannelBreakerOptions(std::move(breaker)), std::move(clock));
  channels_[id] = std::move(channel);
}
Channel* ChannelRegistry::Get(v1::PaymentChannel c) const {
  auto it = channels_.find(c);
  return it == channels_.end() ? nullptr : it->second.get();
}
CircuitBreaker* ChannelRegistry::Breaker(v1::PaymentChannel c) const {
  auto it = breakers_.find(c);
  return it == breakers_.end() ? nullptr : it->second.get();
}
std::vector<v1::PaymentChannel> ChannelRegistry::ids() const {
  std::vector<v1::PaymentChannel> out;
  for (const auto& [k, v] : channels_) out.push_back(static_cast<v1::PaymentChannel>(k));
  return out;
}

PaymentManager::PaymentManager(PaymentRepository& repo, redis::Client* redis,
                               ChannelRegistry& channels, OrderDirectory& orders, ClockPtr clock,
                               PaymentSettings settings)
    : repo_(repo),
      redis_(redis),
      channels_(channels),
      orders_(orders),
      clock_(std::move(clock)),
      settings_(settings) {}

void PaymentManager::RecordOutcome(v1::PaymentChannel c, const absl::Status& s) {
  if (auto* b = channels_.Breaker(c)) b->Record(!IsChannelFailure(s));
}

TradeRef PaymentManager::RefOf(const PaymentRow& p) const {
  return TradeRef{p.payment_id, p.transaction_id, p.amount, p.currency, p.created_at};
}

v1::Payment PaymentManager::ToProto(const PaymentRow& p) const {
  v1::Payment out;
  out.set_payment_id(p.payment_id);
  out.set_order_id(p.order_id);
  SetProtoMoney(out.mutable_amount(), p.amount, p.currency);
  out.set_channel(p.channel);
  out.set_method(p.method);
  out.set_status(p.status);
  out.set_description(p.description);
  out.set_pay_url(p.pay_url);
  out.set_qr_code(p.qr_code);
  out.mutable_app_params()->insert(p.app_params.begin(), p.app_params.end());
  out.set_channel_transaction_id(p.transaction_id);
  SetTs(out.mutable_expires_at(), p.expires_at);
  if (p.paid_at != TimePoint{}) SetTs(out.mutable_paid_at(), p.paid_at);
  if (p.closed_at != TimePoint{}) SetTs(out.mutable_closed_at(), p.closed_at);
  out.set_failure_reason(p.failure_reason);
  if (p.status == v1::PAYMENT_STATUS_SUCCEEDED)
    out.set_refund_state(RefundStateOf(p.refunded, p.amount));
  SetProtoMoney(out.mutable_refunded_amount(), p.refunded, p.currency);
  SetTs(out.mutable_created_at(), p.created_at);
  SetTs(out.mutable_updated_at(), p.updated_at);
  return out;
}

v1::Refund PaymentManager::ToProto(const RefundRow& r) const {
  v1::Refund out;
  out.set_refund_id(r.refund_id);
  out.set_payment_id(r.payment_id);
  out.set_order_id(r.order_id);
  SetProtoMoney(out.mutable_amount(), r.amount, r.currency);
  out.set_reason(r.reason);
  out.set_reason_text(r.reason_text);
  out.set_status(r.status);
  out.set_after_sale_case_id(r.after_sale_case_id);
  out.set_channel_refund_id(r.channel_refund_id);
  out.set_attempts(r.attempts);
  out.set_last_error(r.last_error);
  SetTs(out.mutable_created_at(), r.created_at);
  SetTs(out.mutable_updated_at(), r.updated_at);
  if (r.succeeded_at != TimePoint{}) SetTs(out.mutable_succeeded_at(), r.succeeded_at);
  return out;
}

absl::Status PaymentManager::CheckChannelAndCurrency(v1::PaymentChannel c,
                                                     const std::string& currency, Channel** out) {
  Channel* ch = channels_.Get(c);
  if (ch == nullptr) {
    return InvalidArgumentError(
        "unsupported payment channel",
        {{"channel", "channel " + v1::PaymentChannel_Name(c) + " is not supported"}});
  }
  if (!IsSupportedCurrency(currency) || !ch->SupportsCurrency(currency)) {
    auto s = InvalidArgumentError(
        "unsupported currency",
        {{"amount.currency_code", ChannelName(c) + " does not take " + currency}});
    return ErrorWithInfo(absl::StatusCode::kInvalidArgument,
                         ChannelName(c) + " does not support currency '" + currency + "'",
                         "CURRENCY_MISMATCH", {{"expected", "CNY"}, {"actual", currency}});
  }
  *out = ch;
  return absl::OkStatus();
}

// ------------------------------------------------------------------ CreatePayment

absl::StatusOr<v1::Payment> PaymentManager::CreatePayment(const v1::CreatePaymentRequest& req,
                                                          const server::Caller& caller) {
  Violations v;
  if (req.order_id().empty() || req.order_id().size() > 64)
    v.Add("order_id", "required, at most 64 characters");
  if (req.amount().amount_minor() <= 0) v.Add("amount.amount_minor", "must be positive");
  if (req.amount().currency_code().empty()) v.Add("amount.currency_code", "required");
  if (req.channel() == v1::PAYMENT_CHANNEL_UNSPECIFIED) v.Add("channel", "required");
  if (req.request_id().empty() || req.request_id().size() > 128)
    v.Add("request_id", "required, at most 128 characters");
  if (req.description().size() > 128) v.Add("description", "at most 128 characters");
  if (!v.empty()) return v.ToStatus();
  Channel* ch = nullptr;
  if (auto s = CheckChannelAndCurrency(req.channel(), req.amount().currency_code(), &ch); !s.ok())
    return s;
  const v1::PaymentMethod method =
      req.method() == v1::PAYMENT_METHOD_UNSPECIFIED ? v1::PAYMENT_METHOD_NATIVE_QR : req.method();
  const std::string fingerprint = FingerprintOf(req);

  // Replays of the same request return the stored payment.
  auto replay = ReadInTransaction(
      repo_, [&](PaymentTx& tx) { return tx.FindPaymentByRequest(req.request_id()); });
  if (!replay.ok()) return replay.status();
  const std::optional<PaymentRow>& existing = *replay;
  if (existing && existing->fingerprint != fingerprint) {
    return ErrorWithInfo(absl::StatusCode::kAlreadyExists,
                         "request_id was used for another payment request",
                         "REQUEST_FINGERPRINT_MISMATCH", {{"request_id", req.request_id()}});
  }

  PaymentRow p;
  if (existing) {
    p = *existing;
  } else {
    auto order = orders_.Find(req.order_id());
    if (!order.ok()) return order.status();
    if (caller.role == Role::kBuyer && order->buyer_id != caller.user_id)
      return NotFoundError("order", req.order_id(), "ORDER_NOT_FOUND");
    const TimePoint now = clock_->Now();
    if (order->status == order::v1::ORDER_STATUS_CANCELLED ||
        (order->deadline != TimePoint{} && order->deadline <= now)) {
      return FailedPreconditionError("ORDER_NOT_PAYABLE", "order/" + req.order_id(),
                                     "the order is cancelled or past its payment deadline",
                                     {{"order_id", req.order_id()},
                                      {"current_status", std::string(StatusName(order->status))}});
    }
    if (order->status == order::v1::ORDER_STATUS_PAID) {
      return FailedPreconditionError("ORDER_ALREADY_PAID", "order/" + req.order_id(),
                                     "the order is already paid", {{"order_id", req.order_id()}});
    }
    if (order->currency != req.amount().currency_code()) {
      return ErrorWithInfo(
          absl::StatusCode::kInvalidArgument, "currency differs from the order's",
          "CURRENCY_MISMATCH",
          {{"expected", order->currency}, {"actual", req.amount().currency_code()}});
    }
    if (order->payable != req.amount().amount_minor()) {
      return FailedPreconditionError("AMOUNT_MISMATCH", "order/" + req.order_id(),
                                     "amount " + std::to_string(req.amount().amount_minor()) +
                                         " differs from the order's payable total " +
                                         std::to_string(order->payable),
                                     {{"expected", std::to_string(order->payable)},
                                      {"actual", std::to_string(req.amount().amount_minor())}});
    }
    if (auto* b = channels_.Breaker(req.channel())) {
      if (auto s = b->Allow(); !s.ok()) return s;
    }
    p.payment_id = NewUuidV7();
    p.order_id = req.order_id();
    p.request_id = req.request_id();
    p.fingerprint = fingerprint;
    p.channel = req.channel();
    p.method = method;
    p.amount = req.amount().amount_minor();
    p.currency = req.amount().currency_code();
    p.status = v1::PAYMENT_STATUS_PENDING;
    p.description = req.description();
    p.created_at = p.updated_at = now;
    p.expires_at = order->deadline != TimePoint{} ? order->deadline : now + settings_.payment_ttl;
    p.query_until = now + settings_.query_window;
    absl::Status conflict = absl::OkStatus();
    auto s = repo_.InTransaction([&](PaymentTx& tx) -> absl::Status {
      auto paid = tx.OrderHasSucceededPayment(p.order_id);
      if (!paid.ok()) return paid.status();
      if (*paid) {
        return FailedPreconditionError("ORDER_ALREADY_PAID", "order/" + p.order_id,
                                       "the order is already paid", {{"order_id", p.order_id}});
      }
      auto pending = tx.PendingPaymentOfOrder(p.order_id);
      if (!pending.ok()) return pending.status();
      if (*pending) {
        if ((*pending)->channel == p.channel && (*pending)->method == p.method &&
            (*pending)->amount == p.amount) {
          p = **pending;  // same parameters: that payment is the answer
          return absl::OkStatus();
        }
        return ErrorWithInfo(absl::StatusCode::kAlreadyExists,
                             "a pending payment with other parameters exists; close it first",
                             "PAYMENT_ALREADY_EXISTS", {{"payment_id", (*pending)->payment_id}});
      }
      return tx.InsertPayment(p, now + settings_.first_query_after);
    });
    if (s.code() == absl::StatusCode::kAlreadyExists && ErrorReason(s).empty()) {
      // Lost a race on request_id or on the one-pending-per-order index: answer like a replay.
      return CreatePayment(req, caller);
    }
    if (!s.ok()) return s;
  }
  if (p.status != v1::PAYMENT_STATUS_PENDING || !p.pay_url.empty() || !p.qr_code.empty() ||
      !p.app_params.empty())
    return ToProto(p);

  // The channel dedupes on out_trade_no, so repeating this call after a failure is safe.
  ChannelCreateRequest creq{p.payment_id, p.amount,     p.currency,  p.description,
                            p.method,     p.created_at, p.expires_at};
  auto created = ch->CreatePayment(creq);
  RecordOutcome(p.channel, created.status());
  if (!created.ok()) {
    spdlog::warn("payment {}: {} create failed: {}", p.payment_id, ChannelName(p.channel),
                 created.status().ToString());
    return ErrorWithInfo(absl::StatusCode::kUnavailable,
                         ChannelName(p.channel) + " could not create the payment: " +
                             std::string(created.status().message()) +
                             " (retry with the same request_id)",
                         "CHANNEL_UNAVAILABLE", {{"channel", ChannelName(p.channel)}});
  }
  p.pay_url = created->pay_url;
  p.qr_code = created->qr_code;
  p.app_params = created->app_params;
  if (auto s = repo_.InTransaction([&](PaymentTx& tx) { return tx.SetChannelLinks(p); }); !s.ok()) {
    return s;
  }
  Counter("orderly_payment_created_total", "payments created at a channel",
          {{"channel", ChannelName(p.channel)}})
      .Inc();
  return ToProto(p);
}

absl::StatusOr<v1::Payment> PaymentManager::GetPayment(const std::string& payment_id,
                                                       const std::string& order_id,
                                                       const server::Caller& caller) {
  if (payment_id.empty() == order_id.empty()) {
    return InvalidArgumentError("exactly one of payment_id, order_id",
                                {{"lookup", "set exactly one of payment_id, order_id"}});
  }
  std::optional<PaymentRow> p;
  std::optional<OrderRow> order;
  auto s = repo_.InTransaction([&](PaymentTx& tx) -> absl::Status {
    auto found = payment_id.empty() ? tx.LatestPaymentOfOrder(order_id, false)
                                    : tx.FindPayment(payment_id, false);
    if (!found.ok()) return found.status();
    p = *std::move(found);
    if (!p || caller.role != Role::kBuyer) return absl::OkStatus();
    auto o = tx.FindOrder(p->order_id);
    if (!o.ok()) return o.status();
    order = *std::move(o);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (p && caller.role == Role::kBuyer && !order) {
    // The projection lags OrderCreated; CreatePayment asked order-core, and so does this.
    auto found = orders_.Find(p->order_id);
    if (found.ok()) order = *found;
  }
  if (!p || (caller.role == Role::kBuyer && (!order || order->buyer_id != caller.user_id))) {
    return NotFoundError("payment", payment_id.empty() ? order_id : payment_id,
                         "PAYMENT_NOT_FOUND");
  }
  return ToProto(*p);
}

// ------------------------------------------------------------------ ClosePayment

absl::StatusOr<v1::Payment> PaymentManager::ClosePayment(const std::string& order_id,
                                                         const std::string& request_id,
                                                         const server::Caller& caller) {
  if (order_id.empty())
    return InvalidArgumentError("order_id required", {{"order_id", "required"}});
  std::optional<PaymentRow> p;
  std::optional<OrderRow> order;
  auto s = repo_.InTransaction([&](PaymentTx& tx) -> absl::Status {
    auto found = tx.LatestPaymentOfOrder(order_id, false);
    if (!found.ok()) return found.status();
    p = *std::move(found);
    if (!p || caller.role != Role::kBuyer) return absl::OkStatus();
    auto o = tx.FindOrder(order_id);
    if (!o.ok()) return o.status();
    order = *std::move(o);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!p || (caller.role == Role::kBuyer && (!order || order->buyer_id != caller.user_id))) {
    return NotFoundError("payment", order_id, "PAYMENT_NOT_FOUND");
  }
  auto already_succeeded = [&] {
    return FailedPreconditionError("PAYMENT_ALREADY_SUCCEEDED", "payment/" + p->payment_id,
                                   "the payment succeeded; refund it instead",
                                   {{"payment_id", p->payment_id}});
  };
  if (p->status == v1::PAYMENT_STATUS_SUCCEEDED) return already_succeeded();
  if (p->status != v1::PAYMENT_STATUS_PENDING) return ToProto(*p);
  Channel* ch = channels_.Get(p->channel);
  if (ch == nullptr) return absl::InternalError("payment of an unconfigured channel");
  auto closed = ch->ClosePayment(RefOf(*p));
  RecordOutcome(p->channel, closed);
  if (closed.code() == absl::StatusCode::kFailedPrecondition) {
    // Paid at the channel while we were closing: apply that payment (after_close) and say so.
    auto trade = ch->QueryPayment(RefOf(*p));
    if (trade.ok()) (void)ApplyTrade(p->channel, *trade, "close");
    return already_succeeded();
  }
  if (!closed.ok()) {
    return ErrorWithInfo(
        absl::StatusCode::kUnavailable,
        ChannelName(p->channel) + " could not close the payment: " + std::string(closed.message()),
        "CHANNEL_UNAVAILABLE", {{"channel", ChannelName(p->channel)}});
  }
  PaymentRow out;
  bool succeeded = false;
  s = repo_.InTransaction([&](PaymentTx& tx) -> absl::Status {
    auto found = tx.FindPayment(p->payment_id, true);
    if (!found.ok()) return found.status();
    auto& cur = *found;
    if (!cur) return absl::InternalError("payment " + p->payment_id + " vanished while closing");
    if (cur->status == v1::PAYMENT_STATUS_SUCCEEDED) {
      succeeded = true;
      return absl::OkStatus();
    }
    if (cur->status == v1::PAYMENT_STATUS_PENDING) {
      const TimePoint now = clock_->Now();
      if (auto ms = tx.MarkClosed(cur->payment_id, false, now); !ms.ok()) return ms;
      auto env = PaymentClosedEvent(*cur,
                                    caller.role == Role::kBuyer
                                        ? "closed by buyer"
                                        : "closed by " + std::string(server::RoleName(caller.role)),
                                    now);
      if (auto es = tx.AppendEvent(env); !es.ok()) return es;
    }
    auto closed_row = tx.FindPayment(p->payment_id, false);
    if (!closed_row.ok()) return closed_row.status();
    out = **closed_row;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (succeeded) return already_succeeded();
  return ToProto(out);
}

// ------------------------------------------------------------------ notifications and results

NotifyResult PaymentManager::HandleNotification(v1::PaymentChannel channel, const std::string& body,
                                                const std::map<std::string, std::string>& headers) {
  NotifyResult r;
  Channel* ch = channels_.Get(channel);
  auto count = [&](const std::string& outcome) {
    r.outcome = outcome;
    Counter("orderly_payment_notifications_total", "channel notifications by outcome",
            {{"channel", ChannelName(channel)}, {"outcome", outcome}})
        .Inc();
  };
  if (ch == nullptr) {
    r.http_status = 404;
    r.ack = NotifyAck{404, "text/plain", "unknown channel"};
    count("unknown_channel");
    return r;
  }
  if (body.size() > 64 * 1024) {
    r.ack = ch->Ack(false, "body too large");
    r.http_status = 413;
    count("malformed");
    return r;
  }
  auto n = ch->ParseNotification(body, headers);
  if (!n.ok()) {
    r.ack = ch->Ack(false, std::string(n.status().message()));
    if (n.status().code() == absl::StatusCode::kUnauthenticated) {
      // Forged or tampered: nothing is looked at further, nothing changes.
      spdlog::warn("{} notification rejected: {} ({} bytes)", ChannelName(channel),
                   n.status().ToString(), body.size());
      r.http_status = 401;
      count("forged");
    } else {
      spdlog::info("{} notification malformed: {}", ChannelName(channel), n.status().ToString());
      r.http_status = 400;
      count("malformed");
    }
    return r;
  }
  absl::StatusOr<ApplyOutcome> applied;
  if (n->kind == ChannelNotification::Kind::kPayment) {
    applied = ApplyTrade(channel, n->trade, "notify", &r.payment_id);
  } else {
    r.refund_id = n->refund.out_refund_no;
    applied = ApplyRefundResult(n->refund, "notify");
  }
  if (!applied.ok()) {
    // Our side failed (database): the channel must re-send.
    spdlog::error("{} notification could not be applied: {}", ChannelName(channel),
                  applied.status().ToString());
    r.ack = ch->Ack(false, "temporarily unable to process");
    r.http_status = r.ack.http_status >= 400 ? r.ack.http_status : 500;
    count("error");
    return r;
  }
  // Anomalies and unknown trades are recorded for people; re-sending would not change them.
  r.ack = ch->Ack(true, "");
  r.http_status = r.ack.http_status;
  count(ApplyOutcomeName(*applied));
  return r;
}

absl::StatusOr<ApplyOutcome> PaymentManager::ApplyTrade(v1::PaymentChannel channel,
                                                        const ChannelTrade& trade,
                                                        const std::string& source,
                                                        std::string* payment_id) {
  if (payment_id) *payment_id = trade.out_trade_no;
  if (trade.state == TradeState::kPending || trade.state == TradeState::kNotFound)
    return ApplyOutcome::kNoChange;
  const std::string dedupe_key = "txn:" + trade.out_trade_no + ":" + trade.transaction_id;
  if (trade.state == TradeState::kSucceeded && redis_ != nullptr) {
    auto seen = redis_->Get(redis_->Key(dedupe_key));
    if (seen.ok() && seen->has_value()) {
      Counter("orderly_payment_dedupe_total", "duplicates stopped", {{"layer", "redis"}}).Inc();
      return ApplyOutcome::kDuplicate;
    }
  }
  ApplyOutcome outcome = ApplyOutcome::kNoChange;
  auto s = repo_.InTransaction([&](PaymentTx& tx) -> absl::Status {
    auto o = ApplyTradeTx(tx, channel, trade, source, payment_id);
    if (!o.ok()) return o.status();
    outcome = *o;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (outcome == ApplyOutcome::kDuplicate)
    Counter("orderly_payment_dedupe_total", "duplicates stopped", {{"layer", "postgres"}}).Inc();
  if ((outcome == ApplyOutcome::kApplied || outcome == ApplyOutcome::kDuplicate) &&
      trade.state == TradeState::kSucceeded && redis_ != nullptr) {
    (void)redis_->Set(redis_->Key(dedupe_key), "1", settings_.dedupe_ttl);
  }
  if (outcome == ApplyOutcome::kApplied) {
    Counter("orderly_payment_applied_total", "channel results applied",
            {{"source", source}, {"state", std::string(TradeStateName(trade.state))}})
        .Inc();
  }
  return outcome;
}

absl::StatusOr<ApplyOutcome> PaymentManager::ApplyTradeTx(PaymentTx& tx, v1::PaymentChannel channel,
                                                          const ChannelTrade& trade,
                                                          const std::string& source,
                                                          std::string* payment_id) {
  const TimePoint now = clock_->Now();
  auto found = tx.FindPayment(trade.out_trade_no, true);
  if (!found.ok()) return found.status();
  const std::optional<PaymentRow>& p = *found;
  AnomalyRow a;
  a.channel = channel;
  a.payment_id = trade.out_trade_no;
  a.transaction_id = trade.transaction_id;
  a.actual = trade.amount_minor;
  a.source = source;
  if (!p) {
    a.kind = "UNKNOWN_PAYMENT";
    a.payment_id.clear();
    a.detail = ChannelName(channel) + " reported " + std::string(TradeStateName(trade.state)) +
               " for unknown out_trade_no " + trade.out_trade_no;
    if (auto s = tx.InsertAnomaly(a, now); !s.ok()) return s;
    spdlog::warn("{}", a.detail);
    return ApplyOutcome::kUnknownPayment;
  }
  a.order_id = p->order_id;
  a.expected = p->amount;
  if (p->channel != channel) {
    a.kind = "CHANNEL_MISMATCH";
    a.detail = "payment belongs to " + ChannelName(p->channel) + " but " + ChannelName(channel) +
               " reported it";
    if (auto s = tx.InsertAnomaly(a, now); !s.ok()) return s;
    return ApplyOutcome::kAnomaly;
  }
  if (trade.state == TradeState::kSucceeded) {
    if (!trade.currency.empty() && trade.currency != p->currency) {
      a.kind = "CURRENCY_MISMATCH";
      a.detail = "channel currency " + trade.currency + ", payment currency " + p->currency;
      if (auto s = tx.InsertAnomaly(a, now); !s.ok()) return s;
      spdlog::warn("payment {}: {}", p->payment_id, a.detail);
      return ApplyOutcome::kAnomaly;
    }
    if (trade.amount_minor != p->amount) {
      // Never mark paid on an amount we did not ask for: the active query learns the truth.
      a.kind = "AMOUNT_MISMATCH";
      a.detail = "channel amount " + std::to_string(trade.amount_minor) +
                 " differs from payment amount " + std::to_string(p->amount) + " (" + source + ")";
      if (auto s = tx.InsertAnomaly(a, now); !s.ok()) return s;
      spdlog::warn("payment {}: {}", p->payment_id, a.detail);
      Counter("orderly_payment_anomalies_total", "results recorded as anomalies",
              {{"kind", a.kind}})
          .Inc();
      return ApplyOutcome::kAnomaly;
    }
    auto first =
        tx.InsertTransaction(p->order_id, trade.transaction_id, p->payment_id, source, now);
    if (!first.ok()) return first.status();
    if (!*first) return ApplyOutcome::kDuplicate;
    if (p->status == v1::PAYMENT_STATUS_SUCCEEDED) {
      a.kind = "SECOND_TRANSACTION";
      a.detail = "payment already succeeded with transaction " + p->transaction_id +
                 "; channel reports another";
      if (auto s = tx.InsertAnomaly(a, now); !s.ok()) return s;
      return ApplyOutcome::kAnomaly;
    }
    // A success for a closed payment is still a success: money moved; order-core refunds it.
    const bool after_close =
        p->status == v1::PAYMENT_STATUS_CLOSED || p->status == v1::PAYMENT_STATUS_FAILED;
    const TimePoint paid_at = trade.paid_at != TimePoint{} ? trade.paid_at : now;
    if (auto s = tx.MarkSucceeded(p->payment_id, trade.transaction_id, paid_at, after_close, now);
        !s.ok())
      return s;
    if (auto s = tx.SetOrderStatus(p->order_id, order::v1::ORDER_STATUS_PAID); !s.ok()) return s;
    auto env = PaymentSucceededEvent(*p, trade.transaction_id, paid_at, after_close);
    if (auto s = tx.AppendEvent(env); !s.ok()) return s;
    spdlog::info("payment {} of order {} SUCCEEDED via {} ({}){}", p->payment_id, p->order_id,
                 source, trade.transaction_id, after_close ? " after close" : "");
    return ApplyOutcome::kApplied;
  }
  if (p->status != v1::PAYMENT_STATUS_PENDING) return ApplyOutcome::kNoChange;
  events::v1::EventEnvelope env;
  if (trade.state == TradeState::kFailed) {
    if (auto s = tx.MarkFailed(p->payment_id, trade.failure, now); !s.ok()) return s;
    env = PaymentFailedEvent(*p, trade.failure, now);
  } else {
    if (auto s = tx.MarkClosed(p->payment_id, false, now); !s.ok()) return s;
    env = PaymentClosedEvent(*p, "closed at the channel", now);
  }
  if (auto s = tx.AppendEvent(env); !s.ok()) return s;
  return ApplyOutcome::kApplied;
}

absl::StatusOr<ApplyOutcome> PaymentManager::ApplyRefundResult(const ChannelRefund& result,
                                                               const std::string& source) {
  if (result.state == RefundState::kProcessing || result.state == RefundState::kNotFound)
    return ApplyOutcome::kNoChange;
  ApplyOutcome outcome = ApplyOutcome::kNoChange;
  auto s = repo_.InTransaction([&](PaymentTx& tx) -> absl::Status {
    auto o = ApplyRefundTx(tx, result, source);
    if (!o.ok()) return o.status();
    outcome = *o;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return outcome;
}

absl::StatusOr<ApplyOutcome> PaymentManager::ApplyRefundTx(PaymentTx& tx,
                                                           const ChannelRefund& result,
                                                           const std::string& source) {
  const TimePoint now = clock_->Now();
  auto found = tx.FindRefund(result.out_refund_no, true);
  if (!found.ok()) return found.status();
  const std::optional<RefundRow>& r = *found;
  if (!r) {
    AnomalyRow a;
    a.kind = "UNKNOWN_REFUND";
    a.transaction_id = result.channel_refund_id;
    a.actual = result.amount_minor;
    a.detail = "channel reported refund " + result.out_refund_no + " we do not know";
    a.source = source;
    if (auto s = tx.InsertAnomaly(a, now); !s.ok()) return s;
    return ApplyOutcome::kUnknownPayment;
  }
  if (r->status == v1::REFUND_STATUS_SUCCEEDED) return ApplyOutcome::kDuplicate;
  auto payment = tx.FindPayment(r->payment_id, true);
  if (!payment.ok()) return payment.status();
  if (!*payment)
    return absl::InternalError("refund " + r->refund_id + " of a missing payment " + r->payment_id);
  const PaymentRow* p = &**payment;
  if (result.state == RefundState::kFailed) {
    if (r->status != v1::REFUND_STATUS_PROCESSING) return ApplyOutcome::kNoChange;
    if (auto s = tx.MarkRefundFinal(r->refund_id, v1::REFUND_STATUS_FAILED, result.error,
                                    r->attempts, now);
        !s.ok())
      return s;
    if (auto s = EmitRefundFailed(tx, *r, v1::REFUND_STATUS_FAILED, result.error); !s.ok())
      return s;
    return ApplyOutcome::kApplied;
  }
  if (result.amount_minor != 0 && result.amount_minor != r->amount) {
    AnomalyRow a;
    a.kind = "REFUND_AMOUNT_MISMATCH";
    a.channel = p->channel;
    a.payment_id = p->payment_id;
    a.order_id = p->order_id;
    a.transaction_id = result.channel_refund_id;
    a.expected = r->amount;
    a.actual = result.amount_minor;
    a.detail = "refund " + r->refund_id + " amount differs at the channel";
    a.source = source;
    if (auto s = tx.InsertAnomaly(a, now); !s.ok()) return s;
    return ApplyOutcome::kAnomaly;
  }
  if (auto s = tx.MarkRefundSucceeded(r->refund_id, result.channel_refund_id, now); !s.ok())
    return s;
  if (auto s = tx.AddRefunded(p->payment_id, r->amount, now); !s.ok()) return s;
  const int64_t total = p->refunded + r->amount;
  auto env = RefundSucceededEvent(
      *p, *r, result.channel_refund_id.empty() ? r->channel_refund_id : result.channel_refund_id,
      total, now);
  if (auto s = tx.AppendEvent(env); !s.ok()) return s;
  Counter("orderly_payment_refunds_succeeded_total", "refunds confirmed by the channel",
          {{"source", source}})
      .Inc();
  spdlog::info("refund {} of payment {} SUCCEEDED via {}", r->refund_id, r->payment_id, source);
  return ApplyOutcome::kApplied;
}

absl::Status PaymentManager::EmitRefundFailed(PaymentTx& tx, const RefundRow& r,
                                              v1::RefundStatus status, const std::string& error) {
  auto p = tx.FindPayment(r.payment_id, false);
  if (!p.ok()) return p.status();
  if (!*p)
    return absl::InternalError("refund " + r.refund_id + " of a missing payment " + r.payment_id);
  auto env = RefundFailedEvent(**p, r, status, error, clock_->Now());
  return tx.AppendEvent(env);
}

// ------------------------------------------------------------------ refunds

absl::StatusOr<RefundRow> PaymentManager::CreateRefundTx(PaymentTx& tx,
                                                         const v1::RefundRequest& req) {
  Violations v;
  if (req.payment_id().empty()) v.Add("payment_id", "required");
  if (req.amount().amount_minor() <= 0) v.Add("amount.amount_minor", "must be positive");
  if (req.amount().currency_code().empty()) v.Add("amount.currency_code", "required");
  if (req.reason() == v1::REFUND_REASON_UNSPECIFIED) v.Add("reason", "required");
  if (req.reason_text().size() > 500) v.Add("reason_text", "at most 500 characters");
  if (req.request_id().empty() || req.request_id().size() > 200)
    v.Add("request_id", "required, at most 200 characters");
  if (req.reason() == v1::REFUND_REASON_AFTER_SALE && req.after_sale_case_id().empty())
    v.Add("after_sale_case_id", "required for AFTER_SALE");
  if (!v.empty()) return v.ToStatus();
  // Lock the payment first: concurrent refunds of one payment queue here, so the cap holds.
  auto payment = tx.FindPayment(req.payment_id(), true);
  if (!payment.ok()) return payment.status();
  const std::optional<PaymentRow>& p = *payment;
  auto replay = tx.FindRefundByRequest(req.request_id());
  if (!replay.ok()) return replay.status();
  if (const auto& existing = *replay) {
    if (existing->fingerprint != FingerprintOf(req)) {
      return ErrorWithInfo(absl::StatusCode::kAlreadyExists,
                           "request_id was used for another refund", "REQUEST_FINGERPRINT_MISMATCH",
                           {{"request_id", req.request_id()}});
    }
    return *existing;
  }
  if (!p) return NotFoundError("payment", req.payment_id(), "PAYMENT_NOT_FOUND");
  if (p->status != v1::PAYMENT_STATUS_SUCCEEDED) {
    return FailedPreconditionError(
        "PAYMENT_NOT_REFUNDABLE", "payment/" + p->payment_id,
        "only a SUCCEEDED payment can be refunded",
        {{"payment_id", p->payment_id}, {"current_status", std::string(StatusName(p->status))}});
  }
  if (req.amount().currency_code() != p->currency) {
    return ErrorWithInfo(absl::StatusCode::kInvalidArgument,
                         "refund currency differs from the payment's", "CURRENCY_MISMATCH",
                         {{"expected", p->currency}, {"actual", req.amount().currency_code()}});
  }
  auto committed_or = tx.CommittedRefundAmount(p->payment_id);
  if (!committed_or.ok()) return committed_or.status();
  const int64_t committed = *committed_or;
  if (committed + req.amount().amount_minor() > p->amount) {
    return FailedPreconditionError("REFUND_EXCEEDS_CAPTURED", "payment/" + p->payment_id,
                                   "refund would exceed the captured amount (refundable " +
                                       std::to_string(p->amount - committed) + ")",
                                   {{"refundable", std::to_string(p->amount - committed)}});
  }
  RefundRow r;
  r.refund_id = NewUuidV7();
  r.payment_id = p->payment_id;
  r.order_id = p->order_id;
  r.request_id = req.request_id();
  r.fingerprint = FingerprintOf(req);
  r.amount = req.amount().amount_minor();
  r.currency = p->currency;
  r.reason = req.reason();
  r.reason_text = req.reason_text();
  r.after_sale_case_id = req.after_sale_case_id();
  r.status = v1::REFUND_STATUS_PROCESSING;
  r.created_at = r.updated_at = clock_->Now();
  // The journal row comes first; the channel is called by the refund worker.
  if (auto s = tx.InsertRefund(r, r.created_at); !s.ok()) return s;
  return r;
}

absl::StatusOr<v1::Refund> PaymentManager::CreateRefund(const v1::RefundRequest& req) {
  RefundRow out;
  auto s = repo_.InTransaction([&](PaymentTx& tx) -> absl::Status {
    auto r = CreateRefundTx(tx, req);
    if (!r.ok()) return r.status();
    out = *r;
    return absl::OkStatus();
  });
  if (s.code() == absl::StatusCode::kAlreadyExists && ErrorReason(s).empty())
    return CreateRefund(req);  // lost a race: replay
  if (!s.ok()) return s;
  KickRefunds();
  return ToProto(out);
}

absl::StatusOr<v1::Refund> PaymentManager::GetRefund(const std::string& refund_id) {
  auto r = ReadInTransaction(repo_, [&](PaymentTx& tx) { return tx.FindRefund(refund_id, false); });
  if (!r.ok()) return r.status();
  if (!*r) return NotFoundError("refund", refund_id, "REFUND_NOT_FOUND");
  return ToProto(**r);
}

namespace {
absl::StatusOr<int64_t> DecodeToken(const std::string& token) {
  if (token.empty()) return 0;
  if (token.rfind("o:", 0) != 0)
    return ErrorWithInfo(absl::StatusCode::kInvalidArgument, "bad page_token",
                         "INVALID_PAGE_TOKEN");
  char* end = nullptr;
  long long v = std::strtoll(token.c_str() + 2, &end, 10);
  if (*end != '\0' || v < 0)
    return ErrorWithInfo(absl::StatusCode::kInvalidArgument, "bad page_token",
                         "INVALID_PAGE_TOKEN");
  return v;
}
int PageSize(int requested) { return requested <= 0 ? 20 : std::min(requested, 100); }
}  // namespace

absl::StatusOr<v1::ListRefundsResponse> PaymentManager::ListRefunds(
    const v1::ListRefundsRequest& req) {
  auto offset = DecodeToken(req.page_token());
  if (!offset.ok()) return offset.status();
  const int size = PageSize(req.page_size());
  v1::ListRefundsResponse out;
  bool found = false;
  auto s = repo_.InTransaction([&](PaymentTx& tx) -> absl::Status {
    auto p = tx.FindPayment(req.payment_id(), false);
    if (!p.ok()) return p.status();
    found = p->has_value();
    auto refunds = tx.ListRefunds(req.payment_id(), *offset, size + 1);
    if (!refunds.ok()) return refunds.status();
    for (const auto& r : *refunds) *out.add_refunds() = ToProto(r);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (!found) return NotFoundError("payment", req.payment_id(), "PAYMENT_NOT_FOUND");
  if (out.refunds_size() > size) {
    out.mutable_refunds()->RemoveLast();
    out.set_next_page_token("o:" + std::to_string(*offset + size));
  }
  return out;
}

absl::StatusOr<v1::ListManualReviewRefundsResponse> PaymentManager::ListManualReview(
    const v1::ListManualReviewRefundsRequest& req) {
  auto offset = DecodeToken(req.page_token());
  if (!offset.ok()) return offset.status();
  const int size = PageSize(req.page_size());
  v1::ListManualReviewRefundsResponse out;
  auto s = repo_.InTransaction([&](PaymentTx& tx) -> absl::Status {
    auto refunds = tx.ListManualReview(*offset, size + 1);
    if (!refunds.ok()) return refunds.status();
    for (const auto& r : *refunds) *out.add_refunds() = ToProto(r);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (out.refunds_size() > size) {
    out.mutable_refunds()->RemoveLast();
    out.set_next_page_token("o:" + std::to_string(*offset + size));
  }
  return out;
}

absl::StatusOr<v1::Refund> PaymentManager::RetryRefund(const std::string& refund_id,
                                                       const std::string& request_id) {
  if (request_id.empty())
    return InvalidArgumentError("request_id required", {{"request_id", "required"}});
  RefundRow out;
  auto s = repo_.InTransaction([&](PaymentTx& tx) -> absl::Status {
    auto found = tx.FindRefund(refund_id, true);
    if (!found.ok()) return found.status();
    const std::optional<RefundRow>& r = *found;
    if (!r) return NotFoundError("refund", refund_id, "REFUND_NOT_FOUND");
    if (r->status == v1::REFUND_STATUS_PROCESSING && r->retry_request_id == request_id) {
      out = *r;
      return absl::OkStatus();
    }
    if (r->status != v1::REFUND_STATUS_FAILED && r->status != v1::REFUND_STATUS_MANUAL_REVIEW) {
      return FailedPreconditionError("REFUND_NOT_RETRYABLE", "refund/" + refund_id,
                                     "only FAILED or MANUAL_REVIEW refunds can be retried",
                                     {{"current_status", std::string(StatusName(r->status))}});
    }
    if (r->status == v1::REFUND_STATUS_FAILED) {
      // A FAILED refund released its amount; taking it again must fit under the cap.
      auto p = tx.FindPayment(r->payment_id, true);
      if (!p.ok()) return p.status();
      if (!*p)
        return absl::InternalError("refund " + refund_id + " of a missing payment " +
                                   r->payment_id);
      auto committed = tx.CommittedRefundAmount(r->payment_id);
      if (!committed.ok()) return committed.status();
      if (*committed + r->amount > (*p)->amount) {
        return FailedPreconditionError("REFUND_EXCEEDS_CAPTURED", "payment/" + (*p)->payment_id,
                                       "retry would exceed the captured amount");
      }
    }
    if (auto st = tx.ReopenRefund(refund_id, request_id, clock_->Now()); !st.ok()) return st;
    auto reopened = tx.FindRefund(refund_id, false);
    if (!reopened.ok()) return reopened.status();
    out = **reopened;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  KickRefunds();
  return ToProto(out);
}

void PaymentManager::KickRefunds() {
  std::lock_guard lock(kick_mu_);
  if (wake_refunds_) wake_refunds_();
}

void PaymentManager::OnRefundWork(std::function<void()> wake) {
  std::lock_guard lock(kick_mu_);
  wake_refunds_ = std::move(wake);
}

int PaymentManager::ProcessDueRefunds(int limit) {
  auto ids = ReadInTransaction(repo_, [&](PaymentTx& tx) {
    return tx.ClaimDueRefunds(clock_->Now(), settings_.refund_lease, limit);
  });
  if (!ids.ok()) {
    spdlog::warn("refund worker: cannot claim refunds: {}", ids.status().ToString());
    return 0;
  }
  for (const auto& id : *ids) AttemptRefund(id);
  return static_cast<int>(ids->size());
}

void PaymentManager::AttemptRefund(const std::string& refund_id) {
  std::optional<RefundRow> r;
  std::optional<PaymentRow> p;
  auto s = repo_.InTransaction([&](PaymentTx& tx) -> absl::Status {
    auto refund = tx.FindRefund(refund_id, false);
    if (!refund.ok()) return refund.status();
    r = *std::move(refund);
    if (!r) return absl::OkStatus();
    auto payment = tx.FindPayment(r->payment_id, false);
    if (!payment.ok()) return payment.status();
    p = *std::move(payment);
    return absl::OkStatus();
  });
  if (!s.ok()) {
    spdlog::warn("refund {}: cannot load it: {}", refund_id, s.ToString());
    return;
  }
  if (!r || !p || r->status != v1::REFUND_STATUS_PROCESSING) return;
  Channel* ch = channels_.Get(p->channel);
  if (ch == nullptr) return;
  ChannelRefundRequest req{RefOf(*p), r->refund_id, r->amount,
                           r->reason_text.empty() ? "refund" : r->reason_text, r->created_at};
  const TimePoint now = clock_->Now();
  TimePoint next = now + settings_.refund_query_interval;

  // A failed save leaves the refund as it was: its lease runs out and the worker claims it again.
  auto save = [&](TimePoint next_at) {
    auto saved = repo_.InTransaction([&](PaymentTx& tx) -> absl::Status {
      auto cur = tx.FindRefund(r->refund_id, true);
      if (!cur.ok()) return cur.status();
      if (!*cur || (*cur)->status != v1::REFUND_STATUS_PROCESSING) return absl::OkStatus();
      return tx.UpdateRefundAttempt(*r, next_at, clock_->Now());
    });
    if (!saved.ok())
      spdlog::warn("refund {}: cannot save the attempt: {}", r->refund_id, saved.ToString());
  };
  auto apply = [&](ChannelRefund res, const std::string& source) {
    res.out_refund_no = r->refund_id;
    auto o = ApplyRefundResult(res, source);
    if (!o.ok()) save(now + settings_.refund_retry_base);
  };

  if (r->in_doubt) {
    // The last call's outcome is unknown: ask before calling again, so money moves once.
    auto q = ch->QueryRefund(req);
    RecordOutcome(p->channel, q.status());
    if (!q.ok()) {
      r->last_error = "query: " + std::string(q.status().message());
      return save(next);
    }
    if (q->state == RefundState::kSucceeded || q->state == RefundState::kFailed)
      return apply(*q, "query");
    if (q->state == RefundState::kProcessing) {
      r->last_error = "channel still processing";
      return save(next);
    }
    r->in_doubt = false;  // the channel never got it: call again below
  }
  ++r->attempts;
  auto res = ch->Refund(req);
  RecordOutcome(p->channel, res.status());
  if (res.ok()) {
    if (res->state == RefundState::kSucceeded || res->state == RefundState::kFailed)
      return apply(*res, "refund");
    r->in_doubt = true;
    r->channel_refund_id = res->channel_refund_id;
    r->last_error = "";
    return save(next);
  }
  if (res.status().code() == absl::StatusCode::kDeadlineExceeded ||
      res.status().code() == absl::StatusCode::kUnknown) {
    r->in_doubt = true;
    r->last_error = "channel timed out: " + std::string(res.status().message()) + "; querying";
    spdlog::info("refund {}: {} call timed out; will query every {} ms", r->refund_id,
                 ChannelName(p->channel), settings_.refund_query_interval.count());
    return save(next);
  }
  r->last_error = std::string(res.status().message());
  if (r->attempts >= settings_.refund_max_attempts) {
    auto marked = repo_.InTransaction([&](PaymentTx& tx) -> absl::Status {
      auto cur = tx.FindRefund(r->refund_id, true);
      if (!cur.ok()) return cur.status();
      if (!*cur || (*cur)->status != v1::REFUND_STATUS_PROCESSING) return absl::OkStatus();
      if (auto st = tx.MarkRefundFinal(r->refund_id, v1::REFUND_STATUS_MANUAL_REVIEW, r->last_error,
                                       r->attempts, clock_->Now());
          !st.ok()) {
        return st;
      }
      return EmitRefundFailed(tx, *r, v1::REFUND_STATUS_MANUAL_REVIEW, r->last_error);
    });
    if (!marked.ok()) {
      spdlog::warn("refund {}: cannot move it to manual review: {}", r->refund_id,
                   marked.ToString());
      return;
    }
    spdlog::warn("refund {} needs manual review after {} attempts: {}", r->refund_id, r->attempts,
                 r->last_error);
    return;
  }
  save(now + settings_.refund_retry_base * (1LL << std::min(r->attempts - 1, 10)));
}

// ------------------------------------------------------------------ active query

int PaymentManager::PollPayments(int limit) {
  auto ids = ReadInTransaction(repo_, [&](PaymentTx& tx) {
    return tx.ClaimPaymentsToQuery(clock_->Now(), settings_.query_interval, limit);
  });
  if (!ids.ok()) {
    spdlog::warn("payment poller: cannot claim payments: {}", ids.status().ToString());
    return 0;
  }
  for (const auto& id : *ids) {
    auto loaded =
        ReadInTransaction(repo_, [&](PaymentTx& tx) { return tx.FindPayment(id, false); });
    if (!loaded.ok())
      spdlog::warn("payment {}: cannot load it for the active query: {}", id,
                   loaded.status().ToString());
    if (!loaded.ok() || !*loaded) continue;
    const PaymentRow* p = &**loaded;
    Channel* ch = channels_.Get(p->channel);
    if (ch == nullptr) continue;
    if (p->close_at_channel) {
      auto closed = ch->ClosePayment(RefOf(*p));
      RecordOutcome(p->channel, closed);
      if (closed.ok() || closed.code() == absl::StatusCode::kFailedPrecondition) {
        // Left set, the next round closes it at the channel again, which the channel allows.
        if (auto cleared =
                repo_.InTransaction([&](PaymentTx& tx) { return tx.ClearCloseAtChannel(id); });
            !cleared.ok()) {
          spdlog::warn("payment {}: closed at the channel but not recorded: {}", id,
                       cleared.ToString());
        }
      }
    }
    auto trade = ch->QueryPayment(RefOf(*p));
    RecordOutcome(p->channel, trade.status());
    if (!trade.ok()) {
      spdlog::info("payment {}: {} query failed: {}", id, ChannelName(p->channel),
                   trade.status().ToString());
      continue;
    }
    // Exactly as if the channel had notified us.
    auto applied = ApplyTrade(p->channel, *trade, "query");
    if (applied.ok() && *applied == ApplyOutcome::kApplied) {
      spdlog::info("payment {}: active query found {} (attempt {})", id,
                   TradeStateName(trade->state), p->query_attempts + 1);
    }
  }
  return static_cast<int>(ids->size());
}

// ------------------------------------------------------------------ order events

absl::Status PaymentManager::OnOrderEvent(PaymentTx& tx, const events::v1::EventEnvelope& event) {
  using E = events::v1::EventEnvelope;
  const TimePoint now = clock_->Now();
  switch (event.payload_case()) {
    case E::kOrderCreated: {
      const auto& e = event.order_created();
      OrderRow o;
      o.order_id = e.order_id();
      o.buyer_id = e.buyer_id();
      o.payable = e.price().payable_total().amount_minor();
      o.currency = e.price().payable_total().currency_code();
      o.status = order::v1::ORDER_STATUS_PENDING_PAYMENT;
      if (e.has_payment_deadline())
        o.deadline = FromUnixMillis(e.payment_deadline().seconds() * 1000);
      return tx.UpsertOrder(o);
    }
    case E::kOrderPaid:
      return tx.SetOrderStatus(event.order_paid().order_id(), order::v1::ORDER_STATUS_PAID);
    case E::kOrderCancelled: {
      const auto& e = event.order_cancelled();
      if (auto s = tx.MarkOrderCancelled(e.order_id()); !s.ok()) return s;
      auto pending = tx.PendingPaymentOfOrder(e.order_id());
      if (!pending.ok()) return pending.status();
      if (!*pending) return absl::OkStatus();
      const PaymentRow* p = &**pending;
      // Closed here at once; the poller closes it at the channel and keeps watching for a late
      // payment.
      if (auto s = tx.MarkClosed(p->payment_id, true, now); !s.ok()) return s;
      auto env = PaymentClosedEvent(*p, "order cancelled", now);
      env.set_causation_id(event.event_id());
      return tx.AppendEvent(env);
    }
    case E::kOrderRefundRequested: {
      const auto& e = event.order_refund_requested();
      v1::RefundRequest req;
      req.set_payment_id(e.payment_id());
      *req.mutable_amount() = e.amount();
      req.set_reason(e.reason());
      req.set_reason_text(e.reason_text());
      req.set_request_id(e.refund_request_id().empty() ? "event:" + event.event_id()
                                                       : e.refund_request_id());
      auto r = CreateRefundTx(tx, req);
      if (!r.ok()) {
        // Our own failures (the database's, including a lost race on request_id: ALREADY_EXISTS
        // without a reason) roll the event back to be delivered again.
        if (r.status().code() == absl::StatusCode::kUnavailable ||
            r.status().code() == absl::StatusCode::kAborted ||
            r.status().code() == absl::StatusCode::kInternal ||
            (r.status().code() == absl::StatusCode::kAlreadyExists &&
             ErrorReason(r.status()).empty())) {
          return r.status();
        }
        // A request that can never succeed must not block the partition: recorded, skipped.
        spdlog::error("OrderRefundRequested {} for payment {} refused: {}", event.event_id(),
                      e.payment_id(), r.status().ToString());
        return absl::OkStatus();
      }
      spdlog::info("refund {} started for order {} ({})", r->refund_id, e.order_id(),
                   v1::RefundReason_Name(e.reason()));
      return absl::OkStatus();
    }
    default: return absl::OkStatus();
  }
}

}  // namespace orderly::payment
