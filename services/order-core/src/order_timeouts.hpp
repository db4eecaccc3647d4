#pragma once
// Payment timeout, two mechanisms that call the same idempotent cancel path (row lock + state
// check + version guard), so they are safe with each other and with a racing payment:
//  * the scheduler: durable timers (order_timers) claimed with FOR UPDATE SKIP LOCKED every
//    `scheduler_interval`, so an order is cancelled within about that long after its deadline;
//  * the sweep: every `sweep_interval`, unpaid orders past their deadline whatever their timer,
//    the second insurance.
// The same worker runs the recovery pass for create intents (reservations without an order).
// Each of the three is a PeriodicTask (libs/core).
#include <absl/status/statusor.h>

#include <chrono>
#include <vector>

#include "order_manager.hpp"
#include "orderly/core/periodic_task.hpp"

namespace orderly::order_core {

struct TimeoutWorkerOptions {
  std::chrono::milliseconds scheduler_interval{250};
  std::chrono::milliseconds sweep_interval{std::chrono::seconds(30)};
  std::chrono::milliseconds recovery_interval{std::chrono::seconds(10)};
  // A create intent this old has no create running any more.
  std::chrono::milliseconds intent_max_age{std::chrono::seconds(60)};
  int batch = 100;
};

class TimeoutWorker {
 public:
  TimeoutWorker(OrderManager& manager, TimeoutWorkerOptions options);
  ~TimeoutWorker();
  void Start();
  void Stop();

  // One pass each (tests drive these with a manual clock). Return how many orders they cancelled
  // (recovery: reservations released).
  absl::StatusOr<int> RunTimersOnce();
  absl::StatusOr<int> RunSweepOnce();
  absl::StatusOr<int> RunRecoveryOnce();

 private:
  OrderManager& manager_;
  TimeoutWorkerOptions options_;
  std::vector<PeriodicTaskPtr> tasks_;
};

}  // namespace orderly::order_core
