#pragma once
// absl::Status is the error type across every boundary in Orderly. google.rpc error details travel
// inside it as payloads (keyed by their type URL) and become the grpc-status-details-bin trailer
// at the gRPC edge, so a client learns *what to do*: INVALID_ARGUMENT + BadRequest = fix the
// request, FAILED_PRECONDITION + ErrorInfo/PreconditionFailure = fix state first, ABORTED = retry
// the whole transaction, UNAVAILABLE = retry this call, UNKNOWN = outcome in doubt, reconcile.
#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <grpcpp/support/status.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orderly {

struct FieldViolation {
  std::string field;        // e.g. "items[2].quantity"
  std::string description;  // e.g. "must be between 1 and 999"
};

// Collects field violations while validating a request; empty means valid.
class Violations {
 public:
  void Add(std::string field, std::string description);
  bool empty() const { return list_.empty(); }
  const std::vector<FieldViolation>& list() const { return list_; }
  // OK when empty, else InvalidArgumentError(...) with all violations.
  absl::Status ToStatus(std::string_view message = "invalid request") const;

 private:
  std::vector<FieldViolation> list_;
};

// INVALID_ARGUMENT with a google.rpc.BadRequest detail.
absl::Status InvalidArgumentError(std::string_view message, const std::vector<FieldViolation>& v);
// NOT_FOUND naming the thing: "order 123 not found", ErrorInfo reason e.g. "ORDER_NOT_FOUND",
// ResourceInfo{resource_type, resource_name}.
absl::Status NotFoundError(std::string_view resource_type, std::string_view resource_name,
                           std::string_view reason);
// FAILED_PRECONDITION with ErrorInfo{reason, metadata} and a PreconditionFailure violation
// {type = reason, subject, description = message}.
absl::Status FailedPreconditionError(
    std::string_view reason, std::string_view subject, std::string_view message,
    const std::vector<std::pair<std::string, std::string>>& metadata = {});
// Any code with an ErrorInfo{reason, domain="orderly", metadata}.
absl::Status ErrorWithInfo(absl::StatusCode code, std::string_view message, std::string_view reason,
                           const std::vector<std::pair<std::string, std::string>>& metadata = {});

// The ErrorInfo.reason carried by a status, or "" when none.
std::string ErrorReason(const absl::Status& s);
// The ErrorInfo metadata value for key, or "".
std::string ErrorMetadata(const absl::Status& s, std::string_view key);
// Field violations carried by a status (BadRequest detail), empty when none.
std::vector<FieldViolation> ErrorFieldViolations(const absl::Status& s);

// A status built from a driver's exception (libpqxx, hiredis, librdkafka) carries this payload:
// its message is the driver's text (SQL, table names, the input that broke it), which the gRPC
// edge logs with an error id and never sends (server::HandleCall).
inline constexpr char kDriverErrorPayload[] = "orderly.internal/driver_error";
void MarkDriverError(absl::Status& s);
bool IsDriverError(const absl::Status& s);
// True when the status carries at least one google.rpc detail (a status made for clients).
bool HasErrorDetails(const absl::Status& s);

// absl -> gRPC, packing payloads into google.rpc.Status details (binary trailer). The message is
// cut to 512 bytes and the details to 4 KiB, so a client never gets RESOURCE_EXHAUSTED for a
// trailer that grew with its input.
grpc::Status ToGrpcStatus(const absl::Status& s);
// gRPC -> absl, unpacking google.rpc.Status details back into payloads (used by service clients).
absl::Status FromGrpcStatus(const grpc::Status& s);

}  // namespace orderly
