// The adapters against the channel sandbox running in this process, each side with its own code:
// the sandbox checks every request the adapters sign (Alipay RSA2, the WeChat Pay Authorization
// header, UnionPay's signature and certId) with
// services/channel-sandbox/src/channel_signatures.cpp, and the adapters check every answer the
// sandbox signs with services/payment/channel. A signing bug on either side fails here; a test that
// signed and verified with one piece of code could not see it. Keys are the sandbox's fresh
// throwaway keys; the adapters hold only the merchant halves.
#include <gtest/gtest.h>

#include <filesystem>

#include "channel/channel.hpp"
#include "channel/http_client.hpp"
#include "channel/key_dir.hpp"
#include "channel_sandbox.hpp"
#include "orderly/testing/env.hpp"
#include "sandbox_keys.hpp"

namespace orderly::payment {
namespace {

using namespace std::chrono_literals;

class SandboxInteropTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(std::filesystem::temp_directory_path().string() + "/orderly_interop_" +
                           testing::UniqueSuffix());
    sandbox::SandboxOptions o;
    o.port = 0;
    o.key_dir = *dir_;
    o.notify_attempts = 1;  // nobody listens on the notify URL here
    o.refund_delay = 100ms;
    sandbox_ = new sandbox::ChannelSandbox(o);
    auto s = sandbox_->Start();
    ASSERT_TRUE(s.ok()) << s;
  }
  static void TearDownTestSuite() {
    delete sandbox_;
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override {
    auto c = ChannelConfigsFromKeyDir(*dir_, Base(), "http://127.0.0.1:1");
    ASSERT_TRUE(c.ok()) << c.status();
    configs_ = *c;
    fresh_ = *sandbox::GenerateKeyPair();
  }
  static std::string Base() { return "http://127.0.0.1:" + std::to_string(sandbox_->port()); }

  static int Pay(const std::string& channel, const std::string& out_trade_no) {
    HttpClientRequest req;
    req.method = "POST";
    req.url = Base() + "/sandbox/pay?channel=" + channel + "&out_trade_no=" + out_trade_no;
    auto r = HttpFetch(req);
    return r.ok() ? r->status : 0;
  }

  std::vector<std::pair<std::string, ChannelPtr>> Channels() {
    std::vector<std::pair<std::string, ChannelPtr>> out;
    auto clock = SystemClock::Shared();
    out.emplace_back("alipay", *MakeAlipayChannel(configs_.alipay, clock));
    out.emplace_back("wechatpay", *MakeWechatPayChannel(configs_.wechat, clock));
    out.emplace_back("unionpay", *MakeUnionPayChannel(configs_.unionpay, clock));
    return out;
  }

  static std::string* dir_;
  static sandbox::ChannelSandbox* sandbox_;
  ChannelConfigs configs_;
  sandbox::KeyPair fresh_;  // a key neither side trusts
};
std::string* SandboxInteropTest::dir_ = nullptr;
sandbox::ChannelSandbox* SandboxInteropTest::sandbox_ = nullptr;

TEST_F(SandboxInteropTest, EveryChannelCreatesQueriesPaysAndRefundsThroughTheSandbox) {
  const auto now = std::chrono::system_clock::now();
  for (auto& [name, ch] : Channels()) {
    SCOPED_TRACE(name);
    const std::string id = "interop-" + name + "-" + testing::UniqueSuffix();
    auto created = ch->CreatePayment(
        {id, 1234, "CNY", "interop", v1::PAYMENT_METHOD_NATIVE_QR, now, now + 15min});
    ASSERT_TRUE(created.ok()) << created.status();
    EXPECT_NE(created->qr_code.find(id), std::string::npos);
    TradeRef ref{id, "", 1234, "CNY", now};
    auto pending = ch->QueryPayment(ref);
    ASSERT_TRUE(pending.ok()) << pending.status();
    EXPECT_EQ(pending->state, TradeState::kPending);
    ASSERT_EQ(Pay(name, id), 200);
    auto paid = ch->QueryPayment(ref);
    ASSERT_TRUE(paid.ok()) << paid.status();
    EXPECT_EQ(paid->state, TradeState::kSucceeded);
    EXPECT_EQ(paid->amount_minor, 1234);
    ASSERT_FALSE(paid->transaction_id.empty());
    ref.transaction_id = paid->transaction_id;
    auto refund = ch->Refund({ref, id + "-r1", 234, "interop", now});
    ASSERT_TRUE(refund.ok()) << refund.status();
    EXPECT_NE(refund->state, RefundState::kFailed);
    EXPECT_EQ(refund->amount_minor, 234);
  }
}

TEST_F(SandboxInteropTest, ClosedTradesReadBackClosed) {
  const auto now = std::chrono::system_clock::now();
  for (auto& [name, ch] : Channels()) {
    if (name == "unionpay") continue;  // its gateway has no close: the QR lapses
    SCOPED_TRACE(name);
    const std::string id = "interop-close-" + name + "-" + testing::UniqueSuffix();
    ASSERT_TRUE(
        ch->CreatePayment({id, 500, "CNY", "", v1::PAYMENT_METHOD_NATIVE_QR, now, now + 15min})
            .ok());
    TradeRef ref{id, "", 500, "CNY", now};
    ASSERT_TRUE(ch->ClosePayment(ref).ok());
    auto closed = ch->QueryPayment(ref);
    ASSERT_TRUE(closed.ok()) << closed.status();
    EXPECT_EQ(closed->state, TradeState::kClosed);
  }
}

// The sandbox's verifier refuses a request signed with a key that is not the merchant's.
TEST_F(SandboxInteropTest, TheSandboxRefusesRequestsSignedWithAnotherKey) {
  auto clock = SystemClock::Shared();
  const auto now = std::chrono::system_clock::now();
  const ChannelCreateRequest req{
      "interop-forged", 100, "CNY", "", v1::PAYMENT_METHOD_NATIVE_QR, now, now + 15min};
  configs_.alipay.merchant_private_key_pem = fresh_.private_pem;
  configs_.wechat.merchant_private_key_pem = fresh_.private_pem;
  configs_.unionpay.merchant_private_key_pem = fresh_.private_pem;
  auto alipay = (*MakeAlipayChannel(configs_.alipay, clock))->CreatePayment(req);
  EXPECT_NE(alipay.status().message().find("isv.invalid-signature"), std::string::npos)
      << alipay.status();
  auto wechat = (*MakeWechatPayChannel(configs_.wechat, clock))->CreatePayment(req);
  EXPECT_NE(wechat.status().message().find("SIGN_ERROR"), std::string::npos) << wechat.status();
  auto unionpay = (*MakeUnionPayChannel(configs_.unionpay, clock))->CreatePayment(req);
  EXPECT_NE(unionpay.status().message().find("respCode 11"), std::string::npos)
      << unionpay.status();
}

// The adapters refuse the sandbox's answers when they expect another channel key.
TEST_F(SandboxInteropTest, TheAdaptersRefuseAnswersSignedByAnotherKey) {
  auto clock = SystemClock::Shared();
  const auto now = std::chrono::system_clock::now();
  const std::string id = "interop-rogue-" + testing::UniqueSuffix();
  for (auto& [name, ch] : Channels()) {
    ASSERT_TRUE(
        ch->CreatePayment({id, 100, "CNY", "", v1::PAYMENT_METHOD_NATIVE_QR, now, now + 15min})
            .ok())
        << name;
  }
  const TradeRef ref{id, "", 100, "CNY", now};
  configs_.alipay.alipay_public_key_pem = fresh_.public_pem;
  configs_.wechat.platform_public_key_pem = fresh_.public_pem;
  std::string rogue_key;
  configs_.unionpay.root_cert_pem = *sandbox::SelfSignedCertificate("Some Root", &rogue_key);
  EXPECT_EQ((*MakeAlipayChannel(configs_.alipay, clock))->QueryPayment(ref).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*MakeWechatPayChannel(configs_.wechat, clock))->QueryPayment(ref).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*MakeUnionPayChannel(configs_.unionpay, clock))->QueryPayment(ref).status().code(),
            absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace orderly::payment
