#pragma once
// What every gRPC handler body runs through: the request passes the shared validation layer
// (orderly/core/validation.hpp) before the body runs, the domain's absl::Status becomes the gRPC
// status with its google.rpc details, and no exception crosses the gRPC boundary. A status not
// made for clients (INTERNAL, UNKNOWN, DATA_LOSS, one built from a driver's exception, or any
// without google.rpc details) leaves with a generic message and an error id; the log line with
// the same error id has the real text (SQL, driver messages).
#include <absl/status/status.h>
#include <grpcpp/support/status.h>

#include <functional>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "orderly/core/validation.hpp"
#include "orderly/server/request_context.hpp"

namespace google::protobuf {
class Message;
}

namespace orderly::server {

// Validates `request` (validation::ValidateMessage with `rules`), then runs body.
grpc::Status HandleCall(std::string_view rpc, const google::protobuf::Message& request,
                        const std::function<absl::Status()>& body,
                        const std::vector<validation::FieldRule>& rules = {});
// For RPCs without a request worth checking (and the second half of an async handler).
grpc::Status HandleCall(std::string_view rpc, const std::function<absl::Status()>& body);

// The status as a client may see it (see above); logs what it hides under the error id.
absl::Status ForClient(std::string_view rpc, absl::Status s);
// The message a hidden status gets: "internal error (error id 0190...)".
inline constexpr std::string_view kErrorIdMarker = "(error id ";

// UNAUTHENTICATED CALLER_UNKNOWN without an identity (role, and a user id for non-service roles);
// PERMISSION_DENIED ROLE_NOT_ALLOWED (metadata: role) unless the caller has one of the roles.
absl::Status RequireRole(const Caller& caller, std::initializer_list<Role> roles);
// PERMISSION_DENIED ROLE_NOT_ALLOWED "role <role> may not <what>" (metadata: role): the refusal
// RequireRole gives, for rules the domain checks on the request (a buyer acting for another).
absl::Status RoleNotAllowed(const Caller& caller, std::string_view what);

}  // namespace orderly::server
