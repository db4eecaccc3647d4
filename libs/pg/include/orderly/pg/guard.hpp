#pragma once
// How a repository method keeps libpqxx's exceptions inside: run its body through Guard.
#include "orderly/pg/pool.hpp"

namespace orderly::pg {

// Runs fn (returning absl::Status or absl::StatusOr<T>) and returns an exception it throws as the
// Status StatusFromCurrentException maps it to.
template <typename Fn>
auto Guard(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (...) {
    return StatusFromCurrentException();
  }
}

}  // namespace orderly::pg
