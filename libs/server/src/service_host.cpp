#include "orderly/server/service_host.hpp"

#include <absl/container/flat_hash_map.h>
#include <absl/status/status.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>
#include <grpcpp/support/server_interceptor.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>

#include "grpc/health/v1/health.pb.h"
#include "orderly/core/ids.hpp"
#include "orderly/core/logging.hpp"
#include "orderly/core/metrics.hpp"
#include "orderly/core/status.hpp"
#include "orderly/server/handler.hpp"
#include "orderly/server/request_context.hpp"

namespace orderly::server {
namespace {

using grpc::experimental::InterceptionHookPoints;
using SteadyClock = std::chrono::steady_clock;

std::string_view Ref(const grpc::string_ref& r) { return {r.data(), r.size()}; }

std::string_view CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

// A method's metric series, resolved once: per call the interceptor only bumps them (the
// registry lookup builds label maps and takes the registry's lock).
struct MethodMetrics {
  explicit MethodMetrics(std::string m) : method(std::move(m)) {
    duration = &metrics::Registry::Default().GetHistogram(
        "orderly_grpc_request_duration_seconds", "gRPC call latency in seconds, by method.",
        {{"method", method}});
  }
  metrics::Counter& Requests(grpc::StatusCode code) {
    const size_t i = static_cast<size_t>(code) < by_code.size() ? static_cast<size_t>(code) : 2;
    metrics::Counter* c = by_code[i].load(std::memory_order_acquire);
    if (c == nullptr) {
      c = &metrics::Registry::Default().GetCounter(
          "orderly_grpc_requests_total", "gRPC calls handled, by method and status code.",
          {{"method", method}, {"code", std::string(CodeName(static_cast<grpc::StatusCode>(i)))}});
      by_code[i].store(c, std::memory_order_release);  // the registry returns the same series
    }
    return *c;
  }

  const std::string method;
  metrics::Histogram* duration = nullptr;
  std::array<std::atomic<metrics::Counter*>, 17> by_code{};
};

// Per call: request id and trace id into the log context (and the request id into the metadata
// when the client sent none, so handlers read one id through RequestIdOf), the request id back to
// the client as an x-request-id response header, then count and time it.
class CallInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit CallInterceptor(MethodMetrics& m) : m_(m), start_(SteadyClock::now()) {}

