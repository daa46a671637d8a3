// File-system errors. A status keeps its canonical code (NotFound, AlreadyExists,
// FailedPrecondition, InvalidArgument...) and, where one code covers several POSIX errors
// (ENOTDIR, EISDIR and ENOTEMPTY are all FailedPrecondition), carries the exact errno as a payload.
// The payload survives the trip through gRPC (see grpc_status.h) and the command log.
#pragma once

#include <cerrno>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace dfs {

inline constexpr char kErrnoPayloadUrl[] = "dfs/errno";

// A status for POSIX error `err`, with the matching canonical code.
inline absl::Status FsError(int err, absl::string_view message) {
  absl::StatusCode code;
  switch (err) {
    case ENOENT: code = absl::StatusCode::kNotFound; break;
    case EEXIST: code = absl::StatusCode::kAlreadyExists; break;
    case ENOTDIR:
    case EISDIR:
    case ENOTEMPTY:
    case EXDEV:
    case EMLINK: code = absl::StatusCode::kFailedPrecondition; break;
    case EINVAL:
    case ENAMETOOLONG:
    case EFBIG:
    case ELOOP: code = absl::StatusCode::kInvalidArgument; break;
    case EACCES:
    case EPERM: code = absl::StatusCode::kPermissionDenied; break;
    case ENOSPC: code = absl::StatusCode::kResourceExhausted; break;
    case EROFS: code = absl::StatusCode::kFailedPrecondition; break;
    default: code = absl::StatusCode::kInternal; break;
  }
  absl::Status status(code, message);
  status.SetPayload(kErrnoPayloadUrl, absl::Cord(std::to_string(err)));
  return status;
}

// Adds errno `err` to an existing status (no-op for OK).
inline absl::Status WithErrno(absl::Status status, int err) {
  if (!status.ok() && err != 0) status.SetPayload(kErrnoPayloadUrl, absl::Cord(std::to_string(err)));
  return status;
}

// The status a record of a result stores as its parts (CommandResult, BatchOpResult): canonical
// `code` (0: OK), `message` and errno `err` (0: none).
inline absl::Status StatusFromParts(int code, absl::string_view message, int err) {
  if (code == 0) return absl::OkStatus();
  return WithErrno(absl::Status(static_cast<absl::StatusCode>(code), message), err);
}

// `status` with `prefix` before its message; its code and payloads (the errno) are kept.
inline absl::Status PrefixMessage(absl::string_view prefix, const absl::Status& status) {
  if (status.ok()) return status;
  absl::Status result(status.code(), absl::StrCat(prefix, status.message()));
  status.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { result.SetPayload(url, payload); });
  return result;
}

// The POSIX errno that best describes `status` (0 for OK): the payload if present, else by code.
inline int ErrnoOf(const absl::Status& status) {
  if (status.ok()) return 0;
  if (auto payload = status.GetPayload(kErrnoPayloadUrl)) {
    int err = 0;
    if (absl::SimpleAtoi(std::string(*payload), &err) && err > 0) return err;
  }
  switch (status.code()) {
    case absl::StatusCode::kNotFound: return ENOENT;
    case absl::StatusCode::kAlreadyExists: return EEXIST;
    case absl::StatusCode::kInvalidArgument: return EINVAL;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated: return EACCES;
    case absl::StatusCode::kResourceExhausted: return ENOSPC;
    case absl::StatusCode::kDeadlineExceeded: return ETIMEDOUT;
    case absl::StatusCode::kFailedPrecondition: return EPERM;
    case absl::StatusCode::kOutOfRange: return EFBIG;
    case absl::StatusCode::kUnimplemented: return ENOSYS;
    default: return EIO;
  }
}

}  // namespace dfs
