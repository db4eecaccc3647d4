// The gRPC surface end to end (real server on port 0, real PostgreSQL and Redis): status codes
// and google.rpc details on the wire, roles, and a reservation's life through the RPCs.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <future>

#include "inventory_fixture.hpp"
#include "inventory_grpc_service.hpp"
#include "inventory_proto.hpp"
#include "orderly/server/service_host.hpp"

namespace orderly::inventory::testing {
namespace {

class GrpcTest : public InventoryFixture {
 protected:
  void SetUp() override {
    InventoryFixture::SetUp();
    if (HasFatalFailure()) return;
    ORDERLY_ASSERT_OK_AND_ASSIGN(auto ro, orderly::testing::RedisOptionsFromEnv());
    ORDERLY_ASSERT_OK_AND_ASSIGN(redis_, redis::Client::Create(ro));
    store_ = std::make_unique<RedisFlashSaleStore>(*redis_);
    MakeReservations(store_.get());
    flash_ = std::make_unique<FlashSaleManager>(*repo_, *store_, *reservations_, clock_);
    service_ = std::make_unique<InventoryGrpcService>(*catalog_, *reservations_, flash_.get());
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(service_.get());
    server::AddCallInterceptors(b);  // as every ServiceHost does
    server_ = b.BuildAndStart();
    ASSERT_GT(port, 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::InventoryService::NewStub(channel_);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    InventoryFixture::TearDown();
  }

  std::unique_ptr<grpc::ClientContext> Ctx(const std::string& role) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!role.empty()) {
      ctx->AddMetadata("x-user-role", role);
      ctx->AddMetadata("x-user-id", role == "merchant" ? "m1" : "caller");
    }
    return ctx;
  }

