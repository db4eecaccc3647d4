#include "orderly/server/http_server.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <unordered_map>

#include <spdlog/spdlog.h>

namespace orderly::server {

std::string HttpRequest::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr uint64_t kListenerId = 0;
constexpr uint64_t kWakeId = 1;
constexpr int kWriteTimeoutMs = 5000;
constexpr int kMaxRequestsPerTurn = 64;  // then yield the worker to other connections

std::string_view Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status < 400 ? "OK" : "Error";
  }
}

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

bool ContainsToken(std::string_view value, std::string_view token) {
  return ToLower(value).find(token) != std::string::npos;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A request line is METHOD SP target SP HTTP/1.x; anything else is not HTTP we speak.
bool ParseRequestLine(std::string_view line, HttpRequest* req, bool* http10) {
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return false;
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method) || target.empty() || target.front() != '/') return false;
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  if (version == "HTTP/1.1") {
    *http10 = false;
  } else if (version == "HTTP/1.0") {
    *http10 = true;
  } else {
    return false;
  }
  req->method = std::string(method);
  const size_t q = target.find('?');
  req->path = std::string(target.substr(0, q));
  req->query = q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
  return true;
}

// Bytes that never start or fill a request line: the peer is not talking HTTP.
bool HasBinaryGarbage(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\r' && c != '\n' && c != '\t') || u == 0x7f) return true;
  }
  return false;
}

enum class ParseOutcome { kIncomplete, kRequest, kError };

struct ParseResult {
  ParseOutcome outcome = ParseOutcome::kIncomplete;
  size_t consumed = 0;
  bool keep_alive = true;
  int error_status = 400;
  std::string error_message;
};

ParseResult ParseRequest(std::string_view in, const HttpServerOptions& opts, HttpRequest* req) {
  ParseResult r;
  auto fail = [&r](int status, std::string msg) {
    r.outcome = ParseOutcome::kError;
    r.error_status = status;
    r.error_message = std::move(msg);
    r.keep_alive = false;
    return r;
  };
  const size_t line_end = in.find("\r\n");
  if (line_end == std::string_view::npos) {
    if (HasBinaryGarbage(in.substr(0, std::min(in.size(), opts.max_header_bytes)))) {
      return fail(400, "malformed request line");
    }
    if (in.size() > opts.max_header_bytes) return fail(431, "request line too long");
    return r;
  }
  bool http10 = false;
  if (!ParseRequestLine(in.substr(0, line_end), req, &http10)) {
    return fail(400, "malformed request line");
  }
  const size_t header_end = in.find("\r\n\r\n", line_end);
  if (header_end == std::string_view::npos || header_end + 4 > opts.max_header_bytes) {
    if (in.size() > opts.max_header_bytes) return fail(431, "request headers too large");
    if (HasBinaryGarbage(in.substr(line_end))) return fail(400, "malformed header");
    return r;
  }
  req->headers.clear();
  size_t pos = line_end + 2;
  while (pos < header_end) {
    const size_t eol = in.find("\r\n", pos);
    const std::string_view line = in.substr(pos, eol - pos);
    pos = eol + 2;
    const size_t colon = line.find(':');
    // No obsolete line folding, no space before the colon (request smuggling vectors).
    if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
      return fail(400, "malformed header");
    }
    const std::string_view value = Trim(line.substr(colon + 1));
    for (char c : value) {
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
        return fail(400, "malformed header value");
      }
    }
    std::string name = ToLower(line.substr(0, colon));
    auto [it, inserted] = req->headers.emplace(std::move(name), std::string(value));
    if (!inserted) {
      if (it->first == "content-length") {
        if (it->second != value) return fail(400, "conflicting content-length");
      } else {
        it->second.append(", ").append(value);
      }
    }
  }
  if (req->headers.count("transfer-encoding") > 0) {
    return fail(501, "transfer-encoding is not supported; send content-length");
  }
  size_t content_length = 0;
  if (auto it = req->headers.find("content-length"); it != req->headers.end()) {
    const std::string& v = it->second;
    if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos) {
      return fail(400, "bad content-length");
    }
    content_length = std::stoull(v);
    if (content_length > opts.max_body_bytes) return fail(413, "request body too large");
  }
  const size_t body_start = header_end + 4;
  if (in.size() - body_start < content_length) return r;  // wait for the rest of the body
  req->body.assign(in.data() + body_start, content_length);
  const std::string connection = req->Header("connection");
  r.keep_alive = http10 ? ContainsToken(connection, "keep-alive") : !ContainsToken(connection, "close");
  r.outcome = ParseOutcome::kRequest;
  r.consumed = body_start + content_length;
  return r;
}

bool SafeHeader(const std::string& s) { return s.find_first_of("\r\n") == std::string::npos; }

