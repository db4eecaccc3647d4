#include "orderly/server/handler.hpp"

#include <string>

#include <spdlog/spdlog.h>

#include "orderly/core/status.hpp"

namespace orderly::server {

grpc::Status HandleCall(std::string_view rpc, const std::function<absl::Status()>& body) {
  try {
    absl::Status s = body();
    if (s.code() == absl::StatusCode::kInternal || s.code() == absl::StatusCode::kUnknown) {
      spdlog::error("{}: {}", std::string(rpc), s.ToString());
    }
    return ToGrpcStatus(s);
  } catch (const std::exception& e) {
    spdlog::error("{}: unexpected exception: {}", std::string(rpc), e.what());
  } catch (...) {
    spdlog::error("{}: unexpected exception", std::string(rpc));
  }
  return ToGrpcStatus(absl::InternalError("internal error"));
}

absl::Status RequireRole(const Caller& caller, std::initializer_list<Role> roles) {
  // A service acts for no user; everyone else must say who they are.
  if (caller.role == Role::kUnknown || (caller.role != Role::kService && caller.user_id.empty())) {
    return ErrorWithInfo(absl::StatusCode::kUnauthenticated,
                         "x-user-id and x-user-role metadata are required", "CALLER_UNKNOWN");
  }
  for (Role r : roles) {
    if (caller.role == r) return absl::OkStatus();
  }
  const std::string role(RoleName(caller.role));
  return ErrorWithInfo(absl::StatusCode::kPermissionDenied,
                       "role " + role + " may not call this RPC", "ROLE_NOT_ALLOWED",
                       {{"role", role}});
}

}  // namespace orderly::server
