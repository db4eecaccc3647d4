// CreateOrder through gRPC against running orderly-order-core and orderly-inventory:
//   seed     10,000 SKUs with stock in inventory (admin RPCs)
//   max      closed loop: CONCURRENCY clients create orders (1-5 random SKUs) as fast as they can
//   rate     open loop at a fixed rate (default 500/s): latency measured from each request's
//            scheduled start, so a slow server cannot hide queueing (no coordinated omission)
//   dupes    every 10th order is submitted twice at once (a double click); both answers must name
//            the same order
//   check    inventory stock == what the successful orders reserved (oversold), CheckInvariants
// Prints key=value lines; run.sh turns them into the report and the JSON line.
#include <absl/flags/flag.h>
#include <absl/flags/parse.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "orderly/core/ids.hpp"
#include "orderly/inventory/v1/inventory_service.grpc.pb.h"
#include "orderly/order/v1/order_service.grpc.pb.h"

ABSL_FLAG(std::string, order_target, "127.0.0.1:17051", "order-core gRPC");
ABSL_FLAG(std::string, inventory_target, "127.0.0.1:17052", "inventory gRPC");
ABSL_FLAG(int, skus, 10000, "SKUs to seed");
ABSL_FLAG(int64_t, stock, 1000000, "stock per SKU");
ABSL_FLAG(bool, seed, true, "seed the SKUs first");
ABSL_FLAG(int, concurrency, 64, "clients in the closed-loop phase");
ABSL_FLAG(int, max_seconds, 15, "closed-loop phase length");
ABSL_FLAG(int, rate, 500, "orders/s in the open-loop phase");
ABSL_FLAG(int, rate_seconds, 15, "open-loop phase length");
ABSL_FLAG(int, low_rate, 0, "orders/s of an extra open-loop phase below capacity (0 = none)");
ABSL_FLAG(int, channels, 8, "gRPC channels to order-core");
ABSL_FLAG(std::string, run_id, "", "unique run id (buyer ids)");

namespace ov1 = orderly::order::v1;
namespace iv1 = orderly::inventory::v1;
using Clock = std::chrono::steady_clock;

namespace {

struct Stubs {
  std::vector<std::unique_ptr<ov1::OrderService::Stub>> orders;
  std::unique_ptr<iv1::InventoryService::Stub> inventory;
  std::atomic<uint64_t> next{0};
  ov1::OrderService::Stub& Order() { return *orders[next++ % orders.size()]; }
};

void Identity(grpc::ClientContext* cc, const std::string& id, const std::string& role) {
  cc->AddMetadata("x-user-id", id);
  cc->AddMetadata("x-user-role", role);
  cc->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
}

std::string SkuId(int i) { return "bench-sku-" + std::to_string(i); }

struct Result {
  bool ok = false;
  double latency_ms = 0;
  std::string order_id;
  std::string error;
};

struct Totals {
  std::mutex mu;
  std::map<std::string, int64_t> ordered;  // sku -> units in successful, distinct orders
  std::set<std::string> orders;
  std::map<std::string, int> errors;
  int64_t duplicate_pairs = 0, duplicate_mismatch = 0;
  void Record(const ov1::CreateOrderRequest& req, const Result& r) {
    std::lock_guard<std::mutex> lock(mu);
    if (!r.ok) {
      ++errors[r.error];
      return;
    }
    if (orders.insert(r.order_id).second) {
      for (const auto& it : req.items()) ordered[it.sku_id()] += it.quantity();
    }
  }
};

class Workload {
 public:
  Workload(Stubs& stubs, Totals& totals, std::string run)
      : stubs_(stubs), totals_(totals), run_(run) {}

