// orderly-order-core: the OrderService gRPC server, the payment-timeout scheduler and sweep, the
// create-intent recovery pass, and the consumer of payment, inventory and fulfillment events.
#include <spdlog/spdlog.h>

#include <memory>

#include "inventory_client.hpp"
#include "order_core_lib_migrations.hpp"
#include "order_grpc_service.hpp"
#include "order_manager.hpp"
#include "order_timeouts.hpp"
#include "orderly/events/inbox_consumer.hpp"
#include "orderly/events/outbox.hpp"
#include "orderly/runtime/service_runtime.hpp"
#include "pg_marketing_repository.hpp"
#include "pg_order_repository.hpp"

namespace oc = orderly::order_core;

int main(int argc, char** argv) {
  return orderly::runtime::RunService(
      argc, argv, {"order-core", 17051, 9101, "orderly_order"},
      orderly::pg::order_core_lib_migrations(),
      [](orderly::Config& c) {
        c.Define("inventory_target", "127.0.0.1:17052", "inventory gRPC address");
        c.Define("inventory_timeout", "3s", "deadline of inventory calls");
        c.Define("inventory_channels", "2", "gRPC channels to inventory");
        c.Define("sku_cache_ttl", "1s", "reuse GetSkus snapshots this long (0 = never)");
        c.Define("normal_payment_window", "30m", "payment window of NORMAL orders");
        c.Define("flash_sale_payment_window", "5m", "payment window of FLASH_SALE orders");
        c.Define("after_sale_window", "168h", "after-sale allowed this long after completion");
        c.Define("reservation_grace", "5m", "stock reservations outlive the deadline by this");
        c.Define("request_ttl", "5m", "request_id remembered in Redis this long");
        c.Define("request_in_flight", "30s",
                 "a request_id still pending in Redis after this is a leftover: ask the database");
        c.Define("cache_ttl", "10m", "orders cached in Redis this long");
        c.Define("timer_interval", "250ms", "payment-timeout scheduler poll interval");
        c.Define("sweep_interval", "30s", "overdue-order sweep interval");
        c.Define("recovery_interval", "10s", "create-intent recovery interval");
        c.Define("intent_max_age", "60s", "create intents older than this are recovered");
        c.Define("consumer_enabled", "true", "consume payment, inventory and fulfillment events");
        c.Define("consumer_name", "order-core", "inbox consumer name and Kafka group id");
        c.Define("payment_topic", orderly::events::kPaymentTopic, "topic of payment events");
        c.Define("inventory_topic", orderly::events::kInventoryTopic,
                 "topic of inventory events (StockConfirmRefused)");
        c.Define("fulfillment_topic", orderly::events::kFulfillmentTopic,
                 "topic of fulfillment events");
        c.Define("order_topic", orderly::events::kOrderTopic,
                 "topic order events are published to");
        c.Define("timeouts_enabled", "true", "run the timeout scheduler, sweep and recovery");
      },
      [](orderly::runtime::ServiceRuntime& rt) -> absl::Status {
        const auto& c = rt.config();
        oc::GrpcInventoryClientOptions io;
        io.target = c.Get("inventory_target");
        io.timeout = c.GetDuration("inventory_timeout");
        io.channels = static_cast<int>(c.GetInt("inventory_channels"));
        io.sku_cache_ttl = c.GetDuration("sku_cache_ttl");
        auto& inventory = rt.Own(oc::MakeGrpcInventoryClient(io));

        oc::OrderManagerOptions mo;
        mo.flows.normal_payment_window = c.GetDuration("normal_payment_window");
        mo.flows.flash_sale_payment_window = c.GetDuration("flash_sale_payment_window");
        mo.flows.after_sale_window = c.GetDuration("after_sale_window");
        mo.reservation_grace = c.GetDuration("reservation_grace");
        mo.request_ttl = c.GetDuration("request_ttl");
        mo.request_in_flight = c.GetDuration("request_in_flight");
        mo.cache_ttl = c.GetDuration("cache_ttl");
        const std::string order_topic = c.Get("order_topic");
        auto& manager = rt.Own(std::make_unique<oc::OrderManager>(
            std::make_unique<oc::PgOrderRepository>(rt.pool(), order_topic),
            std::make_unique<oc::PgMarketingRepository>(rt.pool(), std::chrono::seconds(5)),
            &rt.redis(), inventory, orderly::SystemClock::Shared(),
            static_cast<uint32_t>(c.GetInt("worker_id")), mo));
        rt.host().AddService(&rt.Own(std::make_unique<oc::OrderGrpcService>(manager)));

        if (c.GetBool("timeouts_enabled")) {
          oc::TimeoutWorkerOptions to;
          to.scheduler_interval = c.GetDuration("timer_interval");
          to.sweep_interval = c.GetDuration("sweep_interval");
          to.recovery_interval = c.GetDuration("recovery_interval");
          to.intent_max_age = c.GetDuration("intent_max_age");
          auto& timeouts = rt.Own(std::make_unique<oc::TimeoutWorker>(manager, to));
          timeouts.Start();
          rt.host().OnShutdown([&timeouts] { timeouts.Stop(); });
        }
        if (c.GetBool("consumer_enabled")) {
          auto handle = [order_topic, &manager](pqxx::transaction_base& tx,
                                                const orderly::events::v1::EventEnvelope& e) {
            // The inbox's transaction: its dedupe row commits with the handler's writes.
            oc::PgOrderTx order_tx(tx, order_topic);
            // Post-commit work (cache fences) is skipped here: fences only protect readers
            // from older copies, and event-driven writes bump the version the cache checks.
            oc::AfterCommit after;
            return manager.HandleEvent(order_tx, e, &after);
          };
          orderly::events::ConsumerOptions co;
          co.name = c.Get("consumer_name");
          for (const char* topic : {"payment_topic", "fulfillment_topic"}) {
            if (!c.Get(topic).empty()) co.topics.push_back(c.Get(topic));  // '' = not consumed
          }
          co.event_types = {
              "orderly.events.v1.PaymentSucceeded", "orderly.events.v1.FulfillmentAccepted",
              "orderly.events.v1.ShipmentShipped", "orderly.events.v1.ShipmentDelivered"};
          co.brokers = rt.brokers();
          rt.AddConsumer(co, handle);
          // The inventory topic carries a few events per order and only the refusal concerns
          // orders. A consumer of its own: in the same subscription as the payment topic, its idle
          // partitions slowed PaymentSucceeded (bench payment-notify: all 1,000 of a burst PAID
          // after 26-33 s instead of 4 s; p99 at 50/s 230 ms instead of 110 ms).
          if (!c.Get("inventory_topic").empty()) {
            orderly::events::ConsumerOptions stock;
            stock.name = c.Get("consumer_name") + "-stock";
            stock.topics = {c.Get("inventory_topic")};
            stock.event_types = {"orderly.events.v1.StockConfirmRefused"};
            stock.brokers = rt.brokers();
            rt.AddConsumer(stock, handle);
          }
        }
        return absl::OkStatus();
      });
}
