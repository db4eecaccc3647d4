#pragma once
// Who is calling and which request/trace this is, read from gRPC metadata in one place so that
// later authentication replaces only this file. Metadata keys:
//   x-user-id, x-user-role (buyer | merchant | admin | service), x-request-id, traceparent (W3C).
#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include <string>
#include <string_view>

namespace orderly::server {

enum class Role { kUnknown, kBuyer, kMerchant, kAdmin, kService };
std::string_view RoleName(Role r);

struct Caller {
  std::string user_id;
  Role role = Role::kUnknown;
};

struct TraceContext {
  std::string trace_id;     // 32 hex
  std::string span_id;      // 16 hex
  std::string traceparent;  // "00-<trace>-<span>-01"
};

// Parses a W3C traceparent; empty optional-like (trace_id empty) if malformed.
TraceContext ParseTraceparent(std::string_view header);
// A new root trace, or a child span of parent when parent.trace_id is set.
TraceContext NewSpan(const TraceContext& parent = {});

Caller CallerOf(const grpc::ServerContextBase& ctx);
std::string RequestIdOf(const grpc::ServerContextBase& ctx);
TraceContext TraceOf(const grpc::ServerContextBase& ctx);

// Copies the caller identity, request id and a child traceparent onto an outgoing call, so
// service-to-service calls keep the trace (and act as role `service` when no caller is given).
void Propagate(grpc::ClientContext* out, const TraceContext& trace, std::string_view request_id,
               const Caller& caller = {"", Role::kService});

}  // namespace orderly::server
