// orderly-channel-sandbox: the fake third-party payment channels (WeChat Pay v3, Alipay, UnionPay)
// on loopback, default http://127.0.0.1:9110.
//
//   orderly-channel-sandbox [--port=9110] [--key_dir=...]      serve
//   orderly-channel-sandbox --init_keys                          only create the throwaway keys
//   orderly-channel-sandbox pay <channel> <out_trade_no>         pay a trade (the buyer's action)
//   orderly-channel-sandbox fault drop=1 duplicate=5 ...         set fault switches
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <iostream>

#include "channel_sandbox.hpp"
#include "channel_wire.hpp"
#include "notify_client.hpp"
#include "orderly/core/config.hpp"
#include "orderly/core/logging.hpp"
#include "sandbox_keys.hpp"

namespace {
volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

std::string DefaultKeyDir() {
  const char* root = std::getenv("ORDERLY_ROOT");
  return std::string(root && *root ? root : ".") + "/.local/channel-sandbox/keys";
}

int Client(const std::string& port, const std::string& path, const std::string& body) {
  auto resp = orderly::sandbox::HttpPost("http://127.0.0.1:" + port + path,
                                         {{"Content-Type", "application/x-www-form-urlencoded"}},
                                         body, std::chrono::seconds(10));
  if (!resp.ok()) {
    std::cerr << "sandbox not reachable on port " << port << ": " << resp.status() << "\n";
    return 1;
  }
  std::cout << resp->body << "\n";
  return resp->status == 200 ? 0 : 1;
}
}  // namespace

int main(int argc, char** argv) {
  std::string port_env =
      std::getenv("ORDERLY_SANDBOX_PORT") ? std::getenv("ORDERLY_SANDBOX_PORT") : "9110";
  if (argc >= 2 && std::string(argv[1]) == "pay") {
    if (argc < 4) {
      std::cerr << "usage: orderly-channel-sandbox pay <alipay|wechatpay|unionpay> <out_trade_no> "
                   "[force]\n";
      return 2;
    }
    std::string body = "channel=" + orderly::sandbox::PercentEncode(argv[2]) +
                       "&out_trade_no=" + orderly::sandbox::PercentEncode(argv[3]) +
                       (argc > 4 ? "&force=1" : "");
    return Client(port_env, "/sandbox/pay", body);
  }
  if (argc >= 2 && std::string(argv[1]) == "fault") {
    std::string body;
    for (int i = 2; i < argc; ++i) body += (body.empty() ? "" : "&") + std::string(argv[i]);
    return Client(port_env, "/sandbox/faults", body);
  }

  orderly::Config config("orderly-channel-sandbox");
  config.Define("host", "127.0.0.1", "address to listen on");
  config.Define("port", port_env, "HTTP port (ORDERLY_SANDBOX_PORT)");
  config.Define("http_port", "", "alias of --port (ServiceProcess passes it)");
  config.Define("grpc_port", "", "ignored (the sandbox has no gRPC)");
  config.Define("key_dir", DefaultKeyDir(),
                "where the throwaway channel keys live (created when missing)");
  config.Define("public_base", "",
                "base URL merchants use to reach the sandbox (default http://host:port)");
  config.Define("refund_delay", "1s", "async refunds (WeChat Pay, UnionPay) succeed after this");
  config.Define("refund_timeout", "5s",
                "how long a refund call stalls under the refund_timeout fault");
  config.Define("notify_retry", "1s", "first re-send delay of a failed notification (doubles)");
  config.Define("notify_attempts", "4", "deliveries per notification before giving up");
  config.Define("init_keys", "false", "create the keys and exit");
  config.Define("log_level", "info", "log level");
  if (auto s = config.Parse(argc, argv); !s.ok()) {
    if (s.code() == absl::StatusCode::kCancelled) return 0;
    std::cerr << s.message() << "\n" << config.Usage();
    return 2;
  }
  orderly::log::Init("channel-sandbox", config.Get("log_level"));
  if (config.GetBool("init_keys")) {
    auto s = orderly::sandbox::EnsureSandboxKeys(config.Get("key_dir"));
    if (!s.ok()) {
      std::cerr << s << "\n";
      return 1;
    }
    std::cout << config.Get("key_dir") << "\n";
    return 0;
  }
  orderly::sandbox::SandboxOptions o;
  o.host = config.Get("host");
  o.port = static_cast<int>(config.Get("http_port").empty() ? config.GetInt("port")
                                                            : config.GetInt("http_port"));
  o.key_dir = config.Get("key_dir");
  o.public_base = config.Get("public_base");
  o.refund_delay = config.GetDuration("refund_delay");
  o.refund_timeout = config.GetDuration("refund_timeout");
  o.notify_retry = config.GetDuration("notify_retry");
  o.notify_attempts = static_cast<int>(config.GetInt("notify_attempts"));
  orderly::sandbox::ChannelSandbox sandbox(o);
  if (auto s = sandbox.Start(); !s.ok()) {
    spdlog::critical("channel sandbox cannot start: {}", s.ToString());
    return 1;
  }
  spdlog::info("channel sandbox (alipay, wechatpay, unionpay) on http://{}:{} keys in {}", o.host,
               sandbox.port(), o.key_dir);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  sandbox.Stop();
  return 0;
}
