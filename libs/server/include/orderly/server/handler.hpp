#pragma once
// What every gRPC handler body runs through: the domain's absl::Status becomes the gRPC status
// with its google.rpc details, INTERNAL/UNKNOWN are logged with the RPC name, and no exception
// crosses the gRPC boundary.
#include <functional>
#include <initializer_list>
#include <string_view>

#include <absl/status/status.h>
#include <grpcpp/support/status.h>

#include "orderly/server/request_context.hpp"

namespace orderly::server {

grpc::Status HandleCall(std::string_view rpc, const std::function<absl::Status()>& body);

// UNAUTHENTICATED CALLER_UNKNOWN without an identity (role, and a user id for non-service roles);
// PERMISSION_DENIED ROLE_NOT_ALLOWED (metadata: role) unless the caller has one of the roles.
absl::Status RequireRole(const Caller& caller, std::initializer_list<Role> roles);

}  // namespace orderly::server
