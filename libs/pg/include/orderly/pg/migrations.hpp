#pragma once
// Versioned SQL migrations per service, embedded into the binary by
// orderly_embed_migrations(<target> <dir>) (see cmake/orderly.cmake), which defines
// `const std::vector<Migration>& <target>_migrations()` in namespace orderly::pg.
// Applied at start under a PostgreSQL advisory lock so several instances starting at once apply
// each migration exactly once; applied versions and checksums are kept in schema_migrations and a
// changed checksum of an applied migration refuses to start (FAILED_PRECONDITION).
#include <absl/status/status.h>

#include <cstdint>
#include <string>
#include <vector>

#include "orderly/pg/pool.hpp"

namespace orderly::pg {

struct Migration {
  int64_t version;
  std::string name;
  std::string sql;
};

absl::Status ApplyMigrations(Pool& pool, const std::string& service,
                             const std::vector<Migration>& migrations);

}  // namespace orderly::pg
