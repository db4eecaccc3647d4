#include "orderly/testing/service_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <fstream>
#include <thread>

#include "orderly/testing/env.hpp"

namespace orderly::testing {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return 0;
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

std::string ServiceBinary(const std::string& dir) {
  std::string build = Env("ORDERLY_BUILD_DIR");
  if (build.empty()) build = Env("ORDERLY_ROOT", ".") + "/build";
  return build + "/services/" + dir + "/orderly-" + dir;
}

absl::StatusOr<HttpResult> HttpCall(int port, const std::string& method, const std::string& path,
                                    const std::string& body,
                                    const std::map<std::string, std::string>& headers) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::UnavailableError("socket");
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return absl::UnavailableError("connect to port " + std::to_string(port) + " refused");
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  size_t sent = 0;
  while (sent < req.size()) {
    ssize_t n = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      close(fd);
      return absl::UnavailableError("send failed");
    }
    sent += static_cast<size_t>(n);
  }
  std::string resp;
  char buf[8192];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
    // Content-Length framing: stop once the body is complete (keep-alive servers).
    auto hdr_end = resp.find("\r\n\r\n");
    if (hdr_end != std::string::npos) {
      auto cl = resp.find("Content-Length:");
      if (cl == std::string::npos) cl = resp.find("content-length:");
      if (cl != std::string::npos && cl < hdr_end) {
        size_t len = std::stoul(resp.substr(cl + 15));
        if (resp.size() >= hdr_end + 4 + len) break;
      }
    }
  }
  close(fd);
  if (resp.size() < 12) return absl::UnavailableError("no HTTP response");
  HttpResult r;
  r.status = std::atoi(resp.c_str() + 9);
  auto hdr_end = resp.find("\r\n\r\n");
  if (hdr_end != std::string::npos) r.body = resp.substr(hdr_end + 4);
  return r;
}

absl::StatusOr<std::unique_ptr<ServiceProcess>> ServiceProcess::Start(
    ServiceProcessOptions options) {
  std::unique_ptr<ServiceProcess> p(new ServiceProcess());
  auto& flags = options.flags;
  if (!flags.count("grpc_port")) flags["grpc_port"] = std::to_string(FreePort());
  if (!flags.count("http_port")) flags["http_port"] = std::to_string(FreePort());
  p->grpc_port_ = std::stoi(flags["grpc_port"]);
  p->http_port_ = std::stoi(flags["http_port"]);
  if (access(options.binary.c_str(), X_OK) != 0) {
    return absl::NotFoundError("service binary " + options.binary + " not built");
  }
  const std::string base = options.binary.substr(options.binary.find_last_of('/') + 1);
  p->log_path_ = "/tmp/" + base + "-" + UniqueSuffix() + ".log";

  std::vector<std::string> args{options.binary};
  for (const auto& [k, v] : flags) args.push_back("--" + k + "=" + v);
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    int fd = open(p->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  p->pid_ = pid;
  auto until = std::chrono::steady_clock::now() + options.ready_timeout;
  while (std::chrono::steady_clock::now() < until) {
    int wstatus = 0;
    if (waitpid(pid, &wstatus, WNOHANG) == pid) {
      p->pid_ = -1;
      return absl::InternalError(base + " exited during start-up:\n" + p->LogTail());
    }
    auto r = HttpCall(p->http_port_, "GET", "/readyz");
    if (r.ok() && r->status == 200) return p;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(base + " not ready in time:\n" + p->LogTail());
}

int ServiceProcess::Stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  auto until = std::chrono::steady_clock::now() + timeout;
  int wstatus = 0;
  while (std::chrono::steady_clock::now() < until) {
    if (waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();
  return -1;
}

void ServiceProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string ServiceProcess::LogTail(size_t lines) const {
  std::ifstream in(log_path_);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (tail.size() > lines) tail.pop_front();
  }
  std::string out;
  for (const auto& l : tail) out += l + "\n";
  return out;
}

ServiceProcess::~ServiceProcess() { Stop(); }

}  // namespace orderly::testing
