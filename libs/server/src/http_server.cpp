#include "orderly/server/http_server.hpp"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace orderly::server {

std::string HttpRequest::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int kWriteTimeoutMs = 5000;
constexpr int kStopPollMs = 100;  // how soon a connection waiting for bytes notices Stop()
// The Debian library is built with httplib's default limit per request or header line.
constexpr size_t kMaxLineBytes = CPPHTTPLIB_HEADER_MAX_LENGTH;
constexpr size_t kMaxRequestsPerConnection = 100000;
constexpr size_t kCompactBytes = 64 << 10;

// The methods httplib routes (it answers CONNECT, TRACE and PRI with 404 itself).
const std::set<std::string, std::less<>> kRoutedMethods = {"GET",   "HEAD",   "POST",   "PUT",
                                                           "PATCH", "DELETE", "OPTIONS"};

std::string_view Reason(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    default: return "Error";
  }
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (c == '\0' || std::strchr("!#$%&'*+-.^_`|~", c) == nullptr)) return false;
  }
  return true;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool HasControlBytes(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\r' && c != '\n' && c != '\t') || u == 0x7f) return true;
  }
  return false;
}

// The verdict on the request head at the front of a connection's buffer.
struct HeadCheck {
  enum Outcome { kIncomplete, kOk, kReject } outcome = kIncomplete;
  int status = 400;
  std::string message;
  bool keep_alive = true;
};

// httplib 0.11 is lenient where leniency lets a request be framed two ways (a header line without
// a colon is dropped, the first of two Content-Lengths wins, "-1" wraps around), and it waits for a
// line end that binary garbage never sends. So the head is checked here first, as strictly as
// RFC 9112 allows; what passes, httplib parses.
HeadCheck CheckHead(std::string_view in, const HttpServerOptions& opts) {
  HeadCheck r;
  auto reject = [&r](int status, std::string message) {
    r.outcome = HeadCheck::kReject;
    r.status = status;
    r.message = std::move(message);
    return r;
  };
  const size_t head_end = in.find("\r\n\r\n");
  const std::string_view seen = in.substr(0, std::min(in.size(), opts.max_header_bytes));
  if (head_end == std::string_view::npos) {
    if (HasControlBytes(seen)) return reject(400, "malformed request");
    if (in.size() > opts.max_header_bytes) return reject(431, "request headers too large");
    return r;
  }
  if (head_end + 4 > opts.max_header_bytes) return reject(431, "request headers too large");
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < head_end;) {
    const size_t eol = in.find("\r\n", pos);
    lines.push_back(in.substr(pos, eol - pos));
    pos = eol + 2;
  }
  // Request line: METHOD SP origin-form SP HTTP/1.x.
  const std::string_view line = lines.front();
  if (line.size() > kMaxLineBytes) return reject(431, "request line too long");
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return reject(400, "malformed request line");
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method) || target.empty() || target.front() != '/' || HasControlBytes(target) ||
      target.find_first_of(" \t\r\n") != std::string_view::npos ||
      (version != "HTTP/1.1" && version != "HTTP/1.0")) {
    return reject(400, "malformed request line");
  }
  std::map<std::string, std::string> headers;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view h = lines[i];
    if (h.size() > kMaxLineBytes) return reject(431, "request header too long");
    const size_t colon = h.find(':');
    // No obsolete line folding, no space before the colon (request smuggling vectors).
    if (colon == std::string_view::npos || !IsToken(h.substr(0, colon))) {
      return reject(400, "malformed header");
    }
    const std::string_view value = Trim(h.substr(colon + 1));
    if (HasControlBytes(value) || value.find_first_of("\r\n") != std::string_view::npos) {
      return reject(400, "malformed header value");
    }
    auto [it, inserted] = headers.emplace(ToLower(h.substr(0, colon)), std::string(value));
    if (!inserted) {
      if (it->first == "content-length" || it->first == "transfer-encoding") {
        return reject(400, "repeated " + it->first);
      }
      it->second.append(", ").append(value);
    }
  }
  if (kRoutedMethods.count(method) == 0) return reject(501, "method not implemented");
  const auto te = headers.find("transfer-encoding");
  const auto cl = headers.find("content-length");
  if (te != headers.end()) {
    // httplib reads a GET's or an OPTIONS' body whole, without a limit; they need none.
    if (method == "GET" || method == "HEAD" || method == "OPTIONS") {
      return reject(400, "no chunked body on " + std::string(method));
    }
    // httplib decodes chunked and nothing else; both headers at once is how smuggling starts.
    if (ToLower(te->second) != "chunked") return reject(501, "only chunked transfer-encoding");
    if (cl != headers.end()) return reject(400, "content-length with transfer-encoding");
  }
  if (cl != headers.end()) {
    const std::string& v = cl->second;
    if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos) {
      return reject(400, "bad content-length");
    }
    if (std::stoull(v) > opts.max_body_bytes) return reject(413, "request body too large");
  }
  const std::string connection = headers.count("connection") ? ToLower(headers["connection"]) : "";
  r.keep_alive = version == "HTTP/1.0" ? connection.find("keep-alive") != std::string::npos
                                       : connection.find("close") == std::string::npos;
  r.outcome = HeadCheck::kOk;
  return r;
}

