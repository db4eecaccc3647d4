#include "orderly/core/random.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace orderly {
namespace {

struct RandomPool {
  unsigned char buf[4096];
  size_t pos = sizeof(buf);

  void Refill() {
    size_t filled = 0;
    while (filled < sizeof(buf)) {
      const ssize_t n = ::getrandom(buf + filled, sizeof(buf) - filled, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        // Without entropy ids could collide; refuse to continue rather than hand out weak ids.
        std::perror("getrandom");
        std::abort();
      }
      filled += static_cast<size_t>(n);
    }
    pos = 0;
  }
};

}  // namespace

void RandomBytes(void* out, size_t n) {
  thread_local RandomPool pool;
  auto* dst = static_cast<unsigned char*>(out);
  while (n > 0) {
    if (pool.pos == sizeof(pool.buf)) pool.Refill();
    const size_t take = std::min(n, sizeof(pool.buf) - pool.pos);
    std::memcpy(dst, pool.buf + pool.pos, take);
    // Bytes handed out are wiped so they never leave the pool twice.
    std::memset(pool.buf + pool.pos, 0, take);
    pool.pos += take;
    dst += take;
    n -= take;
  }
}

uint64_t RandomU64() {
  uint64_t v;
  RandomBytes(&v, sizeof(v));
  return v;
}

std::string RandomHex(size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  unsigned char raw[64];
  std::string out;
  out.reserve(bytes * 2);
  while (bytes > 0) {
    const size_t take = std::min(bytes, sizeof(raw));
    RandomBytes(raw, take);
    for (size_t i = 0; i < take; ++i) {
      out.push_back(kHex[raw[i] >> 4]);
      out.push_back(kHex[raw[i] & 0xf]);
    }
    bytes -= take;
  }
  return out;
}

}  // namespace orderly
