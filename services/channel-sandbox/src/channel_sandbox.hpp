#pragma once
// The channel sandbox: an in-memory third party for WeChat Pay, Alipay and UnionPay. It verifies
// the merchant's signed requests and signs its answers and notifications with its own (throwaway)
// keys, like the real channels. Fault switches make it misbehave on purpose.
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "channel_wire.hpp"
#include "orderly/core/clock.hpp"
#include "orderly/payment/v1/payment.pb.h"
#include "orderly/server/http_server.hpp"
#include "sandbox_crypto.hpp"
#include "sandbox_keys.hpp"

namespace orderly::sandbox {

// The HTTP side is the platform server (cpp-httplib): the sandbox routes every path itself, since
// WeChat Pay v3 puts ids in the path (/v3/pay/transactions/out-trade-no/{id}).
using Request = server::HttpRequest;
using Response = server::HttpResponse;

using PaymentChannel = payment::v1::PaymentChannel;

struct SandboxOptions {
  std::string host = "127.0.0.1";
  int port = 9110;
  std::string key_dir;
  std::string public_base;                       // how merchants reach us; default http://host:port
  std::chrono::milliseconds refund_delay{1000};  // async refunds (WeChat, UnionPay) succeed after
  std::chrono::milliseconds refund_timeout{5000};  // how long a "timing out" refund call stalls
  std::chrono::milliseconds notify_retry{1000};    // first re-send after a failed delivery
  int notify_attempts = 4;
};

// Fault switches (POST /sandbox/faults). Counters apply to the next N notifications / calls.
struct Faults {
  int drop = 0;            // notifications never sent
  int duplicate = 0;       // the next notification is sent this many times
  int64_t delay_ms = 0;    // every notification is held this long
  int reorder = 0;         // the next N notifications are held and sent in reverse order
  int wrong_amount = 0;    // signed correctly but with amount + 1
  int bad_signature = 0;   // signature corrupted
  int refund_timeout = 0;  // refund calls stall past the client's timeout, yet succeed
  double error_rate = 0;   // share of API calls answered with a channel system error
};

class ChannelSandbox {
 public:
  explicit ChannelSandbox(SandboxOptions options);
  ~ChannelSandbox();
  absl::Status Start();
  void Stop();
  int port() const { return server_ ? server_->port() : 0; }

 private:
  struct Trade {
    PaymentChannel channel;
    std::string out_trade_no, transaction_id, currency, notify_url, description;
    int64_t amount = 0;
    std::string state = "PENDING";  // PENDING, SUCCEEDED, CLOSED
    TimePoint created_at, paid_at;
    std::string txn_time;  // UnionPay's txnTime of the order
  };
  struct RefundRec {
    PaymentChannel channel;
    std::string out_refund_no, out_trade_no, refund_id, notify_url, txn_time;
    int64_t amount = 0;
    std::string state = "PROCESSING";  // PROCESSING, SUCCEEDED
    TimePoint created_at, done_at;
  };
  struct Outgoing {
    TimePoint due;
    std::string url, body;
    std::map<std::string, std::string> headers;
    int attempt = 0;
    std::string what;
  };

  Response Route(const Request& req);
  Response Alipay(const Request& req);
  Response Wechat(const Request& req);
  Response Unionpay(const Request& req);
  Response Control(const Request& req);

  // Called with mu_ held.
  bool InjectError();
  void PayLocked(Trade& t);
  void QueueTradeNotification(const Trade& t);
  void QueueRefundNotification(const RefundRec& r);
  void Enqueue(Outgoing o, bool allow_faults, int64_t* amount_to_tamper);
  void SettleRefundsLocked();
  std::vector<BillLine> BillLocked(PaymentChannel c, const std::string& date);

  std::string AlipayNotifyBody(const Trade& t, int64_t amount, bool corrupt);
  Outgoing WechatNotification(const std::string& url, const std::string& event,
                              const std::string& resource_json, bool corrupt);
  std::string UnionpayNotifyBody(const std::map<std::string, std::string>& fields, bool corrupt);

  void DeliveryLoop();
  std::string NewTransactionId(PaymentChannel c);

  SandboxOptions options_;
  SandboxKeys keys_;
  crypto::PKey alipay_merchant_pub_, alipay_platform_priv_, wechat_merchant_pub_,
      wechat_platform_priv_, unionpay_signer_priv_, unionpay_merchant_pub_;
  std::string unionpay_merchant_cert_id_;
  std::unique_ptr<server::HttpServer> server_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::pair<int, std::string>, Trade> trades_;
  std::map<std::pair<int, std::string>, RefundRec> refunds_;
  std::vector<BillLine> planted_;
  Faults faults_;
  std::vector<Outgoing> held_;  // reorder
  std::vector<Outgoing> queue_;
  std::mt19937_64 rng_{std::random_device{}()};
  int64_t seq_ = 0;
  std::map<std::string, int64_t> stats_;
  bool stopping_ = false;
  std::thread delivery_;
  std::thread settler_;
};

}  // namespace orderly::sandbox
