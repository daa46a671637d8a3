// Conversion between absl::Status and grpc::Status: the only place where the two meet. Both use
// the canonical codes, so the code number passes through unchanged; the errno payload
// (common/errors.h) travels as the gRPC status's error_details.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "common/errors.h"
#include "grpcpp/grpcpp.h"

namespace dfs {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  std::string details;
  if (auto payload = status.GetPayload(kErrnoPayloadUrl)) details = std::string(*payload);
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()),
                      details);
}

inline absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status result(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  if (!status.error_details().empty()) {
    result.SetPayload(kErrnoPayloadUrl, absl::Cord(status.error_details()));
  }
  return result;
}

// Clients retry only these: the operation did not happen, or it carries a session so that a
// repeat is recognised.
inline bool IsRetryable(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status);
}

// Trailing metadata key with the leader's address on an UNAVAILABLE "not leader" answer.
inline constexpr char kLeaderHintKey[] = "dfs-leader";
// Trailing metadata key with the leader's applied index on a definite error (e.g. NOT_FOUND for
// an inode another client removed): an error also reflects a state, which a client's caches
// must not hide afterwards (fuse/meta_cache.h), as they must not hide a successful answer's.
inline constexpr char kAppliedIndexKey[] = "dfs-applied-index";

}  // namespace dfs
