#pragma once
// Thin gRPC glue: proto in, role check, call the domain, Status out. No exception crosses a
// handler.
#include "orderly/payment/v1/payment_service.grpc.pb.h"
#include "payment_manager.hpp"
#include "reconciler.hpp"

namespace orderly::payment {

class PaymentGrpcService final : public v1::PaymentService::Service {
 public:
  PaymentGrpcService(PaymentManager& manager, Reconciler& reconciler)
      : m_(manager), recon_(reconciler) {}

  grpc::Status CreatePayment(grpc::ServerContext*, const v1::CreatePaymentRequest*,
                             v1::CreatePaymentResponse*) override;
  grpc::Status GetPayment(grpc::ServerContext*, const v1::GetPaymentRequest*,
                          v1::GetPaymentResponse*) override;
  grpc::Status ClosePayment(grpc::ServerContext*, const v1::ClosePaymentRequest*,
                            v1::ClosePaymentResponse*) override;
  grpc::Status Refund(grpc::ServerContext*, const v1::RefundRequest*, v1::RefundResponse*) override;
  grpc::Status GetRefund(grpc::ServerContext*, const v1::GetRefundRequest*,
                         v1::GetRefundResponse*) override;
  grpc::Status ListRefunds(grpc::ServerContext*, const v1::ListRefundsRequest*,
                           v1::ListRefundsResponse*) override;
  grpc::Status ListManualReviewRefunds(grpc::ServerContext*,
                                       const v1::ListManualReviewRefundsRequest*,
                                       v1::ListManualReviewRefundsResponse*) override;
  grpc::Status RetryRefund(grpc::ServerContext*, const v1::RetryRefundRequest*,
                           v1::RetryRefundResponse*) override;
  grpc::Status RunReconciliation(grpc::ServerContext*, const v1::RunReconciliationRequest*,
                                 v1::RunReconciliationResponse*) override;
  grpc::Status GetReconciliationReport(grpc::ServerContext*,
                                       const v1::GetReconciliationReportRequest*,
                                       v1::GetReconciliationReportResponse*) override;
  grpc::Status HandleChannelNotification(grpc::ServerContext*,
                                         const v1::HandleChannelNotificationRequest*,
                                         v1::HandleChannelNotificationResponse*) override;

 private:
  PaymentManager& m_;
  Reconciler& recon_;
};

}  // namespace orderly::payment
