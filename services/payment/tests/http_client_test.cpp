// The libcurl client's error contract on loopback: a request that never left is UNAVAILABLE (safe
// to retry), one that left but got no answer in time is DEADLINE_EXCEEDED (the channel may have
// acted: query first), the total deadline holds, and TLS peers are verified.
#include "channel/http_client.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "sandbox_keys.hpp"

namespace orderly::payment {
namespace {

using namespace std::chrono_literals;

// A listening socket that never accepts: the kernel completes the TCP handshake, nobody answers.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, 16);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() { ::close(fd_); }
  int port() const { return port_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A loopback port with nothing listening: bound, then released.
int ClosedPort() {
  SilentServer s;
  return s.port();
}

TEST(HttpClientTest, ConnectionRefusedIsUnavailable) {
  HttpClientRequest req;
  req.method = "POST";
  req.url = "http://127.0.0.1:" + std::to_string(ClosedPort()) + "/x";
  req.body = "a=1";
  auto r = HttpFetch(req);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
}

TEST(HttpClientTest, SentButUnansweredIsDeadlineExceededWithinTheDeadline) {
  SilentServer server;
  HttpClientRequest req;
  req.method = "POST";
  req.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/refund";
  req.body = "amount=1";
  req.timeout = 300ms;
  const auto start = std::chrono::steady_clock::now();
  auto r = HttpFetch(req);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2s);
}

// A TLS handshake that never completes: nothing was sent to the channel.
TEST(HttpClientTest, TlsHandshakeTimeoutIsUnavailable) {
  SilentServer server;
  HttpClientRequest req;
  req.url = "https://127.0.0.1:" + std::to_string(server.port()) + "/";
  req.timeout = 300ms;
  auto r = HttpFetch(req);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
}

// Two calls from one thread share one kept-alive connection: the server accepts exactly once and
// answers both requests on it (a second connection would wait in the backlog and time out).
TEST(HttpClientTest, CallsFromOneThreadReuseTheConnection) {
  SilentServer server;
  std::thread one_connection([&] {
    const int conn = ::accept(server.fd(), nullptr, nullptr);
    std::string in;
    char buf[4096];
    for (int answered = 0; answered < 2;) {
      const ssize_t n = ::recv(conn, buf, sizeof(buf), 0);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
      for (size_t end; (end = in.find("\r\n\r\n")) != std::string::npos; ++answered) {
        in.erase(0, end + 4);
        const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        ::send(conn, reply.data(), reply.size(), MSG_NOSIGNAL);
      }
    }
    ::close(conn);
  });
  HttpClientRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/v3/bill/tradebill";
  req.timeout = 2s;
  for (int i = 0; i < 2; ++i) {
    auto r = HttpFetch(req);
    ASSERT_TRUE(r.ok()) << "call " << i << ": " << r.status();
    EXPECT_EQ(r->body, "ok");
  }
  one_connection.join();
}

// TLS verification is on: a server whose certificate no trusted CA signed is refused before
// anything is sent.
TEST(HttpClientTest, UntrustedCertificateIsRefused) {
  std::string key_pem;
  const std::string cert_pem = *sandbox::SelfSignedCertificate("127.0.0.1", &key_pem);
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  BIO* cb = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  BIO* kb = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  ASSERT_EQ(SSL_CTX_use_certificate(ctx, cert), 1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey(ctx, key), 1);
  SilentServer server;
  std::thread tls([&] {
    const int conn = ::accept(server.fd(), nullptr, nullptr);
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, conn);
    SSL_accept(ssl);  // fails once the client rejects the certificate
    SSL_free(ssl);
    ::close(conn);
  });
  HttpClientRequest req;
  req.method = "POST";
  req.url = "https://127.0.0.1:" + std::to_string(server.port()) + "/refund";
  req.body = "amount=1";
  auto r = HttpFetch(req);
  tls.join();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_NE(r.status().message().find("certificate"), std::string::npos) << r.status();
  X509_free(cert);
  EVP_PKEY_free(key);
  BIO_free(cb);
  BIO_free(kb);
  SSL_CTX_free(ctx);
}

TEST(HttpClientTest, OnlyAbsoluteHttpUrls) {
  EXPECT_EQ(HttpFetch({"GET", "ftp://127.0.0.1/x"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpFetch({"GET", "not a url"}).status().code(), absl::StatusCode::kInvalidArgument);
  auto u = ParseUrl("https://api.mch.weixin.qq.com/v3/pay/transactions/out-trade-no/p1?mchid=19");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/v3/pay/transactions/out-trade-no/p1?mchid=19");
}

}  // namespace
}  // namespace orderly::payment
