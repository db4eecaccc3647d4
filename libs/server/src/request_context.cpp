#include "orderly/server/request_context.hpp"

#include "orderly/core/random.hpp"

namespace orderly::server {
namespace {

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

std::string Metadata(const grpc::ServerContextBase& ctx, std::string_view key) {
  const auto& md = ctx.client_metadata();
  auto it = md.find(grpc::string_ref(key.data(), key.size()));
  if (it == md.end()) return {};
  return std::string(it->second.data(), it->second.size());
}

}  // namespace

std::string_view RoleName(Role r) {
  switch (r) {
    case Role::kBuyer: return "buyer";
    case Role::kMerchant: return "merchant";
    case Role::kAdmin: return "admin";
    case Role::kService: return "service";
    case Role::kUnknown: break;
  }
  return "unknown";
}

TraceContext ParseTraceparent(std::string_view h) {
  // version "-" trace-id(32) "-" parent-id(16) "-" flags(2); future versions may append fields.
  if (h.size() < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') return {};
  const std::string_view version = h.substr(0, 2);
  const std::string_view trace = h.substr(3, 32);
  const std::string_view span = h.substr(36, 16);
  const std::string_view flags = h.substr(53, 2);
  if (!IsLowerHex(version) || version == "ff") return {};
  if (version == "00" && h.size() != 55) return {};
  if (h.size() > 55 && h[55] != '-') return {};
  if (!IsLowerHex(trace) || AllZero(trace) || !IsLowerHex(span) || AllZero(span) ||
      !IsLowerHex(flags)) {
    return {};
  }
  TraceContext out;
  out.trace_id = std::string(trace);
  out.span_id = std::string(span);
  out.traceparent = std::string(h.substr(0, 55));
  return out;
}

TraceContext NewSpan(const TraceContext& parent) {
  TraceContext out;
  out.trace_id = parent.trace_id.empty() ? RandomHex(16) : parent.trace_id;
  out.span_id = RandomHex(8);
  out.traceparent = "00-" + out.trace_id + "-" + out.span_id + "-01";
  return out;
}

Caller CallerOf(const grpc::ServerContextBase& ctx) {
  Caller c;
  c.user_id = Metadata(ctx, "x-user-id");
  const std::string role = Metadata(ctx, "x-user-role");
  if (role == "buyer") {
    c.role = Role::kBuyer;
  } else if (role == "merchant") {
    c.role = Role::kMerchant;
  } else if (role == "admin") {
    c.role = Role::kAdmin;
  } else if (role == "service") {
    c.role = Role::kService;
  }
  return c;
}

std::string RequestIdOf(const grpc::ServerContextBase& ctx) {
  return Metadata(ctx, "x-request-id");
}

TraceContext TraceOf(const grpc::ServerContextBase& ctx) {
  return ParseTraceparent(Metadata(ctx, "traceparent"));
}

void Propagate(grpc::ClientContext* out, const TraceContext& trace, std::string_view request_id,
               const Caller& caller) {
  if (!caller.user_id.empty()) out->AddMetadata("x-user-id", caller.user_id);
  if (caller.role != Role::kUnknown) {
    out->AddMetadata("x-user-role", std::string(RoleName(caller.role)));
  }
  if (!request_id.empty()) out->AddMetadata("x-request-id", std::string(request_id));
  out->AddMetadata("traceparent", NewSpan(trace).traceparent);
}

}  // namespace orderly::server
