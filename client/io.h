// Callback types through which the client library moves file data in and out without holding
// whole files in memory. Callbacks are called on the calling thread, in order.
#pragma once

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dfs {

// Receives the next bytes of a read, in order. An error stops the read and is returned as is.
using ByteSink = std::function<absl::Status(absl::string_view data)>;

// Fills up to `size` bytes at `buffer`; returns how many, 0 at the end of the input.
using ByteSource = std::function<absl::StatusOr<size_t>(char* buffer, size_t size)>;

// Reports progress of a transfer: bytes done so far and the total (0 if unknown).
using ProgressCallback = std::function<void(uint64_t done, uint64_t total)>;

}  // namespace dfs
