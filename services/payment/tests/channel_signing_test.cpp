// Pure tests of the channel signing styles and notification parsers, including a randomized
// garbage/mutation run (10k bodies per channel) that must never crash and never accept a change.
// Notifications are signed, sealed and encoded by the channel sandbox's own code
// (services/channel-sandbox), which shares nothing with the adapters under test.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "channel/channel.hpp"
#include "channel/crypto.hpp"
#include "channel/key_dir.hpp"
#include "channel/protocol.hpp"
#include "channel/wire_util.hpp"
#include "channel_signatures.hpp"
#include "orderly/testing/env.hpp"
#include "sandbox_keys.hpp"

namespace orderly::payment {
namespace {

using sandbox::kSandboxAlipayAppId;
using sandbox::kSandboxUnionpayMerId;
using sandbox::kSandboxWechatMchId;
using sandbox::kSandboxWechatPlatformSerial;
using sandbox::SandboxKeys;
using wire::Json;
using wire::Params;
namespace signatures = sandbox::signatures;

class ChannelSigningTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(std::filesystem::temp_directory_path().string() + "/orderly_paykeys_" +
                           testing::UniqueSuffix());
    ASSERT_TRUE(sandbox::EnsureSandboxKeys(*dir_).ok());
    keys_ = new SandboxKeys(*sandbox::LoadSandboxKeys(*dir_));
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete keys_;
    delete dir_;
  }
  void SetUp() override {
    auto c = ChannelConfigsFromKeyDir(*dir_, "http://127.0.0.1:1", "http://127.0.0.1:2");
    ASSERT_TRUE(c.ok()) << c.status();
    clock_ = SystemClock::Shared();
    alipay_ = *MakeAlipayChannel(c->alipay, clock_);
    wechat_ = *MakeWechatPayChannel(c->wechat, clock_);
    unionpay_ = *MakeUnionPayChannel(c->unionpay, clock_);
  }

  std::string AlipayNotify(int64_t amount, bool forge) {
    Params p{{"notify_id", "n1"},
             {"notify_type", "trade_status_sync"},
             {"app_id", kSandboxAlipayAppId},
             {"sign_type", "RSA2"},
             {"out_trade_no", "pay-1"},
             {"trade_no", "2026112222001"},
             {"trade_status", "TRADE_SUCCESS"},
             {"total_amount", wire::FormatYuan(amount)},
             {"gmt_payment", "2026-11-22 10:00:00"}};
    auto key = *sandbox::crypto::LoadPrivateKey(forge ? keys_->alipay_app_private
                                                      : keys_->alipay_platform_private);
    p["sign"] = *signatures::AlipaySignNotification(key, p);
    return wire::EncodeForm(p);
  }

