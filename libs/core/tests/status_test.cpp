#include "orderly/core/status.hpp"

#include <gtest/gtest.h>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace orderly {
namespace {

TEST(StatusTest, ViolationsBuildBadRequest) {
  Violations v;
  EXPECT_TRUE(v.ToStatus().ok());
  v.Add("items[2].quantity", "must be between 1 and 999");
  v.Add("buyer_id", "required");
  absl::Status s = v.ToStatus("bad order");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "bad order");
  auto fv = ErrorFieldViolations(s);
  ASSERT_EQ(fv.size(), 2u);
  EXPECT_EQ(fv[0].field, "items[2].quantity");
  EXPECT_EQ(fv[0].description, "must be between 1 and 999");
  EXPECT_EQ(fv[1].field, "buyer_id");
  EXPECT_TRUE(s.GetPayload("type.googleapis.com/google.rpc.BadRequest").has_value());
}

TEST(StatusTest, NotFoundNamesTheResource) {
  absl::Status s = NotFoundError("order", "123", "ORDER_NOT_FOUND");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "order 123 not found");
  EXPECT_EQ(ErrorReason(s), "ORDER_NOT_FOUND");
  auto payload = s.GetPayload("type.googleapis.com/google.rpc.ResourceInfo");
  ASSERT_TRUE(payload.has_value());
  google::rpc::ResourceInfo info;
  ASSERT_TRUE(info.ParseFromString(std::string(*payload)));
  EXPECT_EQ(info.resource_type(), "order");
  EXPECT_EQ(info.resource_name(), "123");
}