  redis::ClientPtr redis_;
  std::unique_ptr<RedisFlashSaleStore> store_;
  std::unique_ptr<FlashSaleManager> flash_;
  std::unique_ptr<InventoryGrpcService> service_;
  // Sends raw bytes as the request of `method` (what a client nobody here wrote may send).
  grpc::Status RawCall(const std::string& method, const std::string& bytes) {
    grpc::GenericStub generic(channel_);
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-user-role", "admin");
    ctx.AddMetadata("x-user-id", "caller");
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1), response;
    std::promise<grpc::Status> done;
    generic.UnaryCall(&ctx, "/orderly.inventory.v1.InventoryService/" + method, {}, &request,
                      &response, [&](grpc::Status s) { done.set_value(std::move(s)); });
    return done.get_future().get();
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::InventoryService::Stub> stub_;
};

TEST_F(GrpcTest, AReservationsLifeThroughTheRpcs) {
  v1::UpsertSkuRequest up;
  *up.mutable_sku() = SkuToProto(Sku("a"));
  v1::UpsertSkuResponse up_resp;
  ASSERT_TRUE(stub_->UpsertSku(Ctx("admin").get(), up, &up_resp).ok());
  v1::ReceiveStockRequest rs;
  rs.set_sku_id("a");
  rs.set_quantity(5);
  rs.set_request_id("r1");
  v1::ReceiveStockResponse rs_resp;
  ASSERT_TRUE(stub_->ReceiveStock(Ctx("admin").get(), rs, &rs_resp).ok());
  EXPECT_EQ(rs_resp.stock().available(), 5);

  v1::ReserveRequest req;
  req.set_order_id("o1");
  auto* item = req.add_items();
  item->set_sku_id("a");
  item->set_quantity(2);
  *req.mutable_expires_at() = ToProtoTimestamp(std::chrono::system_clock::now() + 10min);
  req.set_order_type(common::v1::ORDER_TYPE_NORMAL);
  v1::ReserveResponse resp;
  ASSERT_TRUE(stub_->Reserve(Ctx("service").get(), req, &resp).ok());
  EXPECT_EQ(resp.reservation().state(), v1::RESERVATION_STATE_RESERVED);
  EXPECT_EQ(resp.reservation().lines(0).deduction_policy(), v1::DEDUCTION_POLICY_RESERVE_AT_ORDER);

  v1::ConfirmRequest c;
  c.set_order_id("o1");
  v1::ConfirmResponse c_resp;
  ASSERT_TRUE(stub_->Confirm(Ctx("service").get(), c, &c_resp).ok());
  EXPECT_EQ(c_resp.reservation().state(), v1::RESERVATION_STATE_CONFIRMED);
  EXPECT_EQ(c_resp.reservation().lines(0).state(), v1::RESERVATION_STATE_CONFIRMED);

  v1::ReleaseRequest rel;
  rel.set_order_id("o2");
  v1::ReleaseResponse rel_resp;
  ASSERT_TRUE(stub_->Release(Ctx("service").get(), rel, &rel_resp).ok());
  EXPECT_EQ(rel_resp.reservation().state(), v1::RESERVATION_STATE_RELEASED);
  EXPECT_EQ(rel_resp.reservation().lines_size(), 0);  // tombstone

  v1::GetStockRequest gs;
  gs.add_sku_ids("a");
  v1::GetStockResponse gs_resp;
  ASSERT_TRUE(stub_->GetStock(Ctx("merchant").get(), gs, &gs_resp).ok());
  EXPECT_EQ(gs_resp.stocks(0).sold(), 2);
  EXPECT_EQ(gs_resp.stocks(0).available(), 3);

  v1::CheckInvariantsRequest ci;
  v1::CheckInvariantsResponse ci_resp;
  ASSERT_TRUE(stub_->CheckInvariants(Ctx("admin").get(), ci, &ci_resp).ok());
  EXPECT_EQ(ci_resp.violations_size(), 0);
  EXPECT_EQ(ci_resp.checked_sku_count(), 1);
}

TEST_F(GrpcTest, ErrorsCarryTheirDetailsOverTheWire) {
  AddSku(Sku("a"), 1);
  v1::ReserveRequest req;
  req.set_order_id("o1");
  req.add_items()->set_sku_id("a");  // quantity 0
  v1::ReserveResponse resp;
  auto bad = FromGrpcStatus(stub_->Reserve(Ctx("service").get(), req, &resp));
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(ErrorFieldViolations(bad).size(), 1u);
  EXPECT_EQ(ErrorFieldViolations(bad)[0].field, "items[0].quantity");

  req.mutable_items(0)->set_quantity(2);
  auto short_stock = FromGrpcStatus(stub_->Reserve(Ctx("service").get(), req, &resp));
  EXPECT_EQ(short_stock.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(short_stock), "INSUFFICIENT_STOCK");
  EXPECT_EQ(ErrorMetadata(short_stock, "available"), "1");
  // Refusals are converted once per thread and reused: a repeat carries the same details, and
  // another SKU's refusal right after carries its own.
  AddSku(Sku("c"), 3);
  for (int i = 0; i < 3; ++i) {
    req.set_order_id("o-again-" + std::to_string(i));
    req.mutable_items(0)->set_sku_id(i == 2 ? "c" : "a");
    req.mutable_items(0)->set_quantity(i == 2 ? 4 : 2);
    auto again = FromGrpcStatus(stub_->Reserve(Ctx("service").get(), req, &resp));
    EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(ErrorReason(again), "INSUFFICIENT_STOCK");
    EXPECT_EQ(ErrorMetadata(again, "sku_id"), i == 2 ? "c" : "a");
    EXPECT_EQ(ErrorMetadata(again, "requested"), i == 2 ? "4" : "2");
    EXPECT_EQ(ErrorMetadata(again, "available"), i == 2 ? "3" : "1");
  }
  req.set_order_id("o1");

  req.mutable_items(0)->set_sku_id("ghost");
  auto missing = FromGrpcStatus(stub_->Reserve(Ctx("service").get(), req, &resp));
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorMetadata(missing, "sku_id"), "ghost");