// A connection's socket as httplib reads and writes it, buffered so that the head can be checked
// before httplib parses it, and pipelined requests stay in order.
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(int fd, int read_timeout_ms, const std::atomic<bool>& stopping)
      : fd_(fd), read_timeout_ms_(read_timeout_ms), stopping_(stopping) {}

  std::string_view Buffered() const { return std::string_view(buf_).substr(pos_); }

  // Waits up to timeout_ms (less if the server stops) for more bytes: 1 read, 0 the peer closed,
  // -1 nothing came, -2 a socket error or Stop().
  int Fill(int timeout_ms) {
    const auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
      if (stopping_.load()) return -2;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now())
              .count();
      if (left <= 0) return -1;
      pollfd p{fd_, POLLIN, 0};
      const int ready = poll(&p, 1, static_cast<int>(std::min<int64_t>(left, kStopPollMs)));
      if (ready < 0 && errno != EINTR) return -2;
      if (ready <= 0) continue;
      // Drop what httplib consumed, also under a client that never stops pipelining.
      if (pos_ == buf_.size() || pos_ > kCompactBytes) {
        buf_.erase(0, pos_);
        pos_ = 0;
      }
      char chunk[16384];
      const ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n > 0) {
        buf_.append(chunk, static_cast<size_t>(n));
        return 1;
      }
      if (n == 0) return 0;
      if (errno != EINTR && errno != EAGAIN) return -2;
    }
  }

  bool is_readable() const override {
    if (pos_ < buf_.size()) return true;
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, read_timeout_ms_) > 0;
  }

  bool is_writable() const override {
    pollfd p{fd_, POLLOUT, 0};
    return poll(&p, 1, kWriteTimeoutMs) > 0;
  }

  ssize_t read(char* ptr, size_t size) override {
    if (pos_ == buf_.size()) {
      const int got = Fill(read_timeout_ms_);
      if (got <= 0) return got == 0 ? 0 : -1;
    }
    const size_t n = std::min(size, buf_.size() - pos_);
    std::memcpy(ptr, buf_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    size_t off = 0;
    while (off < size) {
      const ssize_t n = send(fd_, ptr + off, size - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && is_writable()) {
        continue;
      } else {
        return -1;
      }
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (getpeername(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) Describe(addr, ip, port);
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) Describe(addr, ip, port);
  }

  ::socket_t socket() const override { return fd_; }

 private:
  static void Describe(const sockaddr_storage& addr, std::string& ip, int& port) {
    char text[INET6_ADDRSTRLEN] = {};
    if (addr.ss_family == AF_INET6) {
      const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
      inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof(text));
      port = ntohs(a.sin6_port);
    } else {
      const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
      inet_ntop(AF_INET, &a.sin_addr, text, sizeof(text));
      port = ntohs(a.sin_port);
    }
    ip = text;
  }

  const int fd_;
  const int read_timeout_ms_;
  const std::atomic<bool>& stopping_;
  std::string buf_;
  size_t pos_ = 0;
};

