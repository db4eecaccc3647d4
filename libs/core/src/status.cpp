#include "orderly/core/status.hpp"

#include <absl/strings/cord.h>
#include <absl/strings/str_cat.h>
#include <google/protobuf/any.pb.h>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "orderly/core/absl_compat.hpp"

namespace orderly {
namespace {

constexpr std::string_view kTypeUrlPrefix = "type.googleapis.com/";
constexpr std::string_view kDomain = "orderly";

std::string TypeUrlOf(const google::protobuf::Message& m) {
  return std::string(kTypeUrlPrefix) + m.GetDescriptor()->full_name();
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
  for (const auto& [k, v] : metadata) (*info.mutable_metadata())[k] = v;
  return info;
}

}  // namespace

void Violations::Add(std::string field, std::string description) {
  list_.push_back({std::move(field), std::move(description)});
}

absl::Status Violations::ToStatus(std::string_view message) const {
  if (list_.empty()) return absl::OkStatus();
  return InvalidArgumentError(message, list_);
}

absl::Status InvalidArgumentError(std::string_view message, const std::vector<FieldViolation>& v) {
  absl::Status s(absl::StatusCode::kInvalidArgument, ToAbsl(message));
  google::rpc::BadRequest bad;
  for (const FieldViolation& fv : v) {
    auto* out = bad.add_field_violations();
    out->set_field(fv.field);
    out->set_description(fv.description);
  }
  Attach(s, bad);
  return s;
}

absl::Status NotFoundError(std::string_view resource_type, std::string_view resource_name,
                           std::string_view reason) {
  absl::Status s(absl::StatusCode::kNotFound,
                 absl::StrCat(ToAbsl(resource_type), " ", ToAbsl(resource_name), " not found"));
  Attach(s, MakeErrorInfo(reason, {{"resource_type", std::string(resource_type)},
                                   {"resource_name", std::string(resource_name)}}));
  google::rpc::ResourceInfo res;
  res.set_resource_type(std::string(resource_type));
  res.set_resource_name(std::string(resource_name));
  Attach(s, res);
  return s;
}

absl::Status FailedPreconditionError(
    std::string_view reason, std::string_view subject, std::string_view message,
    const std::vector<std::pair<std::string, std::string>>& metadata) {
  absl::Status s(absl::StatusCode::kFailedPrecondition, ToAbsl(message));
  Attach(s, MakeErrorInfo(reason, metadata));
  google::rpc::PreconditionFailure pf;
  auto* v = pf.add_violations();
  v->set_type(std::string(reason));
  v->set_subject(std::string(subject));
  v->set_description(std::string(message));
  Attach(s, pf);
  return s;
}

absl::Status ErrorWithInfo(absl::StatusCode code, std::string_view message,
                           std::string_view reason,
                           const std::vector<std::pair<std::string, std::string>>& metadata) {
  absl::Status s(code, ToAbsl(message));
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
  google::rpc::Status proto;
  proto.set_code(static_cast<int>(s.code()));
  proto.set_message(std::string(s.message()));
  s.ForEachPayload([&proto](absl::string_view type_url, const absl::Cord& payload) {
    google::protobuf::Any* any = proto.add_details();
    any->set_type_url(std::string(type_url));
    any->set_value(std::string(payload));
  });
  if (proto.details_size() == 0) return grpc::Status(code, std::string(s.message()));
  return grpc::Status(code, std::string(s.message()), proto.SerializeAsString());
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
