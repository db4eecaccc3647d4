#include "mini_http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "orderly/core/absl_compat.hpp"

namespace orderly::sandbox {
namespace {
std::string Reason(int s) {
  switch (s) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}
}  // namespace

MiniHttpServer::MiniHttpServer(std::string host, int port, Handler handler)
    : host_(std::move(host)), port_(port), handler_(std::move(handler)) {}

MiniHttpServer::~MiniHttpServer() { Stop(); }

absl::Status MiniHttpServer::Start() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  inet_pton(AF_INET, host_.c_str(), &addr.sin_addr);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(listen_fd_, 512) != 0) {
    return absl::UnavailableError(ToAbsl("sandbox: cannot listen on " + host_ + ":" + std::to_string(port_) + ": " + strerror(errno)));
  }
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return absl::OkStatus();
}

void MiniHttpServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void MiniHttpServer::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::thread([this, fd] { Serve(fd); }).detach();
  }
}

void MiniHttpServer::Serve(int fd) {
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string in;
  char buf[16384];
  size_t header_end = std::string::npos;
  size_t want = 0;
  Request req;
  Response resp;
  bool ok = false;
  while (true) {
    ssize_t r = ::recv(fd, buf, sizeof(buf), 0);
    if (r <= 0) break;
    in.append(buf, static_cast<size_t>(r));
    if (in.size() > (8u << 20)) break;
    if (header_end == std::string::npos) {
      header_end = in.find("\r\n\r\n");
      if (header_end == std::string::npos) continue;
      size_t le = in.find("\r\n");
      std::string line = in.substr(0, le);
      size_t s1 = line.find(' '), s2 = line.rfind(' ');
      if (s1 == std::string::npos || s2 <= s1) break;
      req.method = line.substr(0, s1);
      std::string target = line.substr(s1 + 1, s2 - s1 - 1);
      size_t q = target.find('?');
      req.path = target.substr(0, q);
      if (q != std::string::npos) req.query = target.substr(q + 1);
      size_t pos = le + 2;
      while (pos < header_end) {
        size_t eol = in.find("\r\n", pos);
        std::string h = in.substr(pos, eol - pos);
        pos = eol + 2;
        size_t c = h.find(':');
        if (c == std::string::npos) continue;
        std::string k = h.substr(0, c), v = h.substr(c + 1);
        for (auto& ch : k) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
        while (!v.empty() && v.front() == ' ') v.erase(0, 1);
        req.headers[k] = v;
      }
      want = static_cast<size_t>(std::atol(req.Header("content-length").c_str()));
    }
    if (header_end != std::string::npos && in.size() - header_end - 4 >= want) {
      req.body = in.substr(header_end + 4, want);
      ok = true;
      break;
    }
  }
  if (ok) {
    resp = handler_(req);
  } else {
    resp.status = 400;
    resp.body = "bad request";
  }
  std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " " + Reason(resp.status) + "\r\n";
  out += "Content-Type: " + resp.content_type + "\r\nContent-Length: " + std::to_string(resp.body.size()) +
         "\r\nConnection: close\r\n";
  for (const auto& [k, v] : resp.headers) out += k + ": " + v + "\r\n";
  out += "\r\n" + resp.body;
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t w = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (w <= 0) break;
    sent += static_cast<size_t>(w);
  }
  ::close(fd);
}

}  // namespace orderly::sandbox
