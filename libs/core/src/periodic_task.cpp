#include "orderly/core/periodic_task.hpp"

#include <spdlog/spdlog.h>

#include "orderly/core/metrics.hpp"

namespace orderly {

PeriodicTask::PeriodicTask(std::string name, PeriodicTaskOptions options, Fn fn)
    : name_(std::move(name)), options_(options), fn_(std::move(fn)) {}

PeriodicTask::~PeriodicTask() { Stop(); }

void PeriodicTask::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void PeriodicTask::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void PeriodicTask::Wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

bool PeriodicTask::RunOnce() {
  absl::StatusOr<bool> more = false;
  try {
    more = fn_();
  } catch (const std::exception& e) {
    more = absl::InternalError(e.what());
  } catch (...) {
    more = absl::InternalError("unknown exception");
  }
  metrics::Registry::Default()
      .GetCounter("orderly_periodic_task_runs_total", "Runs of a background task, by outcome",
                  {{"task", name_}, {"outcome", more.ok() ? "ok" : "error"}})
      .Inc();
  if (!more.ok()) {
    spdlog::warn("{}: {}", name_, more.status().ToString());
    return false;
  }
  return *more;
}

void PeriodicTask::Loop() {
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, options_.interval, [this] { return stop_ || wake_; });
      if (stop_) return;
      wake_ = false;
    }
    for (int run = 0; run < std::max(1, options_.max_immediate_runs); ++run) {
      if (!RunOnce()) break;
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
  }
}

}  // namespace orderly