  ~CallInterceptor() override {
    // A call the client cancelled never reaches PRE_SEND_STATUS; it still counts.
    if (!recorded_) Record(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"), false);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      auto* md = methods->GetRecvInitialMetadata();
      std::string traceparent;
      if (md != nullptr) {
        if (auto it = md->find("x-request-id"); it != md->end()) {
          request_id_ = std::string(Ref(it->second));
        }
        if (auto it = md->find("traceparent"); it != md->end()) {
          traceparent = std::string(Ref(it->second));
        }
      }
      if (request_id_.empty()) {
        request_id_ = NewUuidV7();
        // The map holds references; request_id_ lives as long as the call.
        if (md != nullptr) md->emplace("x-request-id", grpc::string_ref(request_id_));
      }
      TraceContext trace = ParseTraceparent(traceparent);
      trace_id_ = trace.trace_id.empty() ? NewSpan().trace_id : trace.trace_id;
      log::SetContext({request_id_, trace_id_});
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      // The correlation id goes back to the client (its own, or the one made up here).
      if (auto* out = methods->GetSendInitialMetadata(); out != nullptr && !request_id_.empty()) {
        out->emplace("x-request-id", request_id_);
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      // gRPC parses the request before any handler runs; a request that does not parse (not
      // protobuf, or a string field that is not UTF-8) arrives here as no message at all.
      request_unparsed_ = methods->GetRecvMessage() == nullptr;
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      if (std::optional<grpc::Status> fixed = ForClient(status)) {
        methods->ModifySendStatus(*fixed);
        status = std::move(*fixed);
      }
      Record(status, true);
      log::SetContext({});
    }
    methods->Proceed();
  }

 private:
  void Record(const grpc::Status& status, bool on_call_thread) {
    recorded_ = true;
    const double seconds = std::chrono::duration<double>(SteadyClock::now() - start_).count();
    m_.Requests(status.error_code()).Inc();
    m_.duration->Observe(seconds);
    if (!status.ok() && spdlog::should_log(spdlog::level::warn)) {
      // Off the call thread the context is someone else's; put ours in for this line.
      std::optional<log::ScopedContext> scoped;
      if (!on_call_thread) scoped.emplace(log::Context{request_id_, trace_id_});
      spdlog::warn("grpc call failed: method={} code={} message=\"{}\" duration_ms={:.1f}",
                   m_.method, CodeName(status.error_code()), status.error_message(),
                   seconds * 1000);
    }
  }

  // What gRPC itself answers is made to tell the client what to do: a request that did not parse
  // is the client's to fix (gRPC says INTERNAL for a sync handler, UNIMPLEMENTED for a callback
  // one), and an INTERNAL/UNKNOWN that did not pass HandleCall still gets an error id, not text.
  std::optional<grpc::Status> ForClient(const grpc::Status& status) const {
    if (request_unparsed_ && (status.error_code() == grpc::StatusCode::INTERNAL ||
                              status.error_code() == grpc::StatusCode::UNIMPLEMENTED)) {
      return ToGrpcStatus(InvalidArgumentError(
          "request does not parse",
          {{"",
            "the request is not a protobuf message of this method's request type, or one of "
            "its string fields is not valid UTF-8"}}));
    }
    const grpc::StatusCode code = status.error_code();
    if ((code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNKNOWN ||
         code == grpc::StatusCode::DATA_LOSS) &&
        status.error_message().find(kErrorIdMarker) == std::string::npos) {
      return ToGrpcStatus(server::ForClient(m_.method, FromGrpcStatus(status)));
    }
    return std::nullopt;
  }

  MethodMetrics& m_;
  bool request_unparsed_ = false;
  SteadyClock::time_point start_;
  std::string request_id_;
  std::string trace_id_;
  bool recorded_ = false;
};

class CallInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    std::string_view method = info->method() != nullptr ? info->method() : "";
    if (!method.empty() && method.front() == '/') method.remove_prefix(1);
    {
      std::shared_lock lock(mu_);
      if (auto it = by_method_.find(absl::string_view(method.data(), method.size()));
          it != by_method_.end()) {
        return new CallInterceptor(*it->second);
      }
    }
    std::unique_lock lock(mu_);
    auto& slot = by_method_[std::string(method)];
    if (!slot) slot = std::make_unique<MethodMetrics>(std::string(method));
    return new CallInterceptor(*slot);
  }

 private:
  std::shared_mutex mu_;
  // String keys with string_view lookups (absl's transparent hashing): no allocation per call.
  absl::flat_hash_map<std::string, std::unique_ptr<MethodMetrics>> by_method_;
};

// ServerBuilder keeps the registered service names to itself; a plugin sees them once the server
// is built, which is what the health service needs to report per service.
class ServiceNamesPlugin final : public grpc::ServerBuilderPlugin {
 public:
  explicit ServiceNamesPlugin(std::vector<std::string>* out) : out_(out) {}
  std::string name() override { return "orderly_service_names"; }
  void InitServer(grpc::ServerInitializer*) override {}
  void Finish(grpc::ServerInitializer* si) override { *out_ = *si->GetServiceList(); }
  void ChangeArguments(const std::string&, void*) override {}

 private:
  std::vector<std::string>* out_;
};

class ServiceNamesOption final : public grpc::ServerBuilderOption {
 public:
  explicit ServiceNamesOption(std::vector<std::string>* out) : out_(out) {}
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->push_back(std::make_unique<ServiceNamesPlugin>(out_));
  }

 private:
  std::vector<std::string>* out_;
};

sigset_t ShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

struct ServiceHost::Impl {
  explicit Impl(ServiceHostOptions o)
      : options(std::move(o)),
        http(HttpServerOptions{
            .host = options.http_host, .port = options.http_port, .workers = 2}) {}

  ServiceHostOptions options;
  HttpServer http;
  std::vector<grpc::Service*> services;
  std::vector<std::string> service_names;
  std::unique_ptr<grpc::Server> server;
  int grpc_port = 0;
  bool started = false;

  std::mutex checks_mu;
  std::vector<std::pair<std::string, std::function<bool()>>> checks;
  std::vector<std::function<void()>> hooks;
  std::atomic<bool> draining{false};

  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stop_requested = false;

