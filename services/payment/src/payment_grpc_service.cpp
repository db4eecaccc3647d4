#include "payment_grpc_service.hpp"

#include <spdlog/spdlog.h>

#include "orderly/core/status.hpp"
#include "orderly/core/validation.hpp"
#include "orderly/server/handler.hpp"
#include "orderly/server/request_context.hpp"

namespace orderly::payment {
namespace {

using server::Role;

// A notification's raw body is checked by the channel (signature first); its headers are short.
const std::vector<validation::FieldRule> kNotificationRules = {
    {.path = "headers.value", .max_bytes = 8 * 1024, .multiline = false}};

bool IsChannel(v1::PaymentChannel c) {
  return v1::PaymentChannel_IsValid(c) && c != v1::PAYMENT_CHANNEL_UNSPECIFIED;
}

void CheckChannelAndDate(Violations& v, v1::PaymentChannel channel, const std::string& bill_date) {
  if (!IsChannel(channel)) v.Add("channel", "must be a payment channel");
  validation::CheckDate(v, "bill_date", bill_date, true);
}

}  // namespace

grpc::Status PaymentGrpcService::CreatePayment(grpc::ServerContext* ctx,
                                               const v1::CreatePaymentRequest* req,
                                               v1::CreatePaymentResponse* resp) {
  return server::HandleCall("CreatePayment", *req, [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx),
                                     {Role::kBuyer, Role::kService, Role::kAdmin});
        !s.ok())
      return s;
    Violations v;
    validation::CheckAmount(v, "amount.amount_minor", req->amount().amount_minor(), 1);
    if (!v.empty()) return v.ToStatus("invalid CreatePayment request");
    auto p = m_.CreatePayment(*req, server::CallerOf(*ctx));
    if (!p.ok()) return p.status();
    *resp->mutable_payment() = *p;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::GetPayment(grpc::ServerContext* ctx,
                                            const v1::GetPaymentRequest* req,
                                            v1::GetPaymentResponse* resp) {
  return server::HandleCall("GetPayment", *req, [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx),
                                     {Role::kBuyer, Role::kService, Role::kAdmin});
        !s.ok())
      return s;
    auto p = m_.GetPayment(req->payment_id(), req->order_id(), server::CallerOf(*ctx));
    if (!p.ok()) return p.status();
    *resp->mutable_payment() = *p;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::ClosePayment(grpc::ServerContext* ctx,
                                              const v1::ClosePaymentRequest* req,
                                              v1::ClosePaymentResponse* resp) {
  return server::HandleCall("ClosePayment", *req, [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx),
                                     {Role::kBuyer, Role::kService, Role::kAdmin});
        !s.ok())
      return s;
    auto p = m_.ClosePayment(req->order_id(), req->request_id(), server::CallerOf(*ctx));
    if (!p.ok()) return p.status();
    *resp->mutable_payment() = *p;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::Refund(grpc::ServerContext* ctx, const v1::RefundRequest* req,
                                        v1::RefundResponse* resp) {
  return server::HandleCall("Refund", *req, [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kService, Role::kAdmin});
        !s.ok())
      return s;
    Violations v;
    validation::CheckAmount(v, "amount.amount_minor", req->amount().amount_minor(), 1);
    if (!v.empty()) return v.ToStatus("invalid Refund request");
    auto r = m_.CreateRefund(*req);
    if (!r.ok()) return r.status();
    *resp->mutable_refund() = *r;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::GetRefund(grpc::ServerContext* ctx,
                                           const v1::GetRefundRequest* req,
                                           v1::GetRefundResponse* resp) {
  return server::HandleCall("GetRefund", *req, [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kService, Role::kAdmin});
        !s.ok())
      return s;
    auto r = m_.GetRefund(req->refund_id());
    if (!r.ok()) return r.status();
    *resp->mutable_refund() = *r;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::ListRefunds(grpc::ServerContext* ctx,
                                             const v1::ListRefundsRequest* req,
                                             v1::ListRefundsResponse* resp) {
  return server::HandleCall("ListRefunds", *req, [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kService, Role::kAdmin});
        !s.ok())
      return s;
    auto r = m_.ListRefunds(*req);
    if (!r.ok()) return r.status();
    *resp = *r;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::ListManualReviewRefunds(
    grpc::ServerContext* ctx, const v1::ListManualReviewRefundsRequest* req,
    v1::ListManualReviewRefundsResponse* resp) {
  return server::HandleCall("ListManualReviewRefunds", *req, [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kAdmin}); !s.ok()) return s;
    auto r = m_.ListManualReview(*req);
    if (!r.ok()) return r.status();
    *resp = *r;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::RetryRefund(grpc::ServerContext* ctx,
                                             const v1::RetryRefundRequest* req,
                                             v1::RetryRefundResponse* resp) {
  return server::HandleCall("RetryRefund", *req, [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kAdmin}); !s.ok()) return s;
    auto r = m_.RetryRefund(req->refund_id(), req->request_id());
    if (!r.ok()) return r.status();
    *resp->mutable_refund() = *r;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::RunReconciliation(grpc::ServerContext* ctx,
                                                   const v1::RunReconciliationRequest* req,
                                                   v1::RunReconciliationResponse* resp) {
  return server::HandleCall("RunReconciliation", *req, [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kAdmin}); !s.ok()) return s;
    Violations v;
    CheckChannelAndDate(v, req->channel(), req->bill_date());
    if (!v.empty()) return v.ToStatus("invalid RunReconciliation request");
    auto r = recon_.Run(req->channel(), req->bill_date(), req->rerun());
    if (!r.ok()) return r.status();
    *resp->mutable_report() = *r;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::GetReconciliationReport(
    grpc::ServerContext* ctx, const v1::GetReconciliationReportRequest* req,
    v1::GetReconciliationReportResponse* resp) {
  return server::HandleCall("GetReconciliationReport", *req, [&]() -> absl::Status {
    if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kAdmin}); !s.ok()) return s;
    Violations v;
    CheckChannelAndDate(v, req->channel(), req->bill_date());
    if (!v.empty()) return v.ToStatus("invalid GetReconciliationReport request");
    auto r = recon_.Get(req->channel(), req->bill_date());
    if (!r.ok()) return r.status();
    *resp->mutable_report() = *r;
    return absl::OkStatus();
  });
}

