// orderly-inventory-check: checks the stock invariants of an inventory database (read-only), and
// optionally compares every warm flash sale with Redis. Exit 0 = all hold, 1 = violations,
// 2 = could not check.
//
//   orderly-inventory-check --dsn "host=... dbname=orderly_inventory user=..." [--sku ID]...
//                           [--redis host:port] [--redis-prefix orderly:inventory:]
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "flash_sale_manager.hpp"
#include "orderly/core/clock.hpp"
#include "orderly/pg/pool.hpp"
#include "pg_stock_repository.hpp"

using namespace orderly;
using namespace orderly::inventory;

int main(int argc, char** argv) {
  std::string dsn, redis_addr, redis_prefix = "orderly:inventory:";
  std::vector<std::string> skus;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--dsn")
      dsn = value();
    else if (a == "--sku")
      skus.push_back(value());
    else if (a == "--redis")
      redis_addr = value();
    else if (a == "--redis-prefix")
      redis_prefix = value();
    else {
      std::cerr << "usage: orderly-inventory-check --dsn DSN [--sku ID]... [--redis HOST:PORT]\n";
      return 2;
    }
  }
  if (dsn.empty()) {
    std::cerr << "--dsn is required\n";
    return 2;
  }
  auto pool = pg::Pool::Create({.dsn = dsn, .size = 2});
  if (!pool.ok()) {
    std::cerr << "cannot connect: " << pool.status() << "\n";
    return 2;
  }
  PgStockRepository repo(**pool, SystemClock::Shared());
  auto report = repo.CheckInvariants(skus);
  if (!report.ok()) {
    std::cerr << "check failed: " << report.status() << "\n";
    return 2;
  }
  int violations = 0;
  for (const auto& v : report->violations) {
    std::cout << "VIOLATION sku=" << v.sku_id << " invariant=" << v.invariant << " " << v.detail
              << "\n";
    ++violations;
  }
  if (!redis_addr.empty()) {
    redis::ClientOptions ro;
    const auto colon = redis_addr.rfind(':');
    ro.host = redis_addr.substr(0, colon);
    ro.port = colon == std::string::npos ? 6379 : std::atoi(redis_addr.substr(colon + 1).c_str());
    ro.key_prefix = redis_prefix;
    auto client = redis::Client::Create(ro);
    if (!client.ok()) {
      std::cerr << "cannot reach Redis: " << client.status() << "\n";
      return 2;
    }
    RedisFlashSaleStore store(**client);
    ReservationManager reservations(repo, &store, SystemClock::Shared());
    FlashSaleManager flash(repo, store, reservations, SystemClock::Shared());
    auto flash_reports = flash.ReconcileAll(/*repair=*/false);
    if (!flash_reports.ok()) {
      std::cerr << "flash-sale comparison failed: " << flash_reports.status() << "\n";
      return 2;
    }
    for (const auto& r : *flash_reports) {
      if (r.redis.skipped || r.drift() == 0) continue;
      std::cout << "VIOLATION sku=" << r.sku_id << " invariant=redis_matches_db redis counter "
                << r.redis.counter_before << " but pool " << r.pool_available << " - pending "
                << r.redis.pending << " = " << r.redis.expected << "\n";
      ++violations;
    }
  }
  std::cout << (violations == 0 ? "OK" : "FAILED") << ": " << report->checked_sku_count
            << " SKUs checked, " << violations << " violations\n";
  return violations == 0 ? 0 : 1;
}
