#include "channel/http_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstring>

#include "orderly/core/absl_compat.hpp"

namespace orderly::payment {
namespace {

using Clock = std::chrono::steady_clock;

int RemainingMs(Clock::time_point deadline) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return ms < 0 ? 0 : static_cast<int>(ms);
}

bool WaitFd(int fd, short events, Clock::time_point deadline) {
  pollfd p{fd, events, 0};
  while (true) {
    int rc = ::poll(&p, 1, RemainingMs(deadline));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return false;
  }
}

SSL_CTX* SharedTlsContext() {
  static SSL_CTX* ctx = [] {
    SSL_CTX* c = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_default_verify_paths(c);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    return c;
  }();
  return ctx;
}

// One connection; plain or TLS.
class Conn {
 public:
  ~Conn() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }
  absl::Status Connect(const ParsedUrl& url, Clock::time_point deadline) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(url.host.c_str(), std::to_string(url.port).c_str(), &hints, &res) != 0 ||
        res == nullptr) {
      return absl::UnavailableError(ToAbsl("cannot resolve " + url.host));
    }
    fd_ = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc = fd_ < 0 ? -1 : ::connect(fd_, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0 && errno != EINPROGRESS) {
      return absl::UnavailableError(ToAbsl("connect " + url.host + ": " + strerror(errno)));
    }
    if (rc != 0) {
      if (!WaitFd(fd_, POLLOUT, deadline)) return absl::UnavailableError("connect timed out");
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        return absl::UnavailableError(ToAbsl("connect " + url.host + ":" + std::to_string(url.port) +
                                             ": " + strerror(err)));
      }
    }
    if (url.tls) {
      ssl_ = SSL_new(SharedTlsContext());
      SSL_set_fd(ssl_, fd_);
      SSL_set_tlsext_host_name(ssl_, url.host.c_str());
      SSL_set1_host(ssl_, url.host.c_str());
      while (true) {
        int r = SSL_connect(ssl_);
        if (r == 1) break;
        int e = SSL_get_error(ssl_, r);
        short ev = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (ev == 0 || !WaitFd(fd_, ev, deadline)) {
          ERR_clear_error();
          return absl::UnavailableError("TLS handshake failed");
        }
      }
    }
    return absl::OkStatus();
  }
  // Returns bytes written/read, 0 on EOF, -1 on error, -2 on timeout.
  long Write(const char* p, size_t n, Clock::time_point deadline) {
    while (true) {
      long w = ssl_ ? SSL_write(ssl_, p, static_cast<int>(n)) : ::send(fd_, p, n, MSG_NOSIGNAL);
      if (w > 0) return w;
      short ev = POLLOUT;
      if (ssl_) {
        int e = SSL_get_error(ssl_, static_cast<int>(w));
        if (e == SSL_ERROR_WANT_READ) ev = POLLIN;
        else if (e != SSL_ERROR_WANT_WRITE) return -1;
      } else if (errno != EAGAIN && errno != EINTR) {
        return -1;
      }
      if (!WaitFd(fd_, ev, deadline)) return -2;
    }
  }
  long Read(char* p, size_t n, Clock::time_point deadline) {
    while (true) {
      long r = ssl_ ? SSL_read(ssl_, p, static_cast<int>(n)) : ::recv(fd_, p, n, 0);
      if (r > 0) return r;
      if (r == 0 && !ssl_) return 0;
      short ev = POLLIN;
      if (ssl_) {
        int e = SSL_get_error(ssl_, static_cast<int>(r));
        if (e == SSL_ERROR_ZERO_RETURN) return 0;
        if (e == SSL_ERROR_WANT_WRITE) ev = POLLOUT;
        else if (e != SSL_ERROR_WANT_READ) return r == 0 ? 0 : -1;
      } else if (errno != EAGAIN && errno != EINTR) {
        return -1;
      }
      if (!WaitFd(fd_, ev, deadline)) return -2;
    }
  }

 private:
  int fd_ = -1;
  SSL* ssl_ = nullptr;
};

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

absl::StatusOr<std::string> DecodeChunked(const std::string& in) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t eol = in.find("\r\n", pos);
    if (eol == std::string::npos) return absl::DataLossError("chunked: truncated size line");
    size_t n = std::strtoul(in.substr(pos, eol - pos).c_str(), nullptr, 16);
    pos = eol + 2;
    if (n == 0) return out;
    if (pos + n > in.size()) return absl::DataLossError("chunked: truncated chunk");
    out.append(in, pos, n);
    pos += n + 2;
  }
}

}  // namespace

