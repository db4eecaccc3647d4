#pragma once
// The one background loop of every service (the analogue of userver's utils::PeriodicTask): a
// thread that runs a task every interval until stopped. Durable timers stay in the database; this
// is only what drives them. A run that reports more work waiting (a full batch) runs again at once,
// up to max_immediate_runs times, instead of sleeping a whole interval behind a backlog. Failures
// and exceptions are logged with the task's name and counted; the task runs again next interval.
//
//   orderly_periodic_task_runs_total{task, outcome="ok"|"error"}
#include <absl/status/statusor.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace orderly {

struct PeriodicTaskOptions {
  std::chrono::milliseconds interval{1000};
  // Runs in a row while the task says more work is waiting, before it sleeps again.
  int max_immediate_runs = 100;
};

class PeriodicTask {
 public:
  // true = more work is already waiting (e.g. a batch came back full): run again at once.
  using Fn = std::function<absl::StatusOr<bool>()>;

  PeriodicTask(std::string name, PeriodicTaskOptions options, Fn fn);
  ~PeriodicTask();  // Stop()
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  // Starts the thread; the first run is one interval from now unless Wake() is called.
  void Start();
  // Wakes the thread and waits for it (a run in progress finishes first). Idempotent.
  void Stop();
  // Runs the task at the thread's next wake-up instead of at the end of the interval (new work
  // arrived). Cheap; callable from any thread.
  void Wake();

  const std::string& name() const { return name_; }

 private:
  void Loop();
  // One run, its failure logged and counted; true when more work is waiting.
  bool RunOnce();

  std::string name_;
  PeriodicTaskOptions options_;
  Fn fn_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool wake_ = false;
  std::thread thread_;
};
using PeriodicTaskPtr = std::unique_ptr<PeriodicTask>;

}  // namespace orderly
