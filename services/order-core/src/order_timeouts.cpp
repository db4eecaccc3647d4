#include "order_timeouts.hpp"

#include <spdlog/spdlog.h>

namespace orderly::order_core {

TimeoutWorker::TimeoutWorker(OrderManager& manager, TimeoutWorkerOptions options)
    : manager_(manager), options_(options) {}

TimeoutWorker::~TimeoutWorker() { Stop(); }

void TimeoutWorker::Start() {
  if (!tasks_.empty()) return;
  // Due timers drain in batches, a full batch running the next at once.
  tasks_.push_back(std::make_unique<PeriodicTask>(
      "timeout scheduler", PeriodicTaskOptions{.interval = options_.scheduler_interval},
      [this]() -> absl::StatusOr<bool> {
        auto r = RunTimersOnce();
        if (!r.ok()) return r.status();
        return *r >= options_.batch;
      }));
  tasks_.push_back(std::make_unique<PeriodicTask>(
      "timeout sweep", PeriodicTaskOptions{.interval = options_.sweep_interval},
      [this]() -> absl::StatusOr<bool> {
        auto r = RunSweepOnce();
        if (!r.ok()) return r.status();
        return false;
      }));
  tasks_.push_back(std::make_unique<PeriodicTask>(
      "intent recovery", PeriodicTaskOptions{.interval = options_.recovery_interval},
      [this]() -> absl::StatusOr<bool> {
        auto r = RunRecoveryOnce();
        if (!r.ok()) return r.status();
        if (*r > 0) spdlog::info("intent recovery released {} orphaned reservations", *r);
        return false;
      }));
  for (auto& t : tasks_) t->Start();
  tasks_.front()->Wake();  // timers that fell due while the process was down
}

void TimeoutWorker::Stop() {
  for (auto& t : tasks_) t->Stop();
  tasks_.clear();
}

absl::StatusOr<int> TimeoutWorker::RunTimersOnce() {
  int cancelled = 0;
  AfterCommit after;
  absl::Status s = manager_.repository().InTransaction([&](OrderTx& tx) {
    cancelled = 0;
    after = {};
    auto ids = tx.ClaimDueTimers(manager_.clock().Now(), options_.batch);
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
  absl::Status s = manager_.repository().InTransaction([&](OrderTx& tx) {
    auto found = tx.OverdueOrders(manager_.clock().Now(), options_.batch);
    if (!found.ok()) return found.status();
    ids = std::move(*found);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  int cancelled = 0;
  for (int64_t id : ids) {
    AfterCommit after;
    bool done = false;
    s = manager_.repository().InTransaction([&](OrderTx& tx) {
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

}  // namespace orderly::order_core
