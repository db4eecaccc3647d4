#include "channel/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <memory>

#include "orderly/core/absl_compat.hpp"

namespace orderly::payment {
namespace {

constexpr size_t kMaxResponseBytes = 64u << 20;

struct Exchange {
  HttpClientResponse* response;
  bool too_large = false;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  if (x->response->body.size() + size * n > kMaxResponseBytes) {
    x->too_large = true;
    return 0;  // aborts the transfer
  }
  x->response->body.append(data, size * n);
  return size * n;
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {
    x->response->headers.clear();  // a new header block (after a 100 Continue)
  } else if (size_t colon = line.find(':'); colon != std::string::npos) {
    std::string v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    x->response->headers[Lower(line.substr(0, colon))] = v;
  }
  return size * n;
}

// One handle per thread: libcurl keeps its connection cache, DNS cache and TLS sessions in the
// handle, so calls from the same thread reuse a kept-alive connection to the channel.
CURL* ThreadHandle() {
  static const CURLcode global = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (global != CURLE_OK) return nullptr;
  thread_local std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> handle(curl_easy_init(),
                                                                          curl_easy_cleanup);
  if (handle) curl_easy_reset(handle.get());
  return handle.get();
}

bool NeverSent(CURLcode rc, CURL* c) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SEND_ERROR:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT: return true;
    case CURLE_OPERATION_TIMEDOUT: {
      // Timed out before the request went out (connect or handshake): it never reached the channel.
      curl_off_t pretransfer = 0;
      curl_easy_getinfo(c, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
      return pretransfer == 0;
    }
    default: return false;
  }
}

}  // namespace

absl::StatusOr<ParsedUrl> ParseUrl(const std::string& url) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), curl_url_cleanup);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return absl::InvalidArgumentError(ToAbsl("bad URL: " + url));
  }
  auto part = [&](CURLUPart what, unsigned flags) -> std::string {
    char* p = nullptr;
    if (curl_url_get(u.get(), what, &p, flags) != CURLUE_OK || p == nullptr) return "";
    std::string out(p);
    curl_free(p);
    return out;
  };
  ParsedUrl out;
  const std::string scheme = part(CURLUPART_SCHEME, 0);
  if (scheme != "http" && scheme != "https")
    return absl::InvalidArgumentError(ToAbsl("unsupported URL: " + url));
  out.tls = scheme == "https";
  out.host = part(CURLUPART_HOST, 0);
  out.port = std::atoi(part(CURLUPART_PORT, CURLU_DEFAULT_PORT).c_str());
  std::string path = part(CURLUPART_PATH, 0);
  out.target = path.empty() ? std::string("/") : std::move(path);
  if (std::string q = part(CURLUPART_QUERY, 0); !q.empty()) out.target.append("?").append(q);
  if (out.host.empty() || out.port <= 0)
    return absl::InvalidArgumentError(ToAbsl("bad URL: " + url));
  return out;
}

absl::StatusOr<HttpClientResponse> HttpFetch(const HttpClientRequest& req) {
  if (auto url = ParseUrl(req.url); !url.ok()) return url.status();
  CURL* c = ThreadHandle();
  if (c == nullptr) return absl::InternalError("libcurl unavailable");
  HttpClientResponse resp;
  Exchange x{&resp};
  curl_slist* list = nullptr;
  bool has_content_type = false;
  for (const auto& [k, v] : req.headers) {
    list = curl_slist_append(list, (k + ": " + v).c_str());
    has_content_type = has_content_type || Lower(k) == "content-type";
  }
  if (!has_content_type && !req.body.empty())
    list = curl_slist_append(list, "Content-Type: application/octet-stream");
  list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(list, curl_slist_free_all);

  const auto total = std::max<long>(1, static_cast<long>(req.timeout.count()));
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   std::min<long>(total, static_cast<long>(req.connect_timeout.count())));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, total);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
  if (req.method == "GET" && req.body.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    if (req.method != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  const CURLcode rc = curl_easy_perform(c);
  // The handle outlives this call; it must not point at our locals.
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  if (rc != CURLE_OK) {
    const std::string what = req.method + " " + req.url + ": " + curl_easy_strerror(rc);
    if (x.too_large) return absl::ResourceExhaustedError("response too large");
    if (NeverSent(rc, c)) return absl::UnavailableError(ToAbsl(what));
    return absl::DeadlineExceededError(ToAbsl(what));
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  resp.status = static_cast<int>(status);
  return resp;
}

}  // namespace orderly::payment