  ov1::CreateOrderRequest NewRequest(std::mt19937_64& rng, int client) {
    ov1::CreateOrderRequest r;
    const std::string buyer =
        "bench-" + run_ + "-" + std::to_string(client) + "-" + std::to_string(rng() % 1000);
    ov1::GenerateOrderIdRequest gr;
    gr.set_buyer_id(buyer);
    ov1::GenerateOrderIdResponse gresp;
    grpc::ClientContext cc;
    Identity(&cc, buyer, "buyer");
    if (stubs_.Order().GenerateOrderId(&cc, gr, &gresp).ok()) r.set_order_id(gresp.order_id());
    r.set_buyer_id(buyer);
    r.set_request_id(orderly::NewUuidV7());
    const int lines = 1 + static_cast<int>(rng() % 5);
    std::set<int> picked;
    while (static_cast<int>(picked.size()) < lines) {
      picked.insert(static_cast<int>(rng() % absl::GetFlag(FLAGS_skus)));
    }
    for (int s : picked) {
      auto* it = r.add_items();
      it->set_sku_id(SkuId(s));
      it->set_quantity(1 + static_cast<int>(rng() % 3));
    }
    auto* a = r.mutable_shipping_address();
    a->set_receiver_name("Bench Buyer");
    a->set_phone("+8613800000000");
    a->set_country_code("CN");
    a->set_city("Hangzhou");
    a->set_detail("1 Benchmark Road");
    return r;
  }

  Result Create(const ov1::CreateOrderRequest& r, Clock::time_point start) {
    ov1::CreateOrderResponse resp;
    grpc::ClientContext cc;
    Identity(&cc, r.buyer_id(), "buyer");
    grpc::Status s = stubs_.Order().CreateOrder(&cc, r, &resp);
    Result out;
    out.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    out.ok = s.ok();
    if (s.ok()) {
      out.order_id = resp.order().order_id();
    } else {
      out.error = std::to_string(s.error_code()) + " " + s.error_message().substr(0, 80);
    }
    return out;
  }

  // Every 10th order is a double click: the same request twice at once.
  Result CreateMaybeTwice(const ov1::CreateOrderRequest& r, Clock::time_point start, uint64_t n) {
    if (n % 10 != 0) {
      Result res = Create(r, start);
      totals_.Record(r, res);
      return res;
    }
    Result other;
    std::thread twin([&] { other = Create(r, Clock::now()); });
    Result res = Create(r, start);
    twin.join();
    totals_.Record(r, res);
    totals_.Record(r, other);
    std::lock_guard<std::mutex> lock(totals_.mu);
    ++totals_.duplicate_pairs;
    if (res.ok && other.ok && res.order_id != other.order_id) ++totals_.duplicate_mismatch;
    return res;
  }

