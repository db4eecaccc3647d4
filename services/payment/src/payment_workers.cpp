#include "payment_workers.hpp"

#include <spdlog/spdlog.h>

namespace orderly::payment {

PaymentWorkers::PaymentWorkers(PaymentManager& manager, Reconciler& reconciler,
                               WorkerOptions options)
    : m_(manager), recon_(reconciler), o_(std::move(options)) {}

PaymentWorkers::~PaymentWorkers() { Stop(); }

void PaymentWorkers::Start() {
  if (!tasks_.empty()) return;
  constexpr int kPollBatch = 50, kRefundBatch = 20;
  tasks_.push_back(std::make_unique<PeriodicTask>(
      "payment poller", PeriodicTaskOptions{.interval = o_.poll_tick},
      [this]() -> absl::StatusOr<bool> { return m_.PollPayments(kPollBatch) == kPollBatch; }));
  tasks_.push_back(std::make_unique<PeriodicTask>(
      "refund worker",
      PeriodicTaskOptions{
          .interval = std::min<std::chrono::milliseconds>(o_.poll_tick, std::chrono::seconds(1))},
      [this]() -> absl::StatusOr<bool> {
        return m_.ProcessDueRefunds(kRefundBatch) == kRefundBatch;
      }));
  PeriodicTask* refunds = tasks_.back().get();
  m_.OnRefundWork([refunds] { refunds->Wake(); });
  if (o_.reconciliation_at != "off") {
    tasks_.push_back(std::make_unique<PeriodicTask>(
        "daily reconciliation", PeriodicTaskOptions{.interval = std::chrono::minutes(1)},
        [this]() -> absl::StatusOr<bool> {
          const TimePoint now = m_.clock().Now();
          if (ChinaTime(now, "%H:%M") < o_.reconciliation_at) return false;
          const std::string yesterday = ChinaTime(now - std::chrono::hours(24), "%Y-%m-%d");
          for (auto c : m_.channels().ids()) {
            // Run(rerun=false) returns the stored report when the day is done already.
            auto r = recon_.Run(c, yesterday, false);
            if (!r.ok()) {
              spdlog::warn("daily reconciliation {} {}: {}", ChannelName(c), yesterday,
                           r.status().ToString());
            }
          }
          return false;
        }));
  }
  for (auto& t : tasks_) t->Start();
  // The first rounds now rather than one interval after start (payments left by a restart).
  for (auto& t : tasks_) t->Wake();
}

void PaymentWorkers::Stop() {
  m_.OnRefundWork({});
  for (auto& t : tasks_) t->Stop();
  tasks_.clear();
}

}  // namespace orderly::payment
