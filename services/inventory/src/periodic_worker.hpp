#pragma once
// A thread that runs a task every interval until stopped (the expiry sweeper, the flash-sale
// drain and reconciliation). Failures are logged and the task runs again next round.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <absl/status/status.h>

namespace orderly::inventory {

class PeriodicWorker {
 public:
  PeriodicWorker(std::string name, std::chrono::milliseconds interval,
                 std::function<absl::Status()> task);
  ~PeriodicWorker();  // Stop()
  void Start();
  void Stop();
  // Runs the task now on the worker thread's next wake-up.
  void Wake();

 private:
  void Loop();
  std::string name_;
  std::chrono::milliseconds interval_;
  std::function<absl::Status()> task_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool wake_ = false;
  std::thread thread_;
};

}  // namespace orderly::inventory