absl::StatusOr<ParsedUrl> ParseUrl(const std::string& url) {
  ParsedUrl u;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
    u.tls = true;
    u.port = 443;
  } else {
    return absl::InvalidArgumentError(ToAbsl("unsupported URL: " + url));
  }
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  size_t colon = hostport.rfind(':');
  if (colon != std::string::npos) {
    u.host = hostport.substr(0, colon);
    u.port = std::atoi(hostport.c_str() + colon + 1);
  } else {
    u.host = hostport;
  }
  if (u.host.empty() || u.port <= 0) return absl::InvalidArgumentError(ToAbsl("bad URL: " + url));
  return u;
}

absl::StatusOr<HttpClientResponse> HttpFetch(const HttpClientRequest& req) {
  auto url = ParseUrl(req.url);
  if (!url.ok()) return url.status();
  const auto deadline = Clock::now() + req.timeout;
  Conn conn;
  if (auto s = conn.Connect(*url, deadline); !s.ok()) return s;

  std::string head = req.method + " " + url->target + " HTTP/1.1\r\nHost: " + url->host + ":" +
                     std::to_string(url->port) + "\r\nConnection: close\r\n";
  bool has_ct = false;
  for (const auto& [k, v] : req.headers) {
    head += k + ": " + v + "\r\n";
    has_ct = has_ct || Lower(k) == "content-type";
  }
  if (!has_ct && !req.body.empty()) head += "Content-Type: application/octet-stream\r\n";
  head += "Content-Length: " + std::to_string(req.body.size()) + "\r\n\r\n";
  std::string out = head + req.body;
  size_t sent = 0;
  while (sent < out.size()) {
    long w = conn.Write(out.data() + sent, out.size() - sent, deadline);
    if (w == -2) return absl::DeadlineExceededError("timed out sending the request");
    if (w <= 0) return absl::UnavailableError("connection lost while sending");
    sent += static_cast<size_t>(w);
  }

  std::string in;
  char buf[16384];
  size_t header_end = std::string::npos;
  long content_length = -1;
  bool chunked = false;
  HttpClientResponse resp;
  while (true) {
    long r = conn.Read(buf, sizeof(buf), deadline);
    if (r == -2) return absl::DeadlineExceededError("timed out waiting for the response");
    if (r < 0) return absl::DeadlineExceededError("connection lost before the response completed");
    if (r == 0) break;
    in.append(buf, static_cast<size_t>(r));
    if (in.size() > (64u << 20)) return absl::ResourceExhaustedError("response too large");
    if (header_end == std::string::npos) {
      header_end = in.find("\r\n\r\n");
      if (header_end == std::string::npos) continue;
      size_t line_end = in.find("\r\n");
      std::string status_line = in.substr(0, line_end);
      size_t sp = status_line.find(' ');
      if (sp == std::string::npos) return absl::DataLossError("bad status line");
      resp.status = std::atoi(status_line.c_str() + sp + 1);
      size_t pos = line_end + 2;
      while (pos < header_end) {
        size_t eol = in.find("\r\n", pos);
        std::string line = in.substr(pos, eol - pos);
        pos = eol + 2;
        size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.erase(0, 1);
        resp.headers[Lower(line.substr(0, colon))] = v;
      }
      if (auto cl = resp.Header("content-length"); !cl.empty()) content_length = std::atol(cl.c_str());
      chunked = Lower(resp.Header("transfer-encoding")).find("chunked") != std::string::npos;
    }
    if (header_end != std::string::npos && content_length >= 0 &&
        in.size() - header_end - 4 >= static_cast<size_t>(content_length)) {
      break;
    }
    if (chunked && in.size() >= 5 && in.compare(in.size() - 5, 5, "0\r\n\r\n") == 0) break;
  }
  if (header_end == std::string::npos) return absl::DeadlineExceededError("no response headers");
  std::string body = in.substr(header_end + 4);
  if (chunked) {
    auto decoded = DecodeChunked(body);
    if (!decoded.ok()) return decoded.status();
    body = std::move(*decoded);
  } else if (content_length >= 0) {
    if (body.size() < static_cast<size_t>(content_length)) {
      return absl::DeadlineExceededError("response body truncated");
    }
    body.resize(static_cast<size_t>(content_length));
  }
  resp.body = std::move(body);
  return resp;
}

}  // namespace orderly::payment
