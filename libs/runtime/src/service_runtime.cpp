#include "orderly/runtime/service_runtime.hpp"

#include <absl/synchronization/mutex.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "orderly/core/logging.hpp"
#include "orderly/events/outbox.hpp"

namespace orderly::runtime {

void DefineStandardOptions(Config& c, const ServiceDefaults& d) {
  c.Define("grpc_host", "127.0.0.1", "address the gRPC server binds (0.0.0.0 in containers)");
  c.Define("grpc_port", std::to_string(d.grpc_port), "gRPC port");
  c.Define("http_host", "127.0.0.1", "address of the HTTP port (/metrics, /readyz)");
  c.Define("http_port", std::to_string(d.http_port), "HTTP port for /metrics, /readyz, /healthz");
  c.Define("log_level", "info", "trace, debug, info, warn, error");
  c.Define("pg_host", "127.0.0.1", "PostgreSQL host");
  c.Define("pg_port", "15432", "PostgreSQL port");
  c.Define("pg_user", "orderly", "PostgreSQL user");
  c.Define("pg_password", "", "PostgreSQL password (empty: trust / .pgpass)");
  c.Define("pg_database", d.database, "this service's database");
  c.Define("pg_pool_size", "16", "PostgreSQL connections in the pool");
  c.Define("redis_host", "127.0.0.1", "Redis host");
  c.Define("redis_port", "16379", "Redis port");
  c.Define("redis_pool_size", "16", "Redis connections in the pool");
  c.Define("redis_timeout", "200ms", "Redis connect and command timeout");
  c.Define("kafka_brokers", "127.0.0.1:19092", "Kafka bootstrap servers");
  c.Define("worker_id", "0", "0..31, unique per running instance (id generation)");
  c.Define("drain_timeout", "10s", "how long in-flight calls may take at shutdown");
  c.Define("readiness_interval", "1s",
           "how often readiness (PostgreSQL) is checked; grpc.health.v1 follows it");
  c.Define("grpc_min_pollers", "4", "sync gRPC server: threads kept polling for calls");
  c.Define("grpc_max_pollers", "64", "sync gRPC server: most threads polling for calls");
  c.Define("relay_enabled", "true", "run the outbox relay in this process");
  c.Define("max_event_bytes", std::to_string(events::kDefaultMaxEventBytes),
           "largest event the outbox accepts (key + value + headers); keep it under the Kafka "
           "producer's message.max.bytes (1000000)");
}

std::string PgDsnFromConfig(const Config& c) {
  std::string dsn = "host=" + c.Get("pg_host") + " port=" + c.Get("pg_port") +
                    " user=" + c.Get("pg_user") + " dbname=" + c.Get("pg_database") +
                    " application_name=orderly";
  if (!c.Get("pg_password").empty()) dsn += " password=" + c.Get("pg_password");
  return dsn;
}

ServiceRuntime::ServiceRuntime(const Config& config, ServiceDefaults defaults)
    : config_(config), defaults_(std::move(defaults)) {}

ServiceRuntime::~ServiceRuntime() {
  // Everything that calls into the service's objects goes first (all stopped at drain already),
  // then the objects, last owned first; the pool and Redis after them (members).
  for (PeriodicTask* t : tasks_) t->Stop();
  consumers_.clear();
  relay_.reset();
  host_.reset();
  while (!owned_.empty()) owned_.pop_back();
}

PeriodicTask& ServiceRuntime::AddPeriodicTask(std::string name, PeriodicTaskOptions options,
                                              PeriodicTask::Fn fn) {
  PeriodicTask& task = Own(std::make_unique<PeriodicTask>(std::move(name), options, std::move(fn)));
  tasks_.push_back(&task);
  host_->OnShutdown([&task] { task.Stop(); });
  task.Start();
  return task;
}

absl::StatusOr<std::unique_ptr<ServiceRuntime>> ServiceRuntime::Create(
    const Config& config, const ServiceDefaults& defaults,
    const std::vector<pg::Migration>& migrations) {
  std::unique_ptr<ServiceRuntime> rt(new ServiceRuntime(config, defaults));
  events::SetSource(defaults.name);
  events::SetMaxEventBytes(static_cast<size_t>(config.GetInt("max_event_bytes")));
  rt->brokers_ = config.Get("kafka_brokers");

  pg::PoolOptions po;
  po.dsn = PgDsnFromConfig(config);
  po.size = static_cast<int>(config.GetInt("pg_pool_size"));
  auto pool = pg::Pool::Create(po);
  if (!pool.ok()) return pool.status();
  rt->pool_ = std::move(*pool);
  if (auto s = pg::ApplyMigrations(*rt->pool_, defaults.name, events::WithEventSchema(migrations));
      !s.ok()) {
    return s;
  }

  redis::ClientOptions ro;
  ro.host = config.Get("redis_host");
  ro.port = static_cast<int>(config.GetInt("redis_port"));
  ro.pool_size = static_cast<int>(config.GetInt("redis_pool_size"));
  ro.connect_timeout = ro.command_timeout = config.GetDuration("redis_timeout");
  ro.key_prefix = "orderly:" + defaults.name + ":";
  auto redis = redis::Client::Create(ro);
  if (!redis.ok()) return redis.status();
  rt->redis_ = std::move(*redis);

  server::ServiceHostOptions ho;
  ho.service_name = defaults.name;
  ho.grpc_address = config.Get("grpc_host") + ":" + config.Get("grpc_port");
  ho.http_host = config.Get("http_host");
  ho.http_port = static_cast<int>(config.GetInt("http_port"));
  ho.drain_timeout = config.GetDuration("drain_timeout");
  ho.readiness_interval = config.GetDuration("readiness_interval");
  ho.min_pollers = static_cast<int>(config.GetInt("grpc_min_pollers"));
  ho.max_pollers = static_cast<int>(config.GetInt("grpc_max_pollers"));
  rt->host_ = std::make_unique<server::ServiceHost>(ho);

  pg::Pool* pool_ptr = rt->pool_.get();
  rt->host_->AddReadinessCheck("postgres", [pool_ptr] {
    return pool_ptr
        ->InTransaction([](pqxx::transaction_base& tx) {
          tx.exec("SELECT 1");
          return absl::OkStatus();
        })
        .ok();
  });
  events::RegisterOutboxMetrics(*rt->pool_, defaults.name);
  return rt;
}

events::InboxConsumer& ServiceRuntime::AddConsumer(events::ConsumerOptions options,
                                                   events::EventHandler handler) {
  if (options.brokers.empty()) options.brokers = brokers_;
  consumers_.push_back(
      std::make_unique<events::InboxConsumer>(std::move(options), *pool_, std::move(handler)));
  return *consumers_.back();
}

namespace {

std::string QueryParam(const std::string& query, const std::string& name) {
  auto form = server::ParseForm(query);
  auto it = form.find(name);
  return it == form.end() ? "" : it->second;
}

server::HttpResponse Json(int status, const nlohmann::json& body) {
  server::HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return r;
}

}  // namespace

int ServiceRuntime::Run() {
  // Operator endpoints on the HTTP port (loopback by default; the access layer guards them in
  // deployments).
  host_->http().Handle("POST", "/admin/dlq/replay", [this](const server::HttpRequest& req) {
    const std::string name = QueryParam(req.query, "consumer");
    for (auto& c : consumers_) {
      if (!name.empty() && c->name() != name) continue;
      auto n = c->ReplayDeadLetters(std::chrono::seconds(30));
      if (!n.ok()) {
        return Json(500, {{"consumer", c->name()}, {"error", n.status().ToString()}});
      }
      return Json(200, {{"consumer", c->name()}, {"replayed", *n}});
    }
    return Json(404, {{"error", "no consumer named '" + name + "'"}});
  });
  host_->http().Handle("POST", "/admin/outbox/unpark", [this](const server::HttpRequest& req) {
    auto n = events::UnparkOutbox(*pool_, QueryParam(req.query, "aggregate_id"));
    if (!n.ok()) return Json(500, {{"error", n.status().ToString()}});
    return Json(200, {{"unparked", *n}});
  });
  for (auto& c : consumers_) {
    if (auto s = c->Start(); !s.ok()) {
      spdlog::critical("{}: consumer {} cannot start: {}", defaults_.name, c->name(), s.ToString());
      return 1;
    }
    events::InboxConsumer* raw = c.get();
    host_->OnShutdown([raw] { raw->Stop(); });
  }

  if (config_.GetBool("relay_enabled")) {
    events::RelayOptions ro;
    ro.service = defaults_.name;
    ro.dsn = PgDsnFromConfig(config_);
    ro.producer.brokers = brokers_;
    ro.producer.client_id = "orderly-" + defaults_.name + "-relay";
    relay_ = std::make_unique<events::OutboxRelay>(ro);
    relay_->Start();
    host_->OnShutdown([this] { relay_->Stop(); });
  }
  if (auto s = host_->Start(); !s.ok()) {
    spdlog::critical("{}: cannot start: {}", defaults_.name, s.ToString());
    return 1;
  }
  host_->Wait();
  return 0;
}

int RunService(int argc, char** argv, const ServiceDefaults& defaults,
               const std::vector<pg::Migration>& migrations,
               const std::function<void(Config&)>& define_options,
               const std::function<absl::Status(ServiceRuntime&)>& setup) {
  // The host takes SIGTERM/SIGINT with sigwait; block them before any thread (pools, relays,
  // consumers started by setup) exists, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // Debian builds Abseil with absl::Mutex deadlock detection on; gRPC would pay for it on every
  // lock (a global cycle graph). Services are release binaries: off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  Config config("orderly-" + defaults.name);
  DefineStandardOptions(config, defaults);
  if (define_options) define_options(config);
  if (auto s = config.Parse(argc, argv); !s.ok()) {
    if (s.code() == absl::StatusCode::kCancelled) return 0;  // --help
    std::cerr << s.message() << "\n" << config.Usage();
    return 2;
  }
  log::Init(defaults.name, config.Get("log_level"));
  auto rt = ServiceRuntime::Create(config, defaults, migrations);
  if (!rt.ok()) {
    spdlog::critical("{}: start-up failed: {}", defaults.name, rt.status().ToString());
    return 1;
  }
  if (setup) {
    if (auto s = setup(**rt); !s.ok()) {
      spdlog::critical("{}: set-up failed: {}", defaults.name, s.ToString());
      return 1;
    }
  }
  return (*rt)->Run();
}

}  // namespace orderly::runtime
