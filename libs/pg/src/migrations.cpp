#include "orderly/pg/migrations.hpp"

#include <absl/strings/str_cat.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "orderly/pg/query.hpp"

namespace orderly::pg {
namespace {

const Query kCreateTable{"pg.create_schema_migrations",
                         "CREATE TABLE IF NOT EXISTS schema_migrations ("
                         " version bigint PRIMARY KEY,"
                         " name text NOT NULL,"
                         " checksum text NOT NULL,"
                         " applied_at timestamptz NOT NULL DEFAULT now())"};
const Query kSelectApplied{"pg.applied_migrations",
                           "SELECT version, name, checksum FROM schema_migrations"};
const Query kInsertApplied{
    "pg.record_migration",
    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"};
const Query kLock{"pg.migrations_lock", "SELECT pg_advisory_lock($1)"};
const Query kUnlock{"pg.migrations_unlock", "SELECT pg_advisory_unlock($1)"};

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  std::string hex;
  hex.reserve(len * 2);
  char buf[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof(buf), "%02x", digest[i]);
    hex += buf;
  }
  return hex;
}

// The advisory lock key: 64-bit FNV-1a of the service name, so every instance of one service
// contends for the same lock and different services sharing a server do not.
int64_t LockKey(const std::string& service) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : absl::StrCat("orderly.migrations/", service)) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return static_cast<int64_t>(h);
}

struct Applied {
  std::string name;
  std::string checksum;
};

absl::Status ApplyLocked(pqxx::connection& conn, const std::string& service,
                         const std::vector<Migration>& sorted) {
  {
    pqxx::work tx(conn);
    ExecUnprepared(tx, kCreateTable);
    tx.commit();
  }
  std::map<int64_t, Applied> applied;
  {
    pqxx::read_transaction tx(conn);
    for (const auto& row : Exec(tx, kSelectApplied)) {
      applied[row[0].as<int64_t>()] = {row[1].as<std::string>(), row[2].as<std::string>()};
    }
  }
  for (const Migration& m : sorted) {
    const std::string checksum = Sha256Hex(m.sql);
    if (auto it = applied.find(m.version); it != applied.end()) {
      if (it->second.checksum != checksum) {
        return absl::FailedPreconditionError(
            absl::StrCat("migration ", m.version, " (", m.name, ") of ", service,
                         " was changed after it was applied: checksum ", it->second.checksum,
                         " in the database, ", checksum,
                         " in the binary; add a new migration instead of editing an applied one"));
      }
      continue;
    }
    try {
      pqxx::work tx(conn);
      // A migration is a script of its own (DDL, functions), not a statement to prepare.
      tx.exec(m.sql);
      Exec(tx, kInsertApplied, m.version, m.name, checksum);
      tx.commit();
    } catch (...) {
      absl::Status s = StatusFromCurrentException();
      return absl::Status(s.code(), absl::StrCat("migration ", m.version, " (", m.name, ") of ",
                                                 service, " failed: ", s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyMigrations(Pool& pool, const std::string& service,
                             const std::vector<Migration>& migrations) {
  std::vector<Migration> sorted = migrations;
  std::sort(sorted.begin(), sorted.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i].version == sorted[i - 1].version) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate migration version ", sorted[i].version, " in ", service));
    }
  }
  const int64_t key = LockKey(service);
  // The session-level lock lives on this one connection for the whole run; it is released
  // explicitly, or by the server if the connection dies.
  return pool.WithConnection([&](pqxx::connection& conn) -> absl::Status {
    {
      pqxx::nontransaction ntx(conn);
      Exec(ntx, kLock, key);
    }
    absl::Status status;
    try {
      status = ApplyLocked(conn, service, sorted);
    } catch (...) {
      status = StatusFromCurrentException();
    }
    try {
      pqxx::nontransaction ntx(conn);
      Exec(ntx, kUnlock, key);
    } catch (...) {
      // A dead connection already dropped the lock; WithConnection replaces it.
      if (status.ok()) status = StatusFromCurrentException();
    }
    return status;
  });
}

}  // namespace orderly::pg
