// orderly-after-sale: the AfterSaleService gRPC server. Its RPCs answer UNIMPLEMENTED (the
// generated base class) until the after-sale issue lands; the process already has health,
// reflection, metrics, readiness, its database with the outbox, and graceful drain.
#include "after_sale_lib_migrations.hpp"
#include "orderly/aftersale/v1/aftersale_service.grpc.pb.h"
#include "orderly/runtime/service_runtime.hpp"

int main(int argc, char** argv) {
  static orderly::aftersale::v1::AfterSaleService::Service service;
  return orderly::runtime::RunService(argc, argv, {"after-sale", 17055, 9105, "orderly_aftersale"},
                                      orderly::pg::after_sale_lib_migrations(), nullptr,
                                      [](orderly::runtime::ServiceRuntime& rt) {
                                        rt.host().AddService(&service);
                                        return absl::OkStatus();
                                      });
}