// httplib's ThreadPool has a fixed size, and a connection holds its thread while idle: with two
// threads, two idle keep-alive clients would starve everyone else. This pool starts threads as
// connections arrive, up to a cap (the connection cap closes what exceeds it at once).
class ConnectionThreads final : public httplib::TaskQueue {
 public:
  ConnectionThreads(size_t initial, size_t max) : max_(std::max<size_t>(1, max)) {
    std::lock_guard<std::mutex> lock(mu_);
    while (threads_.size() < std::min(initial, max_)) threads_.emplace_back([this] { Run(); });
  }

  void enqueue(std::function<void()> fn) override {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(fn));
    if (jobs_.size() > idle_ && threads_.size() < max_) threads_.emplace_back([this] { Run(); });
    cv_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      shutdown_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();  // enqueue() is over: httplib's accept loop has ended
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      ++idle_;
      cv_.wait(lock, [this] { return shutdown_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty()) return;  // shutting down, and every accepted connection was served
      std::function<void()> fn = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
    }
  }

  const size_t max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool shutdown_ = false;
};

// What the connection loop and the route handler share about the request being served; both run
// on the connection's thread.
struct Turn {
  bool keep_alive = true;
  bool must_close = false;  // the body could not be read to its end
  bool routed = false;      // our dispatch answered; otherwise httplib did
  int status = 0;
};
thread_local Turn t_turn;

void WriteReject(httplib::Stream& out, int status, const std::string& message) {
  const std::string body = message + "\n";
  const std::string response = "HTTP/1.1 " + std::to_string(status) + " " +
                               std::string(Reason(status)) +
                               "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  out.write(response.data(), response.size());
}

HttpResponse TextResponse(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.body.push_back('\n');
  return r;
}

}  // namespace

struct HttpServer::Impl {
  // httplib's server with its connection handling replaced (the head check, the caps and the
  // timeouts above); parsing, bodies, responses and the accept loop stay the library's.
  class Library final : public httplib::Server {
   public:
    explicit Library(Impl& impl) : impl_(impl) {}
    bool Process(httplib::Stream& s, bool close_connection, bool& connection_closed) {
      return process_request(s, close_connection, connection_closed, nullptr);
    }
    // httplib listens with a backlog of 5; a burst of connections would wait for SYN retries.
    void WidenBacklog() { ::listen(svr_sock_, SOMAXCONN); }

   private:
    bool process_and_close_socket(::socket_t sock) override {
      impl_.Serve(sock);
      return true;
    }
    Impl& impl_;
  };

  struct PrefixRoute {
    std::string method;
    std::string prefix;
    HttpHandler handler;
  };

  explicit Impl(HttpServerOptions o) : opts(std::move(o)) {}

  void Serve(int fd);
  // Reads the body through httplib, within max_body_bytes also when it comes chunked (httplib 0.11
  // has no limit of its own there), then dispatches.
  void ReadAndDispatch(const httplib::Request& in, httplib::Response& out,
                       const httplib::ContentReader& reader);
  void Dispatch(const httplib::Request& in, std::string body, httplib::Response& out);
  HttpResponse Route(const HttpRequest& req);
  const HttpHandler* Find(const std::string& method, const std::string& path) const;

  HttpServerOptions opts;
  std::map<std::pair<std::string, std::string>, HttpHandler> exact;  // (method, path)
  std::vector<PrefixRoute> prefixes;
  std::unique_ptr<Library> http;
  std::thread listener;
  std::atomic<bool> stopping{false};
  std::atomic<int> open_connections{0};
  bool started = false;
};