 private:
  Stubs& stubs_;
  Totals& totals_;
  std::string run_;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

bool Seed(Stubs& stubs) {
  const int n = absl::GetFlag(FLAGS_skus);
  std::atomic<int> next{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < n; i = next++) {
        iv1::UpsertSkuRequest up;
        auto* sku = up.mutable_sku();
        sku->set_sku_id(SkuId(i));
        sku->set_product_id("bench-p-" + std::to_string(i / 4));
        sku->set_product_name("Bench product " + std::to_string(i));
        (*sku->mutable_specs())["size"] = std::to_string(i % 4);
        sku->mutable_list_price()->set_amount_minor(100 + (i * 37) % 50000);
        sku->mutable_list_price()->set_currency_code("CNY");
        sku->set_sale_status(iv1::SKU_SALE_STATUS_ON_SALE);
        sku->set_merchant_id("bench-m" + std::to_string(i % 20));
        sku->set_warehouse_id("w" + std::to_string(i % 3));
        sku->set_stock_buckets(1);
        up.set_request_id("seed-" + SkuId(i));
        iv1::UpsertSkuResponse ur;
        grpc::ClientContext c1;
        Identity(&c1, "bench-admin", "admin");
        if (!stubs.inventory->UpsertSku(&c1, up, &ur).ok()) {
          ++failed;
          continue;
        }
        iv1::ReceiveStockRequest rs;
        rs.set_sku_id(SkuId(i));
        rs.set_quantity(absl::GetFlag(FLAGS_stock));
        rs.set_request_id("seed-stock-" + SkuId(i));
        iv1::ReceiveStockResponse rr;
        grpc::ClientContext c2;
        Identity(&c2, "bench-admin", "admin");
        if (!stubs.inventory->ReceiveStock(&c2, rs, &rr).ok()) ++failed;
      }
    });
  }
  for (auto& t : threads) t.join();
  return failed.load() == 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::string run = absl::GetFlag(FLAGS_run_id);
  if (run.empty()) run = std::to_string(std::time(nullptr));
  Stubs stubs;
  for (int i = 0; i < absl::GetFlag(FLAGS_channels); ++i) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.channel_id", i);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stubs.orders.push_back(ov1::OrderService::NewStub(grpc::CreateCustomChannel(
        absl::GetFlag(FLAGS_order_target), grpc::InsecureChannelCredentials(), args)));
  }
  stubs.inventory = iv1::InventoryService::NewStub(grpc::CreateChannel(
      absl::GetFlag(FLAGS_inventory_target), grpc::InsecureChannelCredentials()));
  if (absl::GetFlag(FLAGS_seed)) {
    auto t0 = Clock::now();
    if (!Seed(stubs)) {
      std::fprintf(stderr, "seeding failed\n");
      return 1;
    }
    std::printf("seed_seconds=%.1f\n", std::chrono::duration<double>(Clock::now() - t0).count());
    std::fflush(stdout);
  }
  Totals totals;
  Workload work(stubs, totals, run);

  // Warm-up (connections, caches, plans).
  {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 50; ++i) {
      auto r = work.NewRequest(rng, 9999);
      totals.Record(r, work.Create(r, Clock::now()));
    }
  }

  // Phase 1: closed loop, maximum throughput.
  std::vector<double> max_lat;
  std::mutex lat_mu;
  std::atomic<int64_t> max_ok{0}, max_err{0};
  {
    const int clients = absl::GetFlag(FLAGS_concurrency);
    const auto end = Clock::now() + std::chrono::seconds(absl::GetFlag(FLAGS_max_seconds));
    std::atomic<uint64_t> seq{1};
    std::vector<std::thread> threads;
    const auto t0 = Clock::now();
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        std::mt19937_64 rng(c * 7919 + 1);
        std::vector<double> local;
        while (Clock::now() < end) {
          auto req = work.NewRequest(rng, c);
          auto res = work.CreateMaybeTwice(req, Clock::now(), seq++);
          if (res.ok) {
            ++max_ok;
            local.push_back(res.latency_ms);
          } else {
            ++max_err;
          }
        }
        std::lock_guard<std::mutex> lock(lat_mu);
        max_lat.insert(max_lat.end(), local.begin(), local.end());
      });
    }
    for (auto& t : threads) t.join();
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("max_clients=%d\nmax_seconds=%.1f\nmax_ok=%lld\nmax_errors=%lld\n", clients, secs,
                static_cast<long long>(max_ok.load()), static_cast<long long>(max_err.load()));
    std::printf("orders_per_s=%.1f\nmax_p50_ms=%.2f\nmax_p99_ms=%.2f\n", max_ok.load() / secs,
                Percentile(max_lat, 0.5), Percentile(max_lat, 0.99));
    std::fflush(stdout);
  }

  // Phase 2: open loop at fixed rates: the target rate, and optionally a lower one the system can
  // sustain, so latency without queueing is measured too (keys p50_ms_at_<label>).
  auto open_loop = [&](int rate, int seconds, const char* label) {
    if (rate <= 0 || seconds <= 0) return;
    const int64_t total = static_cast<int64_t>(rate) * seconds;
    const auto interval = std::chrono::nanoseconds(1'000'000'000LL / rate);
    const auto t0 = Clock::now() + std::chrono::milliseconds(200);
    std::atomic<int64_t> next{0}, ok{0}, err{0};
    std::vector<double> lat;
    std::vector<std::thread> threads;
    // Enough workers that a request never waits for a free one at the target rate.
    const int workers = std::max(32, rate / 10);
    for (int w = 0; w < workers; ++w) {
      threads.emplace_back([&, w] {
        std::mt19937_64 rng(w * 104729 + 3 + rate);
        std::vector<double> local;
        for (int64_t i = next++; i < total; i = next++) {
          // Ids are fetched first (the page does that before the buyer submits).
          auto req = work.NewRequest(rng, 100000 + rate * 1000 + w);
          const auto scheduled = t0 + interval * i;
          std::this_thread::sleep_until(scheduled);
          auto res = work.CreateMaybeTwice(req, scheduled, static_cast<uint64_t>(i) + 1);
          if (res.ok) {
            ++ok;
            local.push_back(res.latency_ms);
          } else {
            ++err;
          }
        }
        std::lock_guard<std::mutex> lock(lat_mu);
        lat.insert(lat.end(), local.begin(), local.end());
      });
    }
    for (auto& t : threads) t.join();
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("rate_%s_target=%d\nrate_%s_achieved=%.1f\nrate_%s_errors=%lld\n", label, rate,
                label, ok.load() / secs, label, static_cast<long long>(err.load()));
    std::printf("p50_ms_at_%s=%.2f\np99_ms_at_%s=%.2f\n", label, Percentile(lat, 0.5), label,
                Percentile(lat, 0.99));
    std::fflush(stdout);
  };
  open_loop(absl::GetFlag(FLAGS_low_rate), absl::GetFlag(FLAGS_rate_seconds), "low");
  open_loop(absl::GetFlag(FLAGS_rate), absl::GetFlag(FLAGS_rate_seconds), "500");

  // Check: what inventory holds equals what the distinct successful orders took.
  int64_t oversold = 0;
  {
    std::map<std::string, int64_t> held;
    const int n = absl::GetFlag(FLAGS_skus);
    for (int start = 0; start < n; start += 200) {
      iv1::GetStockRequest req;
      for (int i = start; i < std::min(n, start + 200); ++i) req.add_sku_ids(SkuId(i));
      iv1::GetStockResponse resp;
      grpc::ClientContext cc;
      Identity(&cc, "bench-admin", "admin");
      grpc::Status s = stubs.inventory->GetStock(&cc, req, &resp);
      if (!s.ok()) {
        std::fprintf(stderr, "GetStock: %s\n", s.error_message().c_str());
        return 1;
      }
      for (const auto& st : resp.stocks()) {
        held[st.sku_id()] = st.reserved() + st.sold();
        if (st.available() < 0) ++oversold;
        if (st.available() + st.reserved() + st.sold() != st.total_received()) ++oversold;
      }
    }
    int64_t mismatched = 0;
    for (const auto& [sku, units] : held) {
      auto it = totals.ordered.find(sku);
      const int64_t want = it == totals.ordered.end() ? 0 : it->second;
      if (units != want) ++mismatched;
    }
    iv1::CheckInvariantsRequest ci;
    iv1::CheckInvariantsResponse cr;
    grpc::ClientContext cc;
    Identity(&cc, "bench-admin", "admin");
    if (stubs.inventory->CheckInvariants(&cc, ci, &cr).ok()) oversold += cr.violations_size();
    std::printf("stock_mismatched_skus=%lld\n", static_cast<long long>(mismatched));
    std::printf("oversold=%lld\n", static_cast<long long>(oversold + mismatched));
    std::printf("distinct_orders=%zu\n", totals.orders.size());
    std::printf("duplicate_pairs=%lld\nduplicate_mismatch=%lld\n",
                static_cast<long long>(totals.duplicate_pairs),
                static_cast<long long>(totals.duplicate_mismatch));
    for (const auto& [e, n] : totals.errors) std::printf("error %d x %s\n", n, e.c_str());
  }
  return 0;
}
