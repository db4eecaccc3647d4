#include "orderly/core/state_machine.hpp"

#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>

#include <cstdio>
#include <cstdlib>

#include "orderly/core/absl_compat.hpp"
#include "orderly/core/status.hpp"

namespace orderly {

StateMachine::StateMachine(std::string name, std::vector<Transition> table)
    : name_(std::move(name)), table_(std::move(table)) {
  for (size_t i = 0; i < table_.size(); ++i) {
    const Transition& t = table_[i];
    if (!index_.emplace(std::make_pair(t.from, t.action), i).second) {
      std::fprintf(stderr, "state machine %s: duplicate transition (%s, %s)\n", name_.c_str(),
                   t.from.c_str(), t.action.c_str());
      std::abort();
    }
  }
}

absl::StatusOr<std::string> StateMachine::Next(std::string_view from, std::string_view action,
                                               std::string_view actor,
                                               std::string_view error_reason) const {
  auto it = index_.find(std::make_pair(std::string(from), std::string(action)));
  if (it == index_.end()) {
    return FailedPreconditionError(
        error_reason, absl::StrCat(name_, ":", ToAbsl(from)),
        absl::StrCat("cannot ", ToAbsl(action), " in state ", ToAbsl(from)),
        {{"state", std::string(from)}, {"action", std::string(action)}});
  }
  const Transition& t = table_[it->second];
  if (!t.actors.empty() && t.actors.count(std::string(actor)) == 0) {
    // Not this actor's to do in this state: the same answer as a state that forbids it (the
    // caller's reason, e.g. ORDER_NOT_CANCELLABLE), so every reason stays in the ErrorReason enum.
    return FailedPreconditionError(
        error_reason, absl::StrCat(name_, ":", ToAbsl(from)),
        absl::StrCat(actor.empty() ? "unknown actor" : ToAbsl(actor), " may not ", ToAbsl(action),
                     " in state ", ToAbsl(from), " (allowed: ", absl::StrJoin(t.actors, ", "), ")"),
        {{"state", std::string(from)},
         {"action", std::string(action)},
         {"actor", std::string(actor)}});
  }
  return t.to;
}

bool StateMachine::CanApply(std::string_view from, std::string_view action) const {
  return index_.count(std::make_pair(std::string(from), std::string(action))) > 0;
}

std::vector<std::string> StateMachine::ActionsFrom(std::string_view from) const {
  std::vector<std::string> out;
  for (const Transition& t : table_) {
    if (t.from == from) out.push_back(t.action);
  }
  return out;
}

bool StateMachine::IsTerminal(std::string_view state) const {
  for (const Transition& t : table_) {
    if (t.from == state) return false;
  }
  return true;
}

}  // namespace orderly
