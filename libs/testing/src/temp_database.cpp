#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>
#include <absl/strings/str_split.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <pqxx/pqxx>
#include <thread>

#include "orderly/pg/pool.hpp"
#include "orderly/testing/env.hpp"

namespace orderly::testing {
namespace {

// Same host/port/user as the admin DSN (key=value form), other database.
std::string WithDbName(const std::string& admin_dsn, const std::string& db) {
  std::vector<std::string> parts;
  for (absl::string_view token : absl::StrSplit(admin_dsn, ' ', absl::SkipWhitespace())) {
    if (!absl::StartsWith(token, "dbname=")) parts.emplace_back(token);
  }
  parts.push_back(absl::StrCat("dbname=", db));
  return absl::StrJoin(parts, " ");
}

}  // namespace

TempDatabase::TempDatabase(std::string admin_dsn, std::string name, std::string dsn)
    : admin_dsn_(std::move(admin_dsn)), name_(std::move(name)), dsn_(std::move(dsn)) {}

TempDatabase::TempDatabase(TempDatabase&& other) noexcept
    : admin_dsn_(std::move(other.admin_dsn_)),
      name_(std::exchange(other.name_, std::string())),
      dsn_(std::move(other.dsn_)) {}

TempDatabase& TempDatabase::operator=(TempDatabase&& other) noexcept {
  if (this != &other) {
    Drop();
    admin_dsn_ = std::move(other.admin_dsn_);
    name_ = std::exchange(other.name_, std::string());
    dsn_ = std::move(other.dsn_);
  }
  return *this;
}

TempDatabase::~TempDatabase() { Drop(); }

void TempDatabase::Drop() {
  if (name_.empty()) return;
  try {
    pqxx::connection conn(admin_dsn_);
    pqxx::nontransaction tx(conn);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  } catch (...) {
    // A leftover database is harmless (its name is unique); never throw from a destructor.
  }
  name_.clear();
}

absl::StatusOr<TempDatabase> CreateTempDatabase(const std::string& prefix) {
  auto admin_dsn = RequireEnv("ORDERLY_PG_ADMIN_DSN");
  if (!admin_dsn.ok()) return admin_dsn.status();
  if (absl::StartsWith(*admin_dsn, "postgres")) {
    return absl::InvalidArgumentError("ORDERLY_PG_ADMIN_DSN must be in key=value form");
  }
  std::string name = absl::StrCat(prefix.substr(0, 30), "_", UniqueSuffix());
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) {
    return std::isalnum(c) ? static_cast<char>(std::tolower(c)) : '_';
  });
  // CREATE DATABASE copies template1 and fails (55006) while another session uses it, which
  // happens when test binaries run in parallel; those attempts are retried.
  absl::Status last;
  for (int attempt = 0; attempt < 20; ++attempt) {
    try {
      pqxx::connection conn(*admin_dsn);
      pqxx::nontransaction tx(conn);
      tx.exec("CREATE DATABASE " + tx.quote_name(name));
      return TempDatabase(*admin_dsn, name, WithDbName(*admin_dsn, name));
    } catch (const pqxx::sql_error& e) {
      last = pg::StatusFromCurrentException();
      if (e.sqlstate() != "55006") return last;
    } catch (...) {
      return pg::StatusFromCurrentException();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50 * (attempt + 1)));
  }
  return last;
}

}  // namespace orderly::testing