void AppendResponse(const HttpResponse& resp, bool keep_alive, bool head, std::string* out) {
  out->append("HTTP/1.1 ").append(std::to_string(resp.status)).append(" ");
  out->append(Reason(resp.status)).append("\r\n");
  if (!resp.content_type.empty() && SafeHeader(resp.content_type)) {
    out->append("Content-Type: ").append(resp.content_type).append("\r\n");
  }
  out->append("Content-Length: ").append(std::to_string(resp.body.size())).append("\r\n");
  for (const auto& [k, v] : resp.headers) {
    const std::string lk = ToLower(k);
    if (lk == "content-length" || lk == "connection" || lk == "content-type" || !IsToken(k) ||
        !SafeHeader(v)) {
      continue;
    }
    out->append(k).append(": ").append(v).append("\r\n");
  }
  out->append(keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
  if (!head) out->append(resp.body);
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
  struct Conn {
    uint64_t id = 0;
    int fd = -1;
    std::string in;
    SteadyClock::time_point last_active;
    bool busy = false;
  };
  using ConnPtr = std::shared_ptr<Conn>;

  explicit Impl(HttpServerOptions o) : opts(std::move(o)) {}

  HttpServerOptions opts;
  std::map<std::pair<std::string, std::string>, HttpHandler> handlers;  // (method, path)
  std::map<std::string, std::set<std::string>> methods_by_path;

  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1;
  bool started = false;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  uint64_t next_id = 2;
  std::unordered_map<uint64_t, ConnPtr> conns;
  std::deque<ConnPtr> ready;

  std::thread poller;
  std::vector<std::thread> workers;

  absl::Status Listen(int* port_out);
  void PollLoop();
  void AcceptAll();
  void SweepIdle();
  void WorkerLoop();
  bool Serve(Conn& c);
  bool WriteAll(int fd, const std::string& data);
  HttpResponse Dispatch(const HttpRequest& req);
  void CloseLocked(const ConnPtr& c);
  void Rearm(const Conn& c);
};

absl::Status HttpServer::Impl::Listen(int* port_out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(opts.port);
  const int gai = getaddrinfo(opts.host.empty() ? nullptr : opts.host.c_str(), port.c_str(),
                              &hints, &res);
  if (gai != 0) {
    return absl::InvalidArgumentError("http: cannot resolve " + opts.host + ": " + gai_strerror(gai));
  }
  std::string last_error = "no address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      last_error = std::strerror(errno);
      close(fd);
      continue;
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof(bound);
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
    *port_out = bound.ss_family == AF_INET6
                    ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                    : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    listen_fd = fd;
    break;
  }
  freeaddrinfo(res);
  if (listen_fd < 0) {
    return absl::UnavailableError("http: cannot listen on " + opts.host + ":" + port + ": " +
                                  last_error);
  }
  return absl::OkStatus();
}

void HttpServer::Impl::PollLoop() {
  epoll_event events[64];
  auto next_sweep = SteadyClock::now() + std::chrono::seconds(1);
  while (true) {
    const int n = epoll_wait(epoll_fd, events, 64, 500);
    if (n < 0 && errno != EINTR) {
      spdlog::error("http: epoll_wait failed: {}", std::strerror(errno));
      return;
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[i].data.u64;
      if (id == kWakeId) return;
      if (id == kListenerId) {
        AcceptAll();
        continue;
      }
      std::lock_guard<std::mutex> lock(mu);
      auto it = conns.find(id);
      if (it == conns.end() || it->second->busy) continue;
      it->second->busy = true;
      ready.push_back(it->second);
      cv.notify_one();
    }
    if (SteadyClock::now() >= next_sweep) {
      SweepIdle();
      next_sweep = SteadyClock::now() + std::chrono::seconds(1);
    }
  }
}

void HttpServer::Impl::AcceptAll() {
  while (true) {
    const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: back off instead of spinning on a listener that stays readable.
        spdlog::warn("http: accept: {}", std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      return;
    }
    std::lock_guard<std::mutex> lock(mu);
    if (static_cast<int>(conns.size()) >= opts.max_connections) {
      close(fd);
      continue;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto c = std::make_shared<Conn>();
    c->id = next_id++;
    c->fd = fd;
    c->last_active = SteadyClock::now();
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    ev.data.u64 = c->id;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      continue;
    }
    conns.emplace(c->id, std::move(c));
  }
}

void HttpServer::Impl::SweepIdle() {
  const auto cutoff = SteadyClock::now() - std::chrono::milliseconds(opts.idle_timeout_ms);
  std::lock_guard<std::mutex> lock(mu);
  std::vector<ConnPtr> idle;
  for (const auto& [id, c] : conns) {
    if (!c->busy && c->last_active < cutoff) idle.push_back(c);
  }
  for (const auto& c : idle) CloseLocked(c);
}

void HttpServer::Impl::CloseLocked(const ConnPtr& c) {
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, nullptr);
  close(c->fd);
  conns.erase(c->id);
}

void HttpServer::Impl::Rearm(const Conn& c) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  ev.data.u64 = c.id;
  epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &ev);
}

void HttpServer::Impl::WorkerLoop() {
  while (true) {
    ConnPtr c;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [this] { return stopping || !ready.empty(); });
      if (stopping) return;
      c = std::move(ready.front());
      ready.pop_front();
    }
    const bool keep = Serve(*c);
    std::lock_guard<std::mutex> lock(mu);
    if (!keep || stopping) {
      CloseLocked(c);
    } else {
      c->busy = false;
      c->last_active = SteadyClock::now();
      Rearm(*c);  // level-triggered: fires at once if more bytes already arrived
    }
  }
}

