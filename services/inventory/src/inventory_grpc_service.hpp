#pragma once
// gRPC glue for orderly.inventory.v1.InventoryService: checks the caller's role, converts
// messages, calls the domain, maps absl::Status (with its google.rpc details) to grpc::Status.
// No exception crosses a handler.
#include "catalog_manager.hpp"
#include "flash_sale_manager.hpp"
#include "orderly/inventory/v1/inventory_service.grpc.pb.h"
#include "reservation_manager.hpp"
#include "worker_pool.hpp"

namespace orderly::inventory {

// Reserve is a callback (reactor) method: a flash-sale attempt holds no thread while Redis
// decides, and the database work of every Reserve runs on `reserve_workers` threads of its own.
// The other methods are ordinary sync handlers.
class InventoryGrpcService final
    : public v1::InventoryService::WithCallbackMethod_Reserve<v1::InventoryService::Service> {
 public:
  // flash may be null (no Redis).
  InventoryGrpcService(CatalogManager& catalog, ReservationManager& reservations,
                       FlashSaleManager* flash, int reserve_workers = 8)
      : catalog_(catalog), reservations_(reservations), flash_(flash), workers_(reserve_workers) {}

  grpc::Status GetSkus(grpc::ServerContext* ctx, const v1::GetSkusRequest* req,
                       v1::GetSkusResponse* resp) override;
  grpc::Status ListSkus(grpc::ServerContext* ctx, const v1::ListSkusRequest* req,
                        v1::ListSkusResponse* resp) override;
  grpc::Status UpsertSku(grpc::ServerContext* ctx, const v1::UpsertSkuRequest* req,
                         v1::UpsertSkuResponse* resp) override;
  grpc::Status ReceiveStock(grpc::ServerContext* ctx, const v1::ReceiveStockRequest* req,
                            v1::ReceiveStockResponse* resp) override;
  grpc::Status GetStock(grpc::ServerContext* ctx, const v1::GetStockRequest* req,
                        v1::GetStockResponse* resp) override;
  grpc::ServerUnaryReactor* Reserve(grpc::CallbackServerContext* ctx, const v1::ReserveRequest* req,
                                    v1::ReserveResponse* resp) override;
  grpc::Status Confirm(grpc::ServerContext* ctx, const v1::ConfirmRequest* req,
                       v1::ConfirmResponse* resp) override;
  grpc::Status Release(grpc::ServerContext* ctx, const v1::ReleaseRequest* req,
                       v1::ReleaseResponse* resp) override;
  grpc::Status GetReservation(grpc::ServerContext* ctx, const v1::GetReservationRequest* req,
                              v1::GetReservationResponse* resp) override;
  grpc::Status WarmFlashSale(grpc::ServerContext* ctx, const v1::WarmFlashSaleRequest* req,
                             v1::WarmFlashSaleResponse* resp) override;
  grpc::Status CheckInvariants(grpc::ServerContext* ctx, const v1::CheckInvariantsRequest* req,
                               v1::CheckInvariantsResponse* resp) override;

 private:
  CatalogManager& catalog_;
  ReservationManager& reservations_;
  FlashSaleManager* flash_;
  WorkerPool workers_;
};

}  // namespace orderly::inventory
