#include "orderly/server/handler.hpp"

#include <absl/strings/cord.h>
#include <absl/strings/str_cat.h>
#include <google/protobuf/message.h>
#include <spdlog/spdlog.h>

#include <string>

#include "google/rpc/error_details.pb.h"
#include "orderly/core/absl_compat.hpp"
#include "orderly/core/ids.hpp"
#include "orderly/core/logging.hpp"
#include "orderly/core/status.hpp"

namespace orderly::server {
namespace {

// What the client is told instead of the driver's text: what to do, never what broke.
std::string_view GenericMessage(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnknown:
      return "outcome unknown: retry with the same request_id or read the resource";
    case absl::StatusCode::kUnavailable: return "temporarily unavailable: retry";
    case absl::StatusCode::kAborted: return "conflicting concurrent change: retry";
    case absl::StatusCode::kDeadlineExceeded: return "deadline exceeded";
    case absl::StatusCode::kAlreadyExists: return "already exists";
    case absl::StatusCode::kFailedPrecondition: return "precondition failed";
    case absl::StatusCode::kInvalidArgument: return "invalid request";
    case absl::StatusCode::kNotFound: return "not found";
    case absl::StatusCode::kResourceExhausted: return "resource exhausted: back off";
    case absl::StatusCode::kCancelled: return "cancelled";
    case absl::StatusCode::kPermissionDenied: return "permission denied";
    case absl::StatusCode::kUnauthenticated: return "unauthenticated";
    case absl::StatusCode::kUnimplemented: return "not implemented";
    case absl::StatusCode::kOutOfRange: return "out of range";
    default: return "internal error";
  }
}

bool ForClientAsIs(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk: return true;
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss: return false;
    default: return HasErrorDetails(s) && !IsDriverError(s);
  }
}

}  // namespace

absl::Status ForClient(std::string_view rpc, absl::Status s) {
  if (ForClientAsIs(s)) return s;
  const std::string error_id = NewUuidV7();
  const std::string real = validation::Bounded(FromAbsl(s.ToString()), 4096);
  if (s.code() == absl::StatusCode::kInternal || s.code() == absl::StatusCode::kUnknown ||
      s.code() == absl::StatusCode::kDataLoss) {
    spdlog::error("{}: error_id={} {}", std::string(rpc), error_id, real);
  } else {
    spdlog::warn("{}: error_id={} {}", std::string(rpc), error_id, real);
  }
  absl::Status out(s.code(), absl::StrCat(ToAbsl(GenericMessage(s.code())), " ",
                                          ToAbsl(kErrorIdMarker), error_id, ")"));
  // Details made for clients stay; the driver marker and the driver's text do not.
  s.ForEachPayload([&out](absl::string_view type_url, const absl::Cord& payload) {
    if (type_url != kDriverErrorPayload) out.SetPayload(type_url, payload);
  });
  google::rpc::RequestInfo info;
  info.set_request_id(log::Current().request_id);
  info.set_serving_data(absl::StrCat("error_id=", error_id));
  out.SetPayload(absl::StrCat("type.googleapis.com/", info.GetDescriptor()->full_name()),
                 absl::Cord(info.SerializeAsString()));
  return out;
}

grpc::Status HandleCall(std::string_view rpc, const std::function<absl::Status()>& body) {
  absl::Status s;
  try {
    s = body();
  } catch (const std::exception& e) {
    s = absl::InternalError(absl::StrCat("unexpected exception: ", e.what()));
  } catch (...) {
    s = absl::InternalError("unexpected exception");
  }
  return ToGrpcStatus(ForClient(rpc, std::move(s)));
}

grpc::Status HandleCall(std::string_view rpc, const google::protobuf::Message& request,
                        const std::function<absl::Status()>& body,
                        const std::vector<validation::FieldRule>& rules) {
  return HandleCall(rpc, [&]() -> absl::Status {
    if (auto s = validation::ValidateMessage(request, rules); !s.ok()) return s;
    return body();
  });
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
  return RoleNotAllowed(caller, "call this RPC");
}

absl::Status RoleNotAllowed(const Caller& caller, std::string_view what) {
  const std::string role(RoleName(caller.role));
  return ErrorWithInfo(absl::StatusCode::kPermissionDenied,
                       "role " + role + " may not " + std::string(what), "ROLE_NOT_ALLOWED",
                       {{"role", role}});
}

}  // namespace orderly::server
