// orderly-flash-sale-bench: drives a running orderly-inventory with many concurrent gRPC clients.
//
//   orderly-flash-sale-bench setup --target H:P --sku S --stock N [--flash] [--buckets B]
//   orderly-flash-sale-bench run   --target H:P --sku S --attempts N [--flash]  (defaults: 4 x 64)
//                                  [--channels C] [--inflight I] [--threads T (1)] [--run-id R]
//   orderly-flash-sale-bench check --target H:P --sku S --stock N
//   orderly-flash-sale-bench lua       (prints the Redis reserve script, for redis-benchmark)
//
// `run` keeps `inflight` Reserve calls outstanding on each of `channels` separate HTTP/2
// connections (async API, one completion queue per thread) and prints one JSON line:
// attempts, reserved, refused (sold out), errors, seconds, attempts_per_s.
#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "flash_sale_store.hpp"
#include "orderly/inventory/v1/inventory_service.grpc.pb.h"

namespace {

namespace v1 = orderly::inventory::v1;

std::map<std::string, std::string> ParseFlags(int argc, char** argv, int from) {
  std::map<std::string, std::string> out;
  for (int i = from; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) continue;
    a = a.substr(2);
    auto eq = a.find('=');
    if (eq != std::string::npos) {
      out[a.substr(0, eq)] = a.substr(eq + 1);
    } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
      out[a] = argv[++i];
    } else {
      out[a] = "1";
    }
  }
  return out;
}

std::string Flag(const std::map<std::string, std::string>& f, const std::string& k,
                 const std::string& def) {
  auto it = f.find(k);
  return it == f.end() ? def : it->second;
}

std::shared_ptr<grpc::Channel> Channel(const std::string& target, int index) {
  grpc::ChannelArguments args;
  // A distinct argument per channel: gRPC would otherwise share one connection between them.
  args.SetInt("orderly.bench.channel", index);
  // A buyer's attempt is made once: no retry filter, which buffers every call's metadata and
  // message for a retry that never comes (~8 us of client CPU per call, measured).
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

void AsRole(grpc::ClientContext* ctx, const char* role, const char* id) {
  ctx->AddMetadata("x-user-role", role);
  ctx->AddMetadata("x-user-id", id);
}

int Setup(const std::map<std::string, std::string>& f) {
  auto stub = v1::InventoryService::NewStub(Channel(Flag(f, "target", "127.0.0.1:17052"), 0));
  const std::string sku = Flag(f, "sku", "bench-sku");
  const bool flash = f.count("flash") > 0;
  v1::UpsertSkuRequest up;
  auto* s = up.mutable_sku();
  s->set_sku_id(sku);
  s->set_product_id("bench-product");
  s->set_product_name("Flash sale benchmark phone");
  (*s->mutable_specs())["colour"] = "black";
  s->mutable_list_price()->set_amount_minor(99900);
  s->mutable_list_price()->set_currency_code("CNY");
  s->set_sale_status(v1::SKU_SALE_STATUS_ON_SALE);
  s->set_merchant_id("bench-merchant");
  s->set_warehouse_id("bench-wh");
  s->set_flash_sale(flash);
  s->set_stock_buckets(std::atoi(Flag(f, "buckets", "1").c_str()));
  v1::UpsertSkuResponse up_resp;
  grpc::ClientContext c1;
  AsRole(&c1, "admin", "bench");
  auto st = stub->UpsertSku(&c1, up, &up_resp);
  if (!st.ok()) {
    std::cerr << "UpsertSku: " << st.error_message() << "\n";
    return 1;
  }
  v1::ReceiveStockRequest rs;
  rs.set_sku_id(sku);
  rs.set_quantity(std::atoll(Flag(f, "stock", "1000").c_str()));
  rs.set_request_id("bench-receive-" + sku);
  v1::ReceiveStockResponse rs_resp;
  grpc::ClientContext c2;
  AsRole(&c2, "admin", "bench");
  st = stub->ReceiveStock(&c2, rs, &rs_resp);
  if (!st.ok()) {
    std::cerr << "ReceiveStock: " << st.error_message() << "\n";
    return 1;
  }
  if (flash) {
    v1::WarmFlashSaleRequest w;
    w.set_sku_id(sku);
    v1::WarmFlashSaleResponse w_resp;
    grpc::ClientContext c3;
    AsRole(&c3, "admin", "bench");
    st = stub->WarmFlashSale(&c3, w, &w_resp);
    if (!st.ok()) {
      std::cerr << "WarmFlashSale: " << st.error_message() << "\n";
      return 1;
    }
  }
  return 0;
}

struct Call {
  grpc::ClientContext ctx;
  v1::ReserveResponse resp;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::ReserveResponse>> reader;
  size_t channel = 0;
};

int Run(const std::map<std::string, std::string>& f) {
  const std::string target = Flag(f, "target", "127.0.0.1:17052");
  const std::string sku = Flag(f, "sku", "bench-sku");
  const std::string run_id = Flag(f, "run-id", std::to_string(::getpid()));
  const int64_t attempts = std::atoll(Flag(f, "attempts", "20000").c_str());
  const int channels = std::atoi(Flag(f, "channels", "4").c_str());
  const int inflight = std::atoi(Flag(f, "inflight", "64").c_str());
  // One completion-queue thread: on 2 cores a second one only competes with the server's threads
  // (measured 13.8k against 16k refusals/s).
  const int threads = std::atoi(Flag(f, "threads", "1").c_str());
  const bool flash = f.count("flash") > 0;
  // --quantity 0 measures the gRPC round trip alone (refused before any I/O).
  const int64_t quantity = std::atoll(Flag(f, "quantity", "1").c_str());

  std::vector<std::unique_ptr<v1::InventoryService::Stub>> stubs;
  for (int i = 0; i < channels; ++i) {
    auto ch = Channel(target, i);
    ch->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5));
    stubs.push_back(v1::InventoryService::NewStub(ch));
  }
  std::atomic<int64_t> next{0}, reserved{0}, refused{0}, errors{0};
  std::atomic<int64_t> first_error_code{-1};
  // When the last unit went: the sell-out phase, where every attempt contends for stock.
  const int64_t stock = std::atoll(Flag(f, "stock", "0").c_str());
  std::atomic<int64_t> sellout_us{0};
  std::string first_error;
  std::mutex err_mu;

  auto start_call = [&](grpc::CompletionQueue* cq, size_t channel) -> bool {
    const int64_t i = next.fetch_add(1);
    if (i >= attempts) return false;
    auto* call = new Call;
    call->channel = channel;
    AsRole(&call->ctx, "service", "bench");
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::ReserveRequest req;
    req.set_order_id("bench-" + run_id + "-" + std::to_string(i));
    auto* item = req.add_items();
    item->set_sku_id(sku);
    item->set_quantity(quantity);
    req.set_order_type(flash ? orderly::common::v1::ORDER_TYPE_FLASH_SALE
                             : orderly::common::v1::ORDER_TYPE_NORMAL);
    call->reader = stubs[channel]->PrepareAsyncReserve(&call->ctx, req, cq);
    call->reader->StartCall();
    call->reader->Finish(&call->resp, &call->status, call);
    return true;
  };

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      grpc::CompletionQueue cq;
      int outstanding = 0;
      for (int c = t; c < channels; c += threads) {
        for (int k = 0; k < inflight; ++k) outstanding += start_call(&cq, c) ? 1 : 0;
      }
      void* tag;
      bool ok;
      while (outstanding > 0 && cq.Next(&tag, &ok)) {
        auto* call = static_cast<Call*>(tag);
        --outstanding;
        if (call->status.ok()) {
          if (reserved.fetch_add(1) + 1 == stock) {
            sellout_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::steady_clock::now() - t0)
                             .count();
          }
        } else if (call->status.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
                   (quantity == 0 &&
                    call->status.error_code() == grpc::StatusCode::INVALID_ARGUMENT)) {
          refused.fetch_add(1);
        } else {
          if (errors.fetch_add(1) == 0) {
            std::lock_guard lock(err_mu);
            first_error = call->status.error_message();
            first_error_code = call->status.error_code();
          }
        }
        const size_t channel = call->channel;
        delete call;
        outstanding += start_call(&cq, channel) ? 1 : 0;
      }
      cq.Shutdown();
      while (cq.Next(&tag, &ok)) {
      }
    });
  }
  for (auto& w : workers) w.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (errors.load() > 0) {
    std::cerr << "first error (code " << first_error_code.load() << "): " << first_error << "\n";
  }
  std::printf(
      "{\"attempts\":%lld,\"reserved\":%lld,\"refused\":%lld,\"errors\":%lld,\"seconds\":%.3f,"
      "\"attempts_per_s\":%.0f,\"sellout_seconds\":%.3f}\n",
      static_cast<long long>(attempts), static_cast<long long>(reserved.load()),
      static_cast<long long>(refused.load()), static_cast<long long>(errors.load()), seconds,
      attempts / seconds, sellout_us.load() / 1e6);
  return 0;
}

