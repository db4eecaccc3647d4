#include "orderly/server/service_host.hpp"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/method_handler.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <future>
#include <mutex>
#include <regex>
#include <thread>

#include "orderly/core/logging.hpp"
#include "orderly/core/metrics.hpp"
#include "orderly/core/status.hpp"
#include "orderly/server/request_context.hpp"
#include "test_http_client.hpp"

namespace orderly::server {
namespace {

std::string ToString(const grpc::ByteBuffer& buf) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buf.Dump(&slices).ok()) return out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

grpc::ByteBuffer FromString(const std::string& s) {
  grpc::Slice slice(s);
  return grpc::ByteBuffer(&slice, 1);
}

// A hand-written service on raw bytes, so the test needs no generated code:
//   Echo returns "<metadata request id>|<log context request id>|<user>|<role>|<trace id>".
//   Fail returns INVALID_ARGUMENT with a field violation.
class TestService : public grpc::Service {
 public:
  TestService() {
    using Handler =
        grpc::internal::RpcMethodHandler<TestService, grpc::ByteBuffer, grpc::ByteBuffer,
                                         grpc::ByteBuffer, grpc::ByteBuffer>;
    AddMethod(new grpc::internal::RpcServiceMethod(
        "/orderly.test.v1.TestService/Echo", grpc::internal::RpcMethod::NORMAL_RPC,
        new Handler(
            [](TestService*, grpc::ServerContext* ctx, const grpc::ByteBuffer*,
               grpc::ByteBuffer* out) {
              const Caller caller = CallerOf(*ctx);
              *out = FromString(RequestIdOf(*ctx) + "|" + log::Current().request_id + "|" +
                                caller.user_id + "|" + std::string(RoleName(caller.role)) + "|" +
                                TraceOf(*ctx).trace_id + "|" + log::Current().trace_id);
              return grpc::Status::OK;
            },
            this)));
    AddMethod(new grpc::internal::RpcServiceMethod(
        "/orderly.test.v1.TestService/Fail", grpc::internal::RpcMethod::NORMAL_RPC,
        new Handler(
            [](TestService*, grpc::ServerContext*, const grpc::ByteBuffer*, grpc::ByteBuffer*) {
              Violations v;
              v.Add("quantity", "must be positive");
              return ToGrpcStatus(v.ToStatus());
            },
            this)));
  }
};

struct CallResult {
  grpc::Status status;
  std::string body;
  std::string echoed_request_id;  // the server's x-request-id response header
};

CallResult Call(int port, const std::string& method, const std::string& request,
                const std::function<void(grpc::ClientContext*)>& setup = {}) {
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (setup) setup(&ctx);
  grpc::ByteBuffer req = FromString(request);
  grpc::ByteBuffer resp;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &req, &resp,
                 [&done](grpc::Status s) { done.set_value(std::move(s)); });
  CallResult r;
  r.status = done.get_future().get();
  r.body = ToString(resp);
  const auto& md = ctx.GetServerInitialMetadata();
  if (auto it = md.find("x-request-id"); it != md.end()) {
    r.echoed_request_id.assign(it->second.data(), it->second.size());
  }
  return r;
}

// grpc.health.v1.HealthCheckRequest{service} encoded by hand: field 1, length-delimited.
std::string HealthRequest(const std::string& service) {
  if (service.empty()) return "";
  return std::string("\x0a", 1) + static_cast<char>(service.size()) + service;
}

// HealthCheckResponse.status (field 1 varint): 1 = SERVING, 2 = NOT_SERVING; -1 = call failed.
int HealthStatus(int port, const std::string& service) {
  CallResult r = Call(port, "/grpc.health.v1.Health/Check", HealthRequest(service));
  if (!r.status.ok()) return -static_cast<int>(r.status.error_code()) - 100;
  if (r.body.size() == 2 && r.body[0] == 0x08) return r.body[1];
  return 0;  // UNKNOWN (field omitted)
}

