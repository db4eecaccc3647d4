#pragma once
// Daily reconciliation: a channel's bill for one day (Asia/Shanghai) against our payments and
// refunds. CompareBill is pure; Reconciler fetches both sides, applies the safe fixes (the channel
// says paid and we are not: apply the payment as if notified; a refund the bill confirms but we
// still process: apply it; we say refunded or paid and the bill does not: re-query the channel)
// and stores the report.
#include <absl/status/statusor.h>

#include <string>
#include <vector>

#include "channel/channel.hpp"
#include "payment_manager.hpp"

namespace orderly::payment {

struct LocalRecord {
  BillRecord::Kind kind = BillRecord::Kind::kPayment;
  std::string payment_id, refund_id, transaction_id;
  int64_t amount = 0;
  std::string status;  // local status, for records found outside the day
};

struct BillComparison {
  std::vector<v1::ReconciliationMismatch> mismatches;
  int64_t matched = 0;
  int64_t channel_net = 0, local_net = 0;
  // Bill records not matched within the day: looked up individually by the reconciler.
  std::vector<BillRecord> unmatched_bill;
};

// Matches by out_trade_no (payments) / out_refund_no (refunds).
BillComparison CompareBill(const std::vector<BillRecord>& bill,
                           const std::vector<LocalRecord>& local, const std::string& currency);

// Validates "YYYY-MM-DD" and returns [start, end) of that day in China Standard Time.
absl::Status ChinaDayBounds(const std::string& date, TimePoint* start, TimePoint* end);

class Reconciler {
 public:
  explicit Reconciler(PaymentManager& manager) : m_(manager) {}
  absl::StatusOr<v1::ReconciliationReport> Run(v1::PaymentChannel channel,
                                               const std::string& bill_date, bool rerun);
  absl::StatusOr<v1::ReconciliationReport> Get(v1::PaymentChannel channel,
                                               const std::string& bill_date);

 private:
  PaymentManager& m_;
};

}  // namespace orderly::payment
