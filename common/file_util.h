// Small POSIX file helpers with absl::Status errors. Thread-safe (no shared state).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dfs {

// An absl::Status for errno `err` while doing `what`.
absl::Status ErrnoStatus(int err, const std::string& what);

absl::Status MakeDirs(const std::string& path);
absl::Status FsyncDir(const std::string& path);

// Writes `data` to `path` atomically and durably: temp file, fsync, rename, fsync of the directory.
absl::Status WriteFileAtomic(const std::string& path, const std::string& data);
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace dfs