double RequestCount(const std::string& method, const std::string& code) {
  return metrics::Registry::Default()
      .GetCounter("orderly_grpc_requests_total", "gRPC calls handled, by method and status code.",
                  {{"method", method}, {"code", code}})
      .Value();
}

ServiceHostOptions TestOptions() {
  ServiceHostOptions o;
  o.service_name = "test-service";
  o.grpc_address = "127.0.0.1:0";
  o.http_port = 0;
  o.drain_timeout = std::chrono::milliseconds(2000);
  o.readiness_interval = std::chrono::milliseconds(50);
  return o;
}

TEST(ServiceHostTest, HealthReadinessMetricsAndOrderedDrain) {
  TestService service;
  ServiceHost host(TestOptions());
  host.AddService(&service);
  std::atomic<bool> db_ok{true};
  host.AddReadinessCheck("db", [&] { return db_ok.load(); });
  std::mutex mu;
  std::vector<std::string> events;
  int readyz_during_hooks = 0;
  host.OnShutdown([&] {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back("first-registered");
  });
  host.OnShutdown([&] {
    const int status = testing::Get(host.http_port(), "/readyz").status;
    std::lock_guard<std::mutex> lock(mu);
    readyz_during_hooks = status;
    events.push_back("second-registered");
  });
  ASSERT_TRUE(host.Start().ok());
  ASSERT_GT(host.grpc_port(), 0);
  ASSERT_GT(host.http_port(), 0);
  const int gport = host.grpc_port();
  const int hport = host.http_port();
  const double fails_before = RequestCount("orderly.test.v1.TestService/Fail", "INVALID_ARGUMENT");
  const double echoes_before = RequestCount("orderly.test.v1.TestService/Echo", "OK");
  const uint64_t latencies_before =
      metrics::Registry::Default()
          .GetHistogram("orderly_grpc_request_duration_seconds",
                        "gRPC call latency in seconds, by method.",
                        {{"method", "orderly.test.v1.TestService/Echo"}})
          .Count();

  EXPECT_EQ(HealthStatus(gport, ""), 1);
  EXPECT_EQ(HealthStatus(gport, "orderly.test.v1.TestService"), 1);
  EXPECT_EQ(HealthStatus(gport, "no.such.Service"),
            -static_cast<int>(grpc::StatusCode::NOT_FOUND) - 100);

  EXPECT_EQ(testing::Get(hport, "/healthz").status, 200);
  testing::RawResponse ready = testing::Get(hport, "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "ready\n");
  // grpc.health.v1 follows readiness by itself (nobody calls /readyz first): a gRPC load
  // balancer or probe takes the instance out while its database is down, and back in after.
  auto health_becomes = [&](int want) {
    for (int i = 0; i < 100; ++i) {
      if (HealthStatus(gport, "") == want &&
          HealthStatus(gport, "orderly.test.v1.TestService") == want) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  };
  db_ok = false;
  EXPECT_TRUE(health_becomes(2)) << "health must go NOT_SERVING while a readiness check fails";
  testing::RawResponse not_ready = testing::Get(hport, "/readyz");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_NE(not_ready.body.find("db"), std::string::npos);
  db_ok = true;
  EXPECT_TRUE(health_becomes(1)) << "health must come back to SERVING";

  // Request id and trace from the caller reach the handler's metadata and log context.
  CallResult echo = Call(gport, "/orderly.test.v1.TestService/Echo", "x", [](auto* ctx) {
    Propagate(ctx, ParseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
              "req-42", Caller{"u7", Role::kBuyer});
  });
  ASSERT_TRUE(echo.status.ok()) << echo.status.error_message();
  EXPECT_EQ(echo.echoed_request_id, "req-42") << "x-request-id is echoed back";
  EXPECT_EQ(echo.body,
            "req-42|req-42|u7|buyer|0af7651916cd43dd8448eb211c80319c|"
            "0af7651916cd43dd8448eb211c80319c");

  // Without them the interceptor makes a UUIDv7 request id visible to both, and a fresh trace.
  CallResult bare = Call(gport, "/orderly.test.v1.TestService/Echo", "x");
  ASSERT_TRUE(bare.status.ok());
  EXPECT_EQ(bare.echoed_request_id, bare.body.substr(0, bare.body.find('|')))
      << "the generated request id is echoed back";
  const std::regex bare_re(
      "^([0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})\\|\\1\\|\\|unknown\\|"
      "\\|[0-9a-f]{32}$");
  EXPECT_TRUE(std::regex_match(bare.body, bare_re)) << bare.body;

  // Error details cross the wire and the failure is counted.
  CallResult fail = Call(gport, "/orderly.test.v1.TestService/Fail", "x",
                         [](auto* ctx) { ctx->AddMetadata("x-request-id", "req-fail"); });
  EXPECT_EQ(fail.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(fail.echoed_request_id, "req-fail") << "errors echo the request id too";
  absl::Status back = FromGrpcStatus(fail.status);
  ASSERT_EQ(ErrorFieldViolations(back).size(), 1u);
  EXPECT_EQ(ErrorFieldViolations(back)[0].field, "quantity");

  testing::RawResponse metrics = testing::Get(hport, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.headers["content-type"], "text/plain; version=0.0.4");
  EXPECT_NE(metrics.body.find("orderly_grpc_requests_total{code=\"INVALID_ARGUMENT\",method="
                              "\"orderly.test.v1.TestService/Fail\"} "),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("# TYPE orderly_grpc_request_duration_seconds histogram\n"),
            std::string::npos);
  // Deltas, so the test holds under --gtest_repeat (the default registry is process-wide).
  EXPECT_EQ(RequestCount("orderly.test.v1.TestService/Fail", "INVALID_ARGUMENT") - fails_before, 1);
  EXPECT_EQ(RequestCount("orderly.test.v1.TestService/Echo", "OK") - echoes_before, 2);
  EXPECT_EQ(metrics::Registry::Default()
                    .GetHistogram("orderly_grpc_request_duration_seconds",
                                  "gRPC call latency in seconds, by method.",
                                  {{"method", "orderly.test.v1.TestService/Echo"}})
                    .Count() -
                latencies_before,
            2u);

  host.Shutdown();
  EXPECT_EQ(readyz_during_hooks, 503) << "readiness must be off before hooks run";
  EXPECT_EQ(events, (std::vector<std::string>{"second-registered", "first-registered"}));
  // After drain the gRPC port no longer serves and the admin port is closed.
  EXPECT_LT(HealthStatus(gport, ""), 0);
  EXPECT_FALSE(testing::RawClient(hport).connected());
  host.Shutdown();  // idempotent
  EXPECT_EQ(events.size(), 2u);
}

TEST(ServiceHostTest, SigtermDrainsAndWaitReturns) {
  ServiceHost host(TestOptions());
  std::atomic<bool> hook_ran{false};
  host.OnShutdown([&] { hook_ran = true; });
  ASSERT_TRUE(host.Start().ok());
  EXPECT_EQ(HealthStatus(host.grpc_port(), ""), 1);
  auto waiter = std::async(std::launch::async, [&] { host.Wait(); });
  EXPECT_EQ(waiter.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  ASSERT_EQ(kill(getpid(), SIGTERM), 0);
  ASSERT_EQ(waiter.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(hook_ran.load());
}

TEST(ServiceHostTest, BusyPortFailsToStart) {
  ServiceHost first(TestOptions());
  ASSERT_TRUE(first.Start().ok());
  ServiceHostOptions o = TestOptions();
  o.http_port = first.http_port();  // taken
  ServiceHost second(o);
  EXPECT_FALSE(second.Start().ok());
  first.Shutdown();
}

}  // namespace
}  // namespace orderly::server