  std::pair<std::string, std::map<std::string, std::string>> WechatNotify(int64_t amount,
                                                                          bool forge,
                                                                          int64_t skew_s = 0) {
    std::string res = Json{{"mchid", kSandboxWechatMchId},
                           {"out_trade_no", "pay-2"},
                           {"transaction_id", "4200001"},
                           {"trade_state", "SUCCESS"},
                           {"success_time", "2026-11-22T10:00:00+08:00"},
                           {"amount", Json{{"total", amount}, {"currency", "CNY"}}}}
                          .dump();
    auto resource = *signatures::WechatSealResource(keys_->wechat_apiv3_key, "transaction", res);
    std::string body =
        Json{{"id", "evt-1"}, {"event_type", "TRANSACTION.SUCCESS"}, {"resource", resource}}.dump();
    std::string ts = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(clock_->Now().time_since_epoch()).count() +
        skew_s);
    auto key = *sandbox::crypto::LoadPrivateKey(forge ? keys_->wechat_merchant_private
                                                      : keys_->wechat_platform_private);
    std::map<std::string, std::string> h{
        {"wechatpay-timestamp", ts},
        {"wechatpay-nonce", "N1"},
        {"wechatpay-serial", kSandboxWechatPlatformSerial},
        {"wechatpay-signature", *signatures::WechatPlatformSignature(key, ts, "N1", body)}};
    return {body, h};
  }

  std::string UnionpayNotify(int64_t amount, const std::string& cert, const std::string& key_pem) {
    Params p{{"version", "5.1.0"},
             {"encoding", "UTF-8"},
             {"signMethod", "01"},
             {"txnType", "01"},
             {"merId", kSandboxUnionpayMerId},
             {"orderId", "pay-3"},
             {"queryId", "7001"},
             {"txnAmt", std::to_string(amount)},
             {"currencyCode", "156"},
             {"respCode", "00"},
             {"txnTime", "20261122100000"},
             {"signPubKeyCert", cert}};
    EXPECT_TRUE(signatures::UnionpaySign(*sandbox::crypto::LoadPrivateKey(key_pem), p).ok());
    return wire::EncodeForm(p);
  }

  static std::string* dir_;
  static SandboxKeys* keys_;
  ClockPtr clock_;
  ChannelPtr alipay_, wechat_, unionpay_;
};
std::string* ChannelSigningTest::dir_ = nullptr;
SandboxKeys* ChannelSigningTest::keys_ = nullptr;

TEST(CryptoTest, Base64IsStrictAndRoundTrips) {
  for (std::string s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    auto d = crypto::Base64Decode(crypto::Base64Encode(s));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, s);
  }
  EXPECT_FALSE(crypto::Base64Decode("ab$=").ok());
  EXPECT_FALSE(crypto::Base64Decode("abc").ok());
  EXPECT_FALSE(crypto::Base64Decode("a=bc").ok());
}

TEST(CryptoTest, AesGcmDetectsTampering) {
  std::string key(32, 'k');
  auto ct = sandbox::crypto::Aes256GcmSeal(key, "nonce0123456", "aad", "hello");
  ASSERT_TRUE(ct.ok());
  EXPECT_EQ(*crypto::AesGcmDecrypt(key, "nonce0123456", "aad", *ct), "hello");
  std::string bad = *ct;
  bad[0] ^= 1;
  EXPECT_FALSE(crypto::AesGcmDecrypt(key, "nonce0123456", "aad", bad).ok());
  EXPECT_FALSE(crypto::AesGcmDecrypt(key, "nonce0123456", "other", *ct).ok());
}

TEST(WireTest, AmountsFormsAndRawJson) {
  EXPECT_EQ(wire::FormatYuan(1234), "12.34");
  EXPECT_EQ(wire::FormatYuan(5), "0.05");
  EXPECT_EQ(*wire::ParseYuan("12.3"), 1230);
  EXPECT_EQ(*wire::ParseYuan("7"), 700);
  for (const char* bad : {"", "1.234", "-1", "1.", ".5", "1e3", "12,34", "99999999999999999999"})
    EXPECT_FALSE(wire::ParseYuan(bad).ok()) << bad;
  EXPECT_FALSE(wire::ParseFormStrict("a=%zz").ok());
  EXPECT_FALSE(wire::ParseFormStrict("a=1&a=2").ok());
  EXPECT_FALSE(wire::ParseFormStrict("a=%ff%fe").ok());  // not UTF-8
  EXPECT_EQ((*wire::ParseFormStrict("a=x%20y&b=%E4%BD%A0"))["b"], "\xE4\xBD\xA0");
  EXPECT_EQ(*wire::RawJsonMember(R"({"x_response":{"a":"}\"","b":[1,{"c":2}]},"sign":"S"})",
                                 "x_response"),
            R"({"a":"}\"","b":[1,{"c":2}]})");
  EXPECT_EQ(*wire::RawJsonMember(R"({"a":"sign","sign":"S"})", "sign"), "\"S\"");
  EXPECT_FALSE(wire::RawJsonMember("not json", "a").has_value());
}

