#include <gtest/gtest.h>

#include "orderly/pg/migrations.hpp"

namespace orderly::pg {
const std::vector<Migration>& pg_embed_test_migrations();
namespace {

TEST(EmbedMigrations, CarriesVersionsNamesAndSqlVerbatim) {
  const auto& all = pg_embed_test_migrations();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].version, 1);
  EXPECT_EQ(all[0].name, "0001_accounts");
  EXPECT_NE(all[0].sql.find("'it''s a test table; with a semicolon';"), std::string::npos)
      << all[0].sql;
  EXPECT_EQ(all[1].version, 2);
  EXPECT_EQ(all[1].name, "0002_touch");
  EXPECT_NE(all[1].sql.find("AS $$\nBEGIN"), std::string::npos) << all[1].sql;
}

}  // namespace
}  // namespace orderly::pg
