#pragma once
// Background loops of the payment process: the active query of pending payments (lost-callback
// recovery), the refund worker (channel calls, timed-out refunds queried, retries with backoff),
// and the daily reconciliation of yesterday's bills. Stop() joins them.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

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
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace orderly::payment