bool HttpServer::Impl::WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, kWriteTimeoutMs) <= 0) return false;
      continue;
    }
    return false;
  }
  return true;
}

// Reads what has arrived, answers every complete request in it, and says whether the connection
// stays open.
bool HttpServer::Impl::Serve(Conn& c) {
  const size_t read_cap = opts.max_header_bytes + opts.max_body_bytes + 4096;
  bool peer_closed = false;
  char buf[16384];
  while (c.in.size() <= read_cap) {
    const ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
    if (n > 0) {
      c.in.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      peer_closed = true;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    return false;
  }

  std::string out;
  size_t offset = 0;
  bool keep_alive = true;
  for (int handled = 0; handled < kMaxRequestsPerTurn && keep_alive; ++handled) {
    HttpRequest req;
    ParseResult r = ParseRequest(std::string_view(c.in).substr(offset), opts, &req);
    if (r.outcome == ParseOutcome::kIncomplete) break;
    if (r.outcome == ParseOutcome::kError) {
      AppendResponse(TextResponse(r.error_status, r.error_message), false, false, &out);
      keep_alive = false;
      break;
    }
    offset += r.consumed;
    keep_alive = r.keep_alive;
    AppendResponse(Dispatch(req), keep_alive, req.method == "HEAD", &out);
  }
  c.in.erase(0, offset);
  if (!out.empty() && !WriteAll(c.fd, out)) return false;
  return keep_alive && !peer_closed;
}

HttpResponse HttpServer::Impl::Dispatch(const HttpRequest& req) {
  auto it = handlers.find({req.method, req.path});
  if (it == handlers.end() && req.method == "HEAD") it = handlers.find({"GET", req.path});
  if (it == handlers.end()) {
    auto m = methods_by_path.find(req.path);
    if (m == methods_by_path.end()) return TextResponse(404, "not found");
    HttpResponse r = TextResponse(405, "method not allowed");
    std::string allow;
    for (const auto& method : m->second) allow += (allow.empty() ? "" : ", ") + method;
    r.headers["Allow"] = allow;
    return r;
  }
  try {
    return it->second(req);
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
  impl_->handlers[{method, path}] = std::move(handler);
  impl_->methods_by_path[path].insert(method);
}

absl::Status HttpServer::Start() {
  Impl& m = *impl_;
  if (m.started) return absl::FailedPreconditionError("http server already started");
  if (absl::Status s = m.Listen(&port_); !s.ok()) return s;
  m.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  m.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (m.epoll_fd < 0 || m.wake_fd < 0) {
    const std::string err = std::strerror(errno);
    if (m.epoll_fd >= 0) close(m.epoll_fd);
    if (m.wake_fd >= 0) close(m.wake_fd);
    close(m.listen_fd);
    m.epoll_fd = m.wake_fd = m.listen_fd = -1;
    return absl::InternalError("http: " + err);
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenerId;
  epoll_ctl(m.epoll_fd, EPOLL_CTL_ADD, m.listen_fd, &ev);
  ev.data.u64 = kWakeId;
  epoll_ctl(m.epoll_fd, EPOLL_CTL_ADD, m.wake_fd, &ev);
  m.stopping = false;
  m.started = true;
  m.poller = std::thread([&m] { m.PollLoop(); });
  const int workers = std::max(1, m.opts.workers);
  for (int i = 0; i < workers; ++i) m.workers.emplace_back([&m] { m.WorkerLoop(); });
  return absl::OkStatus();
}

void HttpServer::Stop() {
  Impl& m = *impl_;
  if (!m.started) return;
  m.started = false;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t w = write(m.wake_fd, &one, sizeof(one));
  if (m.poller.joinable()) m.poller.join();
  close(m.listen_fd);  // new connections are refused from here on
  m.listen_fd = -1;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    m.stopping = true;
  }
  m.cv.notify_all();
  for (auto& t : m.workers) t.join();
  m.workers.clear();
  std::lock_guard<std::mutex> lock(m.mu);
  for (auto& [id, c] : m.conns) close(c->fd);
  m.conns.clear();
  m.ready.clear();
  close(m.epoll_fd);
  close(m.wake_fd);
  m.epoll_fd = m.wake_fd = -1;
}

std::map<std::string, std::string> ParseForm(const std::string& body) {
  auto decode = [](std::string_view s) {
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') {
        out.push_back(' ');
      } else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
        out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
        i += 2;
      } else {
        out.push_back(s[i]);  // a stray '%' stays literal
      }
    }
    return out;
  };
  std::map<std::string, std::string> out;
  std::string_view rest = body;
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string key = decode(pair.substr(0, eq));
    std::string value = eq == std::string_view::npos ? std::string() : decode(pair.substr(eq + 1));
    out.emplace(std::move(key), std::move(value));  // first occurrence wins
  }
  return out;
}

std::string UrlEncode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

}  // namespace orderly::server
