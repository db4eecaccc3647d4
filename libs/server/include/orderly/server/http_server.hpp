#pragma once
// A small HTTP/1.1 server for /metrics, /readyz, /healthz and the endpoints third parties call over
// HTTP (payment channel notifications). Keep-alive, Content-Length bodies (no chunked requests),
// a bounded worker pool, request size limits (413), and it never crashes on malformed input (400).
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <absl/status/status.h>

namespace orderly::server {

struct HttpRequest {
  std::string method;  // "GET", "POST"
  std::string path;    // without query
  std::string query;   // raw, without '?'
  std::map<std::string, std::string> headers;  // keys lower-cased
  std::string body;
  std::string Header(const std::string& lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::map<std::string, std::string> headers;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = ephemeral, see port()
  int workers = 4;
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;  // request line + headers; larger is 431
  int max_connections = 1024;          // further connections are closed at accept
  int idle_timeout_ms = 30000;         // idle keep-alive (or half-sent request) is closed after
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();
  // Exact path match; register before Start().
  void Handle(const std::string& method, const std::string& path, HttpHandler handler);
  absl::Status Start();
  void Stop();
  int port() const { return port_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

// Parses "a=1&b=x%20y" (application/x-www-form-urlencoded); '+' is a space.
std::map<std::string, std::string> ParseForm(const std::string& body);
std::string UrlEncode(const std::string& s);

}  // namespace orderly::server
