#pragma once
// A table-driven state machine: states and actions are names, a transition is a row
// (from, action, to, allowed actors). Adding an order type means adding a table, not code paths.
#include <absl/status/statusor.h>

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace orderly {

struct Transition {
  std::string from;
  std::string action;
  std::string to;
  std::set<std::string> actors;  // e.g. {"buyer","system"}; empty = any actor
};

class StateMachine {
 public:
  // Crashes loudly (bad table is a programming error) on duplicate (from, action) rows.
  StateMachine(std::string name, std::vector<Transition> table);
  const std::string& name() const { return name_; }

  // The target state, or FAILED_PRECONDITION with ErrorInfo reason `error_reason` (e.g.
  // "ORDER_NOT_CANCELLABLE" is chosen by the caller; default "ILLEGAL_TRANSITION") whose message
  // names the current state and the action; the same FAILED_PRECONDITION (metadata actor too)
  // when the transition exists but not for this actor.
  absl::StatusOr<std::string> Next(std::string_view from, std::string_view action,
                                   std::string_view actor,
                                   std::string_view error_reason = "ILLEGAL_TRANSITION") const;
  bool CanApply(std::string_view from, std::string_view action) const;
  std::vector<std::string> ActionsFrom(std::string_view from) const;
  bool IsTerminal(std::string_view state) const;  // no outgoing transitions
  const std::vector<Transition>& table() const { return table_; }

 private:
  std::string name_;
  std::vector<Transition> table_;
  std::map<std::pair<std::string, std::string>, size_t> index_;
};

}  // namespace orderly
