#pragma once
// The HTTP(S) client for channel APIs and bill downloads, on libcurl: TLS peer and host name
// verified against the system trust store (TLS 1.2 at least), http/https only, no redirects, a
// connect deadline and a total deadline on every call, connections kept alive and reused through
// one curl handle per thread. Errors: the request never left (resolve, connect, TLS handshake,
// connect timeout) = UNAVAILABLE; sent but no complete answer in time = DEADLINE_EXCEEDED (the
// channel may have acted on it: the caller must query before retrying money movements).
#include <absl/status/statusor.h>

#include <chrono>
#include <map>
#include <string>

namespace orderly::payment {

struct HttpClientRequest {
  std::string method = "GET";
  std::string url;  // http://host:port/path?query or https://...
  std::map<std::string, std::string> headers;
  std::string body;
  std::chrono::milliseconds timeout{3000};          // the whole call
  std::chrono::milliseconds connect_timeout{1000};  // TCP + TLS; capped at timeout
};

struct HttpClientResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string Header(const std::string& lower) const {
    auto it = headers.find(lower);
    return it == headers.end() ? "" : it->second;
  }
};

absl::StatusOr<HttpClientResponse> HttpFetch(const HttpClientRequest& request);

struct ParsedUrl {
  bool tls = false;
  std::string host;
  int port = 80;
  std::string target;  // path + query, "/" at least
};
// Through libcurl's URL parser; INVALID_ARGUMENT for anything but an absolute http(s) URL.
absl::StatusOr<ParsedUrl> ParseUrl(const std::string& url);

}  // namespace orderly::payment
