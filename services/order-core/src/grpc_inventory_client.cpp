#include <absl/strings/str_cat.h>

#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "inventory_client.hpp"
#include "orderly/core/status.hpp"

namespace orderly::order_core {
namespace {

namespace iv1 = ::orderly::inventory::v1;

class GrpcInventoryClient : public InventoryClient {
 public:
  explicit GrpcInventoryClient(GrpcInventoryClientOptions options) : options_(std::move(options)) {
    for (int i = 0; i < std::max(1, options_.channels); ++i) {
      grpc::ChannelArguments args;
      // Separate channels get separate HTTP/2 connections, so heavy load spreads over them.
      args.SetInt("grpc.channel_id", i);
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      stubs_.push_back(iv1::InventoryService::NewStub(
          grpc::CreateCustomChannel(options_.target, grpc::InsecureChannelCredentials(), args)));
    }
  }

  absl::StatusOr<std::vector<iv1::Sku>> GetSkus(const std::vector<std::string>& sku_ids,
                                                const CallContext& ctx) override {
    const auto now = std::chrono::steady_clock::now();
    std::vector<iv1::Sku> out(sku_ids.size());
    std::vector<size_t> missing;
    if (options_.sku_cache_ttl.count() > 0) {
      std::shared_lock lock(mu_);
      for (size_t i = 0; i < sku_ids.size(); ++i) {
        auto it = cache_.find(sku_ids[i]);
        if (it != cache_.end() && now - it->second.at < options_.sku_cache_ttl) {
          out[i] = it->second.sku;
        } else {
          missing.push_back(i);
        }
      }
    } else {
      for (size_t i = 0; i < sku_ids.size(); ++i) missing.push_back(i);
    }
    if (missing.empty()) return out;
    iv1::GetSkusRequest req;
    for (size_t i : missing) req.add_sku_ids(sku_ids[i]);
    iv1::GetSkusResponse resp;
    grpc::ClientContext cc;
    Prepare(&cc, ctx);
    if (auto s = Map(Stub().GetSkus(&cc, req, &resp)); !s.ok()) return s;
    if (resp.skus_size() != static_cast<int>(missing.size())) {
      return absl::InternalError("inventory GetSkus answered a different number of SKUs");
    }
    std::unique_lock lock(mu_, std::defer_lock);
    if (options_.sku_cache_ttl.count() > 0) lock.lock();
    for (size_t k = 0; k < missing.size(); ++k) {
      out[missing[k]] = resp.skus(static_cast<int>(k));
      if (options_.sku_cache_ttl.count() > 0) cache_[sku_ids[missing[k]]] = {resp.skus(k), now};
    }
    return out;
  }

  absl::Status Reserve(const iv1::ReserveRequest& request, const CallContext& ctx) override {
    iv1::ReserveResponse resp;
    grpc::ClientContext cc;
    Prepare(&cc, ctx);
    return Map(Stub().Reserve(&cc, request, &resp));
  }

  absl::Status Confirm(const std::string& order_id, const CallContext& ctx) override {
    iv1::ConfirmRequest req;
    req.set_order_id(order_id);
    iv1::ConfirmResponse resp;
    grpc::ClientContext cc;
    Prepare(&cc, ctx);
    return Map(Stub().Confirm(&cc, req, &resp));
  }

  absl::Status Release(const std::string& order_id, iv1::ReleaseReason reason,
                       const CallContext& ctx) override {
    iv1::ReleaseRequest req;
    req.set_order_id(order_id);
    req.set_reason(reason);
    iv1::ReleaseResponse resp;
    grpc::ClientContext cc;
    Prepare(&cc, ctx);
    return Map(Stub().Release(&cc, req, &resp));
  }

 private:
  iv1::InventoryService::Stub& Stub() {
    return *stubs_[next_.fetch_add(1, std::memory_order_relaxed) % stubs_.size()];
  }

  void Prepare(grpc::ClientContext* cc, const CallContext& ctx) {
    cc->set_deadline(std::chrono::system_clock::now() + options_.timeout);
    server::Propagate(cc, ctx.trace, ctx.request_id, {"order-core", server::Role::kService});
  }

  // Transport failures tell the caller to retry the same call (UNAVAILABLE DEPENDENCY_UNAVAILABLE);
  // a deadline keeps its code: the outcome is unknown.
  static absl::Status Map(const grpc::Status& g) {
    if (g.ok()) return absl::OkStatus();
    if (g.error_code() == grpc::StatusCode::UNAVAILABLE) {
      return ErrorWithInfo(absl::StatusCode::kUnavailable,
                           absl::StrCat("inventory unavailable: ", g.error_message()),
                           "DEPENDENCY_UNAVAILABLE", {{"dependency", "inventory"}});
    }
    return FromGrpcStatus(g);
  }

  struct Cached {
    iv1::Sku sku;
    std::chrono::steady_clock::time_point at;
  };
  GrpcInventoryClientOptions options_;
  std::vector<std::unique_ptr<iv1::InventoryService::Stub>> stubs_;
  std::atomic<uint64_t> next_{0};
  std::shared_mutex mu_;
  std::unordered_map<std::string, Cached> cache_;
};

}  // namespace

InventoryClientPtr MakeGrpcInventoryClient(GrpcInventoryClientOptions options) {
  return std::make_unique<GrpcInventoryClient>(std::move(options));
}

}  // namespace orderly::order_core
