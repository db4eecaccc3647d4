#pragma once
// gRPC glue for OrderService: proto in, validation (HandleCall), the RPC's roles (RequireRole), the
// domain call, Status out. The domain checks ownership (whose order), never which roles may call.
// No exception crosses a handler.
#include "order_manager.hpp"
#include "orderly/order/v1/order_service.grpc.pb.h"

namespace orderly::order_core {

class OrderGrpcService final : public order::v1::OrderService::Service {
 public:
  explicit OrderGrpcService(OrderManager& manager) : manager_(manager) {}

  grpc::Status GenerateOrderId(grpc::ServerContext* ctx,
                               const order::v1::GenerateOrderIdRequest* req,
                               order::v1::GenerateOrderIdResponse* resp) override;
  grpc::Status CreateOrder(grpc::ServerContext* ctx, const order::v1::CreateOrderRequest* req,
                           order::v1::CreateOrderResponse* resp) override;
  grpc::Status GetOrder(grpc::ServerContext* ctx, const order::v1::GetOrderRequest* req,
                        order::v1::GetOrderResponse* resp) override;
  grpc::Status ListOrders(grpc::ServerContext* ctx, const order::v1::ListOrdersRequest* req,
                          order::v1::ListOrdersResponse* resp) override;
  grpc::Status CancelOrder(grpc::ServerContext* ctx, const order::v1::CancelOrderRequest* req,
                           order::v1::CancelOrderResponse* resp) override;
  grpc::Status ChangeShippingAddress(grpc::ServerContext* ctx,
                                     const order::v1::ChangeShippingAddressRequest* req,
                                     order::v1::ChangeShippingAddressResponse* resp) override;
  grpc::Status ConfirmReceipt(grpc::ServerContext* ctx, const order::v1::ConfirmReceiptRequest* req,
                              order::v1::ConfirmReceiptResponse* resp) override;

 private:
  OrderManager& manager_;
};

}  // namespace orderly::order_core
