// orderly-fulfillment: the FulfillmentService gRPC server. Its RPCs answer UNIMPLEMENTED (the
// generated base class) until the fulfillment issue lands; the process already has health,
// reflection, metrics, readiness, its database with the outbox, and graceful drain.
#include "fulfillment_lib_migrations.hpp"
#include "orderly/fulfillment/v1/fulfillment_service.grpc.pb.h"
#include "orderly/runtime/service_runtime.hpp"

int main(int argc, char** argv) {
  static orderly::fulfillment::v1::FulfillmentService::Service service;
  return orderly::runtime::RunService(
      argc, argv, {"fulfillment", 17054, 9104, "orderly_fulfillment"},
      orderly::pg::fulfillment_lib_migrations(), nullptr, [](orderly::runtime::ServiceRuntime& rt) {
        rt.host().AddService(&service);
        return absl::OkStatus();
      });
}