TEST_F(ChannelSigningTest, AlipayNotifyVerifiesAndRejectsForgery) {
  auto n = alipay_->ParseNotification(AlipayNotify(1234, false), {});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->trade.state, TradeState::kSucceeded);
  EXPECT_EQ(n->trade.amount_minor, 1234);
  EXPECT_EQ(n->trade.transaction_id, "2026112222001");
  EXPECT_EQ(alipay_->ParseNotification(AlipayNotify(1234, true), {}).status().code(),
            absl::StatusCode::kUnauthenticated);
  // Changing a signed field after signing breaks the signature.
  std::string body = AlipayNotify(1234, false);
  body.replace(body.find("total_amount=12.34"), 18, "total_amount=99.99");
  EXPECT_EQ(alipay_->ParseNotification(body, {}).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(alipay_->Ack(true, "").body, "success");
}

// Alipay signs every field of a notification, empty ones as "key=" (its SDKs verify it that way:
// Node checkNotifySign, Java getSignCheckContentV1); the signed text is spelled out here, not built
// by protocol::, so a verifier that drops empty values fails.
TEST_F(ChannelSigningTest, AlipayNotifyWithAnEmptyFieldVerifiesOverKeyEquals) {
  std::string signed_text =
      "app_id=" + std::string(kSandboxAlipayAppId) +
      "&body=&gmt_payment=2026-11-22 "
      "10:00:00&notify_id=n2&notify_type=trade_status_sync&out_trade_no=pay-1"
      "&passback_params=&total_amount=12.34&trade_no=2026112222002&trade_status=TRADE_SUCCESS";
  auto key = *crypto::PrivateKeyFromPem(keys_->alipay_platform_private);
  Params p{{"app_id", kSandboxAlipayAppId},
           {"body", ""},
           {"gmt_payment", "2026-11-22 10:00:00"},
           {"notify_id", "n2"},
           {"notify_type", "trade_status_sync"},
           {"out_trade_no", "pay-1"},
           {"passback_params", ""},
           {"total_amount", "12.34"},
           {"trade_no", "2026112222002"},
           {"trade_status", "TRADE_SUCCESS"},
           {"sign_type", "RSA2"},
           {"sign", *crypto::SignSha256Rsa(key, signed_text)}};
  auto n = alipay_->ParseNotification(wire::EncodeForm(p), {});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->trade.amount_minor, 1234);
  // Dropping the empty field changes the signed text.
  p.erase("body");
  EXPECT_EQ(alipay_->ParseNotification(wire::EncodeForm(p), {}).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(ChannelSigningTest, WechatNotifyDecryptsVerifiesAndRefusesReplays) {
  auto [body, headers] = WechatNotify(500, false);
  auto n = wechat_->ParseNotification(body, headers);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->trade.amount_minor, 500);
  EXPECT_EQ(n->trade.out_trade_no, "pay-2");
  auto forged = WechatNotify(500, true);
  EXPECT_EQ(wechat_->ParseNotification(forged.first, forged.second).status().code(),
            absl::StatusCode::kUnauthenticated);
  auto old = WechatNotify(500, false, -3600);
  EXPECT_EQ(wechat_->ParseNotification(old.first, old.second).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(wechat_->ParseNotification(body, {}).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(wechat_->Ack(true, "").http_status, 204);
}

TEST_F(ChannelSigningTest, UnionpayNotifyNeedsACertificateFromTheTrustedRoot) {
  auto n = unionpay_->ParseNotification(
      UnionpayNotify(700, keys_->unionpay_signer_cert, keys_->unionpay_signer_private), {});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->trade.amount_minor, 700);
  EXPECT_EQ(n->trade.transaction_id, "7001");
  // A self-made certificate with the right CN but another root is refused.
  std::string rogue_key;
  auto rogue_cert = *sandbox::SelfSignedCertificate(sandbox::kSandboxUnionpaySignerCn, &rogue_key);
  EXPECT_EQ(
      unionpay_->ParseNotification(UnionpayNotify(700, rogue_cert, rogue_key), {}).status().code(),
      absl::StatusCode::kUnauthenticated);
  // The merchant's own certificate chains to the root but is not UnionPay's signer.
  EXPECT_EQ(unionpay_
                ->ParseNotification(UnionpayNotify(700, keys_->unionpay_merchant_cert,
                                                   keys_->unionpay_merchant_private),
                                    {})
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
}

// 10k garbage and mutated bodies per channel: never a crash, never an accepted change.
TEST_F(ChannelSigningTest, FuzzedNotificationBodiesNeverCrashOrChangeTheTrade) {
  std::mt19937_64 rng(20261122);
  auto [wbody, wheaders] = WechatNotify(500, false);
  struct Case {
    Channel* ch;
    std::string valid;
    std::map<std::string, std::string> headers;
  };
  std::vector<Case> cases{
      {alipay_.get(), AlipayNotify(1234, false), {}},
      {wechat_.get(), wbody, wheaders},
      {unionpay_.get(),
       UnionpayNotify(700, keys_->unionpay_signer_cert, keys_->unionpay_signer_private),
       {}}};
  for (auto& c : cases) {
    auto good = c.ch->ParseNotification(c.valid, c.headers);
    ASSERT_TRUE(good.ok());
    int accepted = 0;
    for (int i = 0; i < 10000; ++i) {
      std::string body;
      switch (i % 5) {
        case 0: {  // random bytes
          body.resize(rng() % 600);
          for (auto& ch : body) ch = static_cast<char>(rng());
          break;
        }
        case 1: body = c.valid.substr(0, rng() % c.valid.size()); break;  // truncated
        case 2: {                                                         // flipped bytes
          body = c.valid;
          for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k)
            body[rng() % body.size()] ^= static_cast<char>(1 + rng() % 255);
          break;
        }
        case 3:
          body = std::string(70000 + rng() % 1000, static_cast<char>('a' + rng() % 26));
          break;    // huge
        default: {  // wrong encoding: latin-1 / overlong UTF-8 spliced in
          body = c.valid;
          body.insert(rng() % body.size(), (rng() & 1) ? "%C0%AF\xC0\xAF" : "\xE9t\xE9");
        }
      }
      auto n = c.ch->ParseNotification(body, c.headers);
      if (n.ok()) {
        ++accepted;
        EXPECT_EQ(n->trade.out_trade_no, good->trade.out_trade_no);
        EXPECT_EQ(n->trade.amount_minor, good->trade.amount_minor);
        EXPECT_EQ(n->trade.transaction_id, good->trade.transaction_id);
      } else {
        EXPECT_TRUE(n.status().code() == absl::StatusCode::kUnauthenticated ||
                    n.status().code() == absl::StatusCode::kInvalidArgument)
            << n.status();
      }
    }
    EXPECT_LT(accepted, 200) << ChannelName(c.ch->id());
  }
}

// The sandbox writes the bill (its own code), the adapters read it.
TEST(BillCsvTest, RoundTripsAndRejectsDamage) {
  std::vector<sandbox::BillLine> in(2);
  in[0].out_trade_no = "p1";
  in[0].transaction_id = "t1";
  in[0].amount_fen = 1234;
  in[0].currency = "CNY";
  in[1].refund = true;
  in[1].out_trade_no = "p1";
  in[1].out_refund_no = "r1";
  in[1].amount_fen = 100;
  in[1].currency = "CNY";
  auto out = ParseBillCsv(sandbox::BillCsv(in));
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[1].out_refund_no, "r1");
  EXPECT_FALSE(ParseBillCsv("garbage").ok());
  EXPECT_FALSE(ParseBillCsv(sandbox::BillCsv(in) + "payment,x,y\n").ok());
}

}  // namespace
}  // namespace orderly::payment
