#pragma once
// JSON-lines logs through spdlog: {"ts","level","service","msg","request_id","trace_id",...}.
// request_id and trace_id come from a thread-local context set by the gRPC interceptor (and by
// consumers/relays for the event they handle), so every line of one call carries them.
#include <string>
#include <string_view>

namespace orderly::log {

// Installs the JSON formatter on spdlog's default logger (stdout). level: trace..critical.
void Init(std::string_view service, std::string_view level = "info");

struct Context {
  std::string request_id;
  std::string trace_id;
};
// Sets the calling thread's log context for the lifetime of the scope.
class ScopedContext {
 public:
  explicit ScopedContext(Context ctx);
  ~ScopedContext();
  ScopedContext(const ScopedContext&) = delete;
  ScopedContext& operator=(const ScopedContext&) = delete;

 private:
  Context saved_;
};
const Context& Current();
// Replaces the calling thread's context without restoring it later; for callers whose scope spans
// callbacks (the gRPC interceptor sets it when a call arrives and clears it when it ends).
void SetContext(Context ctx);

std::string JsonEscape(std::string_view s);

}  // namespace orderly::log
