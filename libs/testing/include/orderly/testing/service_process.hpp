#pragma once
// Runs a real Orderly service binary as a child process for integration tests: free ports,
// flags, a log file, and a wait until its /readyz answers 200. SIGTERM (then SIGKILL) on
// destruction, so a failed test leaves nothing running.
#include <absl/status/statusor.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace orderly::testing {

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// Path of a built binary: $ORDERLY_BUILD_DIR/services/<dir>/orderly-<dir>; ORDERLY_BUILD_DIR is
// set by CTest (the build tree), so tests find the binaries of the same build.
std::string ServiceBinary(const std::string& dir);

struct ServiceProcessOptions {
  std::string binary;                        // ServiceBinary("inventory")
  std::map<std::string, std::string> flags;  // {"pg_database", "..."} -> --pg_database=...
  std::chrono::milliseconds ready_timeout{30000};
};

class ServiceProcess {
 public:
  // Starts the binary with --grpc_port / --http_port set to free ports (unless given in flags)
  // and waits until GET /readyz is 200.
  static absl::StatusOr<std::unique_ptr<ServiceProcess>> Start(ServiceProcessOptions options);
  ~ServiceProcess();

  std::string grpc_target() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  // SIGTERM and wait (graceful drain); returns the exit status.
  int Stop(std::chrono::milliseconds timeout = std::chrono::milliseconds(15000));
  void Kill();  // SIGKILL, no drain
  // Last lines of the log, for failure messages.
  std::string LogTail(size_t lines = 40) const;

 private:
  ServiceProcess() = default;
  pid_t pid_ = -1;
  int grpc_port_ = 0;
  int http_port_ = 0;
  std::string log_path_;
};

// Plain HTTP GET/POST on 127.0.0.1 (for /readyz, /metrics and notify endpoints in tests).
struct HttpResult {
  int status = 0;
  std::string body;
};
absl::StatusOr<HttpResult> HttpCall(int port, const std::string& method, const std::string& path,
                                    const std::string& body = "",
                                    const std::map<std::string, std::string>& headers = {});

}  // namespace orderly::testing
