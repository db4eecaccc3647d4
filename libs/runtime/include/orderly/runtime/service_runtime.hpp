#pragma once
// The wiring every Orderly service binary shares: standard options (flags / ORDERLY_* env),
// JSON logging, the PostgreSQL pool with migrations applied under an advisory lock, Redis, the
// outbox relay, the gRPC + HTTP host, and orderly shutdown. A service's main() declares its own
// options, creates the runtime, registers its gRPC services and workers, and calls Run().
//
// Standard options (name: env var, default):
//   grpc_host ORDERLY_GRPC_HOST 127.0.0.1 · grpc_port ORDERLY_GRPC_PORT <per service>
//   http_port ORDERLY_HTTP_PORT <per service> · log_level ORDERLY_LOG_LEVEL info
//   pg_host/pg_port/pg_user ORDERLY_PG_* 127.0.0.1/15432/orderly · pg_database <per service>
//   pg_pool_size 16 · redis_host/redis_port ORDERLY_REDIS_* 127.0.0.1/16379
//   kafka_brokers ORDERLY_KAFKA_BROKERS 127.0.0.1:19092 · worker_id 0 · drain_timeout 10s
//   relay_enabled true
#include <absl/status/statusor.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "orderly/core/config.hpp"
#include "orderly/core/periodic_task.hpp"
#include "orderly/events/inbox_consumer.hpp"
#include "orderly/events/relay.hpp"
#include "orderly/pg/migrations.hpp"
#include "orderly/pg/pool.hpp"
#include "orderly/redis/client.hpp"
#include "orderly/server/service_host.hpp"

namespace orderly::runtime {

struct ServiceDefaults {
  std::string name;      // "inventory"
  int grpc_port;         // 17052
  int http_port;         // 9102
  std::string database;  // "orderly_inventory"
};

void DefineStandardOptions(Config& config, const ServiceDefaults& defaults);
std::string PgDsnFromConfig(const Config& config);

class ServiceRuntime {
 public:
  // Connects to PostgreSQL (applying `migrations` plus the event tables), Redis and builds the
  // host. Fails fast with a clear status when a dependency is unreachable.
  static absl::StatusOr<std::unique_ptr<ServiceRuntime>> Create(
      const Config& config, const ServiceDefaults& defaults,
      const std::vector<pg::Migration>& migrations);
  ~ServiceRuntime();

  pg::Pool& pool() { return *pool_; }
  redis::Client& redis() { return *redis_; }
  server::ServiceHost& host() { return *host_; }
  const Config& config() const { return config_; }
  const std::string& brokers() const { return brokers_; }

  // Registers an event consumer (inbox dedupe, stale skip, DLQ) that starts with the service and
  // stops at drain. options.brokers defaults to kafka_brokers. Operators replay its dead letters
  // with POST /admin/dlq/replay?consumer=<name> on the HTTP port (scripts/dlq-replay).
  events::InboxConsumer& AddConsumer(events::ConsumerOptions options, events::EventHandler handler);

  // Keeps a service's object (repository, manager, gRPC service, ...) alive for the runtime's
  // life and returns it: objects are destroyed in reverse order of Own, after the host drained,
  // consumers and tasks stopped, and before the pool and Redis go. No static globals in mains.
  template <typename T>
  T& Own(std::unique_ptr<T> object) {
    T& ref = *object;
    owned_.emplace_back(std::move(object));
    return ref;
  }

  // A background task (libs/core PeriodicTask) that starts with the service and stops at drain.
  PeriodicTask& AddPeriodicTask(std::string name, PeriodicTaskOptions options, PeriodicTask::Fn fn);

  // Starts the process: the outbox relay (unless relay_enabled=false), the host, and blocks until
  // SIGTERM/SIGINT; then drains and runs shutdown hooks. Returns the process exit code.
  int Run();

 private:
  ServiceRuntime(const Config& config, ServiceDefaults defaults);
  Config config_;
  ServiceDefaults defaults_;
  std::string brokers_;
  pg::PoolPtr pool_;
  redis::ClientPtr redis_;
  std::unique_ptr<server::ServiceHost> host_;
  events::OutboxRelayPtr relay_;
  std::vector<events::InboxConsumerPtr> consumers_;
  std::vector<PeriodicTask*> tasks_;
  std::vector<std::shared_ptr<void>> owned_;  // Own(): released last first in ~ServiceRuntime
};

// Standard main() body for a service: parse config, create the runtime, let `setup` register
// services and workers (returning an error aborts start-up), run.
int RunService(int argc, char** argv, const ServiceDefaults& defaults,
               const std::vector<pg::Migration>& migrations,
               const std::function<void(Config&)>& define_options,
               const std::function<absl::Status(ServiceRuntime&)>& setup);

}  // namespace orderly::runtime
