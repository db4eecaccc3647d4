#pragma once
// The payment domain: creating payments at a channel, applying channel results (notification,
// active query, reconciliation all go through ApplyTrade / ApplyRefundResult, so each is applied
// the same way and exactly once), closing, refunds with their journal and retries, and the
// reactions to order events. No gRPC here; payment_grpc_service.* is the thin glue.
#include <absl/status/statusor.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "channel/channel.hpp"
#include "order_directory.hpp"
#include "orderly/core/circuit_breaker.hpp"
#include "orderly/events/v1/event_envelope.pb.h"
#include "orderly/payment/v1/payment_service.pb.h"
#include "orderly/redis/client.hpp"
#include "orderly/server/request_context.hpp"
#include "payment_repository.hpp"

namespace orderly::payment {

struct PaymentSettings {
  std::chrono::milliseconds query_interval{60000};     // active query of a pending payment
  std::chrono::milliseconds query_window{30 * 60000};  // ... for this long after creation
  std::chrono::milliseconds first_query_after{60000};
  std::chrono::milliseconds payment_ttl{30 * 60000};  // when the order has no deadline
  std::chrono::milliseconds refund_query_interval{
      180000};                                        // a timed-out refund is queried this often
  std::chrono::milliseconds refund_retry_base{5000};  // backoff after a failed refund call
  int refund_max_attempts = 5;                        // then MANUAL_REVIEW
  std::chrono::milliseconds refund_lease{60000};      // a claimed refund is not re-claimed before
  std::chrono::milliseconds dedupe_ttl{24 * 3600 * 1000};
  BreakerOptions breaker;
};

// A channel's breaker: payments it refuses get UNAVAILABLE CHANNEL_UNAVAILABLE "payment busy".
BreakerOptions ChannelBreakerOptions(BreakerOptions base);
// Channel errors that count against the breaker: the channel did not answer properly.
bool IsChannelFailure(const absl::Status& s);

// The channels by id, each with its breaker.
class ChannelRegistry {
 public:
  void Add(ChannelPtr channel, BreakerOptions breaker, ClockPtr clock);
  Channel* Get(v1::PaymentChannel c) const;
  CircuitBreaker* Breaker(v1::PaymentChannel c) const;
  std::vector<v1::PaymentChannel> ids() const;

 private:
  std::map<int, ChannelPtr> channels_;
  std::map<int, std::unique_ptr<CircuitBreaker>> breakers_;
};

// What the notify endpoint answers.
struct NotifyResult {
  int http_status = 200;
  NotifyAck ack;
  std::string outcome;  // applied, duplicate, anomaly, forged, malformed, unknown, error
  std::string payment_id, refund_id;
};

// Result of applying one channel answer about a trade.
enum class ApplyOutcome { kApplied, kDuplicate, kNoChange, kAnomaly, kUnknownPayment };
const char* ApplyOutcomeName(ApplyOutcome o);

// The names people read in error metadata and reconciliation details ("SUCCEEDED", "CANCELLED").
std::string_view StatusName(v1::PaymentStatus s);
std::string_view StatusName(v1::RefundStatus s);
std::string_view StatusName(order::v1::OrderStatus s);

class PaymentManager {
 public:
  PaymentManager(PaymentRepository& repo, redis::Client* redis, ChannelRegistry& channels,
                 OrderDirectory& orders, ClockPtr clock, PaymentSettings settings);

  absl::StatusOr<v1::Payment> CreatePayment(const v1::CreatePaymentRequest& req,
                                            const server::Caller& caller);
  absl::StatusOr<v1::Payment> GetPayment(const std::string& payment_id, const std::string& order_id,
                                         const server::Caller& caller);
  absl::StatusOr<v1::Payment> ClosePayment(const std::string& order_id,
                                           const std::string& request_id,
                                           const server::Caller& caller);

  NotifyResult HandleNotification(v1::PaymentChannel channel, const std::string& body,
                                  const std::map<std::string, std::string>& headers);
  // The single path by which a channel's word about a trade changes a payment.
  absl::StatusOr<ApplyOutcome> ApplyTrade(v1::PaymentChannel channel, const ChannelTrade& trade,
                                          const std::string& source,
                                          std::string* payment_id = nullptr);
  absl::StatusOr<ApplyOutcome> ApplyRefundResult(const ChannelRefund& result,
                                                 const std::string& source);

  absl::StatusOr<v1::Refund> CreateRefund(const v1::RefundRequest& req);
  // The same inside the caller's transaction (order events): no kick of the worker.
  absl::StatusOr<RefundRow> CreateRefundTx(PaymentTx& tx, const v1::RefundRequest& req);
  absl::StatusOr<v1::Refund> GetRefund(const std::string& refund_id);
  absl::StatusOr<v1::ListRefundsResponse> ListRefunds(const v1::ListRefundsRequest& req);
  absl::StatusOr<v1::ListManualReviewRefundsResponse> ListManualReview(
      const v1::ListManualReviewRefundsRequest& req);
  absl::StatusOr<v1::Refund> RetryRefund(const std::string& refund_id,
                                         const std::string& request_id);

  // One round of the background work; each returns how many items it handled.
  int PollPayments(int limit = 50);
  int ProcessDueRefunds(int limit = 20);
  // Called (from any thread) when a new refund needs the worker: the refund task's Wake.
  void OnRefundWork(std::function<void()> wake);

  // orderly.order.v1 consumer (inside the inbox transaction).
  absl::Status OnOrderEvent(PaymentTx& tx, const events::v1::EventEnvelope& event);

  v1::Payment ToProto(const PaymentRow& p) const;
  v1::Refund ToProto(const RefundRow& r) const;
  ChannelRegistry& channels() { return channels_; }
  PaymentRepository& repo() { return repo_; }
  Clock& clock() { return *clock_; }
  const PaymentSettings& settings() const { return settings_; }

 private:
  absl::Status CheckChannelAndCurrency(v1::PaymentChannel c, const std::string& currency,
                                       Channel** out);
  absl::StatusOr<ApplyOutcome> ApplyTradeTx(PaymentTx& tx, v1::PaymentChannel channel,
                                            const ChannelTrade& trade, const std::string& source,
                                            std::string* payment_id);
  absl::StatusOr<ApplyOutcome> ApplyRefundTx(PaymentTx& tx, const ChannelRefund& r,
                                             const std::string& source);
  void AttemptRefund(const std::string& refund_id);
  absl::Status EmitRefundFailed(PaymentTx& tx, const RefundRow& r, v1::RefundStatus status,
                                const std::string& error);
  void KickRefunds();
  // Feeds the channel's circuit breaker with a call's outcome.
  void RecordOutcome(v1::PaymentChannel c, const absl::Status& s);
  TradeRef RefOf(const PaymentRow& p) const;

  PaymentRepository& repo_;
  redis::Client* redis_;
  ChannelRegistry& channels_;
  OrderDirectory& orders_;
  ClockPtr clock_;
  PaymentSettings settings_;
  std::mutex kick_mu_;
  std::function<void()> wake_refunds_;
};

// Request fingerprints for idempotency keys.
std::string FingerprintOf(const v1::CreatePaymentRequest& r);
std::string FingerprintOf(const v1::RefundRequest& r);

}  // namespace orderly::payment
