#include "orderly/server/request_context.hpp"

#include <gtest/gtest.h>

namespace orderly::server {
namespace {

TEST(TraceparentTest, ParsesValid) {
  TraceContext t = ParseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_EQ(t.trace_id, "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(t.span_id, "b7ad6b7169203331");
  EXPECT_EQ(t.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
}

TEST(TraceparentTest, RejectsMalformed) {
  for (const char* bad : {
           "",
           "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
           "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",  // upper case
           "00-00000000000000000000000000000000-b7ad6b7169203331-01",  // zero trace
           "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  // zero span
           "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  // invalid version
           "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
           "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
           "00-0af7651916cd43dd8448eb211c8031zz-b7ad6b7169203331-01",
       }) {
    EXPECT_TRUE(ParseTraceparent(bad).trace_id.empty()) << bad;
  }
  // A future version may append fields.
  EXPECT_FALSE(ParseTraceparent("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what")
                   .trace_id.empty());
}

TEST(TraceparentTest, NewSpanKeepsTraceAndChangesSpan) {
  TraceContext root = NewSpan();
  EXPECT_EQ(root.trace_id.size(), 32u);
  EXPECT_EQ(root.span_id.size(), 16u);
  EXPECT_EQ(ParseTraceparent(root.traceparent).trace_id, root.trace_id);
  TraceContext child = NewSpan(root);
  EXPECT_EQ(child.trace_id, root.trace_id);
  EXPECT_NE(child.span_id, root.span_id);
  EXPECT_NE(NewSpan().trace_id, root.trace_id);
}

TEST(RoleTest, Names) {
  EXPECT_EQ(RoleName(Role::kBuyer), "buyer");
  EXPECT_EQ(RoleName(Role::kMerchant), "merchant");
  EXPECT_EQ(RoleName(Role::kAdmin), "admin");
  EXPECT_EQ(RoleName(Role::kService), "service");
  EXPECT_EQ(RoleName(Role::kUnknown), "unknown");
}

}  // namespace
}  // namespace orderly::server
