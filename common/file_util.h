// Small POSIX file helpers with absl::Status errors. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dfs {

// An absl::Status for errno `err` while doing `what`.
absl::Status ErrnoStatus(int err, const std::string& what);

absl::Status MakeDirs(const std::string& path);
absl::Status FsyncDir(const std::string& path);

// Writes all of `data` to `fd` (short writes and EINTR retried); `path` names it in errors.
absl::Status WriteAll(int fd, std::string_view data, const std::string& path);
// Reads `size` bytes at `offset` of `fd` into `buf`, or fewer at the end of the file; returns how
// many. `path` names it in errors.
absl::StatusOr<size_t> PreadUpTo(int fd, char* buf, size_t size, uint64_t offset,
                                 const std::string& path);

// Writes `data` to `path` atomically and durably: temp file, fsync, rename, fsync of the directory.
absl::Status WriteFileAtomic(const std::string& path, const std::string& data);
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace dfs
