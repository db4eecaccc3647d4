#include "payment_workers.hpp"

#include <spdlog/spdlog.h>

namespace orderly::payment {

PaymentWorkers::PaymentWorkers(PaymentManager& manager, Reconciler& reconciler, WorkerOptions options)
    : m_(manager), recon_(reconciler), o_(std::move(options)) {}

PaymentWorkers::~PaymentWorkers() { Stop(); }

void PaymentWorkers::Start() {
  threads_.emplace_back([this] {
    while (!stop_) {
      try {
        while (!stop_ && m_.PollPayments(50) == 50) {
        }
      } catch (const std::exception& e) {
        spdlog::error("payment poller: {}", e.what());
      }
      for (auto waited = std::chrono::milliseconds(0); !stop_ && waited < o_.poll_tick; waited += std::chrono::milliseconds(50)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  });
  threads_.emplace_back([this] {
    while (!stop_) {
      try {
        while (!stop_ && m_.ProcessDueRefunds(20) == 20) {
        }
      } catch (const std::exception& e) {
        spdlog::error("refund worker: {}", e.what());
      }
      m_.WaitForRefundWork(std::min<std::chrono::milliseconds>(o_.poll_tick, std::chrono::milliseconds(1000)));
    }
  });
  if (o_.reconciliation_at != "off") {
    threads_.emplace_back([this] {
      while (!stop_) {
        const TimePoint now = m_.clock().Now();
        if (ChinaTime(now, "%H:%M") >= o_.reconciliation_at) {
          const std::string yesterday = ChinaTime(now - std::chrono::hours(24), "%Y-%m-%d");
          for (auto c : m_.channels().ids()) {
            // Run(rerun=false) returns the stored report when the day is done already.
            auto r = recon_.Run(c, yesterday, false);
            if (!r.ok()) spdlog::warn("daily reconciliation {} {}: {}", ChannelName(c), yesterday, r.status().ToString());
          }
        }
        for (int i = 0; i < 600 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
}

void PaymentWorkers::Stop() {
  stop_ = true;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace orderly::payment
