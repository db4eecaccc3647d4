#include "reconciler.hpp"

#include <spdlog/spdlog.h>

#include <map>

#include "orderly/core/absl_compat.hpp"
#include "orderly/core/ids.hpp"
#include "orderly/core/proto_convert.hpp"
#include "orderly/core/status.hpp"

namespace orderly::payment {
namespace {

void Ts(google::protobuf::Timestamp* ts, TimePoint t) { ts->set_seconds(ToUnixMillis(t) / 1000); }

std::string Key(BillRecord::Kind k, const std::string& id) {
  return (k == BillRecord::Kind::kPayment ? "p:" : "r:") + id;
}

}  // namespace

BillComparison CompareBill(const std::vector<BillRecord>& bill,
                           const std::vector<LocalRecord>& local, const std::string& currency) {
  BillComparison out;
  std::map<std::string, const LocalRecord*> by_key;
  for (const auto& l : local) {
    by_key[Key(l.kind, l.kind == BillRecord::Kind::kPayment ? l.payment_id : l.refund_id)] = &l;
    out.local_net += l.kind == BillRecord::Kind::kPayment ? l.amount : -l.amount;
  }
  std::map<std::string, bool> seen;
  for (const auto& b : bill) {
    out.channel_net += b.kind == BillRecord::Kind::kPayment ? b.amount_minor : -b.amount_minor;
    const std::string key =
        Key(b.kind, b.kind == BillRecord::Kind::kPayment ? b.out_trade_no : b.out_refund_no);
    auto it = by_key.find(key);
    if (it == by_key.end()) {
      out.unmatched_bill.push_back(b);
      continue;
    }
    seen[key] = true;
    if (it->second->amount != b.amount_minor) {
      v1::ReconciliationMismatch m;
      m.set_kind(v1::MISMATCH_KIND_AMOUNT_DIFFERS);
      m.set_payment_id(it->second->payment_id);
      m.set_refund_id(it->second->refund_id);
      m.set_channel_transaction_id(b.transaction_id);
      SetProtoMoney(m.mutable_local_amount(), it->second->amount, currency);
      SetProtoMoney(m.mutable_channel_amount(), b.amount_minor, b.currency);
      m.set_detail("amounts differ; reported for review");
      out.mismatches.push_back(m);
      continue;
    }
    ++out.matched;
  }
  for (const auto& l : local) {
    const std::string key =
        Key(l.kind, l.kind == BillRecord::Kind::kPayment ? l.payment_id : l.refund_id);
    if (seen.count(key)) continue;
    v1::ReconciliationMismatch m;
    m.set_kind(v1::MISMATCH_KIND_MISSING_CHANNEL);
    m.set_payment_id(l.payment_id);
    m.set_refund_id(l.refund_id);
    m.set_channel_transaction_id(l.transaction_id);
    SetProtoMoney(m.mutable_local_amount(), l.amount, currency);
    m.set_detail(l.kind == BillRecord::Kind::kPayment
                     ? "succeeded locally, not in the channel bill"
                     : "refunded locally, not in the channel bill");
    out.mismatches.push_back(m);
  }
  return out;
}

absl::Status ChinaDayBounds(const std::string& date, TimePoint* start, TimePoint* end) {
  bool shape = date.size() == 10 && date[4] == '-' && date[7] == '-';
  for (size_t i = 0; shape && i < 10; ++i)
    shape = (i == 4 || i == 7) || isdigit(static_cast<unsigned char>(date[i]));
  TimePoint t = shape ? ParseChinaTime(date + " 00:00:00", "%Y-%m-%d %H:%M:%S") : TimePoint{};
  if (!shape || t == TimePoint{} || ChinaTime(t, "%Y-%m-%d") != date) {
    return InvalidArgumentError("bill_date must be YYYY-MM-DD",
                                {{"bill_date", "must be a date YYYY-MM-DD"}});
  }
  *start = t;
  *end = t + std::chrono::hours(24);
  return absl::OkStatus();
}

absl::StatusOr<v1::ReconciliationReport> Reconciler::Get(v1::PaymentChannel channel,
                                                         const std::string& date) {
  auto r =
      ReadInTransaction(m_.repo(), [&](PaymentTx& tx) { return tx.FindReport(channel, date); });
  if (!r.ok()) return r.status();
  if (!*r)
    return NotFoundError("reconciliation_report", ChannelName(channel) + "/" + date,
                         "RECONCILIATION_REPORT_NOT_FOUND");
  return **r;
}

absl::StatusOr<v1::ReconciliationReport> Reconciler::Run(v1::PaymentChannel channel,
                                                         const std::string& date, bool rerun) {
  TimePoint start, end;
  if (auto s = ChinaDayBounds(date, &start, &end); !s.ok()) return s;
  if (start > m_.clock().Now())
    return InvalidArgumentError("bill_date is in the future",
                                {{"bill_date", "must not be in the future"}});
  Channel* ch = m_.channels().Get(channel);
  if (ch == nullptr)
    return InvalidArgumentError("unsupported channel", {{"channel", "not configured"}});
  if (!rerun) {
    auto existing = Get(channel, date);
    if (existing.ok() || existing.status().code() != absl::StatusCode::kNotFound) return existing;
  }
  v1::ReconciliationReport rep;
  rep.set_report_id(NewUuidV7());
  rep.set_channel(channel);
  rep.set_bill_date(date);
  Ts(rep.mutable_started_at(), m_.clock().Now());
  const std::string currency = "CNY";
  auto bill = ch->DownloadBill(date);
  auto save = [&] {
    Ts(rep.mutable_finished_at(), m_.clock().Now());
    return m_.repo().InTransaction(
        [&](PaymentTx& tx) { return tx.SaveReport(rep, m_.clock().Now()); });
  };
  if (!bill.ok()) {
    rep.set_status(v1::RECONCILIATION_STATUS_FAILED);
    rep.set_error(std::string(bill.status().message()));
    if (auto s = save(); !s.ok()) return s;
    return rep;
  }
  std::vector<LocalRecord> local;
  std::map<std::string, PaymentRow> payments;
  auto s = m_.repo().InTransaction([&](PaymentTx& tx) -> absl::Status {
    auto paid = tx.SucceededPaymentsPaidBetween(channel, start, end);
    if (!paid.ok()) return paid.status();
    auto refunded = tx.SucceededRefundsBetween(channel, start, end);
    if (!refunded.ok()) return refunded.status();
    for (auto& p : *paid) {
      local.push_back({BillRecord::Kind::kPayment, p.payment_id, "", p.transaction_id, p.amount,
                       std::string(StatusName(p.status))});
      payments[p.payment_id] = p;
    }
    for (auto& r : *refunded) {
      local.push_back({BillRecord::Kind::kRefund, r.payment_id, r.refund_id, r.channel_refund_id,
                       r.amount, std::string(StatusName(r.status))});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  BillComparison cmp = CompareBill(*bill, local, currency);
  int64_t matched = cmp.matched;

  // Channel records missing from the day's local set: look each up.
  for (const auto& b : cmp.unmatched_bill) {
    v1::ReconciliationMismatch m;
    m.set_channel_transaction_id(b.transaction_id);
    SetProtoMoney(m.mutable_channel_amount(), b.amount_minor, b.currency);
    if (b.kind == BillRecord::Kind::kPayment) {
      auto found = ReadInTransaction(
          m_.repo(), [&](PaymentTx& tx) { return tx.FindPayment(b.out_trade_no, false); });
      if (!found.ok()) return found.status();
      const std::optional<PaymentRow>& p = *found;
      m.set_payment_id(p ? p->payment_id : "");
      if (!p) {
        m.set_kind(v1::MISMATCH_KIND_MISSING_LOCAL);
        m.set_detail("paid at the channel (out_trade_no " + b.out_trade_no +
                     "), no such payment here; reported for review");
      } else if (p->status == v1::PAYMENT_STATUS_SUCCEEDED && p->amount == b.amount_minor) {
        ++matched;  // paid on a neighbouring local day (clock edge)
        continue;
      } else if (p->amount != b.amount_minor) {
        m.set_kind(v1::MISMATCH_KIND_AMOUNT_DIFFERS);
        SetProtoMoney(m.mutable_local_amount(), p->amount, p->currency);
        m.set_detail("channel amount differs from the payment; reported for review");
      } else {
        m.set_kind(v1::MISMATCH_KIND_STATUS_DIFFERS);
        SetProtoMoney(m.mutable_local_amount(), p->amount, p->currency);
        // Safe fix: the channel's bill is its final word that the money moved.
        ChannelTrade t{TradeState::kSucceeded,
                       b.out_trade_no,
                       b.transaction_id,
                       b.amount_minor,
                       b.currency,
                       b.time,
                       ""};
        auto applied = m_.ApplyTrade(channel, t, "reconciliation");
        m.set_detail("paid at the channel, " + std::string(StatusName(p->status)) + " here: " +
                     (applied.ok()
                          ? std::string("payment applied (") + ApplyOutcomeName(*applied) + ")"
                          : "fix failed: " + applied.status().ToString()));
      }
    } else {
      auto found = ReadInTransaction(
          m_.repo(), [&](PaymentTx& tx) { return tx.FindRefund(b.out_refund_no, false); });
      if (!found.ok()) return found.status();
      const std::optional<RefundRow>& r = *found;
      m.set_refund_id(r ? r->refund_id : "");
      m.set_payment_id(r ? r->payment_id : "");
      if (!r) {
        m.set_kind(v1::MISMATCH_KIND_MISSING_LOCAL);
        m.set_detail("refunded at the channel (" + b.out_refund_no +
                     "), no such refund here; reported for review");
      } else if (r->status == v1::REFUND_STATUS_SUCCEEDED && r->amount == b.amount_minor) {
        ++matched;
        continue;
      } else if (r->amount != b.amount_minor) {
        m.set_kind(v1::MISMATCH_KIND_AMOUNT_DIFFERS);
        SetProtoMoney(m.mutable_local_amount(), r->amount, r->currency);
        m.set_detail("refund amount differs; reported for review");
      } else {
        m.set_kind(v1::MISMATCH_KIND_STATUS_DIFFERS);
        SetProtoMoney(m.mutable_local_amount(), r->amount, r->currency);
        ChannelRefund cr{RefundState::kSucceeded, b.out_trade_no, b.out_refund_no,
                         b.channel_refund_id,     b.amount_minor, ""};
        auto applied = m_.ApplyRefundResult(cr, "reconciliation");
        m.set_detail("refunded at the channel, " + std::string(StatusName(r->status)) + " here: " +
                     (applied.ok()
                          ? std::string("refund applied (") + ApplyOutcomeName(*applied) + ")"
                          : "fix failed: " + applied.status().ToString()));
      }
    }
    cmp.mismatches.push_back(m);
  }
  // Ours but not the channel's: ask the channel again and report its answer.
  for (auto& m : cmp.mismatches) {
    if (m.kind() != v1::MISMATCH_KIND_MISSING_CHANNEL) continue;
    auto pit = payments.find(m.payment_id());
    std::optional<PaymentRow> p;
    if (pit != payments.end())
      p = pit->second;
    else {
      auto found = ReadInTransaction(
          m_.repo(), [&](PaymentTx& tx) { return tx.FindPayment(m.payment_id(), false); });
      if (!found.ok()) return found.status();
      p = *std::move(found);
    }
    if (!p) continue;
    TradeRef ref{p->payment_id, p->transaction_id, p->amount, p->currency, p->created_at};
    if (!m.refund_id().empty()) {
      auto found = ReadInTransaction(
          m_.repo(), [&](PaymentTx& tx) { return tx.FindRefund(m.refund_id(), false); });
      if (!found.ok()) return found.status();
      const std::optional<RefundRow>& r = *found;
      if (!r) continue;
      auto q =
          ch->QueryRefund(ChannelRefundRequest{ref, r->refund_id, r->amount, "", r->created_at});
      m.set_detail(m.detail() + "; re-queried: " +
                   (q.ok() ? std::string(RefundStateName(q->state)) : q.status().ToString()));
    } else {
      auto q = ch->QueryPayment(ref);
      m.set_detail(m.detail() + "; re-queried: " +
                   (q.ok() ? std::string(TradeStateName(q->state)) : q.status().ToString()));
    }
  }
  rep.set_status(v1::RECONCILIATION_STATUS_COMPLETED);
  rep.set_channel_record_count(static_cast<int64_t>(bill->size()));
  rep.set_local_record_count(static_cast<int64_t>(local.size()));
  rep.set_matched_count(matched);
  for (auto& m : cmp.mismatches) *rep.add_mismatches() = m;
  SetProtoMoney(rep.mutable_channel_total(), cmp.channel_net, currency);
  SetProtoMoney(rep.mutable_local_total(), cmp.local_net, currency);
  if (auto st = save(); !st.ok()) return st;
  spdlog::info("reconciliation {} {}: {} channel records, {} local, {} matched, {} mismatches",
               ChannelName(channel), date, rep.channel_record_count(), rep.local_record_count(),
               rep.matched_count(), rep.mismatches_size());
  return rep;
}

}  // namespace orderly::payment
