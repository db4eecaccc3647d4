#pragma once
// Everything a service binary needs around its gRPC services: health (grpc.health.v1) and server
// reflection on every server, a logging/metrics interceptor (request id + trace id into the log
// context, per-method request count and latency histogram), the HTTP admin port (/metrics, /readyz,
// /healthz), and graceful drain on SIGTERM/SIGINT: health goes NOT_SERVING, /readyz 503, in-flight
// calls finish within the drain deadline, then shutdown hooks run (relays, consumers, sweepers).
#include <absl/status/status.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "orderly/server/http_server.hpp"

namespace orderly::server {

struct ServiceHostOptions {
  std::string service_name;                      // "order-core"
  std::string grpc_address = "127.0.0.1:17051";  // port 0 = ephemeral (tests), see grpc_port()
  std::string http_host = "127.0.0.1";
  int http_port = 9101;
  std::chrono::milliseconds drain_timeout{10000};
  // Sync-server threads kept polling for calls (gRPC's default of 1..2 makes it start and end a
  // thread for nearly every call under concurrency).
  int min_pollers = 4;
  int max_pollers = 64;
  // How often the readiness checks run in the background: grpc.health.v1 follows them (SERVING
  // only while every check passes), so a gRPC load balancer or a Kubernetes gRPC probe takes an
  // instance whose database is down out of rotation, as /readyz does for HTTP probes.
  std::chrono::milliseconds readiness_interval{1000};
};

// The per-call interceptor every ServiceHost installs (log context, metrics, and the statuses gRPC
// itself answers: a request that does not parse becomes INVALID_ARGUMENT with a BadRequest, an
// INTERNAL without an error id gets one). For tests that build their own grpc::ServerBuilder.
void AddCallInterceptors(grpc::ServerBuilder& builder);

class ServiceHost {
 public:
  explicit ServiceHost(ServiceHostOptions options);
  ~ServiceHost();
  void AddService(grpc::Service* service);  // not owned
  // Extra HTTP endpoints (register before Start).
  HttpServer& http();
  // Readiness: /readyz is 200, and grpc.health.v1 SERVING (overall and per service), only while
  // every check returns true.
  void AddReadinessCheck(std::string name, std::function<bool()> check);
  // Runs at shutdown after the gRPC server drained, in reverse order of registration.
  void OnShutdown(std::function<void()> hook);

  // Non-blocking. Blocks SIGTERM/SIGINT in the calling thread (threads started later inherit it)
  // and takes them on a dedicated thread: call it from main before starting other threads.
  absl::Status Start();
  int grpc_port() const;
  int http_port() const;
  // Blocks until SIGTERM/SIGINT (or Shutdown()), then drains and runs the hooks.
  void Wait();
  void Shutdown();  // programmatic (tests)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace orderly::server
