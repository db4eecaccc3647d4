#pragma once
// The HTTP side of a service: /metrics, /readyz, /healthz, operator endpoints and the endpoints
// third parties call (payment channel notifications), served by cpp-httplib. Around the library
// this adds what an endpoint facing other parties needs: every request head is checked strictly
// before the library parses it (400, 413 for a declared body over the limit, 431), a connection
// whose request could not be framed is closed, open connections are capped, idle ones time out,
// and routes match an exact path or a prefix, with 404 and 405 + Allow.
#include <absl/status/status.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace orderly::server {

struct HttpRequest {
  std::string method;                          // "GET", "POST"
  std::string path;                            // as sent, without query
  std::string query;                           // raw, without '?'
  std::map<std::string, std::string> headers;  // keys lower-cased
  std::string body;                            // Content-Length or chunked, decoded
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
  // httplib serves a connection on one thread for its whole life; this many start with the
  // server, more on demand, up to max_connections.
  int workers = 4;
  size_t max_body_bytes = 1 << 20;  // larger is 413
  // Request line + headers; larger, or one line over 8 KiB (httplib's own limit), is 431.
  size_t max_header_bytes = 16 << 10;
  int max_connections = 256;    // further connections are closed at accept
  int idle_timeout_ms = 30000;  // idle keep-alive (or half-sent request) is closed after
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();
  // Register before Start(). An exact path wins over a prefix; of prefixes, the longest wins.
  void Handle(const std::string& method, const std::string& path, HttpHandler handler);
  void HandlePrefix(const std::string& method, const std::string& prefix, HttpHandler handler);
  absl::Status Start();
  void Stop();  // idempotent; waits for requests being handled
  int port() const { return port_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

// Parses "a=1&b=x%20y" (application/x-www-form-urlencoded); '+' is a space; the first of
// repeated keys wins.
std::map<std::string, std::string> ParseForm(const std::string& body);
std::string UrlEncode(const std::string& s);

}  // namespace orderly::server