void HttpServer::Impl::Serve(int fd) {
  if (open_connections.fetch_add(1) >= opts.max_connections) {
    open_connections.fetch_sub(1);
    close(fd);
    return;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ConnectionStream stream(fd, opts.idle_timeout_ms, stopping);
  for (size_t served = 0; served < kMaxRequestsPerConnection && !stopping.load(); ++served) {
    HeadCheck head = CheckHead(stream.Buffered(), opts);
    while (head.outcome == HeadCheck::kIncomplete) {
      // Idle keep-alive and a half-sent head get the same time between bytes.
      if (stream.Fill(opts.idle_timeout_ms) <= 0) break;
      head = CheckHead(stream.Buffered(), opts);
    }
    if (head.outcome == HeadCheck::kIncomplete) break;
    if (head.outcome == HeadCheck::kReject) {
      WriteReject(stream, head.status, head.message);
      break;
    }
    const bool last = !head.keep_alive || served + 1 == kMaxRequestsPerConnection;
    t_turn = Turn{.keep_alive = !last};
    bool closed_by_request = false;
    if (!http->Process(stream, last, closed_by_request)) break;
    // An error httplib answered itself (a chunked body over the limit, a bad chunk) leaves the
    // rest of the request unread: the connection cannot carry another one.
    if (last || closed_by_request || t_turn.must_close ||
        (!t_turn.routed && t_turn.status >= 400)) {
      break;
    }
  }
  shutdown(fd, SHUT_RDWR);
  close(fd);
  open_connections.fetch_sub(1);
}

void HttpServer::Impl::ReadAndDispatch(const httplib::Request& in, httplib::Response& out,
                                       const httplib::ContentReader& reader) {
  // No Content-Length and no Transfer-Encoding: no body (RFC 9112 6.3). httplib's reader would
  // call that malformed; `curl -X POST url` sends exactly this.
  if (!in.has_header("Content-Length") && !in.has_header("Transfer-Encoding")) {
    Dispatch(in, std::string(), out);
    return;
  }
  std::string body;
  bool too_large = false;
  const bool read = reader([&](const char* data, size_t n) {
    if (body.size() + n > opts.max_body_bytes) {
      too_large = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (!read) {
    t_turn.routed = true;
    t_turn.must_close = true;
    out.status = too_large ? 413 : 400;
    out.set_header("Connection", "close");
    out.set_content(too_large ? "request body too large\n" : "malformed request body\n",
                    "text/plain; charset=utf-8");
    return;
  }
  Dispatch(in, std::move(body), out);
}

void HttpServer::Impl::Dispatch(const httplib::Request& in, std::string body,
                                httplib::Response& out) {
  t_turn.routed = true;
  HttpRequest req;
  req.method = in.method;
  const size_t q = in.target.find('?');
  req.path = in.target.substr(0, q);
  if (q != std::string::npos) req.query = in.target.substr(q + 1);
  for (const auto& [name, value] : in.headers) {
    // httplib adds the peer's and our address as pseudo headers.
    if (name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" ||
        name == "LOCAL_PORT") {
      continue;
    }
    auto [it, inserted] = req.headers.emplace(ToLower(name), value);
    if (!inserted) it->second.append(", ").append(value);
  }
  req.body = std::move(body);

  HttpResponse r = Route(req);
  out.status = r.status;
  if (!r.content_type.empty()) out.set_header("Content-Type", r.content_type);
  for (const auto& [name, value] : r.headers) {
    const std::string lower = ToLower(name);
    if (lower == "content-length" || lower == "connection" || lower == "content-type" ||
        lower == "transfer-encoding" || !IsToken(name)) {
      continue;
    }
    out.set_header(name, value);  // httplib drops values carrying CR or LF
  }
  if (t_turn.keep_alive) out.set_header("Connection", "keep-alive");
  out.body = std::move(r.body);
}

const HttpHandler* HttpServer::Impl::Find(const std::string& method,
                                          const std::string& path) const {
  if (auto it = exact.find({method, path}); it != exact.end()) return &it->second;
  const PrefixRoute* best = nullptr;
  for (const PrefixRoute& p : prefixes) {
    if (p.method == method && path.starts_with(p.prefix) &&
        (best == nullptr || p.prefix.size() > best->prefix.size())) {
      best = &p;
    }
  }
  return best == nullptr ? nullptr : &best->handler;
}

HttpResponse HttpServer::Impl::Route(const HttpRequest& req) {
  const HttpHandler* handler = Find(req.method, req.path);
  if (handler == nullptr && req.method == "HEAD") handler = Find("GET", req.path);
  if (handler == nullptr) {
    std::set<std::string> allowed;
    for (const auto& [key, h] : exact) {
      if (key.second == req.path) allowed.insert(key.first);
    }
    for (const PrefixRoute& p : prefixes) {
      if (req.path.starts_with(p.prefix)) allowed.insert(p.method);
    }
    if (allowed.empty()) return TextResponse(404, "not found");
    HttpResponse r = TextResponse(405, "method not allowed");
    std::string allow;
    for (const auto& method : allowed) allow += (allow.empty() ? "" : ", ") + method;
    r.headers["Allow"] = allow;
    return r;
  }
  try {
    return (*handler)(req);
  } catch (const std::exception& e) {
    spdlog::error("http: handler {} {} threw: {}", req.method, req.path, e.what());
  } catch (...) {
    spdlog::error("http: handler {} {} threw", req.method, req.path);
  }
  return TextResponse(500, "internal error");
}

HttpServer::HttpServer(HttpServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Handle(const std::string& method, const std::string& path, HttpHandler handler) {
  impl_->exact[{method, path}] = std::move(handler);
}

void HttpServer::HandlePrefix(const std::string& method, const std::string& prefix,
                              HttpHandler handler) {
  impl_->prefixes.push_back({method, prefix, std::move(handler)});
}

absl::Status HttpServer::Start() {
  Impl& m = *impl_;
  if (m.started) return absl::FailedPreconditionError("http server already started");
  m.stopping.store(false);
  m.http = std::make_unique<Impl::Library>(m);
  httplib::Server& http = *m.http;
  const HttpServerOptions& o = m.opts;
  http.new_task_queue = [&o] {
    return new ConnectionThreads(static_cast<size_t>(std::max(1, o.workers)),
                                 static_cast<size_t>(std::max(1, o.max_connections)) + 1);
  };
  // httplib's default adds SO_REUSEPORT, which would let a second instance share the port.
  http.set_socket_options([](::socket_t sock) {
    const int one = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  });
  http.set_payload_max_length(o.max_body_bytes);
  http.set_read_timeout(std::chrono::milliseconds(o.idle_timeout_ms));
  http.set_write_timeout(std::chrono::milliseconds(kWriteTimeoutMs));
  // Only advertised in the Keep-Alive header: the connection loop above enforces both.
  http.set_keep_alive_timeout(std::max(1, o.idle_timeout_ms / 1000));
  http.set_keep_alive_max_count(kMaxRequestsPerConnection);
  http.set_logger(
      [](const httplib::Request&, const httplib::Response& res) { t_turn.status = res.status; });
  // Every path to one dispatch, which routes by itself (exact, prefix, 404, 405 + Allow).
  const auto dispatch = [&m](const httplib::Request& in, httplib::Response& out) {
    m.Dispatch(in, in.body, out);  // a Content-Length body, within the limit by CheckHead
  };
  const auto read_and_dispatch = [&m](const httplib::Request& in, httplib::Response& out,
                                      const httplib::ContentReader& reader) {
    m.ReadAndDispatch(in, out, reader);
  };
  http.Get(".*", dispatch);  // HEAD comes here too
  http.Options(".*", dispatch);
  http.Post(".*", read_and_dispatch);
  http.Put(".*", read_and_dispatch);
  http.Patch(".*", read_and_dispatch);
  http.Delete(".*", read_and_dispatch);

  const int port = o.port == 0 ? m.http->bind_to_any_port(o.host)
                               : (m.http->bind_to_port(o.host, o.port) ? o.port : -1);
  if (port <= 0) {
    m.http.reset();
    return absl::UnavailableError("http: cannot listen on " + o.host + ":" +
                                  std::to_string(o.port));
  }
  m.http->WidenBacklog();
  port_ = port;
  m.listener = std::thread([&m] { m.http->listen_after_bind(); });
  // Stop() can only stop a server whose accept loop runs.
  for (int i = 0; i < 5000 && !m.http->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  m.started = true;
  return absl::OkStatus();
}

void HttpServer::Stop() {
  Impl& m = *impl_;
  if (!m.started) return;
  m.started = false;
  m.stopping.store(true);
  m.http->stop();  // closes the listener; the accept loop then waits for the connections' threads
  if (m.listener.joinable()) m.listener.join();
  m.http.reset();
}

std::map<std::string, std::string> ParseForm(const std::string& body) {
  httplib::Params params;
  httplib::detail::parse_query_text(body, params);
  std::map<std::string, std::string> out;
  for (auto& [key, value] : params) out.emplace(key, value);  // first occurrence wins
  return out;
}

std::string UrlEncode(const std::string& s) { return httplib::detail::encode_query_param(s); }

}  // namespace orderly::server
