#pragma once
// Shared set-up of the inventory integration tests: a temporary database with the service's
// migrations, the repository and managers on a ManualClock, SKU helpers, and the invariant check
// every test ends with.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "catalog_manager.hpp"
#include "flash_sale_manager.hpp"
#include "flash_sale_store.hpp"
#include "inventory_lib_migrations.hpp"
#include "orderly/core/status.hpp"
#include "orderly/events/outbox.hpp"
#include "orderly/pg/migrations.hpp"
#include "orderly/testing/env.hpp"
#include "orderly/testing/status_matchers.hpp"
#include "pg_stock_repository.hpp"
#include "reservation_manager.hpp"

namespace orderly::inventory::testing {

using namespace std::chrono_literals;

class InventoryFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    ORDERLY_ASSERT_OK_AND_ASSIGN(auto db, orderly::testing::CreateTempDatabase("inventory"));
    db_ = std::make_unique<orderly::testing::TempDatabase>(std::move(db));
    pg::PoolOptions po;
    po.dsn = db_->dsn();
    po.size = PoolSize();
    ORDERLY_ASSERT_OK_AND_ASSIGN(pool_, pg::Pool::Create(po));
    ORDERLY_ASSERT_OK(pg::ApplyMigrations(*pool_, "inventory",
                                          events::WithEventSchema(pg::inventory_lib_migrations())));
    clock_ = std::make_shared<ManualClock>(std::chrono::system_clock::now());
    repo_ = std::make_unique<PgStockRepository>(*pool_, clock_);
    catalog_ = std::make_unique<CatalogManager>(*repo_);
    MakeReservations(nullptr);
  }

  void TearDown() override {
    if (!repo_) return;
    // The invariant holds after every test, whatever it did.
    auto report = repo_->CheckInvariants({});
    ASSERT_TRUE(report.ok()) << report.status();
    for (const auto& v : report->violations) {
      ADD_FAILURE() << "invariant " << v.invariant << " broken for " << v.sku_id << ": "
                    << v.detail;
    }
  }

  virtual int PoolSize() { return 16; }

  void MakeReservations(FlashSaleStore* store, ReservationManagerOptions options = {}) {
    reservations_ = std::make_unique<ReservationManager>(*repo_, store, clock_, options);
  }

  SkuRecord Sku(const std::string& id, int buckets = 1) {
    SkuRecord s;
    s.sku_id = id;
    s.product_id = "p-" + id;
    s.product_name = "Product " + id;
    s.specs = {{"colour", "red"}, {"size", "M"}};
    s.price_minor = 1999;
    s.currency_code = "CNY";
    s.merchant_id = "m1";
    s.warehouse_id = "w1";
    s.stock_buckets = buckets;
    return s;
  }

  void AddSku(const SkuRecord& s, int64_t stock) {
    ORDERLY_ASSERT_OK(catalog_->UpsertSku(s));
    if (stock > 0) {
      ORDERLY_ASSERT_OK(catalog_->ReceiveStock(s.sku_id, stock, "init-" + s.sku_id, "initial"));
    }
  }

  StockLevel Level(const std::string& sku) {
    auto l = repo_->GetStock({sku});
    EXPECT_TRUE(l.ok()) << l.status();
    return l.ok() ? l->front() : StockLevel{};
  }

  ReserveCommand Cmd(const std::string& order, std::vector<ReserveItem> items,
                     OrderType type = common::v1::ORDER_TYPE_NORMAL) {
    ReserveCommand c;
    c.order_id = order;
    c.items = std::move(items);
    c.order_type = type;
    return c;
  }

  int64_t Count(const std::string& sql) {
    int64_t n = -1;
    auto s = pool_->InTransaction([&](pqxx::transaction_base& tx) {
      n = tx.exec(sql)[0][0].as<int64_t>();
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return n;
  }

  void Exec(const std::string& sql) {
    ORDERLY_ASSERT_OK(pool_->InTransaction([&](pqxx::transaction_base& tx) {
      tx.exec(sql);
      return absl::OkStatus();
    }));
  }

  // Runs fn(i) on `clients` threads released at once; returns how many returned OK.
  template <typename Fn>
  static int Race(int clients, Fn fn) {
    std::atomic<int> ok{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; ++i) {
      threads.emplace_back([&, i] {
        while (!go.load()) std::this_thread::yield();
        if (fn(i)) ok.fetch_add(1);
      });
    }
    go.store(true);
    for (auto& t : threads) t.join();
    return ok.load();
  }

  std::unique_ptr<orderly::testing::TempDatabase> db_;
  pg::PoolPtr pool_;
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<PgStockRepository> repo_;
  std::unique_ptr<CatalogManager> catalog_;
  std::unique_ptr<ReservationManager> reservations_;
};

}  // namespace orderly::inventory::testing
