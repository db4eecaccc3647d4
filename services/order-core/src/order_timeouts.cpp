#include "order_timeouts.hpp"

#include <spdlog/spdlog.h>

namespace orderly::order_core {

TimeoutWorker::TimeoutWorker(OrderManager& manager, pg::Pool& pool, TimeoutWorkerOptions options)
    : manager_(manager), pool_(pool), options_(options) {}

TimeoutWorker::~TimeoutWorker() { Stop(); }

void TimeoutWorker::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void TimeoutWorker::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<int> TimeoutWorker::RunTimersOnce() {
  int cancelled = 0;
  AfterCommit after;
  absl::Status s = pool_.InTransaction([&](Tx& tx) {
    cancelled = 0;
    after = {};
    auto ids = manager_.repository().ClaimDueTimers(tx, manager_.clock().Now(), options_.batch);
    if (!ids.ok()) return ids.status();
    for (int64_t id : *ids) {
      auto done = manager_.TimeoutInTx(tx, id, &after);
      if (!done.ok()) return done.status();
      if (*done) ++cancelled;
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  manager_.Finish(after, {});
  return cancelled;
}

absl::StatusOr<int> TimeoutWorker::RunSweepOnce() {
  std::vector<int64_t> ids;
  absl::Status s = pool_.InTransaction([&](Tx& tx) {
    auto found = manager_.repository().OverdueOrders(tx, manager_.clock().Now(), options_.batch);
    if (!found.ok()) return found.status();
    ids = std::move(*found);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  int cancelled = 0;
  for (int64_t id : ids) {
    AfterCommit after;
    bool done = false;
    s = pool_.InTransaction([&](Tx& tx) {
      after = {};
      auto r = manager_.TimeoutInTx(tx, id, &after);
      if (!r.ok()) return r.status();
      done = *r;
      return absl::OkStatus();
    });
    if (!s.ok()) {
      spdlog::warn("sweep: order {}: {}", id, s.ToString());
      continue;
    }
    manager_.Finish(after, {});
    if (done) {
      ++cancelled;
      spdlog::info("sweep cancelled overdue order {} (its timer had not fired)", id);
    }
  }
  return cancelled;
}

absl::StatusOr<int> TimeoutWorker::RunRecoveryOnce() {
  return manager_.RecoverIntents(options_.intent_max_age, options_.batch);
}

void TimeoutWorker::Loop() {
  using Clock = std::chrono::steady_clock;
  auto next_sweep = Clock::now() + options_.sweep_interval;
  auto next_recovery = Clock::now() + options_.recovery_interval;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    // Drain due timers in batches before sleeping.
    for (int i = 0; i < 100; ++i) {
      auto r = RunTimersOnce();
      if (!r.ok()) {
        spdlog::warn("timeout scheduler: {}", r.status().ToString());
        break;
      }
      if (*r < options_.batch) break;
    }
    if (Clock::now() >= next_sweep) {
      if (auto r = RunSweepOnce(); !r.ok()) spdlog::warn("timeout sweep: {}", r.status().ToString());
      next_sweep = Clock::now() + options_.sweep_interval;
    }
    if (Clock::now() >= next_recovery) {
      if (auto r = RunRecoveryOnce(); !r.ok()) {
        spdlog::warn("intent recovery: {}", r.status().ToString());
      } else if (*r > 0) {
        spdlog::info("intent recovery released {} orphaned reservations", *r);
      }
      next_recovery = Clock::now() + options_.recovery_interval;
    }
    lock.lock();
    cv_.wait_for(lock, options_.scheduler_interval, [this] { return stop_; });
  }
}

}  // namespace orderly::order_core
