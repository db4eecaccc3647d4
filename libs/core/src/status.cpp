#include "orderly/core/status.hpp"

#include <absl/strings/cord.h>
#include <absl/strings/match.h>
#include <absl/strings/str_cat.h>
#include <google/protobuf/any.pb.h>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "orderly/core/absl_compat.hpp"
#include "orderly/core/validation.hpp"

namespace orderly {
namespace {

constexpr absl::string_view kTypeUrlPrefix = "type.googleapis.com/";
constexpr std::string_view kDomain = "orderly";
// A message or description leaving a service: room for what it says, never for a client's megabyte.
constexpr size_t kMaxMessageBytes = 512;
// gRPC clients refuse trailers past 8 KiB by default and details travel base64-encoded: keep
// them within 4 KiB. Ten violations of 160-byte texts fit, and ten are enough to fix a request.
constexpr size_t kMaxDetailBytes = 4096;
constexpr size_t kMaxViolations = 10;
constexpr size_t kMaxViolationBytes = 160;

using validation::Bounded;

std::string TypeUrlOf(const google::protobuf::Message& m) {
  return std::string(kTypeUrlPrefix.data(), kTypeUrlPrefix.size()) + m.GetDescriptor()->full_name();
}

void Attach(absl::Status& s, const google::protobuf::Message& detail) {
  s.SetPayload(TypeUrlOf(detail), absl::Cord(detail.SerializeAsString()));
}

// Reads the payload of type T; false when absent or unparseable.
template <typename T>
bool Read(const absl::Status& s, T* out) {
  absl::optional<absl::Cord> payload = s.GetPayload(TypeUrlOf(*out));
  if (!payload) return false;
  return out->ParseFromString(std::string(*payload));
}

google::rpc::ErrorInfo MakeErrorInfo(
    std::string_view reason, const std::vector<std::pair<std::string, std::string>>& metadata) {
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(std::string(kDomain));
  for (const auto& [k, v] : metadata) (*info.mutable_metadata())[k] = Bounded(v);
  return info;
}

}  // namespace

void MarkDriverError(absl::Status& s) {
  if (!s.ok()) s.SetPayload(kDriverErrorPayload, absl::Cord());
}

bool IsDriverError(const absl::Status& s) { return s.GetPayload(kDriverErrorPayload).has_value(); }

bool HasErrorDetails(const absl::Status& s) {
  bool any = false;
  s.ForEachPayload([&any](absl::string_view type_url, const absl::Cord&) {
    if (absl::StartsWith(type_url, kTypeUrlPrefix)) any = true;
  });
  return any;
}

void Violations::Add(std::string field, std::string description) {
  list_.push_back({std::move(field), std::move(description)});
}

absl::Status Violations::ToStatus(std::string_view message) const {
  if (list_.empty()) return absl::OkStatus();
  return InvalidArgumentError(message, list_);
}

absl::Status InvalidArgumentError(std::string_view message, const std::vector<FieldViolation>& v) {
  absl::Status s(absl::StatusCode::kInvalidArgument, Bounded(message, kMaxMessageBytes));
  google::rpc::BadRequest bad;
  for (size_t i = 0; i < v.size() && i < kMaxViolations; ++i) {
    auto* out = bad.add_field_violations();
    out->set_field(Bounded(v[i].field, kMaxViolationBytes));
    out->set_description(Bounded(v[i].description, kMaxViolationBytes));
  }
  Attach(s, bad);
  return s;
}

absl::Status NotFoundError(std::string_view resource_type, std::string_view resource_name,
                           std::string_view reason) {
  // The name comes from the request: only a bounded rendering of it is echoed.
  const std::string name = Bounded(resource_name);
  absl::Status s(absl::StatusCode::kNotFound,
                 absl::StrCat(ToAbsl(resource_type), " ", name, " not found"));
  Attach(s, MakeErrorInfo(
                reason, {{"resource_type", std::string(resource_type)}, {"resource_name", name}}));
  google::rpc::ResourceInfo res;
  res.set_resource_type(std::string(resource_type));
  res.set_resource_name(name);
  Attach(s, res);
  return s;
}

absl::Status FailedPreconditionError(
    std::string_view reason, std::string_view subject, std::string_view message,
    const std::vector<std::pair<std::string, std::string>>& metadata) {
  const std::string bounded = Bounded(message, kMaxMessageBytes);
  absl::Status s(absl::StatusCode::kFailedPrecondition, bounded);
  Attach(s, MakeErrorInfo(reason, metadata));
  google::rpc::PreconditionFailure pf;
  auto* v = pf.add_violations();
  v->set_type(std::string(reason));
  v->set_subject(Bounded(subject, kMaxMessageBytes));
  v->set_description(bounded);
  Attach(s, pf);
  return s;
}

absl::Status ErrorWithInfo(absl::StatusCode code, std::string_view message, std::string_view reason,
                           const std::vector<std::pair<std::string, std::string>>& metadata) {
  absl::Status s(code, Bounded(message, kMaxMessageBytes));
  if (s.ok()) return s;  // an OK status carries no payloads
  Attach(s, MakeErrorInfo(reason, metadata));
  return s;
}

std::string ErrorReason(const absl::Status& s) {
  google::rpc::ErrorInfo info;
  return Read(s, &info) ? info.reason() : std::string();
}

std::string ErrorMetadata(const absl::Status& s, std::string_view key) {
  google::rpc::ErrorInfo info;
  if (!Read(s, &info)) return {};
  auto it = info.metadata().find(std::string(key));
  return it == info.metadata().end() ? std::string() : it->second;
}

std::vector<FieldViolation> ErrorFieldViolations(const absl::Status& s) {
  google::rpc::BadRequest bad;
  std::vector<FieldViolation> out;
  if (!Read(s, &bad)) return out;
  out.reserve(bad.field_violations_size());
  for (const auto& fv : bad.field_violations()) out.push_back({fv.field(), fv.description()});
  return out;
}

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering.
  const auto code = static_cast<grpc::StatusCode>(static_cast<int>(s.code()));
  // Whatever built the status, the client never gets more than a bounded message and details
  // that fit in a trailer (a 1 MB id once turned NOT_FOUND into RESOURCE_EXHAUSTED).
  const std::string message = s.message().size() <= kMaxMessageBytes
                                  ? std::string(s.message())
                                  : Bounded(FromAbsl(s.message()), kMaxMessageBytes);
  google::rpc::Status proto;
  proto.set_code(static_cast<int>(s.code()));
  proto.set_message(message);
  size_t budget = kMaxDetailBytes;
  s.ForEachPayload([&proto, &budget](absl::string_view type_url, const absl::Cord& payload) {
    if (absl::StartsWith(type_url, kDriverErrorPayload)) return;  // ours, not the client's
    if (payload.size() > budget) return;
    budget -= payload.size();
    google::protobuf::Any* any = proto.add_details();
    any->set_type_url(std::string(type_url));
    any->set_value(std::string(payload));
  });
  if (proto.details_size() == 0) return grpc::Status(code, message);
  return grpc::Status(code, message, proto.SerializeAsString());
}

absl::Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(static_cast<int>(s.error_code())),
                   s.error_message());
  if (s.error_details().empty()) return out;
  google::rpc::Status proto;
  // Details we cannot parse are dropped: code and message still tell the caller what happened.
  if (!proto.ParseFromString(s.error_details())) return out;
  for (const google::protobuf::Any& any : proto.details()) {
    out.SetPayload(any.type_url(), absl::Cord(any.value()));
  }
  return out;
}

}  // namespace orderly
