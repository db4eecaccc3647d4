#include "order_grpc_service.hpp"

#include <spdlog/spdlog.h>

#include <exception>

#include "orderly/core/status.hpp"
#include "orderly/server/handler.hpp"

namespace orderly::order_core {
namespace {

namespace ov1 = ::orderly::order::v1;
using server::Role;

CallContext ContextOf(const grpc::ServerContext& ctx) {
  return {server::TraceOf(ctx), server::RequestIdOf(ctx)};
}

template <typename T, typename Out>
absl::Status Into(absl::StatusOr<T> r, Out* out) {
  if (!r.ok()) return r.status();
  *out = std::move(*r);
  return absl::OkStatus();
}

}  // namespace

grpc::Status OrderGrpcService::GenerateOrderId(grpc::ServerContext* ctx,
                                               const ov1::GenerateOrderIdRequest* req,
                                               ov1::GenerateOrderIdResponse* resp) {
  return server::HandleCall("GenerateOrderId", *req, [&] {
    if (auto s = server::RequireRole(server::CallerOf(*ctx),
                                     {Role::kBuyer, Role::kAdmin, Role::kService});
        !s.ok())
      return s;
    return Into(manager_.GenerateOrderId(server::CallerOf(*ctx), req->buyer_id()),
                resp->mutable_order_id());
  });
}

grpc::Status OrderGrpcService::CreateOrder(grpc::ServerContext* ctx,
                                           const ov1::CreateOrderRequest* req,
                                           ov1::CreateOrderResponse* resp) {
  return server::HandleCall("CreateOrder", *req, [&] {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kBuyer, Role::kAdmin}); !s.ok())
      return s;
    return Into(manager_.CreateOrder(server::CallerOf(*ctx), *req, ContextOf(*ctx)),
                resp->mutable_order());
  });
}

grpc::Status OrderGrpcService::GetOrder(grpc::ServerContext* ctx, const ov1::GetOrderRequest* req,
                                        ov1::GetOrderResponse* resp) {
  return server::HandleCall("GetOrder", *req, [&] {
    if (auto s = server::RequireRole(server::CallerOf(*ctx),
                                     {Role::kBuyer, Role::kMerchant, Role::kAdmin, Role::kService});
        !s.ok())
      return s;
    return Into(manager_.GetOrder(server::CallerOf(*ctx), req->order_id()), resp->mutable_order());
  });
}

grpc::Status OrderGrpcService::ListOrders(grpc::ServerContext* ctx,
                                          const ov1::ListOrdersRequest* req,
                                          ov1::ListOrdersResponse* resp) {
  return server::HandleCall("ListOrders", *req, [&] {
    const server::Caller caller = server::CallerOf(*ctx);
    if (auto s = server::RequireRole(caller, {Role::kBuyer, Role::kMerchant, Role::kAdmin});
        !s.ok()) {
      return s;
    }
    return Into(manager_.ListOrders(caller, *req), resp);
  });
}

grpc::Status OrderGrpcService::CancelOrder(grpc::ServerContext* ctx,
                                           const ov1::CancelOrderRequest* req,
                                           ov1::CancelOrderResponse* resp) {
  return server::HandleCall("CancelOrder", *req, [&] {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kBuyer, Role::kAdmin}); !s.ok())
      return s;
    return Into(manager_.CancelOrder(server::CallerOf(*ctx), *req, ContextOf(*ctx)),
                resp->mutable_order());
  });
}

grpc::Status OrderGrpcService::ChangeShippingAddress(grpc::ServerContext* ctx,
                                                     const ov1::ChangeShippingAddressRequest* req,
                                                     ov1::ChangeShippingAddressResponse* resp) {
  return server::HandleCall("ChangeShippingAddress", *req, [&] {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kBuyer, Role::kAdmin}); !s.ok())
      return s;
    return Into(manager_.ChangeShippingAddress(server::CallerOf(*ctx), *req),
                resp->mutable_order());
  });
}

grpc::Status OrderGrpcService::ConfirmReceipt(grpc::ServerContext* ctx,
                                              const ov1::ConfirmReceiptRequest* req,
                                              ov1::ConfirmReceiptResponse* resp) {
  return server::HandleCall("ConfirmReceipt", *req, [&] {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kBuyer, Role::kAdmin}); !s.ok())
      return s;
    return Into(manager_.ConfirmReceipt(server::CallerOf(*ctx), *req), resp->mutable_order());
  });
}

}  // namespace orderly::order_core