  std::mutex drain_mu;
  bool drained = false;

  std::thread signal_thread;
  std::atomic<bool> signal_thread_stop{false};

  // Background readiness: the checks' last answer as grpc.health.v1 reports it.
  std::thread readiness_thread;
  std::mutex readiness_mu;
  std::condition_variable readiness_cv;
  bool readiness_stop = false;
  std::mutex serving_mu;
  bool serving = false;

  HttpResponse Readyz();
  // Runs every check; returns the names of the failing ones ("" = ready).
  std::string FailingChecks();
  // Sets grpc.health.v1 (overall and per service) when it changes; never SERVING while draining.
  void PublishServing(bool ready);
  void ReadinessLoop();
  void StopReadinessLoop();
  void RequestStop();
  void Drain();
  void SignalLoop();
};

std::string ServiceHost::Impl::FailingChecks() {
  std::string failing;
  std::lock_guard<std::mutex> lock(checks_mu);
  for (const auto& [name, check] : checks) {
    bool ok = false;
    try {
      ok = check();
    } catch (...) {
      ok = false;
    }
    if (!ok) failing += (failing.empty() ? "" : ", ") + name;
  }
  return failing;
}

void ServiceHost::Impl::PublishServing(bool ready) {
  std::lock_guard<std::mutex> lock(serving_mu);
  if (draining.load()) ready = false;
  if (ready == serving || !server) return;
  serving = ready;
  if (auto* health = server->GetHealthCheckService(); health != nullptr) {
    health->SetServingStatus("", ready);
    for (const std::string& name : service_names) health->SetServingStatus(name, ready);
  }
  if (ready) {
    spdlog::info("{} ready: grpc health SERVING", options.service_name);
  } else if (!draining.load()) {
    spdlog::warn("{} not ready: grpc health NOT_SERVING", options.service_name);
  }
}

void ServiceHost::Impl::ReadinessLoop() {
  std::unique_lock<std::mutex> lock(readiness_mu);
  while (!readiness_stop) {
    lock.unlock();
    const std::string failing = FailingChecks();
    PublishServing(failing.empty());
    lock.lock();
    readiness_cv.wait_for(lock, options.readiness_interval, [this] { return readiness_stop; });
  }
}

void ServiceHost::Impl::StopReadinessLoop() {
  {
    std::lock_guard<std::mutex> lock(readiness_mu);
    readiness_stop = true;
  }
  readiness_cv.notify_all();
  if (readiness_thread.joinable() && readiness_thread.get_id() != std::this_thread::get_id()) {
    readiness_thread.join();
  }
}

HttpResponse ServiceHost::Impl::Readyz() {
  HttpResponse r;
  if (draining.load()) {
    r.status = 503;
    r.body = "draining\n";
    return r;
  }
  const std::string failing = FailingChecks();
  PublishServing(failing.empty());
  if (failing.empty()) {
    r.body = "ready\n";
  } else {
    r.status = 503;
    r.body = "not ready: " + failing + "\n";
  }
  return r;
}

void ServiceHost::Impl::RequestStop() {
  std::lock_guard<std::mutex> lock(stop_mu);
  stop_requested = true;
  stop_cv.notify_all();
}

void ServiceHost::Impl::SignalLoop() {
  const sigset_t set = ShutdownSignals();
  while (!signal_thread_stop.load()) {
    timespec timeout{0, 200 * 1000 * 1000};
    const int sig = sigtimedwait(&set, nullptr, &timeout);
    if (sig > 0) {
      spdlog::info("received signal {}, draining", sig);
      RequestStop();
      return;
    }
  }
}

void ServiceHost::Impl::Drain() {
  std::lock_guard<std::mutex> lock(drain_mu);
  if (drained) return;
  drained = true;
  // Stop advertising first so load balancers move traffic away while in-flight calls finish.
  draining.store(true);
  StopReadinessLoop();
  if (server) {
    {
      std::lock_guard<std::mutex> lock(serving_mu);
      serving = false;
      if (auto* health = server->GetHealthCheckService(); health != nullptr) {
        health->SetServingStatus(false);
      }
    }
    spdlog::info("draining gRPC server (up to {} ms)", options.drain_timeout.count());
    server->Shutdown(std::chrono::system_clock::now() + options.drain_timeout);
    server->Wait();
  }
  for (auto it = hooks.rbegin(); it != hooks.rend(); ++it) {
    try {
      (*it)();
    } catch (const std::exception& e) {
      spdlog::error("shutdown hook threw: {}", e.what());
    } catch (...) {
      spdlog::error("shutdown hook threw");
    }
  }
  http.Stop();
  signal_thread_stop.store(true);
  if (signal_thread.joinable() && signal_thread.get_id() != std::this_thread::get_id()) {
    signal_thread.join();
  }
  spdlog::info("{} stopped", options.service_name);
}