// Prints {"reserved":..,"available":..,"sold":..,"total_received":..,"violations":..}.
int Check(const std::map<std::string, std::string>& f) {
  auto stub = v1::InventoryService::NewStub(Channel(Flag(f, "target", "127.0.0.1:17052"), 0));
  v1::GetStockRequest req;
  req.add_sku_ids(Flag(f, "sku", "bench-sku"));
  v1::GetStockResponse resp;
  grpc::ClientContext c1;
  AsRole(&c1, "admin", "bench");
  auto st = stub->GetStock(&c1, req, &resp);
  if (!st.ok()) {
    std::cerr << "GetStock: " << st.error_message() << "\n";
    return 1;
  }
  v1::CheckInvariantsRequest ci;
  ci.add_sku_ids(Flag(f, "sku", "bench-sku"));
  v1::CheckInvariantsResponse ci_resp;
  grpc::ClientContext c2;
  AsRole(&c2, "admin", "bench");
  st = stub->CheckInvariants(&c2, ci, &ci_resp);
  if (!st.ok()) {
    std::cerr << "CheckInvariants: " << st.error_message() << "\n";
    return 1;
  }
  for (const auto& v : ci_resp.violations()) {
    std::cerr << "violation " << v.invariant() << " " << v.sku_id() << ": " << v.detail() << "\n";
  }
  const auto& l = resp.stocks(0);
  std::printf(
      "{\"reserved\":%lld,\"available\":%lld,\"sold\":%lld,\"total_received\":%lld,"
      "\"violations\":%d}\n",
      static_cast<long long>(l.reserved()), static_cast<long long>(l.available()),
      static_cast<long long>(l.sold()), static_cast<long long>(l.total_received()),
      ci_resp.violations_size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const std::string cmd = argc > 1 ? argv[1] : "";
  const auto flags = ParseFlags(argc, argv, 2);
  if (cmd == "setup") return Setup(flags);
  if (cmd == "run") return Run(flags);
  if (cmd == "check") return Check(flags);
  if (cmd == "lua") {
    std::cout << orderly::inventory::FlashReserveScript();
    return 0;
  }
  std::cerr << "usage: orderly-flash-sale-bench setup|run|check|lua [flags]\n";
  return 2;
}
