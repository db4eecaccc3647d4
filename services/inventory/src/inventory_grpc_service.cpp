#include "inventory_grpc_service.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <initializer_list>

#include "inventory_proto.hpp"
#include "orderly/core/logging.hpp"
#include "orderly/core/status.hpp"
#include "orderly/core/validation.hpp"
#include "orderly/server/handler.hpp"
#include "orderly/server/request_context.hpp"
#include "reservation_rules.hpp"

namespace orderly::inventory {
namespace {

using server::Role;

// The most a SKU can hold or a receipt add (ReceiveStock's own limit).
constexpr int64_t kMaxStockQuantity = 1'000'000'000;

// Role check through the shared server helper; caller_out receives the caller when asked.
absl::Status Allow(const grpc::ServerContextBase& ctx, std::initializer_list<Role> roles,
                   server::Caller* caller_out = nullptr) {
  server::Caller caller = server::CallerOf(ctx);
  if (caller_out) *caller_out = caller;
  return server::RequireRole(caller, roles);
}

// A refusal as gRPC status. The same refusal (a sold-out SKU: InsufficientStock hands out one
// shared status) is converted once per thread: the google.rpc.Status serialization is most of
// what a refusal costs the server. Other errors go through HandleCall (which logs INTERNAL).
grpc::Status RefusalToGrpc(const absl::Status& s) {
  struct Entry {
    absl::Status from;
    grpc::Status to;
  };
  thread_local std::array<Entry, 4> recent;
  thread_local size_t next = 0;
  for (const Entry& e : recent) {
    if (!e.from.ok() && e.from == s) return e.to;  // same rep: a pointer compare
  }
  grpc::Status g = ToGrpcStatus(s);
  recent[next] = {s, g};
  next = (next + 1) % recent.size();
  return g;
}

// What the catalog cannot see once the proto became a SkuRecord: text sizes and numeric ranges
// (an INT64_MAX price or a purchase limit past any order's quantity is a mistake, not a setting).
absl::Status ValidateUpsert(const v1::UpsertSkuRequest& req) {
  Violations v;
  if (!req.has_sku()) {
    v.Add("sku", "required");
    return v.ToStatus("invalid UpsertSku request");
  }
  const v1::Sku& sku = req.sku();
  validation::CheckId(v, "sku.sku_id", sku.sku_id(), true, 64);
  validation::CheckId(v, "sku.product_id", sku.product_id(), true, 64);
  validation::CheckId(v, "sku.merchant_id", sku.merchant_id(), true, 64);
  validation::CheckId(v, "sku.warehouse_id", sku.warehouse_id(), true, 64);
  validation::CheckText(v, "sku.product_name", sku.product_name(), 200, true);
  validation::CheckAmount(v, "sku.list_price.amount_minor", sku.list_price().amount_minor());
  validation::CheckRange(v, "sku.purchase_limit", sku.purchase_limit(), 0, kMaxLineQuantity);
  validation::CheckRange(v, "sku.stock_buckets", sku.stock_buckets(), 0, kMaxBuckets);
  validation::CheckRange(v, "sku.low_stock_threshold", sku.low_stock_threshold(), 0,
                         kMaxStockQuantity);
  return v.ToStatus("invalid UpsertSku request");
}

std::vector<std::string> Ids(const google::protobuf::RepeatedPtrField<std::string>& ids) {
  return {ids.begin(), ids.end()};
}

}  // namespace

grpc::Status InventoryGrpcService::GetSkus(grpc::ServerContext* ctx, const v1::GetSkusRequest* req,
                                           v1::GetSkusResponse* resp) {
  return server::HandleCall("GetSkus", *req, [&]() -> absl::Status {
    auto skus = catalog_.GetSkus(Ids(req->sku_ids()));
    if (!skus.ok()) return skus.status();
    for (const auto& s : *skus) *resp->add_skus() = SkuToProto(s);
    return absl::OkStatus();
  });
}

grpc::Status InventoryGrpcService::ListSkus(grpc::ServerContext* ctx,
                                            const v1::ListSkusRequest* req,
                                            v1::ListSkusResponse* resp) {
  return server::HandleCall("ListSkus", *req, [&]() -> absl::Status {
    server::Caller caller = server::CallerOf(*ctx);
    // Merchants see their own SKUs only.
    const std::string merchant =
        caller.role == Role::kMerchant ? caller.user_id : req->merchant_id();
    auto page =
        catalog_.ListSkus(merchant, req->sale_status(), req->page_size(), req->page_token());
    if (!page.ok()) return page.status();
    for (const auto& s : page->skus) *resp->add_skus() = SkuToProto(s);
    resp->set_next_page_token(page->next_page_token);
    return absl::OkStatus();
  });
}

grpc::Status InventoryGrpcService::UpsertSku(grpc::ServerContext* ctx,
                                             const v1::UpsertSkuRequest* req,
                                             v1::UpsertSkuResponse* resp) {
  return server::HandleCall("UpsertSku", *req, [&]() -> absl::Status {
    if (auto s = Allow(*ctx, {Role::kAdmin}); !s.ok()) return s;
    if (auto s = ValidateUpsert(*req); !s.ok()) return s;
    auto stored = catalog_.UpsertSku(SkuFromProto(req->sku()));
    if (!stored.ok()) return stored.status();
    reservations_.InvalidateSku(stored->sku_id);
    *resp->mutable_sku() = SkuToProto(*stored);
    return absl::OkStatus();
  });
}

grpc::Status InventoryGrpcService::ReceiveStock(grpc::ServerContext* ctx,
                                                const v1::ReceiveStockRequest* req,
                                                v1::ReceiveStockResponse* resp) {
  return server::HandleCall("ReceiveStock", *req, [&]() -> absl::Status {
    if (auto s = Allow(*ctx, {Role::kAdmin}); !s.ok()) return s;
    auto level =
        catalog_.ReceiveStock(req->sku_id(), req->quantity(), req->request_id(), req->note());
    if (!level.ok()) return level.status();
    *resp->mutable_stock() = StockLevelToProto(*level);
    return absl::OkStatus();
  });
}

grpc::Status InventoryGrpcService::GetStock(grpc::ServerContext* ctx,
                                            const v1::GetStockRequest* req,
                                            v1::GetStockResponse* resp) {
  return server::HandleCall("GetStock", *req, [&]() -> absl::Status {
    server::Caller caller;
    if (auto s = Allow(*ctx, {Role::kMerchant, Role::kAdmin, Role::kService}, &caller); !s.ok()) {
      return s;
    }
    const auto ids = Ids(req->sku_ids());
    if (caller.role == Role::kMerchant) {
      // Another merchant's SKU reads as missing.
      auto skus = catalog_.GetSkus(ids);
      if (!skus.ok()) return skus.status();
      for (const auto& s : *skus) {
        if (s.merchant_id != caller.user_id) return SkuNotFound(s.sku_id);
      }
    }
    auto levels = catalog_.GetStock(ids);
    if (!levels.ok()) return levels.status();
    for (const auto& l : *levels) *resp->add_stocks() = StockLevelToProto(l);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* InventoryGrpcService::Reserve(grpc::CallbackServerContext* ctx,
                                                        const v1::ReserveRequest* req,
                                                        v1::ReserveResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  ReserveCommand cmd;
  grpc::Status early = server::HandleCall("Reserve", *req, [&]() -> absl::Status {
    if (auto s = Allow(*ctx, {Role::kService, Role::kAdmin}); !s.ok()) return s;
    cmd.order_id = req->order_id();
    for (const auto& it : req->items()) cmd.items.push_back({it.sku_id(), it.quantity()});
    if (req->has_expires_at()) cmd.expires_at = FromProtoTimestamp(req->expires_at());
    cmd.order_type = req->order_type();
    return absl::OkStatus();
  });
  if (!early.ok()) {
    reactor->Finish(early);
    return reactor;
  }
  // Work handed to the pool keeps this call's request and trace id in its log lines and events.
  ReservationManager::Submit submit = [this, lc = log::Current()](std::function<void()> task) {
    workers_.Submit([lc, task = std::move(task)] {
      log::ScopedContext scoped(lc);
      task();
    });
  };
  reservations_.ReserveAsync(cmd, submit, [reactor, resp](absl::StatusOr<Reservation> r) {
    // A domain refusal goes out as it is; a driver's FAILED_PRECONDITION (a constraint) does not.
    if (r.status().code() == absl::StatusCode::kFailedPrecondition && HasErrorDetails(r.status()) &&
        !IsDriverError(r.status())) {
      reactor->Finish(RefusalToGrpc(r.status()));
      return;
    }
    reactor->Finish(server::HandleCall("Reserve", [&]() -> absl::Status {
      if (!r.ok()) return r.status();
      *resp->mutable_reservation() = ReservationToProto(*r);
      return absl::OkStatus();
    }));
  });
  return reactor;
}

grpc::Status InventoryGrpcService::Confirm(grpc::ServerContext* ctx, const v1::ConfirmRequest* req,
                                           v1::ConfirmResponse* resp) {
  return server::HandleCall("Confirm", *req, [&]() -> absl::Status {
    if (auto s = Allow(*ctx, {Role::kService, Role::kAdmin}); !s.ok()) return s;
    auto r = reservations_.Confirm(req->order_id());
    if (!r.ok()) return r.status();
    *resp->mutable_reservation() = ReservationToProto(*r);
    return absl::OkStatus();
  });
}

grpc::Status InventoryGrpcService::Release(grpc::ServerContext* ctx, const v1::ReleaseRequest* req,
                                           v1::ReleaseResponse* resp) {
  return server::HandleCall("Release", *req, [&]() -> absl::Status {
    if (auto s = Allow(*ctx, {Role::kService, Role::kAdmin}); !s.ok()) return s;
    auto r = reservations_.Release(req->order_id(), req->reason());
    if (!r.ok()) return r.status();
    *resp->mutable_reservation() = ReservationToProto(*r);
    return absl::OkStatus();
  });
}

grpc::Status InventoryGrpcService::GetReservation(grpc::ServerContext* ctx,
                                                  const v1::GetReservationRequest* req,
                                                  v1::GetReservationResponse* resp) {
  return server::HandleCall("GetReservation", *req, [&]() -> absl::Status {
    if (auto s = Allow(*ctx, {Role::kService, Role::kAdmin}); !s.ok()) return s;
    auto r = reservations_.Get(req->order_id());
    if (!r.ok()) return r.status();
    *resp->mutable_reservation() = ReservationToProto(*r);
    return absl::OkStatus();
  });
}

grpc::Status InventoryGrpcService::WarmFlashSale(grpc::ServerContext* ctx,
                                                 const v1::WarmFlashSaleRequest* req,
                                                 v1::WarmFlashSaleResponse* resp) {
  return server::HandleCall("WarmFlashSale", *req, [&]() -> absl::Status {
    if (auto s = Allow(*ctx, {Role::kAdmin}); !s.ok()) return s;
    if (flash_ == nullptr) {
      return ErrorWithInfo(absl::StatusCode::kUnavailable, "Redis is not configured",
                           "DEPENDENCY_UNAVAILABLE", {{"dependency", "redis"}});
    }
    auto w = flash_->Warm(req->sku_id());
    if (!w.ok()) return w.status();
    auto level = catalog_.GetStock({w->sku_id});
    if (!level.ok()) return level.status();
    resp->set_sku_id(w->sku_id);
    resp->set_loaded_quantity(w->loaded_quantity);
    *resp->mutable_stock() = StockLevelToProto(level->front());
    return absl::OkStatus();
  });
}

grpc::Status InventoryGrpcService::CheckInvariants(grpc::ServerContext* ctx,
                                                   const v1::CheckInvariantsRequest* req,
                                                   v1::CheckInvariantsResponse* resp) {
  return server::HandleCall("CheckInvariants", *req, [&]() -> absl::Status {
    if (auto s = Allow(*ctx, {Role::kAdmin}); !s.ok()) return s;
    const auto ids = Ids(req->sku_ids());
    auto report = catalog_.CheckInvariants(ids);
    if (!report.ok()) return report.status();
    for (const auto& v : report->violations) {
      auto* out = resp->add_violations();
      out->set_sku_id(v.sku_id);
      out->set_invariant(v.invariant);
      out->set_detail(v.detail);
    }
    resp->set_checked_sku_count(report->checked_sku_count);
    if (flash_ != nullptr) {
      // Read-only comparison of each warm flash sale with Redis (never repairs here).
      auto flash = flash_->ReconcileAll(/*repair=*/false);
      if (!flash.ok()) {
        auto* out = resp->add_violations();
        out->set_invariant("redis_matches_db");
        out->set_detail("could not compare with Redis: " + flash.status().ToString());
        return absl::OkStatus();
      }
      for (const auto& r : *flash) {
        if (!ids.empty() && std::find(ids.begin(), ids.end(), r.sku_id) == ids.end()) continue;
        if (r.redis.skipped || r.drift() == 0) continue;
        auto* out = resp->add_violations();
        out->set_sku_id(r.sku_id);
        out->set_invariant("redis_matches_db");
        out->set_detail("Redis counter " + std::to_string(r.redis.counter_before) + " but pool " +
                        std::to_string(r.pool_available) + " - pending " +
                        std::to_string(r.redis.pending) + " = " + std::to_string(r.redis.expected));
      }
    }
    return absl::OkStatus();
  });
}

}  // namespace orderly::inventory
