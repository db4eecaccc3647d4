#pragma once
// The sandbox's HTTP/1.1 listener: thread per connection, one request per connection
// (Connection: close), routing by a handler that sees the whole path. Separate from
// orderly::server::HttpServer because WeChat Pay v3 puts ids in the path
// (/v3/pay/transactions/out-trade-no/{id}), which that server's exact-match routing cannot serve.
#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include <absl/status/status.h>

namespace orderly::sandbox {

struct Request {
  std::string method, path, query, body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string Header(const std::string& k) const {
    auto it = headers.find(k);
    return it == headers.end() ? "" : it->second;
  }
};
struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::map<std::string, std::string> headers;
};
using Handler = std::function<Response(const Request&)>;

class MiniHttpServer {
 public:
  MiniHttpServer(std::string host, int port, Handler handler);
  ~MiniHttpServer();
  absl::Status Start();
  void Stop();
  int port() const { return port_; }

 private:
  void AcceptLoop();
  void Serve(int fd);
  std::string host_;
  int port_;
  Handler handler_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
};

}  // namespace orderly::sandbox