  auto anonymous = FromGrpcStatus(stub_->Reserve(Ctx("").get(), req, &resp));
  EXPECT_EQ(anonymous.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ErrorReason(anonymous), "CALLER_UNKNOWN");
  auto buyer = FromGrpcStatus(stub_->Reserve(Ctx("buyer").get(), req, &resp));
  EXPECT_EQ(buyer.code(), absl::StatusCode::kPermissionDenied);
  v1::UpsertSkuRequest up;
  *up.mutable_sku() = SkuToProto(Sku("b"));
  v1::UpsertSkuResponse up_resp;
  EXPECT_EQ(stub_->UpsertSku(Ctx("service").get(), up, &up_resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Count("SELECT count(*) FROM reservations"), 0);
}

TEST_F(GrpcTest, FlashSaleThroughTheRpcs) {
  SkuRecord f = Sku("f");
  f.flash_sale = true;
  AddSku(f, 3);
  v1::WarmFlashSaleRequest w;
  w.set_sku_id("f");
  v1::WarmFlashSaleResponse w_resp;
  ASSERT_TRUE(stub_->WarmFlashSale(Ctx("admin").get(), w, &w_resp).ok());
  EXPECT_EQ(w_resp.loaded_quantity(), 3);
  int ok = 0;
  for (int i = 0; i < 5; ++i) {
    v1::ReserveRequest req;
    req.set_order_id("f" + std::to_string(i));
    auto* item = req.add_items();
    item->set_sku_id("f");
    item->set_quantity(1);
    req.set_order_type(common::v1::ORDER_TYPE_FLASH_SALE);
    v1::ReserveResponse resp;
    ok += stub_->Reserve(Ctx("service").get(), req, &resp).ok() ? 1 : 0;
  }
  EXPECT_EQ(ok, 3);
  v1::CheckInvariantsRequest ci;
  v1::CheckInvariantsResponse ci_resp;
  ASSERT_TRUE(stub_->CheckInvariants(Ctx("admin").get(), ci, &ci_resp).ok());
  EXPECT_EQ(ci_resp.violations_size(), 0);
}

// Issue 12.3: ids and strings are checked before anything reaches SQL. A NUL once truncated
// "x\0y" to "x" (Reserve and Confirm acted on "x"), a 1 MB product name was stored, a 1 MB id
// answered INTERNAL "index row requires 12024 bytes", and NOT_FOUND echoed a 1 MB id into its
// details (the client got RESOURCE_EXHAUSTED). Now: INVALID_ARGUMENT with field violations,
// nothing written, and no detail echoes more than a few dozen bytes of the input.
TEST_F(GrpcTest, MalformedIdsStringsAndNumbersAreInvalidArgumentAndWriteNothing) {
  AddSku(Sku("x"), 5);
  const std::string nul_id("x\0y", 3);
  const std::string huge(1 << 20, 'z');
  auto field_of = [](const absl::Status& s) {
    auto v = ErrorFieldViolations(s);
    return v.empty() ? std::string("<none>") : v[0].field;
  };

  v1::ReserveRequest reserve;
  reserve.set_order_id(nul_id);
  auto* item = reserve.add_items();
  item->set_sku_id("x");
  item->set_quantity(1);
  *reserve.mutable_expires_at() = ToProtoTimestamp(std::chrono::system_clock::now() + 10min);
  v1::ReserveResponse reserve_resp;
  auto r = FromGrpcStatus(stub_->Reserve(Ctx("service").get(), reserve, &reserve_resp));
  EXPECT_EQ(r.code(), absl::StatusCode::kInvalidArgument) << r;
  EXPECT_EQ(field_of(r), "order_id");
  v1::ConfirmRequest confirm;
  confirm.set_order_id(nul_id);
  v1::ConfirmResponse confirm_resp;
  auto c = FromGrpcStatus(stub_->Confirm(Ctx("service").get(), confirm, &confirm_resp));
  EXPECT_EQ(c.code(), absl::StatusCode::kInvalidArgument) << c;
  v1::GetReservationRequest get;
  get.set_order_id("x");
  v1::GetReservationResponse get_resp;
  EXPECT_EQ(stub_->GetReservation(Ctx("service").get(), get, &get_resp).error_code(),
            grpc::StatusCode::NOT_FOUND);  // nothing was reserved under the truncated id

  v1::UpsertSkuRequest up;
  *up.mutable_sku() = SkuToProto(Sku("big"));
  up.mutable_sku()->set_product_name(huge);
  v1::UpsertSkuResponse up_resp;
  auto u = FromGrpcStatus(stub_->UpsertSku(Ctx("admin").get(), up, &up_resp));
  EXPECT_EQ(u.code(), absl::StatusCode::kInvalidArgument) << u;
  EXPECT_EQ(field_of(u), "sku.product_name");
  *up.mutable_sku() = SkuToProto(Sku("big"));
  up.mutable_sku()->mutable_list_price()->set_amount_minor(INT64_MAX);
  up.mutable_sku()->set_purchase_limit(INT32_MAX);
  auto numbers = FromGrpcStatus(stub_->UpsertSku(Ctx("admin").get(), up, &up_resp));
  EXPECT_EQ(numbers.code(), absl::StatusCode::kInvalidArgument) << numbers;
  EXPECT_EQ(ErrorFieldViolations(numbers).size(), 2u);
  v1::GetSkusRequest skus;
  skus.add_sku_ids("big");
  v1::GetSkusResponse skus_resp;
  EXPECT_EQ(stub_->GetSkus(Ctx("").get(), skus, &skus_resp).error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::ReceiveStockRequest receive;
  receive.set_sku_id(huge);
  receive.set_quantity(1);
  receive.set_request_id("r-huge");
  v1::ReceiveStockResponse receive_resp;
  auto rs = FromGrpcStatus(stub_->ReceiveStock(Ctx("admin").get(), receive, &receive_resp));
  EXPECT_EQ(rs.code(), absl::StatusCode::kInvalidArgument) << rs.code();
  EXPECT_EQ(field_of(rs), "sku_id");
  v1::ReleaseRequest release;
  release.set_order_id(huge);
  release.set_reason(v1::RELEASE_REASON_ORDER_CANCELLED);
  v1::ReleaseResponse release_resp;
  EXPECT_EQ(stub_->Release(Ctx("service").get(), release, &release_resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::GetStockRequest stock;
  stock.add_sku_ids(std::string("x\0", 2));
  v1::GetStockResponse stock_resp;
  EXPECT_EQ(stub_->GetStock(Ctx("admin").get(), stock, &stock_resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // The longest id allowed, unknown: NOT_FOUND whose details echo a bounded part of it.
  skus.set_sku_ids(0, std::string(128, 'q'));
  grpc::Status missing = stub_->GetSkus(Ctx("").get(), skus, &skus_resp);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LT(missing.error_details().size(), 1024u);
  EXPECT_EQ(Level("x").available, 5);
  EXPECT_EQ(Level("x").reserved, 0);
}

// Issue 12.5: gRPC parses a request before any handler runs. Bytes that are not the method's
// protobuf, or a string field that is not UTF-8, answered INTERNAL with no details (sync
// handlers) or UNIMPLEMENTED (Reserve, a callback handler). The client's to fix: INVALID_ARGUMENT.
TEST_F(GrpcTest, RequestsThatDoNotParseAreInvalidArgument) {
  const std::string not_protobuf = "\xff\xff\xff\xff";
  const std::string bad_utf8 = std::string("\x0a\x02\xc0\xaf", 4);  // sku_ids[0] = C0 AF
  for (const std::string method : {"GetSkus", "Reserve", "Confirm", "UpsertSku"}) {
    for (const std::string* bytes : {&not_protobuf, &bad_utf8}) {
      const absl::Status s = FromGrpcStatus(RawCall(method, *bytes));
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << method << ": " << s;
      EXPECT_EQ(ErrorFieldViolations(s).size(), 1u) << method;
    }
  }
  // A request that parses still reaches its handler.
  v1::GetSkusRequest ok;
  ok.add_sku_ids("ghost");
  EXPECT_EQ(FromGrpcStatus(RawCall("GetSkus", ok.SerializeAsString())).code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace orderly::inventory::testing
