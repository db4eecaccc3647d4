#pragma once
// gtest assertions for absl::Status / absl::StatusOr that print the status on failure.
#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <gtest/gtest.h>

namespace orderly::testing::internal {
inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace orderly::testing::internal

#define ORDERLY_EXPECT_OK(expr)                                                         \
  do {                                                                                  \
    const absl::Status orderly_status_ = ::orderly::testing::internal::GetStatus(expr); \
    EXPECT_TRUE(orderly_status_.ok()) << #expr << ": " << orderly_status_;              \
  } while (0)
#define ORDERLY_ASSERT_OK(expr)                                                         \
  do {                                                                                  \
    const absl::Status orderly_status_ = ::orderly::testing::internal::GetStatus(expr); \
    ASSERT_TRUE(orderly_status_.ok()) << #expr << ": " << orderly_status_;              \
  } while (0)

#define ORDERLY_CONCAT_INNER_(a, b) a##b
#define ORDERLY_CONCAT_(a, b) ORDERLY_CONCAT_INNER_(a, b)
// ORDERLY_ASSERT_OK_AND_ASSIGN(auto pool, Pool::Create(options));
#define ORDERLY_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ORDERLY_ASSERT_OK_AND_ASSIGN_IMPL_(ORDERLY_CONCAT_(orderly_statusor_, __LINE__), lhs, expr)
#define ORDERLY_ASSERT_OK_AND_ASSIGN_IMPL_(var, lhs, expr) \
  auto var = (expr);                                       \
  ASSERT_TRUE(var.ok()) << #expr << ": " << var.status();  \
  lhs = std::move(var).value()