TEST(StatusTest, FailedPreconditionCarriesInfoAndViolation) {
  absl::Status s = FailedPreconditionError("ORDER_NOT_CANCELLABLE", "order:9", "order is shipped",
                                           {{"state", "SHIPPED"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(s), "ORDER_NOT_CANCELLABLE");
  EXPECT_EQ(ErrorMetadata(s, "state"), "SHIPPED");
  EXPECT_EQ(ErrorMetadata(s, "missing"), "");
  auto payload = s.GetPayload("type.googleapis.com/google.rpc.PreconditionFailure");
  ASSERT_TRUE(payload.has_value());
  google::rpc::PreconditionFailure pf;
  ASSERT_TRUE(pf.ParseFromString(std::string(*payload)));
  ASSERT_EQ(pf.violations_size(), 1);
  EXPECT_EQ(pf.violations(0).type(), "ORDER_NOT_CANCELLABLE");
  EXPECT_EQ(pf.violations(0).subject(), "order:9");
  EXPECT_EQ(pf.violations(0).description(), "order is shipped");
}

TEST(StatusTest, ErrorInfoDomainIsOrderly) {
  absl::Status s = ErrorWithInfo(absl::StatusCode::kAborted, "retry", "TX_CONFLICT");
  auto payload = s.GetPayload("type.googleapis.com/google.rpc.ErrorInfo");
  ASSERT_TRUE(payload.has_value());
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(info.ParseFromString(std::string(*payload)));
  EXPECT_EQ(info.domain(), "orderly");
  EXPECT_EQ(info.reason(), "TX_CONFLICT");
}

TEST(StatusTest, PlainStatusHasNoDetails) {
  absl::Status s = absl::UnavailableError("db down");
  EXPECT_EQ(ErrorReason(s), "");
  EXPECT_TRUE(ErrorFieldViolations(s).empty());
  grpc::Status g = ToGrpcStatus(s);
  EXPECT_EQ(g.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(g.error_message(), "db down");
  EXPECT_TRUE(g.error_details().empty());
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(StatusTest, RoundTripThroughGrpcKeepsEverything) {
  Violations v;
  v.Add("quantity", "must be positive");
  absl::Status original = v.ToStatus("invalid order");
  original.SetPayload("type.googleapis.com/google.rpc.ErrorInfo",
                      absl::Cord(ErrorWithInfo(absl::StatusCode::kInvalidArgument, "x",
                                               "BAD_QUANTITY", {{"max", "999"}})
                                     .GetPayload("type.googleapis.com/google.rpc.ErrorInfo")
                                     .value()));

  grpc::Status g = ToGrpcStatus(original);
  EXPECT_EQ(g.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(g.error_message(), "invalid order");
  google::rpc::Status wire;
  ASSERT_TRUE(wire.ParseFromString(g.error_details()));
  EXPECT_EQ(wire.code(), 3);
  EXPECT_EQ(wire.message(), "invalid order");
  EXPECT_EQ(wire.details_size(), 2);

  absl::Status back = FromGrpcStatus(g);
  EXPECT_EQ(back.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(back.message(), "invalid order");
  EXPECT_EQ(ErrorReason(back), "BAD_QUANTITY");
  EXPECT_EQ(ErrorMetadata(back, "max"), "999");
  auto fv = ErrorFieldViolations(back);
  ASSERT_EQ(fv.size(), 1u);
  EXPECT_EQ(fv[0].field, "quantity");
  EXPECT_EQ(fv[0].description, "must be positive");
  EXPECT_EQ(back, original);
}

TEST(StatusTest, EveryCodeSurvivesRoundTrip) {
  for (int c = 1; c <= 16; ++c) {
    const auto code = static_cast<absl::StatusCode>(c);
    absl::Status s = ErrorWithInfo(code, "m", "R");
    absl::Status back = FromGrpcStatus(ToGrpcStatus(s));
    EXPECT_EQ(back.code(), code);
    EXPECT_EQ(ErrorReason(back), "R");
  }
}

TEST(StatusTest, GarbageDetailsKeepCodeAndMessage) {
  absl::Status s = FromGrpcStatus(grpc::Status(grpc::StatusCode::ABORTED, "conflict", "\xff\xff"));
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(s.message(), "conflict");
  EXPECT_EQ(ErrorReason(s), "");
}

}  // namespace
// Issue 12.3: a 1 MB id echoed into ErrorInfo metadata / ResourceInfo made a trailer the client
// refused (RESOURCE_EXHAUSTED instead of NOT_FOUND). What leaves is bounded whatever built it.
TEST(StatusTest, DetailsAndMessagesNeverEchoUnboundedInput) {
  const std::string huge(1 << 20, 'x');
  const grpc::Status nf = ToGrpcStatus(NotFoundError("order", huge, "ORDER_NOT_FOUND"));
  EXPECT_EQ(nf.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LE(nf.error_message().size(), 512u);
  EXPECT_LE(nf.error_details().size(), 4096u);
  const absl::Status back = FromGrpcStatus(nf);
  EXPECT_EQ(ErrorReason(back), "ORDER_NOT_FOUND");
  EXPECT_LE(ErrorMetadata(back, "resource_name").size(), 100u);

  const grpc::Status info = ToGrpcStatus(ErrorWithInfo(absl::StatusCode::kAborted, "stale " + huge,
                                                       "STALE_VERSION", {{"order_id", huge}}));
  EXPECT_LE(info.error_message().size(), 512u);
  EXPECT_LE(info.error_details().size(), 4096u);
  EXPECT_EQ(ErrorReason(FromGrpcStatus(info)), "STALE_VERSION");

  std::vector<FieldViolation> many;
  for (int i = 0; i < 1000; ++i) many.push_back({"sku_ids[" + std::to_string(i) + "]", huge});
  const grpc::Status bad = ToGrpcStatus(InvalidArgumentError("bad", many));
  EXPECT_LE(bad.error_details().size(), 4096u);
  EXPECT_FALSE(ErrorFieldViolations(FromGrpcStatus(bad)).empty());

  // A plain status built with the input in its message is cut as well.
  EXPECT_LE(ToGrpcStatus(absl::InvalidArgumentError(huge)).error_message().size(), 512u);
}

}  // namespace orderly
