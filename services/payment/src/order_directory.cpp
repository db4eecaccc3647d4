#include "order_directory.hpp"

#include <grpcpp/grpcpp.h>

#include "orderly/core/absl_compat.hpp"
#include "orderly/core/status.hpp"
#include "orderly/server/request_context.hpp"

namespace orderly::payment {
namespace {

// The projection knows three statuses: every state after payment counts as paid.
order::v1::OrderStatus ProjectedStatus(order::v1::OrderStatus s) {
  switch (s) {
    case order::v1::ORDER_STATUS_PENDING_PAYMENT:
    case order::v1::ORDER_STATUS_CANCELLED: return s;
    default: return order::v1::ORDER_STATUS_PAID;
  }
}

class OrderDirectoryImpl : public OrderDirectory {
 public:
  OrderDirectoryImpl(PaymentRepository& repo, const std::string& target) : repo_(repo) {
    if (!target.empty())
      stub_ = order::v1::OrderService::NewStub(
          grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  }

  absl::StatusOr<OrderRow> Find(const std::string& order_id) override {
    auto row = ReadInTransaction(repo_, [&](PaymentTx& tx) { return tx.FindOrder(order_id); });
    if (!row.ok()) return row.status();
    if (*row) return **row;
    if (!stub_) return NotFoundError("order", order_id, "ORDER_NOT_FOUND");
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server::Propagate(&ctx, server::NewSpan(), "",
                      server::Caller{"payment", server::Role::kService});
    order::v1::GetOrderRequest req;
    req.set_order_id(order_id);
    order::v1::GetOrderResponse resp;
    grpc::Status gs = stub_->GetOrder(&ctx, req, &resp);
    if (gs.error_code() == grpc::StatusCode::NOT_FOUND)
      return NotFoundError("order", order_id, "ORDER_NOT_FOUND");
    // order-core refused the id itself: the client's to fix, not a reason to retry.
    if (gs.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      return InvalidArgumentError("order_id is not an order id",
                                  {{"order_id", "is not an order id"}});
    }
    if (!gs.ok()) {
      return ErrorWithInfo(absl::StatusCode::kUnavailable,
                           "order-core unavailable: " + gs.error_message(),
                           "DEPENDENCY_UNAVAILABLE", {{"dependency", "order-core"}});
    }
    const auto& o = resp.order();
    OrderRow out;
    out.order_id = o.order_id();
    out.buyer_id = o.buyer_id();
    out.payable = o.price().payable_total().amount_minor();
    out.currency = o.price().payable_total().currency_code();
    out.status = ProjectedStatus(o.status());
    if (o.has_payment_deadline())
      out.deadline = FromUnixMillis(o.payment_deadline().seconds() * 1000);
    return out;
  }

 private:
  PaymentRepository& repo_;
  std::unique_ptr<order::v1::OrderService::Stub> stub_;
};

}  // namespace

OrderDirectoryPtr MakeOrderDirectory(PaymentRepository& repo, const std::string& target) {
  return std::make_unique<OrderDirectoryImpl>(repo, target);
}

}  // namespace orderly::payment
