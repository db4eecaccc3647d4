// server::HandleCall, the edge every handler body runs through: requests pass the validation
// layer before the body, and no driver or SQL text leaves (issue 12.3): INTERNAL and statuses built
// from a driver's exception carry a generic message and an error id that the log line has too.
#include "orderly/server/handler.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "orderly/core/status.hpp"
#include "orderly/inventory/v1/inventory_service.pb.h"

namespace orderly::server {
namespace {

// Captures what the default logger writes while it lives.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)) {
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~LogCapture() { spdlog::default_logger()->sinks().pop_back(); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

std::string ErrorIdOf(const grpc::Status& g) {
  google::rpc::Status proto;
  if (!proto.ParseFromString(g.error_details())) return "";
  for (const auto& any : proto.details()) {
    google::rpc::RequestInfo info;
    if (any.UnpackTo(&info)) return info.serving_data();
  }
  return "";
}

TEST(HandleCallTest, SqlTextNeverLeavesAndTheLogHasItUnderTheErrorId) {
  const std::string sql = "pg sql error [22P02]: ERROR:  malformed array literal: \"x\"";
  for (absl::StatusCode code : {absl::StatusCode::kInternal, absl::StatusCode::kUnknown}) {
    LogCapture log;
    const grpc::Status g = HandleCall("GetSkus", [&] { return absl::Status(code, sql); });
    EXPECT_EQ(static_cast<int>(g.error_code()), static_cast<int>(code));
    EXPECT_EQ(g.error_message().find("malformed"), std::string::npos) << g.error_message();
    const std::string id = ErrorIdOf(g);
    ASSERT_EQ(id.rfind("error_id=", 0), 0u) << id;
    const std::string bare = id.substr(9);
    EXPECT_NE(g.error_message().find(bare), std::string::npos) << g.error_message();
    EXPECT_NE(log.text().find(bare), std::string::npos) << log.text();
    EXPECT_NE(log.text().find("malformed array literal"), std::string::npos) << log.text();
  }
}

TEST(HandleCallTest, DriverStatusesOfAnyCodeAreHiddenButKeepTheirCode) {
  absl::Status busy = absl::UnavailableError("pg broken connection: server closed the connection");
  MarkDriverError(busy);
  const grpc::Status g = HandleCall("Reserve", [&] { return busy; });
  EXPECT_EQ(g.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(g.error_message().find("server closed"), std::string::npos) << g.error_message();
  EXPECT_EQ(g.error_message().rfind("temporarily unavailable: retry", 0), 0u);
  // A status without google.rpc details was not made for clients either.
  const grpc::Status plain = HandleCall(
      "Reserve", [] { return absl::AlreadyExistsError("duplicate key value violates"); });
  EXPECT_EQ(plain.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(plain.error_message().find("duplicate key"), std::string::npos);
  // A status made for clients passes as it is.
  const grpc::Status domain = HandleCall("Reserve", [] {
    return FailedPreconditionError("INSUFFICIENT_STOCK", "sku/a",
                                   "SKU a: 2 requested, 1 available");
  });
  EXPECT_EQ(domain.error_message(), "SKU a: 2 requested, 1 available");
  // An exception is INTERNAL with an error id.
  const grpc::Status thrown =
      HandleCall("Reserve", []() -> absl::Status { throw std::runtime_error("boom SELECT"); });
  EXPECT_EQ(thrown.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(thrown.error_message().find("SELECT"), std::string::npos);
  EXPECT_FALSE(ErrorIdOf(thrown).empty());
}

TEST(HandleCallTest, TheRequestIsValidatedBeforeTheBodyRuns) {
  inventory::v1::ReceiveStockRequest req;
  req.set_sku_id(std::string(1 << 20, 'x'));
  req.set_request_id(std::string("r\0", 2));
  bool ran = false;
  const grpc::Status g = HandleCall("ReceiveStock", req, [&] {
    ran = true;
    return absl::OkStatus();
  });
  EXPECT_FALSE(ran);
  EXPECT_EQ(g.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const auto violations = ErrorFieldViolations(FromGrpcStatus(g));
  ASSERT_EQ(violations.size(), 2u);
  EXPECT_LE(g.error_details().size(), 4096u);
  req.set_sku_id("sku-1");
  req.set_request_id("r-1");
  EXPECT_TRUE(HandleCall("ReceiveStock", req, [&] {
                ran = true;
                return absl::OkStatus();
              }).ok());
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace orderly::server
