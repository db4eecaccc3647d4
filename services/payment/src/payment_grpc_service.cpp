#include "payment_grpc_service.hpp"

#include "orderly/server/handler.hpp"

#include <spdlog/spdlog.h>

#include "orderly/core/status.hpp"
#include "orderly/server/request_context.hpp"

namespace orderly::payment {
namespace {

using server::Role;


}  // namespace

grpc::Status PaymentGrpcService::CreatePayment(grpc::ServerContext* ctx, const v1::CreatePaymentRequest* req,
                                               v1::CreatePaymentResponse* resp) {
  return server::HandleCall("CreatePayment", [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kBuyer, Role::kService, Role::kAdmin}); !s.ok()) return s;
    auto p = m_.CreatePayment(*req, server::CallerOf(*ctx));
    if (!p.ok()) return p.status();
    *resp->mutable_payment() = *p;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::GetPayment(grpc::ServerContext* ctx, const v1::GetPaymentRequest* req, v1::GetPaymentResponse* resp) {
  return server::HandleCall("GetPayment", [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kBuyer, Role::kService, Role::kAdmin}); !s.ok()) return s;
    auto p = m_.GetPayment(req->payment_id(), req->order_id(), server::CallerOf(*ctx));
    if (!p.ok()) return p.status();
    *resp->mutable_payment() = *p;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::ClosePayment(grpc::ServerContext* ctx, const v1::ClosePaymentRequest* req,
                                              v1::ClosePaymentResponse* resp) {
  return server::HandleCall("ClosePayment", [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kBuyer, Role::kService, Role::kAdmin}); !s.ok()) return s;
    auto p = m_.ClosePayment(req->order_id(), req->request_id(), server::CallerOf(*ctx));
    if (!p.ok()) return p.status();
    *resp->mutable_payment() = *p;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::Refund(grpc::ServerContext* ctx, const v1::RefundRequest* req, v1::RefundResponse* resp) {
  return server::HandleCall("Refund", [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kService, Role::kAdmin}); !s.ok()) return s;
    auto r = m_.CreateRefund(*req);
    if (!r.ok()) return r.status();
    *resp->mutable_refund() = *r;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::GetRefund(grpc::ServerContext* ctx, const v1::GetRefundRequest* req, v1::GetRefundResponse* resp) {
  return server::HandleCall("GetRefund", [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kService, Role::kAdmin}); !s.ok()) return s;
    auto r = m_.GetRefund(req->refund_id());
    if (!r.ok()) return r.status();
    *resp->mutable_refund() = *r;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::ListRefunds(grpc::ServerContext* ctx, const v1::ListRefundsRequest* req, v1::ListRefundsResponse* resp) {
  return server::HandleCall("ListRefunds", [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kService, Role::kAdmin}); !s.ok()) return s;
    auto r = m_.ListRefunds(*req);
    if (!r.ok()) return r.status();
    *resp = *r;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::ListManualReviewRefunds(grpc::ServerContext* ctx, const v1::ListManualReviewRefundsRequest* req,
                                                         v1::ListManualReviewRefundsResponse* resp) {
  return server::HandleCall("ListManualReviewRefunds", [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kAdmin}); !s.ok()) return s;
    auto r = m_.ListManualReview(*req);
    if (!r.ok()) return r.status();
    *resp = *r;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::RetryRefund(grpc::ServerContext* ctx, const v1::RetryRefundRequest* req, v1::RetryRefundResponse* resp) {
  return server::HandleCall("RetryRefund", [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kAdmin}); !s.ok()) return s;
    auto r = m_.RetryRefund(req->refund_id(), req->request_id());
    if (!r.ok()) return r.status();
    *resp->mutable_refund() = *r;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::RunReconciliation(grpc::ServerContext* ctx, const v1::RunReconciliationRequest* req,
                                                   v1::RunReconciliationResponse* resp) {
  return server::HandleCall("RunReconciliation", [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kAdmin}); !s.ok()) return s;
    auto r = recon_.Run(req->channel(), req->bill_date(), req->rerun());
    if (!r.ok()) return r.status();
    *resp->mutable_report() = *r;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::GetReconciliationReport(grpc::ServerContext* ctx, const v1::GetReconciliationReportRequest* req,
                                                         v1::GetReconciliationReportResponse* resp) {
  return server::HandleCall("GetReconciliationReport", [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kAdmin}); !s.ok()) return s;
    auto r = recon_.Get(req->channel(), req->bill_date());
    if (!r.ok()) return r.status();
    *resp->mutable_report() = *r;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::HandleChannelNotification(grpc::ServerContext* ctx, const v1::HandleChannelNotificationRequest* req,
                                                           v1::HandleChannelNotificationResponse* resp) {
  return server::HandleCall("HandleChannelNotification", [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kService}); !s.ok()) return s;
    std::map<std::string, std::string> headers(req->headers().begin(), req->headers().end());
    NotifyResult r = m_.HandleNotification(req->channel(), req->body(), headers);
    resp->set_ack_body(r.ack.body);
    resp->set_payment_id(r.payment_id);
    resp->set_refund_id(r.refund_id);
    if (r.outcome == "forged") {
      return ErrorWithInfo(absl::StatusCode::kInvalidArgument, "channel signature invalid", "CHANNEL_SIGNATURE_INVALID");
    }
    if (r.outcome == "malformed") return InvalidArgumentError("malformed notification", {{"body", r.ack.body}});
    if (r.outcome == "error") return absl::UnavailableError("could not apply the notification; retry");
    return absl::OkStatus();
  });
}

}  // namespace orderly::payment