grpc::Status PaymentGrpcService::HandleChannelNotification(
    grpc::ServerContext* ctx, const v1::HandleChannelNotificationRequest* req,
    v1::HandleChannelNotificationResponse* resp) {
  return server::HandleCall(
      "HandleChannelNotification", *req,
      [&]() -> absl::Status {
        if (auto s = server::RequireRole(server::CallerOf(*ctx), {Role::kService}); !s.ok())
          return s;
        Violations v;
        if (!IsChannel(req->channel())) v.Add("channel", "must be a payment channel");
        if (req->body().empty()) v.Add("body", "is required (the HTTP body as received)");
        if (!v.empty()) return v.ToStatus("invalid HandleChannelNotification request");
        std::map<std::string, std::string> headers(req->headers().begin(), req->headers().end());
        NotifyResult r = m_.HandleNotification(req->channel(), req->body(), headers);
        resp->set_ack_body(r.ack.body);
        resp->set_payment_id(r.payment_id);
        resp->set_refund_id(r.refund_id);
        if (r.outcome == "forged") {
          return ErrorWithInfo(absl::StatusCode::kInvalidArgument, "channel signature invalid",
                               "CHANNEL_SIGNATURE_INVALID");
        }
        if (r.outcome == "unknown_channel") {
          return InvalidArgumentError(
              "channel not configured",
              {{"channel", "this payment service has no such channel configured"}});
        }
        if (r.outcome == "malformed")
          return InvalidArgumentError("malformed notification", {{"body", r.ack.body}});
        if (r.outcome == "error")
          return absl::UnavailableError("could not apply the notification; retry");
        return absl::OkStatus();
      },
      kNotificationRules);
}

}  // namespace orderly::payment