ServiceHost::ServiceHost(ServiceHostOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

ServiceHost::~ServiceHost() {
  if (impl_->started) Shutdown();
  impl_->StopReadinessLoop();
  if (impl_->signal_thread.joinable()) {
    impl_->signal_thread_stop.store(true);
    impl_->signal_thread.join();
  }
}

void ServiceHost::AddService(grpc::Service* service) { impl_->services.push_back(service); }

HttpServer& ServiceHost::http() { return impl_->http; }

void ServiceHost::AddReadinessCheck(std::string name, std::function<bool()> check) {
  std::lock_guard<std::mutex> lock(impl_->checks_mu);
  impl_->checks.emplace_back(std::move(name), std::move(check));
}

void ServiceHost::OnShutdown(std::function<void()> hook) {
  impl_->hooks.push_back(std::move(hook));
}

absl::Status ServiceHost::Start() {
  Impl& m = *impl_;
  if (m.started) return absl::FailedPreconditionError("service host already started");

  // Block the shutdown signals before any thread (gRPC's, HTTP's) exists, so all inherit the mask
  // and only the signal thread receives them; no work happens in a signal handler.
  const sigset_t signals = ShutdownSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  m.http.Handle("GET", "/metrics", [](const HttpRequest&) {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics::Registry::Default().RenderText();
    return r;
  });
  m.http.Handle("GET", "/readyz", [&m](const HttpRequest&) { return m.Readyz(); });
  m.http.Handle("GET", "/healthz", [](const HttpRequest&) {
    HttpResponse r;
    r.body = "ok\n";
    return r;
  });
  if (absl::Status s = m.http.Start(); !s.ok()) return s;

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // gRPC's built-in health service has no protobuf descriptors of its own; touching the generated
  // health.proto links them in, so reflection (grpcurl) can describe grpc.health.v1.Health.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::ServerBuilder builder;
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS,
                              m.options.min_pollers);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              m.options.max_pollers);
  builder.AddListeningPort(m.options.grpc_address, grpc::InsecureServerCredentials(), &m.grpc_port);
  for (grpc::Service* s : m.services) builder.RegisterService(s);
  AddCallInterceptors(builder);
  builder.SetOption(std::make_unique<ServiceNamesOption>(&m.service_names));
  m.server = builder.BuildAndStart();
  if (!m.server || m.grpc_port == 0) {
    m.server.reset();
    m.http.Stop();
    return absl::UnavailableError("cannot serve gRPC on " + m.options.grpc_address);
  }
  // Health starts from the checks' first answer (forced: the default service says SERVING), then
  // follows them.
  const bool ready_now = m.FailingChecks().empty();
  m.serving = !ready_now;
  m.PublishServing(ready_now);
  m.readiness_thread = std::thread([&m] { m.ReadinessLoop(); });
  m.signal_thread = std::thread([&m] { m.SignalLoop(); });
  m.started = true;
  spdlog::info("{} serving gRPC on port {}, admin HTTP on port {}", m.options.service_name,
               m.grpc_port, m.http.port());
  return absl::OkStatus();
}

int ServiceHost::grpc_port() const { return impl_->grpc_port; }

int ServiceHost::http_port() const { return impl_->http.port(); }

void ServiceHost::Wait() {
  {
    std::unique_lock<std::mutex> lock(impl_->stop_mu);
    impl_->stop_cv.wait(lock, [this] { return impl_->stop_requested; });
  }
  impl_->Drain();
}

void ServiceHost::Shutdown() {
  impl_->RequestStop();
  impl_->Drain();
}

void AddCallInterceptors(grpc::ServerBuilder& builder) {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<CallInterceptorFactory>());
  builder.experimental().SetInterceptorCreators(std::move(factories));
}

}  // namespace orderly::server
