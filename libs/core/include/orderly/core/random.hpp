#pragma once
// Unpredictable bytes from the kernel CSPRNG (getrandom), buffered per thread so ids and trace ids
// cost no syscall each. Not fork-safe: a forked child must not keep using a parent's buffer.
#include <cstddef>
#include <cstdint>
#include <string>

namespace orderly {

void RandomBytes(void* out, size_t n);
uint64_t RandomU64();
// 2*bytes lower-case hex characters.
std::string RandomHex(size_t bytes);

}  // namespace orderly
