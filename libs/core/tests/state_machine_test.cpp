#include "orderly/core/state_machine.hpp"

#include <gtest/gtest.h>

#include "orderly/core/status.hpp"

namespace orderly {
namespace {

StateMachine OrderMachine() {
  return StateMachine("order", {
                                   {"CREATED", "pay", "PAID", {"system"}},
                                   {"CREATED", "cancel", "CANCELLED", {"buyer", "system"}},
                                   {"PAID", "ship", "SHIPPED", {"merchant"}},
                                   {"SHIPPED", "receive", "COMPLETED", {}},
                               });
}

TEST(StateMachineTest, LegalTransition) {
  StateMachine sm = OrderMachine();
  auto next = sm.Next("CREATED", "pay", "system");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, "PAID");
  EXPECT_EQ(*sm.Next("SHIPPED", "receive", "anyone"), "COMPLETED");  // empty actors = any
}

TEST(StateMachineTest, IllegalTransitionIsFailedPrecondition) {
  StateMachine sm = OrderMachine();
  auto next = sm.Next("SHIPPED", "cancel", "buyer", "ORDER_NOT_CANCELLABLE");
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(next.status()), "ORDER_NOT_CANCELLABLE");
  EXPECT_NE(next.status().message().find("SHIPPED"), absl::string_view::npos);
  EXPECT_NE(next.status().message().find("cancel"), absl::string_view::npos);
  EXPECT_EQ(ErrorReason(sm.Next("PAID", "pay", "system").status()), "ILLEGAL_TRANSITION");
}

// Issue 12.5: PERMISSION_DENIED ACTOR_NOT_ALLOWED was a reason outside the ErrorReason enum.
TEST(StateMachineTest, WrongActorIsFailedPreconditionWithTheCallersReason) {
  StateMachine sm = OrderMachine();
  auto next = sm.Next("PAID", "ship", "buyer");
  EXPECT_EQ(next.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(next.status()), "ILLEGAL_TRANSITION");
  EXPECT_EQ(ErrorMetadata(next.status(), "actor"), "buyer");
  EXPECT_EQ(ErrorReason(sm.Next("PAID", "ship", "buyer", "ORDER_NOT_CANCELLABLE").status()),
            "ORDER_NOT_CANCELLABLE");
  EXPECT_TRUE(sm.Next("PAID", "ship", "merchant").ok());
}

TEST(StateMachineTest, Queries) {
  StateMachine sm = OrderMachine();
  EXPECT_TRUE(sm.CanApply("CREATED", "cancel"));
  EXPECT_FALSE(sm.CanApply("PAID", "cancel"));
  EXPECT_EQ(sm.ActionsFrom("CREATED"), (std::vector<std::string>{"pay", "cancel"}));
  EXPECT_TRUE(sm.IsTerminal("COMPLETED"));
  EXPECT_TRUE(sm.IsTerminal("CANCELLED"));
  EXPECT_FALSE(sm.IsTerminal("PAID"));
  EXPECT_EQ(sm.name(), "order");
}

TEST(StateMachineDeathTest, DuplicateRowCrashes) {
  EXPECT_DEATH(StateMachine("bad", {{"A", "go", "B", {}}, {"A", "go", "C", {}}}), "duplicate");
}

}  // namespace
}  // namespace orderly
