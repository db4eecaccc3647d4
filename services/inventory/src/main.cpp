// orderly-inventory: the InventoryService gRPC server, its expiry sweeper, the flash-sale drain
// and reconciliation, and the order-event consumer. Wiring only; the rules live in the managers.
#include <spdlog/spdlog.h>

#include <memory>

#include "catalog_manager.hpp"
#include "flash_sale_manager.hpp"
#include "flash_sale_store.hpp"
#include "inventory_grpc_service.hpp"
#include "inventory_lib_migrations.hpp"
#include "order_event_handler.hpp"
#include "orderly/core/periodic_task.hpp"
#include "orderly/events/inbox_consumer.hpp"
#include "orderly/events/outbox.hpp"
#include "orderly/runtime/service_runtime.hpp"
#include "pg_stock_repository.hpp"
#include "redis_pipeline.hpp"
#include "reservation_manager.hpp"

namespace {

using namespace orderly;
using namespace orderly::inventory;

void DefineOptions(Config& c) {
  c.Define("payment_window", "30m", "reservation hold when Reserve gives no expires_at");
  c.Define("flash_payment_window", "5m", "the same for FLASH_SALE orders");
  c.Define("sweeper_interval", "5s", "how often expired reservations are released");
  c.Define("sweeper_batch", "200", "reservations expired per sweeper transaction");
  c.Define("flash_interval", "1s", "how often the flash-sale drain and reconciliation run");
  c.Define("flash_drain_age", "5s", "grants older than this without a reservation are drained");
  c.Define("redis_breaker", "500ms",
           "after a Redis failure, flash sales use the database this long");
  c.Define("reserve_workers", "16",
           "threads running Reserve's database work (gRPC callback); 0 = pg_pool_size");
  c.Define("consumer_enabled", "true", "consume order events (OrderPaid, OrderCancelled)");
  c.Define("consumer_name", "inventory", "order-event consumer name and Kafka group id");
  c.Define("order_topic", events::kOrderTopic, "topic of order events");
  c.Define("inventory_topic", events::kInventoryTopic, "topic inventory's own events go to");
}

}  // namespace

int main(int argc, char** argv) {
  return runtime::RunService(
      argc, argv, {"inventory", 17052, 9102, "orderly_inventory"}, pg::inventory_lib_migrations(),
      DefineOptions, [](runtime::ServiceRuntime& rt) -> absl::Status {
        const Config& c = rt.config();
        ClockPtr clock = SystemClock::Shared();
        ReservationManagerOptions ro;
        ro.windows.normal = c.GetDuration("payment_window");
        ro.windows.flash_sale = c.GetDuration("flash_payment_window");
        ro.redis_breaker_open = c.GetDuration("redis_breaker");

        auto& repo =
            rt.Own(std::make_unique<PgStockRepository>(rt.pool(), clock, c.Get("inventory_topic")));
        // Flash-sale attempts share pipelined round trips on one connection of their own, sent by
        // whichever gRPC thread finds the pipeline idle (no hand-off thread to wake per batch).
        auto& pipeline = rt.Own(std::make_unique<RedisPipeline>(rt.redis().options(), 512,
                                                                /*caller_runs=*/true));
        auto& store = rt.Own(std::make_unique<RedisFlashSaleStore>(rt.redis(), &pipeline));
        auto& reservations = rt.Own(std::make_unique<ReservationManager>(repo, &store, clock, ro));
        auto& catalog = rt.Own(std::make_unique<CatalogManager>(repo));
        auto& flash = rt.Own(std::make_unique<FlashSaleManager>(repo, store, reservations, clock));
        // More workers than this only add contention on 2 cores (24 measured slower than 16).
        int workers = static_cast<int>(c.GetInt("reserve_workers"));
        if (workers <= 0) workers = static_cast<int>(c.GetInt("pg_pool_size"));
        rt.host().AddService(&rt.Own(
            std::make_unique<InventoryGrpcService>(catalog, reservations, &flash, workers)));

        const int batch = static_cast<int>(c.GetInt("sweeper_batch"));
        // The backlog drains in batches, one transaction each, a full batch running the next.
        rt.AddPeriodicTask("expiry sweeper",
                           PeriodicTaskOptions{.interval = c.GetDuration("sweeper_interval")},
                           [&reservations, batch]() -> absl::StatusOr<bool> {
                             auto n = reservations.ExpireDue(batch);
                             if (!n.ok()) return n.status();
                             return *n >= batch;
                           });
        const auto drain_age = c.GetDuration("flash_drain_age");
        rt.AddPeriodicTask("flash sale drain+reconcile",
                           PeriodicTaskOptions{.interval = c.GetDuration("flash_interval")},
                           [&flash, drain_age]() -> absl::StatusOr<bool> {
                             auto drained = flash.DrainPending(drain_age);
                             auto reconciled = flash.ReconcileAll(/*repair=*/true);
                             if (!drained.ok()) return drained.status();
                             if (!reconciled.ok()) return reconciled.status();
                             return false;
                           });

        if (c.GetBool("consumer_enabled")) {
          auto& handler = rt.Own(
              std::make_unique<OrderEventHandler>(reservations, clock, c.Get("inventory_topic")));
          events::ConsumerOptions co;
          co.name = c.Get("consumer_name");
          co.topics = {c.Get("order_topic")};
          co.brokers = rt.brokers();
          rt.AddConsumer(
              co, [&handler](pqxx::transaction_base& tx, const events::v1::EventEnvelope& ev) {
                return handler.Handle(tx, ev);
              });
        }
        return absl::OkStatus();
      });
}
