#pragma once
// Background work of the payment process, as the shared PeriodicTask (libs/core): the active query
// of pending payments (lost-callback recovery), the refund worker (channel calls, timed-out
// refunds queried, retries with backoff; woken at once by a new refund), and the daily
// reconciliation of yesterday's bills. Stop() joins them.
#include <chrono>
#include <string>
#include <vector>

#include "orderly/core/periodic_task.hpp"
#include "payment_manager.hpp"
#include "reconciler.hpp"

namespace orderly::payment {

struct WorkerOptions {
  std::chrono::milliseconds poll_tick{1000};
  // "HH:MM" China time after which yesterday's bills are reconciled; "off" disables.
  std::string reconciliation_at = "10:00";
};

class PaymentWorkers {
 public:
  PaymentWorkers(PaymentManager& manager, Reconciler& reconciler, WorkerOptions options);
  ~PaymentWorkers();
  void Start();
  void Stop();

 private:
  PaymentManager& m_;
  Reconciler& recon_;
  WorkerOptions o_;
  std::vector<PeriodicTaskPtr> tasks_;
};

}  // namespace orderly::payment
