#pragma once
// A blocking HTTP/1.1 client for channel APIs and notification delivery: http:// and https://
// (OpenSSL, peer verified against the system trust store and the host name), one connection per
// call, Content-Length and chunked responses. Errors: connect failure = UNAVAILABLE (the request
// never left), a timeout after sending = DEADLINE_EXCEEDED (the channel may have acted on it: the
// caller must query before retrying money movements).
#include <chrono>
#include <map>
#include <string>

#include <absl/status/statusor.h>

namespace orderly::payment {

struct HttpClientRequest {
  std::string method = "GET";
  std::string url;  // http://host:port/path?query or https://...
  std::map<std::string, std::string> headers;
  std::string body;
  std::chrono::milliseconds timeout{3000};
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
absl::StatusOr<ParsedUrl> ParseUrl(const std::string& url);

}  // namespace orderly::payment
